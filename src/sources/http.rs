//! HTTP fetching with conditional requests, caps and politeness (being written).

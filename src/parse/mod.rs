//! Bytes → [`crate::model::ParsedStory`]: feeds (feed-rs), HTML to text, sanitising.

pub mod sanitize;

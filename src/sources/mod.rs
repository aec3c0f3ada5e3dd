//! Getting bytes: HTTP feeds (`http`), local files and folders (`local`).

pub mod http;
pub mod local;

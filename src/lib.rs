//! echowatch: a terminal news and regulation tracker.
//!
//! Data flows one way through one module per stage:
//! `sources` (fetch and read) → `parse` (feeds, echomail, text exports → [`model::ParsedStory`])
//! → `classify` (country and policy tags) → `store` (SQLite, the system of record)
//! → `index` (tantivy, derived and rebuildable) → views (`tui`, `export`, the CLI).

pub mod classify;
pub mod config;
pub mod export;
pub mod ftn;
pub mod index;
pub mod ingest;
pub mod model;
pub mod parse;
pub mod sources;
pub mod store;
pub mod tui;
pub mod workspace;

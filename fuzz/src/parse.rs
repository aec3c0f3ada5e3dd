#[path = "../../src/parse/sanitize.rs"]
pub mod sanitize;

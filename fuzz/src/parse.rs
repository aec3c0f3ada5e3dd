#[path = "../../src/parse/date.rs"]
mod date;
#[path = "../../src/parse/feed.rs"]
pub mod feed;
#[path = "../../src/parse/html.rs"]
pub mod html;
#[path = "../../src/parse/sanitize.rs"]
pub mod sanitize;

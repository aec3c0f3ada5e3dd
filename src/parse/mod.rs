//! Bytes → [`crate::model::ParsedStory`]: feeds (feed-rs), echomail packets, bundles and
//! BBS text exports (`crate::ftn`), HTML to text, link canonicalisation, and the one place
//! outside text is sanitised.

pub mod canonical;
pub mod feed;
pub mod html;
pub mod sanitize;

use std::path::Path;

use crate::config::EchomailSettings;
use crate::model::ParsedStory;

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error(transparent)]
    Feed(#[from] feed::FeedError),
    #[error("not a feed, packet, bundle or BBS text export")]
    Unrecognised,
}

/// Parse a local file of any supported kind, recognised by content, not by name.
pub fn any(_path: &Path, bytes: &[u8], _echomail: &EchomailSettings) -> Result<Vec<ParsedStory>, ParseError> {
    if feed::sniff(bytes) {
        return Ok(feed::parse(bytes, None)?);
    }
    Err(ParseError::Unrecognised)
}

/// Move a processed inbound file to `<ftn_dir>/done`, or to `<ftn_dir>/bad` beside a
/// `.reason` file when `error` is given.
pub fn settle_inbound(_ftn_dir: &Path, _file: &Path, _error: Option<&str>) -> std::io::Result<()> {
    Ok(())
}

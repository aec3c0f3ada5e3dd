//! Bytes → [`crate::model::ParsedStory`]: feeds (feed-rs), echomail packets, bundles and
//! BBS text exports (`crate::ftn`), HTML to text, link canonicalisation, and the one place
//! outside text is sanitised.

pub mod canonical;
pub mod feed;
pub mod html;
pub mod sanitize;

use std::path::Path;

use crate::ftn;
use crate::model::ParsedStory;

/// Bump whenever a change here or in `crate::ftn` makes the same file read differently:
/// `sync` then reads the files of path sources again, even those that have not changed.
pub const READER_VERSION: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error(transparent)]
    Feed(#[from] feed::FeedError),
    #[error(transparent)]
    Ftn(#[from] ftn::FtnError),
}

/// The stories of a file, and how many messages were left out of it on purpose.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub stories: Vec<ParsedStory>,
    /// Netmail in packets: private mail, not news (see [`ftn::FileStories`]).
    pub netmail_skipped: usize,
}

/// Parse a local file of any supported kind, recognised by content, not by name: a feed,
/// an FTN packet, an ArcMail bundle or a BBS text export. Tolerated oddities are logged.
pub fn any(
    path: &Path,
    bytes: &[u8],
    charsets: &ftn::Charsets,
    max_bytes: u64,
) -> Result<Parsed, ParseError> {
    if feed::sniff(bytes) {
        return Ok(Parsed {
            stories: feed::parse(bytes, None)?,
            netmail_skipped: 0,
        });
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let limits = ftn::Limits {
        max_total_bytes: max_bytes,
        ..ftn::Limits::default()
    };
    let read = ftn::read_file(&name, bytes, charsets, limits)?;
    for w in &read.warnings {
        tracing::warn!("{}: {w}", path.display());
    }
    Ok(Parsed {
        stories: read.stories,
        netmail_skipped: read.netmail_skipped,
    })
}

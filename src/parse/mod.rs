//! Bytes → [`crate::model::ParsedStory`]: feeds (feed-rs), echomail packets, bundles and
//! BBS text exports (`crate::ftn`), HTML to text, link canonicalisation, and the one place
//! outside text is sanitised.

pub mod canonical;
mod date;
pub mod feed;
pub mod html;
pub mod sanitize;

use std::path::Path;

use crate::ftn;
use crate::model::ParsedStory;

/// Bump whenever a change here or in `crate::ftn` makes the same file read differently:
/// `sync` then reads the files of path sources again, even those that have not changed.
pub const READER_VERSION: u32 = 4;

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error(transparent)]
    Feed(#[from] feed::FeedError),
    #[error(transparent)]
    Ftn(#[from] ftn::FtnError),
}

/// Whether a file found in a folder source is one of ours to read: by its content (a feed,
/// packet, bundle or BBS text export) or by a name that claims it is one (`.pkt`, an ArcMail
/// bundle, a feed extension), so that a damaged one is reported rather than passed over.
/// Anything else in the folder (a README, a licence, a web page) is not a source's failure.
pub fn recognised(name: &str, bytes: &[u8]) -> bool {
    let lower = name.to_ascii_lowercase();
    let claimed = [".pkt", ".zip"].iter().any(|ext| lower.ends_with(ext))
        || named_as_feed(name)
        || ftn::bundle::is_arcmail_name(&lower);
    claimed
        || feed::sniff(bytes)
        || ftn::packet::looks_like_packet(bytes)
        || ftn::bundle::is_zip(bytes)
        || ftn::export::looks_like_text_export(bytes)
}

/// Whether a file's name says it is a feed (`.rss`, `.atom`, `.rdf`, `.xml`, `.json`).
fn named_as_feed(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".rss", ".atom", ".rdf", ".xml", ".json"]
        .iter()
        .any(|ext| lower.ends_with(ext))
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
    // By content first; a file whose name says it is a feed and whose content is none of the
    // FTN kinds is read as one too, so its damage is told in the feed parser's words (not as
    // "not a type 2 packet").
    let named_feed = path
        .file_name()
        .is_some_and(|n| named_as_feed(&n.to_string_lossy()))
        && !ftn::packet::looks_like_packet(bytes)
        && !ftn::bundle::is_zip(bytes)
        && !ftn::export::looks_like_text_export(bytes);
    if feed::sniff(bytes) || named_feed {
        return Ok(Parsed {
            stories: feed::parse(bytes, None)?,
            netmail_skipped: 0,
        });
    }
    let limits = ftn::Limits {
        max_total_bytes: max_bytes,
        ..ftn::Limits::default()
    };
    // Each warning starts with the name it is given (and the bundle entry): the whole path,
    // so the log names the file once and in full.
    let read = ftn::read_file(&sanitize::path(path), bytes, charsets, limits)?;
    for w in &read.warnings {
        tracing::warn!("{w}");
    }
    Ok(Parsed {
        stories: read.stories,
        netmail_skipped: read.netmail_skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_files_are_recognised_by_content_or_by_a_name_that_claims_them() {
        assert!(recognised("news", b"<?xml version=\"1.0\"?><rss></rss>"));
        assert!(recognised("broken.rss", b"not xml at all"));
        assert!(recognised("0000ffff.pkt", b"short"));
        assert!(recognised("12345678.mo0", b"garbage"));
        assert!(!recognised(
            "LICENSE",
            b"Permission is hereby granted, free of charge"
        ));
        assert!(!recognised("README.md", b"# A folder of feeds\n"));
        assert!(recognised("a.ATOM", b"garbage"));
    }

    #[test]
    fn a_damaged_file_named_as_a_feed_gets_the_feed_readers_words() {
        let cs = ftn::Charsets::default();
        let err = |name: &str, bytes: &[u8]| match any(Path::new(name), bytes, &cs, 1 << 20) {
            Ok(_) => panic!("{name} read"),
            Err(e) => e.to_string(),
        };
        for (name, bytes, why) in [
            ("a.rss", &b"garbage"[..], "neither XML nor JSON"),
            ("d.atom", b"garbage", "neither XML nor JSON"),
            ("c.json", b"{\"version\":\"x\"", "broken JSON"),
            ("b.xml", b"<rss><channel><item>", "or is cut off"),
            (
                "p.xml",
                b"<!DOCTYPE html><html><body>x</body></html>",
                "web page",
            ),
        ] {
            let e = err(name, bytes);
            assert!(
                e.starts_with("not a valid RSS/Atom/JSON feed: "),
                "{name}: {e}"
            );
            assert!(e.contains(why), "{name}: {e}");
        }
        // Any other name: still the FTN reader's word for what it is not.
        assert!(err("x.pkt", b"garbage").contains("unrecognised file"));
        assert!(!recognised("index.html", b"<!DOCTYPE html><html></html>"));
    }
}

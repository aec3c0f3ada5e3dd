//! FidoNet packets, echomail messages, bundles and BBS text exports (issue 3).
//!
//! Reading goes bytes → [`Packet`] (framing, zero-copy) → [`EchoMessage`] (kludges, charset,
//! control lines) → [`ParsedStory`] ([`to_story`]). [`stories_from_file`] does all of it for
//! one file, whatever it is: a packet, an ArcMail bundle of packets, or a BBS text export.
//! Writing (the feed-to-echo gateway) lives in [`writer`]; inbound-folder handling in [`inbound`].

pub mod address;
pub mod bundle;
pub mod charset;
pub mod date;
pub mod export;
pub mod inbound;
pub mod message;
pub mod packet;
pub mod story;
pub mod writer;

pub use address::FtnAddress;
pub use bundle::Limits;
pub use charset::{Charset, Charsets};
pub use export::read_text_export;
pub use message::EchoMessage;
pub use packet::{PackedMessage, Packet, PacketHeader, PacketKind, PacketReader, read_packet};
pub use story::to_story;
pub use writer::{EchoMessageOut, GatewayConfig, GatewayPost, OutCharset, write_packet};

use crate::model::ParsedStory;

/// Everything that can go wrong reading or writing FTN data. Offsets are byte offsets in
/// the packet, so a sysop can look at the file with a hex viewer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FtnError {
    #[error("not a packet: {len} bytes, a packet header alone is 58")]
    TooShort { len: usize },
    #[error("unsupported packet version {version} (only type 2, 2+ and 2.2 exist in the wild)")]
    UnsupportedVersion { version: u16 },
    #[error("truncated packet at byte {offset}: {what}")]
    Truncated { offset: usize, what: &'static str },
    #[error(
        "bad message type 0x{value:04x} at byte {offset} (expected 0x0002 or the 0x0000 terminator)"
    )]
    BadMessageType { offset: usize, value: u16 },
    #[error("{field} at byte {offset} is longer than {max} bytes (FTS-0001 limit)")]
    FieldTooLong {
        field: &'static str,
        offset: usize,
        max: usize,
    },
    #[error("bad bundle: {0}")]
    Zip(String),
    #[error("bundle has {count} entries, more than the limit of {max}")]
    TooManyEntries { count: usize, max: usize },
    #[error("bundle inflates to more than the limit of {max} bytes")]
    TooLarge { max: u64 },
    #[error("bundle entry {name}: {source}")]
    BundleEntry { name: String, source: Box<FtnError> },
    #[error("no 'From NAME@ZONE:NET/NODE to NAME on DATE' message header found")]
    NotTextExport,
    #[error("unrecognised file: not a type 2 packet, a ZIP bundle or a BBS text export")]
    UnknownFormat,
    #[error("cannot write packet: {0}")]
    Write(String),
    #[error("bad echo area tag {tag:?}: {reason}")]
    BadAreaTag { tag: String, reason: &'static str },
}

/// What one file holds for echowatch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileStories {
    pub stories: Vec<ParsedStory>,
    /// Tolerated oddities, one line each, naming the file (and bundle entry).
    pub warnings: Vec<String>,
    /// Netmail messages left out of packets: private mail between nodes, not news.
    pub netmail_skipped: usize,
}

/// Reads one file of any supported kind (detected by content, not name) into stories.
/// Returns the stories and the warnings (tolerated oddities, skipped netmail included). Any
/// broken packet, including one inside a bundle, fails the whole file, so the caller can set
/// it aside untouched.
pub fn stories_from_file(
    name: &str,
    bytes: &[u8],
    charsets: &Charsets,
    limits: Limits,
) -> Result<(Vec<ParsedStory>, Vec<String>), FtnError> {
    read_file(name, bytes, charsets, limits).map(|f| (f.stories, f.warnings))
}

/// [`stories_from_file`], also counting the netmail messages left out.
pub fn read_file(
    name: &str,
    bytes: &[u8],
    charsets: &Charsets,
    limits: Limits,
) -> Result<FileStories, FtnError> {
    let mut out = FileStories::default();
    if packet::looks_like_packet(bytes) {
        stories_from_packet(name, bytes, charsets, &mut out)?;
    } else if bundle::is_zip(bytes) {
        for entry in bundle::unpack(bytes, limits)? {
            let label = format!("{name}/{}", entry.name);
            if entry.data.is_empty() {
                out.warnings.push(format!("{label}: empty entry skipped"));
                continue;
            }
            // Bundles carry packets only; anything else fails with the packet reader's reason.
            stories_from_packet(&label, &entry.data, charsets, &mut out).map_err(|e| {
                FtnError::BundleEntry {
                    name: entry.name.clone(),
                    source: Box::new(e),
                }
            })?;
        }
    } else if export::looks_like_text_export(bytes) {
        // Readers print echomail without its AREA line: every message counts as echomail.
        out.stories = read_text_export(bytes)?;
    } else if bytes.len() >= packet::HEADER_LEN {
        // Let the packet reader say precisely what is wrong with a near-packet.
        read_packet(bytes)?;
        return Err(FtnError::UnknownFormat);
    } else {
        return Err(FtnError::UnknownFormat);
    }
    Ok(out)
}

fn stories_from_packet(
    label: &str,
    bytes: &[u8],
    charsets: &Charsets,
    out: &mut FileStories,
) -> Result<(), FtnError> {
    let pkt = read_packet(bytes)?;
    out.warnings
        .extend(pkt.warnings.iter().map(|w| format!("{label}: {w}")));
    let mut netmail = 0usize;
    for m in &pkt.messages {
        let msg = EchoMessage::from_packed(m, charsets);
        // A packed message without an AREA line is netmail (FTS-0004): private mail between
        // two nodes, not news. echowatch is a news reader, so it is left out, not stored.
        if msg.area.is_none() {
            netmail += 1;
            continue;
        }
        let mut story = to_story(&msg);
        if story.origin.is_none() {
            // A message without origin line: the packet's sender is the best we have.
            story.origin = Some(pkt.header.orig.to_string());
        }
        out.stories.push(story);
    }
    if netmail > 0 {
        let s = if netmail == 1 { "" } else { "s" };
        out.warnings.push(format!(
            "{label}: {netmail} netmail message{s} skipped (no AREA line; echowatch reads echomail only)"
        ));
        out.netmail_skipped += netmail;
    }
    Ok(())
}

//! The feed-to-echo gateway: stories out as one type 2+ echomail packet, with a ledger in
//! the store so a story is never posted to the same area twice.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{Local, Utc};

use crate::ftn::story::gateway_description;
use crate::ftn::writer::{self, Flavour, GatewayConfig, GatewayPost, OutCharset};
use crate::ftn::{FtnAddress, FtnError};
use crate::store::{Store, StoreError, StoryId, StoryRecord};

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Ftn(#[from] FtnError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Everything `export --format ftn` is told.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    pub area: String,
    pub from: FtnAddress,
    pub to: FtnAddress,
    pub origin: Option<String>,
    pub password: Option<String>,
    pub charset: OutCharset,
    /// Folder for the packet (`XXXXXXXX.pkt`).
    pub out_dir: PathBuf,
    /// Also (or instead) place it in this binkd outbound under its BSO name.
    pub outbound: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewayReport {
    pub posted: usize,
    /// Already posted to this area before (the ledger) or carried from it.
    pub skipped: usize,
    /// The packet written, if anything was posted.
    pub packet: Option<PathBuf>,
    pub outbound: Option<PathBuf>,
}

/// Longest description a gateway post carries; the link leads to the rest.
const MAX_DESCRIPTION: usize = 1500;

/// Post the given stories. Their MSGIDs are reserved in the ledger first, the packet is
/// written (durably, by rename), then the ledger marks them posted: a crash in between can
/// only mean a repeated post under the same reserved MSGID, which every dupe checker drops,
/// never a story silently left out.
pub fn post(
    store: &mut Store,
    stories: &[StoryRecord],
    opts: &GatewayOptions,
) -> Result<GatewayReport, GatewayError> {
    writer::check_area_tag(&opts.area)?;
    let mut cfg = GatewayConfig::new(&opts.area, opts.from, opts.to);
    cfg.charset = opts.charset;
    if let Some(origin) = &opts.origin {
        cfg.origin = origin.clone();
    }
    let now = Local::now().fixed_offset();
    let mut report = GatewayReport::default();
    let mut to_post = Vec::new();
    for s in stories {
        let from_this_area = s
            .area
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case(&cfg.area));
        if from_this_area || store.ledger_contains(s.id, &cfg.area)? {
            report.skipped += 1;
            continue;
        }
        to_post.push(s);
    }
    if to_post.is_empty() {
        return Ok(report);
    }
    let posted_ids: Vec<StoryId> = to_post.iter().map(|s| s.id).collect();
    let serials = store.ledger_reserve(
        &posted_ids,
        &cfg.area,
        &cfg.from.to_string(),
        now.with_timezone(&Utc),
    )?;
    let messages: Vec<_> = to_post
        .iter()
        .zip(serials)
        .map(|(s, serial)| {
            GatewayPost {
                serial,
                title: s.title.clone(),
                published: Some(s.date()),
                description: description(&gateway_description(&s.body, &s.title)),
                link: s.link.clone(),
            }
            .to_message(&cfg, now)
        })
        .collect();
    let header = writer::gateway_header(&cfg, now, opts.password.as_deref());
    let bytes = writer::write_packet(&header, &messages)?;

    let name = format!("{:08x}.pkt", packet_serial());
    let packet = opts.out_dir.join(name);
    write_atomically(&packet, &bytes)?;
    report.packet = Some(packet);
    if let Some(outbound) = &opts.outbound {
        let target = writer::bso_packet_path(outbound, opts.from.zone, opts.to, Flavour::Normal);
        // An unsent packet already waiting there is appended to, never replaced.
        let combined = match std::fs::read(&target) {
            Ok(existing) => writer::append_packets(&existing, &bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bytes.clone(),
            Err(source) => {
                return Err(GatewayError::Io {
                    path: target,
                    source,
                });
            }
        };
        write_atomically(&target, &combined)?;
        report.outbound = Some(target);
    }
    store.ledger_confirm(&posted_ids, &cfg.area, Utc::now())?;
    report.posted = posted_ids.len();
    Ok(report)
}

/// The first paragraphs of the body, cut at a paragraph or word boundary.
fn description(body: &str) -> String {
    if body.len() <= MAX_DESCRIPTION {
        return body.trim().to_string();
    }
    let mut cut = MAX_DESCRIPTION;
    while !body.is_char_boundary(cut) {
        cut -= 1;
    }
    let head = &body[..cut];
    let end = head
        .rfind("\n\n")
        .filter(|i| *i > MAX_DESCRIPTION / 3)
        .or_else(|| head.rfind(' '))
        .unwrap_or(cut);
    format!("{} …", body[..end].trim_end())
}

/// Packet names must be 8 hex digits; time-based and unique within this process.
fn packet_serial() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static BUMP: AtomicU32 = AtomicU32::new(0);
    let now = Utc::now();
    let base = (now.timestamp() as u32)
        .wrapping_mul(100)
        .wrapping_add(now.timestamp_subsec_millis() / 10);
    base.wrapping_add(BUMP.fetch_add(1, Ordering::Relaxed))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), GatewayError> {
    let io = |source| GatewayError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_bodies_are_cut_at_a_boundary() {
        let body = format!("{}\n\n{}", "a ".repeat(400), "b ".repeat(800));
        let d = description(&body);
        assert!(d.len() <= MAX_DESCRIPTION + 4, "{}", d.len());
        assert!(d.ends_with(" …"));
        assert_eq!(description("short"), "short");
    }
}

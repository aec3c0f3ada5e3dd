//! The feed-to-echo gateway: stories out as type 2+ echomail packets of bounded size, with
//! a ledger in the store so a story is never posted to the same area twice.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use chrono::{Local, Utc};

use crate::ftn::story::gateway_description;
use crate::ftn::writer::{self, Flavour, GatewayConfig, GatewayPost, OutCharset};
use crate::ftn::{FtnAddress, FtnError};
use crate::model::counted;
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
    #[error("{}: not a folder (--out names the folder the packets go into)", .path.display())]
    NotAFolder { path: PathBuf },
    #[error("{path}: no free packet name after {tries} tries")]
    NoFreeName { path: PathBuf, tries: u32 },
    #[error("{path}: a flow file line cannot hold a path with a line break")]
    UnlistablePath { path: PathBuf },
    /// The uplink's busy flag stayed there (and fresh) for the whole wait. Taken before
    /// anything is reserved or written: nothing of this run was posted, a later run posts it.
    #[error(
        "outbound busy: {flag} exists{holder} and stayed for {waited} s: {who}; nothing was \
         posted, a later run posts these stories (a flag untouched for {stale_h} hours is \
         taken as left over and removed)",
        flag = .flag.display(),
        holder = .holder.as_deref().map(|h| format!(" (it says {h})")).unwrap_or_default(),
        who = if *.by_echowatch {
            "another echowatch run is posting to this uplink"
        } else {
            "binkd is in a session with the uplink or another program is changing its mail"
        },
        waited = .waited.as_secs_f32(),
        stale_h = STALE_BUSY_FLAG.as_secs() / 3600,
    )]
    Busy {
        flag: PathBuf,
        waited: Duration,
        /// The flag's first line (binkd writes its PID), when it has one.
        holder: Option<String>,
        /// The flag is an echowatch run's (still running, or on another host).
        by_echowatch: bool,
    },
    /// A failure after some packets went out: those are recorded as posted, the rest stay
    /// reserved under their MSGIDs, and a new run posts just the rest.
    #[error(
        "{source} (stopped after {}: {} recorded as posted; a new run posts the rest under \
         the same MSGIDs)",
        counted(*.written, "packet", "packets"),
        counted(*.posted, "story", "stories"),
    )]
    Stopped {
        written: usize,
        posted: usize,
        #[source]
        source: Box<GatewayError>,
    },
}

/// Packet size limit when none is given: 256 KiB. Tossers cap the packets they make
/// (crashmail's `MAXPKTSIZE`, 50 KiB in its sample config; hpt's `pktSize`) and uplinks may
/// refuse much larger ones; 256 KiB still holds a couple of hundred gateway posts (about
/// 1.5 KB each), so a daily run is a packet or two.
pub const DEFAULT_MAX_PACKET_KB: u32 = 256;

/// How long a run waits for the uplink's busy flag to go before it gives up. binkd holds
/// it for a whole session (minutes with a large transfer), so waiting longer would mostly
/// hold up a cron job; a few seconds cover a tosser's or another gateway run's brief turn.
pub const DEFAULT_BUSY_WAIT: Duration = Duration::from_secs(5);

/// A busy flag untouched for this long is left over from a crash and is removed (FTS-5005
/// 5.1 suggests twice the longest session). binkd touches the flags it holds every minute,
/// and 12 hours is the `kill-old-bsy 43200` binkd setups commonly use: we never take a flag
/// binkd itself would still respect.
pub const STALE_BUSY_FLAG: Duration = Duration::from_secs(12 * 3600);

/// How often the busy flag is looked at again while waiting.
const BUSY_POLL: Duration = Duration::from_millis(50);

/// Everything `export --format ftn` is told.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    pub area: String,
    pub from: FtnAddress,
    pub to: FtnAddress,
    pub origin: Option<String>,
    pub password: Option<String>,
    pub charset: OutCharset,
    /// Folder for the packets (`XXXXXXXX.pkt`).
    pub out_dir: PathBuf,
    /// Also place them in this binkd outbound (BSO) for `to`.
    pub outbound: Option<PathBuf>,
    /// Largest packet in bytes, header included; 0 = no limit. A single message larger
    /// than this goes out alone in its packet.
    pub max_packet_bytes: usize,
    /// How long to wait for the outbound's busy flag ([`DEFAULT_BUSY_WAIT`]).
    pub busy_wait: Duration,
    /// For the tests only: after writing this packet (1 = the first), stop before
    /// recording it, for ever, so that a test can kill the run right there.
    pub hang_before_confirm: Option<usize>,
    /// For the tests only: after placing this packet (1 = the first) in the outbound and
    /// noting its name in --out, stop for ever before it goes into --out.
    pub hang_before_out: Option<usize>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewayReport {
    pub posted: usize,
    /// Already posted to this area before (the ledger) or carried from it.
    pub skipped: usize,
    /// Every packet written, in order (none when nothing was posted).
    pub packets: Vec<PacketWritten>,
    /// A busy flag left over from a crash that this run removed, to say so.
    pub stale_flag: Option<StaleFlag>,
    /// Temporary files (`.echowatch-PID-N.tmp`) of killed runs that this run removed.
    pub temp_files_removed: usize,
    /// Stories a killed run had written into a packet still in the out folder, or placed
    /// in the outbound only, but not recorded: recorded now, not posted again (also counted
    /// in `skipped` when asked for).
    pub adopted: usize,
    /// Packets written into the out folder for adopted stories that had reached only the
    /// outbound: their messages byte for byte as the uplink gets them, so that the out
    /// folder, too, has every story posted. Never placed in the outbound (`outbound` None).
    pub copies: Vec<PacketWritten>,
}

/// A busy flag older than [`STALE_BUSY_FLAG`] that a run took over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleFlag {
    pub path: PathBuf,
    /// How long it had gone untouched.
    pub age: Duration,
    /// The PID of the killed echowatch run on this host that left it, when it was one
    /// (taken over at once, not after [`STALE_BUSY_FLAG`]).
    pub killed_run: Option<u32>,
}

/// One packet a gateway run wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketWritten {
    /// Where it is in the out folder.
    pub path: PathBuf,
    pub messages: usize,
    pub bytes: usize,
    /// Where its messages went in the outbound, when there is one.
    pub outbound: Option<OutboundPlacement>,
}

/// How a packet went into a BSO outbound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboundPlacement {
    /// Its messages are in the unsent packet `NNNNnnnn.out` (appended, or it started it).
    Packet(PathBuf),
    /// The `.out` had no room under the limit: a copy of the packet, listed in the flow file
    /// `NNNNnnnn.flo` to be sent and then deleted by the mailer (as crashmail sends
    /// unpacked mail).
    Attached { file: PathBuf, flow: PathBuf },
}

/// Longest description a gateway post carries; the link leads to the rest.
const MAX_DESCRIPTION: usize = 1500;

/// Post the given stories. Their MSGIDs are all reserved in the ledger first; then each
/// packet is written (durably, by rename) and its stories marked posted before the next
/// packet is made. A crash in between leaves the packets before it recorded and the rest
/// reserved: a new run posts the rest under the same MSGIDs, so the worst case is one
/// packet repeated under the same MSGIDs, which every dupe checker drops, never a story
/// silently left out.
///
/// With an outbound, the uplink's busy flag (`NNNNnnnn.bsy`, FTS-5005) is taken before
/// anything is reserved or written and held to the end, on every path: binkd never sends
/// an `.out` while we rewrite it, and two runs take turns. If it stays busy, the run fails
/// with [`GatewayError::Busy`] having posted nothing (no packet, no ledger change).
pub fn post(
    store: &mut Store,
    stories: &[StoryRecord],
    opts: &GatewayOptions,
) -> Result<GatewayReport, GatewayError> {
    writer::check_area_tag(&opts.area)?;
    // Before anything is reserved or written (create_dir_all would say "File exists").
    if std::fs::metadata(&opts.out_dir).is_ok_and(|m| !m.is_dir()) {
        return Err(GatewayError::NotAFolder {
            path: opts.out_dir.clone(),
        });
    }
    let mut cfg = GatewayConfig::new(&opts.area, opts.from, opts.to);
    cfg.charset = opts.charset;
    if let Some(origin) = &opts.origin {
        cfg.origin = origin.clone();
    }
    let now = Local::now().fixed_offset();
    let header = writer::gateway_header(&cfg, now, opts.password.as_deref());
    // Packets in --out are ours alone to look at; the outbound is looked at under the busy
    // flag below, as it may be changed there (a packet a killed run left unlisted is listed).
    let mut adopted = adopt_written(store, &cfg.area, None, &header, opts)?;
    let (mut to_post, mut skipped) = unposted(store, stories, &cfg.area)?;
    if to_post.is_empty() {
        return Ok(GatewayReport {
            skipped,
            adopted: adopted.recorded,
            ..GatewayReport::default()
        });
    }
    let mut stale_flag = None;
    // The folders this run writes to: --out, and the uplink's folder in the outbound.
    let mut folders = vec![opts.out_dir.clone()];
    let busy = match &opts.outbound {
        Some(dir) => {
            let path = writer::bso_busy_path(dir, opts.from.zone, opts.to);
            folders.extend(path.parent().map(Path::to_path_buf));
            let (flag, stale) = take_busy_flag(&path, opts.busy_wait)?;
            stale_flag = stale;
            let more = adopt_written(store, &cfg.area, Some(dir), &header, opts)?;
            adopted.recorded += more.recorded;
            adopted.copies.extend(more.copies);
            adopted.temp_files_removed += more.temp_files_removed;
            // Again, under the flag: a run on this store that held it before us may have
            // posted some of them meanwhile.
            (to_post, skipped) = unposted(store, stories, &cfg.area)?;
            Some(flag)
        }
        None => None,
    };
    let mut report = GatewayReport {
        skipped,
        stale_flag,
        adopted: adopted.recorded,
        copies: adopted.copies,
        temp_files_removed: adopted.temp_files_removed,
        ..GatewayReport::default()
    };
    if to_post.is_empty() {
        return Ok(report);
    }
    let ids: Vec<StoryId> = to_post.iter().map(|s| s.id).collect();
    let serials = store.ledger_reserve(
        &ids,
        &cfg.area,
        &cfg.from.to_string(),
        now.with_timezone(&Utc),
    )?;
    // A story another run on this store posted since `unposted` looked is left out here.
    let (to_post, serials): (Vec<_>, Vec<u32>) = to_post
        .into_iter()
        .zip(serials)
        .filter_map(|(s, serial)| serial.map(|n| (s, n)))
        .unzip();
    report.skipped += ids.len() - to_post.len();
    if to_post.is_empty() {
        return Ok(report);
    }
    // Only where this run is about to write, so only when it has something to post.
    report.temp_files_removed += folders
        .iter()
        .map(|d| remove_dead_temp_files(d))
        .sum::<usize>();
    let posted_ids: Vec<StoryId> = to_post.iter().map(|s| s.id).collect();
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
    let packets = writer::split_packets(&header, &messages, opts.max_packet_bytes)?;
    for (n, packet) in packets.enumerate() {
        let ids = posted_ids.get(packet.messages.clone()).unwrap_or_default();
        let done = write_one(&packet.bytes, opts, |path| {
            record_packet(store, ids, &cfg.area, path)?;
            if opts.hang_before_out == Some(n + 1) {
                hang_for_ever();
            }
            Ok(())
        })
        .and_then(|written| {
            if opts.hang_before_confirm == Some(n + 1) {
                hang_for_ever();
            }
            store.ledger_confirm(ids, &cfg.area, Utc::now())?;
            Ok(written)
        });
        let written = match done {
            Ok(w) => w,
            Err(e) if report.packets.is_empty() => return Err(e),
            Err(e) => {
                return Err(GatewayError::Stopped {
                    written: report.packets.len(),
                    posted: report.posted,
                    source: Box::new(e),
                });
            }
        };
        report.posted += ids.len();
        report.packets.push(PacketWritten {
            messages: ids.len(),
            ..written
        });
    }
    drop(busy);
    Ok(report)
}

/// Where the tests' kill hooks stop a run (see [`GatewayOptions::hang_before_confirm`]).
fn hang_for_ever() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Notes in the ledger that the reserved stories `ids` are about to go into the packet
/// `path`, before it gets that name (see [`adopt_written`]).
fn record_packet(
    store: &mut Store,
    ids: &[StoryId],
    area: &str,
    path: &Path,
) -> Result<(), GatewayError> {
    // A path that is not UTF-8 is recorded lossily: it is then never found, and its stories
    // are posted again under their MSGIDs, the old worst case.
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    store.ledger_set_packet(ids, area, &path.to_string_lossy())?;
    Ok(())
}

/// What [`adopt_written`] did.
#[derive(Debug, Default)]
struct Adopted {
    /// Stories recorded as posted.
    recorded: usize,
    /// Packets written into --out for those that had reached only the outbound.
    copies: Vec<PacketWritten>,
    /// Temporary files of killed runs removed from --out before writing them.
    temp_files_removed: usize,
}

/// Finishes what a killed run left: stories reserved for `area` whose packet was written
/// but not recorded. Returns how many were recorded now, and the copies it wrote.
///
/// The rule: a reservation names the packet before that name is given to it, and the out
/// folder gets the packet only after the outbound did. So a packet that is there under
/// that name and carries the story's MSGID was written whole (it is linked into place after
/// being synced) and also placed in the outbound: the story is recorded as posted, not
/// posted again. A run killed after placing a packet in the outbound but before the out
/// folder got it leaves the messages in the uplink's `.out`, or in a packet its flow file
/// lists: those are found there by MSGID (unique per story and address) and recorded too,
/// so the uplink does not get them twice. A packet found nowhere tells nothing: the run
/// may have been killed before writing it, or another program (a tosser, the mailer
/// sending it) took it away since. Its stories are posted again under the same MSGIDs,
/// which dupe checkers drop: a repeat at worst, never a story left out.
///
/// Messages found only in the outbound never reached --out, whose packets may feed a
/// local message base: they are copied there, byte for byte as the uplink gets them, in a
/// new packet (see [`copy_to_out`]), and recorded once it is there. The copy goes through
/// the same steps as a posted packet (its name noted, then linked, then recorded), so a
/// run killed while copying is finished by the next one as above: a copy in --out under
/// the name noted is recorded, one not there is made again, and the outbound is never
/// written to.
fn adopt_written(
    store: &mut Store,
    area: &str,
    outbound: Option<&Path>,
    header: &crate::ftn::PacketHeader,
    opts: &GatewayOptions,
) -> Result<Adopted, GatewayError> {
    use std::collections::{BTreeMap, HashSet};
    let unconfirmed = store.ledger_unconfirmed(area)?;
    if unconfirmed.is_empty() {
        return Ok(Adopted::default());
    }
    let mut by_packet: BTreeMap<String, Vec<(StoryId, &str)>> = BTreeMap::new();
    for (id, msgid, packet) in &unconfirmed {
        if let Some(packet) = packet {
            by_packet
                .entry(packet.clone())
                .or_default()
                .push((*id, msgid));
        }
    }
    let mut found: Vec<StoryId> = Vec::new();
    for (packet, entries) in by_packet {
        let msgids = packet_msgids(Path::new(&packet));
        found.extend(
            entries
                .iter()
                .filter(|(_, m)| msgids.contains(*m))
                .map(|(id, _)| *id),
        );
    }
    if !found.is_empty() {
        store.ledger_confirm(&found, area, Utc::now())?;
    }
    let mut adopted = Adopted {
        recorded: found.len(),
        ..Adopted::default()
    };
    let Some(outbound) = outbound else {
        return Ok(adopted);
    };
    let in_out: HashSet<StoryId> = found.into_iter().collect();
    let reserved = unconfirmed
        .iter()
        .filter(|(id, _, _)| !in_out.contains(id))
        .map(|(_, m, _)| m.as_str())
        .collect();
    let mut placed = outbound_messages(outbound, opts, &reserved);
    let only_there: Vec<(StoryId, Vec<u8>)> = unconfirmed
        .iter()
        .filter(|(id, _, _)| !in_out.contains(id))
        .filter_map(|(id, msgid, _)| placed.remove(msgid).map(|m| (*id, m)))
        .collect();
    if !only_there.is_empty() {
        // The copies are written into --out: clean it first, as a posting run does.
        adopted.temp_files_removed = remove_dead_temp_files(&opts.out_dir);
        adopted.copies = copy_to_out(store, area, &only_there, header, opts)?;
        adopted.recorded += only_there.len();
    }
    Ok(adopted)
}

/// Writes into --out the `messages` (packed, as read from the outbound) of the reserved
/// stories they belong to, in as few packets under `header` as the size limit allows, each
/// under a new name noted in the ledger before it is given, and records their stories as
/// posted once it is there.
fn copy_to_out(
    store: &mut Store,
    area: &str,
    messages: &[(StoryId, Vec<u8>)],
    header: &crate::ftn::PacketHeader,
    opts: &GatewayOptions,
) -> Result<Vec<PacketWritten>, GatewayError> {
    let mut head = writer::write_packet(header, &[])?;
    head.truncate(crate::ftn::packet::HEADER_LEN);
    let mut copies = Vec::new();
    let mut rest = messages;
    while !rest.is_empty() {
        let mut bytes = head.clone();
        let mut taken = 0;
        for (_, m) in rest {
            // As split_packets: the first message always goes in, the limit only splits.
            let full = opts.max_packet_bytes != 0
                && taken > 0
                && bytes.len() + m.len() + 2 > opts.max_packet_bytes;
            if full {
                break;
            }
            bytes.extend_from_slice(m);
            taken += 1;
        }
        bytes.extend_from_slice(&[0, 0]);
        let (chunk, more) = rest.split_at(taken);
        let ids: Vec<StoryId> = chunk.iter().map(|(id, _)| *id).collect();
        let path = write_new_packet_with(&opts.out_dir, &bytes, |p| {
            record_packet(store, &ids, area, p)
        })?;
        store.ledger_confirm(&ids, area, Utc::now())?;
        copies.push(PacketWritten {
            path,
            messages: ids.len(),
            bytes: bytes.len(),
            outbound: None,
        });
        rest = more;
    }
    Ok(copies)
}

/// A packet file read whole: who it is from and to, and where its messages are.
struct PacketFile {
    orig: crate::ftn::FtnAddress,
    dest: crate::ftn::FtnAddress,
    bytes: Vec<u8>,
    /// The MSGID of each message that has one, and the message's bytes in `bytes`.
    messages: Vec<(String, std::ops::Range<usize>)>,
}

impl PacketFile {
    /// One message of `messages`, as packed in the file.
    fn message(&self, range: &std::ops::Range<usize>) -> Option<&[u8]> {
        self.bytes.get(range.clone())
    }
}

/// The packet at `path` (None when it is gone or not a packet).
fn packet_at(path: &Path) -> Option<PacketFile> {
    // A flow file may list any file attach (a nodelist, a FIFO): only a regular file of a
    // packet's size is read.
    const MAX_PACKET_FILE: u64 = 64 * 1024 * 1024;
    let read = std::fs::metadata(path).and_then(|m| {
        if m.is_file() && m.len() <= MAX_PACKET_FILE {
            std::fs::read(path).map(Some)
        } else {
            Ok(None)
        }
    });
    let bytes = match read {
        Ok(b) => b?,
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(
                    "cannot read {}: {e}; its stories are posted again",
                    path.display()
                );
            }
            return None;
        }
    };
    let pkt = crate::ftn::read_packet(&bytes).ok()?;
    // Messages lie one after the other: each ends where the next (or the terminator) starts.
    let ends = pkt
        .messages
        .iter()
        .skip(1)
        .map(|m| m.offset)
        .chain([pkt.terminator_offset]);
    let messages = pkt
        .messages
        .iter()
        .zip(ends)
        .filter_map(|(m, end)| {
            let msgid =
                crate::ftn::EchoMessage::from_packed(m, &crate::ftn::Charsets::default()).msgid?;
            Some((msgid, m.offset..end))
        })
        .collect();
    let (orig, dest) = (pkt.header.orig, pkt.header.dest);
    Some(PacketFile {
        orig,
        dest,
        messages,
        bytes,
    })
}

/// The MSGIDs of the packet at `path` (none when it is gone or not a packet).
fn packet_msgids(path: &Path) -> std::collections::HashSet<String> {
    packet_at(path)
        .map(|p| p.messages.into_iter().map(|(m, _)| m).collect())
        .unwrap_or_default()
}

/// Adds to `found` the messages of `packet` whose MSGIDs are `reserved`, the first of each.
fn keep_reserved(
    found: &mut std::collections::HashMap<String, Vec<u8>>,
    packet: &PacketFile,
    reserved: &std::collections::HashSet<&str>,
) {
    for (msgid, range) in &packet.messages {
        if reserved.contains(msgid.as_str())
            && !found.contains_key(msgid)
            && let Some(m) = packet.message(range)
        {
            found.insert(msgid.clone(), m.to_vec());
        }
    }
}

/// The messages waiting in the outbound for the uplink whose MSGIDs are `reserved`, by
/// MSGID, as packed there: in its `.out`, and in the packets its flow file lists (the lines
/// of a `.flo` may start with a `^`, `#` or `~` directive).
///
/// A run killed between writing a packet into the outbound and listing it in the flow file
/// left it there unlisted, where the mailer never sends it. Such a packet of ours (from us to
/// the uplink, holding MSGIDs reserved in `reserved`) is listed now, as that run would have
/// done, and its messages count as waiting.
fn outbound_messages(
    outbound: &Path,
    opts: &GatewayOptions,
    reserved: &std::collections::HashSet<&str>,
) -> std::collections::HashMap<String, Vec<u8>> {
    let mut found = std::collections::HashMap::new();
    if reserved.is_empty() {
        return found;
    }
    let out = writer::bso_packet_path(outbound, opts.from.zone, opts.to, Flavour::Normal);
    if let Some(p) = packet_at(&out) {
        keep_reserved(&mut found, &p, reserved);
    }
    let flow = writer::bso_flow_path(outbound, opts.from.zone, opts.to, Flavour::Normal);
    let mut listed = std::collections::HashSet::new();
    if let Ok(lines) = std::fs::read(&flow) {
        for line in lines.split(|b| *b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let line = line
                .strip_prefix(b"^")
                .or_else(|| line.strip_prefix(b"#"))
                .or_else(|| line.strip_prefix(b"~"))
                .unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            let path =
                PathBuf::from(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(line));
            if let Some(p) = packet_at(&path) {
                keep_reserved(&mut found, &p, reserved);
            }
            listed.insert(path);
        }
    }
    let dir = flow.parent().unwrap_or(outbound);
    for path in std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
    {
        let is_pkt = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("pkt"));
        let absolute = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
        if !is_pkt || listed.contains(&absolute) {
            continue;
        }
        let Some(p) = packet_at(&path) else {
            continue;
        };
        let ours = p.orig == opts.from && p.dest == opts.to;
        if !ours
            || !p
                .messages
                .iter()
                .any(|(m, _)| reserved.contains(m.as_str()))
        {
            continue;
        }
        match attach(&flow, &absolute) {
            Ok(()) => {
                tracing::info!(
                    "{}: listed in {} (a killed run had not)",
                    path.display(),
                    flow.display()
                );
                keep_reserved(&mut found, &p, reserved);
            }
            Err(e) => tracing::warn!("cannot list {}: {e}", path.display()),
        }
    }
    found
}

/// The stories not yet posted to `area` (nor carried from it), and how many were.
fn unposted<'a>(
    store: &Store,
    stories: &'a [StoryRecord],
    area: &str,
) -> Result<(Vec<&'a StoryRecord>, usize), GatewayError> {
    let mut to_post = Vec::new();
    let mut skipped = 0;
    for s in stories {
        let from_this_area = s
            .area
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case(area))
            || store.seen_in_area(s.id, area)?;
        if from_this_area || store.ledger_contains(s.id, area)? {
            skipped += 1;
        } else {
            to_post.push(s);
        }
    }
    Ok((to_post, skipped))
}

/// A BSO busy flag we created; removed when dropped, on every path out of a run.
#[derive(Debug)]
struct BusyFlag {
    path: PathBuf,
    /// What we created, so that we never remove another program's flag.
    created: std::fs::Metadata,
}

impl Drop for BusyFlag {
    fn drop(&mut self) {
        // Another program may have taken it over as stale had this run lasted for hours.
        let still_ours =
            std::fs::symlink_metadata(&self.path).is_ok_and(|now| same_file(&self.created, &now));
        if still_ours {
            // Nothing more can be done here; a flag left behind goes stale in time.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Creates the busy flag `path` exclusively (O_EXCL: of two programs, one gets it), with
/// our PID in it as binkd writes its own. While another program holds it, looks again
/// every [`BUSY_POLL`] for `wait`; a flag untouched for [`STALE_BUSY_FLAG`] is left over
/// from a crash and is taken over (and returned, to be reported).
fn take_busy_flag(
    path: &Path,
    wait: Duration,
) -> Result<(BusyFlag, Option<StaleFlag>), GatewayError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| GatewayError::Io { path, source }
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let deadline = Instant::now() + wait;
    let mut stale = None;
    loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
        {
            Ok(mut f) => {
                let made = f
                    .write_all(flag_content(std::process::id()).as_bytes())
                    .and_then(|()| f.sync_all())
                    .and_then(|()| f.metadata());
                return match made {
                    Ok(created) => Ok((
                        BusyFlag {
                            path: path.to_path_buf(),
                            created,
                        },
                        stale,
                    )),
                    Err(e) => {
                        let _ = std::fs::remove_file(path);
                        Err(io(path)(e))
                    }
                };
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(path)(e)),
        }
        match std::fs::symlink_metadata(path) {
            // Gone meanwhile: try again at once.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io(path)(e)),
            Ok(found) => {
                // One dated in the future (clocks apart) counts as fresh; anything but a
                // plain file is not ours to remove.
                let age = SystemTime::now()
                    .duration_since(found.modified().map_err(io(path))?)
                    .ok()
                    .filter(|_| found.is_file());
                if let Some(age) = age.filter(|a| *a > STALE_BUSY_FLAG)
                    && remove_stale(path, &found)?
                {
                    stale = Some(StaleFlag {
                        path: path.to_path_buf(),
                        age,
                        killed_run: None,
                    });
                    continue;
                }
                if let Some(pid) = killed_run_flag(path)
                    && remove_stale(path, &found)?
                {
                    stale = Some(StaleFlag {
                        path: path.to_path_buf(),
                        age: age.unwrap_or_default(),
                        killed_run: Some(pid),
                    });
                    continue;
                }
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(GatewayError::Busy {
                flag: path.to_path_buf(),
                waited: wait,
                holder: flag_holder(path),
                by_echowatch: read_flag(path)
                    .as_deref()
                    .and_then(echowatch_flag)
                    .is_some(),
            });
        }
        std::thread::sleep(BUSY_POLL.min(left));
    }
}

/// Removes the stale flag `path` that was `judged` stale. It is first renamed to a name of
/// our own, which only one of several runs that judged it at once can do, and checked to
/// be the very file judged: had another program replaced it by a fresh flag in between,
/// that one is put back. False when there was nothing (left) to remove.
fn remove_stale(path: &Path, judged: &std::fs::Metadata) -> Result<bool, GatewayError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| GatewayError::Io { path, source }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut aside = TempFile::new_name(dir);
    match std::fs::rename(path, &aside.path) {
        Ok(()) => {}
        Err(e) => {
            aside.keep = true;
            return match e.kind() {
                // Another run took it first.
                std::io::ErrorKind::NotFound => Ok(false),
                _ => Err(io(path)(e)),
            };
        }
    }
    let moved = std::fs::symlink_metadata(&aside.path).map_err(io(&aside.path))?;
    if same_file(judged, &moved) {
        std::fs::remove_file(&aside.path).map_err(io(&aside.path))?;
        return Ok(true);
    }
    // Someone's fresh flag: back in place (a link fails rather than replace a flag a
    // third program made meanwhile); `aside` goes when dropped.
    match std::fs::hard_link(&aside.path, path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(_) => {
            if std::fs::symlink_metadata(path).is_err() {
                std::fs::rename(&aside.path, path).map_err(io(path))?;
            }
        }
    }
    Ok(false)
}

/// What echowatch writes into a busy flag it holds: `PID echowatch HOST`. binkd writes just
/// its PID; the name tells our flags from binkd's, and the host name tells whose PID it is
/// on a folder several hosts share.
fn flag_content(pid: u32) -> String {
    format!("{pid} echowatch {}\n", host_name().unwrap_or_default())
}

/// The PID and host of a flag whose content is what [`flag_content`] writes.
fn echowatch_flag(content: &str) -> Option<(u32, &str)> {
    let line = content.strip_suffix('\n')?;
    let (pid, host) = line.split_once(" echowatch ")?;
    let pid: u32 = pid.parse().ok().filter(|p| *p != 0)?;
    (pid.to_string().len() == line.len() - host.len() - " echowatch ".len()
        && !host.is_empty()
        && !host.contains(['\n', ' ']))
    .then_some((pid, host))
}

/// The PID of a killed echowatch run whose flag `path` is: content exactly as we write it,
/// naming this host, and no process with that PID running here. Only our own flags are
/// judged by PID: binkd writes a bare PID, and one from binkd on another host sharing the
/// folder, or in another PID namespace (a container), names no process here although it
/// runs; such flags wait for [`STALE_BUSY_FLAG`]. A PID reused since by another process
/// only makes us wait as for a live one.
fn killed_run_flag(path: &Path) -> Option<u32> {
    let content = read_flag(path)?;
    let (pid, host) = echowatch_flag(&content)?;
    let here = host_name()?;
    (host == here
        && pid != std::process::id()
        && process_running(pid) == Some(false)
        && content == flag_content(pid))
    .then_some(pid)
}

/// The start of a busy flag, for telling whose it is.
fn read_flag(path: &Path) -> Option<String> {
    String::from_utf8(flag_head(path)?).ok()
}

/// The first bytes of a busy flag: enough for any PID line, never a whole stray file.
fn flag_head(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(300)
        .read_to_end(&mut head)
        .ok()?;
    Some(head)
}

/// This host's name, None where it cannot be told (then no flag is taken for a killed run's).
#[cfg(unix)]
fn host_name() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer and its length are passed together; gethostname writes within it.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } != 0 {
        return None;
    }
    let end = buf.iter().position(|b| *b == 0)?;
    let name = std::str::from_utf8(buf.get(..end)?).ok()?;
    (!name.is_empty() && !name.contains([' ', '\n'])).then(|| name.to_string())
}

#[cfg(not(unix))]
fn host_name() -> Option<String> {
    None
}

/// The first line of a busy flag (binkd writes its PID there), for the error message.
fn flag_holder(path: &Path) -> Option<String> {
    let head = flag_head(path)?;
    let text = String::from_utf8_lossy(&head[..head.len().min(70)]);
    let line = text.lines().next()?.trim();
    let printable = !line.is_empty() && line.chars().all(|c| !c.is_control());
    printable.then(|| format!("{line:?}"))
}

/// Whether two looks at a path saw the same file: the same inode and, as inode numbers are
/// reused, the same size and modification time. (Not the change time: a rename sets it.)
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if (a.dev(), a.ino()) != (b.dev(), b.ino()) {
            return false;
        }
    }
    a.len() == b.len() && matches!((a.modified(), b.modified()), (Ok(x), Ok(y)) if x == y)
}

/// One packet into the outbound if there is one, then into the out folder under a new name,
/// `before_link` called with each name before it is given (see [`adopt_written`]). The out
/// folder comes last: a packet there is one the outbound has too.
fn write_one(
    bytes: &[u8],
    opts: &GatewayOptions,
    before_link: impl FnMut(&Path) -> Result<(), GatewayError>,
) -> Result<PacketWritten, GatewayError> {
    let outbound = match &opts.outbound {
        Some(dir) => Some(place_in_outbound(dir, bytes, opts)?),
        None => None,
    };
    let path = write_new_packet_with(&opts.out_dir, bytes, before_link)?;
    Ok(PacketWritten {
        path,
        messages: 0,
        bytes: bytes.len(),
        outbound,
    })
}

/// An unsent `.out` waiting there is appended to, never replaced, while it stays within
/// the limit; past that the packet is attached through the flow file instead, so the
/// uplink never gets a packet larger than the limit (or larger than it was).
fn place_in_outbound(
    outbound: &Path,
    bytes: &[u8],
    opts: &GatewayOptions,
) -> Result<OutboundPlacement, GatewayError> {
    let target = writer::bso_packet_path(outbound, opts.from.zone, opts.to, Flavour::Normal);
    // An .out we cannot read, or that is not a packet from us to the uplink (another
    // program's, or left damaged), is left as it is and ours is attached beside it, as
    // crashmail does, rather than failing the run.
    let combined = match std::fs::read(&target) {
        Ok(existing) => Some(
            appendable(&existing, opts)
                .then(|| writer::append_packets(&existing, bytes).ok())
                .flatten(),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            tracing::warn!("cannot read {}: {e}; attaching instead", target.display());
            Some(None)
        }
    };
    match combined {
        None => write_atomically(&target, bytes)?,
        Some(Some(c)) if opts.max_packet_bytes == 0 || c.len() <= opts.max_packet_bytes => {
            write_atomically(&target, &c)?
        }
        Some(_) => {
            let flow = writer::bso_flow_path(outbound, opts.from.zone, opts.to, Flavour::Normal);
            let dir = flow.parent().unwrap_or(outbound);
            let file = write_new_packet(dir, bytes)?;
            if let Err(e) = attach(&flow, &file) {
                // Unlisted, it would never be sent: do not leave it lying there.
                let _ = std::fs::remove_file(&file);
                return Err(e);
            }
            return Ok(OutboundPlacement::Attached { file, flow });
        }
    }
    Ok(OutboundPlacement::Packet(target))
}

/// Whether our messages may go into the waiting packet `existing`: one whose header says it
/// is from us to the uplink, under our password (or none when we give none). Its header is
/// what the uplink checks and answers to: messages appended to another sender's packet
/// would be taken for that sender's, and under another password (a stale one, or none)
/// the uplink would refuse ours or take them unchecked.
fn appendable(existing: &[u8], opts: &GatewayOptions) -> bool {
    let ours = opts.password.as_deref().unwrap_or_default().as_bytes();
    crate::ftn::read_packet(existing).is_ok_and(|p| {
        p.header.orig == opts.from && p.header.dest == opts.to && p.header.password == ours
    })
}

/// Adds `^FILE` (send, then delete) to a BSO flow file. Appended in place, as mailers
/// edit flow files in place while sending, and after the file it names is durable.
fn attach(flow: &Path, file: &Path) -> Result<(), GatewayError> {
    let io = |source| GatewayError::Io {
        path: flow.to_path_buf(),
        source,
    };
    // Mailers resolve flow file lines from their own working folder: absolute paths only.
    let file = std::path::absolute(file).map_err(io)?;
    let name = file.as_os_str().as_encoded_bytes();
    if name.contains(&b'\n') || name.contains(&b'\r') {
        return Err(GatewayError::UnlistablePath { path: file });
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(flow)
        .map_err(io)?;
    // A line cut short by a crash must not swallow ours.
    let mut line = Vec::with_capacity(name.len() + 2);
    let len = f.metadata().map_err(io)?.len();
    if len > 0 {
        use std::io::{Read, Seek, SeekFrom};
        let mut last = [0u8; 1];
        f.seek(SeekFrom::Start(len - 1)).map_err(io)?;
        f.read_exact(&mut last).map_err(io)?;
        if last[0] != b'\n' {
            line.push(b'\n');
        }
    }
    line.push(b'^');
    line.extend_from_slice(name);
    line.push(b'\n');
    f.write_all(&line).map_err(io)?;
    f.sync_all().map_err(io)?;
    if len == 0 {
        sync_dir(flow)?;
    }
    Ok(())
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

/// Tries at a free packet name before giving up (each try is a new serial).
const NAME_TRIES: u32 = 1000;

/// Writes a packet into `dir` under a new `XXXXXXXX.pkt` name: never over a file already
/// there (another run's packet, or another program's, may share a time-based name), and
/// whole or not at all: it is written and synced under a temporary name first, then linked
/// to its name, which fails rather than replace an existing file.
fn write_new_packet(dir: &Path, bytes: &[u8]) -> Result<PathBuf, GatewayError> {
    write_new_packet_with(dir, bytes, |_| Ok(()))
}

/// [`write_new_packet`], calling `before_link` with each name before trying it.
fn write_new_packet_with(
    dir: &Path,
    bytes: &[u8],
    mut before_link: impl FnMut(&Path) -> Result<(), GatewayError>,
) -> Result<PathBuf, GatewayError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| GatewayError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    // Removed when dropped: after the link, and on every error.
    let (tmp, mut f) = TempFile::create(dir)?;
    f.write_all(bytes).map_err(io(&tmp.path))?;
    f.sync_all().map_err(io(&tmp.path))?;
    drop(f);
    let result = (|| {
        for _ in 0..NAME_TRIES {
            let path = dir.join(format!("{:08x}.pkt", packet_serial()));
            if std::fs::symlink_metadata(&path).is_ok() {
                continue;
            }
            before_link(&path)?;
            match std::fs::hard_link(&tmp.path, &path) {
                Ok(()) => return Ok(path),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                // A file system without hard links: rename, after looking.
                Err(_) => match std::fs::symlink_metadata(&path) {
                    Ok(_) => continue,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        std::fs::rename(&tmp.path, &path).map_err(io(&path))?;
                        return Ok(path);
                    }
                    Err(e) => return Err(io(&path)(e)),
                },
            }
        }
        Err(GatewayError::NoFreeName {
            path: dir.to_path_buf(),
            tries: NAME_TRIES,
        })
    })();
    drop(tmp);
    let path = result?;
    sync_dir(&path)?;
    Ok(path)
}

/// Replaces `path` by `bytes` whole: written and synced under a temporary name of this
/// run's own in the same folder, then renamed over it.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), GatewayError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| GatewayError::Io { path, source }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let (mut tmp, mut f) = TempFile::create(dir)?;
    f.write_all(bytes).map_err(io(&tmp.path))?;
    f.sync_all().map_err(io(&tmp.path))?;
    drop(f);
    std::fs::rename(&tmp.path, path).map_err(io(path))?;
    tmp.keep = true;
    sync_dir(path)
}

/// Writes the file `path` through a temporary file beside it, renamed over it once `write`
/// has succeeded: a run killed or failing halfway leaves the file it would replace whole
/// (an export of yesterday, say), never cut off. Temporary files of dead runs in that
/// folder are removed first. The new file keeps the mode of the one it replaces, or is
/// readable by all (a temporary file is created private).
pub fn replace_file<T, E: From<GatewayError>>(
    path: &Path,
    write: impl FnOnce(&std::fs::File) -> Result<T, E>,
) -> Result<T, E> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| GatewayError::Io { path, source }
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    remove_dead_temp_files(dir);
    let mode = std::fs::metadata(path).map_or_else(
        |_| std::os::unix::fs::PermissionsExt::from_mode(0o644),
        |m| m.permissions(),
    );
    let (mut tmp, f) = TempFile::create(dir)?;
    f.set_permissions(mode).map_err(io(&tmp.path))?;
    let out = write(&f)?;
    f.sync_all().map_err(io(&tmp.path))?;
    drop(f);
    std::fs::rename(&tmp.path, path).map_err(io(path))?;
    tmp.keep = true;
    sync_dir(path)?;
    Ok(out)
}

/// A temporary file of this run, removed when dropped unless kept (renamed into place).
/// Named `.echowatch-PID-N.tmp`: unique among runs at once (PID) and within one (N), and
/// neither `*.pkt` nor a BSO name, so tossers and mailers scanning the folder pass it over.
#[derive(Debug)]
struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl TempFile {
    /// A fresh name in `dir`, not yet a file (removed when dropped if it becomes one).
    fn new_name(dir: &Path) -> TempFile {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        TempFile {
            path: dir.join(format!(".echowatch-{}-{n}.tmp", std::process::id())),
            keep: false,
        }
    }

    /// A new temporary file in `dir`, created exclusively: one a crashed run left behind
    /// under the same PID is passed over, never written into.
    fn create(dir: &Path) -> Result<(TempFile, std::fs::File), GatewayError> {
        for _ in 0..NAME_TRIES {
            let mut tmp = TempFile::new_name(dir);
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp.path)
            {
                Ok(f) => return Ok((tmp, f)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    // Not ours: leave it be.
                    tmp.keep = true;
                }
                Err(source) => {
                    tmp.keep = true;
                    return Err(GatewayError::Io {
                        path: tmp.path.clone(),
                        source,
                    });
                }
            }
        }
        Err(GatewayError::NoFreeName {
            path: dir.to_path_buf(),
            tries: NAME_TRIES,
        })
    }
}

/// The PID in a name of [`TempFile`]'s pattern, `.echowatch-PID-N.tmp` exactly (decimal
/// numbers as we write them: no sign, no leading zero); None for any other name.
fn temp_file_pid(name: &str) -> Option<u32> {
    let (pid, n) = name
        .strip_prefix(".echowatch-")?
        .strip_suffix(".tmp")?
        .split_once('-')?;
    let number = |s: &str| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
    };
    if !number(pid) || !number(n) {
        return None;
    }
    n.parse::<u64>().ok()?;
    pid.parse().ok().filter(|p| *p != 0)
}

/// Removes from `dir` the temporary files of runs killed mid-write (kill -9, a power cut:
/// no `Drop` ran), and says how many. Not the folder's subfolders, nor anything but a plain
/// file named exactly as [`TempFile`] names them.
///
/// One goes only when no running process has its PID. Holding the uplink's busy flag does
/// not make the other PIDs' files dead: the outbound folder is shared by every uplink of
/// the zone (a point folder by the node's points), and a run posting to another uplink
/// holds that one's flag, not ours; in --out there is no lock at all. Our own PID's files
/// stay (another thread of this process, or a dead run that had our PID: a later run takes
/// them). A file misjudged dead (a live run in another PID namespace, or on another host
/// sharing the folder) makes that run's link or rename fail before it records the packet:
/// an error it reports and a later run finishes, never a lost or doubled message.
fn remove_dead_temp_files(dir: &Path) -> usize {
    // Not there yet (or not readable): nothing to clean, and the write will say why.
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(temp_file_pid) else {
            continue;
        };
        let path = entry.path();
        if pid == std::process::id() {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_file() || !is_dead(process_running(pid), unchanged_for(&meta)) {
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => removed += 1,
            // Another run cleaning at the same time took it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("cannot remove {}: {e}", path.display()),
        }
    }
    removed
}

/// Whether a temporary file is a dead run's: its process is gone, or, where that cannot
/// be asked, the file has not changed for as long as makes a busy flag stale (a live run
/// keeps one for the seconds a packet takes to write).
fn is_dead(running: Option<bool>, unchanged_for: Option<Duration>) -> bool {
    match running {
        Some(running) => !running,
        None => unchanged_for.is_some_and(|age| age > STALE_BUSY_FLAG),
    }
}

/// Whether a process with this PID runs: asked of the kernel (`kill` with no signal), not
/// of `/proc`, which `hidepid` makes hide other users' processes (and which a chroot may
/// lack). Another user's process is running too (EPERM). None when it cannot be told.
#[cfg(unix)]
fn process_running(pid: u32) -> Option<bool> {
    // Above pid_t's range a PID cannot exist, and 0 or less would name a process group.
    let pid = libc::pid_t::try_from(pid).ok().filter(|p| *p > 0)?;
    // SAFETY: signal 0 sends nothing; kill only checks the process exists and may be
    // signalled. No memory is passed.
    if unsafe { libc::kill(pid, 0) } == 0 {
        return Some(true);
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::ESRCH) => Some(false),
        Some(libc::EPERM) => Some(true),
        _ => None,
    }
}

#[cfg(not(unix))]
fn process_running(_pid: u32) -> Option<bool> {
    None
}

/// How long since the file last changed. On Unix the inode change time, which a rename
/// sets too: a stale busy flag a live run has just renamed aside keeps its old mtime.
fn unchanged_for(meta: &std::fs::Metadata) -> Option<Duration> {
    #[cfg(unix)]
    let changed = {
        use std::os::unix::fs::MetadataExt;
        let secs = u64::try_from(meta.ctime()).ok()?;
        let nanos = u32::try_from(meta.ctime_nsec()).ok()?;
        SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs, nanos))?
    };
    #[cfg(not(unix))]
    let changed = meta.modified().ok()?;
    SystemTime::now().duration_since(changed).ok()
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            // Gone already after a rename; failing to remove it only leaves a hidden file.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Syncs the folder of `path`, so a new name in it survives a power cut.
#[cfg(not(unix))]
fn sync_dir(_path: &Path) -> Result<(), GatewayError> {
    // Folders cannot be opened (or synced) as files there; the rename is as durable as it gets.
    Ok(())
}

/// Syncs the folder of `path`, so a new name in it survives a power cut.
#[cfg(unix)]
fn sync_dir(path: &Path) -> Result<(), GatewayError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| GatewayError::Io {
            path: dir.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ftn::{Charsets, EchoMessage, read_packet, to_story};
    use crate::model::{ParsedStory, StoryKind};
    use crate::store::Incoming;
    use std::collections::BTreeMap;

    const AREA: &str = "TQW_TEST";

    /// A store with `n` feed stories of about 1 KB each, and those stories.
    fn store_with(n: usize) -> (tempfile::TempDir, Store, Vec<StoryRecord>) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("store.sqlite")).unwrap();
        let src = store
            .ensure_source("wire", "https://wire.test/feed")
            .unwrap();
        let batch: Vec<Incoming> = (0..n)
            .map(|i| {
                let mut s = ParsedStory::new(StoryKind::Feed, format!("Wire story number {i}"));
                s.guid = Some(format!("g{i}"));
                s.link = Some(format!("https://wire.test/story/{i}"));
                s.body = format!("Story {i} says: {}", "export controls tighten ".repeat(40));
                Incoming {
                    story: s,
                    auto_tags: vec![],
                }
            })
            .collect();
        store.ingest_batch(src, &[], &batch, Utc::now()).unwrap();
        let stories = store.stories_after_brief(0, n + 1).unwrap();
        assert_eq!(stories.len(), n);
        (dir, store, stories)
    }

    #[test]
    fn a_story_that_came_in_the_area_by_any_message_is_not_posted_there() {
        // Tossed in two areas of one inbound (two MSGIDs, one link): it is one story whose
        // `area` is the first, but the echo has it in both.
        let (_dir, mut store, stories) = store_with(2);
        let inbound = store.ensure_source("inbound", "/in").unwrap();
        let batch: Vec<Incoming> = ["TQW_NEWS2", "TQW_NEWS3"]
            .iter()
            .enumerate()
            .map(|(i, area)| {
                let mut s = ParsedStory::new(StoryKind::Echomail, "Wire story number 0");
                s.guid = Some(format!("2:5020/1 0000000{i}"));
                s.link = Some("https://wire.test/story/0".into());
                s.area = Some((*area).into());
                Incoming {
                    story: s,
                    auto_tags: vec![],
                }
            })
            .collect();
        store
            .ingest_batch(inbound, &[], &batch, Utc::now())
            .unwrap();
        let (to_post, skipped) = unposted(&store, &stories, "TQW_NEWS3").unwrap();
        assert_eq!(skipped, 1);
        assert_eq!(
            to_post.iter().map(|s| s.id).collect::<Vec<_>>(),
            [stories[1].id]
        );
    }

    fn options(dir: &Path, max_packet_bytes: usize) -> GatewayOptions {
        GatewayOptions {
            area: AREA.into(),
            from: "1337:1/100".parse().unwrap(),
            to: "1337:1/101".parse().unwrap(),
            origin: None,
            password: None,
            charset: OutCharset::Utf8,
            out_dir: dir.join("out"),
            outbound: None,
            max_packet_bytes,
            busy_wait: Duration::from_millis(200),
            hang_before_confirm: None,
            hang_before_out: None,
        }
    }

    /// Link → MSGID of every message in the packets; panics if a link comes twice.
    fn msgids_by_link(files: &[PathBuf]) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for f in files {
            let bytes = std::fs::read(f).unwrap();
            for m in read_packet(&bytes).unwrap().messages {
                let m = EchoMessage::from_packed(&m, &Charsets::default());
                let link = to_story(&m).link.unwrap();
                let old = out.insert(link.clone(), m.msgid.unwrap());
                assert!(old.is_none(), "{link} twice");
            }
        }
        out
    }

    /// What a run does up to writing a packet: `chunk` reserved in the ledger, and the
    /// packet of their messages under the MSGIDs reserved.
    fn reserved_packet(store: &mut Store, opts: &GatewayOptions, chunk: &[StoryRecord]) -> Vec<u8> {
        let cfg = GatewayConfig::new(AREA, opts.from, opts.to);
        let now = Local::now().fixed_offset();
        let ids: Vec<StoryId> = chunk.iter().map(|s| s.id).collect();
        let serials = store
            .ledger_reserve(&ids, AREA, "1337:1/100", Utc::now())
            .unwrap();
        let msgs: Vec<_> = chunk
            .iter()
            .zip(serials)
            .map(|(s, serial)| {
                GatewayPost {
                    serial: serial.unwrap(),
                    title: s.title.clone(),
                    published: None,
                    description: String::new(),
                    link: s.link.clone(),
                }
                .to_message(&cfg, now)
            })
            .collect();
        writer::write_packet(&writer::gateway_header(&cfg, now, None), &msgs).unwrap()
    }

    /// `dir/outbound`, made, as the BSO outbound of `opts`.
    fn outbound_for(opts: &mut GatewayOptions, dir: &Path) -> PathBuf {
        let outbound = dir.join("outbound");
        std::fs::create_dir_all(&outbound).unwrap();
        opts.outbound = Some(outbound.clone());
        outbound
    }

    /// The packets the outbound holds for the uplink: the `.out`, then the flow file's.
    fn outbound_packets(outbound: &Path) -> Vec<PathBuf> {
        let mut files = vec![outbound.join("00010065.out")];
        if let Ok(flow) = std::fs::read_to_string(outbound.join("00010065.flo")) {
            files.extend(
                flow.lines()
                    .map(|l| PathBuf::from(l.strip_prefix('^').unwrap())),
            );
        }
        files
    }

    #[test]
    fn many_stories_make_packets_within_the_limit_each_recorded() {
        let tmp = tempfile::tempdir().unwrap();
        let (_d, mut store, stories) = store_with(40);
        let mut opts = options(tmp.path(), 8 * 1024);
        opts.outbound = Some(tmp.path().join("outbound"));
        let report = post(&mut store, &stories, &opts).unwrap();
        assert_eq!(report.posted, 40);
        assert!(report.packets.len() >= 3, "{report:?}");
        let paths: Vec<PathBuf> = report.packets.iter().map(|p| p.path.clone()).collect();
        let mut names = paths.clone();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), paths.len(), "names repeat: {paths:?}");
        for p in &report.packets {
            let len = std::fs::metadata(&p.path).unwrap().len() as usize;
            assert_eq!(len, p.bytes);
            assert!(len <= opts.max_packet_bytes, "{}: {len}", p.path.display());
        }
        assert_eq!(report.packets.iter().map(|p| p.messages).sum::<usize>(), 40);
        let sent = msgids_by_link(&paths);
        assert_eq!(sent.len(), 40);
        for s in &stories {
            assert!(store.ledger_contains(s.id, AREA).unwrap());
        }
        // The outbound: the first packet became the .out, the others (no room left in it
        // under the limit) are attached through the flow file; every story once.
        let outbound = opts.outbound.clone().unwrap();
        assert_eq!(
            report.packets[0].outbound,
            Some(OutboundPlacement::Packet(outbound.join("00010065.out")))
        );
        assert!(matches!(
            report.packets[1].outbound,
            Some(OutboundPlacement::Attached { .. })
        ));
        let queued = outbound_packets(&outbound);
        assert_eq!(queued.len(), report.packets.len());
        for f in &queued {
            assert!(std::fs::metadata(f).unwrap().len() as usize <= opts.max_packet_bytes);
        }
        assert_eq!(msgids_by_link(&queued), sent);

        let again = post(&mut store, &stories, &opts).unwrap();
        assert_eq!((again.posted, again.skipped), (0, 40));
        assert!(again.packets.is_empty());
        assert!(!outbound.join("00010065.bsy").exists(), "busy flag left");
        assert_eq!(again.stale_flag, None);
    }

    #[test]
    fn no_limit_makes_one_packet_and_appends_to_the_waiting_out() {
        let tmp = tempfile::tempdir().unwrap();
        let (_d, mut store, stories) = store_with(40);
        let mut opts = options(tmp.path(), 0);
        opts.outbound = Some(tmp.path().join("outbound"));
        let (first, second) = stories.split_at(10);
        let a = post(&mut store, first, &opts).unwrap();
        let b = post(&mut store, second, &opts).unwrap();
        assert_eq!((a.packets.len(), b.packets.len()), (1, 1));
        assert!(b.packets[0].bytes > 8 * 1024);
        let out = tmp.path().join("outbound/00010065.out");
        assert_eq!(
            b.packets[0].outbound,
            Some(OutboundPlacement::Packet(out.clone()))
        );
        assert!(!tmp.path().join("outbound/00010065.flo").exists());
        assert_eq!(msgids_by_link(&[out]).len(), 40);
    }

    #[test]
    fn a_failure_after_some_packets_leaves_those_recorded_and_the_rest_reserved() {
        let tmp = tempfile::tempdir().unwrap();
        let (_d, mut store, stories) = store_with(40);
        let mut opts = options(tmp.path(), 8 * 1024);
        let outbound = tmp.path().join("outbound");
        opts.outbound = Some(outbound.clone());
        // The first packet becomes the .out; the second must be attached, and the flow
        // file cannot be written (a folder stands in its way): the run stops there.
        std::fs::create_dir_all(outbound.join("00010065.flo")).unwrap();
        let err = post(&mut store, &stories, &opts).unwrap_err();
        let GatewayError::Stopped {
            written, posted, ..
        } = &err
        else {
            panic!("{err}");
        };
        assert_eq!(*written, 1);
        assert!(err.to_string().contains("00010065.flo"), "{err}");
        assert!(
            err.to_string().contains("stopped after 1 packet: "),
            "{err}"
        );
        // The failing run let go of the uplink's busy flag all the same.
        assert!(!outbound.join("00010065.bsy").exists(), "busy flag left");
        let first = msgids_by_link(&[outbound.join("00010065.out")]);
        assert_eq!(first.len(), *posted);
        let (done, rest): (Vec<&StoryRecord>, Vec<&StoryRecord>) = stories
            .iter()
            .partition(|s| first.contains_key(s.link.as_deref().unwrap()));
        assert_eq!(done.len(), *posted);
        for s in &done {
            assert!(store.ledger_contains(s.id, AREA).unwrap());
        }
        for s in &rest {
            assert!(!store.ledger_contains(s.id, AREA).unwrap());
        }
        // Their MSGIDs stay reserved: asking again hands out the same ones.
        let rest_ids: Vec<StoryId> = rest.iter().map(|s| s.id).collect();
        let reserved = store
            .ledger_reserve(&rest_ids, AREA, "1337:1/100", Utc::now())
            .unwrap();

        // Fixed, a new run posts just the rest, under those MSGIDs.
        std::fs::remove_dir(outbound.join("00010065.flo")).unwrap();
        let before: Vec<PathBuf> = std::fs::read_dir(&opts.out_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        let report = post(&mut store, &stories, &opts).unwrap();
        assert_eq!((report.posted, report.skipped), (rest.len(), done.len()));
        let paths: Vec<PathBuf> = report.packets.iter().map(|p| p.path.clone()).collect();
        assert!(paths.iter().all(|p| !before.contains(p)));
        let second = msgids_by_link(&paths);
        for (s, serial) in rest.iter().zip(reserved.into_iter().flatten()) {
            let msgid = &second[s.link.as_deref().unwrap()];
            assert_eq!(msgid, &format!("1337:1/100 {serial:08x}"));
        }
        // The uplink gets every story exactly once.
        assert_eq!(msgids_by_link(&outbound_packets(&outbound)).len(), 40);
    }

    #[test]
    fn a_packet_a_killed_run_wrote_is_recorded_not_posted_again() {
        let tmp = tempfile::tempdir().unwrap();
        let (_d, mut store, stories) = store_with(9);
        let opts = options(tmp.path(), 0);
        // What a run does up to writing a packet, for three packets of three stories,
        // killed before confirming any of them.
        let mut names = Vec::new();
        for chunk in stories.chunks(3) {
            let ids: Vec<StoryId> = chunk.iter().map(|s| s.id).collect();
            let bytes = reserved_packet(&mut store, &opts, chunk);
            let path = write_new_packet_with(&opts.out_dir, &bytes, |p| {
                record_packet(&mut store, &ids, AREA, p)
            })
            .unwrap();
            names.push(path);
        }
        let before = msgids_by_link(&names);
        // The second packet was taken away (a tosser read the folder): nothing tells it was
        // written. The third's name now holds another packet, without those MSGIDs.
        std::fs::remove_file(&names[1]).unwrap();
        std::fs::copy(&names[0], &names[2]).unwrap();
        let report = post(&mut store, &stories, &opts).unwrap();
        assert_eq!(report.adopted, 3);
        assert_eq!((report.posted, report.skipped), (6, 3));
        // The first three are not posted again; the rest are, under the MSGIDs reserved.
        let paths: Vec<PathBuf> = report.packets.iter().map(|p| p.path.clone()).collect();
        let again = msgids_by_link(&paths);
        assert_eq!(again.len(), 6);
        for s in &stories[..3] {
            assert!(!again.contains_key(s.link.as_deref().unwrap()));
        }
        for s in &stories[3..] {
            let link = s.link.as_deref().unwrap();
            assert_eq!(again[link], before[link]);
        }
        for s in &stories {
            assert!(store.ledger_contains(s.id, AREA).unwrap());
        }
        let next = post(&mut store, &stories, &opts).unwrap();
        assert_eq!((next.adopted, next.posted, next.skipped), (0, 0, 9));
    }

    /// A run killed after placing its packets in the outbound (the uplink's `.out`, or a
    /// packet its flow file lists) but before the out folder got them and before recording
    /// them: the next run finds the messages there by MSGID and does not send them twice.
    #[test]
    fn messages_a_killed_run_left_in_the_outbound_are_recorded_not_posted_again() {
        let tmp = tempfile::tempdir().unwrap();
        let (_d, mut store, stories) = store_with(6);
        let mut opts = options(tmp.path(), 0);
        let outbound = outbound_for(&mut opts, tmp.path());
        // Two stories went into the .out, two into a packet the flow file lists, one into a
        // packet written but not yet listed (killed in between); the last was reserved but
        // never written anywhere.
        let out = writer::bso_packet_path(&outbound, opts.from.zone, opts.to, Flavour::Normal);
        std::fs::write(&out, reserved_packet(&mut store, &opts, &stories[..2])).unwrap();
        let attached = outbound.join("0000beef.pkt");
        std::fs::write(
            &attached,
            reserved_packet(&mut store, &opts, &stories[2..4]),
        )
        .unwrap();
        let flow = writer::bso_flow_path(&outbound, opts.from.zone, opts.to, Flavour::Normal);
        std::fs::write(&flow, format!("^{}\n", attached.display())).unwrap();
        let unlisted = outbound.join("0000cafe.pkt");
        std::fs::write(
            &unlisted,
            reserved_packet(&mut store, &opts, &stories[4..5]),
        )
        .unwrap();
        reserved_packet(&mut store, &opts, &stories[5..]);

        let report = post(&mut store, &stories, &opts).unwrap();
        assert_eq!(report.adopted, 5);
        assert_eq!((report.posted, report.skipped), (1, 5));
        // The unlisted packet is listed now, so the mailer sends it.
        let listed = std::fs::read_to_string(&flow).unwrap();
        assert!(listed.contains("0000cafe.pkt"), "{listed}");
        for s in &stories {
            assert!(store.ledger_contains(s.id, AREA).unwrap());
        }
        // Each MSGID is in the outbound once.
        let mut all = outbound_packets(&outbound);
        all.push(out.clone());
        all.sort();
        all.dedup();
        let by_link = msgids_by_link(&all);
        assert_eq!(by_link.len(), 6, "{by_link:?}");
    }

    /// The packets in the out folder.
    fn out_packets(opts: &GatewayOptions) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&opts.out_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "pkt"))
            .collect();
        files.sort();
        files
    }

    /// MSGID → the message's date, names, subject and text as packed in the packets.
    fn packed_by_msgid(files: &[PathBuf]) -> BTreeMap<String, Vec<Vec<u8>>> {
        let mut out = BTreeMap::new();
        for f in files {
            let bytes = std::fs::read(f).unwrap();
            for m in read_packet(&bytes).unwrap().messages {
                let msgid = EchoMessage::from_packed(&m, &Charsets::default())
                    .msgid
                    .unwrap();
                let fields = [m.date_time, m.to, m.from, m.subject, m.text];
                out.insert(msgid, fields.iter().map(|f| f.to_vec()).collect());
            }
        }
        out
    }

    /// A run killed after placing its packets in the outbound but before --out got them:
    /// the next run records those stories without sending them again, and copies their
    /// messages, as the uplink has them, into --out once, for the local message base.
    #[test]
    fn messages_a_killed_run_left_only_in_the_outbound_are_copied_into_out_once() {
        let tmp = tempfile::tempdir().unwrap();
        let (_d, mut store, stories) = store_with(5);
        let mut opts = options(tmp.path(), 0);
        let outbound = outbound_for(&mut opts, tmp.path());
        let out = writer::bso_packet_path(&outbound, opts.from.zone, opts.to, Flavour::Normal);
        std::fs::write(&out, reserved_packet(&mut store, &opts, &stories[..2])).unwrap();
        let attached = outbound.join("0000beef.pkt");
        std::fs::write(
            &attached,
            reserved_packet(&mut store, &opts, &stories[2..3]),
        )
        .unwrap();
        let flow = writer::bso_flow_path(&outbound, opts.from.zone, opts.to, Flavour::Normal);
        std::fs::write(&flow, format!("^{}\n", attached.display())).unwrap();
        let left = packed_by_msgid(&[out.clone(), attached.clone()]);

        let report = post(&mut store, &stories, &opts).unwrap();
        assert_eq!(report.adopted, 3);
        assert_eq!((report.posted, report.skipped), (2, 3));
        // --out has every story once: the three adopted in a copy of their own, byte for
        // byte as the uplink has them, and the two posted now.
        let in_out = out_packets(&opts);
        assert_eq!(msgids_by_link(&in_out).len(), 5);
        let [copy] = report.copies.as_slice() else {
            panic!("{report:?}");
        };
        assert_eq!((copy.messages, copy.outbound.as_ref()), (3, None));
        assert_eq!(
            std::fs::metadata(&copy.path).unwrap().len() as usize,
            copy.bytes
        );
        assert_eq!(packed_by_msgid(std::slice::from_ref(&copy.path)), left);
        let header = read_packet(&std::fs::read(&copy.path).unwrap())
            .unwrap()
            .header;
        assert_eq!((header.orig, header.dest), (opts.from, opts.to));
        // The uplink gets each story once: the copy went nowhere else.
        assert_eq!(msgids_by_link(&outbound_packets(&outbound)).len(), 5);
        let again = post(&mut store, &stories, &opts).unwrap();
        assert_eq!((again.adopted, again.posted, again.skipped), (0, 0, 5));
        assert!(again.copies.is_empty());
        assert_eq!(out_packets(&opts), in_out);
    }

    /// The copy into --out is written as a posted packet is (its name noted, then linked,
    /// then recorded): a run killed while making it is finished by the next, which neither
    /// copies twice nor sends anything to the uplink again.
    #[test]
    fn a_run_killed_while_copying_into_out_is_finished_without_a_second_copy() {
        let tmp = tempfile::tempdir().unwrap();
        let (_d, mut store, stories) = store_with(6);
        let mut opts = options(tmp.path(), 0);
        let outbound = outbound_for(&mut opts, tmp.path());
        let out = writer::bso_packet_path(&outbound, opts.from.zone, opts.to, Flavour::Normal);
        std::fs::write(&out, reserved_packet(&mut store, &opts, &stories[..4])).unwrap();
        let uplink = std::fs::read(&out).unwrap();
        // Killed once the copy of stories 0 and 1 was in --out, before recording it.
        let ids: Vec<StoryId> = stories[..2].iter().map(|s| s.id).collect();
        let bytes = reserved_packet(&mut store, &opts, &stories[..2]);
        let linked = write_new_packet_with(&opts.out_dir, &bytes, |p| {
            record_packet(&mut store, &ids, AREA, p)
        })
        .unwrap();
        // Killed after noting the copy of stories 2 and 3 by name, before linking it.
        let ids: Vec<StoryId> = stories[2..4].iter().map(|s| s.id).collect();
        record_packet(&mut store, &ids, AREA, &opts.out_dir.join("0badc0de.pkt")).unwrap();

        let report = post(&mut store, &stories, &opts).unwrap();
        assert_eq!(report.adopted, 4);
        assert_eq!((report.posted, report.skipped), (2, 4));
        let [copy] = report.copies.as_slice() else {
            panic!("{report:?}");
        };
        assert_eq!(copy.messages, 2);
        let copied = msgids_by_link(std::slice::from_ref(&copy.path));
        for s in &stories[2..4] {
            assert!(copied.contains_key(s.link.as_deref().unwrap()));
        }
        // --out and the uplink each have every story once; the uplink's waiting .out only
        // gained the two posted now.
        let in_out = out_packets(&opts);
        assert!(in_out.contains(&linked));
        assert_eq!(msgids_by_link(&in_out).len(), 6);
        assert_eq!(msgids_by_link(&outbound_packets(&outbound)).len(), 6);
        let now = std::fs::read(&out).unwrap();
        assert_eq!(now.get(..uplink.len() - 2), uplink.get(..uplink.len() - 2));
        for s in &stories {
            assert!(store.ledger_contains(s.id, AREA).unwrap());
        }
    }

    #[test]
    fn copies_into_out_keep_to_the_packet_size_limit() {
        let tmp = tempfile::tempdir().unwrap();
        let (_d, mut store, stories) = store_with(6);
        let mut opts = options(tmp.path(), 0);
        let outbound = outbound_for(&mut opts, tmp.path());
        let out = writer::bso_packet_path(&outbound, opts.from.zone, opts.to, Flavour::Normal);
        std::fs::write(&out, reserved_packet(&mut store, &opts, &stories)).unwrap();
        // Each message is a few hundred bytes: not all six fit under 1 KiB.
        opts.max_packet_bytes = 1024;
        let report = post(&mut store, &stories, &opts).unwrap();
        assert_eq!((report.adopted, report.posted), (6, 0));
        assert!(report.copies.len() >= 2, "{report:?}");
        for c in &report.copies {
            assert!(c.bytes <= opts.max_packet_bytes, "{c:?}");
        }
        assert_eq!(report.copies.iter().map(|c| c.messages).sum::<usize>(), 6);
        assert_eq!(msgids_by_link(&out_packets(&opts)).len(), 6);
    }

    #[test]
    fn an_out_not_from_us_to_the_uplink_is_left_and_ours_attached() {
        let tmp = tempfile::tempdir().unwrap();
        let (_d, mut store, stories) = store_with(3);
        let mut opts = options(tmp.path(), 0);
        let outbound = outbound_for(&mut opts, tmp.path());
        // Another node's packet waiting for the uplink, and then one that is not a packet.
        let cfg = GatewayConfig::new(AREA, "1337:1/99".parse().unwrap(), opts.to);
        let theirs = writer::write_packet(
            &writer::gateway_header(&cfg, Local::now().fixed_offset(), None),
            &[],
        )
        .unwrap();
        let out = outbound.join("00010065.out");
        for (waiting, stories) in [
            (theirs, &stories[..2]),
            (b"garbage".to_vec(), &stories[2..]),
        ] {
            std::fs::write(&out, &waiting).unwrap();
            let report = post(&mut store, stories, &opts).unwrap();
            assert_eq!(report.posted, stories.len());
            let Some(OutboundPlacement::Attached { file, .. }) = &report.packets[0].outbound else {
                panic!("{report:?}");
            };
            assert_eq!(
                msgids_by_link(std::slice::from_ref(file)).len(),
                stories.len()
            );
            assert_eq!(std::fs::read(&out).unwrap(), waiting);
        }
        assert_eq!(msgids_by_link(&outbound_packets(&outbound)[1..]).len(), 3);
    }

    #[test]
    fn an_out_under_another_password_is_not_appended_to() {
        let tmp = tempfile::tempdir().unwrap();
        let (_d, mut store, stories) = store_with(4);
        let mut opts = options(tmp.path(), 0);
        let outbound = tmp.path().join("outbound");
        opts.outbound = Some(outbound.clone());
        let out = outbound.join("00010065.out");
        // Our own earlier run, without a password, started the .out.
        post(&mut store, &stories[..1], &opts).unwrap();
        let waiting = std::fs::read(&out).unwrap();
        // Now with one: ours goes beside it, under our password.
        opts.password = Some("SECRET".into());
        let report = post(&mut store, &stories[1..2], &opts).unwrap();
        let Some(OutboundPlacement::Attached { file, .. }) = &report.packets[0].outbound else {
            panic!("{report:?}");
        };
        assert_eq!(std::fs::read(&out).unwrap(), waiting);
        let attached = crate::ftn::read_packet(&std::fs::read(file).unwrap())
            .unwrap()
            .header;
        assert_eq!(attached.password, b"SECRET");
        // An .out under the same password is appended to, as before.
        std::fs::remove_file(&out).unwrap();
        post(&mut store, &stories[2..3], &opts).unwrap();
        let report = post(&mut store, &stories[3..], &opts).unwrap();
        assert_eq!(
            report.packets[0].outbound,
            Some(OutboundPlacement::Packet(out.clone()))
        );
        let pkt = std::fs::read(&out).unwrap();
        assert_eq!(
            crate::ftn::read_packet(&pkt).unwrap().header.password,
            b"SECRET"
        );
        assert_eq!(msgids_by_link(&[out]).len(), 2);
    }

    #[test]
    fn an_out_folder_that_is_a_file_is_refused_before_anything() {
        let tmp = tempfile::tempdir().unwrap();
        let (_d, mut store, stories) = store_with(2);
        let opts = options(tmp.path(), 0);
        std::fs::write(&opts.out_dir, b"a file").unwrap();
        let err = post(&mut store, &stories, &opts).unwrap_err();
        assert!(err.to_string().contains(": not a folder"), "{err}");
        assert!(store.ledger_unconfirmed(AREA).unwrap().is_empty());
        assert!(!store.ledger_contains(stories[0].id, AREA).unwrap());
    }

    #[test]
    fn packet_names_never_replace_a_file_already_there() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        // Take the next 300 names this process would try.
        let s0 = packet_serial();
        for s in s0.wrapping_add(1)..=s0.wrapping_add(300) {
            std::fs::write(dir.join(format!("{s:08x}.pkt")), b"theirs").unwrap();
        }
        let path = write_new_packet(dir, b"ours").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"ours");
        let name = path.file_stem().unwrap().to_str().unwrap();
        let serial = u32::from_str_radix(name, 16).unwrap();
        assert!(serial.wrapping_sub(s0) > 300, "{name}");
        let entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        // Theirs untouched, no temporary file left behind.
        assert_eq!(entries.len(), 301, "{entries:?}");
        for e in entries.iter().filter(|e| **e != path) {
            assert_eq!(std::fs::read(e).unwrap(), b"theirs");
        }
    }

    /// Files in `dir` whose names start with `.echowatch-` (temporary files).
    fn temp_files(dir: &Path) -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains(".echowatch-"))
            .collect()
    }

    #[test]
    fn a_busy_outbound_stops_the_run_before_anything_is_posted() {
        let tmp = tempfile::tempdir().unwrap();
        let (_d, mut store, stories) = store_with(40);
        let mut opts = options(tmp.path(), 8 * 1024);
        let outbound = outbound_for(&mut opts, tmp.path());
        // binkd in a session with the uplink: its flag, with its PID.
        let flag = outbound.join("00010065.bsy");
        std::fs::write(&flag, "4242\n").unwrap();
        let started = Instant::now();
        let err = post(&mut store, &stories, &opts).unwrap_err();
        assert!(started.elapsed() >= opts.busy_wait, "did not wait");
        let GatewayError::Busy {
            flag: named,
            holder,
            ..
        } = &err
        else {
            panic!("{err}");
        };
        assert_eq!(named, &flag);
        assert_eq!(holder.as_deref(), Some("\"4242\""));
        let text = err.to_string();
        assert!(text.contains(&*flag.to_string_lossy()), "{text}");
        assert!(text.contains("nothing was posted"), "{text}");
        // Nothing was written, nothing recorded, and binkd's flag is as it was.
        assert_eq!(std::fs::read(&flag).unwrap(), b"4242\n");
        assert!(!opts.out_dir.exists() || std::fs::read_dir(&opts.out_dir).unwrap().count() == 0);
        let left: Vec<PathBuf> = std::fs::read_dir(&outbound)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(left, std::slice::from_ref(&flag));
        for s in &stories {
            assert!(!store.ledger_contains(s.id, AREA).unwrap());
        }

        // The session over, the next run posts every story, once, and lets go of the flag.
        std::fs::remove_file(&flag).unwrap();
        let report = post(&mut store, &stories, &opts).unwrap();
        assert_eq!((report.posted, report.skipped), (40, 0));
        assert_eq!(msgids_by_link(&outbound_packets(&outbound)).len(), 40);
        assert!(!flag.exists());
    }

    #[test]
    fn a_point_uplink_is_flagged_in_its_point_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let (_d, mut store, stories) = store_with(3);
        let mut opts = options(tmp.path(), 0);
        opts.to = "1337:1/101.5".parse().unwrap();
        let outbound = tmp.path().join("outbound");
        opts.outbound = Some(outbound.clone());
        let flag = outbound.join("00010065.pnt/00000005.bsy");
        std::fs::create_dir_all(flag.parent().unwrap()).unwrap();
        std::fs::write(&flag, "77\n").unwrap();
        let err = post(&mut store, &stories, &opts).unwrap_err();
        assert!(
            matches!(&err, GatewayError::Busy { flag: f, .. } if *f == flag),
            "{err}"
        );
        std::fs::remove_file(&flag).unwrap();
        post(&mut store, &stories, &opts).unwrap();
        assert!(outbound.join("00010065.pnt/00000005.out").exists());
        assert!(!flag.exists());
    }

    #[test]
    fn a_stale_flag_is_taken_over_and_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let (_d, mut store, stories) = store_with(3);
        let mut opts = options(tmp.path(), 0);
        let outbound = outbound_for(&mut opts, tmp.path());
        let flag = outbound.join("00010065.bsy");
        std::fs::write(&flag, "4242\n").unwrap();
        let old = SystemTime::now() - STALE_BUSY_FLAG - Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&flag)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let report = post(&mut store, &stories, &opts).unwrap();
        assert_eq!(report.posted, 3);
        let stale = report.stale_flag.unwrap();
        assert_eq!(stale.path, flag);
        assert!(stale.age > STALE_BUSY_FLAG, "{stale:?}");
        assert!(!flag.exists());
        assert!(temp_files(&outbound).is_empty());
    }

    #[test]
    fn the_flag_is_ours_alone_while_held_and_only_ours_is_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let flag = tmp.path().join("sub/00010065.bsy");
        let (held, stale) = take_busy_flag(&flag, Duration::ZERO).unwrap();
        assert_eq!(stale, None);
        // Our PID in it, as binkd writes its own, and who we are.
        let content = std::fs::read_to_string(&flag).unwrap();
        assert_eq!(
            echowatch_flag(&content),
            Some((std::process::id(), host_name().unwrap().as_str()))
        );
        // A second taker (another run) waits, then gives up.
        let err = take_busy_flag(&flag, Duration::from_millis(120)).unwrap_err();
        assert!(matches!(err, GatewayError::Busy { .. }), "{err}");
        drop(held);
        assert!(!flag.exists());
        // Another program took over the flag (ours judged stale after hours): its flag stays.
        let (held, _) = take_busy_flag(&flag, Duration::ZERO).unwrap();
        let theirs = tmp.path().join("sub/theirs");
        std::fs::write(&theirs, "theirs\n").unwrap();
        std::fs::rename(&theirs, &flag).unwrap();
        drop(held);
        assert_eq!(std::fs::read_to_string(&flag).unwrap(), "theirs\n");
    }

    #[cfg(unix)]
    #[test]
    fn a_flag_our_killed_run_left_is_taken_over_at_once_and_no_other() {
        let tmp = tempfile::tempdir().unwrap();
        let flag = tmp.path().join("00010065.bsy");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let mut sleeper = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let host = host_name().unwrap();
        // Kept: binkd's (a bare PID, dead or not), a live run's, another host's, one
        // with more in it, and one that is not a file.
        for kept in [
            format!("{dead}\n"),
            format!("{} echowatch {host}\n", sleeper.id()),
            format!("{dead} echowatch other-{host}\n"),
            format!("{dead} echowatch {host}\nmore\n"),
            format!("0{dead} echowatch {host}\n"),
        ] {
            std::fs::write(&flag, &kept).unwrap();
            let err = take_busy_flag(&flag, Duration::from_millis(60)).unwrap_err();
            let GatewayError::Busy { by_echowatch, .. } = &err else {
                panic!("{err}");
            };
            assert_eq!(
                *by_echowatch,
                echowatch_flag(&kept).is_some(),
                "{kept:?}: {err}"
            );
            // Only binkd's flag blames binkd.
            assert_eq!(
                err.to_string().contains("binkd is in a session"),
                !by_echowatch
            );
            assert_eq!(std::fs::read_to_string(&flag).unwrap(), kept);
        }
        // The killed run's own flag on this host: taken over at once, and said so.
        std::fs::write(&flag, flag_content(dead)).unwrap();
        let (held, stale) = take_busy_flag(&flag, Duration::ZERO).unwrap();
        assert_eq!(stale.unwrap().killed_run, Some(dead));
        drop(held);
        assert!(!flag.exists());
        sleeper.kill().unwrap();
        sleeper.wait().unwrap();
    }

    #[test]
    fn a_stale_flag_replaced_meanwhile_is_put_back() {
        let tmp = tempfile::tempdir().unwrap();
        let flag = tmp.path().join("00010065.bsy");
        std::fs::write(&flag, "old\n").unwrap();
        let judged = std::fs::metadata(&flag).unwrap();
        // Between our look and our move, its holder finished and binkd made a fresh one.
        std::fs::remove_file(&flag).unwrap();
        std::fs::write(&flag, "fresh\n").unwrap();
        let later = SystemTime::now() + Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&flag)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert!(!remove_stale(&flag, &judged).unwrap());
        assert_eq!(std::fs::read_to_string(&flag).unwrap(), "fresh\n");
        assert!(temp_files(tmp.path()).is_empty());
        // The one judged is removed.
        let judged = std::fs::metadata(&flag).unwrap();
        assert!(remove_stale(&flag, &judged).unwrap());
        assert!(!flag.exists());
        // Gone already (another run took it): nothing to do.
        assert!(!remove_stale(&flag, &judged).unwrap());
    }

    #[test]
    fn replacing_a_file_uses_a_temporary_name_of_its_own() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("00010065.out");
        // The fixed name older versions used, as another run might have it open: untouched.
        std::fs::write(tmp.path().join("00010065.out.tmp"), b"other run").unwrap();
        // Runs at once (threads here; the PID sets processes apart): each write whole.
        std::thread::scope(|scope| {
            for i in 0..4u8 {
                let target = &target;
                scope.spawn(move || {
                    for _ in 0..25 {
                        write_atomically(target, &[i; 4096]).unwrap();
                    }
                });
            }
        });
        let got = std::fs::read(&target).unwrap();
        assert!(got.len() == 4096 && got.iter().all(|b| *b == got[0]));
        assert_eq!(
            std::fs::read(tmp.path().join("00010065.out.tmp")).unwrap(),
            b"other run"
        );
        assert!(temp_files(tmp.path()).is_empty());
        // A failed rename (a folder in the way) leaves no temporary file behind.
        let blocked = tmp.path().join("blocked.out");
        std::fs::create_dir_all(blocked.join("x")).unwrap();
        let err = write_atomically(&blocked, b"data").unwrap_err();
        assert!(err.to_string().contains("blocked.out"), "{err}");
        assert!(temp_files(tmp.path()).is_empty());
    }

    #[test]
    fn only_our_temporary_names_are_taken_for_ours() {
        let ours = TempFile::new_name(Path::new("x"));
        let name = ours.path.file_name().unwrap().to_str().unwrap();
        assert_eq!(temp_file_pid(name), Some(std::process::id()));
        assert_eq!(temp_file_pid(".echowatch-4242-0.tmp"), Some(4242));
        assert_eq!(temp_file_pid(".echowatch-7-10.tmp"), Some(7));
        for other in [
            ".echowatch-abc.tmp",
            "x.tmp",
            ".echowatch-4242.tmp",
            ".echowatch-4242-.tmp",
            ".echowatch--1.tmp",
            ".echowatch-+42-1.tmp",
            ".echowatch-042-1.tmp",
            ".echowatch-42-01.tmp",
            ".echowatch-0-1.tmp",
            ".echowatch-42-1-2.tmp",
            ".echowatch-42-1.tmp.bak",
            ".echowatch-42-1.TMP",
            "echowatch-42-1.tmp",
            "a.echowatch-42-1.tmp",
            ".echowatch-4294967296-1.tmp",
            ".echowatch-42-99999999999999999999.tmp",
            ".echowatch-٤٢-1.tmp",
        ] {
            assert_eq!(temp_file_pid(other), None, "{other}");
        }
    }

    #[test]
    fn a_temporary_file_is_dead_when_its_process_is_gone_or_else_when_old() {
        assert!(is_dead(Some(false), Some(Duration::ZERO)));
        assert!(!is_dead(Some(true), Some(STALE_BUSY_FLAG * 2)));
        // Where processes cannot be asked: by age, as the busy flag.
        assert!(!is_dead(None, Some(Duration::from_secs(60))));
        assert!(!is_dead(None, None));
        assert!(is_dead(
            None,
            Some(STALE_BUSY_FLAG + Duration::from_secs(1))
        ));
    }

    #[cfg(unix)]
    #[test]
    fn running_processes_are_told_from_gone_ones() {
        assert_eq!(process_running(std::process::id()), Some(true));
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        assert_eq!(process_running(child.id()), Some(true));
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(process_running(child.id()), Some(false));
        // Not PIDs at all: never a process group, never "gone".
        assert_eq!(process_running(u32::MAX), None);
        // PID 1 (init) is another user's here, or ours in a container: running either way.
        assert_eq!(process_running(1), Some(true));
    }

    #[test]
    fn long_bodies_are_cut_at_a_boundary() {
        let body = format!("{}\n\n{}", "a ".repeat(400), "b ".repeat(800));
        let d = description(&body);
        assert!(d.len() <= MAX_DESCRIPTION + 4, "{}", d.len());
        assert!(d.ends_with(" …"));
        assert_eq!(description("short"), "short");
    }
}

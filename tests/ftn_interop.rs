//! Interop: packets written by echowatch are tossed by Debian's crashmail (an independent
//! tosser) into a *.MSG area with no `.bad` file, no error in its log, and subjects and
//! bodies as sent; a gateway run split into several packets arrives whole, each message
//! once. Skips when crashmail is not installed, unless ECHOWATCH_REQUIRE_INTEROP=1.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, FixedOffset};
use echowatch::ftn::writer::{self, GatewayConfig, GatewayPost, OutCharset};
use echowatch::ftn::{self, EchoMessageOut, FtnAddress};

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn crashmail() -> Option<PathBuf> {
    let found = find_program("crashmail");
    if found.is_none() {
        if std::env::var("ECHOWATCH_REQUIRE_INTEROP").as_deref() == Ok("1") {
            panic!(
                "crashmail not found on PATH and ECHOWATCH_REQUIRE_INTEROP=1 (apt-get install -y crashmail)"
            );
        }
        eprintln!(
            "SKIP: crashmail not found on PATH (apt-get install -y crashmail); interop test skipped"
        );
    }
    found
}

fn addr(s: &str) -> FtnAddress {
    s.parse().unwrap()
}

/// A stored message (FTS-0001 *.MSG): 190-byte header, then NUL-terminated text.
struct StoredMsg {
    from: Vec<u8>,
    to: Vec<u8>,
    subject: Vec<u8>,
    text: Vec<u8>,
}

fn cstr(b: &[u8]) -> Vec<u8> {
    b.split(|c| *c == 0).next().unwrap_or_default().to_vec()
}

fn read_msg_dir(dir: &Path) -> Vec<StoredMsg> {
    let mut files: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("msg")))
        .map(|p| {
            (
                p.file_stem()
                    .unwrap()
                    .to_string_lossy()
                    .parse()
                    .unwrap_or(0),
                p,
            )
        })
        .collect();
    files.sort();
    files
        .iter()
        .map(|(_, p)| {
            let raw = std::fs::read(p).unwrap();
            assert!(raw.len() >= 190, "{} too short", p.display());
            StoredMsg {
                from: cstr(&raw[0..36]),
                to: cstr(&raw[36..72]),
                subject: cstr(&raw[72..144]),
                text: cstr(&raw[190..]),
            }
        })
        // crashmail keeps 1.msg as the high-water mark in *.MSG areas; it has no text.
        .filter(|m| !m.text.is_empty())
        .collect()
}

fn prefs(w: &Path) -> String {
    let d = w.display();
    format!(
        r#"SYSOP "Test Sysop"
LOGFILE "{d}/crashmail.log"
LOGLEVEL 3
DUPEFILE "{d}/crashmail.dupes" 1000
DUPEMODE BAD
DEFAULTZONE 1337
INBOUND "{d}/inbound"
OUTBOUND "{d}/outbound"
TEMPDIR "{d}/tmp"
CREATEPKTDIR "{d}/createpkt"
PACKETDIR "{d}/packets"
STATSFILE "{d}/crashmail.stats"
IMPORTSEENBY
AKA 1337:1/101
DOMAIN "tqwnet"
NODE 1337:1/100 "" "pw100"
NODE 1337:1/102 "" ""
NETMAIL "NETMAIL" 1337:1/101 MSG "{d}/msg/netmail"
AREA "BAD" 1337:1/101 MSG "{d}/msg/bad"
AREA "TQW_TECHNOLOGY" 1337:1/101 MSG "{d}/msg/tech"
EXPORT %1337:1/100 1337:1/102
"#
    )
}

fn toss(crashmail: &Path, w: &Path) -> String {
    let out = Command::new(crashmail)
        .arg("SETTINGS")
        .arg(w.join("crashmail.prefs"))
        .arg("TOSS")
        .output()
        .expect("run crashmail");
    // crashmail exits 0 even when it rejects a packet: the log and inbound tell the truth.
    assert!(
        out.status.success(),
        "crashmail failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(w.join("crashmail.log")).unwrap_or_default()
}

fn posts(serial: u32) -> Vec<GatewayPost> {
    vec![
        GatewayPost {
            serial,
            title: "Netherlands widens export licence rules for deep-UV lithography systems to China, ASML says".into(),
            published: Some("2026-06-11T21:05:00Z".parse().unwrap()),
            description: "The Dutch government said on Friday that licences will now be required for more \
                          immersion DUV systems — a step Washington had urged for months. “We act on our own \
                          assessment,” the trade minister said in Den Haag; Zürich-based analysts were unsurprised."
                .into(),
            link: Some("https://www.example.com/world/europe/netherlands-widens-export-licence-rules-for-duv-lithography-systems-2026-06-11/".into()),
        },
        GatewayPost {
            serial: serial + 1,
            title: "Short one".into(),
            published: None,
            description: "A single line of text.\n\nA second paragraph.".into(),
            link: Some("https://example.org/x".into()),
        },
    ]
}

/// A crashmail setup in `w`: its folders and crashmail.prefs.
fn crashmail_setup(w: &Path) {
    for d in [
        "inbound",
        "outbound",
        "tmp",
        "createpkt",
        "packets",
        "msg/netmail",
        "msg/bad",
        "msg/tech",
    ] {
        std::fs::create_dir_all(w.join(d)).unwrap();
    }
    std::fs::write(w.join("crashmail.prefs"), prefs(w)).unwrap();
}

/// Tosses what is in `w/inbound` and checks crashmail took all of it: nothing left in
/// inbound (a rejected packet stays as *.bad), no error logged, nothing sent to BAD.
fn toss_cleanly(crashmail: &Path, w: &Path) -> String {
    let log = toss(crashmail, w);
    let leftovers: Vec<_> = std::fs::read_dir(w.join("inbound"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        leftovers.is_empty(),
        "crashmail left {leftovers:?} in inbound (*.bad = rejected)\n{log}"
    );
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("! ") || l.starts_with("% ") || l.starts_with("? "))
        .collect();
    assert!(errors.is_empty(), "crashmail logged errors: {errors:#?}");
    assert!(
        read_msg_dir(&w.join("msg/bad")).is_empty(),
        "messages went to BAD\n{log}"
    );
    log
}

#[test]
fn crashmail_tosses_our_packets() {
    let Some(crashmail) = crashmail() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path();
    crashmail_setup(w);

    let posted: DateTime<FixedOffset> =
        DateTime::parse_from_rfc3339("2026-06-12T09:30:00+02:00").unwrap();
    let mut sent: Vec<EchoMessageOut> = Vec::new();
    let mut packets = Vec::new();
    for (name, charset, serial) in [
        ("0000aa01.pkt", OutCharset::Utf8, 0x6a00_0001),
        ("0000aa02.pkt", OutCharset::Cp437, 0x6a00_0003),
    ] {
        let mut cfg = GatewayConfig::new("TQW_TECHNOLOGY", addr("1337:1/100"), addr("1337:1/101"));
        cfg.charset = charset;
        cfg.origin =
            "tqwNet Technology News — echowatch gateway with a long origin text that must be cut"
                .into();
        let msgs: Vec<EchoMessageOut> = posts(serial)
            .iter()
            .map(|p| p.to_message(&cfg, posted))
            .collect();
        let bytes =
            ftn::write_packet(&writer::gateway_header(&cfg, posted, Some("pw100")), &msgs).unwrap();
        std::fs::write(w.join("inbound").join(name), &bytes).unwrap();
        packets.push((name, bytes));
        sent.extend(msgs);
    }

    let log = toss_cleanly(&crashmail, w);

    let stored = read_msg_dir(&w.join("msg/tech"));
    assert_eq!(stored.len(), sent.len(), "{log}");
    for (got, out) in stored.iter().zip(&sent) {
        assert_eq!(got.subject, writer::fit_subject(&out.subject, out.charset));
        assert_eq!(got.from, out.charset.encode(&out.from_name));
        assert_eq!(got.to, out.charset.encode(&out.to_name));
        // The body as sent: crashmail drops the AREA line and grows SEEN-BY/PATH; the lines
        // from MSGID to the origin line must be byte-identical.
        let ours = writer::message_text(out);
        let ours_lines: Vec<&[u8]> = ours.split(|b| *b == b'\r').collect();
        let theirs_lines: Vec<&[u8]> = got.text.split(|b| *b == b'\r').collect();
        let origin_at = ours_lines
            .iter()
            .position(|l| l.starts_with(b" * Origin: "))
            .unwrap();
        assert_eq!(
            &ours_lines[1..=origin_at],
            &theirs_lines[..origin_at],
            "message {}",
            String::from_utf8_lossy(&ours)
        );
        let origin_line = ours_lines[origin_at];
        assert!(
            origin_line.len() <= 79 + 2,
            "{}",
            String::from_utf8_lossy(origin_line)
        );
        let seen_by = theirs_lines
            .iter()
            .find(|l| l.starts_with(b"SEEN-BY:"))
            .unwrap();
        assert!(
            seen_by.starts_with(b"SEEN-BY: 1/100 101"),
            "{}",
            String::from_utf8_lossy(seen_by)
        );
    }

    // Tossing the same packet again adds nothing to the area: crashmail's dupe check on
    // our MSGIDs sends the copies to BAD instead.
    let (name, bytes) = &packets[0];
    std::fs::write(w.join("inbound").join(name), bytes).unwrap();
    let log = toss(&crashmail, w);
    assert_eq!(read_msg_dir(&w.join("msg/tech")).len(), sent.len(), "{log}");
    assert_eq!(read_msg_dir(&w.join("msg/bad")).len(), 2, "{log}");
}

/// An RSS feed of `n` stories, each long enough that a few dozen fill a small packet.
fn long_feed(n: usize) -> String {
    let mut items = String::new();
    for i in 0..n {
        let para = format!(
            "Story {i} of the split test: the ministry published a further list of controlled \
             items, covering lithography parts, chip design software and services. "
        );
        items.push_str(&format!(
            "<item><title>Split test story {i}: export rules widened again</title>\
             <link>https://wire.test/split/{i}</link><guid>https://wire.test/split/{i}</guid>\
             <pubDate>Thu, 11 Jun 2026 10:{:02}:00 GMT</pubDate>\
             <description>{}</description></item>\n",
            i % 60,
            para.repeat(7)
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel>\
         <title>Wire</title><link>https://wire.test/</link><description>test</description>\n\
         {items}</channel></rss>\n"
    )
}

fn echowatch(config: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_echowatch"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("ECHOWATCH_DATA")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{args:?} failed: {stderr}");
    stderr
}

/// MSGID → subject of every message in the packets, as echowatch's reader sees them;
/// panics on a MSGID that comes twice.
fn packet_msgids(files: &[PathBuf]) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for f in files {
        let bytes = std::fs::read(f).unwrap();
        for m in ftn::read_packet(&bytes).unwrap().messages {
            let m = ftn::EchoMessage::from_packed(&m, &ftn::Charsets::default());
            let id = m.msgid.unwrap();
            assert!(out.insert(id.clone(), m.subject).is_none(), "{id} twice");
        }
    }
    out
}

/// Tosses the packets with a fresh crashmail and checks that every message arrived in
/// the area exactly once: the stored MSGIDs are exactly the ones sent.
fn toss_all_once(
    crashmail: &Path,
    packets: &[PathBuf],
    sent: &std::collections::BTreeMap<String, String>,
) {
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path();
    crashmail_setup(w);
    for (i, p) in packets.iter().enumerate() {
        // Tossers pick up `????????.pkt`; binkd gives a `.out` such a name when it sends it.
        std::fs::copy(p, w.join("inbound").join(format!("{i:08x}.pkt"))).unwrap();
    }
    let log = toss_cleanly(crashmail, w);
    let stored = read_msg_dir(&w.join("msg/tech"));
    let mut got: Vec<String> = stored
        .iter()
        .map(|m| {
            let text = String::from_utf8_lossy(&m.text);
            let line = text
                .split('\r')
                .find_map(|l| l.strip_prefix("\u{1}MSGID: "))
                .unwrap_or_else(|| panic!("no MSGID in {text}"));
            line.to_string()
        })
        .collect();
    got.sort();
    let want: Vec<String> = sent.keys().cloned().collect();
    assert_eq!(got, want, "{log}");
}

/// A data folder in `d` holding `stories` long stories, and the arguments that gate them
/// into TQW_TECHNOLOGY (1337:1/100 → 1337:1/101) as packets of at most `limit_kb`, into
/// `d/out` and the BSO outbound `d/outbound`: (config, out, outbound, args).
fn split_gateway(
    d: &Path,
    stories: usize,
    limit_kb: usize,
) -> (PathBuf, PathBuf, PathBuf, Vec<String>) {
    let config = d.join("feeds.toml");
    std::fs::write(&config, "").unwrap();
    let feed = d.join("wire.rss");
    std::fs::write(&feed, long_feed(stories)).unwrap();
    echowatch(&config, &["import", feed.to_str().unwrap()]);
    let (out, outbound) = (d.join("out"), d.join("outbound"));
    let args = [
        "export",
        "--format",
        "ftn",
        "--area",
        "TQW_TECHNOLOGY",
        "--from",
        "1337:1/100",
        "--to",
        "1337:1/101",
        "--password",
        "pw100",
        "--max-packet-kb",
        &limit_kb.to_string(),
        "--out",
        out.to_str().unwrap(),
        "--outbound",
        outbound.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    (config, out, outbound, args)
}

#[test]
fn crashmail_tosses_every_packet_of_a_split_gateway_run() {
    let Some(crashmail) = crashmail() else { return };
    let tmp = tempfile::tempdir().unwrap();
    const STORIES: usize = 60;
    const LIMIT_KB: usize = 16;
    let (config, out, outbound, args) = split_gateway(tmp.path(), STORIES, LIMIT_KB);
    let summary = echowatch(
        &config,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );

    let mut packets: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    packets.sort();
    assert!(packets.len() >= 3, "{packets:?}\n{summary}");
    assert!(
        summary.contains(&format!(
            "posted {STORIES} stories to TQW_TECHNOLOGY in {} packets",
            packets.len()
        )),
        "{summary}"
    );
    for p in &packets {
        let name = p.file_name().unwrap().to_string_lossy();
        assert!(summary.contains(&*name), "{name} not listed:\n{summary}");
        let len = std::fs::metadata(p).unwrap().len() as usize;
        assert!(len <= LIMIT_KB * 1024, "{name}: {len} bytes");
    }
    let sent = packet_msgids(&packets);
    assert_eq!(sent.len(), STORIES);
    let subjects: std::collections::BTreeSet<&String> = sent.values().collect();
    assert_eq!(subjects.len(), STORIES, "a story is missing or repeated");
    toss_all_once(&crashmail, &packets, &sent);

    // The same messages through the outbound, as the uplink's mailer would get them: the
    // .out, and the packets its flow file attaches (each to be deleted once sent).
    let mut queued = vec![outbound.join("00010065.out")];
    let flow = std::fs::read_to_string(outbound.join("00010065.flo")).unwrap();
    for line in flow.lines() {
        let file = line
            .strip_prefix('^')
            .expect("attached to be deleted once sent");
        assert!(Path::new(file).is_absolute(), "{line}");
        queued.push(PathBuf::from(file));
    }
    assert!(queued.len() >= 3, "{queued:?}");
    for q in &queued {
        let len = std::fs::metadata(q).unwrap().len() as usize;
        assert!(len <= LIMIT_KB * 1024, "{}: {len} bytes", q.display());
    }
    assert_eq!(packet_msgids(&queued), sent);
    toss_all_once(&crashmail, &queued, &sent);
}

#[test]
fn crashmail_gets_every_message_once_after_a_run_that_found_the_outbound_busy() {
    let Some(crashmail) = crashmail() else { return };
    let tmp = tempfile::tempdir().unwrap();
    const STORIES: usize = 30;
    let (config, out, outbound, mut args) = split_gateway(tmp.path(), STORIES, 16);
    // A fifth of a second instead of the default few seconds: the test must not sleep.
    args.extend(["--busy-wait-ms".to_string(), "200".to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // binkd is in a session with the uplink: its busy flag, with its PID.
    std::fs::create_dir_all(&outbound).unwrap();
    let flag = outbound.join("00010065.bsy");
    std::fs::write(&flag, "4242\n").unwrap();
    let busy = Command::new(env!("CARGO_BIN_EXE_echowatch"))
        .arg("--config")
        .arg(&config)
        .args(&args)
        .env_remove("ECHOWATCH_DATA")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&busy.stderr);
    assert_eq!(busy.status.code(), Some(1), "{said}");
    assert!(
        said.contains(&format!("outbound busy: {} exists", flag.display())),
        "{said}"
    );
    assert!(said.contains("nothing was posted"), "{said}");
    // Nothing placed, nothing written to the out folder, binkd's flag untouched.
    let in_outbound: Vec<PathBuf> = std::fs::read_dir(&outbound)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(in_outbound, std::slice::from_ref(&flag));
    assert_eq!(std::fs::read_to_string(&flag).unwrap(), "4242\n");
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().count() == 0);

    // The session over, the next run places every message, and the uplink gets each once.
    std::fs::remove_file(&flag).unwrap();
    let summary = echowatch(&config, &args);
    assert!(
        summary.starts_with(&format!("posted {STORIES} stories to TQW_TECHNOLOGY")),
        "{summary}"
    );
    assert!(!flag.exists(), "busy flag left behind");
    let packets: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let sent = packet_msgids(&packets);
    assert_eq!(sent.len(), STORIES);
    let mut queued = vec![outbound.join("00010065.out")];
    if let Ok(flow) = std::fs::read_to_string(outbound.join("00010065.flo")) {
        queued.extend(
            flow.lines()
                .map(|l| PathBuf::from(l.strip_prefix('^').unwrap())),
        );
    }
    assert_eq!(packet_msgids(&queued), sent);
    toss_all_once(&crashmail, &queued, &sent);
}

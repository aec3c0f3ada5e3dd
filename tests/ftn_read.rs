//! FTN reading: the project's own fixtures, the shared corpus (skipped without ../shared),
//! the seed text export, broken packets, and write → read identity (proptest).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, NaiveDate};
use echowatch::ftn::writer::{self, GatewayConfig, GatewayPost, OutCharset};
use echowatch::ftn::{
    self, Charset, Charsets, EchoMessage, EchoMessageOut, FtnAddress, FtnError, Limits,
    PacketHeader, PacketKind,
};
use echowatch::model::StoryKind;
use proptest::prelude::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ftn")
}

fn fixture(name: &str) -> Vec<u8> {
    let p = fixtures().join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn shared() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!(
            "SKIP: {} not found; shared corpus tests skipped",
            p.display()
        );
        None
    }
}

fn addr(s: &str) -> FtnAddress {
    s.parse().unwrap()
}

fn posted() -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2026-06-12T09:30:00+02:00").unwrap()
}

fn gateway_cfg() -> GatewayConfig {
    GatewayConfig::new("TQW_TECHNOLOGY", addr("1337:1/100"), addr("1337:1/101"))
}

fn sample_posts() -> Vec<GatewayPost> {
    vec![
        GatewayPost {
            // The serials the fixtures were written with.
            serial: 0xf852_cf9a,
            title: "BIS adds 12 Chinese entities to the Entity List over military AI support programs".into(),
            published: Some("2026-06-11T21:05:00Z".parse().unwrap()),
            description: "The Commerce Department said on Tuesday it had added twelve Chinese firms to the Entity List \
                          over support for military AI programs — a move Beijing called “bullying”. Café owners in Zürich shrugged."
                .into(),
            link: Some("https://www.example.com/news/2026/06/11/bis-adds-twelve-chinese-entities-to-the-entity-list-over-military-ai".into()),
        },
        GatewayPost {
            serial: 0x763c_e77e,
            title: "Short title".into(),
            published: None,
            description: "Just one line.".into(),
            link: None,
        },
    ]
}

/// Writes the fixtures of tests/fixtures/ftn. Run after a deliberate format change:
/// `cargo test --test ftn_read regenerate_fixtures -- --ignored`.
#[test]
#[ignore]
fn regenerate_fixtures() {
    let dir = fixtures();
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = gateway_cfg();
    let msgs: Vec<EchoMessageOut> = sample_posts()
        .iter()
        .map(|p| p.to_message(&cfg, posted()))
        .collect();
    let header = writer::gateway_header(&cfg, posted(), Some("secret"));
    let pkt = ftn::write_packet(&header, &msgs).unwrap();
    std::fs::write(dir.join("gateway-utf8.pkt"), &pkt).unwrap();

    let mut cp = cfg.clone();
    cp.charset = OutCharset::Cp437;
    let msgs: Vec<EchoMessageOut> = sample_posts()
        .iter()
        .map(|p| p.to_message(&cp, posted()))
        .collect();
    std::fs::write(
        dir.join("gateway-cp437.pkt"),
        ftn::write_packet(&header, &msgs).unwrap(),
    )
    .unwrap();

    let point = GatewayConfig::new("TQW_TECHNOLOGY", addr("1337:1/100.5"), addr("1337:1/100"));
    let msgs: Vec<EchoMessageOut> = sample_posts()
        .iter()
        .take(1)
        .map(|p| p.to_message(&point, posted()))
        .collect();
    std::fs::write(
        dir.join("point-2plus.pkt"),
        ftn::write_packet(&writer::gateway_header(&point, posted(), None), &msgs).unwrap(),
    )
    .unwrap();

    // A bundle as binkd delivers it: a ZIP with one packet, named like ArcMail.
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    z.start_file("4f3a2b1c.pkt", opts).unwrap();
    std::io::Write::write_all(&mut z, &pkt).unwrap();
    std::fs::write(dir.join("00000065.mo0"), z.finish().unwrap().into_inner()).unwrap();

    // Broken packets: cut in the middle, garbage after the header, an over-long subject.
    std::fs::write(dir.join("broken-truncated.pkt"), &pkt[..pkt.len() / 2]).unwrap();
    let mut garbage = pkt[..58].to_vec();
    garbage.extend_from_slice(b"\x07\x00garbage garbage garbage");
    std::fs::write(dir.join("broken-garbage.pkt"), garbage).unwrap();
    let mut long = pkt[..58].to_vec();
    long.extend_from_slice(&[2, 0, 100, 0, 101, 0, 1, 0, 1, 0, 0, 0, 0, 0]);
    long.extend_from_slice(b"12 Jun 26  09:30:00\0All\0echowatch\0");
    long.extend_from_slice(&[b'S'; 100]);
    long.extend_from_slice(b"\0AREA:X\rtext\r\0\0\0");
    std::fs::write(dir.join("broken-long-subject.pkt"), long).unwrap();
}

#[test]
fn own_gateway_packet_reads_back() {
    let bytes = fixture("gateway-utf8.pkt");
    let pkt = ftn::read_packet(&bytes).unwrap();
    assert_eq!(pkt.header.kind, PacketKind::TwoPlus);
    assert_eq!(pkt.header.orig, addr("1337:1/100"));
    assert_eq!(pkt.header.dest, addr("1337:1/101"));
    assert_eq!(pkt.header.password_str(), "secret");
    assert_eq!(pkt.messages.len(), 2);
    let m = EchoMessage::from_packed(&pkt.messages[0], &Charsets::default());
    assert_eq!(m.area.as_deref(), Some("TQW_TECHNOLOGY"));
    assert_eq!(m.charset, Charset::Utf8);
    assert!(m.charset_from_kludge);
    assert_eq!(m.tzutc.unwrap().local_minus_utc(), 7200);
    assert_eq!(m.seen_by, ["1/100", "1/101"]);
    assert_eq!(m.path, ["1/100"]);
    assert!(m.subject.len() <= 71 && m.subject.ends_with("..."));
    for line in m.body.lines() {
        assert!(
            line.chars().count() <= 79
                || !line.contains(' ')
                || line.starts_with("Link to news story: "),
            "{line}"
        );
    }
    let s = ftn::to_story(&m);
    assert_eq!(
        s.title,
        "BIS adds 12 Chinese entities to the Entity List over military AI support programs"
    );
    assert_eq!(s.kind, StoryKind::Echomail);
    assert_eq!(
        s.link.as_deref(),
        Some(
            "https://www.example.com/news/2026/06/11/bis-adds-twelve-chinese-entities-to-the-entity-list-over-military-ai"
        )
    );
    assert_eq!(
        s.published.unwrap().to_rfc3339(),
        "2026-06-11T21:05:00+00:00"
    );
    assert!(
        s.body.contains("“bullying”") && s.body.contains("Zürich"),
        "{}",
        s.body
    );
    assert_eq!(s.guid.as_deref(), Some("1337:1/100 f852cf9a"));
    // No Date: line in the second post: the message date corrected by TZUTC.
    let s2 = ftn::to_story(&EchoMessage::from_packed(
        &pkt.messages[1],
        &Charsets::default(),
    ));
    assert_eq!(s2.title, "Short title");
    assert_eq!(
        s2.published.unwrap().to_rfc3339(),
        "2026-06-12T07:30:00+00:00"
    );
    assert_eq!(s2.link, None);
}

#[test]
fn own_cp437_point_and_bundle_fixtures() {
    let (stories, warnings) = ftn::stories_from_file(
        "gateway-cp437.pkt",
        &fixture("gateway-cp437.pkt"),
        &Charsets::default(),
        Limits::default(),
    )
    .unwrap();
    assert!(warnings.is_empty());
    assert!(
        stories[0].body.contains("\"bullying\"") && stories[0].body.contains("Zürich"),
        "{}",
        stories[0].body
    );
    assert!(stories[0].body.contains("programs - a move"));

    let bytes = fixture("point-2plus.pkt");
    let pkt = ftn::read_packet(&bytes).unwrap();
    assert_eq!(
        u16::from_le_bytes([bytes[20], bytes[21]]),
        0xFFFF,
        "FSC-0048 origNet -1"
    );
    assert_eq!(pkt.header.orig, addr("1337:1/100.5"));
    let m = EchoMessage::from_packed(&pkt.messages[0], &Charsets::default());
    assert!(m.seen_by == ["1/100"] && m.path.is_empty());
    assert_eq!(ftn::to_story(&m).origin.as_deref(), Some("1337:1/100.5"));

    let (from_bundle, _) = ftn::stories_from_file(
        "00000065.mo0",
        &fixture("00000065.mo0"),
        &Charsets::default(),
        Limits::default(),
    )
    .unwrap();
    let (direct, _) = ftn::stories_from_file(
        "x.pkt",
        &fixture("gateway-utf8.pkt"),
        &Charsets::default(),
        Limits::default(),
    )
    .unwrap();
    assert_eq!(from_bundle, direct);
}

#[test]
fn broken_packets_give_clear_errors() {
    let cs = Charsets::default();
    let err = |name: &str| {
        ftn::stories_from_file(name, &fixture(name), &cs, Limits::default()).unwrap_err()
    };
    assert!(
        matches!(err("broken-truncated.pkt"), FtnError::Truncated { .. }),
        "{}",
        err("broken-truncated.pkt")
    );
    assert_eq!(
        err("broken-garbage.pkt"),
        FtnError::BadMessageType {
            offset: 58,
            value: 7
        }
    );
    assert_eq!(
        err("broken-long-subject.pkt"),
        FtnError::FieldTooLong {
            field: "subject",
            offset: 106,
            max: 71
        }
    );
    assert_eq!(
        err("broken-long-subject.pkt").to_string(),
        "subject at byte 106 is longer than 71 bytes (FTS-0001 limit)"
    );
    assert!(matches!(
        ftn::read_packet(b"short"),
        Err(FtnError::TooShort { len: 5 })
    ));
    assert!(matches!(
        ftn::stories_from_file("x", b"hello world", &cs, Limits::default()),
        Err(FtnError::UnknownFormat)
    ));
    let mut bad_version = fixture("gateway-utf8.pkt");
    bad_version[18] = 3;
    assert_eq!(
        ftn::read_packet(&bad_version).unwrap_err(),
        FtnError::UnsupportedVersion { version: 3 }
    );
    // A bundle with a broken packet inside fails as a whole, naming the entry.
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    z.start_file("cut.pkt", zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut z, &fixture("broken-truncated.pkt")).unwrap();
    let zipped = z.finish().unwrap().into_inner();
    let e = ftn::stories_from_file("b.mo0", &zipped, &cs, Limits::default()).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("bundle entry cut.pkt: truncated packet"),
        "{e}"
    );
    // Every prefix of a good packet is an error, never a panic.
    let good = fixture("gateway-utf8.pkt");
    for cut in 0..good.len() - 1 {
        assert!(ftn::read_packet(&good[..cut]).is_err(), "prefix {cut}");
    }
}

#[test]
fn trailing_bytes_are_a_warning() {
    let mut bytes = fixture("gateway-utf8.pkt");
    bytes.extend_from_slice(&[0; 18]);
    let pkt = ftn::read_packet(&bytes).unwrap();
    assert_eq!(
        pkt.warnings,
        ["18 trailing NUL bytes after the packet terminator"]
    );
}

#[test]
fn hand_made_packets_stone_age_and_type_2_2() {
    // Stone-age type 2 with QMail zones, a SEAdog date, CP866 by area default, soft CR kept.
    let mut p = vec![0u8; 58];
    p[0] = 100; // origNode
    p[2] = 1; // destNode
    p[4..6].copy_from_slice(&1995u16.to_le_bytes());
    p[6] = 4; // May
    p[8] = 3;
    p[18] = 2;
    p[20..22].copy_from_slice(&5020u16.to_le_bytes());
    p[22..24].copy_from_slice(&5020u16.to_le_bytes());
    p[34] = 2;
    p[36] = 2;
    p.extend_from_slice(&[2, 0, 100, 0, 1, 0, 0x9c, 0x13, 0x9c, 0x13, 0, 0, 0, 0]);
    p.extend_from_slice(b"Wed  3 May 95 12:34\0\x82\xE1\xA5\xAC\0\x8D\xA8\xAA\xAE\xAB\xA0\xA9\0\x8F\xE0\xA8\xA2\xA5\xE2\0");
    p.extend_from_slice(b"AREA:RU.NEWS\r\x8D\xA5\xE2 \xAD\xAE\xA2\xAE\xE1\xE2\xA5\xA9\r--- \r * Origin: Station (2:5020/100)\r\0\0\0");
    let pkt = ftn::read_packet(&p).unwrap();
    assert_eq!(pkt.header.kind, PacketKind::Stone);
    assert_eq!(pkt.header.orig, addr("2:5020/100"));
    assert_eq!(
        pkt.header.created.unwrap().date(),
        NaiveDate::from_ymd_opt(1995, 5, 3).unwrap()
    );
    let cs = Charsets::default().with_area("ru.news", Charset::Cp866);
    let m = EchoMessage::from_packed(&pkt.messages[0], &cs);
    assert_eq!(
        (m.to.as_str(), m.from.as_str(), m.subject.as_str()),
        ("Всем", "Николай", "Привет")
    );
    assert_eq!(m.body, "Нет новостей");
    assert_eq!(m.tearline.as_deref(), Some(""));
    assert_eq!(m.date.unwrap().to_string(), "1995-05-03 12:34:00");

    // FSC-0045 type 2.2: points and domains, no date.
    let h = PacketHeader {
        kind: PacketKind::TwoTwo,
        orig: addr("2:5020/100.7"),
        dest: addr("2:5020/1"),
        created: None,
        baud: 2,
        product_code: 0xFE,
        revision: (1, 0),
        password: b"pw".to_vec(),
        capability_word: 0,
        orig_domain: b"fidonet".to_vec(),
        dest_domain: b"fidonet".to_vec(),
    };
    let bytes = ftn::write_packet(&h, &[]).unwrap();
    assert_eq!(bytes.len(), 60);
    assert_eq!(ftn::read_packet(&bytes).unwrap().header, h);
}

#[test]
fn seed_text_export() {
    // Our own export in the seed's format (several messages), always available.
    let text = "\u{2022} Gallium export licences tightened by Beijing amid a widening chip row with Washi\n\n    \
From TechnologyDaily@1337:1/100 to All on Fri Jun 12 08:00:00 2026\n    \
Gallium export licences tightened by Beijing amid a widening chip row with Washington\n\n    Date:\n    \
Fri, 12 Jun 2026 07:45:00 +0000\n\n    Description:\n    MOFCOM said licences would be reviewed.\n\n    \
======================================================================\n    \
Link to news story: https://www.example.org/world/asia/gallium-export-licences-tightened-by-beijing-amid-a-widening- chip-row\n\n\n    \
--- Mystic BBS v1.12 A49 (Linux/64)\n    * Origin: tqwNet Technology News (1337:1/100)\n\n\
\u{2022} Second\n\n    From Someone Else@1337:1/102.3 to All on Fri Jun 12 09:00:00 2026\n    Plain text only.\n";
    let stories = ftn::read_text_export(text.as_bytes()).unwrap();
    assert_eq!(stories.len(), 2);
    let s = &stories[0];
    assert_eq!(
        s.title,
        "Gallium export licences tightened by Beijing amid a widening chip row with Washington"
    );
    assert_eq!(
        s.link.as_deref(),
        Some(
            "https://www.example.org/world/asia/gallium-export-licences-tightened-by-beijing-amid-a-widening-chip-row"
        )
    );
    assert_eq!(
        s.published.unwrap().to_rfc3339(),
        "2026-06-12T07:45:00+00:00"
    );
    assert_eq!(
        (s.kind, s.area.as_deref(), s.author.as_deref()),
        (StoryKind::Echomail, None, Some("TechnologyDaily"))
    );
    assert_eq!(s.origin.as_deref(), Some("1337:1/100"));
    assert!(!s.body.contains("Origin") && !s.body.contains("Mystic"));
    assert_eq!(stories[1].title, "Second");
    assert_eq!(stories[1].author.as_deref(), Some("Someone Else"));
    assert_eq!(
        stories[1].published.unwrap().to_rfc3339(),
        "2026-06-12T09:00:00+00:00"
    );

    // And the real seed file.
    let Some(shared) = shared() else { return };
    let seed = std::fs::read(shared.join("seed/000_954ac079890cc0a7.txt")).unwrap();
    let (stories, _) = ftn::stories_from_file(
        "000_954ac079890cc0a7.txt",
        &seed,
        &Charsets::default(),
        Limits::default(),
    )
    .unwrap();
    assert_eq!(stories.len(), 1);
    let s = &stories[0];
    assert_eq!(
        s.title,
        "The great AI Irony: China cracks down on Western models while US companies flock to DeepSeek"
    );
    assert_eq!(
        s.link.as_deref(),
        Some(
            "https://www.techradar.com/pro/the-great-ai-irony-china-cracks-down-on-western-models-while-us-companies-flock-to-deepseek"
        )
    );
    assert_eq!(
        s.published.unwrap().to_rfc3339(),
        "2026-06-11T21:05:00+00:00"
    );
    assert_eq!((s.kind, s.area.as_deref()), (StoryKind::Echomail, None));
    assert_eq!(s.author.as_deref(), Some("TechnologyDaily"));
    assert_eq!(s.origin.as_deref(), Some("1337:1/100"));
    assert!(s.body.starts_with("The great AI Irony") && s.body.contains("Jensen Huang"));
}

#[test]
fn shared_corpus_matches_manifest() {
    let Some(shared) = shared() else { return };
    let dir = shared.join("corpus/ftn/generated");
    let mut by_msgid = HashMap::new();
    let mut kinds = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for p in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "pkt"))
    {
        let bytes = std::fs::read(p).unwrap();
        let pkt = ftn::read_packet(&bytes).unwrap();
        assert!(
            pkt.warnings.is_empty(),
            "{}: {:?}",
            p.display(),
            pkt.warnings
        );
        kinds.push((pkt.header.kind, pkt.header.orig));
        for m in &pkt.messages {
            let msg = EchoMessage::from_packed(m, &Charsets::default());
            let story = ftn::to_story(&msg);
            by_msgid.insert(story.guid.clone().unwrap(), (msg, story));
        }
    }
    assert!(kinds.contains(&(PacketKind::Stone, addr("1337:1/100"))));
    assert!(
        kinds.contains(&(PacketKind::TwoPlus, addr("1337:1/100.5"))),
        "{kinds:?}"
    );
    let manifest = std::fs::read_to_string(dir.join("manifest.jsonl")).unwrap();
    let mut n = 0;
    for line in manifest.lines() {
        let want: serde_json::Value = serde_json::from_str(line).unwrap();
        let (msg, story) = by_msgid
            .get(want["msgid"].as_str().unwrap())
            .expect("message in a packet");
        assert_eq!(story.title, want["title"].as_str().unwrap(), "{line}");
        assert_eq!(msg.subject, want["subject"].as_str().unwrap(), "{line}");
        assert_eq!(story.link.as_deref(), want["link"].as_str(), "{line}");
        assert_eq!(story.area.as_deref(), want["area"].as_str());
        let published = DateTime::parse_from_rfc3339(want["published"].as_str().unwrap()).unwrap();
        assert_eq!(story.published, Some(published.to_utc()), "{line}");
        assert_eq!(story.origin.as_deref(), Some("1337:1/100"));
        assert_eq!(story.author.as_deref(), Some("TechnologyDaily"));
        assert!(!story.body.contains("SEEN-BY") && !story.body.contains("Origin:"));
        let expect_cs = match want["charset"].as_str().unwrap() {
            "utf8" => Charset::Utf8,
            "cp866" => Charset::Cp866,
            _ => Charset::Cp437,
        };
        assert_eq!(msg.charset, expect_cs);
        n += 1;
    }
    assert_eq!(n, by_msgid.len());

    // The bundle holds one of these packets; the other real-world packets read too.
    let ftn_dir = shared.join("corpus/ftn");
    let (stories, _) = ftn::stories_from_file(
        "0000ffff.mo0",
        &std::fs::read(ftn_dir.join("0000ffff.mo0")).unwrap(),
        &Charsets::default(),
        Limits::default(),
    )
    .unwrap();
    assert_eq!(stories.len(), 10);
    assert!(
        stories
            .iter()
            .all(|s| by_msgid.contains_key(s.guid.as_deref().unwrap()))
    );

    let bytes = std::fs::read(ftn_dir.join("crashwrite-entity-list.pkt")).unwrap();
    let pkt = ftn::read_packet(&bytes).unwrap();
    assert_eq!(
        (pkt.header.kind, pkt.header.orig, pkt.header.dest),
        (PacketKind::TwoPlus, addr("1337:1/100"), addr("1337:1/101"))
    );
    assert_eq!(pkt.messages.len(), 1);
    let msg = EchoMessage::from_packed(&pkt.messages[0], &Charsets::default());
    assert_eq!(msg.msgid.as_deref(), Some("1337:1/100.0 0b5c1800"));
    assert_eq!(msg.tearline.as_deref(), Some("CrashWrite II/Linux 1.7"));
    let s = ftn::to_story(&msg);
    assert_eq!(s.title, "BIS adds 12 entities to the Entity List");
    assert_eq!(
        s.link.as_deref(),
        Some("https://news.example.com/bis-entity-list")
    );
    assert_eq!(s.area.as_deref(), Some("TQW_TECHNOLOGY"));
    assert_eq!(s.origin.as_deref(), Some("1337:1/100"));
    assert_eq!(
        s.published.unwrap().to_rfc3339(),
        "2026-11-28T22:56:24+00:00"
    );
    assert_eq!(
        s.body,
        "BIS adds 12 entities to the Entity List\n\nThe Commerce Department said on Tuesday it had added twelve Chinese firms\nto the Entity List over support for military AI programs.\n\nLink to news story: https://news.example.com/bis-entity-list"
    );

    let bytes = std::fs::read(ftn_dir.join("larsks-crashmail-15bba400.pkt")).unwrap();
    let pkt = ftn::read_packet(&bytes).unwrap();
    let msg = EchoMessage::from_packed(&pkt.messages[0], &Charsets::default());
    assert_eq!(
        (msg.area.as_deref(), msg.subject.as_str(), msg.body.as_str()),
        (
            Some("testarea"),
            "Dupe check",
            "This is for checking dupe handling"
        )
    );

    let bytes = std::fs::read(ftn_dir.join("python-ftn-sample.pkt")).unwrap();
    let pkt = ftn::read_packet(&bytes).unwrap();
    assert_eq!(
        pkt.warnings,
        ["18 trailing NUL bytes after the packet terminator"]
    );
    let msg = EchoMessage::from_packed(&pkt.messages[0], &Charsets::default());
    assert_eq!(msg.area, None);
    assert_eq!(msg.kludge("INTL"), Some("99:99/99 1:322/761"));
    assert_eq!(msg.body, "This is a sample message.");
    // Netmail, not news: no story, counted, not an error.
    let read = ftn::read_file(
        "python-ftn-sample.pkt",
        &bytes,
        &Charsets::default(),
        Limits::default(),
    )
    .unwrap();
    assert!(read.stories.is_empty());
    assert_eq!(read.netmail_skipped, 1);
}

#[test]
fn netmail_is_left_out_and_counted() {
    // The fixture's first message without its AREA line is netmail (FTS-0004).
    let pkt = fixture("gateway-utf8.pkt");
    let area = b"AREA:TQW_TECHNOLOGY\r";
    let at = pkt.windows(area.len()).position(|w| w == area).unwrap();
    let mixed = [&pkt[..at], &pkt[at + area.len()..]].concat();
    let read =
        ftn::read_file("mixed.pkt", &mixed, &Charsets::default(), Limits::default()).unwrap();
    assert_eq!(read.netmail_skipped, 1);
    assert_eq!(read.stories.len(), 1);
    assert_eq!(read.stories[0].title, "Short title");
    assert_eq!(read.stories[0].area.as_deref(), Some("TQW_TECHNOLOGY"));
    assert_eq!(
        read.warnings,
        ["mixed.pkt: 1 netmail message skipped (no AREA line; echowatch reads echomail only)"]
    );
    // Inside a bundle too.
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    z.start_file("0000cc01.pkt", zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut z, &mixed).unwrap();
    let zipped = z.finish().unwrap().into_inner();
    let read = ftn::read_file("b.mo0", &zipped, &Charsets::default(), Limits::default()).unwrap();
    assert_eq!((read.stories.len(), read.netmail_skipped), (1, 1));
}

fn text_strategy() -> impl Strategy<Value = String> {
    // Words of letters (ASCII, Latin-1, Cyrillic, CJK), no control characters.
    let word = "[a-zA-Z0-9éüßЖж漢字.,!?']{1,12}";
    prop::collection::vec(
        prop::collection::vec(word, 0..20).prop_map(|w| w.join(" ")),
        1..12,
    )
    .prop_map(|lines| lines.join("\n"))
}

fn name_strategy() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-zéЖ ]{0,20}[A-Za-z]"
        .prop_map(|n| n.split_whitespace().collect::<Vec<_>>().join(" "))
}

prop_compose! {
    fn arb_addr()(zone in 1u16..5000, net in 1u16..30000, node in 0u16..30000, point in prop_oneof![Just(0u16), 1u16..500]) -> FtnAddress {
        FtnAddress::new(zone, net, node, point)
    }
}

prop_compose! {
    fn arb_message()(
        area in "[A-Z][A-Z0-9_.]{0,20}",
        from_name in name_strategy(),
        to_name in name_strategy(),
        subject in "[A-Za-z0-9 ]{0,71}",
        body in text_strategy(),
        orig in arb_addr(),
        dest in arb_addr(),
        secs in 316_000_000i64..3_400_000_000, // the two-digit-year window, 1980..2079
        offset_q in -48i32..56,
        serial in any::<u32>(),
        cp437 in any::<bool>(),
        tear in "[A-Za-z0-9 .]{0,20}",
        origin in "[A-Za-z0-9 ]{1,40}",
    ) -> EchoMessageOut {
        let offset = FixedOffset::east_opt(offset_q * 900).unwrap();
        let date = DateTime::from_timestamp(secs, 0).unwrap().with_timezone(&offset);
        EchoMessageOut {
            area, from_name: from_name.trim().to_string(), to_name: to_name.trim().to_string(),
            subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
            date, orig, dest,
            msgid: format!("{orig} {serial:08x}"), reply: None, pid: "proptest 1".into(),
            charset: if cp437 { OutCharset::Cp437 } else { OutCharset::Utf8 },
            body, tearline: tear.split_whitespace().collect::<Vec<_>>().join(" "), origin: origin.trim().to_string(),
            seen_by: vec![FtnAddress::new(1, 1, 100, 0), FtnAddress::new(1, 2, 5, 0)], path: vec![FtnAddress::new(1, 1, 100, 0)],
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Whatever echowatch writes reads back as written (text up to its 79-column wrapping,
    /// characters up to CP437 transliteration).
    #[test]
    fn write_then_read_is_identity(
        msgs in prop::collection::vec(arb_message(), 0..4),
        orig in arb_addr(), dest in arb_addr(), pw in "[a-z0-9]{0,8}",
        kind in prop_oneof![Just(PacketKind::Stone), Just(PacketKind::TwoPlus), Just(PacketKind::TwoTwo)],
    ) {
        let mut header = PacketHeader::new(orig, dest, NaiveDate::from_ymd_opt(2026, 3, 4).unwrap().and_hms_opt(5, 6, 7).unwrap());
        header.password = pw.into_bytes();
        header.kind = kind;
        match kind {
            PacketKind::Stone => { header.orig.point = 0; header.dest.point = 0; header.capability_word = 0; header.revision.1 = 0; }
            PacketKind::TwoTwo => { header.created = None; header.baud = 2; header.capability_word = 0; header.revision.1 = 0; header.orig_domain = b"fidonet".to_vec(); }
            PacketKind::TwoPlus => {}
        }
        let bytes = ftn::write_packet(&header, &msgs).unwrap();
        let pkt = ftn::read_packet(&bytes).unwrap();
        prop_assert_eq!(&pkt.header, &header);
        prop_assert!(pkt.warnings.is_empty());
        prop_assert_eq!(pkt.messages.len(), msgs.len());
        for (out, packed) in msgs.iter().zip(&pkt.messages) {
            let m = EchoMessage::from_packed(packed, &Charsets::default());
            let translit = |s: &str| if out.charset == OutCharset::Cp437 { Charset::Cp437.decode(&out.charset.encode(s)) } else { s.to_string() };
            prop_assert_eq!(m.area.as_deref(), Some(out.area.as_str()));
            prop_assert_eq!(&m.from, &translit(&out.from_name));
            prop_assert_eq!(&m.to, &translit(&out.to_name));
            prop_assert_eq!(&m.subject, &out.subject);
            prop_assert_eq!(m.msgid.as_deref(), Some(out.msgid.as_str()));
            prop_assert_eq!(m.pid.as_deref(), Some("proptest 1"));
            prop_assert_eq!(m.date_utc(), Some(out.date.to_utc()));
            prop_assert_eq!(m.tearline.as_deref(), Some(out.tearline.as_str()));
            prop_assert_eq!(m.origin_addr, Some(out.orig));
            prop_assert_eq!(&m.seen_by, &["1/100".to_string(), "2/5".to_string()]);
            prop_assert_eq!(&m.path, &["1/100".to_string()]);
            prop_assert_eq!((packed.orig_net, packed.orig_node, packed.dest_net, packed.dest_node), (out.orig.net, out.orig.node, out.dest.net, out.dest.node));
            // Wrapping only moves line breaks: the words are the same, in order.
            let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
            prop_assert_eq!(words(&m.body), words(&translit(&out.body)));
            prop_assert!(m.body.lines().all(|l| unicode_width::UnicodeWidthStr::width(l) <= 79 || !l.trim().contains(' ')));
        }
    }

    /// The reader never panics, whatever the bytes.
    #[test]
    fn reader_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400), seed_pkt in any::<bool>()) {
        let mut input = if seed_pkt { fixture("gateway-utf8.pkt") } else { Vec::new() };
        let cut = bytes.len().min(input.len());
        input.splice(input.len().saturating_sub(cut).., bytes);
        let _ = ftn::stories_from_file("x", &input, &Charsets::default(), Limits::default());
        let _ = ftn::read_text_export(&input);
    }
}

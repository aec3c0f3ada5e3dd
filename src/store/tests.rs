use super::*;
use crate::model::TagKind;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.sqlite")).unwrap();
    (dir, store)
}

fn feed_story(guid: &str, link: &str, title: &str) -> Incoming {
    let mut s = ParsedStory::new(StoryKind::Feed, title);
    s.guid = Some(guid.into());
    s.link = Some(link.into());
    s.body = format!("Body of {title}");
    Incoming {
        story: s,
        auto_tags: vec![],
    }
}

fn auto(tag: Tag) -> AutoTag {
    AutoTag {
        tag,
        score: 2.0,
        evidence: vec![Evidence {
            phrase: "Beijing".into(),
            field: TextField::Title,
            start: 0,
            end: 7,
            weight: 0.8,
        }],
    }
}

#[test]
fn same_guid_updates_and_unchanged_adds_nothing() {
    let (_d, mut st) = store();
    let src = st.ensure_source("a", "https://a.test/feed").unwrap();
    let now = Utc::now();
    let batch = vec![
        feed_story("g1", "https://a.test/1", "One"),
        feed_story("g2", "https://a.test/2", "Two"),
    ];
    assert_eq!(
        st.ingest_batch(src, &[], &batch, now).unwrap(),
        BatchOutcome {
            new: 2,
            updated: 0,
            unchanged: 0,
            duplicates: 0
        }
    );
    assert_eq!(
        st.ingest_batch(src, &[], &batch, now).unwrap(),
        BatchOutcome {
            new: 0,
            updated: 0,
            unchanged: 2,
            duplicates: 0
        }
    );
    let mut changed = batch.clone();
    changed[0].story.title = "One, corrected".into();
    assert_eq!(
        st.ingest_batch(src, &[], &changed, now).unwrap(),
        BatchOutcome {
            new: 0,
            updated: 1,
            unchanged: 1,
            duplicates: 0
        }
    );
    assert_eq!(st.story_count().unwrap(), 2);
}

#[test]
fn same_canonical_link_across_sources_is_one_story() {
    let (_d, mut st) = store();
    let a = st.ensure_source("a", "x").unwrap();
    let b = st.ensure_source("b", "y").unwrap();
    let now = Utc::now();
    st.ingest_batch(
        a,
        &[],
        &[feed_story("g1", "https://www.ex.test/story/", "Story")],
        now,
    )
    .unwrap();
    let mut echo = ParsedStory::new(StoryKind::Echomail, "STORY");
    echo.guid = Some("1337:1/100 0badf00d".into());
    echo.link = Some("http://ex.test/story?utm_source=echo".into());
    echo.area = Some("TQW_TECH".into());
    let out = st
        .ingest_batch(
            b,
            &[Tag::free("echo")],
            &[Incoming {
                story: echo,
                auto_tags: vec![],
            }],
            now,
        )
        .unwrap();
    assert_eq!(
        out,
        BatchOutcome {
            new: 0,
            updated: 0,
            unchanged: 1,
            duplicates: 0
        }
    );
    assert_eq!(st.story_count().unwrap(), 1);
    let rec = st.story(1).unwrap().unwrap();
    assert_eq!(rec.sources, vec!["a", "b"]);
    assert_eq!(rec.kinds, vec![StoryKind::Feed, StoryKind::Echomail]);
    assert_eq!(rec.area.as_deref(), Some("TQW_TECH"));
    assert_eq!(rec.title, "Story", "the first source's text is kept");
    assert_eq!(rec.free_tags(), vec!["echo"]);
}

fn echo_story(msgid: &str, title: &str, link: &str) -> Incoming {
    let mut s = ParsedStory::new(StoryKind::Echomail, title);
    s.guid = Some(msgid.into());
    s.link = Some(link.into());
    s.author = Some("echowatch".into());
    s.area = Some("TQW_TECHNOLOGY".into());
    s.body = format!("{title}\n\nLink to news story: {link}");
    Incoming {
        story: s,
        auto_tags: vec![],
    }
}

fn outcome(new: usize, updated: usize, unchanged: usize, duplicates: usize) -> BatchOutcome {
    BatchOutcome {
        new,
        updated,
        unchanged,
        duplicates,
    }
}

#[test]
fn a_repeated_msgid_on_another_message_is_a_dupe_not_an_update() {
    let (_d, mut st) = store();
    let src = st.ensure_source("pkt", "x").unwrap();
    let now = Utc::now();
    let first = echo_story(
        "1337:1/100 b64bfa52",
        "Beijing's CAC publishes labelling rules",
        "https://samples.test/cac",
    );
    let other = echo_story(
        "1337:1/100 b64bfa52",
        "Brussels opens antitrust probe",
        "https://samples.test/probe",
    );
    let third = echo_story(
        "1337:1/100 00000003",
        "Seoul adds a licence rule",
        "https://samples.test/seoul",
    );
    // In one packet, and again when the packet comes back: the first message stays.
    let batch = vec![first.clone(), other.clone(), third.clone()];
    assert_eq!(
        st.ingest_batch(src, &[], &batch, now).unwrap(),
        outcome(2, 0, 0, 1)
    );
    assert_eq!(
        st.ingest_batch(src, &[], &batch, now).unwrap(),
        outcome(0, 0, 2, 1)
    );
    assert_eq!(st.story_count().unwrap(), 2);
    let kept = st.story(1).unwrap().unwrap();
    assert_eq!(kept.title, "Beijing's CAC publishes labelling rules");
    assert_eq!(kept.link.as_deref(), Some("https://samples.test/cac"));

    // The same message read again differently (a newer reader) still updates it.
    let mut reread = first.clone();
    reread
        .story
        .body
        .push_str("\n\nA paragraph the old reader missed.");
    assert_eq!(
        st.ingest_batch(src, &[], &[reread], now).unwrap(),
        outcome(0, 1, 0, 0)
    );

    // From another source: the same message joins the story, another one is a dupe.
    let other_src = st.ensure_source("export", "y").unwrap();
    let mut no_link = other.clone();
    no_link.story.link = None;
    assert_eq!(
        st.ingest_batch(other_src, &[], &[no_link], now).unwrap(),
        outcome(0, 0, 0, 1)
    );
    let mut copy = first.clone();
    copy.story.link = None;
    assert_eq!(
        st.ingest_batch(other_src, &[], &[copy], now).unwrap(),
        outcome(0, 0, 1, 0)
    );
    assert_eq!(st.story(1).unwrap().unwrap().sources, vec!["pkt", "export"]);
    assert_eq!(st.story_count().unwrap(), 2);

    // The echo of a feed story, read again differently, is still that echo; another message
    // under its MSGID is a dupe.
    let feed = st.ensure_source("feed", "z").unwrap();
    let mut item = feed_story("f1", "https://samples.test/feed-item", "Feed item");
    item.story.author = Some("A Reporter".into());
    st.ingest_batch(feed, &[], &[item], now).unwrap();
    let echo = echo_story(
        "1337:1/100 0000f00d",
        "Feed item",
        "https://samples.test/feed-item",
    );
    assert_eq!(
        st.ingest_batch(src, &[], std::slice::from_ref(&echo), now)
            .unwrap(),
        outcome(0, 0, 1, 0)
    );
    let mut reread = echo.clone();
    reread.story.body.push_str("\nmore");
    assert_eq!(
        st.ingest_batch(src, &[], &[reread], now).unwrap(),
        outcome(0, 0, 1, 0)
    );
    let mut stranger = other.clone();
    stranger.story.guid = echo.story.guid.clone();
    assert_eq!(
        st.ingest_batch(src, &[], &[stranger], now).unwrap(),
        outcome(0, 0, 0, 1)
    );
    assert_eq!(st.story(3).unwrap().unwrap().title, "Feed item");

    // Feeds keep updating a story when its guid comes with new content.
    st.ingest_batch(
        feed,
        &[],
        &[feed_story("g", "https://f.test/1", "Old")],
        now,
    )
    .unwrap();
    assert_eq!(
        st.ingest_batch(
            feed,
            &[],
            &[feed_story("g", "https://f.test/2", "New")],
            now
        )
        .unwrap(),
        outcome(0, 1, 0, 0)
    );
}

#[test]
fn a_msgid_another_story_has_never_stops_a_batch() {
    let (_d, mut st) = store();
    let pkt = st.ensure_source("samples", "x").unwrap();
    let feed = st.ensure_source("feed", "y").unwrap();
    let now = Utc::now();
    st.ingest_batch(
        pkt,
        &[],
        &[echo_story(
            "1337:1/100 b64bfa52",
            "Beijing",
            "https://samples.test/cac",
        )],
        now,
    )
    .unwrap();
    st.ingest_batch(
        feed,
        &[],
        &[feed_story("g1", "https://f.test/1", "Feed one")],
        now,
    )
    .unwrap();
    // A gateway post of the feed story that reused the sample's MSGID, then a new message.
    let echoed = echo_story("1337:1/100 b64bfa52", "Feed one", "https://f.test/1");
    let fresh = echo_story("1337:1/100 6a000001", "Fresh", "https://f.test/fresh");
    let back = st.ensure_source("import", "z").unwrap();
    assert_eq!(
        st.ingest_batch(back, &[], &[echoed, fresh], now).unwrap(),
        outcome(1, 0, 1, 0)
    );
    let feed_story = st.story(2).unwrap().unwrap();
    assert_eq!(feed_story.sources, vec!["feed", "import"]);
    assert_eq!(st.story(1).unwrap().unwrap().title, "Beijing");
    assert_eq!(st.story_count().unwrap(), 3);
}

#[test]
fn gateway_serials_grow_skip_known_msgids_and_survive_a_crash() {
    let (_d, mut st) = store();
    let src = st.ensure_source("samples", "x").unwrap();
    let now = Utc::now();
    let t = u32::try_from(now.timestamp()).unwrap();
    // A MSGID this store already knows (an imported message) is never handed out.
    let known = format!("1337:1/100 {t:08x}");
    st.ingest_batch(
        src,
        &[],
        &[echo_story(&known, "Known", "https://s.test/k")],
        now,
    )
    .unwrap();
    for i in 0..3 {
        st.ingest_batch(
            src,
            &[],
            &[feed_story(
                &format!("g{i}"),
                &format!("https://s.test/{i}"),
                "F",
            )],
            now,
        )
        .unwrap();
    }
    let first = st
        .ledger_reserve(&[2, 3], "TQW_TEST", "1337:1/100", now)
        .unwrap();
    assert_eq!(first, vec![Some(t + 1), Some(t + 2)]);
    // Not confirmed (the run stopped after writing its packet, perhaps): the same serials.
    assert!(!st.ledger_contains(2, "TQW_TEST").unwrap());
    assert_eq!(
        st.ledger_reserve(&[2, 3], "TQW_TEST", "1337:1/100", now)
            .unwrap(),
        first
    );
    // A reservation names the packet it is being written to until it is confirmed.
    let unnamed = st.ledger_unconfirmed("TQW_TEST").unwrap();
    assert!(
        unnamed.iter().all(|(_, _, packet)| packet.is_none()),
        "{unnamed:?}"
    );
    st.ledger_set_packet(&[2], "TQW_TEST", "/out/0000abcd.pkt")
        .unwrap();
    assert_eq!(
        st.ledger_unconfirmed("TQW_TEST").unwrap(),
        vec![
            (
                2,
                format!("1337:1/100 {:08x}", t + 1),
                Some("/out/0000abcd.pkt".to_string())
            ),
            (3, format!("1337:1/100 {:08x}", t + 2), None)
        ]
    );
    assert!(st.ledger_unconfirmed("TQW_OTHER").unwrap().is_empty());
    st.ledger_confirm(&[2, 3], "TQW_TEST", now).unwrap();
    assert!(st.ledger_contains(2, "TQW_TEST").unwrap());
    assert!(st.ledger_unconfirmed("TQW_TEST").unwrap().is_empty());
    // Posted meanwhile (another run confirmed it after this one looked): no new serial, so
    // it is not posted twice under two MSGIDs.
    assert_eq!(
        st.ledger_reserve(&[3, 4], "TQW_TEST", "1337:1/100", now)
            .unwrap()[0],
        None
    );
    // Later runs, other areas, a clock set back: serials only grow.
    let earlier = now - chrono::Duration::days(1);
    let next = st
        .ledger_reserve(&[2, 4], "TQW_OTHER", "1337:1/100", earlier)
        .unwrap();
    assert_eq!(next, vec![Some(t + 4), Some(t + 5)]);
    // Each address counts on its own.
    assert_eq!(
        st.ledger_reserve(&[4], "TQW_OTHER", "21:1/100", now)
            .unwrap(),
        vec![Some(t)]
    );
}

#[test]
fn manual_tags_win_and_survive_reingest() {
    let (_d, mut st) = store();
    let src = st.ensure_source("a", "x").unwrap();
    let now = Utc::now();
    let mut inc = feed_story("g1", "https://a.test/1", "One");
    inc.auto_tags = vec![auto(Tag::country("CN")), auto(Tag::policy("tariffs"))];
    st.ingest_batch(src, &[Tag::country("US")], &[inc.clone()], now)
        .unwrap();
    st.set_manual_tags(
        1,
        &[Tag::free("brief"), Tag::policy("entity-list")],
        &[Tag::policy("tariffs"), Tag::country("US")],
    )
    .unwrap();

    // Re-ingest with changed text (auto tags rewritten) must keep the manual decisions.
    inc.story.title = "One (updated)".into();
    assert_eq!(
        st.ingest_batch(src, &[Tag::country("US")], &[inc], now)
            .unwrap()
            .updated,
        1
    );
    let rec = st.story(1).unwrap().unwrap();
    assert_eq!(rec.countries(), vec!["CN"]);
    assert_eq!(rec.policies(), vec!["entity-list"]);
    assert_eq!(rec.free_tags(), vec!["brief"]);
    let cn = rec
        .tags
        .iter()
        .find(|t| t.tag.kind == TagKind::Country)
        .unwrap();
    assert_eq!(cn.provenance, Provenance::Auto);
    assert_eq!(cn.evidence[0].phrase, "Beijing");

    // A retag that drops CN and re-adds tariffs still yields to the manual removal.
    st.replace_auto_tags(&[(1, vec![auto(Tag::policy("tariffs"))])])
        .unwrap();
    let rec = st.story(1).unwrap().unwrap();
    assert!(rec.countries().is_empty());
    assert_eq!(rec.policies(), vec!["entity-list"]);
    // Re-adding by hand restores it.
    st.set_manual_tags(1, &[Tag::country("US")], &[]).unwrap();
    assert_eq!(st.story(1).unwrap().unwrap().countries(), vec!["US"]);
    assert!(matches!(
        st.set_manual_tags(99, &[Tag::free("x")], &[]),
        Err(StoreError::NoSuchStory(99))
    ));
}

#[test]
fn queue_fetch_state_and_flags() {
    let (dir, mut st) = store();
    let src = st.ensure_source("a", "x").unwrap();
    st.ingest_batch(
        src,
        &[],
        &[feed_story("g1", "https://a.test/1", "One")],
        Utc::now(),
    )
    .unwrap();
    assert_eq!(st.pending_index().unwrap(), vec![1]);
    st.clear_pending(&[1]).unwrap();
    assert!(st.pending_index().unwrap().is_empty());
    st.set_read(&[1], true).unwrap();
    st.set_starred(&[1], true).unwrap();
    let rec = st.story(1).unwrap().unwrap();
    assert!(rec.read && rec.starred);

    let etag = Some("W/\"abc\"".to_string());
    st.record_fetch(
        src,
        Utc::now(),
        &FetchRecord::Success {
            etag: etag.clone(),
            last_modified: None,
        },
    )
    .unwrap();
    let until = Utc::now() + chrono::Duration::hours(1);
    st.record_fetch(
        src,
        Utc::now(),
        &FetchRecord::Failure {
            error: "429".into(),
            retry_after: Some(until),
        },
    )
    .unwrap();
    drop(st);
    // Reopening applies no migration twice and keeps everything.
    let st = Store::open(&dir.path().join("store.sqlite")).unwrap();
    let state = st.source_state(src).unwrap();
    assert_eq!(state.etag, etag);
    assert_eq!(state.last_error.as_deref(), Some("429"));
    assert_eq!(
        state.next_fetch_after.map(|t| t.timestamp()),
        Some(until.timestamp())
    );
    assert!(st.story(1).unwrap().unwrap().read);
}

#[test]
fn a_new_storys_index_doc_needs_no_read_back() {
    use crate::index::IndexDoc;
    let (_d, mut st) = store();
    let src = st.ensure_source("Wire", "https://a.test/feed").unwrap();
    let now = Utc::now();
    let source_tags = vec![
        "policy:tariffs".parse::<Tag>().unwrap(),
        "brief".parse::<Tag>().unwrap(),
    ];
    let mut dated = feed_story("g1", "https://a.test/1", "Dated");
    dated.story.published = Some(now - chrono::Duration::days(2));
    dated.story.author = Some("Desk".into());
    dated.auto_tags = vec![
        auto("country:CN".parse().unwrap()),
        auto("country:US".parse().unwrap()),
        auto("policy:tariffs".parse().unwrap()),
    ];
    let mut echo = ParsedStory::new(StoryKind::Echomail, "Undated echo");
    echo.guid = Some("1:2/3 abcd".into());
    echo.area = Some("AI.NEWS".into());
    let batch = vec![
        dated,
        Incoming {
            story: echo,
            auto_tags: vec![],
        },
    ];
    let (_, queued) = st
        .ingest_batch_ids(src, &source_tags, &batch, now, None)
        .unwrap();
    assert_eq!(queued.len(), 2);
    for q in queued {
        let Queued::New { id, item } = q else {
            panic!("expected new stories, got {q:?}");
        };
        let fresh = IndexDoc::new_story(id, &batch[item], "Wire", &source_tags, now);
        let stored = IndexDoc::from(&st.story_brief(id).unwrap().unwrap());
        assert_eq!(fresh, stored);
    }
    // Carried by a second source: it must be read back (it has two sources now).
    let other = st.ensure_source("Other", "https://b.test/feed").unwrap();
    let again = vec![feed_story("x", "https://a.test/1", "Dated elsewhere")];
    let (_, queued) = st.ingest_batch_ids(other, &[], &again, now, None).unwrap();
    assert!(matches!(queued[..], [Queued::Changed(_)]), "{queued:?}");
}

#[test]
fn a_schema_1_store_migrates_tags_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(schema::MIGRATIONS[0]).unwrap();
        conn.execute_batch(
            r#"PRAGMA user_version = 1;
            INSERT INTO sources (id, name, location) VALUES (1, 'a', 'https://a.test/feed');
            INSERT INTO stories (id, title, body, first_seen, updated, kind, content_hash, primary_source, read)
                VALUES (7, 'Beijing rules', 'b', 0, 0, 'feed', x'00', 1, 1);
            INSERT INTO story_sources VALUES (7, 1, 'guid:g', 'feed', NULL, 0);
            INSERT INTO tags VALUES (7, 'country:CN', 'auto', 1, 2.5,
                '[{"phrase":"Beijing","field":"title","start":0,"end":7,"weight":0.8}]');
            INSERT INTO tags VALUES (7, 'policy:tariffs', 'auto', 1, 1.5, NULL);
            INSERT INTO tags VALUES (7, 'country:US', 'auto', 1, 1.0, 'not json');
            INSERT INTO tags VALUES (7, 'brief', 'manual', 1, NULL, NULL);"#,
        )
        .unwrap();
    }
    let st = Store::open(&path).unwrap();
    let s = st.story(7).unwrap().unwrap();
    assert!(s.read && !s.starred, "flags kept through migration 3");
    let cn = s.tags.iter().find(|t| t.tag == Tag::country("CN")).unwrap();
    assert_eq!(cn.provenance, Provenance::Auto);
    assert_eq!(cn.score, Some(2.5));
    assert_eq!(cn.evidence[0].phrase, "Beijing");
    let tariffs = s
        .tags
        .iter()
        .find(|t| t.tag == Tag::policy("tariffs"))
        .unwrap();
    assert_eq!(tariffs.provenance, Provenance::Auto);
    assert!(tariffs.evidence.is_empty());
    let us = s.tags.iter().find(|t| t.tag == Tag::country("US")).unwrap();
    assert!(
        us.evidence.is_empty(),
        "damaged evidence is dropped, the tag kept"
    );
    assert!(
        s.tags
            .iter()
            .any(|t| t.tag.value == "brief" && t.provenance == Provenance::Manual)
    );
    let auto_rows: i64 = st
        .conn
        .query_row(
            "SELECT COUNT(*) FROM tags WHERE provenance = 'auto'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(auto_rows, 0);
}

#[test]
fn file_stamps_are_remembered_per_source_and_forgotten() {
    let (_d, st) = store();
    let a = st.ensure_source("a", "/feeds").unwrap();
    let b = st.ensure_source("b", "/other").unwrap();
    let stamp = |size, modified_ns| FileStamp {
        size,
        modified_ns,
        changed_ns: modified_ns + 1,
        inode: u64::MAX,
        reader: 7,
    };
    write_file_stamp(&st.conn, a, Path::new("/feeds/x.xml"), stamp(10, 1)).unwrap();
    write_file_stamp(&st.conn, a, Path::new("/feeds/y.xml"), stamp(20, 2)).unwrap();
    write_file_stamp(&st.conn, a, Path::new("/feeds/x.xml"), stamp(11, 3)).unwrap();
    write_file_stamp(&st.conn, b, Path::new("/feeds/x.xml"), stamp(99, 9)).unwrap();
    let known = st.file_stamps(a).unwrap();
    assert_eq!(known.len(), 2);
    assert_eq!(known[Path::new("/feeds/x.xml")], stamp(11, 3));
    st.forget_file_stamps(a, &[PathBuf::from("/feeds/x.xml")])
        .unwrap();
    let known = st.file_stamps(a).unwrap();
    assert_eq!(
        known.keys().collect::<Vec<_>>(),
        [Path::new("/feeds/y.xml")]
    );
    assert_eq!(st.file_stamps(b).unwrap().len(), 1);
}

#[test]
fn file_stamps_go_with_a_source_that_moves_or_stops_keeping_them() {
    let (_d, mut st) = store();
    let stamp = FileStamp {
        size: 1,
        modified_ns: 1,
        changed_ns: 1,
        inode: 1,
        reader: 1,
    };
    let ids = st
        .ensure_sources(
            &[("a", "/a".into()), ("b", "/b".into()), ("c", "/c".into())],
            None,
        )
        .unwrap();
    for (&id, file) in ids.iter().zip(["/a/x", "/b/x", "/c/x"]) {
        write_file_stamp(&st.conn, id, Path::new(file), stamp).unwrap();
    }
    // `import` (no list) touches no stamps.
    st.ensure_sources(&[("d", "/d".into())], None).unwrap();
    assert!(ids.iter().all(|&id| st.file_stamps(id).unwrap().len() == 1));
    // Only `b` and `c` still keep stamps (a sync of `c` alone); `b` has moved.
    st.ensure_sources(
        &[("c", "/c".into()), ("b", "/elsewhere".into())],
        Some(&["b", "c"]),
    )
    .unwrap();
    let kept: Vec<usize> = ids
        .iter()
        .map(|&id| st.file_stamps(id).unwrap().len())
        .collect();
    assert_eq!(kept, [0, 0, 1]);
}

#[test]
fn sources_are_registered_in_one_pass_and_rewritten_only_when_moved() {
    let (_d, mut st) = store();
    let first = st
        .ensure_sources(
            &[("a", "https://a.test/".into()), ("b", "/feeds".into())],
            None,
        )
        .unwrap();
    let writes = st.conn.total_changes();
    let again = st
        .ensure_sources(
            &[("b", "/feeds".into()), ("a", "https://a.test/".into())],
            None,
        )
        .unwrap();
    assert_eq!(again, vec![first[1], first[0]]);
    assert_eq!(
        st.conn.total_changes(),
        writes,
        "unchanged sources were rewritten"
    );
    let moved = st
        .ensure_sources(&[("a", "https://a.example/".into())], None)
        .unwrap();
    assert_eq!(moved, vec![first[0]]);
    assert_eq!(
        st.source_state(first[0]).unwrap().location,
        "https://a.example/"
    );
    // Fetch outcomes of many sources at once.
    let now = Utc::now();
    st.record_fetches(&[
        (
            first[0],
            now,
            FetchRecord::Unchanged {
                etag: Some("\"x\"".into()),
                last_modified: None,
            },
        ),
        (
            first[1],
            now,
            FetchRecord::Failure {
                error: "gone".into(),
                retry_after: None,
            },
        ),
    ])
    .unwrap();
    assert_eq!(
        st.source_state(first[0]).unwrap().etag.as_deref(),
        Some("\"x\"")
    );
    assert_eq!(
        st.source_state(first[1]).unwrap().last_error.as_deref(),
        Some("gone")
    );
}

/// What `auto_tags_json` wrote when it went through serde: the stored format must not move.
fn serde_auto_tags_json(tags: &[AutoTag]) -> String {
    #[derive(Serialize)]
    struct Out<'a> {
        tag: String,
        score: f32,
        evidence: Vec<&'a Evidence>,
    }
    let out: Vec<Out<'_>> = tags
        .iter()
        .map(|t| {
            let mut evidence: Vec<&Evidence> = t.evidence.iter().collect();
            evidence.sort_by(|a, b| b.weight.total_cmp(&a.weight));
            evidence.truncate(MAX_EVIDENCE);
            Out {
                tag: t.tag.to_string(),
                score: t.score,
                evidence,
            }
        })
        .collect();
    serde_json::to_string(&out).unwrap()
}

proptest::proptest! {
    #[test]
    fn auto_tags_json_is_what_serde_writes(
        tags in proptest::collection::vec(
            (
                proptest::sample::select(vec!["country:CN", "country:EU", "policy:entity-list", "brief"]),
                proptest::num::f32::ANY,
                proptest::collection::vec(
                    (".{0,12}", proptest::bool::ANY, 0usize..100_000, 0usize..100_000, proptest::num::f32::ANY),
                    0..6,
                ),
            ),
            0..5,
        ),
        // Tags read back from old stores are not held to the syntax: any text, any kind.
        odd in proptest::option::of((0usize..3, ".{0,8}")),
    ) {
        let odd_tag = odd.map(|(kind, value)| Tag {
            kind: [TagKind::Country, TagKind::Policy, TagKind::Free][kind],
            value,
        });
        let tags: Vec<AutoTag> = tags
            .into_iter()
            .map(|(tag, score, evidence)| AutoTag {
                tag: odd_tag.clone().unwrap_or_else(|| tag.parse().unwrap()),
                score,
                evidence: evidence
                    .into_iter()
                    .map(|(phrase, title, start, end, weight)| Evidence {
                        phrase,
                        field: if title { TextField::Title } else { TextField::Body },
                        start,
                        end,
                        weight,
                    })
                    .collect(),
            })
            .collect();
        proptest::prop_assert_eq!(auto_tags_json(&tags), serde_auto_tags_json(&tags));
    }
}

#[test]
fn every_echo_area_a_story_came_in_is_remembered() {
    // The same story tossed again in a second area of the same inbound (another MSGID, the
    // same link) was recorded nowhere: the gateway then posted it into that area.
    let (_d, mut st) = store();
    let inbound = st.ensure_source("inbound", "x").unwrap();
    let now = Utc::now();
    let first = echo_story(
        "2:5020/1 12345678",
        "Section 232 tariffs",
        "https://ex.test/s232",
    );
    let mut second = echo_story(
        "2:5020/9 87654321",
        "Section 232 tariffs",
        "https://ex.test/s232",
    );
    second.story.area = Some("TQW_NEWS3".into());
    st.ingest_batch(inbound, &[], &[first], now).unwrap();
    st.ingest_batch(inbound, &[], &[second], now).unwrap();
    assert_eq!(st.story_count().unwrap(), 1);
    assert!(st.seen_in_area(1, "TQW_TECHNOLOGY").unwrap());
    assert!(
        st.seen_in_area(1, "tqw_news3").unwrap(),
        "areas compare in any case"
    );
    assert!(!st.seen_in_area(1, "TQW_OTHER").unwrap());
    // The index's area field gets both, so `area:TQW_NEWS3` finds it.
    let brief = st.story_brief(1).unwrap().unwrap();
    assert_eq!(brief.area.as_deref(), Some("TQW_TECHNOLOGY"));
    assert_eq!(brief.areas, ["TQW_NEWS3", "TQW_TECHNOLOGY"]);
    assert_eq!(
        crate::index::IndexDoc::from(&brief).areas,
        ["TQW_NEWS3", "TQW_TECHNOLOGY"]
    );
}

/// The interface tags a story while a sync holds the write lock. A deferred transaction
/// would read first, then find its snapshot stale when the sync commits, and fail with
/// "database is locked" at once, busy timeout or not. Write transactions start IMMEDIATE,
/// so the edit waits its turn and lands.
#[test]
fn a_write_waits_for_another_writer_instead_of_failing() {
    let (dir, mut st) = store();
    let src = st.ensure_source("a", "x").unwrap();
    st.ingest_batch(
        src,
        &[],
        &[feed_story("g1", "https://a.test/1", "One")],
        Utc::now(),
    )
    .unwrap();

    let path = dir.path().join("store.sqlite");
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let other_writer = std::thread::spawn(move || {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE; UPDATE stories SET title = 'One (sync)';")
            .unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        conn.execute_batch("COMMIT").unwrap();
    });
    locked_rx.recv().unwrap();
    st.set_manual_tags(1, &[Tag::free("brief")], &[]).unwrap();
    other_writer.join().unwrap();

    let rec = st.story(1).unwrap().unwrap();
    assert_eq!(rec.title, "One (sync)");
    assert_eq!(rec.free_tags(), vec!["brief"]);
}

#[test]
fn a_feed_takes_over_the_text_of_a_story_an_echo_brought_first() {
    let (_d, mut st) = store();
    let echo = st.ensure_source("echo", "x").unwrap();
    let feed = st.ensure_source("feed", "y").unwrap();
    let now = Utc::now();
    let copy = echo_story("1337:1/100 0badf00d", "STORY", "https://ex.test/story");
    st.ingest_batch(echo, &[], std::slice::from_ref(&copy), now)
        .unwrap();
    let mut own = feed_story("g1", "https://www.ex.test/story/", "Story");
    own.story.body = "The feed's own text.".into();
    let out = st.ingest_batch(feed, &[], &[own], now).unwrap();
    assert_eq!(out, outcome(0, 1, 0, 0));
    let rec = st.story(1).unwrap().unwrap();
    assert_eq!(
        (rec.title.as_str(), rec.body.as_str()),
        ("Story", "The feed's own text.")
    );
    assert_eq!(rec.kind, StoryKind::Feed);
    assert_eq!(rec.kinds, vec![StoryKind::Echomail, StoryKind::Feed]);
    assert_eq!(rec.area.as_deref(), Some("TQW_TECHNOLOGY"));
    // The echo read again changes nothing: the text never flips back.
    let out = st.ingest_batch(echo, &[], &[copy], now).unwrap();
    assert_eq!(out, outcome(0, 0, 1, 0));
    assert_eq!(st.story(1).unwrap().unwrap().body, "The feed's own text.");
}

#[test]
fn read_and_starred_ids_and_the_data_version_of_another_connection() {
    let (dir, mut st) = store();
    let src = st.ensure_source("a", "https://a.test/feed").unwrap();
    let batch: Vec<Incoming> = (1..=4)
        .map(|i| feed_story(&format!("g{i}"), &format!("https://a.test/{i}"), "Story"))
        .collect();
    st.ingest_batch(src, &[], &batch, Utc::now()).unwrap();
    let reader = Store::open(&dir.path().join("store.sqlite")).unwrap();
    let flagged = |st: &Store| {
        let mut read = st.read_ids().unwrap();
        read.sort_unstable();
        let mut starred = st.starred_ids().unwrap();
        starred.sort_unstable();
        (read, starred)
    };
    assert_eq!(flagged(&reader), (vec![], vec![]));
    let before = reader.data_version().unwrap();
    st.set_read(&[3, 1, 2], true).unwrap();
    st.set_starred(&[4, 2], true).unwrap();
    st.set_read(&[2], false).unwrap();
    // Another connection's commits change it; what this one reads does not.
    let after = reader.data_version().unwrap();
    assert_ne!(before, after);
    assert_eq!(flagged(&reader), (vec![1, 3], vec![2, 4]));
    assert_eq!(reader.data_version().unwrap(), after);
    st.set_starred(&[2, 4], false).unwrap();
    assert_eq!(flagged(&reader), (vec![1, 3], vec![]));
    assert_ne!(reader.data_version().unwrap(), after);
}

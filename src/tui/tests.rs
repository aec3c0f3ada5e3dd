//! State tests of the interface and insta snapshots of its screens (ratatui TestBackend),
//! on a temporary workspace filled with fixed fixture stories and a fixed clock.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::app::{App, AppOptions, Focus, Overlay, PromptKind, Screen, SideItem};
use super::jobs::Request;
use crate::config::Config;
use crate::index::{FacetField, SearchRequest};
use crate::model::{AutoTag, Evidence, ParsedStory, StoryKind, Tag, TextField};
use crate::store::Incoming;
use crate::workspace::Workspace;

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, day, hour, 0, 0)
        .single()
        .unwrap()
}

fn now() -> DateTime<Utc> {
    at(20, 12)
}

fn auto(tag: &str, phrase: &str) -> AutoTag {
    AutoTag {
        tag: tag.parse().unwrap(),
        score: 2.0,
        evidence: vec![Evidence {
            phrase: phrase.into(),
            field: TextField::Body,
            start: 0,
            end: phrase.len(),
            weight: 2.0,
        }],
    }
}

struct Fx {
    title: &'static str,
    body: &'static str,
    day: u32,
    link: Option<&'static str>,
    tags: Vec<AutoTag>,
}

fn fixtures() -> Vec<Fx> {
    vec![
        Fx {
            title: "Commerce adds Chinese chipmakers to the Entity List",
            body: "The Bureau of Industry and Security added 12 Chinese firms to the Entity List, restricting exports of US technology.\n\nThe rule takes effect at once. See [1].",
            day: 18,
            link: Some("https://www.federalregister.gov/d/2025-0001"),
            tags: vec![
                auto("country:US", "Bureau of Industry and Security"),
                auto("country:CN", "Chinese"),
                auto("policy:entity-list", "Entity List"),
            ],
        },
        Fx {
            title: "Dutch government tightens lithography export licences",
            body: "The Netherlands expands licence requirements for ASML immersion lithography tools.",
            day: 17,
            link: Some("https://www.government.nl/news/litho"),
            tags: vec![
                auto("country:NL", "Netherlands"),
                auto("policy:equipment-controls", "lithography tools"),
            ],
        },
        Fx {
            title: "中国商务部宣布对镓锗相关物项实施出口管制",
            body: "商务部 海关总署 公告 — gallium and germanium export controls announced by Beijing.",
            day: 16,
            link: Some("http://www.mofcom.gov.cn/article/2025"),
            tags: vec![
                auto("country:CN", "商务部"),
                auto("policy:critical-minerals", "gallium"),
            ],
        },
        Fx {
            title: "EU AI Act: first obligations apply 🚀",
            body: "Prohibited AI practices are banned from February; general-purpose model rules follow.",
            day: 12,
            link: Some("https://digital-strategy.ec.europa.eu/ai-act"),
            tags: vec![
                auto("country:EU", "EU"),
                auto("policy:ai-regulation", "AI Act"),
            ],
        },
        Fx {
            title: "Tariff talks resume in Geneva",
            body: "Negotiators from the United States and China meet again on tariffs.",
            day: 10,
            link: Some("ftp://files.example.org/tariffs.txt"),
            tags: vec![
                auto("country:US", "United States"),
                auto("country:CN", "China"),
                auto("policy:tariffs", "tariffs"),
            ],
        },
        Fx {
            title: "Evil\u{1b}[2J title with \u{202e}escapes\u{7}",
            body: "Body with \u{1b}]0;pwned\u{7} an OSC sequence and\ttabs.",
            day: 5,
            link: None,
            tags: vec![],
        },
        Fx {
            title: "Japan aligns chip equipment controls with the Netherlands",
            body: "METI adds 23 items of semiconductor manufacturing equipment to its export control list, in step with the Netherlands.",
            day: 3,
            link: Some("https://www.meti.go.jp/english/press/2025/0303.html"),
            tags: vec![
                auto("country:JP", "METI"),
                auto("country:NL", "Netherlands"),
                auto("policy:equipment-controls", "equipment"),
            ],
        },
        Fx {
            title: "Gallium prices spike after export curbs",
            body: "Traders report gallium prices doubling in Rotterdam.",
            day: 1,
            link: Some("https://news.example.com/gallium"),
            tags: vec![
                auto("country:CN", "China"),
                auto("policy:critical-minerals", "gallium"),
            ],
        },
    ]
}

/// A workspace with the fixture stories: five from a feed source, the rest from an echo
/// area, one of them carried by both.
fn workspace(dir: &std::path::Path, config: Option<Config>) -> Workspace {
    let config = config.unwrap_or_else(|| Config::empty(dir.join("feeds.toml")));
    let mut ws = Workspace::open(config, &dir.join("data")).unwrap();
    let feed = ws
        .store
        .ensure_source(
            "Federal Register: BIS",
            "https://www.federalregister.gov/x.rss",
        )
        .unwrap();
    let echo = ws
        .store
        .ensure_source("tqwNet inbound", "/var/spool/binkd/inbound")
        .unwrap();
    for (i, fx) in fixtures().into_iter().enumerate() {
        let echomail = i >= 5;
        let mut s = ParsedStory::new(
            if echomail {
                StoryKind::Echomail
            } else {
                StoryKind::Feed
            },
            fx.title,
        );
        s.guid = Some(format!("fx-{i}"));
        s.body = fx.body.to_string();
        s.link = fx.link.map(str::to_string);
        s.links = fx.link.iter().map(|l| l.to_string()).collect();
        s.published = Some(at(fx.day, 9));
        s.author = Some(if echomail {
            "Sysop".into()
        } else {
            "Analyst Desk".into()
        });
        if echomail {
            s.area = Some("TQW_TECHNOLOGY".into());
            s.origin = Some("1337:1/100".into());
        }
        let src = if echomail { echo } else { feed };
        ws.store
            .ingest_batch(
                src,
                &[],
                &[Incoming {
                    story: s.clone(),
                    auto_tags: fx.tags,
                }],
                at(fx.day, 10),
            )
            .unwrap();
        // The AI Act story also came in by echomail (gated): both kinds, both sources.
        if i == 3 {
            let mut e = s.clone();
            e.kind = StoryKind::Echomail;
            e.guid = Some("<msgid-ai-act>".into());
            e.area = Some("TQW_TECHNOLOGY".into());
            ws.store
                .ingest_batch(
                    echo,
                    &[],
                    &[Incoming {
                        story: e,
                        auto_tags: vec![],
                    }],
                    at(fx.day, 11),
                )
                .unwrap();
        }
    }
    ws.flush_index().unwrap();
    ws
}

fn app_in(dir: &std::path::Path, config: Option<Config>) -> App {
    let ws = workspace(dir, config);
    let mut app = App::new(
        ws,
        AppOptions {
            now: Some(now()),
            ..Default::default()
        },
    )
    .unwrap();
    app.wait_idle(Duration::from_secs(10));
    app
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(
        KeyCode::Char(c),
        if c.is_ascii_uppercase() {
            KeyModifiers::SHIFT
        } else {
            KeyModifiers::NONE
        },
    )
}

fn code(k: KeyCode) -> KeyEvent {
    KeyEvent::new(k, KeyModifiers::NONE)
}

/// A key, then wait for the background answers it asked for (pages, counts), as a user
/// would see them a moment later.
fn press(app: &mut App, k: KeyEvent) {
    app.on_key(k);
    app.wait_idle(Duration::from_secs(10));
}

fn typed(app: &mut App, s: &str) {
    for c in s.chars() {
        app.on_key(key(c));
    }
}

fn render(app: &mut App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| super::components::draw(app, f)).unwrap();
    t
}

fn screen_text(app: &mut App, w: u16, h: u16) -> String {
    render(app, w, h).backend().to_string()
}

fn titles(app: &App) -> Vec<String> {
    app.list
        .hits
        .iter()
        .map(|h| app.ws.store.story_brief(h.id).unwrap().unwrap().title)
        .collect()
}

// ---- state ------------------------------------------------------------------------------------

#[test]
fn starts_with_the_newest_and_counts_in_the_sidebar() {
    let dir = tempfile::tempdir().unwrap();
    let app = app_in(dir.path(), None);
    assert_eq!(app.list.total, 8);
    assert_eq!(
        titles(&app)[0],
        "Commerce adds Chinese chipmakers to the Entity List"
    );
    assert!(!app.facets_pending);
    let items = app.sidebar_items();
    assert!(
        items.contains(&SideItem::Facet(FacetField::Country, "cn".into(), 4)),
        "{items:?}"
    );
    assert!(
        items.contains(&SideItem::Facet(
            FacetField::Area,
            "tqw_technology".into(),
            4
        )),
        "{items:?}"
    );
    assert!(items.iter().any(
        |i| matches!(i, SideItem::Facet(FacetField::Source, s, 5) if s == "federal register: bis")
    ));
}

#[test]
fn search_as_you_type_is_debounced_and_bad_queries_show_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_in(dir.path(), None);
    press(&mut app, key('/'));
    // The word being typed matches as a prefix: a few letters already find the story.
    typed(&mut app, "lith");
    app.tick(Instant::now() + Duration::from_millis(500));
    app.wait_idle(Duration::from_secs(10));
    assert_eq!(app.query, "lith");
    assert_eq!(app.list.total, 1);
    typed(&mut app, "ography");
    // Nothing ran yet: the debounce is pending.
    assert_eq!(app.query, "lith");
    app.tick(Instant::now() + Duration::from_millis(500));
    app.wait_idle(Duration::from_secs(10));
    assert_eq!(app.query, "lithography");
    assert_eq!(app.list.total, 1);
    // A bad query: error in the prompt, the list keeps the last good result, nothing crashes.
    typed(&mut app, " (unbalanced");
    let Overlay::Prompt(p) = &app.overlay else {
        panic!("prompt closed")
    };
    assert!(p.error.is_some());
    app.tick(Instant::now() + Duration::from_millis(500));
    app.wait_idle(Duration::from_secs(10));
    assert_eq!(app.list.total, 1);
    press(&mut app, code(KeyCode::Enter)); // refused while the query is bad
    assert!(matches!(app.overlay, Overlay::Prompt(_)));
    for _ in 0.." (unbalanced".len() {
        press(&mut app, code(KeyCode::Backspace));
    }
    typed(&mut app, " OR nosuchfield:x");
    let Overlay::Prompt(p) = &app.overlay else {
        panic!()
    };
    assert!(
        p.error.as_deref().unwrap_or("").contains("nosuchfield"),
        "{:?}",
        p.error
    );
    // Esc restores the query from before the prompt.
    press(&mut app, code(KeyCode::Esc));
    assert_eq!(app.query, "");
    assert_eq!(app.list.total, 8);
    // Field syntax works; Enter runs at once.
    press(&mut app, key('/'));
    typed(&mut app, "country:CN policy:critical-minerals");
    press(&mut app, code(KeyCode::Enter));
    assert!(matches!(app.overlay, Overlay::None));
    assert_eq!(app.list.total, 2);
    assert_eq!(titles(&app)[0], "中国商务部宣布对镓锗相关物项实施出口管制");
}

#[test]
fn a_submitted_search_matches_what_the_command_line_matches() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_in(dir.path(), None);
    let cli = |app: &App, q: &str| {
        app.ws
            .index
            .search(&SearchRequest {
                query: q.into(),
                limit: 50,
                ..Default::default()
            })
            .unwrap()
            .total
    };
    let exact = cli(&app, "chip");
    assert!(exact < cli(&app, "chip*"), "the fixture needs a chip… word");
    // While typing, `chip` is a prefix (chipmakers too)…
    press(&mut app, key('/'));
    typed(&mut app, "chip");
    app.tick(Instant::now() + Duration::from_millis(500));
    app.wait_idle(Duration::from_secs(10));
    assert_eq!(app.list.total, cli(&app, "chip*"));
    // …once submitted it is the query as written, as `echowatch search chip` has it.
    press(&mut app, code(KeyCode::Enter));
    assert_eq!(app.query, "chip");
    assert_eq!(app.list.total, exact);
    // A watch saved from it counts and shows the same stories.
    press(&mut app, key('w'));
    typed(&mut app, "chips");
    press(&mut app, code(KeyCode::Enter));
    press(&mut app, key('C'));
    assert_eq!(app.list.total, 8);
    press(&mut app, code(KeyCode::Tab));
    press(&mut app, key('g'));
    press(&mut app, key('j'));
    press(&mut app, code(KeyCode::Enter));
    assert_eq!(app.query, "chip");
    assert_eq!(app.list.total, exact);
    // Typing on and back to the same text, then Esc: the list is the exact query again.
    press(&mut app, key('/'));
    for k in [key('s'), code(KeyCode::Backspace)] {
        press(&mut app, k);
        app.tick(Instant::now() + Duration::from_millis(500));
        app.wait_idle(Duration::from_secs(10));
    }
    assert_eq!(app.list.total, cli(&app, "chip*"));
    press(&mut app, code(KeyCode::Esc));
    assert_eq!(app.query, "chip");
    assert_eq!(app.list.total, exact);
}

#[test]
fn facets_drill_down_combine_with_the_query_and_clear_with_one_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_in(dir.path(), None);
    press(&mut app, code(KeyCode::Tab));
    assert_eq!(app.focus, Focus::Sidebar);
    let items = app.sidebar_items();
    let nl = items
        .iter()
        .position(|i| matches!(i, SideItem::Facet(FacetField::Country, v, _) if v == "nl"))
        .unwrap();
    for _ in 0..nl {
        press(&mut app, key('j'));
    }
    press(&mut app, code(KeyCode::Enter));
    assert_eq!(app.filters, vec![(FacetField::Country, "nl".to_string())]);
    assert_eq!(app.list.total, 2);
    app.wait_idle(Duration::from_secs(10));
    // Counts follow the filter.
    assert!(
        app.sidebar_items()
            .contains(&SideItem::Facet(FacetField::Country, "jp".into(), 1))
    );
    assert!(
        !app.sidebar_items()
            .iter()
            .any(|i| matches!(i, SideItem::Facet(FacetField::Country, v, _) if v == "cn"))
    );
    // With a query on top.
    press(&mut app, key('/'));
    typed(&mut app, "Japan");
    press(&mut app, code(KeyCode::Enter));
    assert_eq!(app.list.total, 1);
    assert_eq!(app.query_with_filters(), "(Japan) +country:\"nl\"");
    press(&mut app, key('c'));
    assert!(app.filters.is_empty());
    assert_eq!(app.list.total, 1);
    press(&mut app, key('C'));
    assert_eq!(app.list.total, 8);
}

#[test]
fn sort_toggles_between_relevance_and_newest() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_in(dir.path(), None);
    press(&mut app, key('/'));
    typed(&mut app, "gallium");
    press(&mut app, code(KeyCode::Enter));
    assert_eq!(app.sort, crate::index::Sort::Newest);
    assert_eq!(titles(&app)[0], "中国商务部宣布对镓锗相关物项实施出口管制");
    press(&mut app, key('S'));
    assert_eq!(app.sort, crate::index::Sort::Relevance);
    // The story with gallium in its title ranks first by relevance.
    assert_eq!(titles(&app)[0], "Gallium prices spike after export curbs");
}

#[test]
fn tag_editor_completes_saves_at_once_and_search_sees_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_in(dir.path(), None);
    press(&mut app, code(KeyCode::Enter));
    let Screen::Reader(r) = &app.screen else {
        panic!("reader not open")
    };
    let id = r.id;
    // Opening a story reads it, and its header says so at once.
    assert!(r.story.read);
    assert!(screen_text(&mut app, 100, 30).contains("─ read ┐"));
    press(&mut app, key('t'));
    typed(&mut app, "+equip");
    let Overlay::Tags(ed) = &app.overlay else {
        panic!("tag editor not open")
    };
    assert_eq!(
        ed.candidates.first().map(|c| c.0.as_str()),
        Some("policy:equipment-controls"),
        "{:?}",
        ed.candidates
    );
    press(&mut app, code(KeyCode::Tab));
    typed(&mut app, "brief country:nether");
    let Overlay::Tags(ed) = &app.overlay else {
        panic!()
    };
    assert!(
        ed.candidates.iter().any(|c| c.0 == "country:NL"),
        "{:?}",
        ed.candidates
    );
    press(&mut app, code(KeyCode::Tab));
    press(&mut app, code(KeyCode::Enter));
    let Overlay::Tags(ed) = &app.overlay else {
        panic!()
    };
    assert!(
        ed.message
            .as_ref()
            .is_some_and(|m| m.0.starts_with("saved")),
        "{:?}",
        ed.message
    );
    let story = app.ws.store.story(id).unwrap().unwrap();
    let tags: Vec<String> = story.tags.iter().map(|t| t.tag.to_string()).collect();
    for t in ["policy:equipment-controls", "brief", "country:NL"] {
        assert!(tags.contains(&t.to_string()), "{tags:?}");
    }
    // Searchable at once, in this process and in the index on disk.
    let page = app
        .ws
        .index
        .search(&SearchRequest {
            query: "tag:brief".into(),
            limit: 5,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![id]);
    // Removing, and a bad tag.
    typed(&mut app, "-brief");
    press(&mut app, code(KeyCode::Enter));
    typed(&mut app, "country:XYZ");
    press(&mut app, code(KeyCode::Enter));
    let Overlay::Tags(ed) = &app.overlay else {
        panic!()
    };
    assert!(
        ed.message
            .as_ref()
            .is_some_and(|m| m.0.contains("invalid tag")),
        "{:?}",
        ed.message
    );
    press(&mut app, code(KeyCode::Esc));
    assert!(matches!(app.overlay, Overlay::None));
    assert!(
        !app.ws
            .store
            .story(id)
            .unwrap()
            .unwrap()
            .tags
            .iter()
            .any(|t| t.tag == Tag::free("brief"))
    );
    assert_eq!(
        app.ws
            .index
            .search(&SearchRequest {
                query: "tag:brief".into(),
                limit: 5,
                ..Default::default()
            })
            .unwrap()
            .total,
        0
    );
}

#[test]
fn reading_state_next_unread_star_and_mark_all_read_persist() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_in(dir.path(), None);
    let first = app.selected_id().unwrap();
    press(&mut app, code(KeyCode::Enter));
    assert!(app.ws.store.story(first).unwrap().unwrap().read);
    press(&mut app, key('s'));
    assert!(app.ws.store.story(first).unwrap().unwrap().starred);
    // The confirmation fades from the status line after a few seconds.
    assert_eq!(app.message.as_ref().map(|m| m.0.as_str()), Some("starred"));
    app.tick(Instant::now() + Duration::from_secs(7));
    assert!(app.message.is_none());
    press(&mut app, key('q'));
    assert!(matches!(app.screen, Screen::List));
    // Mark the second read by hand, `n` skips it.
    press(&mut app, key('j'));
    press(&mut app, key('m'));
    press(&mut app, key('k'));
    press(&mut app, key('n'));
    assert_eq!(app.list.selected, 2);
    // Mark all read for a filter, with confirmation.
    press(&mut app, key('/'));
    typed(&mut app, "country:CN");
    press(&mut app, code(KeyCode::Enter));
    press(&mut app, key('A'));
    assert!(
        matches!(&app.overlay, Overlay::Prompt(p) if p.kind == PromptKind::ConfirmMarkRead && p.count == Some(4))
    );
    press(&mut app, key('y'));
    app.wait_idle(Duration::from_secs(10));
    assert!(
        app.message
            .clone()
            .unwrap()
            .0
            .contains("marked 4 stories read")
    );
    let cn = app.ws.index.matching_ids("country:CN", &[]).unwrap();
    for id in cn {
        assert!(app.ws.store.story(id).unwrap().unwrap().read);
    }
    press(&mut app, key('C'));
    press(&mut app, key('g'));
    press(&mut app, key('n'));
    // The first unread after the top: the Dutch story (2nd) was left unread.
    let sel = app.selected_id().unwrap();
    assert!(!app.ws.store.story(sel).unwrap().unwrap().read);
}

#[test]
fn keys_typed_before_the_results_land_act_on_the_new_list() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_in(dir.path(), None);
    let before = app.selected_id().unwrap();
    // `/Geneva Enter Enter` in one burst: the second Enter comes before the search answers
    // (replies are applied only by tick / wait_idle, so here the old list is still shown).
    press(&mut app, key('/'));
    typed(&mut app, "Geneva");
    app.on_key(code(KeyCode::Enter));
    app.on_key(code(KeyCode::Enter));
    assert_eq!(app.held_keys(), 1);
    assert!(matches!(app.screen, Screen::List));
    app.wait_idle(Duration::from_secs(10));
    let Screen::Reader(r) = &app.screen else {
        panic!("no story opened: {:?}", app.message)
    };
    assert_eq!(r.story.title, "Tariff talks resume in Geneva");
    assert!(!app.ws.store.story(before).unwrap().unwrap().read);
    press(&mut app, key('q'));

    // `s` right after a search stars its first result.
    press(&mut app, key('/'));
    app.on_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    typed(&mut app, "lithography");
    app.on_key(code(KeyCode::Enter));
    app.on_key(key('s'));
    app.wait_idle(Duration::from_secs(10));
    let starred = app.selected_id().unwrap();
    let story = app.ws.store.story(starred).unwrap().unwrap();
    assert!(story.title.contains("lithography") && story.starred);

    // `C G` goes to the last of the cleared list, not of the one-story result; j and k after
    // it move from there, in the order typed.
    app.on_key(key('C'));
    app.on_key(key('G'));
    app.on_key(key('k'));
    app.on_key(key('k'));
    app.on_key(key('j'));
    app.wait_idle(Duration::from_secs(10));
    assert_eq!(app.list.total, 8);
    assert_eq!(app.list.selected, 6);
    assert_eq!(app.held_keys(), 0);

    // Typing into the search box and quitting never wait.
    app.on_key(key('/'));
    app.on_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    typed(&mut app, "gallium");
    app.on_key(code(KeyCode::Enter));
    assert!(matches!(app.overlay, Overlay::None));
    assert_eq!(app.query, "gallium");
    app.on_key(key('q'));
    assert!(app.quit);
}

#[test]
fn next_unread_wraps_to_the_top_and_says_none_only_when_there_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_in(dir.path(), None);
    let message = |app: &App| app.message.clone().map(|m| m.0).unwrap_or_default();
    // The first story read, the cursor on the last (unread): `n` wraps to the second.
    press(&mut app, code(KeyCode::Enter));
    press(&mut app, key('q'));
    press(&mut app, key('G'));
    assert_eq!(app.list.selected, 7);
    press(&mut app, key('n'));
    assert_eq!(app.list.selected, 1);
    assert!(message(&app).contains("wrapped"), "{}", message(&app));
    // Everything read but the last story: from it there is nowhere else to go.
    let ids: Vec<_> = app.list.hits.iter().map(|h| h.id).collect();
    app.ws.store.set_read(&ids[..7], true).unwrap();
    app.list.rows.clear();
    press(&mut app, key('G'));
    press(&mut app, key('n'));
    assert_eq!(app.list.selected, 7);
    assert_eq!(message(&app), "no other unread story in this list");
    // The first, from the bottom, wraps too: going down from the top of the list finds it.
    app.ws.store.set_read(&ids[7..], true).unwrap();
    app.ws.store.set_read(&ids[..1], false).unwrap();
    app.list.rows.clear();
    press(&mut app, key('n'));
    assert_eq!(app.list.selected, 0);
    assert!(message(&app).contains("wrapped"));
    app.ws.store.set_read(&ids[..1], true).unwrap();
    app.list.rows.clear();
    press(&mut app, key('n'));
    assert_eq!(app.list.selected, 0);
    assert_eq!(message(&app), "no unread stories in this list");
}

#[test]
fn links_other_than_web_are_refused_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_in(dir.path(), None);
    press(&mut app, key('/'));
    typed(&mut app, "Geneva");
    press(&mut app, code(KeyCode::Enter));
    press(&mut app, key('o'));
    let (m, _) = app.message.clone().unwrap();
    assert!(m.contains("not opened") && m.contains("ftp"), "{m}");
    press(&mut app, key('C'));
    press(&mut app, key('/'));
    typed(&mut app, "Evil");
    press(&mut app, code(KeyCode::Enter));
    press(&mut app, key('o'));
    assert!(app.message.clone().unwrap().0.contains("no link"));
}

#[test]
fn watches_are_created_persisted_counted_and_viewed() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::empty(dir.path().join("feeds.toml"));
    cfg.watches.push(crate::config::Watch {
        name: "litho".into(),
        query: "lithography".into(),
    });
    let mut app = app_in(dir.path(), Some(cfg.clone()));
    // Never viewed: every match is new.
    assert_eq!(app.watches[0].new, Some(1));
    assert_eq!(app.watches[0].total, Some(1));
    let screen = screen_text(&mut app, 120, 40);
    assert!(screen.contains("+1 1│"), "{screen}");
    press(&mut app, key('/'));
    typed(&mut app, "gallium");
    press(&mut app, code(KeyCode::Enter));
    press(&mut app, key('w'));
    typed(&mut app, "gallium watch");
    press(&mut app, code(KeyCode::Enter));
    assert!(matches!(app.overlay, Overlay::None));
    assert_eq!(app.watches.len(), 2);
    // A command makes one too, with the filters.
    press(&mut app, key(':'));
    typed(&mut app, "watch litho");
    press(&mut app, code(KeyCode::Enter));
    assert!(
        matches!(&app.overlay, Overlay::Prompt(p) if p.error.as_deref().unwrap_or("").contains("config"))
    );
    press(&mut app, code(KeyCode::Esc));
    drop(app);
    let ws = Workspace::open(cfg, &dir.path().join("data")).unwrap();
    let mut app = App::new(
        ws,
        AppOptions {
            now: Some(now()),
            ..Default::default()
        },
    )
    .unwrap();
    app.wait_idle(Duration::from_secs(10));
    assert_eq!(
        app.watches
            .iter()
            .map(|w| w.name.as_str())
            .collect::<Vec<_>>(),
        ["litho", "gallium watch"]
    );
    // Viewing a watch runs its query and resets its count.
    press(&mut app, code(KeyCode::Tab));
    press(&mut app, key('j'));
    press(&mut app, code(KeyCode::Enter));
    assert_eq!(app.query, "lithography");
    assert_eq!(app.list.total, 1);
    assert_eq!(app.watches[0].new, Some(0));
    assert!(app.ws.store.watch_last_viewed("litho").unwrap().is_some());
    // Viewed: nothing new, and the count still says what it matches (a bare "0" read as
    // "nothing matches"). A watch just saved is counted too.
    app.wait_idle(Duration::from_secs(10));
    assert_eq!(app.watches[0].total, Some(1));
    assert_eq!(app.watches[1].total, Some(2), "{:?}", app.watches[1]);
    // The sidebar marks the watch being looked at, as it marks active filters.
    let screen = screen_text(&mut app, 120, 40);
    assert!(screen.contains("✓litho"), "{screen}");
    assert!(!screen.contains("✓gallium watch"), "{screen}");
}

#[test]
fn keys_are_rebound_from_the_config_and_help_lists_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::empty(dir.path().join("feeds.toml"));
    cfg.keys.insert("quit".into(), "x".into());
    cfg.keys.insert("bogus".into(), "y".into());
    let mut app = app_in(dir.path(), Some(cfg));
    assert!(app.message.clone().unwrap().0.contains("bogus"));
    press(&mut app, key('q'));
    assert!(!app.quit);
    press(&mut app, key('?'));
    let screen = screen_text(&mut app, 120, 40);
    assert!(
        screen.contains("x  ") && screen.contains("back; quits from the list"),
        "{screen}"
    );
    press(&mut app, key('z'));
    assert!(matches!(app.overlay, Overlay::None));
    // Every key list fits its column: nothing of "PgDn C-f Space" is cut.
    assert!(screen.contains("PgDn C-f Space"), "{screen}");

    // After a sync with failures, their popup lists each failed source with its reason.
    app.last_failures = vec![
        ("Federal Register".into(), "HTTP status 503".into()),
        ("BIS press".into(), "timed out after 30 s".into()),
    ];
    press(&mut app, key('F'));
    let screen = screen_text(&mut app, 120, 40);
    assert!(
        screen.contains("2 sources failed in the last sync"),
        "{screen}"
    );
    assert!(screen.contains("HTTP status 503"), "{screen}");
    assert!(screen.contains("timed out after 30 s"), "{screen}");
    press(&mut app, key('z'));
    press(&mut app, key('x'));
    assert!(app.quit);
}

#[test]
fn help_names_each_action_for_rebinding_and_cuts_no_description_at_80x24() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_in(dir.path(), None);
    press(&mut app, key('?'));
    // Everything the help holds, scrolling through it as a user would at 80x24.
    let mut seen = String::new();
    for _ in 0..40 {
        seen.push_str(&screen_text(&mut app, 80, 24));
        app.on_key(key('j'));
    }
    for a in super::keys::Action::ALL {
        // (A name may also be a word of another action's description: "sidebar".)
        assert!(
            seen.lines()
                .any(|l| l.contains(&format!(" {} ", a.name())) && l.contains(a.describe())),
            "{} not in the help, or its description cut:\n{seen}",
            a.name()
        );
    }
    assert!(seen.contains("[keys] name = "), "{seen}");
}

#[test]
fn small_texts_count_hint_the_bound_keys_and_date_old_stories() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::empty(dir.path().join("feeds.toml"));
    cfg.keys.insert("search".into(), "f".into());
    cfg.keys.insert("clear_filters".into(), "x".into());
    let ws = workspace(dir.path(), Some(cfg));
    // A year after the fixture stories (March 2025).
    let later = Utc
        .with_ymd_and_hms(2026, 3, 20, 12, 0, 0)
        .single()
        .unwrap();
    let mut app = App::new(
        ws,
        AppOptions {
            now: Some(later),
            ..Default::default()
        },
    )
    .unwrap();
    app.wait_idle(Duration::from_secs(10));
    // 80 columns: the short date column says the year of a story from another year.
    let screen = screen_text(&mut app, 80, 24);
    assert!(screen.contains("Mar'25"), "{screen}");
    // One story: "story", not "stories".
    press(&mut app, key('f'));
    typed(&mut app, "Geneva");
    press(&mut app, code(KeyCode::Enter));
    press(&mut app, key('A'));
    let screen = screen_text(&mut app, 80, 24);
    assert!(screen.contains("mark 1 story read? [y/N]"), "{screen}");
    press(&mut app, key('n'));
    // Nothing matches: the hint names the keys as rebound.
    press(&mut app, key('f'));
    app.on_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    typed(&mut app, "nosuchword");
    press(&mut app, code(KeyCode::Enter));
    let screen = screen_text(&mut app, 120, 40);
    assert!(
        screen.contains("x clears the filters, f changes the query"),
        "{screen}"
    );
}

#[test]
fn sync_runs_in_the_background_and_the_list_refreshes() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.xml");
    std::fs::write(
        &feed,
        r#"<?xml version="1.0"?><rss version="2.0"><channel><title>Local</title><link>https://local.test/</link><description>d</description>
<item><title>Korea joins the chip alliance</title><link>https://local.test/a</link><guid>a</guid><pubDate>Wed, 19 Mar 2025 08:00:00 GMT</pubDate><description>Seoul agrees export controls.</description></item>
</channel></rss>"#,
    )
    .unwrap();
    let cfg = Config::parse(
        &dir.path().join("feeds.toml"),
        "[[source]]\nname = \"Local\"\npath = \"feed.xml\"\n",
    )
    .unwrap();
    let mut app = app_in(dir.path(), Some(cfg));
    assert_eq!(app.list.total, 8);
    app.on_key(key('r'));
    assert!(app.sync.is_some());
    // A second request while it runs starts nothing and leaves its progress alone.
    app.on_key(key('r'));
    assert_eq!(
        app.message.clone().unwrap().0,
        "a sync is already running",
        "{:?}",
        app.message
    );
    assert!(app.sync.is_some());
    app.wait_idle(Duration::from_secs(20));
    assert!(app.sync.is_none());
    assert_eq!(app.list.total, 9, "{:?}", app.message);
    assert!(titles(&app).iter().any(|t| t.contains("Korea")));
    assert!(
        app.message.clone().unwrap().0.starts_with("sync:"),
        "{:?}",
        app.message
    );
}

#[test]
fn sync_failures_are_listed_in_a_popup_and_marked_in_the_sidebar() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("feed.xml"),
        r#"<?xml version="1.0"?><rss version="2.0"><channel><title>Local</title><link>https://local.test/</link><description>d</description>
<item><title>Korea joins the chip alliance</title><link>https://local.test/a</link><guid>a</guid><pubDate>Wed, 19 Mar 2025 08:00:00 GMT</pubDate><description>Seoul agrees export controls.</description></item>
</channel></rss>"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("broken.xml"), "<html>not a feed</html>").unwrap();
    // The fixture's feed source, now pointing at a broken file: it has stories in the sidebar.
    let cfg = Config::parse(
        &dir.path().join("feeds.toml"),
        "[[source]]\nname = \"Local\"\npath = \"feed.xml\"\n\
         [[source]]\nname = \"Federal Register: BIS\"\npath = \"broken.xml\"\n\
         [[source]]\nname = \"Gone\"\npath = \"missing.xml\"\n",
    )
    .unwrap();
    let mut app = app_in(dir.path(), Some(cfg));
    press(&mut app, key('F'));
    assert!(matches!(app.overlay, Overlay::None));
    assert!(app.message.clone().unwrap().0.contains("no sync has run"));
    app.on_key(key('r'));
    app.wait_idle(Duration::from_secs(20));
    let (m, level) = app.message.clone().unwrap();
    assert_eq!(level, super::app::Level::Error);
    assert_eq!(m, "sync: 1 new; 2 sources failed, F shows why");
    // The key is named where an 80-column status line still shows it.
    let screen = screen_text(&mut app, 80, 24);
    assert!(
        screen.contains("sync: 1 new; 2 sources failed, F shows why"),
        "{screen}"
    );
    // Sources are read in parallel: the failures come in any order.
    let mut failed: Vec<&str> = app.last_failures.iter().map(|f| f.0.as_str()).collect();
    failed.sort_unstable();
    assert_eq!(failed, ["Federal Register: BIS", "Gone"], "{m}");
    press(&mut app, key('F'));
    assert!(matches!(app.overlay, Overlay::Failures { .. }));
    let screen = screen_text(&mut app, 80, 24);
    assert!(
        screen.contains("2 sources failed in the last sync"),
        "{screen}"
    );
    assert!(screen.contains("Gone"), "{screen}");
    press(&mut app, key('x'));
    assert!(matches!(app.overlay, Overlay::None));
    // The failed source that has stories is marked in the sidebar.
    let screen = screen_text(&mut app, 120, 40);
    assert!(screen.contains("!Federal Register"), "{screen}");
    assert!(screen.contains(" Local"), "{screen}");
    // So is the one that never had a story.
    assert!(screen.contains("!Gone"), "{screen}");

    // The popup sanitises and wraps what servers say (fixed texts: the real ones hold paths).
    app.last_failures = vec![
        (
            "EU \u{1b}[31mpress\u{202e} corner".into(),
            "HTTP 503 Service Unavailable from https://ec.europa.eu/commission/presscorner/api/rss?language=en after 3 tries; the server asked to wait (Retry-After: 3600)".into(),
        ),
        ("Gone".into(), "cannot read missing.xml: No such file or directory (os error 2)".into()),
    ];
    press(&mut app, key('F'));
    let t = render(&mut app, 80, 24);
    insta::assert_snapshot!("sync_failures_80x24", t.backend());
    press(&mut app, code(KeyCode::Esc));

    // The progress line names the last source finished, as finished.
    app.sync = Some(super::app::SyncProgress {
        done: 9,
        total: 10,
        current: "Not a feed".into(),
        failed: 4,
    });
    let screen = screen_text(&mut app, 120, 40);
    assert!(
        screen.contains("⟳ sync 9/10 done, last: Not a feed (4 failed)"),
        "{screen}"
    );

    // An interface started after that sync (as after a cron run) shows the same failures.
    let cfg = app.ws.config.clone();
    drop(app);
    let mut app = App::new(
        Workspace::open(cfg, &dir.path().join("data")).unwrap(),
        AppOptions {
            now: Some(now()),
            ..Default::default()
        },
    )
    .unwrap();
    app.wait_idle(Duration::from_secs(10));
    let mut failed: Vec<&str> = app.last_failures.iter().map(|f| f.0.as_str()).collect();
    failed.sort_unstable();
    assert_eq!(failed, ["Federal Register: BIS", "Gone"]);
    let screen = screen_text(&mut app, 120, 40);
    assert!(screen.contains("!Gone"), "{screen}");
}

#[test]
fn screen_text_is_sanitised_and_wide_characters_fit() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_in(dir.path(), None);
    for (w, h) in [(80, 24), (120, 40), (64, 20), (40, 12)] {
        let t = render(&mut app, w, h);
        let buf = t.backend().buffer();
        for cell in buf.content() {
            assert!(
                !cell
                    .symbol()
                    .chars()
                    .any(|c| c.is_control() || c == '\u{202e}'),
                "{:?}",
                cell.symbol()
            );
        }
    }
    let s = screen_text(&mut app, 80, 24);
    assert!(s.contains("中国商务部"), "{s}");
    assert!(s.contains("Evil title with escapes"), "{s}");
}

#[test]
fn any_key_in_any_mode_at_any_size_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_in(dir.path(), None);
    let keys: Vec<KeyEvent> = "jjkGgS/ga\u{8}(x:tq?ztT+\u{e9}中TqjnsmwAnq\u{1b}"
        .chars()
        .map(|c| match c {
            '\u{8}' => code(KeyCode::Backspace),
            '\u{1b}' => code(KeyCode::Esc),
            c => key(c),
        })
        .chain(
            [
                KeyCode::Tab,
                KeyCode::Enter,
                KeyCode::Down,
                KeyCode::Enter,
                KeyCode::Esc,
                KeyCode::PageDown,
                KeyCode::End,
            ]
            .map(code),
        )
        .collect();
    let sizes = [(80, 24), (20, 6), (200, 60), (10, 3), (120, 40)];
    for round in 0..3 {
        for (i, k) in keys.iter().enumerate() {
            if k.code == KeyCode::Char('q') && round == 0 {
                continue;
            }
            press(&mut app, *k);
            app.quit = false;
            let (w, h) = sizes[(i + round) % sizes.len()];
            render(&mut app, w, h);
        }
        press(&mut app, code(KeyCode::Esc));
        press(&mut app, code(KeyCode::Esc));
    }
}

// ---- snapshots --------------------------------------------------------------------------------

fn snap(app: &mut App, name: &str) {
    for (w, h) in [(80u16, 24u16), (120, 40)] {
        let t = render(app, w, h);
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), t.backend());
    }
}

#[test]
fn snapshots_of_the_main_screens() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::empty(dir.path().join("feeds.toml"));
    cfg.watches.push(crate::config::Watch {
        name: "Dutch litho".into(),
        query: "country:NL lithography".into(),
    });
    let mut app = app_in(dir.path(), Some(cfg));
    snap(&mut app, "list");

    press(&mut app, key('/'));
    typed(&mut app, "export controls");
    app.wait_idle(Duration::from_secs(10));
    snap(&mut app, "search_typing");
    typed(&mut app, " AND (");
    snap(&mut app, "search_error");
    for _ in 0..6 {
        press(&mut app, code(KeyCode::Backspace));
    }
    press(&mut app, code(KeyCode::Enter));

    press(&mut app, code(KeyCode::Enter));
    app.wait_idle(Duration::from_secs(10));
    snap(&mut app, "reader");
    press(&mut app, key('t'));
    typed(&mut app, "+pol");
    snap(&mut app, "tag_editor");
    press(&mut app, code(KeyCode::Esc));
    press(&mut app, key('q'));

    press(&mut app, key('C'));
    press(&mut app, code(KeyCode::Tab));
    let items = app.sidebar_items();
    let cn = items
        .iter()
        .position(|i| matches!(i, SideItem::Facet(FacetField::Country, v, _) if v == "cn"))
        .unwrap();
    for _ in 0..cn {
        press(&mut app, key('j'));
    }
    press(&mut app, code(KeyCode::Enter));
    app.wait_idle(Duration::from_secs(10));
    snap(&mut app, "facet_filter");

    press(&mut app, key('T'));
    app.wait_idle(Duration::from_secs(10));
    snap(&mut app, "trend");
    press(&mut app, key('q'));

    press(&mut app, key('?'));
    snap(&mut app, "help");
}

#[test]
fn trend_of_old_stories_ends_at_the_newest_and_says_when_there_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let ws = workspace(dir.path(), None);
    // Months after the newest fixture story (18 March 2025), as with the bundled samples.
    let later = Utc.with_ymd_and_hms(2025, 9, 1, 12, 0, 0).single().unwrap();
    let mut app = App::new(
        ws,
        AppOptions {
            now: Some(later),
            ..Default::default()
        },
    )
    .unwrap();
    app.wait_idle(Duration::from_secs(10));
    press(&mut app, key('T'));
    let Screen::Trend(t) = &app.screen else {
        panic!("no trend")
    };
    let d = t.data.as_ref().expect("trend data");
    assert_eq!(d.until_newest, Some(at(18, 9)));
    assert_eq!(d.trend.total.iter().sum::<u64>(), 8);
    assert!(!d.trend.series.is_empty());
    let screen = screen_text(&mut app, 80, 24);
    assert!(
        screen.contains("up to the newest story, 2025-03-18"),
        "{screen}"
    );
    // The snapshot shows the legend (all and the top countries) and the y axis of the data.
    insta::assert_snapshot!(
        "trend_old_stories_80x24",
        render(&mut app, 80, 24).backend()
    );
    // A list with no story at all in the weeks shown says so instead of a flat line.
    press(&mut app, key('q'));
    press(&mut app, key('/'));
    typed(&mut app, "nosuchword");
    press(&mut app, code(KeyCode::Enter));
    press(&mut app, key('T'));
    let screen = screen_text(&mut app, 80, 24);
    assert!(screen.contains("No stories of this list"), "{screen}");
}

#[test]
fn first_run_on_an_empty_store_syncs_the_config_sources() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("feed.xml"),
        r#"<?xml version="1.0"?><rss version="2.0"><channel><title>Local</title><link>https://local.test/</link><description>d</description>
<item><title>Beijing announces gallium export controls</title><link>https://local.test/g</link><guid>g</guid><pubDate>Wed, 19 Mar 2025 08:00:00 GMT</pubDate><description>China's Ministry of Commerce restricts gallium exports.</description></item>
</channel></rss>"#,
    )
    .unwrap();
    let cfg = Config::parse(
        &dir.path().join("feeds.toml"),
        "[[source]]\nname = \"Local\"\npath = \"feed.xml\"\n",
    )
    .unwrap();
    let ws = Workspace::open(cfg, &dir.path().join("data")).unwrap();
    let mut app = App::new(
        ws,
        AppOptions {
            now: Some(now()),
            sync_if_empty: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(app.sync.is_some());
    app.wait_idle(Duration::from_secs(20));
    assert_eq!(app.list.total, 1);
    // Real tags from the tagger show up in the facets.
    assert!(
        app.sidebar_items()
            .contains(&SideItem::Facet(FacetField::Country, "cn".into(), 1)),
        "{:?}",
        app.sidebar_items()
    );
}

#[test]
fn mark_all_read_counts_the_query_being_searched_not_the_last_list() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_in(dir.path(), None);
    let everything = app.list.total;
    // The new query is typed and confirmed, and `A` pressed before its results arrive.
    press(&mut app, key('/'));
    typed(&mut app, "country:CN");
    app.on_key(code(KeyCode::Enter));
    app.on_key(key('A'));
    let Overlay::Prompt(p) = &app.overlay else {
        panic!("no confirmation: {:?}", app.message)
    };
    assert_eq!(p.kind, PromptKind::ConfirmMarkRead);
    // Replies are applied only by the event loop, so the list is still the old one here.
    assert_eq!(p.count, None, "list of {everything} shown");
    app.wait_idle(Duration::from_secs(10));
    assert!(
        matches!(&app.overlay, Overlay::Prompt(p) if p.count == Some(4)),
        "{:?}",
        app.overlay
    );
    let screen = render(&mut app, 80, 24);
    let text = format!("{:?}", screen.backend().buffer());
    assert!(text.contains("mark 4 stories read?"), "{text}");
    // A query that turns out to match nothing closes the prompt when its answer comes.
    press(&mut app, code(KeyCode::Esc));
    press(&mut app, key('C'));
    press(&mut app, key('/'));
    typed(&mut app, "country:AQ");
    app.on_key(code(KeyCode::Enter));
    app.on_key(key('A'));
    assert!(matches!(&app.overlay, Overlay::Prompt(p) if p.count.is_none()));
    app.wait_idle(Duration::from_secs(10));
    assert!(matches!(app.overlay, Overlay::None), "{:?}", app.overlay);
    assert!(app.message.clone().unwrap().0.contains("nothing to mark"));
}

#[test]
fn a_data_folder_error_is_named_once() {
    let err = super::TuiError::from(crate::workspace::WorkspaceError::DataDir {
        path: "/proc/nope".into(),
        source: std::io::Error::from(std::io::ErrorKind::NotFound),
    });
    let text = err.to_string();
    assert_eq!(text.matches("data folder").count(), 1, "{text}");
    assert!(text.contains("/proc/nope"), "{text}");
}

#[test]
fn keys_held_for_a_search_the_dead_worker_never_answers_act_on_the_list_found_here() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_in(dir.path(), None);
    // The search worker takes the search below, then dies without answering it.
    assert!(
        app.jobs
            .send(Request::PanicAfter(Duration::from_millis(300)))
    );
    press(&mut app, key('/'));
    typed(&mut app, "Geneva");
    app.on_key(code(KeyCode::Enter));
    app.on_key(code(KeyCode::Enter));
    assert_eq!(app.held_keys(), 1);
    app.wait_idle(Duration::from_secs(10));
    assert_eq!(app.held_keys(), 0);
    let Screen::Reader(r) = &app.screen else {
        panic!("no story opened: {:?}", app.message)
    };
    assert_eq!(r.story.title, "Tariff talks resume in Geneva");
    let (message, _) = app.message.clone().unwrap();
    assert!(
        message.contains("search worker stopped: told to stop"),
        "{message}"
    );
    // Searching goes on, on the interface's own thread.
    press(&mut app, key('q'));
    press(&mut app, key('/'));
    app.on_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    typed(&mut app, "lithography");
    app.on_key(code(KeyCode::Enter));
    app.wait_idle(Duration::from_secs(10));
    assert_eq!(app.list.total, 1);
}

#[test]
fn esc_on_a_searched_list_goes_back_to_the_whole_list_never_quits_and_q_quits() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_in(dir.path(), None);
    let all = app.list.total;
    press(&mut app, key('/'));
    typed(&mut app, "Geneva");
    press(&mut app, code(KeyCode::Enter));
    assert_eq!(app.list.total, 1);
    press(&mut app, code(KeyCode::Esc));
    assert!(!app.quit);
    assert_eq!((app.query.as_str(), app.list.total), ("", all));
    assert!(app.message.clone().unwrap().0.contains("q quits"));
    // On the whole list Esc never quits (pressed out of habit after a prompt); it says how.
    press(&mut app, code(KeyCode::Esc));
    assert!(!app.quit);
    assert_eq!(
        app.message.clone().unwrap().0,
        "this is the whole list; q quits"
    );

    // `q` quits from a searched list at once.
    let mut app = app_in(dir.path(), None);
    press(&mut app, key('/'));
    typed(&mut app, "Geneva");
    press(&mut app, code(KeyCode::Enter));
    press(&mut app, key('q'));
    assert!(app.quit);
}

#[test]
fn a_source_with_its_own_refresh_is_synced_on_its_own_interval() {
    let dir = tempfile::tempdir().unwrap();
    let feed = |name: &str, title: &str| {
        format!(
            r#"<?xml version="1.0"?><rss version="2.0"><channel><title>{name}</title><link>https://{name}.test/</link><description>d</description>
<item><title>{title}</title><link>https://{name}.test/a</link><guid>{name}-a</guid><pubDate>Wed, 19 Mar 2025 08:00:00 GMT</pubDate><description>Export controls.</description></item>
</channel></rss>"#
        )
    };
    std::fs::write(dir.path().join("fast.xml"), feed("fast", "Fast feed story")).unwrap();
    std::fs::write(dir.path().join("slow.xml"), feed("slow", "Slow feed story")).unwrap();
    // No global interval: only the source with its own is synced automatically.
    let cfg = Config::parse(
        &dir.path().join("feeds.toml"),
        "[[source]]\nname = \"Fast\"\npath = \"fast.xml\"\nrefresh_minutes = 1\n\
         [[source]]\nname = \"Slow\"\npath = \"slow.xml\"\n",
    )
    .unwrap();
    let mut app = App::new(
        workspace(dir.path(), Some(cfg)),
        AppOptions {
            now: Some(now()),
            auto_sync: true,
            ..Default::default()
        },
    )
    .unwrap();
    app.wait_idle(Duration::from_secs(10));
    let start = Instant::now();
    app.tick(start + Duration::from_secs(30));
    assert!(!app.jobs.sync_running(), "not due yet");
    app.tick(start + Duration::from_secs(61));
    assert!(app.jobs.sync_running());
    assert_eq!(app.sync.as_ref().map(|s| s.total), Some(1));
    app.wait_idle(Duration::from_secs(20));
    let all = titles(&app);
    assert!(all.iter().any(|t| t == "Fast feed story"), "{all:?}");
    assert!(!all.iter().any(|t| t == "Slow feed story"), "{all:?}");
    // Its interval starts again from there.
    app.tick(Instant::now() + Duration::from_secs(30));
    assert!(!app.jobs.sync_running());
}

#[test]
fn the_cursor_stays_on_its_story_when_a_sync_adds_stories_above_it() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.xml");
    std::fs::write(
        &feed,
        r#"<?xml version="1.0"?><rss version="2.0"><channel><title>Local</title><link>https://local.test/</link><description>d</description>
<item><title>Newest of all: Korea joins the chip alliance</title><link>https://local.test/a</link><guid>a</guid><pubDate>Sat, 29 Mar 2025 08:00:00 GMT</pubDate><description>Seoul agrees export controls.</description></item>
<item><title>Second newest: Japan widens its list</title><link>https://local.test/b</link><guid>b</guid><pubDate>Fri, 28 Mar 2025 08:00:00 GMT</pubDate><description>Tokyo adds items.</description></item>
</channel></rss>"#,
    )
    .unwrap();
    let cfg = Config::parse(
        &dir.path().join("feeds.toml"),
        "[[source]]\nname = \"Local\"\npath = \"feed.xml\"\n",
    )
    .unwrap();
    let mut app = app_in(dir.path(), Some(cfg));
    render(&mut app, 120, 30);
    for _ in 0..3 {
        app.on_key(key('j'));
    }
    let before = app.selected_id().unwrap();
    let (row, top) = (app.list.selected, app.list.top);
    app.on_key(key('r'));
    app.wait_idle(Duration::from_secs(20));
    assert_eq!(app.list.total, 10, "{:?}", app.message);
    assert_eq!(
        app.selected_id(),
        Some(before),
        "the cursor moved to another story"
    );
    assert_eq!(app.list.selected, row + 2);
    // The view stays, so the new stories are seen at the top.
    assert_eq!(app.list.top, top);

    // Reading a story while a sync lands: back in the list, the cursor is on that story.
    std::fs::write(
        &feed,
        std::fs::read_to_string(&feed).unwrap().replace(
            "<item>",
            "<item><title>Even newer</title><link>https://local.test/c</link><guid>c</guid><pubDate>Sun, 30 Mar 2025 08:00:00 GMT</pubDate><description>x</description></item><item>",
        ),
    )
    .unwrap();
    app.on_key(code(KeyCode::Enter));
    app.on_key(key('r'));
    app.wait_idle(Duration::from_secs(20));
    app.on_key(key('q'));
    assert_eq!(app.list.total, 11, "{:?}", app.message);
    assert_eq!(app.selected_id(), Some(before));
}

#[test]
fn the_sidebar_cursor_stays_on_the_entry_picked_and_leaves_no_blank_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_in(dir.path(), None);
    render(&mut app, 100, 16);
    press(&mut app, code(KeyCode::Tab));
    let picked = |app: &App| app.sidebar_items().get(app.sidebar_selected).cloned();
    // The last country by count: picking it re-orders the countries (it comes first).
    let items = app.sidebar_items();
    let last_country = items
        .iter()
        .rposition(|i| matches!(i, SideItem::Facet(FacetField::Country, ..)))
        .unwrap();
    let SideItem::Facet(_, value, _) = items[last_country].clone() else {
        unreachable!()
    };
    for _ in 0..last_country {
        press(&mut app, key('j'));
    }
    press(&mut app, code(KeyCode::Enter));
    app.wait_idle(Duration::from_secs(10));
    render(&mut app, 100, 16);
    assert!(
        matches!(picked(&app), Some(SideItem::Facet(FacetField::Country, v, _)) if v == value),
        "{:?}",
        picked(&app)
    );
    // Enter again removes the same filter.
    press(&mut app, code(KeyCode::Enter));
    app.wait_idle(Duration::from_secs(10));
    assert!(app.filters.is_empty());
    assert!(matches!(picked(&app), Some(SideItem::Facet(FacetField::Country, v, _)) if v == value));

    // The last entry of all: filtering on it shortens the sidebar; the view shows no blank
    // rows while entries are hidden above.
    press(&mut app, key('G'));
    let last = picked(&app);
    press(&mut app, code(KeyCode::Enter));
    app.wait_idle(Duration::from_secs(10));
    render(&mut app, 100, 16);
    let n = app.sidebar_items().len();
    assert!(
        app.sidebar_top + app.sidebar_height <= n.max(app.sidebar_height),
        "top {} height {} entries {n}",
        app.sidebar_top,
        app.sidebar_height
    );
    let same = |a: &Option<SideItem>, b: &Option<SideItem>| match (a, b) {
        (Some(SideItem::Facet(f, v, _)), Some(SideItem::Facet(g, w, _))) => f == g && v == w,
        _ => false,
    };
    assert!(same(&picked(&app), &last), "{:?} vs {last:?}", picked(&app));
}

#[test]
fn without_colour_the_cursor_still_shows() {
    use ratatui::style::{Color, Modifier};
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_in(dir.path(), None);
    app.mono = true;
    press(&mut app, key('j'));
    let t = render(&mut app, 100, 20);
    let buf = t.backend().buffer();
    assert!(
        buf.content
            .iter()
            .all(|c| c.fg == Color::Reset && c.bg == Color::Reset),
        "a colour was drawn"
    );
    // The list's cursor row is drawn in reverse video.
    let reversed_rows: std::collections::BTreeSet<u16> = (0..buf.area.height)
        .filter(|&y| {
            (40..buf.area.width).any(|x| buf[(x, y)].modifier.contains(Modifier::REVERSED))
        })
        .collect();
    assert_eq!(reversed_rows.len(), 1, "{reversed_rows:?}");
}

#[test]
fn titles_get_the_width_sidebar_hides_and_shared_source_prefixes_go() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::parse(
        &dir.path().join("feeds.toml"),
        "[[source]]\nname = \"Sample: RegWatch\"\npath = \"a.xml\"\n\
         [[source]]\nname = \"Sample: ChipWire\"\npath = \"b.xml\"\n\
         [[source]]\nname = \"Federal Register: BIS\"\npath = \"c.xml\"\n",
    )
    .unwrap();
    let mut app = app_in(dir.path(), Some(cfg));
    assert_eq!(app.source_label("Sample: RegWatch"), "RegWatch");
    assert_eq!(app.source_label("Sample: ChipWire"), "ChipWire");
    assert_eq!(
        app.source_label("Federal Register: BIS"),
        "Federal Register: BIS"
    );
    assert_eq!(app.source_label("TQW_TECHNOLOGY"), "TQW_TECHNOLOGY");

    let longest_title_run = |screen: &str| {
        screen
            .lines()
            .filter_map(|l| {
                l.find("Commerce adds")
                    .map(|i| l[i..].split("…").next().unwrap().chars().count())
            })
            .max()
            .unwrap_or(0)
    };
    let with_sidebar = screen_text(&mut app, 80, 24);
    assert!(with_sidebar.contains("Filters"), "{with_sidebar}");
    press(&mut app, key('B'));
    let without = screen_text(&mut app, 80, 24);
    assert!(!without.contains("Filters"), "{without}");
    assert!(
        longest_title_run(&without) >= longest_title_run(&with_sidebar) + 12,
        "{with_sidebar}\n{without}"
    );
    // Going to the sidebar shows it again.
    press(&mut app, code(KeyCode::Tab));
    assert!(!app.sidebar_hidden);
    assert_eq!(app.focus, Focus::Sidebar);
}

#[test]
fn the_list_is_exported_from_the_command_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_in(dir.path(), None);
    let command = |app: &mut App, line: &str| {
        press(app, key(':'));
        typed(app, line);
        press(app, code(KeyCode::Enter));
    };
    // The list as filtered: country CN, searched for "export".
    app.filters.push((FacetField::Country, "cn".into()));
    app.refresh(false);
    app.wait_idle(Duration::from_secs(10));
    let expected = app.list.total;
    assert!(expected >= 2, "{expected}");
    let csv = dir.path().join("brief.csv");
    command(&mut app, &format!("export {}", csv.display()));
    assert!(matches!(app.overlay, Overlay::None), "{:?}", app.overlay);
    assert_eq!(
        app.message.clone().unwrap().0,
        format!("exported {expected} stories to {}", csv.display())
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().count(), expected + 1, "{text}");
    assert!(text.lines().next().unwrap().contains("title"));

    // The word names the format; a file that is not regular is refused.
    let jsonl = dir.path().join("brief.out");
    command(&mut app, &format!("export jsonl {}", jsonl.display()));
    let text = std::fs::read_to_string(&jsonl).unwrap();
    assert_eq!(text.lines().count(), expected);
    assert!(text.lines().all(|l| l.starts_with('{')));
    command(&mut app, &format!("export {}", dir.path().display()));
    assert!(
        matches!(&app.overlay, Overlay::Prompt(p) if p.error.as_deref().unwrap_or("").contains("not a regular file")),
        "{:?}",
        app.overlay
    );
    press(&mut app, code(KeyCode::Esc));
    command(&mut app, "export");
    assert!(
        matches!(&app.overlay, Overlay::Prompt(p) if p.error.as_deref() == Some("export [csv|jsonl] FILE"))
    );
}

#[test]
fn the_reader_steps_through_the_list_and_an_empty_search_is_no_watch() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_in(dir.path(), None);
    render(&mut app, 100, 30);
    press(&mut app, code(KeyCode::Enter));
    let first = app.selected_id();
    press(&mut app, key('K'));
    assert_eq!(
        app.message.clone().unwrap().0,
        "this is the first story of the list"
    );
    press(&mut app, key('J'));
    assert!(matches!(app.screen, Screen::Reader(_)));
    assert_ne!(app.selected_id(), first);
    assert_eq!(app.list.selected, 1);
    press(&mut app, key('K'));
    assert_eq!(app.selected_id(), first);
    // At the end of a short story, the page key opens the next one.
    render(&mut app, 100, 30);
    press(&mut app, key(' '));
    assert_eq!(app.list.selected, 1);
    press(&mut app, key('G'));
    press(&mut app, key('q'));
    press(&mut app, key('G'));
    press(&mut app, code(KeyCode::Enter));
    press(&mut app, key('J'));
    assert_eq!(
        app.message.clone().unwrap().0,
        "this is the last story of the list"
    );
    press(&mut app, key('q'));

    // `w` on the whole list: nothing to save.
    press(&mut app, key('w'));
    assert!(matches!(app.overlay, Overlay::None));
    assert!(
        app.message
            .clone()
            .unwrap()
            .0
            .contains("search (/) or filter first")
    );
}

#[test]
fn searches_are_recalled_with_up_and_down_across_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_in(dir.path(), None);
    for q in ["gallium", "lithography", "gallium"] {
        press(&mut app, key('/'));
        app.on_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
        typed(&mut app, q);
        press(&mut app, code(KeyCode::Enter));
    }
    drop(app);
    let mut app = app_in(dir.path(), None);
    press(&mut app, key('/'));
    let input = |app: &App| match &app.overlay {
        Overlay::Prompt(p) => p.input.clone(),
        other => panic!("{other:?}"),
    };
    // Down with nothing recalled keeps the line.
    typed(&mut app, "chi");
    press(&mut app, code(KeyCode::Down));
    assert_eq!(input(&app), "chi");
    // Newest first, each once; the list follows.
    press(&mut app, code(KeyCode::Up));
    assert_eq!(input(&app), "gallium");
    press(&mut app, code(KeyCode::Up));
    assert_eq!(input(&app), "lithography");
    press(&mut app, code(KeyCode::Up));
    assert_eq!(input(&app), "lithography");
    app.wait_idle(Duration::from_secs(10));
    assert_eq!(app.list.total, 1);
    press(&mut app, code(KeyCode::Down));
    assert_eq!(input(&app), "gallium");
    press(&mut app, code(KeyCode::Down));
    assert_eq!(input(&app), "");
}

#[test]
fn an_echo_story_in_several_areas_shows_the_area_filtered_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_in(dir.path(), None);
    let row = super::app::RowInfo {
        title: "t".into(),
        date: now(),
        feed: false,
        echo: true,
        source: "FSX_BOT".into(),
        areas: vec!["FSX_BOT".into(), "TQW_TECHNOLOGY".into()],
        read: false,
        starred: false,
        tags: vec![],
    };
    assert_eq!(app.row_source(&row), "FSX_BOT");
    app.filters
        .push((FacetField::Area, "tqw_technology".into()));
    assert_eq!(app.row_source(&row), "TQW_TECHNOLOGY");
}

// ---- opening links: numbers past 9, terminal browsers ---------------------------------------

/// The fixture workspace plus "Reading list on chip controls", a feed story with `links`
/// numbered links (`https://ref.test/N`), in an interface whose opener starts nothing.
fn app_with_links(dir: &std::path::Path, links: usize, browser: &[&str]) -> App {
    let mut ws = workspace(dir, None);
    let src = ws
        .store
        .ensure_source("Reading lists", "https://ref.test/feed.rss")
        .unwrap();
    let mut s = ParsedStory::new(StoryKind::Feed, "Reading list on chip controls");
    s.guid = Some("reading-list".into());
    s.body = "Sources for the brief.".into();
    s.link = Some("https://ref.test/".into());
    s.links = (1..=links)
        .map(|n| format!("https://ref.test/{n}"))
        .collect();
    s.published = Some(at(19, 9));
    ws.store
        .ingest_batch(
            src,
            &[],
            &[Incoming {
                story: s,
                auto_tags: vec![],
            }],
            at(19, 10),
        )
        .unwrap();
    ws.flush_index().unwrap();
    let mut app = App::new(
        ws,
        AppOptions {
            now: Some(now()),
            ..Default::default()
        },
    )
    .unwrap();
    app.wait_idle(Duration::from_secs(10));
    app.opener = super::open::Opener::dry_run(
        crate::config::BrowserSetting {
            command: Some(browser.iter().map(|w| w.to_string()).collect()),
            terminal: None,
        },
        super::open::Env::default(),
    );
    press(&mut app, key('/'));
    typed(&mut app, "\"Reading list\"");
    press(&mut app, code(KeyCode::Enter));
    press(&mut app, code(KeyCode::Enter));
    let Screen::Reader(r) = &app.screen else {
        panic!("reader not open: {:?}", app.message)
    };
    assert_eq!(r.story.links.len(), links);
    app
}

fn opened(app: &App) -> Vec<String> {
    app.opener
        .launched()
        .iter()
        .map(|l| l.argv.join(" "))
        .collect()
}

fn message(app: &App) -> String {
    app.message.clone().map(|m| m.0).unwrap_or_default()
}

#[test]
fn link_numbers_past_nine_are_typed_at_a_prompt_and_opened_by_enter() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_with_links(dir.path(), 40, &["firefox"]);
    // `25`: one link, 25, not 2 and then 5.
    press(&mut app, key('2'));
    assert_eq!(
        message(&app),
        "open link: 2_ (1-40, Enter opens, Esc cancels)"
    );
    press(&mut app, key('5'));
    assert!(
        message(&app).starts_with("open link: 25_"),
        "{:?}",
        app.message
    );
    assert!(opened(&app).is_empty(), "{:?}", opened(&app));
    // The prompt waits: its message does not fade like a confirmation.
    app.tick(Instant::now() + Duration::from_secs(60));
    assert!(message(&app).starts_with("open link: 25_"));
    press(&mut app, code(KeyCode::Enter));
    assert_eq!(opened(&app), ["firefox https://ref.test/25"]);
    assert_eq!(message(&app), "opened with firefox: https://ref.test/25");

    // A single digit waits too when the story has 10 links or more; Enter opens it.
    press(&mut app, key('5'));
    press(&mut app, code(KeyCode::Enter));
    assert_eq!(opened(&app)[1], "firefox https://ref.test/5");

    // Out of range: said at the prompt and on Enter; nothing opens.
    press(&mut app, key('5'));
    press(&mut app, key('0'));
    assert!(
        message(&app).contains("no such link: 1-40"),
        "{:?}",
        app.message
    );
    press(&mut app, code(KeyCode::Enter));
    assert_eq!(message(&app), "no link [50]: this story has links 1-40");
    assert_eq!(opened(&app).len(), 2);

    // Backspace edits, Esc cancels and stays in the reader.
    press(&mut app, key('1'));
    press(&mut app, key('2'));
    press(&mut app, code(KeyCode::Backspace));
    assert!(message(&app).starts_with("open link: 1_"));
    press(&mut app, code(KeyCode::Esc));
    assert!(app.message.is_none());
    assert!(matches!(app.screen, Screen::Reader(_)));
    // After Esc, digits start a new number.
    press(&mut app, key('4'));
    press(&mut app, key('0'));
    press(&mut app, code(KeyCode::Enter));
    assert_eq!(opened(&app)[2], "firefox https://ref.test/40");

    // Another key closes the prompt and does what it always does: `q` leaves the reader.
    press(&mut app, key('3'));
    press(&mut app, key('q'));
    assert!(matches!(app.screen, Screen::List));
    assert!(app.message.is_none());
    assert_eq!(opened(&app).len(), 3);
}

#[test]
fn a_prompt_replaced_on_the_status_line_no_longer_takes_keys() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_with_links(dir.path(), 12, &["firefox"]);
    press(&mut app, key('1'));
    // What a finishing sync does: its summary takes the status line.
    app.message = Some(("sync: 3 new".into(), super::app::Level::Info));
    // Enter then acts as in the reader without a prompt (nothing), and `2` starts anew.
    press(&mut app, code(KeyCode::Enter));
    assert!(opened(&app).is_empty());
    press(&mut app, key('2'));
    assert!(message(&app).starts_with("open link: 2_"));
    press(&mut app, code(KeyCode::Enter));
    assert_eq!(opened(&app), ["firefox https://ref.test/2"]);
}

#[test]
fn with_nine_links_or_fewer_a_digit_opens_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_with_links(dir.path(), 3, &["firefox", "--new-tab"]);
    press(&mut app, key('2'));
    assert_eq!(opened(&app), ["firefox --new-tab https://ref.test/2"]);
    press(&mut app, key('7'));
    assert_eq!(message(&app), "no link [7]: this story has links 1-3");
    assert_eq!(opened(&app).len(), 1);
}

#[test]
fn a_text_browser_is_left_to_the_event_loop_and_its_end_is_reported() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_with_links(dir.path(), 3, &["w3m", "-o", "x=1", "%u"]);
    press(&mut app, key('o'));
    assert_eq!(message(&app), "opening in w3m…");
    assert!(opened(&app).is_empty(), "not started in the background");
    let launch = app.opener.take_terminal().expect("waits for the terminal");
    assert_eq!(launch.argv, ["w3m", "-o", "x=1", "https://ref.test/"]);
    assert!(launch.terminal);
    app.browser_ended(&launch, Ok(std::process::ExitStatus::from_raw(0)));
    assert_eq!(message(&app), "back from w3m: https://ref.test/");
    // A browser that fails says so, with the link to copy.
    press(&mut app, key('3'));
    let launch = app.opener.take_terminal().unwrap();
    assert_eq!(launch.url, "https://ref.test/3");
    app.browser_ended(&launch, Ok(std::process::ExitStatus::from_raw(1 << 8)));
    let (m, level) = app.message.clone().unwrap();
    assert_eq!(level, super::app::Level::Error);
    assert_eq!(m, "w3m failed (exit status: 1): https://ref.test/3");
}

#[test]
fn without_any_browser_the_message_shows_the_link() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_with_links(dir.path(), 3, &["firefox"]);
    // Over SSH: no setting, no $BROWSER, no display, nothing on PATH.
    let empty = tempfile::tempdir().unwrap();
    app.opener = super::open::Opener::dry_run(
        crate::config::BrowserSetting::default(),
        super::open::Env {
            path: Some(empty.path().as_os_str().to_owned()),
            ..Default::default()
        },
    );
    press(&mut app, key('1'));
    let (m, level) = app.message.clone().unwrap();
    assert_eq!(level, super::app::Level::Error);
    // The link first, where the status line keeps it when it cuts the rest.
    assert!(m.starts_with("no browser: https://ref.test/1 ("), "{m}");
    assert!(app.opener.take_terminal().is_none());
}

#[test]
fn the_reader_wraps_text_at_a_readable_width_on_wide_terminals() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_in(dir.path(), None);
    // The first story's body is a 114-character sentence.
    press(&mut app, code(KeyCode::Enter));
    let screen = screen_text(&mut app, 240, 40);
    let line = screen
        .lines()
        .find(|l| l.contains("The Bureau of Industry"))
        .unwrap_or_else(|| panic!("{screen}"));
    let start = line.find("The Bureau").unwrap();
    let text = line[start..].trim_end_matches([' ', '│', '"']);
    assert!(text.chars().count() <= 100, "{text:?}");
    assert!(screen.contains("1/8 · story"), "{screen}");
}

#[test]
fn the_tag_editor_says_what_went_wrong_under_the_input_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_in(dir.path(), None);
    press(&mut app, key('t'));
    typed(&mut app, "+country:XX");
    press(&mut app, code(KeyCode::Enter));
    let screen = screen_text(&mut app, 80, 24);
    let lines: Vec<&str> = screen.lines().collect();
    let input = lines
        .iter()
        .position(|l| l.contains("> +country:XX"))
        .unwrap_or_else(|| panic!("{screen}"));
    assert!(
        lines[input + 1].contains("unknown country code \"XX\""),
        "{screen}"
    );
    // Wrapped, not cut: the end of the message is on screen too.
    assert!(screen.contains("alpha-2"), "{screen}");
}

//! Interface speed on a large store (issue 5): first frame after start, redraw per keystroke
//! (move, search as you type, facet select) and memory, with 1,000,000 stories.
//!
//! The store and index are built once and cached under `target/bench-data/` (delete that
//! folder to rebuild; `ECHOWATCH_BENCH_STORIES=N` for another size). The measurement runs in
//! a fresh child process so its RSS is not the builder's. Frames are drawn to ratatui's
//! TestBackend at 120×40: the cost measured is ours (index, store, layout), not a terminal's.
//!
//!     cargo bench --bench tui
//!
//! `ECHOWATCH_BENCH_COLD=1` first drops the page cache (needs root: writes
//! /proc/sys/vm/drop_caches), so the start is measured from a cold disk, as after the machine
//! reclaimed the pages overnight.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use echowatch::config::Config;
use echowatch::index::{FacetField, IndexDoc, SearchIndex};
use echowatch::model::{AutoTag, ParsedStory, StoryKind, Tag};
use echowatch::store::{Incoming, Store};
use echowatch::tui::app::{App, AppOptions, DEBOUNCE, SideItem};
use echowatch::tui::components;
use echowatch::workspace::Workspace;

const VERSION: &str = "v4";

const WORDS: &[&str] = &[
    "export",
    "controls",
    "semiconductor",
    "lithography",
    "gallium",
    "germanium",
    "sanctions",
    "tariff",
    "entity",
    "list",
    "chips",
    "model",
    "regulation",
    "data",
    "security",
    "investment",
    "screening",
    "minerals",
    "rare",
    "earths",
    "licence",
    "ban",
    "Beijing",
    "Washington",
    "Brussels",
    "Tokyo",
    "Seoul",
    "Hague",
    "Commerce",
    "ministry",
    "rule",
    "review",
    "probe",
    "antitrust",
    "cloud",
    "compute",
    "open",
    "weights",
    "smuggling",
    "customs",
    "supply",
    "chain",
    "foundry",
    "memory",
    "equipment",
    "subsidy",
    "talks",
    "agreement",
    "retaliation",
    "quota",
    "industry",
    "policy",
    "market",
    "firms",
    "announce",
    "new",
    "limits",
    "on",
    "the",
    "of",
    "and",
    "for",
    "after",
    "with",
];
const COUNTRIES: &[&str] = &[
    "US", "CN", "NL", "JP", "KR", "DE", "EU", "TW", "GB", "FR", "IN", "RU",
];
const POLICIES: &[&str] = &[
    "export-controls",
    "entity-list",
    "ai-chip-controls",
    "equipment-controls",
    "sanctions",
    "tariffs",
    "trade-negotiations",
    "investment-screening",
    "data-security",
    "foreign-tech-bans",
    "ai-regulation",
    "antitrust",
    "critical-minerals",
    "enforcement-smuggling",
    "compute-access",
    "open-models",
    "espionage-cyber",
    "industrial-policy",
];

/// splitmix64: deterministic data without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// Skewed pick: small indexes far more often (a few countries dominate the news).
    fn skewed(&mut self, n: usize) -> usize {
        let a = self.below(n);
        let b = self.below(n);
        a.min(b)
    }
}

fn words(rng: &mut Rng, n: usize) -> String {
    (0..n)
        .map(|_| WORDS[rng.below(WORDS.len())])
        .collect::<Vec<_>>()
        .join(" ")
}

fn data_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target
        .join("bench-data")
        .join(format!("tui-{}-{VERSION}", stories()))
}

fn stories() -> usize {
    std::env::var("ECHOWATCH_BENCH_STORIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000)
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2022, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// Fill a store and its index with `n` generated stories (store ids are 1..=n in order).
fn build(dir: &Path, n: usize) {
    let t0 = Instant::now();
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let mut store = Store::open(&dir.join("store.sqlite")).unwrap();
    let (index, _) = SearchIndex::open_or_create(&dir.join("tantivy")).unwrap();
    let sources: Vec<_> = (0..40)
        .map(|i| {
            let name = format!("Source {i:02}");
            (
                name.clone(),
                store
                    .ensure_source(&name, &format!("https://feeds{i}.example/rss"))
                    .unwrap(),
            )
        })
        .collect();
    let echo = store
        .ensure_source("tqwNet inbound", "/var/spool/binkd/inbound")
        .unwrap();
    let areas = ["TQW_TECHNOLOGY", "TQW_POLICY", "FIDONEWS", "TQW_ASIA"];
    let mut rng = Rng(42);
    let mut writer = index.writer(Duration::from_secs(10)).unwrap();
    let span = 3 * 365 * 86_400;
    let mut batch: Vec<(usize, Incoming)> = Vec::new();
    let mut id = 0i64;
    let mut flush = |batch: &mut Vec<(usize, Incoming)>, store: &mut Store, id: &mut i64| {
        // One store transaction per source, as sync does.
        batch.sort_by_key(|(s, _)| *s);
        let mut i = 0;
        while i < batch.len() {
            let src = batch[i].0;
            let j = batch[i..]
                .iter()
                .position(|(s, _)| *s != src)
                .map(|p| i + p)
                .unwrap_or(batch.len());
            let items: Vec<Incoming> = batch[i..j].iter().map(|(_, inc)| inc.clone()).collect();
            let source_id = if src == usize::MAX {
                echo
            } else {
                sources[src].1
            };
            let out = store.ingest_batch(source_id, &[], &items, start()).unwrap();
            assert_eq!(out.new, items.len());
            for inc in &items {
                *id += 1;
                let s = &inc.story;
                let tags = |kind| {
                    inc.auto_tags
                        .iter()
                        .filter(|t| t.tag.kind == kind)
                        .map(|t| t.tag.value.clone())
                        .collect()
                };
                let name = if src == usize::MAX {
                    "tqwNet inbound".to_string()
                } else {
                    sources[src].0.clone()
                };
                writer
                    .upsert(&IndexDoc {
                        id: *id,
                        title: s.title.clone(),
                        body: s.body.clone(),
                        published: s.published.unwrap_or_default(),
                        first_seen: s.published.unwrap_or_default(),
                        link: s.link.clone(),
                        author: s.author.clone(),
                        sources: vec![name],
                        kinds: vec![s.kind],
                        areas: s.area.iter().cloned().collect(),
                        countries: tags(echowatch::model::TagKind::Country),
                        policies: tags(echowatch::model::TagKind::Policy),
                        tags: tags(echowatch::model::TagKind::Free),
                    })
                    .unwrap();
            }
            i = j;
        }
        batch.clear();
    };
    for i in 0..n {
        let echomail = rng.below(5) == 0;
        let mut s = ParsedStory::new(
            if echomail {
                StoryKind::Echomail
            } else {
                StoryKind::Feed
            },
            {
                let k = 6 + rng.below(6);
                words(&mut rng, k)
            },
        );
        s.guid = Some(format!("g{i}"));
        s.link = Some(format!("https://news.example/{i}"));
        s.body = {
            let k = 40 + rng.below(60);
            words(&mut rng, k)
        };
        s.published = Some(start() + chrono::Duration::seconds((rng.next() % span) as i64));
        s.author = Some("Desk".into());
        if echomail {
            s.area = Some(areas[rng.below(areas.len())].into());
        }
        let mut tags = Vec::new();
        for _ in 0..1 + rng.below(2) {
            let t = Tag::country(COUNTRIES[rng.skewed(COUNTRIES.len())]);
            if !tags.iter().any(|a: &AutoTag| a.tag == t) {
                tags.push(AutoTag {
                    tag: t,
                    score: 2.0,
                    evidence: vec![],
                });
            }
        }
        for _ in 0..rng.below(3) {
            let t = Tag::policy(POLICIES[rng.skewed(POLICIES.len())]);
            if !tags.iter().any(|a: &AutoTag| a.tag == t) {
                tags.push(AutoTag {
                    tag: t,
                    score: 2.0,
                    evidence: vec![],
                });
            }
        }
        let src = if echomail {
            usize::MAX
        } else {
            rng.skewed(sources.len())
        };
        batch.push((
            src,
            Incoming {
                story: s,
                auto_tags: tags,
            },
        ));
        if batch.len() == 20_000 {
            flush(&mut batch, &mut store, &mut id);
            eprint!(
                "\rbuilding: {} stories, {:.0}s",
                i + 1,
                t0.elapsed().as_secs_f64()
            );
        }
    }
    flush(&mut batch, &mut store, &mut id);
    writer.commit().unwrap();
    // Everything is indexed: empty the store's queue so opening does not index it again.
    let pending = store.pending_index().unwrap();
    store.clear_pending(&pending).unwrap();
    std::fs::write(dir.join("complete"), n.to_string()).unwrap();
    eprintln!(
        "\rbuilt {n} stories in {:.0}s                ",
        t0.elapsed().as_secs_f64()
    );
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn code(k: KeyCode) -> KeyEvent {
    KeyEvent::new(k, KeyModifiers::NONE)
}

fn frame(app: &mut App, term: &mut Terminal<TestBackend>) {
    term.draw(|f| components::draw(app, f)).unwrap();
}

struct Stats(Vec<Duration>);
impl Stats {
    fn line(&mut self, what: &str) -> String {
        self.0.sort();
        let p =
            |q: f64| self.0[((self.0.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
        format!(
            "{what:<34} n={:<4} median {:>7.2} ms  p95 {:>7.2} ms  max {:>7.2} ms",
            self.0.len(),
            p(0.5),
            p(0.95),
            p(1.0)
        )
    }
}

fn rss() -> (u64, u64, u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = |k: &str| {
        status
            .lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (
        kb("VmRSS:") / 1024,
        kb("VmHWM:") / 1024,
        kb("RssAnon:") / 1024,
        kb("RssFile:") / 1024,
    )
}

/// Resident pages of mapped files, summed per kind (tantivy file extension, or `sqlite`), so a
/// memory figure says which part of the index the interface actually touches.
fn mapped_by_kind() -> String {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
    let mut sums: std::collections::BTreeMap<String, u64> = Default::default();
    let mut current: Option<String> = None;
    for line in smaps.lines() {
        let mut parts = line.split_whitespace();
        let first = parts.next().unwrap_or("");
        if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            current = line.split_whitespace().nth(5).map(|path| {
                let name = path.rsplit('/').next().unwrap_or(path);
                if name.contains("sqlite") {
                    "sqlite".to_string()
                } else if let Some((_, ext)) = name.split_once('.') {
                    ext.rsplit('.').next().unwrap_or(ext).to_string()
                } else {
                    "other".to_string()
                }
            });
        } else if first == "Rss:"
            && let (Some(kind), Some(kb)) =
                (&current, parts.next().and_then(|v| v.parse::<u64>().ok()))
        {
            *sums.entry(kind.clone()).or_default() += kb;
        }
    }
    sums.into_iter()
        .filter(|(_, kb)| *kb >= 1024)
        .map(|(k, kb)| format!("{k} {} MB", kb / 1024))
        .collect::<Vec<_>>()
        .join(", ")
}

fn measure(dir: &Path) {
    let n = stories();
    let config = Config::empty(dir.join("feeds.toml"));
    let (w, h) = (120, 40);

    // First frame: open the data folder, build the app (first page from the index, counts
    // asked of the background worker), draw.
    let t = Instant::now();
    let ws = Workspace::open(config.clone(), dir).unwrap();
    let opened = t.elapsed();
    let mut app = App::new(ws, AppOptions::default()).unwrap();
    let built = t.elapsed();
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    frame(&mut app, &mut term);
    let first = t.elapsed();
    println!(
        "  (workspace open {:.1} ms, first page {:.1} ms, draw {:.1} ms)",
        opened.as_secs_f64() * 1e3,
        (built - opened).as_secs_f64() * 1e3,
        (first - built).as_secs_f64() * 1e3
    );
    println!("stories: {n} (index docs {})", app.ws.index.doc_count());
    println!(
        "{:<34} {:>7.2} ms",
        "first frame (open + page + draw)",
        first.as_secs_f64() * 1e3
    );
    let t = Instant::now();
    app.wait_idle(Duration::from_secs(120));
    println!(
        "{:<34} {:>7.2} ms (background; the sidebar shows … meanwhile)",
        "facet + watch counts arrive",
        t.elapsed().as_secs_f64() * 1e3
    );
    frame(&mut app, &mut term);

    // A second start, now that the OS has the files cached like a daily user would.
    drop(app);
    let t = Instant::now();
    let ws = Workspace::open(config, dir).unwrap();
    let mut app = App::new(ws, AppOptions::default()).unwrap();
    frame(&mut app, &mut term);
    println!(
        "{:<34} {:>7.2} ms",
        "first frame, second start",
        t.elapsed().as_secs_f64() * 1e3
    );
    app.wait_idle(Duration::from_secs(120));

    // One key as the event loop handles it: the key, its redraw (what is timed), then the
    // pause until the next key, during which the loop applies background answers (pages,
    // counts) and draws them. `pace` is the time between keys: 30 ms is a fast key repeat,
    // 80 ms fast typing.
    let mut between = Stats(Vec::new());
    let mut step = |app: &mut App,
                    term: &mut Terminal<TestBackend>,
                    k: KeyEvent,
                    fire: bool,
                    pace: Duration| {
        let t = Instant::now();
        app.on_key(k);
        if fire {
            // Search as you type: the debounced search starts (as if the pause had passed).
            app.tick(Instant::now() + DEBOUNCE);
        }
        frame(app, term);
        let spent = t.elapsed();
        std::thread::sleep(pace.saturating_sub(spent));
        let t2 = Instant::now();
        app.tick(Instant::now());
        frame(app, term);
        between.0.push(t2.elapsed());
        spent
    };
    let settle = |app: &mut App, term: &mut Terminal<TestBackend>| {
        let t = Instant::now();
        app.wait_idle(Duration::from_secs(120));
        frame(app, term);
        t.elapsed()
    };
    let fast = Duration::from_millis(30);
    let typing_pace = Duration::from_millis(80);

    let mut moves = Stats(Vec::new());
    for _ in 0..300 {
        moves
            .0
            .push(step(&mut app, &mut term, key('j'), false, fast));
    }
    for _ in 0..40 {
        moves.0.push(step(
            &mut app,
            &mut term,
            code(KeyCode::PageDown),
            false,
            fast,
        ));
    }
    for _ in 0..40 {
        moves.0.push(step(
            &mut app,
            &mut term,
            code(KeyCode::PageUp),
            false,
            fast,
        ));
    }
    println!("{}", moves.line("move (j ×300, PgDn/PgUp ×40, 30 ms)"));
    settle(&mut app, &mut term);

    let mut typing = Stats(Vec::new());
    let mut results = Stats(Vec::new());
    for q in [
        "export controls",
        "gallium",
        "country:cn lithography",
        "sanctions OR tariff",
    ] {
        typing
            .0
            .push(step(&mut app, &mut term, key('/'), false, typing_pace));
        for _ in 0..40 {
            app.on_key(code(KeyCode::Backspace));
        }
        for c in q.chars() {
            typing
                .0
                .push(step(&mut app, &mut term, key(c), true, typing_pace));
        }
        results.0.push(settle(&mut app, &mut term));
        typing.0.push(step(
            &mut app,
            &mut term,
            code(KeyCode::Enter),
            false,
            typing_pace,
        ));
    }
    println!("{}", typing.line("search as you type (per key)"));
    println!("{}", results.line("  last key → its results drawn"));

    let mut facets = Stats(Vec::new());
    let mut counts = Stats(Vec::new());
    app.on_key(key('C'));
    settle(&mut app, &mut term);
    for round in 0..6 {
        app.on_key(code(KeyCode::Tab));
        let items = app.sidebar_items();
        let field = if round % 2 == 0 {
            FacetField::Country
        } else {
            FacetField::Policy
        };
        let Some(pos) = items
            .iter()
            .position(|i| matches!(i, SideItem::Facet(f, _, _) if *f == field))
        else {
            break;
        };
        let target = pos + round / 2;
        while app.sidebar_selected < target {
            app.on_key(key('j'));
        }
        while app.sidebar_selected > target {
            app.on_key(key('k'));
        }
        facets.0.push(step(
            &mut app,
            &mut term,
            code(KeyCode::Enter),
            false,
            Duration::ZERO,
        ));
        counts.0.push(settle(&mut app, &mut term));
        app.on_key(code(KeyCode::Tab));
        if round % 2 == 1 {
            facets
                .0
                .push(step(&mut app, &mut term, key('c'), false, Duration::ZERO));
            counts.0.push(settle(&mut app, &mut term));
        }
    }
    println!("{}", facets.line("facet select / clear (per key)"));
    println!("{}", counts.line("  list + counts for it drawn"));

    let mut other = Stats(Vec::new());
    other
        .0
        .push(step(&mut app, &mut term, code(KeyCode::Enter), false, fast));
    other
        .0
        .push(step(&mut app, &mut term, key('q'), false, fast));
    other
        .0
        .push(step(&mut app, &mut term, key('S'), false, fast));
    other
        .0
        .push(step(&mut app, &mut term, key('S'), false, fast));
    println!("{}", other.line("open story, back, sort ×2"));
    println!("{}", between.line("frames between keys (answers)"));
    // The far end of the list: the key returns at once, its page follows from the background.
    // Counts asked for by the sort keys above are let finish first, so only the page is timed.
    app.wait_idle(Duration::from_secs(120));
    for (label, k) in [
        ("last story (G)", key('G')),
        ("page up from the end", code(KeyCode::PageUp)),
        ("first story (g)", key('g')),
    ] {
        let t = Instant::now();
        app.on_key(k);
        frame(&mut app, &mut term);
        let keyed = t.elapsed();
        app.wait_idle(Duration::from_secs(120));
        frame(&mut app, &mut term);
        println!(
            "{:<38} {:>7.2} ms key, {:>7.2} ms to its page drawn (offset {})",
            label,
            keyed.as_secs_f64() * 1e3,
            t.elapsed().as_secs_f64() * 1e3,
            app.list.selected
        );
    }

    let (now, peak, anon, file) = rss();
    println!(
        "{:<38} {now} MB now, {peak} MB peak (VmRSS / VmHWM); of now: {anon} MB heap, {file} MB mapped index/store files",
        "memory"
    );
    println!("{:<38} {}", "  mapped, by file", mapped_by_kind());
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this with no flag: keep it quick.
    if !std::env::args().any(|a| a == "--bench")
        && std::env::var_os("ECHOWATCH_BENCH_CHILD").is_none()
    {
        println!("tui bench: run with `cargo bench --bench tui`");
        return;
    }
    let dir = data_dir();
    if std::env::var_os("ECHOWATCH_BENCH_CHILD").is_some() {
        measure(&dir);
        return;
    }
    if std::fs::read_to_string(dir.join("complete"))
        .ok()
        .as_deref()
        != Some(&stories().to_string())
    {
        build(&dir, stories());
    }
    if std::env::var_os("ECHOWATCH_BENCH_COLD").is_some() {
        let _ = std::process::Command::new("sync").status();
        match std::fs::write("/proc/sys/vm/drop_caches", "3") {
            Ok(()) => println!("page cache dropped: a cold start"),
            Err(e) => println!("cannot drop the page cache ({e}): a warm start"),
        }
    }
    // Measure in a fresh process: its memory is the interface's, not the builder's.
    let exe = std::env::current_exe().unwrap();
    let status = std::process::Command::new(exe)
        .env("ECHOWATCH_BENCH_CHILD", "1")
        .status()
        .unwrap();
    std::process::exit(status.code().unwrap_or(1));
}

//! Ingest benchmark (issue 2 point 10, issue 3 "Speed it must reach"): cold and warm
//! `echowatch sync` against `newsboat -x reload` on the same generated feeds, served from
//! 127.0.0.1 with ETag/Last-Modified and 304s; peak RSS; and tossing echomail packets with
//! `echowatch import` compared per story with feed ingest.
//!
//! Run with `cargo bench --bench sync`. Each timed run is a separate process (the release
//! binary of this crate, and newsboat), so this is a plain `harness = false` program that
//! prints tables, not a criterion bench. Knobs (environment):
//!   ECHOWATCH_BENCH_SIZES    feeds x items list, default `200x50,2000x50`
//!   ECHOWATCH_BENCH_REPS     repetitions per size, default 5
//!   ECHOWATCH_BENCH_NEWSBOAT_MAX_FEEDS  skip newsboat above this many feeds (default 2000)
//!   ECHOWATCH_BENCH_NEWSBOAT_REPS       newsboat repetitions at the largest size, default 2
//!   ECHOWATCH_BENCH_ECHOMAIL messages to toss (default 100000; 0 skips)
//!   ECHOWATCH_BENCH_KEEP     keep the work folder (printed)
//!   ECHOWATCH_BENCH_SERVE    only generate, serve and write the configs, then wait (for
//!                            profiling `echowatch sync` by hand against the same server)
//! Needs ../shared/tools (gen_corpus.py, ftn_gen.py) and python3; skips with a message
//! without them. GNU time (/usr/bin/time) gives CPU time and peak RSS when present.

#[path = "../tests/support/http_server.rs"]
mod http_server;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use http_server::{Route, TestServer};

/// Requests in flight for both tools: echowatch `concurrency`/`per_host`, newsboat
/// `reload-threads`. All feeds are on one host, so echowatch's per-host bound must match.
const PARALLEL: usize = 16;

/// Feeds that gain one item before the incremental run (a typical cron sync).
const CHANGED: usize = 10;

fn main() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    let gen_corpus = shared.join("tools/gen_corpus.py");
    let ftn_gen = shared.join("tools/ftn_gen.py");
    if !gen_corpus.is_file() {
        println!("sync bench skipped: {} not found", gen_corpus.display());
        return;
    }
    if !has_program("python3", &["--version"]) {
        println!("sync bench skipped: python3 not found");
        return;
    }
    let newsboat = has_program("newsboat", &["--version"]);
    if !newsboat {
        println!("newsboat not found: only echowatch is timed (apt-get install -y newsboat)");
    }
    let gnu_time = Path::new("/usr/bin/time").is_file();
    if !gnu_time {
        println!("/usr/bin/time not found: no CPU time or peak RSS (apt-get install -y time)");
    }
    let sizes = env_or("ECHOWATCH_BENCH_SIZES", "200x50,2000x50");
    let reps: usize = env_or("ECHOWATCH_BENCH_REPS", "5")
        .parse()
        .unwrap_or(5)
        .max(1);
    let nb_max: usize = env_or("ECHOWATCH_BENCH_NEWSBOAT_MAX_FEEDS", "2000")
        .parse()
        .unwrap_or(2000);
    let nb_big_reps: usize = env_or("ECHOWATCH_BENCH_NEWSBOAT_REPS", "2")
        .parse()
        .unwrap_or(2)
        .max(1);
    let echomail: usize = env_or("ECHOWATCH_BENCH_ECHOMAIL", "100000")
        .parse()
        .unwrap_or(100_000);

    // Only generate and serve the corpora, for profiling echowatch by hand.
    let serve_only = std::env::var_os("ECHOWATCH_BENCH_SERVE").is_some();
    let work = tempfile::Builder::new()
        .prefix("echowatch-bench-")
        .tempdir()
        .expect("temporary folder");
    let root = work.path().to_path_buf();
    let bench = Bench {
        bin: PathBuf::from(env!("CARGO_BIN_EXE_echowatch")),
        gnu_time,
    };
    print_machine(&bench);

    let server = TestServer::start();
    server.set_recording(false);
    let mut report = String::new();
    let mut per_story_feed: Option<(usize, f64)> = None;
    let parsed_sizes: Vec<(usize, usize)> = sizes.split(',').filter_map(parse_size).collect();
    let largest = parsed_sizes.iter().map(|s| s.0).max().unwrap_or(0);

    for &(feeds, items) in &parsed_sizes {
        let corpus = root.join(format!("corpus-{feeds}x{items}"));
        run_ok(Command::new("python3").arg(&gen_corpus).arg(&corpus).args([
            "--feeds",
            &feeds.to_string(),
            "--items",
            &items.to_string(),
        ]));
        let prefix = format!("/{feeds}x{items}/");
        let names = serve_corpus(&server, &corpus, &prefix);
        let urls: Vec<String> = names
            .iter()
            .map(|n| server.url(&format!("{prefix}{n}")))
            .collect();
        let stories = feeds * items;
        println!(
            "\n== {feeds} feeds x {items} items ({stories} stories) served at {}{prefix}",
            server.base_url()
        );

        let config = root.join(format!("echowatch-{feeds}x{items}.toml"));
        write_echowatch_config(&config, &urls);
        let nb_dir = root.join(format!("newsboat-{feeds}x{items}"));
        let run_newsboat = newsboat && feeds <= nb_max;
        if run_newsboat {
            write_newsboat_config(&nb_dir, &urls);
        }
        if serve_only {
            println!(
                "serving; echowatch config {}, newsboat folder {}",
                config.display(),
                nb_dir.display()
            );
            continue;
        }
        let nb_reps = if feeds == largest && parsed_sizes.len() > 1 {
            nb_big_reps.min(reps)
        } else {
            reps
        };

        let mut ew = Samples::default();
        let mut nb = Samples::default();
        for rep in 0..reps {
            // echowatch: a fresh data folder, then the same one again (every feed a 304).
            let data = root.join(format!("data-{feeds}x{items}-{rep}"));
            let cold = bench.echowatch(&config, &data, &["sync"]);
            check_summary(
                &cold.stdout,
                &format!("sources: {feeds} ok, 0 unchanged, 0 failed; stories: {stories} new"),
            );
            let warm = bench.echowatch(&config, &data, &["sync"]);
            check_summary(
                &warm.stdout,
                &format!("sources: 0 ok, {feeds} unchanged, 0 failed; stories: 0 new"),
            );
            if rep == 0 {
                // One more, untimed, to show what a warm echowatch sync sends.
                server.clear_requests();
                server.set_recording(true);
                bench.echowatch(&config, &data, &["sync"]);
                server.set_recording(false);
                let (n, c) = count_conditional(&server);
                println!("  echowatch warm sync: {n} requests, {c} conditional");
            }
            let changed = serve_changed(&server, &corpus, &prefix, &names);
            let incremental = bench.echowatch(&config, &data, &["sync"]);
            serve_corpus(&server, &corpus, &prefix);
            check_summary(
                &incremental.stdout,
                &format!(
                    "sources: {changed} ok, {} unchanged, 0 failed; stories: {changed} new",
                    feeds - changed
                ),
            );
            println!(
                "  echowatch rep {rep}: cold {}  warm {}  incremental {}",
                cold.describe(),
                warm.describe(),
                incremental.describe()
            );
            ew.cold.push(cold);
            ew.warm.push(warm);
            ew.incremental.push(incremental);
            let _ = std::fs::remove_dir_all(&data);

            if run_newsboat && rep < nb_reps {
                let cache = nb_dir.join(format!("cache-{rep}.db"));
                let cold = bench.newsboat(&nb_dir, &cache);
                let items_cached = newsboat_items(&cache);
                if items_cached != Some(stories) {
                    println!(
                        "  warning: newsboat cached {items_cached:?} items, expected {stories}"
                    );
                }
                // newsboat stores ETag/Last-Modified only for feeds already in its cache
                // when the response arrives, so its first reload saves no validators and
                // the second sends no conditional request. Its steady state (all 304) is
                // the third reload; the second is reported too. Both are watched once.
                let watch = rep == 0;
                let second = bench.newsboat_watched(&server, &nb_dir, &cache, watch, "second");
                let warm = bench.newsboat_watched(&server, &nb_dir, &cache, watch, "third");
                let changed = serve_changed(&server, &corpus, &prefix, &names);
                let incremental = bench.newsboat(&nb_dir, &cache);
                serve_corpus(&server, &corpus, &prefix);
                let items_cached = newsboat_items(&cache);
                if items_cached != Some(stories + changed) {
                    println!(
                        "  warning: newsboat cached {items_cached:?} items after the incremental \
                         reload, expected {}",
                        stories + changed
                    );
                }
                println!(
                    "  newsboat  rep {rep}: cold {}  2nd {}  steady {}  incremental {}",
                    cold.describe(),
                    second.describe(),
                    warm.describe(),
                    incremental.describe()
                );
                nb.second.push(second);
                nb.cold.push(cold);
                nb.warm.push(warm);
                nb.incremental.push(incremental);
                let _ = std::fs::remove_file(&cache);
            }
        }
        let ew_cold = median_wall(&ew.cold);
        per_story_feed = Some((stories, ew_cold / stories as f64));
        let _ = writeln!(
            report,
            "\n### {feeds} feeds x {items} items ({stories} stories)\n"
        );
        let _ = writeln!(
            report,
            "| run | echowatch median (min-max) | newsboat median (min-max) | ratio |"
        );
        let _ = writeln!(report, "|---|---|---|---|");
        for (label, e, n) in [
            ("cold (fresh data)", &ew.cold, &nb.cold),
            (
                "warm (all 304) vs newsboat steady state (3rd reload)",
                &ew.warm,
                &nb.warm,
            ),
            (
                "warm vs newsboat 2nd reload (no validators saved yet)",
                &ew.warm,
                &nb.second,
            ),
            (
                "incremental: 10 feeds with 1 new item each, the rest 304 (both tools)",
                &ew.incremental,
                &nb.incremental,
            ),
        ] {
            let ratio = if n.is_empty() {
                "-".to_owned()
            } else {
                format!("{:.1}x", median_wall(n) / median_wall(e))
            };
            let _ = writeln!(
                report,
                "| {label} | {} | {} | {ratio} |",
                spread(e),
                spread(n)
            );
        }
        let _ = writeln!(
            report,
            "\nechowatch: {} runs, newsboat: {} runs. Peak RSS echowatch cold: median {} (max {}); \
             warm: {}. CPU (user+sys) echowatch cold {}, newsboat cold {}.",
            ew.cold.len(),
            nb.cold.len(),
            mb(median_of(&ew.cold, |r| r.rss_kb.map(|k| k as f64))),
            mb(ew
                .cold
                .iter()
                .filter_map(|r| r.rss_kb)
                .max()
                .map(|k| k as f64)),
            mb(median_of(&ew.warm, |r| r.rss_kb.map(|k| k as f64))),
            secs(median_of(&ew.cold, Run::cpu)),
            secs(median_of(&nb.cold, Run::cpu)),
        );
        for name in &names {
            server.remove_route(&format!("{prefix}{name}"));
        }
        let _ = std::fs::remove_dir_all(&corpus);
    }

    if serve_only {
        println!(
            "ECHOWATCH_BENCH_SERVE: serving until interrupted (work folder {})",
            root.display()
        );
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    if echomail > 0 && ftn_gen.is_file() {
        let _ = writeln!(
            report,
            "{}",
            bench_echomail(&bench, &root, &ftn_gen, echomail, reps, per_story_feed)
        );
    }

    println!("\n{report}");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-sync.md");
    if std::fs::write(&out, &report).is_ok() {
        println!("(tables written to {})", out.display());
    }
    if std::env::var_os("ECHOWATCH_BENCH_KEEP").is_some() {
        println!("work folder kept: {}", work.keep().display());
    }
}

/// Toss `messages` echomail messages from packets (`echowatch import DIR`), cold, and
/// compare the time per story with feed ingest's.
fn bench_echomail(
    bench: &Bench,
    root: &Path,
    ftn_gen: &Path,
    messages: usize,
    reps: usize,
    feed: Option<(usize, f64)>,
) -> String {
    let per_packet = 1000.min(messages).max(1);
    let packets = messages.div_ceil(per_packet);
    let gen_dir = root.join("ftn-gen");
    run_ok(Command::new("python3").arg(ftn_gen).arg(&gen_dir).args([
        "--packets",
        &packets.to_string(),
        "--msgs",
        &per_packet.to_string(),
    ]));
    // Only the packets: the generator's manifest is not something to import.
    let pkts = root.join("ftn-packets");
    std::fs::create_dir_all(&pkts).expect("packet folder");
    let mut bytes = 0u64;
    for entry in std::fs::read_dir(&gen_dir)
        .expect("generated packets")
        .flatten()
    {
        let p = entry.path();
        if p.extension().is_some_and(|e| e == "pkt") {
            bytes += entry.metadata().map(|m| m.len()).unwrap_or(0);
            std::fs::rename(&p, pkts.join(entry.file_name())).expect("move packet");
        }
    }
    let total = packets * per_packet;
    println!(
        "\n== echomail: {total} messages in {packets} packets ({:.1} MB)",
        bytes as f64 / 1e6
    );
    let config = root.join("echowatch-empty.toml");
    std::fs::write(&config, "[settings]\nconcurrency = 16\n").expect("write config");
    let mut runs = Vec::new();
    for rep in 0..reps.min(3) {
        let data = root.join(format!("data-ftn-{rep}"));
        let run = bench.echowatch(&config, &data, &["import", pkts.to_str().unwrap_or(".")]);
        check_summary(&run.stdout, &format!("stories: {total} new"));
        println!("  import rep {rep}: {}", run.describe());
        runs.push(run);
        let _ = std::fs::remove_dir_all(&data);
    }
    let med = median_wall(&runs);
    let per = med / total as f64;
    let mut s = format!(
        "\n### Echomail: {total} messages in {packets} packets ({:.1} MB), `echowatch import`\n\n\
         | run | median (min-max) | per story | peak RSS | CPU (user+sys) |\n|---|---|---|---|---|\n\
         | import (cold) | {} | {:.1} µs | {} | {} |\n",
        bytes as f64 / 1e6,
        spread(&runs),
        per * 1e6,
        mb(median_of(&runs, |r| r.rss_kb.map(|k| k as f64))),
        secs(median_of(&runs, Run::cpu)),
    );
    if let Some((n, feed_per)) = feed {
        let _ = writeln!(
            s,
            "\nFeed ingest (cold sync, {n} stories): {:.1} µs per story; echomail is {:.2}x its speed per story.",
            feed_per * 1e6,
            feed_per / per
        );
    }
    s
}

struct Bench {
    bin: PathBuf,
    gnu_time: bool,
}

#[derive(Debug, Clone)]
struct Run {
    wall: Duration,
    user: Option<f64>,
    sys: Option<f64>,
    rss_kb: Option<u64>,
    /// stdout and stderr (the summary line goes to stderr).
    stdout: String,
}

impl Run {
    fn cpu(&self) -> Option<f64> {
        Some(self.user? + self.sys?)
    }

    fn describe(&self) -> String {
        format!(
            "{:.3}s (cpu {}, rss {})",
            self.wall.as_secs_f64(),
            secs(self.cpu()),
            mb(self.rss_kb.map(|k| k as f64))
        )
    }
}

#[derive(Default)]
struct Samples {
    cold: Vec<Run>,
    /// newsboat only: the second reload (validators not yet saved, so no 304s).
    second: Vec<Run>,
    warm: Vec<Run>,
    /// The usual cron run: [`CHANGED`] feeds each gained one item, the rest answer 304.
    incremental: Vec<Run>,
}

impl Bench {
    fn echowatch(&self, config: &Path, data: &Path, args: &[&str]) -> Run {
        let mut cmd = self.timed(&self.bin);
        cmd.arg("--config")
            .arg(config)
            .arg("--data")
            .arg(data)
            .args(args);
        cmd.env_remove("ECHOWATCH_LOG");
        self.run(cmd)
    }

    fn newsboat(&self, dir: &Path, cache: &Path) -> Run {
        let mut cmd = self.timed(Path::new("newsboat"));
        cmd.arg("-u")
            .arg(dir.join("urls"))
            .arg("-C")
            .arg(dir.join("config"))
            .arg("-c")
            .arg(cache)
            .args(["-x", "reload"])
            // Its own home, so no user config, lock file or cache of the machine is used.
            .env("HOME", dir)
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_DATA_HOME");
        self.run(cmd)
    }

    /// A newsboat reload; when `watch`, the requests it sends are counted and printed.
    fn newsboat_watched(
        &self,
        server: &TestServer,
        dir: &Path,
        cache: &Path,
        watch: bool,
        label: &str,
    ) -> Run {
        if watch {
            server.clear_requests();
            server.set_recording(true);
        }
        let run = self.newsboat(dir, cache);
        if watch {
            server.set_recording(false);
            let (n, c) = count_conditional(server);
            println!("  newsboat {label} reload: {n} requests, {c} conditional");
        }
        run
    }

    /// The command wrapped in GNU time (CPU time and peak RSS to a file) when available.
    fn timed(&self, program: &Path) -> Command {
        if self.gnu_time {
            let mut cmd = Command::new("/usr/bin/time");
            cmd.args(["-f", "%U %S %M", "-o"])
                .arg(time_file())
                .arg(program);
            cmd
        } else {
            Command::new(program)
        }
    }

    fn run(&self, mut cmd: Command) -> Run {
        let _ = std::fs::remove_file(time_file());
        let start = Instant::now();
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .expect("run the timed program");
        let wall = start.elapsed();
        if !out.status.success() {
            panic!(
                "{cmd:?} failed: {}\n{}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let (mut user, mut sys, mut rss_kb) = (None, None, None);
        if self.gnu_time
            && let Ok(text) = std::fs::read_to_string(time_file())
        {
            // The last line: earlier ones are warnings such as "Command exited with ...".
            let fields: Vec<&str> = text
                .lines()
                .last()
                .unwrap_or("")
                .split_whitespace()
                .collect();
            if let [u, s, m] = fields.as_slice() {
                user = u.parse().ok();
                sys = s.parse().ok();
                rss_kb = m.parse().ok();
            }
        }
        Run {
            wall,
            user,
            sys,
            rss_kb,
            stdout: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }
}

fn time_file() -> PathBuf {
    std::env::temp_dir().join(format!("echowatch-bench-time-{}", std::process::id()))
}

/// Serve every feed file of a generated corpus under `prefix`; returns the file names.
fn serve_corpus(server: &TestServer, corpus: &Path, prefix: &str) -> Vec<String> {
    let urls = std::fs::read_to_string(corpus.join("urls")).expect("corpus urls");
    let mut names = Vec::new();
    for name in urls.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let body = std::fs::read(corpus.join(name)).expect("corpus feed");
        let route = Route::feed(body);
        let route = if name.ends_with(".atom") {
            route.with_content_type("application/atom+xml; charset=utf-8")
        } else {
            route
        };
        server.add_route(&format!("{prefix}{name}"), route);
        names.push(name.to_owned());
    }
    names
}

/// Serve the first [`CHANGED`] feeds with one more item each, under a new ETag and a later
/// Last-Modified, so neither validator a client saved still matches. Returns how many changed.
fn serve_changed(server: &TestServer, corpus: &Path, prefix: &str, names: &[String]) -> usize {
    let mut changed = 0;
    for (n, name) in names.iter().take(CHANGED).enumerate() {
        let body = std::fs::read(corpus.join(name)).expect("corpus feed");
        let Some(body) = with_new_item(&body, n) else {
            continue;
        };
        let route = Route::feed(body).with_last_modified(Some("Sun, 29 Nov 2026 06:00:00 GMT"));
        let route = if name.ends_with(".atom") {
            route.with_content_type("application/atom+xml; charset=utf-8")
        } else {
            route
        };
        server.add_route(&format!("{prefix}{name}"), route);
        changed += 1;
    }
    changed
}

/// The feed with one new item (RSS) or entry (Atom) before its first one.
fn with_new_item(body: &[u8], n: usize) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(body).ok()?;
    let (at, item) = if let Some(at) = text.find("<item>") {
        let item = format!(
            "<item><guid isPermaLink=\"false\">urn:x-bench:new:{n}</guid>\
             <title>Commerce adds {n} firms to the Entity List</title>\
             <link>https://news.example.org/new/{n}</link>\
             <pubDate>Sun, 29 Nov 2026 05:00:00 +0000</pubDate>\
             <description>&lt;p&gt;The rule restricts exports of advanced chips.&lt;/p&gt;</description></item>"
        );
        (at, item)
    } else {
        let at = text.find("<entry>")?;
        let item = format!(
            "<entry><id>urn:x-bench:new:{n}</id>\
             <title>Commerce adds {n} firms to the Entity List</title>\
             <link href=\"https://news.example.org/new/{n}\"/>\
             <updated>2026-11-29T05:00:00Z</updated>\
             <summary>The rule restricts exports of advanced chips.</summary></entry>"
        );
        (at, item)
    };
    Some([&text[..at], &item, &text[at..]].concat().into_bytes())
}

fn write_echowatch_config(path: &Path, urls: &[String]) {
    let mut text = format!("[settings]\nconcurrency = {PARALLEL}\nper_host = {PARALLEL}\n");
    for (i, url) in urls.iter().enumerate() {
        let _ = write!(
            text,
            "\n[[source]]\nname = \"feed {i:05}\"\nurl = \"{url}\"\n"
        );
    }
    std::fs::write(path, text).expect("write echowatch config");
}

fn write_newsboat_config(dir: &Path, urls: &[String]) {
    std::fs::create_dir_all(dir).expect("newsboat folder");
    std::fs::write(dir.join("urls"), urls.join("\n") + "\n").expect("write urls");
    // reload-threads matches echowatch's requests in flight. Conditional requests (ETag,
    // Last-Modified) are newsboat's default; nothing else is changed.
    std::fs::write(dir.join("config"), format!("reload-threads {PARALLEL}\n"))
        .expect("write newsboat config");
}

/// Items in a newsboat cache (to be sure it ingested what echowatch did).
fn newsboat_items(cache: &Path) -> Option<usize> {
    let db =
        rusqlite::Connection::open_with_flags(cache, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ok()?;
    db.query_row("SELECT count(*) FROM rss_item", [], |r| r.get::<_, i64>(0))
        .ok()
        .and_then(|n| usize::try_from(n).ok())
}

/// Requests recorded since the last count, and how many carried a validator; clears them.
fn count_conditional(server: &TestServer) -> (usize, usize) {
    let reqs = server.requests();
    let conditional = reqs
        .iter()
        .filter(|r| r.if_none_match.is_some() || r.if_modified_since.is_some())
        .count();
    server.clear_requests();
    (reqs.len(), conditional)
}

fn check_summary(stdout: &str, expected: &str) {
    assert!(
        stdout.contains(expected),
        "expected {expected:?} in the summary, got:\n{stdout}"
    );
}

fn parse_size(s: &str) -> Option<(usize, usize)> {
    let (f, i) = s.trim().split_once('x')?;
    Some((f.parse().ok()?, i.parse().ok()?))
}

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_owned())
}

fn has_program(name: &str, args: &[&str]) -> bool {
    Command::new(name)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().expect("run generator");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn median_of(runs: &[Run], f: impl Fn(&Run) -> Option<f64>) -> Option<f64> {
    median(runs.iter().filter_map(f).collect())
}

fn median_wall(runs: &[Run]) -> f64 {
    median_of(runs, |r| Some(r.wall.as_secs_f64())).unwrap_or(f64::NAN)
}

fn spread(runs: &[Run]) -> String {
    if runs.is_empty() {
        return "-".to_owned();
    }
    let walls = runs.iter().map(|r| r.wall.as_secs_f64());
    let min = walls.clone().fold(f64::INFINITY, f64::min);
    let max = walls.fold(0.0, f64::max);
    format!("{:.3} s ({min:.3}-{max:.3})", median_wall(runs))
}

fn secs(v: Option<f64>) -> String {
    v.map_or("n/a".to_owned(), |s| format!("{s:.2}s"))
}

fn mb(kb: Option<f64>) -> String {
    kb.map_or("n/a".to_owned(), |k| format!("{:.1} MB", k / 1024.0))
}

fn print_machine(bench: &Bench) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    println!("machine: {cores} cpus, {cpu}, load {}", load.trim());
    println!("echowatch: {}", bench.bin.display());
    if let Ok(out) = Command::new("newsboat").arg("--version").output() {
        println!(
            "{}",
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .unwrap_or("")
        );
    }
}

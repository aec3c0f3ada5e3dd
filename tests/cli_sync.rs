//! End-to-end tests of the `echowatch` binary against a real HTTP server on 127.0.0.1,
//! a real SQLite file and a real tantivy index.

#[path = "support/http_server.rs"]
mod http_server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use http_server::{Route, TestServer, paths, sample_rss};
use serde_json::Value;

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new(config: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("feeds.toml"), config).unwrap();
        Env { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_echowatch"))
            .arg("--config")
            .arg(self.path("feeds.toml"))
            .args(args)
            .env_remove("ECHOWATCH_DATA")
            .output()
            .unwrap()
    }

    fn run_ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json_lines(&self, args: &[&str]) -> Vec<Value> {
        self.run_ok(args)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn source(name: &str, url: &str) -> String {
    format!("[[source]]\nname = \"{name}\"\nurl = \"{url}\"\n\n")
}

#[test]
fn failing_sources_never_stop_the_others_and_resync_is_conditional() {
    let server = TestServer::start();
    server.add_standard_routes();
    server.add_feed("/a.xml", sample_rss("alpha", 5));
    server.add_route("/b.xml", Route::feed(sample_rss("beta", 3)).gzipped());
    server.add_route("/bomb.xml", Route::gzip_bomb(4 * 1024 * 1024));
    let mut config = String::from("[settings]\ntimeout_secs = 2\nmax_bytes = 1000000\n\n");
    for (name, path) in [
        ("alpha", "/a.xml"),
        ("beta gzip", "/b.xml"),
        ("etag only", paths::ETAG_ONLY),
        ("last-modified only", paths::LAST_MODIFIED_ONLY),
        ("not found", paths::NOT_FOUND),
        ("server error", paths::SERVER_ERROR),
        ("hangs", paths::HANG),
        ("too big", paths::OVERSIZED),
        ("gzip bomb", "/bomb.xml"),
        ("redirect loop", paths::REDIRECT_LOOP),
        ("malformed", paths::MALFORMED),
        ("rate limited", paths::TOO_MANY_SECONDS),
    ] {
        config.push_str(&source(name, &server.url(path)));
    }
    let env = Env::new(&config);

    let out = env.run(&["sync"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for name in [
        "not found",
        "server error",
        "hangs",
        "too big",
        "gzip bomb",
        "redirect loop",
        "malformed",
        "rate limited",
    ] {
        assert!(
            err.contains(&format!("failed: {name}:")),
            "{name} not named in:\n{err}"
        );
    }
    // The ETag-only and Last-Modified-only routes serve the same items: whichever comes
    // second adds nothing new, yet is ok, not unchanged: it was never read before.
    assert!(
        err.contains("sources: 4 ok, 0 unchanged, 8 failed; stories: 11 new"),
        "{err}"
    );
    assert_eq!(
        env.json_lines(&["search", "alpha", "--json", "--limit", "50"])
            .len(),
        5
    );
    assert_eq!(env.json_lines(&["search", "beta", "--json"]).len(), 3);

    // Second run: nothing new, every feed asked conditionally, the 429 source left alone.
    server.clear_requests();
    let out = env.run(&["sync"]);
    let err = stderr(&out);
    assert!(err.contains("stories: 0 new, 0 updated"), "{err}");
    assert!(err.contains("1 waiting (Retry-After)"), "{err}");
    assert!(err.contains("waiting: rate limited"), "{err}");
    assert!(server.requests_for(paths::TOO_MANY_SECONDS).is_empty());
    let a = server.requests_for("/a.xml");
    assert!(
        a[0].if_none_match.is_some() && a[0].if_modified_since.is_some(),
        "{a:?}"
    );
    assert!(
        server.requests_for(paths::ETAG_ONLY)[0]
            .if_none_match
            .is_some()
    );
    assert!(
        server.requests_for(paths::LAST_MODIFIED_ONLY)[0]
            .if_modified_since
            .is_some()
    );
    assert!(
        err.contains("sources: 0 ok, 4 unchanged, 7 failed"),
        "{err}"
    );

    // `--source` syncs just one; an unknown one is a clear error with status 1.
    let out = env.run(&["sync", "--source", "alpha"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = env.run(&["sync", "--source", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no source named \"nope\""));
}

#[test]
fn same_story_from_two_sources_is_one_story_and_manual_tags_survive_everything() {
    let server = TestServer::start();
    let item = |guid: &str, link: &str, title: &str| {
        format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>\
             <item><title>{title}</title><link>{link}</link><guid>{guid}</guid>\
             <pubDate>Tue, 10 Jun 2025 12:00:00 GMT</pubDate>\
             <description>The Commerce Department added Chinese chipmakers to the Entity List.</description></item>\
             </channel></rss>"
        )
    };
    server.add_feed(
        "/one.xml",
        item("one-1", "https://www.news.test/story/42/", "BIS adds firms"),
    );
    server.add_feed(
        "/two.xml",
        item(
            "two-9",
            "http://news.test/story/42?utm_source=rss#top",
            "BIS adds firms (copy)",
        ),
    );
    let config = format!(
        "{}{}",
        source("one", &server.url("/one.xml")),
        "[[source]]\nname = \"two\"\nurl = \"URL\"\ntags = [\"wire\"]\n"
            .replace("URL", &server.url("/two.xml"))
    );
    let env = Env::new(&config);
    // "one" first, so it is the story's primary source (the one whose edits count).
    env.run_ok(&["sync", "--source", "one"]);
    env.run_ok(&["sync"]);
    let hits = env.json_lines(&["search", "chipmakers", "--json"]);
    assert_eq!(hits.len(), 1, "{hits:?}");
    // The snippet is made from the store's text (the index keeps no body).
    let snippet = hits[0]["snippet"].as_str().unwrap_or("");
    assert!(snippet.to_lowercase().contains("chipmaker"), "{snippet:?}");
    let id = hits[0]["id"].as_i64().unwrap();
    let mut sources: Vec<&str> = hits[0]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    sources.sort();
    assert_eq!(sources, vec!["one", "two"]);
    assert_eq!(hits[0]["tags"], serde_json::json!(["wire"]));

    let id_s = id.to_string();
    env.run_ok(&["tag", &id_s, "+brief", "+country:DE", "-policy:entity-list"]);
    let check = |when: &str| {
        let shown = env.json_lines(&["show", &id_s, "--json"]);
        let s = &shown[0];
        let tags = s["tags"].as_array().unwrap();
        assert!(tags.contains(&"brief".into()), "{when}: {s}");
        assert!(
            s["countries"].as_array().unwrap().contains(&"DE".into()),
            "{when}: {s}"
        );
        assert!(
            !s["policies"]
                .as_array()
                .unwrap()
                .contains(&"entity-list".into()),
            "{when}: {s}"
        );
        let found = env.json_lines(&["search", "tag:brief country:DE", "--json"]);
        assert_eq!(found.len(), 1, "{when}: search by the manual tags");
        assert!(
            env.json_lines(&["search", "policy:entity-list", "--json"])
                .is_empty(),
            "{when}"
        );
    };
    check("after tag");

    // The feed changes the story: it is updated in place, manual decisions stay.
    server.add_feed(
        "/one.xml",
        item(
            "one-1",
            "https://www.news.test/story/42/",
            "BIS adds more firms",
        ),
    );
    let out = env.run(&["sync"]);
    assert!(
        stderr(&out).contains("0 new, 1 updated"),
        "{}",
        stderr(&out)
    );
    check("after sync");
    env.run_ok(&["reindex"]);
    check("after reindex");
    env.run_ok(&["retag"]);
    check("after retag");
    // A change of rules, then retag: the new rule applies, manual decisions still win.
    std::fs::write(
        env.path("rules.toml"),
        "[[policy]]\nid = \"chipmaker-listings\"\nstrong = [\"Chinese chipmakers\"]\n",
    )
    .unwrap();
    let mut config = std::fs::read_to_string(env.path("feeds.toml")).unwrap();
    config.insert_str(0, "[tagger]\nrules = \"rules.toml\"\n\n");
    std::fs::write(env.path("feeds.toml"), config).unwrap();
    env.run_ok(&["retag"]);
    check("after a rules change and retag");
    let shown = &env.json_lines(&["show", &id_s, "--json"])[0];
    assert!(
        shown["policies"]
            .as_array()
            .unwrap()
            .contains(&"chipmaker-listings".into()),
        "{shown}"
    );
    std::fs::remove_dir_all(env.path("index/tantivy")).unwrap();
    check("after deleting the index");
    std::fs::write(env.path("index/tantivy/meta.json"), b"garbage").unwrap();
    check("after corrupting the index");

    // Export without a query writes every story, with the same fields as `show --json`.
    let exported: Vec<Value> = env
        .run_ok(&["export", "--format", "jsonl"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(exported, env.json_lines(&["show", &id_s, "--json"]));
    let csv = env.run_ok(&["export", "--format", "csv", "tag:brief"]);
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with("id,published,title,link"));
    assert!(lines.next().unwrap().contains("BIS adds more firms"));

    let stats: Value = serde_json::from_str(&env.run_ok(&["stats", "--json"])).unwrap();
    assert_eq!(stats["stories"], 1);
    assert_eq!(stats["by_source"]["two"], 1);
    assert_eq!(stats["by_country"]["DE"], 1);
    assert_eq!(stats["by_kind"]["feed"], 1);
}

#[test]
fn bad_config_names_file_line_and_key_and_exits_1() {
    let env = Env::new("[[source]]\nname = \"x\"\nurl = \"https://a.test/\"\npath = \"b\"\n");
    let out = env.run(&["sync"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("feeds.toml:4: key `path`"), "{err}");

    let env = Env::new("");
    let out = env.run(&["search", "(unbalanced"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("bad query"), "{}", stderr(&out));
    let out = env.run(&["tag", "1", "+brief"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no story with id 1"),
        "{}",
        stderr(&out)
    );
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn inbound_folder_tosses_good_packets_and_sets_broken_ones_aside() {
    let env = Env::new("[[source]]\nname = \"inbound\"\npath = \"inbound\"\ninbound = true\n");
    let inbound = env.path("inbound");
    std::fs::create_dir_all(&inbound).unwrap();
    for name in [
        "gateway-utf8.pkt",
        "00000065.mo0",
        "broken-truncated.pkt",
        "broken-garbage.pkt",
    ] {
        std::fs::copy(fixture(&format!("ftn/{name}")), inbound.join(name)).unwrap();
    }
    // A file binkd is still receiving is left alone.
    std::fs::write(inbound.join("12345678.hr"), b"partial").unwrap();

    let out = env.run(&["sync"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("broken-truncated.pkt"), "{err}");
    let mut left: Vec<String> = std::fs::read_dir(&inbound)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, vec!["12345678.hr"]);
    let done = env.path("index/ftn/done");
    assert!(done.join("gateway-utf8.pkt").exists() && done.join("00000065.mo0").exists());
    let bad = env.path("index/ftn/bad");
    for name in ["broken-truncated.pkt", "broken-garbage.pkt"] {
        assert!(bad.join(name).exists(), "{name} kept in bad/");
        let reason = std::fs::read_to_string(bad.join(format!("{name}.reason"))).unwrap();
        assert!(!reason.trim().is_empty());
    }
    let stories = env.json_lines(&["search", "kind:echomail", "--json", "--limit", "100"]);
    assert!(!stories.is_empty());
    assert!(
        stories
            .iter()
            .all(|s| s["kind"] == "echomail" && s["area"].is_string()),
        "{stories:?}"
    );

    // Tossing the same packet again adds nothing.
    std::fs::copy(
        fixture("ftn/gateway-utf8.pkt"),
        inbound.join("gateway-utf8.pkt"),
    )
    .unwrap();
    let out = env.run(&["sync"]);
    assert!(
        stderr(&out).contains("stories: 0 new, 0 updated"),
        "{}",
        stderr(&out)
    );
    assert!(done.join("gateway-utf8~1.pkt").exists());
}

#[test]
fn gateway_post_and_its_feed_item_are_one_story() {
    let shared =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/seed/000_954ac079890cc0a7.txt");
    if !shared.exists() {
        eprintln!("skipping: ../shared/seed is absent");
        return;
    }
    let server = TestServer::start();
    server.add_feed(
        "/techradar.xml",
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title><item>\
         <title>The great AI Irony</title>\
         <link>https://www.techradar.com/pro/the-great-ai-irony-china-cracks-down-on-western-models-while-us-companies-flock-to-deepseek?utm_medium=rss</link>\
         <guid>tr-1</guid><description>China is taking a hard-hitting approach.</description></item></channel></rss>",
    );
    let env = Env::new(&source("TechRadar", &server.url("/techradar.xml")));
    let out = env.run(&["import", shared.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let s = &env.json_lines(&["search", "irony", "--json"])[0];
    assert_eq!(
        s["title"],
        "The great AI Irony: China cracks down on Western models while US companies flock to DeepSeek"
    );
    assert_eq!(
        s["link"],
        "https://www.techradar.com/pro/the-great-ai-irony-china-cracks-down-on-western-models-while-us-companies-flock-to-deepseek"
    );
    assert_eq!(s["published"], "2026-06-11T21:05:00+00:00");
    assert_eq!(s["kind"], "echomail");
    assert!(s["area"].is_null());
    env.run_ok(&["sync"]);
    let all = env.json_lines(&["search", "irony", "--json"]);
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["sources"].as_array().unwrap().len(), 2);
    assert_eq!(all[0]["kinds"], serde_json::json!(["echomail", "feed"]));
}

#[test]
fn every_corpus_feed_is_ingested_without_panic() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/feeds");
    if !corpus.exists() {
        eprintln!("skipping: ../shared/corpus/feeds is absent");
        return;
    }
    let env = Env::new("");
    let mut accepted = 0usize;
    let mut files = Vec::new();
    collect(&corpus, &mut files);
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        if feed_rs::parser::parse(&bytes[..]).is_ok() {
            accepted += 1;
            let parsed = echowatch::parse::feed::parse(&bytes, None);
            assert!(parsed.is_ok(), "{}: {:?}", file.display(), parsed.err());
        }
    }
    let out = env.run(&["import", corpus.to_str().unwrap()]);
    // 2 when some files are not feeds (licences, the invalid fixture): never a crash.
    assert!(
        matches!(out.status.code(), Some(0) | Some(2)),
        "{}",
        stderr(&out)
    );
    let stats: Value = serde_json::from_str(&env.run_ok(&["stats", "--json"])).unwrap();
    assert!(stats["stories"].as_u64().unwrap() > 100, "{stats}");
    assert!(accepted > 50, "feed-rs accepted {accepted} files");
    let err = stderr(&out);
    let failed_files = err.lines().filter(|l| l.starts_with("failed:")).count();
    assert!(
        failed_files <= 1,
        "one source, its failures summarised: {err}"
    );
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect(&p, out)
        } else {
            out.push(p)
        }
    }
}

#[test]
fn gateway_export_posts_each_story_once_and_reads_back() {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/feeds");
    let env = Env::new("");
    env.run_ok(&["import", samples.to_str().unwrap()]);
    let wanted = env.json_lines(&["search", "policy:entity-list", "--json"]);
    assert!(!wanted.is_empty());
    let out_dir = env.path("out");
    let outbound = env.path("outbound");
    let args = [
        "export",
        "--format",
        "ftn",
        "--area",
        "TQW_TECHNOLOGY",
        "--from",
        "1337:1/101",
        "--to",
        "1337:1/100",
        "--origin",
        "echowatch test gateway",
        "--out",
        out_dir.to_str().unwrap(),
        "--outbound",
        outbound.to_str().unwrap(),
        "policy:entity-list",
    ];
    let out = env.run(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let stories = |n: usize| match n {
        1 => "1 story".to_string(),
        n => format!("{n} stories"),
    };
    assert!(
        stderr(&out).contains(&format!(
            "posted {} to TQW_TECHNOLOGY",
            stories(wanted.len())
        )),
        "{}",
        stderr(&out)
    );
    let packets: Vec<PathBuf> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(packets.len(), 1);
    let name = packets[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        name.len() == 12
            && name.ends_with(".pkt")
            && name[..8].chars().all(|c| c.is_ascii_hexdigit()),
        "{name}"
    );
    assert!(
        env.path("outbound/00010064.out").exists(),
        "BSO name for 1337:1/100"
    );

    // Posting again adds nothing: the ledger remembers.
    let out = env.run(&args);
    assert!(
        stderr(&out).contains(&format!(
            "nothing to post: {} already posted",
            stories(wanted.len())
        )),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 1);
    // A query that matches nothing says so, not "0 stories already posted".
    let mut none = args;
    *none.last_mut().unwrap() = "nosuchwordanywhere";
    let out = env.run(&none);
    assert!(
        stderr(&out).contains("nothing to post: no story matches the query"),
        "{}",
        stderr(&out)
    );

    // The packet reads back as the same stories (same links), now as echomail.
    let back = Env::new("");
    back.run_ok(&["import", packets[0].to_str().unwrap()]);
    let echoed = back.json_lines(&["search", "kind:echomail", "--json"]);
    assert_eq!(echoed.len(), wanted.len());
    assert_eq!(echoed[0]["link"], wanted[0]["link"]);
    assert_eq!(echoed[0]["title"], wanted[0]["title"]);
    assert_eq!(echoed[0]["area"], "TQW_TECHNOLOGY");
    assert_eq!(echoed[0]["areas"], serde_json::json!(["TQW_TECHNOLOGY"]));

    let out = env.run(&[
        "export",
        "--format",
        "ftn",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("needs --area"), "{}", stderr(&out));
}

/// The summary line (stderr) of a command that must succeed.
fn summary(env: &Env, args: &[&str]) -> String {
    let out = env.run(args);
    assert!(out.status.success(), "{args:?} failed: {}", stderr(&out));
    stderr(&out)
}

/// Write `text` to `path` with a modification time `age` in the past.
fn write_aged(path: &Path, text: &str, age: std::time::Duration) {
    std::fs::write(path, text).unwrap();
    let when = std::time::SystemTime::now() - age;
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(when)
        .unwrap();
}

#[test]
fn path_sources_see_every_change_of_their_files() {
    let hour = std::time::Duration::from_secs(3600);
    let env = Env::new("");
    let feeds = env.path("feeds");
    std::fs::create_dir(&feeds).unwrap();
    std::fs::write(
        env.path("feeds.toml"),
        format!("[[source]]\nname = \"local\"\npath = {:?}\n", feeds),
    )
    .unwrap();
    let a = feeds.join("a.xml");
    write_aged(&a, &sample_rss("Alpha", 1), hour);
    write_aged(&feeds.join("b.xml"), &sample_rss("Beta", 1), hour);
    let first = summary(&env, &["sync"]);
    assert!(
        first.contains("sources: 1 ok, 0 unchanged, 0 failed; stories: 2 new"),
        "{first}"
    );
    let again = summary(&env, &["sync"]);
    assert!(
        again.contains("sources: 0 ok, 1 unchanged, 0 failed; stories: 0 new"),
        "{again}"
    );

    // An edit that keeps the size and puts the modification time back is still seen: the
    // inode change time cannot be put back.
    let stamp = std::fs::metadata(&a).unwrap().modified().unwrap();
    let edited = sample_rss("Alpha", 1).replace("Body of item", "Bodx of item");
    std::fs::write(&a, &edited).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&a)
        .unwrap()
        .set_modified(stamp)
        .unwrap();
    let reread = summary(&env, &["sync"]);
    assert!(
        reread.contains("sources: 1 ok, 0 unchanged, 0 failed; stories: 0 new, 1 updated"),
        "{reread}"
    );
    assert_eq!(env.json_lines(&["search", "bodx", "--json"]).len(), 1);
    // A file removed and a new one added.
    std::fs::remove_file(feeds.join("b.xml")).unwrap();
    write_aged(&feeds.join("c.xml"), &sample_rss("Gamma", 1), hour);
    let added = summary(&env, &["sync"]);
    assert!(
        added.contains("sources: 1 ok, 0 unchanged, 0 failed; stories: 1 new"),
        "{added}"
    );
    // `--reread` reads every file again (what it skips otherwise is pinned in ingest's tests),
    // and says so: the source is ok, not unchanged as when its files are skipped.
    let reread_all = summary(&env, &["sync", "--reread"]);
    assert!(
        reread_all.contains("sources: 1 ok, 0 unchanged, 0 failed; stories: 0 new, 0 updated"),
        "{reread_all}"
    );
}

#[test]
fn command_line_edges_end_cleanly() {
    let env = Env::new("[[source]]\nname = \"local\"\npath = \"feeds\"\n");
    std::fs::create_dir_all(env.path("feeds")).unwrap();
    let rss = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>\
        <item><title>=HYPERLINK(\"http://evil.test\",\"click\")</title><guid>g1</guid>\
        <link>https://example.org/1</link><description>China and chips.</description></item>\
        <item><title>Plain title</title><guid>g2</guid><link>https://example.org/2</link>\
        <description>Export controls.</description></item></channel></rss>";
    write_aged(
        &env.path("feeds/one.rss"),
        rss,
        std::time::Duration::from_secs(3600),
    );
    summary(&env, &["sync"]);
    // A watch saved in the interface is reported by `sync` too (for cron mail).
    std::fs::write(
        env.path("index/watches.json"),
        r#"[{"name":"chips","query":"chips"}]"#,
    )
    .unwrap();
    let out = env.run_ok(&["sync"]);
    assert!(
        out.contains("watch chips: 1 new since last viewed"),
        "{out}"
    );

    // A title that a spreadsheet would run as a formula is written as text.
    let csv = env.run_ok(&["export", "--format", "csv"]);
    assert!(csv.contains("'=HYPERLINK("), "{csv}");
    assert!(csv.contains(",Plain title,"), "{csv}");

    // Output cut short by the reader (`| head -1`) ends quietly, without a panic.
    for args in [
        &["stats"][..],
        &["search", "chips", "--json"],
        &["export", "--format", "jsonl"],
        &["export", "--format", "csv"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_echowatch"))
            .arg("--config")
            .arg(env.path("feeds.toml"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).is_empty(), "{args:?}: {}", stderr(&out));
    }

    // Typed tags are held to real country codes and known policies; a usage error is 1,
    // not 2 (which means that some sources failed).
    for bad in ["+country:XX", "+policy:nonexistent"] {
        let out = env.run(&["tag", "1", bad]);
        assert_eq!(out.status.code(), Some(1), "{bad}");
        let err = stderr(&out);
        assert!(err.contains("unknown"), "{bad}: {err}");
    }
    assert_eq!(env.run(&["tag", "1"]).status.code(), Some(1));

    // A `[keys]` table that would leave the interface without a way to quit is refused
    // before the screen opens, naming the file and line.
    let keys = env.path("keys.toml");
    std::fs::write(&keys, "[keys]\nquit = \"x\"\nstar = \"x\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_echowatch"))
        .arg("--config")
        .arg(&keys)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("keys.toml:3: [keys] star: key \"x\" is also given to `quit`"),
        "{}",
        stderr(&out)
    );

    // A watch whose query does not parse is named with its line when sync counts it.
    let watch = env.path("watch.toml");
    std::fs::write(
        &watch,
        "[[source]]\nname = \"local\"\npath = \"feeds\"\n\n[[watch]]\nname = \"W\"\nquery = \"(unbalanced\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_echowatch"))
        .arg("--config")
        .arg(&watch)
        .arg("--data")
        .arg(env.path("index"))
        .arg("sync")
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("watch.toml:7: watch W: bad query"),
        "{}",
        stderr(&out)
    );

    // An error names its cause once.
    let out = Command::new(env!("CARGO_BIN_EXE_echowatch"))
        .args(["--config", "/nonexistent/feeds.toml", "sync"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).matches("os error 2").count(),
        1,
        "{}",
        stderr(&out)
    );

    // Started in a folder without feeds.toml (cron in the wrong folder): an error, not an
    // empty sync into a new ./index.
    let elsewhere = env.path("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_echowatch"))
        .arg("sync")
        .current_dir(&elsewhere)
        .env_remove("ECHOWATCH_CONFIG")
        .env_remove("ECHOWATCH_DATA")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("no feeds.toml"), "{}", stderr(&out));
    assert!(!elsewhere.join("index").exists());
    let out = env.run_ok(&["tag", "1", "+country:uk", "+policy:tariffs"]);
    assert!(out.contains("country:GB"), "{out}");
}

#[test]
fn folder_sources_pass_over_files_that_are_not_theirs() {
    let env = Env::new("[[source]]\nname = \"local\"\npath = \"feeds\"\n");
    let hour = std::time::Duration::from_secs(3600);
    std::fs::create_dir_all(env.path("feeds")).unwrap();
    write_aged(&env.path("feeds/one.rss"), &sample_rss("one", 2), hour);
    write_aged(
        &env.path("feeds/LICENSE"),
        "Permission is hereby granted, free of charge, to any person obtaining a copy",
        hour,
    );
    write_aged(
        &env.path("feeds/README.md"),
        "# Feeds for echowatch\n",
        hour,
    );
    let err = summary(&env, &["sync"]);
    assert!(err.contains("1 ok, 0 unchanged, 0 failed"), "{err}");
    assert!(err.contains("2 new"), "{err}");

    // A file whose name says it is a feed is read, and its damage reported.
    write_aged(&env.path("feeds/two.rss"), "this is not a feed", hour);
    let out = env.run(&["sync"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("two.rss"), "{}", stderr(&out));
}

// ---- FTN: dupes, gateway MSGIDs, gating echomail, area tags, netmail ------------------------

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

/// The bundled samples as path sources, as feeds.toml lists them (without the network ones).
fn samples_config() -> String {
    let s = samples();
    [
        ("Sample: Policy Wire", s.join("feeds/policy-wire.rss")),
        (
            "Sample: Chip Policy Notes",
            s.join("feeds/chip-policy.atom"),
        ),
        ("Sample: RegWatch", s.join("feeds/regwatch.json")),
        ("Sample: tqwNet echomail", s.join("echomail")),
    ]
    .iter()
    .map(|(name, path)| format!("[[source]]\nname = {name:?}\npath = {path:?}\n\n"))
    .collect()
}

/// The packets a gateway run wrote into `dir`.
fn packets_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pkt"))
        .collect();
    v.sort();
    v
}

/// The messages of packets (or bundles of packets), read by echowatch's own reader.
fn messages_in(files: &[PathBuf]) -> Vec<echowatch::ftn::EchoMessage> {
    use echowatch::ftn::{Charsets, EchoMessage, bundle, read_packet};
    let mut out = Vec::new();
    for f in files {
        let bytes = std::fs::read(f).unwrap();
        let packets = if bundle::is_zip(&bytes) {
            bundle::unpack(&bytes, Default::default())
                .unwrap()
                .into_iter()
                .map(|e| e.data)
                .collect()
        } else {
            vec![bytes]
        };
        for p in &packets {
            let pkt = read_packet(p).unwrap();
            out.extend(
                pkt.messages
                    .iter()
                    .map(|m| EchoMessage::from_packed(m, &Charsets::default())),
            );
        }
    }
    out
}

fn gateway_args<'a>(area: &'a str, out: &'a Path, query: Option<&'a str>) -> Vec<&'a str> {
    let mut args = vec![
        "export",
        "--format",
        "ftn",
        "--area",
        area,
        "--from",
        "1337:1/100",
        "--to",
        "1337:1/101",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(query);
    args
}

fn replace_once(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .unwrap_or_else(|| panic!("{} not found", String::from_utf8_lossy(from)));
    [&bytes[..at], to, &bytes[at + from.len()..]].concat()
}

#[test]
fn a_repeated_msgid_is_a_dupe_and_the_first_story_stays() {
    let env = Env::new("");
    // QA's repro: the second message of the sample packet given the first one's MSGID.
    let pkt = std::fs::read(samples().join("echomail/d0774bf7.pkt")).unwrap();
    let dupe = env.path("aaaa0002.pkt");
    std::fs::write(&dupe, replace_once(&pkt, b"7b6b35d7", b"b64bfa52")).unwrap();
    let first = summary(&env, &["import", dupe.to_str().unwrap()]);
    assert!(
        first.contains("stories: 3 new, 0 updated, 1 duplicate MSGID dropped"),
        "{first}"
    );
    let titles: Vec<String> = env
        .json_lines(&["search", "kind:echomail", "--json", "--limit", "10"])
        .iter()
        .map(|s| s["title"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(titles.len(), 3, "{titles:?}");
    assert!(
        titles
            .iter()
            .any(|t| t.starts_with("Beijing's CAC publishes labelling rules")),
        "{titles:?}"
    );
    assert!(
        !titles
            .iter()
            .any(|t| t.starts_with("Brussels opens antitrust probe")),
        "{titles:?}"
    );
    let log = std::fs::read_to_string(env.path("index/echowatch.log")).unwrap();
    assert!(log.contains("duplicate MSGID 1337:1/100 b64bfa52"), "{log}");
    // The same packet again: the first three unchanged, the dupe still a dupe.
    let again = summary(&env, &["import", dupe.to_str().unwrap()]);
    assert!(
        again.contains("stories: 0 new, 0 updated, 1 duplicate MSGID dropped"),
        "{again}"
    );
}

#[test]
fn gateway_msgids_are_new_to_the_network_and_read_back_without_conflict() {
    let env = Env::new(&samples_config());
    summary(&env, &["sync"]);
    let (r6a, r6b) = (env.path("r6a"), env.path("r6b"));
    let a = summary(&env, &gateway_args("TQW_TEST", &r6a, Some("country:CN")));
    assert!(a.contains("posted "), "{a}");
    let b = summary(&env, &gateway_args("TQW_TECHNOLOGY", &r6b, None));
    assert!(b.contains("posted "), "{b}");
    let mut ours: Vec<String> = messages_in(&[packets_in(&r6a), packets_in(&r6b)].concat())
        .into_iter()
        .map(|m| m.msgid.unwrap())
        .collect();
    let theirs: Vec<String> = messages_in(&[
        samples().join("echomail/d0774bf7.pkt"),
        samples().join("echomail/00650064.we0"),
    ])
    .into_iter()
    .filter_map(|m| m.msgid)
    .collect();
    assert!(theirs.len() >= 4 && ours.len() >= 4, "{theirs:?} {ours:?}");
    for m in &ours {
        assert!(m.starts_with("1337:1/100 "), "{m}");
        // A serial a tosser has seen from this address before makes it drop the new post.
        assert!(
            !theirs.contains(m),
            "{m} is already a sample message's MSGID"
        );
    }
    let n = ours.len();
    ours.sort();
    ours.dedup();
    assert_eq!(ours.len(), n, "MSGIDs repeat: {ours:?}");
    // The ledger still refuses a second post of the same stories to the same area.
    let again = summary(&env, &gateway_args("TQW_TECHNOLOGY", &r6b, None));
    assert!(again.contains("nothing to post"), "{again}");
    assert_eq!(packets_in(&r6b).len(), 1);

    // Our own posts come back from the echo: they join their stories, every time.
    let pkt = packets_in(&r6b).remove(0);
    for _ in 0..2 {
        let back = summary(&env, &["import", pkt.to_str().unwrap()]);
        assert!(
            back.trim_end().ends_with("stories: 0 new, 0 updated"),
            "{back}"
        );
    }
}

#[test]
fn an_echo_whose_msgid_another_story_has_is_tossed_with_the_rest_of_its_packet() {
    let env = Env::new(&samples_config());
    summary(&env, &["sync"]);
    let feed_story = env
        .json_lines(&["search", "kind:feed", "--json", "--limit", "50"])
        .into_iter()
        .find(|s| s["kinds"] == serde_json::json!(["feed"]) && s["link"].is_string())
        .unwrap();
    let out_dir = env.path("out");
    summary(&env, &gateway_args("TQW_TEST", &out_dir, None));
    let pkt = packets_in(&out_dir).remove(0);
    let msgs = messages_in(std::slice::from_ref(&pkt));
    let link_of = |m: &echowatch::ftn::EchoMessage| echowatch::ftn::to_story(m).link;
    let echo = msgs
        .iter()
        .find(|m| link_of(m).as_deref() == feed_story["link"].as_str())
        .unwrap();
    let other = msgs
        .iter()
        .find(|m| m.msgid != echo.msgid && link_of(m).is_some())
        .unwrap();
    // The echo of a feed story under a MSGID a sample message already has (as an older
    // gateway wrote it), and a message with a link nobody carried before, in one packet.
    let mut bytes = std::fs::read(&pkt).unwrap();
    bytes = replace_once(
        &bytes,
        format!("MSGID: {}\r", echo.msgid.as_deref().unwrap()).as_bytes(),
        b"MSGID: 1337:1/100 b64bfa52\r",
    );
    let link = format!("Link to news story: {}", link_of(other).unwrap());
    bytes = replace_once(&bytes, link.as_bytes(), format!("{link}-fresh").as_bytes());
    let back = env.path("0000bb01.pkt");
    std::fs::write(&back, bytes).unwrap();

    let out = env.run(&["import", back.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("stories: 1 new, 0 updated"),
        "{}",
        stderr(&out)
    );
    let joined = env.json_lines(&["show", &feed_story["id"].to_string(), "--json"]);
    assert_eq!(joined[0]["kinds"], serde_json::json!(["feed", "echomail"]));
    // The sample message that has that MSGID is untouched.
    let found = env.json_lines(&["search", "labelling", "--json"]);
    assert!(
        found.iter().any(|s| s["title"]
            .as_str()
            .unwrap()
            .starts_with("Beijing's CAC publishes labelling rules")),
        "{found:?}"
    );
}

#[test]
fn gating_echomail_stories_adds_the_gateway_layout_once() {
    let env = Env::new("");
    summary(
        &env,
        &["import", samples().join("echomail").to_str().unwrap()],
    );
    let echoes = env.json_lines(&["search", "kind:echomail", "--json", "--limit", "50"]);
    let out = env.path("out");
    let posted = summary(&env, &gateway_args("TQW_TEST", &out, None));
    assert!(
        posted.contains(&format!("posted {} stories", echoes.len())),
        "{posted}"
    );
    let msgs = messages_in(&packets_in(&out));
    assert_eq!(msgs.len(), echoes.len());
    for m in &msgs {
        let count = |what: &str| {
            m.body
                .lines()
                .filter(|l| l.trim_start().starts_with(what))
                .count()
        };
        assert_eq!(count("Date:"), 1, "{}", m.body);
        assert_eq!(count("Description:"), 1, "{}", m.body);
        assert_eq!(count("Link to news story:"), 1, "{}", m.body);
        assert_eq!(count("====="), 1, "{}", m.body);
        // The description itself is there, once: its first words follow the label.
        let desc_at = m.body.find("Description:\n").unwrap() + "Description:\n".len();
        let start: String = m.body[desc_at..].chars().take(30).collect();
        assert_eq!(m.body.matches(start.as_str()).count(), 1, "{}", m.body);
        assert!(!m.body[desc_at..].starts_with(&m.subject), "{}", m.body);
    }
}

#[test]
fn gateway_splits_into_packets_under_the_limit_and_lists_them() {
    let env = Env::new("");
    summary(&env, &["import", samples().join("feeds").to_str().unwrap()]);
    let stories = env
        .json_lines(&["search", "", "--json", "--limit", "100"])
        .len();
    let out_dir = env.path("split");
    let mut args = gateway_args("TQW_TEST", &out_dir, None);
    args.extend(["--max-packet-kb", "4"]);
    let said = summary(&env, &args);
    let packets = packets_in(&out_dir);
    assert!(packets.len() >= 2, "{said}");
    assert!(
        said.starts_with(&format!(
            "posted {stories} stories to TQW_TEST in {} packets (limit 4 KiB a packet)",
            packets.len()
        )),
        "{said}"
    );
    for p in &packets {
        assert!(
            std::fs::metadata(p).unwrap().len() <= 4096,
            "{}",
            p.display()
        );
        assert!(said.contains(p.to_str().unwrap()), "{said}");
    }
    let mut msgids: Vec<String> = messages_in(&packets)
        .into_iter()
        .map(|m| m.msgid.unwrap())
        .collect();
    msgids.sort();
    msgids.dedup();
    assert_eq!(msgids.len(), stories);

    // 0: no limit, one packet, the summary line as ever.
    let one_dir = env.path("one");
    let mut args = gateway_args("TQW_OTHER", &one_dir, None);
    args.extend(["--max-packet-kb", "0"]);
    let said = summary(&env, &args);
    assert_eq!(packets_in(&one_dir).len(), 1);
    assert!(
        said.starts_with(&format!("posted {stories} stories to TQW_OTHER in ")),
        "{said}"
    );
    assert_eq!(said.lines().count(), 1, "{said}");

    let mut args = gateway_args("TQW_THIRD", &one_dir, None);
    args.extend(["--max-packet-kb", "lots"]);
    let out = env.run(&args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("--max-packet-kb"), "{}", stderr(&out));
}

#[test]
fn area_tags_no_tosser_files_are_refused() {
    let env = Env::new("");
    summary(&env, &["import", samples().join("feeds").to_str().unwrap()]);
    let out_dir = env.path("out");
    let too_long = "A".repeat(51);
    for bad in ["BAD AREA", "TAB\tAREA", "ÜBER", too_long.as_str(), ""] {
        let out = env.run(&gateway_args(bad, &out_dir, None));
        assert_eq!(out.status.code(), Some(1), "{bad:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("bad echo area tag"),
            "{bad:?}: {}",
            stderr(&out)
        );
    }
    assert!(!out_dir.exists() || packets_in(&out_dir).is_empty());
    // Nothing was recorded as posted: a good tag posts every story.
    let good = summary(&env, &gateway_args("TQW_TEST", &out_dir, None));
    assert!(good.contains("0 skipped"), "{good}");
}

#[test]
fn netmail_in_a_packet_is_skipped_and_counted() {
    let env = Env::new("");
    // The fixture's first message without its AREA line is netmail (FTS-0004).
    let pkt = std::fs::read(fixture("ftn/gateway-utf8.pkt")).unwrap();
    let mixed = env.path("0000cc01.pkt");
    std::fs::write(&mixed, replace_once(&pkt, b"AREA:TQW_TECHNOLOGY\r", b"")).unwrap();
    let out = env.run(&["import", mixed.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("stories: 1 new, 0 updated, 1 netmail message skipped"),
        "{}",
        stderr(&out)
    );
    let stories = env.json_lines(&["search", "kind:echomail", "--json"]);
    assert_eq!(stories.len(), 1, "{stories:?}");
    assert_eq!(stories[0]["title"], "Short title");
    assert_eq!(stories[0]["area"], "TQW_TECHNOLOGY");
    let log = std::fs::read_to_string(env.path("index/echowatch.log")).unwrap();
    assert!(log.contains("1 netmail message skipped"), "{log}");
}

/// One RSS item titled `title`, encoded with `encoding`, after an optional XML declaration.
fn encoded_rss(
    declaration: &str,
    title: &str,
    guid: &str,
    encoding: &'static encoding_rs::Encoding,
) -> Vec<u8> {
    let xml = format!(
        "{declaration}<rss version=\"2.0\"><channel><title>t</title><item><title>{title}</title>\
         <guid>{guid}</guid><description>{title}</description></item></channel></rss>"
    );
    let (bytes, _, unmappable) = encoding.encode(&xml);
    assert!(!unmappable, "{title} is not {}", encoding.name());
    bytes.into_owned()
}

#[test]
fn the_http_charset_decides_how_a_feed_is_read() {
    let server = TestServer::start();
    let polish = "charsetpl Zażółć gęślą jaźń";
    let russian = "charsetru Привет, мир";
    let cases: [(&str, Vec<u8>, &str); 5] = [
        // Undeclared and not UTF-8: the header, not the Windows-1252 guess.
        (
            "/latin2.xml",
            encoded_rss("", polish, "pl", encoding_rs::ISO_8859_2),
            "application/rss+xml; charset=ISO-8859-2",
        ),
        (
            "/koi8.xml",
            encoded_rss("", russian, "ru", encoding_rs::KOI8_R),
            "text/xml; charset=\"koi8-r\"",
        ),
        // The declaration disagrees with the header: the header wins (RFC 7303).
        (
            "/koi8-declared-1251.xml",
            encoded_rss(
                "<?xml version=\"1.0\" encoding=\"windows-1251\"?>",
                &russian.replace("charsetru", "charsetdecl"),
                "decl",
                encoding_rs::KOI8_R,
            ),
            "application/xml;charset=KOI8-R",
        ),
        // A UTF-8 feed that says so, from a server that claims Latin-1: kept as UTF-8.
        (
            "/utf8-mislabelled.xml",
            encoded_rss(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
                &polish.replace("charsetpl", "charsetmis"),
                "mis",
                encoding_rs::UTF_8,
            ),
            "application/rss+xml; charset=iso-8859-1",
        ),
        // A charset nobody knows is no reason to refuse the feed: read it as before.
        (
            "/unknown-charset.xml",
            encoded_rss(
                "",
                "charsetunk Not\u{ed}cias",
                "unk",
                encoding_rs::WINDOWS_1252,
            ),
            "application/rss+xml; charset=x-no-such-charset",
        ),
    ];
    let mut config = String::new();
    for (path, body, content_type) in cases {
        server.add_route(path, Route::feed(body).with_content_type(content_type));
        config.push_str(&source(path, &server.url(path)));
    }
    let env = Env::new(&config);
    let out = env.run(&["sync"]);
    assert!(out.status.success(), "{}", stderr(&out));

    for (word, title) in [
        ("charsetpl", polish.to_owned()),
        ("charsetru", russian.to_owned()),
        ("charsetdecl", russian.replace("charsetru", "charsetdecl")),
        ("charsetmis", polish.replace("charsetpl", "charsetmis")),
        ("charsetunk", "charsetunk Not\u{ed}cias".to_owned()),
    ] {
        let hits = env.json_lines(&["search", word, "--json"]);
        assert_eq!(hits.len(), 1, "{word}: {hits:?}");
        assert_eq!(hits[0]["title"], title.as_str(), "{word}");
    }
}

#[test]
fn an_empty_feed_read_for_the_first_time_is_ok_not_unchanged() {
    let server = TestServer::start();
    server.add_feed("/empty.xml", sample_rss("Empty", 0));
    let env = Env::new("");
    let file = env.path("empty.xml");
    std::fs::write(&file, sample_rss("Empty file", 0)).unwrap();
    std::fs::write(
        env.path("feeds.toml"),
        format!(
            "{}[[source]]\nname = \"empty file\"\npath = {:?}\n",
            source("empty", &server.url("/empty.xml")),
            file
        ),
    )
    .unwrap();
    let first = summary(&env, &["sync"]);
    assert!(
        first.contains("sources: 2 ok, 0 unchanged, 0 failed; stories: 0 new"),
        "{first}"
    );
    // Read before: nothing new is "unchanged", whether the server says 304 or not.
    let again = summary(&env, &["sync"]);
    assert!(
        again.contains("sources: 0 ok, 2 unchanged, 0 failed"),
        "{again}"
    );
    server.add_route(
        "/empty.xml",
        Route::feed(sample_rss("Empty", 0))
            .with_etag(None)
            .with_last_modified(None),
    );
    let refetched = summary(&env, &["sync"]);
    assert!(
        refetched.contains("sources: 0 ok, 2 unchanged, 0 failed"),
        "{refetched}"
    );
    assert!(!server.requests_for("/empty.xml").is_empty());
}

/// How many file stamps the store keeps for the source `name`.
fn stamps_of(env: &Env, name: &str) -> i64 {
    let db = rusqlite::Connection::open(env.path("index/store.sqlite")).unwrap();
    db.query_row(
        "SELECT count(*) FROM source_files JOIN sources ON sources.id = source_files.source_id
         WHERE sources.name = ?1",
        [name],
        |r| r.get(0),
    )
    .unwrap()
}

/// How many times the README of a folder source has been read (and passed over).
fn readme_reads(env: &Env) -> usize {
    std::fs::read_to_string(env.path("index/echowatch.log"))
        .unwrap()
        .matches("README: skipped")
        .count()
}

#[test]
fn stamps_go_with_the_path_source_they_belong_to() {
    let env = Env::new("");
    let hour = std::time::Duration::from_secs(3600);
    std::fs::create_dir_all(env.path("feeds")).unwrap();
    std::fs::create_dir_all(env.path("other")).unwrap();
    write_aged(&env.path("feeds/one.rss"), &sample_rss("one", 1), hour);
    write_aged(&env.path("feeds/README"), "# Feeds for echowatch\n", hour);
    // Files changed in the last two seconds are read but not stamped: let them settle.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let local = "[[source]]\nname = \"local\"\npath = \"feeds\"\n";
    let other = "[[source]]\nname = \"other\"\npath = \"other\"\n";
    let configure = |config: &str| std::fs::write(env.path("feeds.toml"), config).unwrap();

    configure(&format!("{local}{other}"));
    summary(&env, &["sync"]);
    assert_eq!((stamps_of(&env, "local"), readme_reads(&env)), (2, 1));
    summary(&env, &["sync"]);
    assert_eq!(readme_reads(&env), 1, "unchanged files are skipped");

    // Removed from the config: its stamps go, even when another source is synced by name.
    configure(other);
    summary(&env, &["sync", "--source", "other"]);
    assert_eq!(stamps_of(&env, "local"), 0);
    // Back again: its files are read again.
    configure(&format!("{local}{other}"));
    summary(&env, &["sync"]);
    assert_eq!((stamps_of(&env, "local"), readme_reads(&env)), (2, 2));

    // Made an inbound folder (which keeps no stamps: its files are moved away), and back.
    configure(&format!("{}inbound = true\n{other}", local));
    summary(&env, &["sync"]);
    assert_eq!(stamps_of(&env, "local"), 0);
    configure(&format!("{local}{other}"));
    summary(&env, &["sync"]);
    assert_eq!((stamps_of(&env, "local"), readme_reads(&env)), (2, 3));

    // Pointed elsewhere (a folder that is not there, so the source fails), and back.
    configure(&format!(
        "{}{other}",
        local.replace("\"feeds\"", "\"gone\"")
    ));
    assert_eq!(env.run(&["sync"]).status.code(), Some(2));
    assert_eq!(stamps_of(&env, "local"), 0);
    configure(&format!("{local}{other}"));
    summary(&env, &["sync"]);
    assert_eq!((stamps_of(&env, "local"), readme_reads(&env)), (2, 4));
}

#[test]
fn a_packet_warning_names_its_file_once() {
    let env = Env::new("");
    // Trailing NULs after the terminator: tolerated, with a warning.
    let mut pkt = std::fs::read(fixture("ftn/gateway-utf8.pkt")).unwrap();
    pkt.extend_from_slice(&[0, 0, 0]);
    let file = env.path("0000cc02.pkt");
    std::fs::write(&file, &pkt).unwrap();
    // And inside a bundle.
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    z.start_file("0000cc03.pkt", zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut z, &pkt).unwrap();
    let bundle = env.path("0000cc04.mo0");
    std::fs::write(&bundle, z.finish().unwrap().into_inner()).unwrap();

    let out = env.run(&["import", file.to_str().unwrap(), bundle.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let log = std::fs::read_to_string(env.path("index/echowatch.log")).unwrap();
    let err = stderr(&out);
    let warnings: Vec<&str> = log
        .lines()
        .chain(err.lines())
        .filter(|l| l.contains("trailing NUL bytes"))
        .collect();
    assert!(warnings.len() >= 2, "{log}");
    for (name, shown) in [
        ("0000cc02.pkt", file.display().to_string()),
        ("0000cc04.mo0", format!("{}/0000cc03.pkt", bundle.display())),
    ] {
        let mine: Vec<&&str> = warnings.iter().filter(|l| l.contains(name)).collect();
        assert!(!mine.is_empty(), "{name} not named in {warnings:#?}");
        for line in mine {
            assert_eq!(line.matches(name).count(), 1, "{line}");
            assert!(
                line.contains(&format!("{shown}: 3 trailing NUL bytes")),
                "{line}"
            );
        }
    }
}

// ---- Gateway: the outbound's busy flag (FTS-5005), counts in words -------------------------

/// An RSS feed of `n` stories under `prefix`, each with a word of its own in the title
/// (`{prefix}word{i}`) and a body long enough that a few fill a small packet.
fn busy_feed(prefix: &str, n: usize) -> String {
    let items: String = (0..n)
        .map(|i| {
            format!(
                "<item><title>{prefix}word{i}: export rules widened again</title>\
                 <link>https://wire.test/{prefix}/{i}</link><guid>https://wire.test/{prefix}/{i}</guid>\
                 <pubDate>Thu, 11 Jun 2026 10:{:02}:00 GMT</pubDate>\
                 <description>{}</description></item>\n",
                i % 60,
                "The ministry published a further list of controlled items. ".repeat(20)
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel>\
         <title>Wire {prefix}</title><link>https://wire.test/</link><description>t</description>\n\
         {items}</channel></rss>\n"
    )
}

/// An environment that has imported `busy_feed(prefix, n)`.
fn env_with_feed(prefix: &str, n: usize) -> Env {
    let env = Env::new("");
    let feed = env.path(&format!("{prefix}.rss"));
    std::fs::write(&feed, busy_feed(prefix, n)).unwrap();
    summary(&env, &["import", feed.to_str().unwrap()]);
    env
}

/// `gateway_args` with an outbound (the uplink 1337:1/101 is `00010065.*` there).
fn outbound_args<'a>(
    out: &'a Path,
    outbound: &'a Path,
    query: Option<&'a str>,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = gateway_args("TQW_TEST", out, None);
    args.extend(["--outbound", outbound.to_str().unwrap()]);
    args.extend(extra);
    args.extend(query);
    args
}

/// What the outbound holds for the uplink: the `.out`, then the packets its flow file attaches.
fn queued_for_uplink(outbound: &Path) -> Vec<PathBuf> {
    let mut files = vec![outbound.join("00010065.out")];
    if let Ok(flow) = std::fs::read_to_string(outbound.join("00010065.flo")) {
        files.extend(
            flow.lines()
                .map(|l| PathBuf::from(l.strip_prefix('^').unwrap())),
        );
    }
    files
}

/// Link of every message in the packets; panics on a MSGID that comes twice.
fn links_once(files: &[PathBuf]) -> Vec<String> {
    let msgs = messages_in(files);
    let mut ids: Vec<&str> = msgs.iter().map(|m| m.msgid.as_deref().unwrap()).collect();
    ids.sort();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "a MSGID comes twice");
    let mut links: Vec<String> = msgs
        .iter()
        .map(|m| echowatch::ftn::to_story(m).link.unwrap())
        .collect();
    links.sort();
    links
}

/// Files in `dir` left by echowatch: busy flags and temporary files.
fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    collect(dir, &mut found);
    found.retain(|p| {
        let name = p.file_name().unwrap().to_string_lossy();
        name.ends_with(".bsy") || name.starts_with(".echowatch-")
    });
    found
}

#[test]
fn gateway_takes_over_a_stale_busy_flag_lets_go_of_its_own_and_counts_in_words() {
    let env = env_with_feed("busy", 3);
    let (out, outbound) = (env.path("out"), env.path("outbound"));
    let flag = outbound.join("00010065.bsy");
    std::fs::create_dir_all(&outbound).unwrap();
    // Left by a binkd that crashed 13 hours ago (binkd touches the flags it holds).
    write_aged(&flag, "4242\n", std::time::Duration::from_secs(13 * 3600));
    let said = summary(
        &env,
        &outbound_args(&out, &outbound, Some("busyword0"), &[]),
    );
    let out_file = outbound.join("00010065.out");
    assert!(said.starts_with("posted 1 story to TQW_TEST in "), "{said}");
    assert!(
        said.contains(&format!(" and {}; 0 skipped", out_file.display())),
        "{said}"
    );
    assert!(
        said.contains(&format!(
            "removed a stale busy flag {} (untouched for 13 hours)",
            flag.display()
        )),
        "{said}"
    );
    assert!(
        leftovers(&outbound).is_empty(),
        "{:?}",
        leftovers(&outbound)
    );
    let again = summary(
        &env,
        &outbound_args(&out, &outbound, Some("busyword0"), &[]),
    );
    assert_eq!(
        again,
        "nothing to post: 1 story already posted to TQW_TEST\n"
    );

    // A run that fails in the outbound (a folder where the flow file goes; each story
    // needs a packet of its own, attached there) still lets go of the flag, and records
    // nothing it did not place there.
    std::fs::create_dir_all(outbound.join("00010065.flo")).unwrap();
    let failed = env.run(&outbound_args(
        &out,
        &outbound,
        None,
        &["--max-packet-kb", "1"],
    ));
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));
    assert!(
        stderr(&failed).contains("00010065.flo"),
        "{}",
        stderr(&failed)
    );
    assert!(
        leftovers(&outbound).is_empty(),
        "{:?}",
        leftovers(&outbound)
    );
    std::fs::remove_dir(outbound.join("00010065.flo")).unwrap();
    let said = summary(
        &env,
        &outbound_args(&out, &outbound, None, &["--max-packet-kb", "1"]),
    );
    assert!(
        said.starts_with(
            "posted 2 stories to TQW_TEST in 2 packets (limit 1 KiB a packet); 1 skipped"
        ),
        "{said}"
    );
    let lines: Vec<&str> = said.lines().skip(1).collect();
    assert_eq!(lines.len(), 2, "{said}");
    for l in lines {
        assert!(
            l.contains(": 1 story, ") && l.contains(" bytes, also as "),
            "{l}"
        );
    }
    // The uplink gets each story once.
    let want: Vec<String> = (0..3)
        .map(|i| format!("https://wire.test/busy/{i}"))
        .collect();
    assert_eq!(links_once(&queued_for_uplink(&outbound)), want);
    assert!(
        leftovers(&outbound).is_empty(),
        "{:?}",
        leftovers(&outbound)
    );
}

#[test]
fn concurrent_gateway_runs_into_one_outbound_neither_lose_nor_repeat_a_message() {
    // Two gateways (data folders) sharing an uplink, and a second run of the first one at
    // the same moment (cron and a hand-started run). Without the busy flag one run's
    // rewrite of the .out drops the other's messages, and the same-store run posts the
    // stories again under new MSGIDs.
    const N: usize = 12;
    let (a, b) = (env_with_feed("alpha", N), env_with_feed("beta", N));
    let outbound = a.path("outbound");
    let flag = outbound.join("00010065.bsy");
    std::fs::create_dir_all(&outbound).unwrap();
    // A session in progress: all three runs wait for it, then race for the flag at once.
    std::fs::write(&flag, "1\n").unwrap();
    let (a1, a2, b1) = (a.path("out1"), a.path("out2"), b.path("out"));
    // The second gateway has an address of its own (MSGIDs are unique per address).
    let spawn = |env: &Env, out: &Path, from: &str| {
        let mut args = outbound_args(
            out,
            &outbound,
            None,
            &["--max-packet-kb", "8", "--busy-wait-ms", "60000"],
        );
        let at = args.iter().position(|a| *a == "--from").unwrap();
        args[at + 1] = from;
        Command::new(env!("CARGO_BIN_EXE_echowatch"))
            .arg("--config")
            .arg(env.path("feeds.toml"))
            .args(args)
            .env_remove("ECHOWATCH_DATA")
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let runs = [
        spawn(&a, &a1, "1337:1/100"),
        spawn(&a, &a2, "1337:1/100"),
        spawn(&b, &b1, "1337:1/102"),
    ];
    std::thread::sleep(std::time::Duration::from_millis(400));
    std::fs::remove_file(&flag).unwrap();
    let said: Vec<String> = runs
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", stderr(&out));
            stderr(&out)
        })
        .collect();
    // One of the first folder's runs posted its stories, the other found them posted.
    let posted = said[..2]
        .iter()
        .filter(|s| s.starts_with(&format!("posted {N} stories")))
        .count();
    let found = said[..2]
        .iter()
        .filter(|s| s.starts_with(&format!("nothing to post: {N} stories already posted")))
        .count();
    assert_eq!((posted, found), (1, 1), "{said:#?}");
    assert!(
        said[2].starts_with(&format!("posted {N} stories")),
        "{}",
        said[2]
    );
    let mut want: Vec<String> = ["alpha", "beta"]
        .iter()
        .flat_map(|p| (0..N).map(move |i| format!("https://wire.test/{p}/{i}")))
        .collect();
    want.sort();
    assert_eq!(links_once(&queued_for_uplink(&outbound)), want);
    assert!(
        leftovers(&outbound).is_empty(),
        "{:?}",
        leftovers(&outbound)
    );
}

// ---- Gateway: the --json report -------------------------------------------------------------

/// A gateway run with `--json` that must succeed: the one JSON object on stdout, and the
/// summary on stderr.
fn gateway_report(env: &Env, args: &[&str]) -> (Value, String) {
    let mut args = args.to_vec();
    args.push("--json");
    let out = env.run(&args);
    assert!(out.status.success(), "{args:?} failed: {}", stderr(&out));
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(stdout.lines().count(), 1, "not one line: {stdout}");
    (serde_json::from_str(&stdout).unwrap(), stderr(&out))
}

fn path_of(v: &Value) -> PathBuf {
    PathBuf::from(v.as_str().unwrap_or_else(|| panic!("not a path: {v}")))
}

#[test]
fn gateway_json_report_matches_the_packets_on_disk() {
    let env = env_with_feed("report", 4);
    let (out, outbound) = (env.path("out"), env.path("outbound"));
    std::fs::create_dir_all(&outbound).unwrap();
    let flag = outbound.join("00010065.bsy");
    write_aged(&flag, "4242\n", std::time::Duration::from_secs(13 * 3600));
    // 1 KiB: each story alone in its packet; the first starts the .out, the rest are
    // attached through the flow file.
    let args = outbound_args(&out, &outbound, None, &["--max-packet-kb", "1"]);
    let (v, said) = gateway_report(&env, &args);
    // The summary stays on stderr, as without --json.
    assert!(
        said.starts_with("posted 4 stories to TQW_TEST in 4 packets"),
        "{said}"
    );
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "adopted",
            "area",
            "from",
            "packets",
            "posted",
            "skipped",
            "stale_flag",
            "temp_files_removed",
            "to"
        ]
    );
    assert_eq!(v["temp_files_removed"], 0);
    assert_eq!(
        (&v["area"], &v["from"], &v["to"]),
        (
            &Value::from("TQW_TEST"),
            &Value::from("1337:1/100"),
            &Value::from("1337:1/101")
        )
    );
    assert_eq!(
        (&v["posted"], &v["skipped"]),
        (&Value::from(4), &Value::from(0))
    );
    assert_eq!(path_of(&v["stale_flag"]["path"]), flag);
    let age = v["stale_flag"]["age_seconds"].as_u64().unwrap();
    assert!((13 * 3600..14 * 3600).contains(&age), "{age}");

    // Every packet listed is on disk as described, and every packet on disk is listed.
    let packets = v["packets"].as_array().unwrap();
    let mut listed: Vec<PathBuf> = packets.iter().map(|p| path_of(&p["path"])).collect();
    listed.sort();
    assert_eq!(listed, packets_in(&out));
    for p in packets {
        let path = path_of(&p["path"]);
        assert_eq!(p["bytes"], std::fs::metadata(&path).unwrap().len(), "{p}");
        assert_eq!(p["messages"], messages_in(&[path]).len(), "{p}");
    }
    assert_eq!(
        packets
            .iter()
            .map(|p| p["messages"].as_u64().unwrap())
            .sum::<u64>(),
        4
    );
    assert_eq!(packets[0]["outbound"]["placement"], "packet");
    assert_eq!(
        path_of(&packets[0]["outbound"]["path"]),
        outbound.join("00010065.out")
    );
    assert_eq!(
        std::fs::read(outbound.join("00010065.out")).unwrap(),
        std::fs::read(path_of(&packets[0]["path"])).unwrap()
    );
    let flow = outbound.join("00010065.flo");
    let flow_lines = std::fs::read_to_string(&flow).unwrap();
    for p in &packets[1..] {
        let placed = &p["outbound"];
        assert_eq!(placed["placement"], "attached", "{p}");
        assert_eq!(path_of(&placed["flow"]), flow);
        let file = path_of(&placed["file"]);
        assert!(
            flow_lines
                .lines()
                .any(|l| l == format!("^{}", file.display())),
            "{flow_lines}"
        );
        assert_eq!(
            std::fs::read(&file).unwrap(),
            std::fs::read(path_of(&p["path"])).unwrap()
        );
    }

    // Nothing left to post: still one object, with no packets.
    let (v, said) = gateway_report(&env, &args);
    assert_eq!(
        said,
        "nothing to post: 4 stories already posted to TQW_TEST\n"
    );
    assert_eq!(
        (&v["posted"], &v["skipped"]),
        (&Value::from(0), &Value::from(4))
    );
    assert_eq!(v["packets"], serde_json::json!([]));
    assert_eq!(v["stale_flag"], Value::Null);
    // Nor does a query that matches nothing.
    let (v, _) = gateway_report(
        &env,
        &outbound_args(&out, &outbound, Some("nosuchwordanywhere"), &[]),
    );
    assert_eq!(
        (&v["posted"], &v["skipped"]),
        (&Value::from(0), &Value::from(0))
    );
    assert_eq!(v["packets"], serde_json::json!([]));

    // Without an outbound a packet's placement is null; the area is reported as posted
    // (upper case), whatever case it was given in.
    let other = env.path("other");
    let (v, _) = gateway_report(
        &env,
        &gateway_args("tqw_other", &other, Some("reportword1")),
    );
    assert_eq!(v["area"], "TQW_OTHER");
    assert_eq!(v["posted"], 1);
    let packets = v["packets"].as_array().unwrap();
    assert_eq!(packets.len(), 1);
    assert_eq!(packets[0]["outbound"], Value::Null);
    assert_eq!(vec![path_of(&packets[0]["path"])], packets_in(&other));

    // The other formats refuse --json (a usage error, exit 1) instead of ignoring it.
    for format in ["jsonl", "csv"] {
        let refused = env.run(&["export", "--format", format, "--json"]);
        assert_eq!(refused.status.code(), Some(1), "{format}");
        assert!(
            stderr(&refused).contains("--json goes with --format ftn only"),
            "{}",
            stderr(&refused)
        );
        assert!(refused.stdout.is_empty(), "{format}");
    }
}

// ---- Gateway: temporary files left by killed runs ------------------------------------------

/// A child process that is killed when dropped (a test that fails leaves no `sleep` behind).
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The PID of a process that has run and exited (and been waited for: no zombie left).
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn gateway_removes_killed_runs_temporary_files_and_nothing_else() {
    let env = env_with_feed("tmp", 3);
    let (out, outbound) = (env.path("out"), env.path("outbound"));
    let elsewhere = env.path("elsewhere");
    for d in [&out, &outbound, &elsewhere] {
        std::fs::create_dir_all(d).unwrap();
    }
    let dead = dead_pid();
    let sleeper = Running(Command::new("sleep").arg("60").spawn().unwrap());
    let live = sleeper.0.id();
    let this = std::process::id();
    // Killed runs' files: in --out and in the uplink's outbound folder, removed.
    let gone = [
        out.join(format!(".echowatch-{dead}-0.tmp")),
        out.join(format!(".echowatch-{dead}-17.tmp")),
        outbound.join(format!(".echowatch-{dead}-3.tmp")),
    ];
    // Live processes' files (a run of this test's process; a run still writing, in the
    // outbound one posting to another uplink, under that uplink's busy flag, not ours),
    // files that only look like ours, a folder of our pattern, and a dead run's file in a
    // folder this run does not write to: all kept.
    let mut kept = vec![
        out.join(format!(".echowatch-{this}-0.tmp")),
        out.join(format!(".echowatch-{live}-2.tmp")),
        outbound.join(format!(".echowatch-{live}-0.tmp")),
        out.join(".echowatch-abc.tmp"),
        out.join("x.tmp"),
        out.join(format!(".echowatch-{dead}.tmp")),
        out.join(format!(".echowatch-{dead}-1.tmp.bak")),
        out.join(format!(".echowatch-0{dead}-1.tmp")),
        out.join(format!("echowatch-{dead}-1.tmp")),
        outbound.join(format!(".echowatch-{dead}-1-2.tmp")),
        elsewhere.join(format!(".echowatch-{dead}-0.tmp")),
    ];
    for f in gone.iter().chain(&kept) {
        std::fs::write(f, "partial packet").unwrap();
    }
    let folder = outbound.join(format!(".echowatch-{dead}-9.tmp"));
    std::fs::create_dir(&folder).unwrap();
    kept.push(folder);

    // Nothing to post (a query matching nothing) writes nowhere, so removes nothing.
    let (v, _) = gateway_report(
        &env,
        &outbound_args(&out, &outbound, Some("nosuchwordanywhere"), &[]),
    );
    assert_eq!(v["temp_files_removed"], 0);
    assert!(gone.iter().all(|f| f.exists()));

    let (v, said) = gateway_report(&env, &outbound_args(&out, &outbound, None, &[]));
    assert_eq!(v["posted"], 3);
    assert_eq!(v["temp_files_removed"], 3, "{said}");
    assert!(
        said.contains("removed 3 temporary files left by runs that were killed"),
        "{said}"
    );
    for f in &gone {
        assert!(!f.exists(), "{} left", f.display());
    }
    for f in &kept {
        assert!(f.exists(), "{} removed", f.display());
    }
    // The run's own temporary files went as usual: only the ones kept above are left.
    let mut left: Vec<PathBuf> = [&out, &outbound]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.to_string_lossy().contains("echowatch-") || p.extension().is_some_and(|e| e == "tmp")
        })
        .collect();
    left.sort();
    let mut want: Vec<PathBuf> = kept
        .iter()
        .filter(|p| !p.starts_with(&elsewhere))
        .cloned()
        .collect();
    want.sort();
    assert_eq!(left, want);
}

// ---- Overlapping runs on one data folder ---------------------------------------------------

impl Env {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_echowatch"));
        c.arg("--config")
            .arg(self.path("feeds.toml"))
            .args(args)
            .env_remove("ECHOWATCH_DATA")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        c
    }
}

#[test]
fn processes_opening_a_fresh_data_folder_at_once_all_succeed() {
    // Each used to run the store's migrations: "apply migration: table sources already exists".
    for round in 0..3 {
        let env = Env::new("");
        let runs: Vec<_> = (0..6)
            .map(|_| env.command(&["stats", "--json"]).spawn().unwrap())
            .collect();
        for child in runs {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "round {round}: {}", stderr(&out));
        }
    }
}

/// `n` packets of one echomail message each, every one under its own MSGID, named
/// `0000NNNN.pkt` in `dir`.
fn write_inbound_packets(dir: &Path, n: u32) {
    use echowatch::ftn::writer::{self, GatewayConfig, GatewayPost};
    std::fs::create_dir_all(dir).unwrap();
    let cfg = GatewayConfig::new(
        "TQW_TEST",
        "1337:1/100".parse().unwrap(),
        "1337:1/101".parse().unwrap(),
    );
    let posted = chrono::DateTime::parse_from_rfc3339("2026-06-12T09:30:00+02:00").unwrap();
    for i in 0..n {
        let post = GatewayPost {
            serial: 0x5000_0000 + i,
            title: format!("Inbound story {i} on export controls"),
            published: None,
            description: format!("Message {i} of the inbound."),
            link: None,
        };
        let pkt = echowatch::ftn::write_packet(
            &writer::gateway_header(&cfg, posted, None),
            &[post.to_message(&cfg, posted)],
        )
        .unwrap();
        std::fs::write(dir.join(format!("{i:08x}.pkt")), pkt).unwrap();
    }
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

#[test]
fn overlapping_syncs_take_turns_and_move_every_inbound_file_once() {
    // QA's report: two syncs at once on 300 inbound packets. One died on SQLite's write lock,
    // the other failed on files the first had moved, leaving empty files in done/ and bad/.
    const N: u32 = 300;
    let env = Env::new("[[source]]\nname = \"inbound\"\npath = \"inbound\"\ninbound = true\n");
    // The store exists (a fresh one is the next test's).
    env.run_ok(&["stats"]);
    write_inbound_packets(&env.path("inbound"), N);
    let runs: Vec<_> = (0..2)
        .map(|_| env.command(&["sync"]).spawn().unwrap())
        .collect();
    for child in runs {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert!(names_in(&env.path("inbound")).is_empty());
    assert!(
        names_in(&env.path("index/ftn/bad")).is_empty(),
        "{:?}",
        names_in(&env.path("index/ftn/bad"))
    );
    let done = names_in(&env.path("index/ftn/done"));
    assert_eq!(done.len(), N as usize, "{done:?}");
    for name in &done {
        assert!(!name.contains('~'), "moved twice: {name}");
        let len = std::fs::metadata(env.path("index/ftn/done").join(name))
            .unwrap()
            .len();
        assert!(len > 0, "{name} is empty");
    }
    let stats: Value = serde_json::from_str(&env.run_ok(&["stats", "--json"])).unwrap();
    assert_eq!(stats["stories"], N, "{stats}");
}

#[test]
fn a_run_finding_the_data_folder_held_gives_up_cleanly_and_readers_never_wait() {
    let env = Env::new("[[source]]\nname = \"inbound\"\npath = \"inbound\"\ninbound = true\n");
    write_inbound_packets(&env.path("inbound"), 1);
    env.run_ok(&["stats"]);
    // Another run holds the data folder (as a sync in progress does).
    let held = std::fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(env.path("index/echowatch.lock"))
        .unwrap();
    held.lock().unwrap();
    let started = std::time::Instant::now();
    let export_out = env.path("out");
    let gateway = gateway_args("TQW_TEST", &export_out, None);
    let writers: [&[&str]; 5] = [
        &["sync"],
        &["import", "inbound"],
        &["reindex"],
        &["retag"],
        &gateway,
    ];
    for args in writers {
        let out = env
            .command(args)
            .env("ECHOWATCH_LOCK_WAIT_MS", "300")
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("is busy"), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
    // Nothing was done: the packet is still in the inbound, nothing stored, nothing posted.
    assert_eq!(names_in(&env.path("inbound")), ["00000000.pkt"]);
    assert!(!env.path("index/ftn").exists());
    assert!(names_in(&export_out).is_empty());
    // Readers do not take the lock.
    let stats: Value = serde_json::from_str(&env.run_ok(&["stats", "--json"])).unwrap();
    assert_eq!(stats["stories"], 0);
    env.run_ok(&["search", "export"]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    // Let go: a waiting run goes on as soon as it is free.
    let waiting = env.command(&["sync"]).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    held.unlock().unwrap();
    let out = waiting.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("1 new"), "{}", stderr(&out));
}

// ---- Inbound: files that are not ours stay where they are ----------------------------------

#[test]
fn inbound_leaves_readmes_and_tic_delivered_files_alone() {
    let env = Env::new("[[source]]\nname = \"inbound\"\npath = \"inbound\"\ninbound = true\n");
    let inbound = env.path("inbound");
    std::fs::create_dir_all(&inbound).unwrap();
    let export = std::fs::read(samples().join("echomail/tqwnet-export.txt")).unwrap();
    // A file echo's delivery: the TIC names NEWS.TXT, which is the file tosser's even though
    // it reads like a text export.
    std::fs::write(
        inbound.join("abcd1234.tic"),
        "Area NEWSFILES\r\nOrigin 1337:1/1\r\nFrom 1337:1/1\r\nFile NEWS.TXT\r\nDesc News\r\n",
    )
    .unwrap();
    std::fs::write(inbound.join("NEWS.TXT"), &export).unwrap();
    std::fs::write(
        inbound.join("README.txt"),
        "This is the inbound of tqwNet 1337:1/100. Do not delete files here.\n",
    )
    .unwrap();
    // Ours: a packet and a BBS text export.
    std::fs::copy(
        samples().join("echomail/d0774bf7.pkt"),
        inbound.join("d0774bf7.pkt"),
    )
    .unwrap();
    std::fs::write(inbound.join("tqwnet.txt"), &export).unwrap();

    for round in 0..2 {
        let out = env.run(&["sync"]);
        assert!(out.status.success(), "round {round}: {}", stderr(&out));
        assert!(stderr(&out).contains("0 failed"), "{}", stderr(&out));
        assert_eq!(
            names_in(&inbound),
            ["NEWS.TXT", "README.txt", "abcd1234.tic"],
            "round {round}"
        );
    }
    assert_eq!(
        names_in(&env.path("index/ftn/done")),
        ["d0774bf7.pkt", "tqwnet.txt"]
    );
    assert!(!env.path("index/ftn/bad").exists());
}

// ---- Inbound: a bundle with a broken packet ------------------------------------------------

#[test]
fn a_bundle_with_a_broken_packet_tosses_the_good_ones_and_is_set_aside() {
    let env = Env::new("[[source]]\nname = \"inbound\"\npath = \"inbound\"\ninbound = true\n");
    let inbound = env.path("inbound");
    std::fs::create_dir_all(&inbound).unwrap();
    // QA's bundle: a good packet, a truncated one, and a packet stored under a folder (its
    // path is a label only).
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in [
        (
            "0000aaaa.pkt",
            std::fs::read(fixture("ftn/gateway-utf8.pkt")).unwrap(),
        ),
        (
            "0000bbbb.pkt",
            std::fs::read(fixture("ftn/broken-truncated.pkt")).unwrap(),
        ),
        (
            "mail/d0774bf7.pkt",
            std::fs::read(samples().join("echomail/d0774bf7.pkt")).unwrap(),
        ),
    ] {
        z.start_file(name, opts).unwrap();
        std::io::Write::write_all(&mut z, &data).unwrap();
    }
    let bundle = z.finish().unwrap().into_inner();
    std::fs::write(inbound.join("0000dddd.th3"), &bundle).unwrap();

    // What the two good packets hold, tossed on their own.
    let control = Env::new("");
    for p in [
        fixture("ftn/gateway-utf8.pkt"),
        samples().join("echomail/d0774bf7.pkt"),
    ] {
        summary(&control, &["import", p.to_str().unwrap()]);
    }
    let stories = |env: &Env| {
        let stats: Value = serde_json::from_str(&env.run_ok(&["stats", "--json"])).unwrap();
        stats["stories"].as_u64().unwrap()
    };
    let want = stories(&control);
    assert!(want >= 4, "{want}");

    let out = env.run(&["sync"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("1 of 3 packets broken"), "{err}");
    assert!(err.contains("0000bbbb.pkt: truncated packet"), "{err}");
    assert!(err.contains(&format!("stories: {want} new")), "{err}");
    assert_eq!(stories(&env), want);
    // Set aside whole, with its reason; nothing tossed into done/.
    let bad = env.path("index/ftn/bad");
    assert_eq!(std::fs::read(bad.join("0000dddd.th3")).unwrap(), bundle);
    let reason = std::fs::read_to_string(bad.join("0000dddd.th3.reason")).unwrap();
    assert!(reason.contains("0000bbbb.pkt"), "{reason}");
    assert!(
        !reason.contains("0000aaaa.pkt") && !reason.contains("d0774bf7.pkt"),
        "{reason}"
    );
    assert!(names_in(&inbound).is_empty());
    assert!(!env.path("index/ftn/done").exists());

    // The sysop tosses the bundle again: MSGIDs make it a no-op, nothing doubles.
    std::fs::copy(bad.join("0000dddd.th3"), inbound.join("0000dddd.th3")).unwrap();
    let out = env.run(&["sync"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("stories: 0 new, 0 updated"), "{err}");
    assert_eq!(stories(&env), want);
    assert!(bad.join("0000dddd~1.th3").exists());
}

// ---- queries from the command line ---------------------------------------------------------

/// The bundled samples, synced: 17 stories from three feeds and an echomail folder.
fn samples_env() -> Env {
    let env = Env::new(&samples_config());
    env.run_ok(&["sync"]);
    env
}

fn search_json(env: &Env, query: &str) -> Vec<Value> {
    env.json_lines(&["search", "--json", "--limit", "1000", "--", query])
}

fn has(story: &Value, field: &str, value: &str) -> bool {
    story[field]
        .as_array()
        .is_some_and(|a| a.iter().any(|v| v == value))
}

#[test]
fn a_query_of_exclusions_alone_means_every_story_except_those() {
    let env = samples_env();
    let all = search_json(&env, "").len();
    let cn = search_json(&env, "country:CN").len();
    assert!(cn > 0 && cn < all, "{cn} of {all}");
    for q in ["-country:CN", "NOT country:CN"] {
        let hits = search_json(&env, q);
        assert_eq!(hits.len(), all - cn, "{q}");
        assert!(hits.iter().all(|h| !has(h, "countries", "CN")), "{q}");
        let stats: Value =
            serde_json::from_str(&env.run_ok(&["stats", "--json", "--", q])).unwrap();
        assert_eq!(stats["stories"], all - cn, "{q}");
        assert_eq!(stats["by_country"].get("CN"), None, "{q}");
        let out = env.run_ok(&["export", "--format", "jsonl", "--", q]);
        assert_eq!(out.lines().count(), all - cn, "{q}");
    }
    // Mixed with a filter of its own.
    let echo = search_json(&env, "kind:echomail").len();
    let echo_cn = search_json(&env, "kind:echomail country:CN").len();
    assert_eq!(
        search_json(&env, "kind:echomail -country:CN").len(),
        echo - echo_cn
    );
}

#[test]
fn search_limit_zero_lists_every_match() {
    let env = samples_env();
    let all = search_json(&env, "").len();
    assert!(all > 2, "{all}");
    let listed = env.run_ok(&["search", "", "--limit", "0"]);
    assert!(
        listed.ends_with(&format!("{all} of {all} matching stories\n")),
        "{listed}"
    );
    assert_eq!(listed.lines().count(), all + 1, "{listed}");
    let json = env.json_lines(&["search", "", "--limit", "0", "--json"]);
    assert_eq!(json.len(), all);
    // Any other limit still limits.
    assert_eq!(
        env.json_lines(&["search", "", "--limit", "2", "--json"])
            .len(),
        2
    );
}

#[test]
fn tag_adds_a_bare_tag_says_what_was_there_and_names_every_bad_one() {
    let env = samples_env();
    let story = search_json(&env, "country:CN")[0].clone();
    let id = story["id"].to_string();
    let tags_of = |id: &str| env.json_lines(&["show", id, "--json"])[0]["tags"].clone();

    // A bare tag is added, as the interface's tag editor does.
    let out = env.run(&["tag", &id, "brief"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    assert!(has(&serde_json::json!({ "t": tags_of(&id) }), "t", "brief"));
    // Added again: said to be there already, not reported as a change.
    let out = env.run(&["tag", &id, "+brief"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "brief: already there\n");
    // One the tagger set: there already, and now set by hand as well.
    let out = env.run(&["tag", &id, "+country:CN"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("country:CN: already there (set by the tagger)"),
        "{}",
        stderr(&out)
    );

    // Every bad tag is named, and nothing is changed.
    let out = env.run(&[
        "tag",
        &id,
        "+policy:bogus",
        "+country:ZZ",
        "policy:nope",
        "-brief",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    for bad in ["\"bogus\"", "\"ZZ\"", "\"nope\""] {
        assert!(err.contains(bad), "{bad} not named in {err}");
    }
    assert!(has(&serde_json::json!({ "t": tags_of(&id) }), "t", "brief"));
}

#[test]
fn stats_says_why_kinds_add_up_to_more_than_the_stories() {
    let env = samples_env();
    let json: Value = serde_json::from_str(&env.run_ok(&["stats", "--json"])).unwrap();
    let stories = json["stories"].as_u64().unwrap();
    let kinds: u64 = json["by_kind"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert!(kinds > stories, "{json}");
    let both = kinds - stories;
    // --json is as DESIGN.md has it: no note in there.
    let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "by_area",
            "by_country",
            "by_kind",
            "by_policy",
            "by_source",
            "by_tag",
            "stories"
        ]
    );
    let text = env.run_ok(&["stats"]);
    let note = if both == 1 {
        "(1 story came both by feed and by echomail: counted under each kind)".to_string()
    } else {
        format!("({both} stories came both by feed and by echomail: counted under each kind)")
    };
    let kind_section = text.split("by kind:").nth(1).unwrap_or("");
    assert!(kind_section.contains(&note), "{text}");
    let sources: u64 = json["by_source"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert!(
        text.contains(&format!(
            "(a story carried by several sources is counted under each: {sources} counts for {stories} stories)"
        )),
        "{text}"
    );
    // Without a story that came both ways, there is nothing to explain.
    let text = env.run_ok(&["stats", "kind:feed -kind:echomail"]);
    assert!(!text.contains("counted under each kind"), "{text}");
}

#[test]
fn an_unusable_data_folder_is_named_once() {
    let env = Env::new("");
    std::fs::write(env.path("file"), "not a folder").unwrap();
    let data = env.path("file/data");
    let data = data.to_str().unwrap();
    let out = env.run(&["--data", data, "stats"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.matches(data).count(), 1, "{err}");
    assert!(
        err.starts_with("echowatch: cannot create data folder"),
        "{err}"
    );
}

// ---- Gateway: killed and failed runs never post a story twice -------------------------------

/// `echowatch` with the environment's config, as `Env::run` starts it.
fn command(env: &Env, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_echowatch"));
    c.arg("--config")
        .arg(env.path("feeds.toml"))
        .args(args)
        .env_remove("ECHOWATCH_DATA");
    c
}

/// Waits (up to 60 s) until `dir` holds `n` packets.
fn wait_for_packets(dir: &Path, n: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !dir.exists() || packets_in(dir).len() < n {
        assert!(std::time::Instant::now() < deadline, "no packet {n}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_run_killed_between_writing_a_packet_and_recording_it_is_finished_not_repeated() {
    let env = env_with_feed("kill", 4);
    let out = env.path("out");
    let mut args = gateway_args("TQW_TEST", &out, None);
    args.extend(["--max-packet-kb", "1"]);
    // Killed (SIGKILL) right after writing its second packet, before recording it.
    let mut hang = args.clone();
    hang.extend(["--hang-before-confirm", "2"]);
    let run = Running(command(&env, &hang).spawn().unwrap());
    wait_for_packets(&out, 2);
    drop(run);
    let written = packets_in(&out);
    assert_eq!(written.len(), 2);
    let said = summary(&env, &args);
    assert!(
        said.contains("recorded 1 story that a killed run had written into its packets"),
        "{said}"
    );
    assert!(said.starts_with("posted 2 stories "), "{said}");
    // Every story once in --out, none twice.
    let want: Vec<String> = (0..4)
        .map(|i| format!("https://wire.test/kill/{i}"))
        .collect();
    assert_eq!(links_once(&packets_in(&out)), want);
    let again = summary(&env, &args);
    assert_eq!(
        again,
        "nothing to post: 4 stories already posted to TQW_TEST\n"
    );
}

#[test]
fn an_out_for_another_node_is_left_alone_and_the_run_posts_once() {
    use echowatch::ftn::{FtnAddress, PacketHeader, write_packet};
    let env = env_with_feed("foreign", 3);
    let (out, outbound) = (env.path("out"), env.path("outbound"));
    std::fs::create_dir_all(&outbound).unwrap();
    // The uplink's .out holds a packet another program made for another node.
    let other: FtnAddress = "1337:1/102".parse().unwrap();
    let header = PacketHeader::new(
        "1337:1/101".parse().unwrap(),
        other,
        chrono::NaiveDate::from_ymd_opt(2026, 6, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap(),
    );
    let theirs = write_packet(&header, &[]).unwrap();
    let waiting = outbound.join("00010065.out");
    std::fs::write(&waiting, &theirs).unwrap();
    let (v, said) = gateway_report(&env, &outbound_args(&out, &outbound, None, &[]));
    assert_eq!(v["posted"], 3, "{said}");
    assert_eq!(v["packets"][0]["outbound"]["placement"], "attached", "{v}");
    assert_eq!(std::fs::read(&waiting).unwrap(), theirs);
    // Recorded: a run without the outbound has nothing left to post.
    let again = summary(&env, &gateway_args("TQW_TEST", &out, None));
    assert_eq!(
        again,
        "nothing to post: 3 stories already posted to TQW_TEST\n"
    );
    assert_eq!(links_once(&packets_in(&out)).len(), 3);
    assert_eq!(links_once(&queued_for_uplink(&outbound)[1..]).len(), 3);
}

#[test]
fn a_busy_flag_our_killed_run_left_is_taken_over_by_the_next_run() {
    let env = env_with_feed("flagkill", 4);
    let (out, outbound) = (env.path("out"), env.path("outbound"));
    let args = outbound_args(&out, &outbound, None, &["--max-packet-kb", "1"]);
    let mut hang = args.clone();
    hang.extend(["--hang-before-confirm", "2"]);
    let run = Running(command(&env, &hang).spawn().unwrap());
    let pid = run.0.id();
    wait_for_packets(&out, 2);
    drop(run);
    let flag = outbound.join("00010065.bsy");
    assert!(flag.exists(), "the killed run's flag");
    let said = summary(&env, &args);
    assert!(
        said.contains(&format!(
            "removed the busy flag {} of a killed echowatch run (PID {pid}, no longer running)",
            flag.display()
        )),
        "{said}"
    );
    assert!(said.starts_with("posted 2 stories "), "{said}");
    assert!(
        leftovers(&outbound).is_empty(),
        "{:?}",
        leftovers(&outbound)
    );
    // The uplink gets each story once.
    assert_eq!(links_once(&queued_for_uplink(&outbound)).len(), 4);
}

#[test]
fn gateway_edges_a_long_password_a_file_for_out_and_a_lower_case_area() {
    let env = env_with_feed("edge", 2);
    let out = env.path("out");
    // A password longer than the header's 8 bytes: a usage error, nothing done.
    let mut args = gateway_args("tqw_test", &out, None);
    args.extend(["--password", "NINEBYTES"]);
    let failed = env.run(&args);
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));
    assert!(
        stderr(&failed).contains("at most 8 bytes"),
        "{}",
        stderr(&failed)
    );
    assert!(!out.exists());
    // --out naming a file: said so.
    let afile = env.path("afile");
    std::fs::write(&afile, "x").unwrap();
    let failed = env.run(&gateway_args("tqw_test", &afile, None));
    assert_eq!(failed.status.code(), Some(1));
    assert!(
        stderr(&failed).contains("afile: not a folder"),
        "{}",
        stderr(&failed)
    );
    // The summary names the area as the packets do.
    let said = summary(&env, &gateway_args("tqw_test", &out, None));
    assert!(
        said.starts_with("posted 2 stories to TQW_TEST in "),
        "{said}"
    );
    let again = summary(&env, &gateway_args("tqw_test", &out, None));
    assert_eq!(
        again,
        "nothing to post: 2 stories already posted to TQW_TEST\n"
    );
}

// ---- Inbound: files still being written are left for the next run -------------------------

#[test]
fn inbound_min_age_leaves_fresh_files_for_the_next_run() {
    let env = Env::new(
        "[[source]]\nname = \"inbound\"\npath = \"inbound\"\ninbound = true\nmin_age_secs = 1\n",
    );
    let inbound = env.path("inbound");
    // One packet arrived a while ago; the other was written just now, perhaps not finished.
    // Its age is read from the inode's change time, which a mailer keeping the sender's
    // (old) modification time does not set back.
    write_inbound_packets(&inbound, 1);
    std::thread::sleep(std::time::Duration::from_millis(1300));
    let fresh = env.path("fresh");
    write_inbound_packets(&fresh, 2);
    std::fs::rename(fresh.join("00000001.pkt"), inbound.join("00000001.pkt")).unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(inbound.join("00000001.pkt"))
        .unwrap()
        .set_modified(old)
        .unwrap();

    let out = env.run(&["sync"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(names_in(&inbound), ["00000001.pkt"]);
    assert_eq!(names_in(&env.path("index/ftn/done")), ["00000000.pkt"]);
    assert!(!env.path("index/ftn/bad").exists());
    assert_eq!(
        env.json_lines(&["search", "--json", "inbound story"]).len(),
        1
    );

    // Once it is old enough, the next run takes it.
    std::thread::sleep(std::time::Duration::from_millis(1300));
    let out = env.run(&["sync"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(names_in(&inbound).is_empty());
    assert_eq!(
        env.json_lines(&["search", "--json", "inbound story"]).len(),
        2
    );
}

// ---- Hostile input (QA7) ----

/// Whether `text` holds anything a terminal acts on: ESC, BEL or a C1 control.
fn has_terminal_controls(text: &str) -> bool {
    text.chars()
        .any(|c| c == '\x1b' || c == '\x07' || ('\u{80}'..='\u{9f}').contains(&c))
}

/// The `.reason` files of the data folder's `ftn/bad`, with their text.
fn reasons(env: &Env) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(env.path("index/ftn/bad"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "reason"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p.file_name().unwrap().to_string_lossy().into_owned(), text)
        })
        .collect();
    out.sort();
    out
}

#[cfg(unix)]
#[test]
fn file_names_with_escapes_reach_neither_the_terminal_nor_a_reason_file() {
    let env = Env::new(
        "[[source]]\nname = \"inb\"\npath = \"inb\"\ninbound = true\n\n\
         [[source]]\nname = \"fd\"\npath = \"feeddir\"\n",
    );
    for dir in ["inb", "feeddir"] {
        std::fs::create_dir_all(env.path(dir)).unwrap();
    }
    // Names a remote mailer could choose: retitle the terminal, set its clipboard.
    let evil = "q\x1b]0;FNTITLE\x07\x1b]52;c;Rk4=\x07q.pkt";
    std::fs::write(env.path("inb").join(evil), b"junk").unwrap();
    std::fs::write(
        env.path("feeddir").join("r\x1b]0;FNTITLE2\x07r.rss"),
        b"junk",
    )
    .unwrap();

    let out = env.run(&["sync"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!has_terminal_controls(&err), "{err:?}");
    assert!(err.contains("qq.pkt") && err.contains("rr.rss"), "{err}");
    // The file keeps its own name in bad/; its reason names it cleaned.
    assert!(env.path("index/ftn/bad").join(evil).exists());
    let reasons = reasons(&env);
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(!has_terminal_controls(&reasons[0].1), "{reasons:?}");
    assert!(reasons[0].1.contains("qq.pkt"), "{reasons:?}");

    // `import` of a folder whose own name holds escapes: its source name `import:…` too.
    let dir = env.path("imp\x1b]0;DIRTITLE\x07");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("s\x1b]0;FNTITLE3\x07s.pkt"), b"junk").unwrap();
    let out = env.run(&["import", dir.to_str().unwrap()]);
    let err = stderr(&out);
    // Nothing could be imported: exit 1.
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!has_terminal_controls(&err), "{err:?}");
    assert!(err.contains("failed: import:"), "{err}");
    assert!(err.contains("imp/ss.pkt"), "{err}");
}

#[cfg(unix)]
#[test]
fn inbound_files_whose_names_are_not_utf8_are_tossed_or_set_aside() {
    use std::os::unix::ffi::OsStrExt;
    let env = Env::new("[[source]]\nname = \"i8\"\npath = \"inb8\"\ninbound = true\n");
    let inbound = env.path("inb8");
    std::fs::create_dir_all(&inbound).unwrap();
    let good = std::ffi::OsStr::from_bytes(b"caf\xe91.pkt");
    let bad = std::ffi::OsStr::from_bytes(b"bad\xe92.pkt");
    std::fs::copy(fixture("ftn/gateway-utf8.pkt"), inbound.join(good)).unwrap();
    std::fs::copy(fixture("ftn/broken-truncated.pkt"), inbound.join(bad)).unwrap();

    let out = env.run(&["sync"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("bad\u{fffd}2.pkt"), "{err}");
    assert_eq!(std::fs::read_dir(&inbound).unwrap().count(), 0);
    assert!(env.path("index/ftn/done").join(good).exists());
    assert!(env.path("index/ftn/bad").join(bad).exists());
    assert!(
        !env.json_lines(&["search", "kind:echomail", "--json"])
            .is_empty()
    );
    // Nothing is left to look at again.
    let again = summary(&env, &["sync"]);
    assert!(again.contains("0 failed"), "{again}");
}

#[test]
fn a_huge_title_is_capped_at_ingest() {
    let env = Env::new("");
    let dir = env.path("bt");
    std::fs::create_dir(&dir).unwrap();
    let feed = serde_json::json!({
        "version": "https://jsonfeed.org/version/1.1",
        "title": "BT",
        "items": [{
            "id": "bt",
            "title": format!("BIGTITLE {}", "T".repeat(100_000)),
            "authors": [{"name": "A".repeat(10_000)}],
            "content_text": "b",
            "url": "https://x.invalid/bt",
        }],
    });
    std::fs::write(dir.join("b.json"), feed.to_string()).unwrap();
    env.run_ok(&["import", dir.to_str().unwrap()]);
    let found = env.json_lines(&["search", "--json", "bigtitle"]);
    assert_eq!(found.len(), 1);
    let title = found[0]["title"].as_str().unwrap();
    assert_eq!(title.chars().count(), echowatch::model::MAX_TITLE_CHARS);
    assert!(title.starts_with("BIGTITLE TTT") && title.ends_with('…'));
    let author = found[0]["author"].as_str().unwrap();
    assert_eq!(author.chars().count(), echowatch::model::MAX_FIELD_CHARS);
}

#[test]
fn sync_reread_counts_the_sources_it_read_again_as_ok() {
    let hour = std::time::Duration::from_secs(3600);
    let env = Env::new("[[source]]\nname = \"local\"\npath = \"feeds\"\n");
    std::fs::create_dir(env.path("feeds")).unwrap();
    write_aged(&env.path("feeds/a.xml"), &sample_rss("Alpha", 1), hour);
    let first = summary(&env, &["sync"]);
    assert!(first.contains("sources: 1 ok, 0 unchanged"), "{first}");
    // Skipped: unchanged. Read again on request: ok, though nothing in it is new.
    let skipped = summary(&env, &["sync"]);
    assert!(skipped.contains("sources: 0 ok, 1 unchanged"), "{skipped}");
    let reread = summary(&env, &["sync", "--reread"]);
    assert!(
        reread.contains("sources: 1 ok, 0 unchanged, 0 failed; stories: 0 new, 0 updated"),
        "{reread}"
    );
    let after = summary(&env, &["sync"]);
    assert!(after.contains("sources: 0 ok, 1 unchanged"), "{after}");
}

#[test]
fn damaged_feed_files_are_reported_in_the_feed_readers_words() {
    let env = Env::new("");
    let dir = env.path("imp2");
    std::fs::create_dir(&dir).unwrap();
    for (name, text) in [
        ("a.rss", "garbage"),
        ("b.xml", "<rss><channel><item>"),
        ("c.json", "{\"version\":\"x\""),
        ("d.atom", "garbage"),
    ] {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let out = env.run(&["import", dir.to_str().unwrap()]);
    let err = stderr(&out);
    // Nothing could be imported: exit 1.
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("type 2 packet"), "{err}");
    assert!(!err.contains("no root element"), "{err}");
    for name in ["a.rss", "b.xml", "c.json", "d.atom"] {
        let line = err
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} not named in:\n{err}"));
        assert!(line.contains("not a valid RSS/Atom/JSON feed: "), "{line}");
    }
}

// ---- CLI and docs (QA7) ----------------------------------------------------------------------

/// `echowatch ARGS` with its standard output a pipe whose reader is already gone, as in
/// `echowatch … | head` once head has its lines: every write fails with EPIPE.
fn run_into_closed_pipe(env: &Env, args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    command(env, args)
        .stdout(std::process::Stdio::from(writer))
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap()
}

/// A path source of `n` stories (more output than any buffer holds).
fn env_with_local_feed(n: usize) -> Env {
    let env = Env::new("[[source]]\nname = \"Local Wire\"\npath = \"feeds\"\n");
    std::fs::create_dir_all(env.path("feeds")).unwrap();
    std::fs::write(env.path("feeds/wire.rss"), sample_rss("wire", n)).unwrap();
    env.run_ok(&["sync"]);
    env
}

#[test]
fn qa7_output_cut_short_by_its_reader_ends_quietly_for_every_command() {
    let env = env_with_local_feed(300);
    for args in [
        &["export", "--format", "jsonl"][..],
        &["export", "--format", "csv"],
        &["export", "--format", "jsonl", "wire"],
        &["search", "wire", "--limit", "0"],
        &["search", "wire", "--json", "--limit", "0"],
        &["show", "1"],
        &["show", "1", "--json"],
        &["stats"],
        &["stats", "--json"],
        &["tag", "1", "+brief"],
    ] {
        let out = run_into_closed_pipe(&env, args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(
            !stderr(&out).contains("Broken pipe"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    // `sync | head` still tells by its status that a source failed.
    let env = Env::new(
        "[[source]]\nname = \"gone\"\npath = \"nowhere.rss\"\n\n[[watch]]\nname = \"W\"\nquery = \"wire\"\n",
    );
    let out = run_into_closed_pipe(&env, &["sync"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!stderr(&out).contains("Broken pipe"), "{}", stderr(&out));
}

#[test]
fn qa7_reading_commands_refuse_a_data_folder_without_a_store_and_create_nothing() {
    let env = env_with_local_feed(2);
    let typo = env.path("indx");
    let deeper = env.path("no/such/folder");
    let never = env.path("never");
    let never = never.to_str().unwrap();
    for data in [&typo, &deeper] {
        let data = data.to_str().unwrap();
        for args in [
            &["search", "wire"][..],
            &["show", "1"],
            &["stats"],
            &["stats", "--json"],
            &["export", "--format", "jsonl"],
            &[
                "export", "--format", "ftn", "--area", "A", "--from", "1:1/1", "--to", "1:1/2",
            ],
            &["tag", "1", "+brief"],
            &["retag"],
        ] {
            let mut full = vec!["--data", data];
            full.extend_from_slice(args);
            if args[0] == "export" && args[2] == "ftn" {
                full.extend_from_slice(&["--out", never]);
            }
            let out = env.run(&full);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
            assert_eq!(
                stderr(&out).trim_end(),
                format!(
                    "echowatch: no echowatch store in {data}; run `echowatch sync` first, or check --data"
                ),
                "{args:?}"
            );
            assert!(out.stdout.is_empty(), "{args:?}");
        }
    }
    assert!(!typo.exists());
    assert!(!env.path("no").exists());
    assert!(!env.path("never").exists());
    // The right folder still answers.
    assert!(env.run_ok(&["stats"]).contains("stories: 2"));

    // `--data` naming a file: said plainly, for readers and writers alike.
    std::fs::write(env.path("afile"), "x").unwrap();
    let afile = env.path("afile");
    let afile = afile.to_str().unwrap();
    for args in [&["stats"][..], &["sync"], &["import", "feeds"]] {
        let mut full = vec!["--data", afile];
        full.extend_from_slice(args);
        let out = env.run(&full);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("{afile} is a file, not a folder")),
            "{args:?}: {}",
            stderr(&out)
        );
    }

    // Commands that fill a store still create it.
    let fresh = env.path("fresh");
    let fresh = fresh.to_str().unwrap();
    let out = env.run(&["--data", fresh, "sync"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        env.run_ok(&["--data", fresh, "stats"])
            .contains("stories: 2")
    );
    let imported = env.path("imported");
    let imported = imported.to_str().unwrap();
    let feed = env.path("feeds/wire.rss");
    env.run_ok(&["--data", imported, "import", feed.to_str().unwrap()]);
    assert!(
        env.run_ok(&["--data", imported, "stats"])
            .contains("stories: 2")
    );
}

#[test]
fn qa7_export_names_every_missing_gateway_flag_and_refuses_gateway_flags_elsewhere() {
    let env = env_with_local_feed(2);
    let out = env.run(&["export", "--format", "ftn"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "export --format ftn needs --out DIR, --area TAG, --from Z:N/F[.P] and --to Z:N/F[.P]"
        ),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["export", "--format", "ftn", "--out", "o", "--area", "Y"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("needs --from Z:N/F[.P] and --to Z:N/F[.P]"),
        "{}",
        stderr(&out)
    );
    assert!(!env.path("o").exists());

    for (args, named) in [
        (
            &[
                "export",
                "--format",
                "csv",
                "--area",
                "Y",
                "--max-packet-kb",
                "3",
                "--from",
                "1:1/1",
            ][..],
            "--area, --from and --max-packet-kb are the echomail gateway's (--format ftn) only; --format csv would ignore them",
        ),
        (
            &["export", "--format", "jsonl", "--charset", "utf8"],
            "--charset is the echomail gateway's (--format ftn) only; --format jsonl would ignore it",
        ),
        (
            &["export", "--format", "jsonl", "--json"],
            "--json goes with --format ftn only",
        ),
    ] {
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(stderr(&out).contains(named), "{args:?}: {}", stderr(&out));
    }
    // Their defaults alone are no reason to refuse.
    assert_eq!(
        env.run_ok(&["export", "--format", "jsonl"]).lines().count(),
        2
    );

    let help = env.run_ok(&["export", "--help"]);
    assert_eq!(help.matches("(ftn: required)").count(), 4, "{help}");
}

#[test]
fn qa7_help_lists_every_query_field_and_describes_every_flag() {
    let env = Env::new("");
    let search = env.run_ok(&["search", "--help"]);
    for field in [
        "title:",
        "body:",
        "published:",
        "country:",
        "policy:",
        "tag:",
        "source:",
        "kind:",
        "area:",
    ] {
        assert!(search.contains(field), "{field} missing from:\n{search}");
    }
    assert!(!search.contains("max-packet-kb"), "{search}");
    for cmd in ["show", "stats"] {
        let help = env.run_ok(&[cmd, "--help"]);
        let line = help
            .lines()
            .find(|l| l.trim_start().starts_with("--json"))
            .unwrap_or_default();
        assert!(
            line.trim_start().trim_start_matches("--json").trim().len() > 10,
            "{cmd} --json has no description:\n{help}"
        );
    }
}

#[test]
fn qa7_eval_tags_refuses_unlabelled_items_naming_file_and_line() {
    let env = Env::new("");
    let file = env.path("e3.jsonl");
    std::fs::write(
        &file,
        "{\"title\":\"x\",\"countries\":[],\"policies\":[]}\n{\"title\":\"Commerce adds firms to the Entity List\"}\n",
    )
    .unwrap();
    let name = file.to_str().unwrap();
    let out = env.run(&["eval-tags", name]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("{name}:2: no `countries` or `policies` field")),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());

    std::fs::write(&file, "not json\n").unwrap();
    let out = env.run(&["eval-tags", name]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("{name}:1: ")),
        "{}",
        stderr(&out)
    );

    std::fs::write(
        &file,
        "{\"title\":\"Commerce adds firms to the Entity List\",\"countries\":[\"US\"],\"policies\":[\"entity-list\"]}\n",
    )
    .unwrap();
    assert!(env.run_ok(&["eval-tags", name]).contains("micro"));
}

#[test]
fn qa7_import_that_reads_nothing_exits_1_and_a_partial_one_2() {
    let env = Env::new("");
    let data = env.path("idx");
    let data = data.to_str().unwrap();
    let missing = env.path("nonexistent/dir");
    let missing = missing.to_str().unwrap();
    let out = env.run(&["--data", data, "import", missing]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("nonexistent/dir"), "{}", stderr(&out));

    // Only broken files: nothing could be read either.
    std::fs::create_dir_all(env.path("broken")).unwrap();
    std::fs::write(env.path("broken/a.rss"), "garbage").unwrap();
    std::fs::write(env.path("broken/b.pkt"), "garbage").unwrap();
    let broken = env.path("broken");
    let out = env.run(&["--data", data, "import", broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    // One path that works among others that don't: the rest were ingested.
    std::fs::write(env.path("good.rss"), sample_rss("good", 2)).unwrap();
    let good = env.path("good.rss");
    let out = env.run(&["--data", data, "import", missing, good.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        env.run_ok(&["--data", data, "stats"])
            .contains("stories: 2")
    );
    // Read again: nothing new, yet read, so still 2 (not 1) beside a failure, 0 alone.
    let out = env.run(&["--data", data, "import", missing, good.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = env.run(&["--data", data, "import", good.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // sync keeps its meaning: every source failing is "sources failed" (2).
    let env = Env::new("[[source]]\nname = \"gone\"\npath = \"nowhere.rss\"\n");
    assert_eq!(env.run(&["sync"]).status.code(), Some(2));
}

#[test]
fn qa7_sync_source_ignores_case_when_unambiguous_and_lists_the_names() {
    let env = Env::new(&samples_config());
    let out = env.run(&["sync", "--source", "sample: policy wire"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("sources: 1 ok"), "{}", stderr(&out));
    let stats = &env.json_lines(&["stats", "--json"])[0];
    let by_source = stats["by_source"].as_object().unwrap();
    assert_eq!(
        by_source.keys().collect::<Vec<_>>(),
        ["Sample: Policy Wire"],
        "{stats}"
    );

    let out = env.run(&["sync", "--source", "sample: policywire"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(
            "no source named \"sample: policywire\" in the config; the sources are: \
             \"Sample: Policy Wire\", \"Sample: Chip Policy Notes\", \"Sample: RegWatch\", \
             \"Sample: tqwNet echomail\""
        ),
        "{err}"
    );

    // Two names that differ only in case are one source to the index and `source:`: the
    // config refuses them, naming the line.
    let env = Env::new(
        "[[source]]\nname = \"Wire\"\npath = \"a.rss\"\n\n[[source]]\nname = \"WIRE\"\npath = \"b.rss\"\n",
    );
    let out = env.run(&["sync", "--source", "wire"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("feeds.toml:6: key `name`") && stderr(&out).contains("only in case"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn eval_tags_reads_no_store_and_creates_no_data_folder() {
    let env = Env::new("");
    let set = env.path("set.jsonl");
    std::fs::write(
        &set,
        "{\"id\":\"a\",\"title\":\"Commerce adds firms to the Entity List\",\"summary\":\"\",\"countries\":[\"US\"],\"policies\":[\"entity-list\"],\"kind\":\"positive\"}\n",
    )
    .unwrap();
    let data = env.path("typo-dir");
    let out = command(
        &env,
        &[
            "--data",
            data.to_str().unwrap(),
            "eval-tags",
            set.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!data.exists());
}

// ---- Durability (QA7) ------------------------------------------------------------------------

/// `export --out FILE` killed at any moment leaves the previous export whole: the file is
/// written beside its name and renamed over it once complete (it used to be written in place,
/// and a kill left a cut-off file where yesterday's complete one had been).
#[test]
fn a_killed_export_leaves_the_previous_file_whole() {
    let env = Env::new("[[source]]\nname = \"Big\"\npath = \"big.xml\"\n");
    std::fs::write(env.path("big.xml"), sample_rss("big", 3000)).unwrap();
    env.run_ok(&["sync"]);
    for (format, name) in [("jsonl", "all.jsonl"), ("csv", "all.csv")] {
        let out = env.path(name);
        env.run_ok(&["export", "--format", format, "--out", out.to_str().unwrap()]);
        let whole = std::fs::read(&out).unwrap();
        assert!(whole.len() > 100_000, "{}", whole.len());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
            0o644
        );
        for delay_ms in [5u64, 20, 40, 60, 90, 130, 200] {
            let mut child = command(
                &env,
                &["export", "--format", format, "--out", out.to_str().unwrap()],
            )
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
            std::thread::sleep(std::time::Duration::from_millis(delay_ms));
            let _ = child.kill();
            let _ = child.wait();
            assert!(
                std::fs::read(&out).unwrap() == whole,
                "{format}: cut after {delay_ms} ms"
            );
        }
        // The next run removes what killed runs left beside it, and writes the same file.
        env.run_ok(&["export", "--format", format, "--out", out.to_str().unwrap()]);
        assert!(std::fs::read(&out).unwrap() == whole);
        let left: Vec<String> = names_in(&env.path(""))
            .into_iter()
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}

/// `tag` reads its words in order: the last one on a tag wins, and what it reports is what
/// happened.
#[test]
fn tag_changes_are_read_in_order() {
    let env = Env::new("[[source]]\nname = \"F\"\npath = \"f.xml\"\n");
    std::fs::write(env.path("f.xml"), sample_rss("f", 1)).unwrap();
    env.run_ok(&["sync"]);
    let free_tags = |env: &Env| -> Vec<Value> {
        let shown: Value = serde_json::from_str(&env.run_ok(&["show", "1", "--json"])).unwrap();
        shown["tags"].as_array().unwrap().clone()
    };
    env.run_ok(&["tag", "1", "-brief", "+brief"]);
    assert_eq!(free_tags(&env), vec![Value::from("brief")]);
    let out = env.run(&["tag", "1", "+qa", "-qa"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(free_tags(&env), vec![Value::from("brief")]);
    env.run_ok(&["tag", "1", "+brief", "-brief"]);
    assert!(free_tags(&env).is_empty());
}

// ---- Inbound: packet passwords ---------------------------------------------------------------

/// One packet of one echomail message from `from` to 1337:1/101 under `password`.
fn packet_from(from: &str, password: Option<&str>, serial: u32, title: &str) -> Vec<u8> {
    use echowatch::ftn::writer::{self, GatewayConfig, GatewayPost};
    let cfg = GatewayConfig::new(
        "TQW_TEST",
        from.parse().unwrap(),
        "1337:1/101".parse().unwrap(),
    );
    let posted = chrono::DateTime::parse_from_rfc3339("2026-06-12T09:30:00+02:00").unwrap();
    let post = GatewayPost {
        serial,
        title: title.into(),
        published: None,
        description: format!("{title}, the body."),
        link: None,
    };
    echowatch::ftn::write_packet(
        &writer::gateway_header(&cfg, posted, password),
        &[post.to_message(&cfg, posted)],
    )
    .unwrap()
}

#[test]
fn inbound_packets_under_the_wrong_password_are_set_aside() {
    let env = Env::new(
        "[echomail]\npacket_passwords = { \"1337:1/100\" = \"SECRET\" }\n\
         [[source]]\nname = \"inbound\"\npath = \"inbound\"\ninbound = true\n",
    );
    let inbound = env.path("inbound");
    std::fs::create_dir_all(&inbound).unwrap();
    let write = |name: &str, bytes: Vec<u8>| std::fs::write(inbound.join(name), bytes).unwrap();
    // Case does not matter; a node without a password set is not checked.
    write(
        "00000001.pkt",
        packet_from("1337:1/100", Some("secret"), 1, "Right password"),
    );
    write(
        "00000002.pkt",
        packet_from("1337:1/100", Some("GUESS"), 2, "Wrong password"),
    );
    write(
        "00000003.pkt",
        packet_from("1337:1/100", None, 3, "No password"),
    );
    write(
        "00000004.pkt",
        packet_from("1337:1/200", None, 4, "Other node"),
    );
    // A bundle with one forged packet is not trusted at all.
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    for (name, data) in [
        (
            "0000aaaa.pkt",
            packet_from("1337:1/100", Some("SECRET"), 5, "Bundled right"),
        ),
        (
            "0000bbbb.pkt",
            packet_from("1337:1/100", Some("NOPE"), 6, "Bundled wrong"),
        ),
    ] {
        z.start_file(name, opts).unwrap();
        std::io::Write::write_all(&mut z, &data).unwrap();
    }
    write("0000abcd.mo0", z.finish().unwrap().into_inner());

    let out = env.run(&["sync"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!stderr(&out).contains("SECRET") && !stderr(&out).contains("GUESS"));
    let titles: Vec<String> = env
        .json_lines(&["search", "--json", "--limit", "0", "--", "*"])
        .iter()
        .map(|s| s["title"].as_str().unwrap().to_string())
        .collect();
    let mut titles = titles;
    titles.sort();
    assert_eq!(titles, ["Other node", "Right password"]);
    let bad = names_in(&env.path("index/ftn/bad"));
    assert_eq!(
        bad,
        [
            "00000002.pkt",
            "00000002.pkt.reason",
            "00000003.pkt",
            "00000003.pkt.reason",
            "0000abcd.mo0",
            "0000abcd.mo0.reason"
        ]
    );
    let reason = std::fs::read_to_string(env.path("index/ftn/bad/0000abcd.mo0.reason")).unwrap();
    assert!(
        reason.contains("0000bbbb.pkt: packet from 1337:1/100 has the wrong password"),
        "{reason}"
    );
    assert!(inbound.read_dir().unwrap().next().is_none());
}

/// What is not a regular file is written through, not replaced: `/dev/null` stays a device
/// and a symlink stays a link to the file it names.
#[test]
fn export_writes_through_what_is_not_a_regular_file() {
    let env = Env::new("[[source]]\nname = \"F\"\npath = \"f.xml\"\n");
    std::fs::write(env.path("f.xml"), sample_rss("f", 3)).unwrap();
    env.run_ok(&["sync"]);
    env.run_ok(&["export", "--format", "jsonl", "--out", "/dev/null"]);
    let target = env.path("real.jsonl");
    std::fs::write(&target, "old\n").unwrap();
    let link = env.path("link.jsonl");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    env.run_ok(&[
        "export",
        "--format",
        "jsonl",
        "--out",
        link.to_str().unwrap(),
    ]);
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap().lines().count(), 3);
}

// ---- Gateway: a run killed between the outbound and --out ---------------------------------

/// Waits (up to 60 s) until `path` exists.
fn wait_for_file(path: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !path.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "{} never came",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_run_killed_between_the_outbound_and_out_reaches_out_once_and_the_uplink_once() {
    let env = env_with_feed("half", 4);
    let (out, outbound) = (env.path("out"), env.path("outbound"));
    let args = outbound_args(&out, &outbound, None, &["--max-packet-kb", "1"]);
    // Killed (SIGKILL) once its first packet is the uplink's .out, before --out has it.
    let mut hang = args.clone();
    hang.extend(["--hang-before-out", "1"]);
    let run = Running(command(&env, &hang).spawn().unwrap());
    wait_for_file(&outbound.join("00010065.out"));
    drop(run);
    std::fs::create_dir_all(&out).unwrap();
    assert!(packets_in(&out).is_empty());
    let uplink = std::fs::read(outbound.join("00010065.out")).unwrap();
    assert_eq!(messages_in(&[outbound.join("00010065.out")]).len(), 1);

    let (v, said) = gateway_report(&env, &args);
    assert_eq!(
        (&v["adopted"], &v["posted"]),
        (&Value::from(1), &Value::from(3))
    );
    assert!(
        said.contains("recorded 1 story that a killed run had written into its packets"),
        "{said}"
    );
    assert!(
        said.contains("copied 1 story that had reached only the outbound into "),
        "{said}"
    );
    // The copy is listed first, marked adopted, and went to no outbound; every packet in
    // --out is listed.
    let packets = v["packets"].as_array().unwrap();
    assert_eq!(packets[0]["adopted"], true, "{v}");
    assert_eq!(packets[0]["outbound"], Value::Null, "{v}");
    assert_eq!(packets[0]["messages"], 1, "{v}");
    assert!(packets[1..].iter().all(|p| p["adopted"] == false), "{v}");
    let mut listed: Vec<PathBuf> = packets.iter().map(|p| path_of(&p["path"])).collect();
    listed.sort();
    assert_eq!(listed, packets_in(&out));
    // --out (a local message base) and the uplink each have every story exactly once; the
    // copy holds the very message the uplink has.
    let want: Vec<String> = (0..4)
        .map(|i| format!("https://wire.test/half/{i}"))
        .collect();
    assert_eq!(links_once(&packets_in(&out)), want);
    assert_eq!(links_once(&queued_for_uplink(&outbound)), want);
    assert_eq!(
        std::fs::read(outbound.join("00010065.out")).unwrap(),
        uplink
    );
    let copy = messages_in(&[path_of(&packets[0]["path"])]);
    let sent = messages_in(&[outbound.join("00010065.out")]);
    assert_eq!(copy, sent);
    assert!(leftovers(&out).is_empty(), "{:?}", leftovers(&out));
    assert!(
        leftovers(&outbound).is_empty(),
        "{:?}",
        leftovers(&outbound)
    );

    let again = summary(&env, &args);
    assert_eq!(
        again,
        "nothing to post: 4 stories already posted to TQW_TEST\n"
    );
    assert_eq!(packets_in(&out), listed);
}

// ---- import: what it is given must be something to read ------------------------------------

#[test]
fn import_of_a_folder_without_files_exits_1_naming_it() {
    let env = Env::new("");
    let data = env.path("idx");
    let data = data.to_str().unwrap();
    // An empty folder (a spool not mounted, a mistyped path): nothing a user asked for.
    let spool = env.path("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let spool = spool.to_str().unwrap();
    let out = env.run(&["--data", data, "import", spool]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("{spool}: an empty folder, nothing to import")),
        "{err}"
    );
    assert!(err.contains("import reads files (feeds,"), "{err}");
    assert!(err.contains("0 ok, 0 unchanged, 1 failed"), "{err}");
    assert!(err.contains("nothing could be imported"), "{err}");
    // Hidden and partial files only: nothing to read either, said so.
    std::fs::write(env.path("spool/.hidden.rss"), sample_rss("h", 1)).unwrap();
    std::fs::create_dir_all(env.path("spool/sub")).unwrap();
    std::fs::write(env.path("spool/sub/x.rss.part"), "partial").unwrap();
    let out = env.run(&["--data", data, "import", spool]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("{spool}: no file to import in this folder")),
        "{err}"
    );
    // Beside a path that works: the rest is ingested, the folder named (2).
    let good = env.path("good.rss");
    std::fs::write(&good, sample_rss("good", 2)).unwrap();
    let out = env.run(&["--data", data, "import", spool, good.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(spool), "{}", stderr(&out));
    assert!(
        env.run_ok(&["--data", data, "stats"])
            .contains("stories: 2")
    );
    // A folder with a feed in it is read as before.
    std::fs::write(env.path("spool/wire.rss"), sample_rss("wire", 1)).unwrap();
    let out = env.run(&["--data", data, "import", spool]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[cfg(unix)]
/// Runs echowatch with `args`, failing the test if it has not ended within 30 s (a FIFO
/// opened for reading would wait for a writer for ever).
fn run_within_30s(env: &Env, args: &[&str]) -> Output {
    let child = env
        .command(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (done, waited) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match waited.recv_timeout(std::time::Duration::from_secs(30)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            // SAFETY: a plain signal to the child this test started (and has not reaped).
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            panic!("{args:?} blocked for 30 s");
        }
    }
}

#[cfg(unix)]
#[test]
fn import_of_a_fifo_a_socket_or_a_device_says_what_it_is_and_never_blocks() {
    use std::os::unix::ffi::OsStrExt;
    let env = Env::new("");
    let data = env.path("idx");
    let data = data.to_str().unwrap();
    let fifo = env.path("feed.rss");
    let name = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: a NUL-terminated path and a mode; mkfifo reads nothing else.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
    let socket = env.path("feed.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    for (path, kind) in [
        (fifo.clone(), "a named pipe (FIFO)"),
        (socket.clone(), "a socket"),
        (PathBuf::from("/dev/null"), "a character device"),
    ] {
        let path = path.to_str().unwrap();
        let out = run_within_30s(&env, &["--data", data, "import", path]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{path}: {err}");
        assert!(
            err.contains(&format!(
                "{path}: {kind}, not a file to read: import reads files"
            )),
            "{path}: {err}"
        );
        assert!(!err.contains("Not a directory"), "{path}: {err}");
    }
    // Beside a feed: the feed is ingested, the FIFO named (2).
    let good = env.path("good.rss");
    std::fs::write(&good, sample_rss("good", 2)).unwrap();
    let fifo = fifo.to_str().unwrap();
    let out = run_within_30s(
        &env,
        &["--data", data, "import", fifo, good.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("a named pipe (FIFO)"),
        "{}",
        stderr(&out)
    );
    // In a folder, a FIFO is passed over; alone there, the folder has nothing to read.
    std::fs::create_dir_all(env.path("pipes")).unwrap();
    std::fs::rename(fifo, env.path("pipes/feed.rss")).unwrap();
    let pipes = env.path("pipes");
    let out = run_within_30s(&env, &["--data", data, "import", pipes.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no file to import in this folder"),
        "{}",
        stderr(&out)
    );
}

//! End to end: the real binary's interface in tmux on a temporary data folder filled from a
//! local fixture feed. Searches, opens a story, adds a tag in the tag editor, quits, then
//! checks with `echowatch show ID --json` that the tag was stored.
//! Skips (with a message) when tmux is missing, unless ECHOWATCH_REQUIRE_INTEROP=1.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_echowatch");

const FEED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel>
<title>Fixture regulation feed</title><link>https://fixture.test/</link><description>Local fixture</description>
<item><title>Dutch government tightens lithography export licences</title>
<link>https://fixture.test/dutch-litho</link><guid>dutch-litho</guid>
<pubDate>Mon, 17 Mar 2025 09:00:00 GMT</pubDate>
<description>The Netherlands expands licence requirements for ASML immersion lithography tools.</description></item>
<item><title>Commerce adds Chinese chipmakers to the Entity List</title>
<link>https://fixture.test/entity-list</link><guid>entity-list</guid>
<pubDate>Tue, 18 Mar 2025 09:00:00 GMT</pubDate>
<description>The Bureau of Industry and Security added Chinese firms to the Entity List.</description></item>
<item><title>Gallium prices spike after export curbs</title>
<link>https://fixture.test/gallium</link><guid>gallium</guid>
<pubDate>Sat, 01 Mar 2025 09:00:00 GMT</pubDate>
<description>Traders report gallium prices doubling.</description></item>
</channel></rss>"#;

fn tmux_available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Whether tmux is here; without it the test is skipped, unless interop is required (CI).
fn tmux_or_skip() -> bool {
    if tmux_available() {
        return true;
    }
    assert!(
        std::env::var("ECHOWATCH_REQUIRE_INTEROP").as_deref() != Ok("1"),
        "tmux is required (ECHOWATCH_REQUIRE_INTEROP=1) but not installed"
    );
    eprintln!("skipping tui_e2e: tmux is not installed (apt-get install -y tmux)");
    false
}

/// A private tmux server, killed when the test ends however it ends.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// A private server running the interface on `config` and `data` in a `w` × `h` window.
    fn start(name: &str, config: &Path, data: &Path, w: u16, h: u16) -> Tmux {
        Tmux::start_env(name, &[], config, data, w, h)
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("run tmux")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "ew"]).stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "ew"];
        args.extend_from_slice(keys);
        assert!(self.run(&args).status.success());
    }

    fn text(&self, text: &str) {
        assert!(
            self.run(&["send-keys", "-t", "ew", "-l", text])
                .status
                .success()
        );
    }

    /// Wait until the screen shows `what`; fail with the screen if it never does.
    fn wait_for(&self, what: &str) -> String {
        let end = Instant::now() + Duration::from_secs(15);
        loop {
            let s = self.screen();
            if s.contains(what) {
                return s;
            }
            assert!(
                Instant::now() < end,
                "timed out waiting for {what:?}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn alive(&self) -> bool {
        self.run(&["has-session", "-t", "ew"]).status.success()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

fn echowatch(config: &Path, data: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .expect("run echowatch");
    assert!(
        out.status.success(),
        "echowatch {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn quoted(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

#[test]
fn search_open_tag_quit_then_show_has_the_tag() {
    if !tmux_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.xml");
    std::fs::write(&feed, FEED).unwrap();
    let config: PathBuf = dir.path().join("feeds.toml");
    std::fs::write(
        &config,
        "[[source]]\nname = \"Fixture feed\"\npath = \"feed.xml\"\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    echowatch(&config, &data, &["sync"]);
    let found = echowatch(&config, &data, &["search", "lithography", "--json"]);
    let hit: serde_json::Value =
        serde_json::from_str(found.lines().next().expect("a search hit")).unwrap();
    let id = hit["id"].as_i64().expect("id");

    let tmux = Tmux::start("e2e", &config, &data, 100, 30);
    tmux.wait_for("3 stories");
    tmux.keys(&["/"]);
    tmux.text("lithography");
    tmux.wait_for(" 1 story ");
    tmux.keys(&["Enter"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("Sources: Fixture feed");
    tmux.keys(&["t"]);
    tmux.wait_for("Tab completes");
    tmux.text("+brief");
    tmux.keys(&["Enter"]);
    tmux.wait_for("saved +brief");
    tmux.keys(&["Escape"]);
    tmux.wait_for("brief — manual");
    tmux.keys(&["q"]);
    tmux.wait_for("query: lithography");
    tmux.keys(&["q"]);
    let end = Instant::now() + Duration::from_secs(10);
    while tmux.alive() {
        assert!(
            Instant::now() < end,
            "the interface did not quit; screen:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let shown = echowatch(&config, &data, &["show", &id.to_string(), "--json"]);
    let story: serde_json::Value = serde_json::from_str(shown.trim()).unwrap();
    let tags: Vec<&str> = story["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    assert!(
        tags.contains(&"brief"),
        "tags after the interface: {tags:?}\n{story}"
    );
    // And the index has it: a search by tag finds the story.
    let by_tag = echowatch(&config, &data, &["search", "tag:brief", "--json"]);
    assert!(by_tag.contains(&format!("\"id\":{id}")), "{by_tag}");
}

#[test]
fn closing_the_terminal_ends_the_interface() {
    if !tmux_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("feed.xml"), FEED).unwrap();
    let config = dir.path().join("feeds.toml");
    std::fs::write(&config, "[[source]]\nname = \"F\"\npath = \"feed.xml\"\n").unwrap();
    let data = dir.path().join("data");
    echowatch(&config, &data, &["sync"]);
    let tmux = Tmux::start("hangup", &config, &data, 80, 24);
    tmux.wait_for("3 stories");
    let pid = String::from_utf8_lossy(
        &tmux
            .run(&["display-message", "-p", "-t", "ew", "#{pane_pid}"])
            .stdout,
    )
    .trim()
    .to_string();
    assert!(!pid.is_empty());
    // The window goes away under the interface: it must end, not spin on the dead terminal.
    tmux.run(&["kill-server"]);
    let proc_dir = PathBuf::from("/proc").join(&pid);
    let end = Instant::now() + Duration::from_secs(10);
    while proc_dir.exists() && !is_zombie(&proc_dir) {
        if Instant::now() > end {
            // Do not leave it spinning on the machine.
            let _ = Command::new("kill").args(["-9", &pid]).status();
            panic!("the interface (pid {pid}) outlived its terminal");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn is_zombie(proc_dir: &Path) -> bool {
    std::fs::read_to_string(proc_dir.join("stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(true)
}

/// The fixture synced into a fresh data folder, with its config.
fn fixture_workspace(dir: &Path) -> (PathBuf, PathBuf) {
    std::fs::write(dir.join("feed.xml"), FEED).unwrap();
    let config = dir.join("feeds.toml");
    std::fs::write(
        &config,
        "[[source]]\nname = \"Fixture feed\"\npath = \"feed.xml\"\n",
    )
    .unwrap();
    let data = dir.join("data");
    echowatch(&config, &data, &["sync"]);
    (config, data)
}

/// The line of the screen that shows `what`.
fn line_with<'a>(screen: &'a str, what: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(what))
        .unwrap_or_else(|| panic!("no line with {what:?}; screen:\n{screen}"))
}

#[test]
fn keys_typed_before_new_results_land_act_on_the_new_list() {
    if !tmux_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (config, data) = fixture_workspace(dir.path());
    let tmux = Tmux::start("typeahead", &config, &data, 100, 30);
    tmux.wait_for("3 stories");
    // Each group goes in one send-keys call: the interface reads it as one burst, before the
    // search worker can answer, as when a fast typist (or a paste) gets there first.
    // The newest story (Entity List) is under the cursor; the search finds only Gallium.
    tmux.keys(&["/gallium", "Enter", "Enter"]);
    let s = tmux.wait_for("Sources: Fixture feed");
    assert!(
        s.contains("Gallium prices") && !s.contains("Commerce adds"),
        "Enter opened a story of the list before the search:\n{s}"
    );
    tmux.keys(&["q"]);
    tmux.wait_for("query: gallium");
    tmux.keys(&["/", "C-u", "lithography", "Enter", "s"]);
    let s = tmux.wait_for("starred");
    assert!(
        line_with(&s, "Dutch government").contains('★'),
        "s starred another story:\n{s}"
    );
    // Clearing then going to the bottom: the last of all three (the oldest), not of one.
    tmux.keys(&["C", "G"]);
    tmux.wait_for("3 stories");
    tmux.keys(&["Enter"]);
    let s = tmux.wait_for("Sources: Fixture feed");
    assert!(
        s.contains("Gallium prices") && !s.contains("Commerce adds"),
        "G went to the end of the old list:\n{s}"
    );
    tmux.keys(&["q"]);
    let s = tmux.wait_for("3 stories");
    // The story under the cursor before the first search was neither read nor starred.
    let entity = line_with(&s, "Commerce adds");
    assert!(entity.contains('●') && !entity.contains('★'), "{s}");
    tmux.keys(&["q"]);
}

// ---- opening links in a text browser ---------------------------------------------------------

impl Tmux {
    /// As [`Tmux::start`], with `env` set for the interface.
    fn start_env(
        name: &str,
        env: &[(&str, &Path)],
        config: &Path,
        data: &Path,
        w: u16,
        h: u16,
    ) -> Tmux {
        let tmux = Tmux {
            socket: format!("echowatch-{name}-{}", std::process::id()),
        };
        // The shell line of tmux: our own paths, quoted; the interface itself runs no shell.
        let vars: Vec<String> = env
            .iter()
            .map(|(k, v)| format!("{k}={}", quoted(v)))
            .collect();
        let cmd = format!(
            "env {} {} --config {} --data {}",
            vars.join(" "),
            quoted(Path::new(BIN)),
            quoted(config),
            quoted(data)
        );
        let (w, h) = (w.to_string(), h.to_string());
        let started = tmux.run(&["new-session", "-d", "-s", "ew", "-x", &w, "-y", &h, &cmd]);
        assert!(
            started.status.success(),
            "tmux: {}",
            String::from_utf8_lossy(&started.stderr)
        );
        tmux
    }

    /// `q` until the interface has ended.
    fn quit(&self) {
        let end = Instant::now() + Duration::from_secs(5);
        while self.alive() {
            assert!(
                Instant::now() < end,
                "the interface did not quit; screen:\n{}",
                self.screen()
            );
            self.keys(&["q"]);
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A stand-in text browser at `path`: it shows how many arguments it got and the first,
/// then waits for a line on its standard input, as a browser waits for its user.
fn fake_text_browser(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(
        path,
        "#!/bin/sh\nprintf 'FAKE-BROWSER argc=%s arg=[%s]\\n' \"$#\" \"$1\"\n\
         printf 'press Enter to go back\\n'\nread line\n",
    )
    .unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_text_browser_in_browser_variable_runs_in_the_terminal_then_the_interface_returns() {
    if !tmux_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (config, data) = fixture_workspace(dir.path());
    // Named lynx: known as a text browser by its name.
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let browser = bin.join("lynx");
    fake_text_browser(&browser);
    let tmux = Tmux::start_env(
        "textbrowser",
        &[("BROWSER", &browser)],
        &config,
        &data,
        100,
        30,
    );
    tmux.wait_for("3 stories");
    tmux.keys(&["/lithography", "Enter", "Enter"]);
    tmux.wait_for("Sources: Fixture feed");
    tmux.keys(&["o"]);
    let s = tmux.wait_for("FAKE-BROWSER argc=1 arg=[https://fixture.test/dutch-litho]");
    assert!(
        !s.contains("Sources: Fixture feed"),
        "the interface stayed on screen under the browser:\n{s}"
    );
    // The browser has the keyboard: Enter ends it, and the reader is drawn again.
    tmux.keys(&["Enter"]);
    let s = tmux.wait_for("back from");
    assert!(
        s.contains("Sources: Fixture feed") && !s.contains("FAKE-BROWSER"),
        "{s}"
    );
    // And it still takes keys.
    tmux.keys(&["q"]);
    tmux.wait_for("query: lithography");
    tmux.quit();
}

#[test]
fn link_twelve_opens_from_the_prompt_in_the_configured_terminal_browser() {
    if !tmux_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let anchors: String = (1..=12)
        .map(|n| format!("&lt;a href=\"https://ref.test/{n}\"&gt;ref {n}&lt;/a&gt; "))
        .collect();
    std::fs::write(
        dir.path().join("feed.xml"),
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Refs</title><link>https://ref.test/</link><description>d</description>
<item><title>Reading list on chip controls</title><link>https://ref.test/</link><guid>refs</guid>
<pubDate>Mon, 17 Mar 2025 09:00:00 GMT</pubDate><description>{anchors}</description></item>
</channel></rss>"#
        ),
    )
    .unwrap();
    let browser = dir.path().join("my-browser");
    fake_text_browser(&browser);
    let config = dir.path().join("feeds.toml");
    std::fs::write(
        &config,
        format!(
            "[settings]\nbrowser = [{:?}, \"--url=%u\"]\nbrowser_terminal = true\n\n\
             [[source]]\nname = \"Refs\"\npath = \"feed.xml\"\n",
            browser.display().to_string()
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    echowatch(&config, &data, &["sync"]);
    let tmux = Tmux::start("linkprompt", &config, &data, 100, 30);
    tmux.wait_for("1 story");
    tmux.keys(&["Enter"]);
    tmux.wait_for("[12] https://ref.test/12");
    tmux.keys(&["1", "2"]);
    tmux.wait_for("open link: 12_");
    tmux.keys(&["Enter"]);
    let s = tmux.wait_for("FAKE-BROWSER argc=1 arg=[--url=https://ref.test/12]");
    assert!(!s.contains("Sources: Refs"), "{s}");
    tmux.keys(&["Enter"]);
    tmux.wait_for("back from");
    tmux.wait_for("Sources: Refs");
    tmux.quit();
}

// ---- job control -------------------------------------------------------------------------

#[test]
fn ctrl_z_suspends_to_the_shell_and_fg_brings_the_interface_back() {
    if !tmux_or_skip() {
        return;
    }
    if Command::new("bash").arg("--version").output().is_err() {
        eprintln!("skipped: bash (an interactive shell with job control) is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (config, data) = fixture_workspace(dir.path());
    let tmux = Tmux {
        socket: format!("echowatch-suspend-{}", std::process::id()),
    };
    let started = tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "ew",
        "-x",
        "100",
        "-y",
        "30",
        "env PS1='shell$ ' bash --norc --noprofile -i",
    ]);
    assert!(started.status.success());
    tmux.wait_for("shell$");
    tmux.text(&format!(
        "{} --config {} --data {}",
        quoted(Path::new(BIN)),
        quoted(&config),
        quoted(&data)
    ));
    tmux.keys(&["Enter"]);
    tmux.wait_for("3 stories");
    tmux.keys(&["C-z"]);
    // The shell has the terminal: the main screen, its prompt, the job stopped.
    let s = tmux.wait_for("Stopped");
    assert!(!s.contains("3 stories"), "{s}");
    tmux.text("fg");
    tmux.keys(&["Enter"]);
    // Drawn again whole, and still taking keys.
    tmux.wait_for("3 stories");
    tmux.keys(&["/lithography", "Enter", "Enter"]);
    tmux.wait_for("Sources: Fixture feed");
    tmux.keys(&["q", "q"]);
    tmux.wait_for("shell$");
}

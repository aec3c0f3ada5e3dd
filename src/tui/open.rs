//! Opening a link in the browser: only http and https, and the program and the URL are
//! separate arguments of a direct exec — feed data never reaches a shell
//! (newsbeuter CVE-2017-12904, CVE-2017-14500).
//!
//! Which browser, and how it runs, as newsboat does it: a graphical browser or opener is
//! started detached and the interface carries on; a text browser (w3m, lynx…) needs the
//! terminal, so the event loop leaves the alternate screen, runs it, waits, and redraws.
//! [`plan`] makes that choice from the config, `$BROWSER` and what is on `PATH`, without
//! starting anything, so it is testable as it is.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::config::BrowserSetting;
use crate::tui::text;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    #[error("not opened: {0:?} is not a web link (only http and https are opened)")]
    Scheme(String),
    #[error("not opened: cannot read the link {0:?}")]
    Invalid(String),
    /// These two show the link early, where it can be read and copied by hand (over SSH,
    /// without an opener): the status line cuts what does not fit from the end.
    #[error("cannot start {program} ({message}): {url}")]
    Spawn {
        program: String,
        message: String,
        url: String,
    },
    #[error("no browser: {url} (set $BROWSER or [settings] browser)")]
    NoBrowser { url: String },
    #[error("not opened: the browser {0:?} is a shell, and links from feeds never go to a shell")]
    Shell(String),
}

/// Text browsers that draw in the terminal they are started from. `www-browser` is
/// Debian's name for whichever text browser is installed.
const TEXT_BROWSERS: &[&str] = &[
    "w3m",
    "lynx",
    "elinks",
    "links",
    "links2",
    "browsh",
    "carbonyl",
    "cha",
    "www-browser",
];

/// Looked for on `PATH`, in this order, when nothing is configured and there is no
/// graphical session (a login over SSH).
const TEXT_FALLBACKS: &[&str] = &["www-browser", "w3m", "lynx", "elinks", "links2", "links"];

/// Programs that would read their arguments as commands.
const SHELLS: &[&str] = &[
    "sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "fish", "csh", "tcsh", "busybox",
];

fn base_name(program: &str) -> String {
    Path::new(program)
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default()
}

/// Whether `program` (a name or a path) is a known text browser.
pub fn is_text_browser(program: &str) -> bool {
    TEXT_BROWSERS.contains(&base_name(program).as_str())
}

/// Whether `program` (a name or a path) is a shell.
pub fn is_shell(program: &str) -> bool {
    SHELLS.contains(&base_name(program).as_str())
}

/// What [`plan`] looks at besides the config, read once at start.
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// `$BROWSER`: a `:`-separated list of commands, `%s` standing for the link.
    pub browser: Option<String>,
    /// A graphical session is there (`$DISPLAY` or `$WAYLAND_DISPLAY`), or macOS.
    pub graphical: bool,
    pub macos: bool,
    /// `$PATH`, where programs named without a `/` are looked for.
    pub path: Option<OsString>,
}

impl Env {
    pub fn current() -> Env {
        let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        let macos = cfg!(target_os = "macos");
        Env {
            browser: std::env::var("BROWSER").ok(),
            graphical: macos || set("DISPLAY") || set("WAYLAND_DISPLAY"),
            macos,
            path: std::env::var_os("PATH"),
        }
    }

    /// Where `program` would be run from: a path as given, else the first match on `PATH`.
    pub fn find(&self, program: &str) -> Option<PathBuf> {
        let runnable = |p: &Path| {
            use std::os::unix::fs::PermissionsExt;
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        };
        if program.contains('/') {
            let p = PathBuf::from(program);
            return runnable(&p).then_some(p);
        }
        if program.is_empty() {
            return None;
        }
        std::env::split_paths(self.path.as_ref()?)
            .map(|dir| dir.join(program))
            .find(|p| runnable(p))
    }
}

/// A browser to start on one link: the whole argv, the link one item of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub argv: Vec<String>,
    /// Runs in this terminal, which the interface gives up until it ends.
    pub terminal: bool,
    pub url: String,
}

impl Launch {
    /// The program, as shown in messages.
    pub fn program(&self) -> String {
        text::line(self.argv.first().map(String::as_str).unwrap_or_default())
    }
}

/// `words` with `placeholder` replaced by `url` inside the words that hold it (the link
/// stays inside that one argument), or `url` as a last argument when none does.
fn with_url(words: &[String], placeholder: &str, url: &str) -> Vec<String> {
    let mut argv: Vec<String> = words.iter().map(|w| w.replace(placeholder, url)).collect();
    if !words.iter().any(|w| w.contains(placeholder)) {
        argv.push(url.to_string());
    }
    argv
}

/// Choose how to open the checked `url` (see [`check`]):
/// 1. `[settings] browser` from the config;
/// 2. else the first command of `$BROWSER` whose program is found (else its first);
/// 3. else the system opener (`open`, or `xdg-open` in a graphical session);
/// 4. else a text browser found on `PATH` (a login over SSH), else `xdg-open` if there.
///
/// A browser runs in the terminal when `browser_terminal` says so, else when it is a
/// known text browser.
pub fn plan(url: &str, setting: &BrowserSetting, env: &Env) -> Result<Launch, OpenError> {
    let chosen = |argv: Vec<String>| {
        let program = argv.first().cloned().unwrap_or_default();
        if is_shell(&program) {
            return Err(OpenError::Shell(text::line(&program)));
        }
        Ok(Launch {
            terminal: setting
                .terminal
                .unwrap_or_else(|| is_text_browser(&program)),
            argv,
            url: url.to_string(),
        })
    };
    if let Some(words) = setting.command.as_ref().filter(|w| !w.is_empty()) {
        return chosen(with_url(words, "%u", url));
    }
    let from_variable: Vec<Vec<String>> = env
        .browser
        .as_deref()
        .unwrap_or_default()
        .split(':')
        .map(|entry| entry.split_whitespace().map(str::to_string).collect())
        .filter(|words: &Vec<String>| !words.is_empty())
        .collect();
    if let Some(first) = from_variable.first() {
        let words = from_variable
            .iter()
            .find(|w| w.first().is_some_and(|p| env.find(p).is_some()))
            .unwrap_or(first);
        return chosen(with_url(words, "%s", url));
    }
    let detached = |program: &str| Launch {
        argv: vec![program.to_string(), url.to_string()],
        terminal: false,
        url: url.to_string(),
    };
    if env.macos {
        return Ok(detached("open"));
    }
    let xdg = env.find("xdg-open").is_some();
    if env.graphical && xdg {
        return Ok(detached("xdg-open"));
    }
    // Without a display, xdg-open would itself pick a text browser and run it with no
    // terminal: run one here instead, where it can be seen.
    if let Some(b) = TEXT_FALLBACKS.iter().find(|b| env.find(b).is_some()) {
        return Ok(Launch {
            argv: vec![b.to_string(), url.to_string()],
            terminal: true,
            url: url.to_string(),
        });
    }
    if xdg {
        return Ok(detached("xdg-open"));
    }
    Err(OpenError::NoBrowser {
        url: text::line(url),
    })
}

/// Check a link: an absolute http or https URL. Returns it normalised.
pub fn check(link: &str) -> Result<String, OpenError> {
    let url = url::Url::parse(link.trim()).map_err(|_| OpenError::Invalid(text::line(link)))?;
    match url.scheme() {
        "http" | "https" => Ok(url.to_string()),
        other => Err(OpenError::Scheme(text::line(other))),
    }
}

/// How a link was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// Started in the background; the program's name.
    Detached(String),
    /// Waits for the event loop to run it in the terminal ([`Opener::take_terminal`]).
    Terminal(String),
}

/// Opens links for the interface: the config's browser setting and the environment as
/// they were at start, and the text browser waiting for the terminal.
#[derive(Debug)]
pub struct Opener {
    setting: BrowserSetting,
    env: Env,
    pending: Option<Launch>,
    /// Tests: background launches are kept here instead of started.
    dry_run: Option<Vec<Launch>>,
}

impl Opener {
    pub fn new(setting: BrowserSetting) -> Opener {
        Opener {
            setting,
            env: Env::current(),
            pending: None,
            dry_run: None,
        }
    }

    /// An opener that starts nothing in the background: [`Opener::launched`] lists what it
    /// would have started. Text browsers wait in [`Opener::take_terminal`] as usual.
    pub fn dry_run(setting: BrowserSetting, env: Env) -> Opener {
        Opener {
            setting,
            env,
            pending: None,
            dry_run: Some(Vec::new()),
        }
    }

    /// The background launches of a dry run.
    pub fn launched(&self) -> &[Launch] {
        self.dry_run.as_deref().unwrap_or_default()
    }

    /// Open `link`: a graphical browser at once, in the background; a text browser is
    /// left for the event loop, which owns the terminal.
    pub fn open(&mut self, link: &str) -> Result<Opened, OpenError> {
        let url = check(link)?;
        let launch = plan(&url, &self.setting, &self.env)?;
        let program = launch.program();
        if launch.terminal {
            self.pending = Some(launch);
            return Ok(Opened::Terminal(program));
        }
        if let Some(log) = &mut self.dry_run {
            log.push(launch);
        } else {
            spawn_detached(&launch)?;
        }
        Ok(Opened::Detached(program))
    }

    /// The text browser to run now, if one is waiting.
    pub fn take_terminal(&mut self) -> Option<Launch> {
        self.pending.take()
    }
}

fn spawn_error(launch: &Launch, e: &std::io::Error) -> OpenError {
    let message = match e.kind() {
        std::io::ErrorKind::NotFound => "not found".to_string(),
        std::io::ErrorKind::PermissionDenied => "not allowed to run it".to_string(),
        _ => text::line(&e.to_string()),
    };
    OpenError::Spawn {
        program: launch.program(),
        message,
        url: text::line(&launch.url),
    }
}

fn command(launch: &Launch) -> Result<Command, OpenError> {
    let (program, args) = launch.argv.split_first().ok_or_else(|| OpenError::Spawn {
        program: String::new(),
        message: "no program".into(),
        url: text::line(&launch.url),
    })?;
    let mut cmd = Command::new(program);
    cmd.args(args);
    Ok(cmd)
}

/// Start a graphical browser without waiting for it; its output would scribble over the
/// interface, so it gets none of the terminal.
fn spawn_detached(launch: &Launch) -> Result<(), OpenError> {
    let mut child = command(launch)?
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| spawn_error(launch, &e))?;
    // Reap it when it exits so no zombie is left behind.
    let _ = std::thread::Builder::new()
        .name("echowatch-opener".into())
        .spawn(move || child.wait());
    Ok(())
}

/// Run a text browser on this terminal and wait for it. The caller has given the terminal
/// back (cooked mode, main screen) and takes it again afterwards.
pub fn run_in_terminal(launch: &Launch) -> Result<ExitStatus, OpenError> {
    command(launch)?
        .status()
        .map_err(|e| spawn_error(launch, &e))
}

/// What a key did to the reader's "open link #" prompt (see [`link_number_key`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumberKey {
    /// The number grew or shrank: show the prompt again.
    Typing,
    /// Open link `n` (1-based, in range).
    Open(usize),
    /// A number with no link: say so.
    NoSuchLink(String),
    /// Esc, or Backspace on an empty number.
    Cancelled,
    /// Not the prompt's key: the prompt closes and the key does what it always does.
    NotMine,
}

/// Longest number typed: more digits than any story has links.
const NUMBER_DIGITS: usize = 6;

/// A digit in the reader. With up to 9 links a digit is the whole number and opens at once;
/// with 10 or more it starts the prompt (`typed` becomes `Some`), which Enter opens, as
/// newsboat and urlview do. The rule depends only on the story, not on the digit, so a
/// number is never opened half typed.
pub fn link_digit(typed: &mut Option<String>, key: &KeyEvent, links: usize) -> Option<NumberKey> {
    let KeyCode::Char(c @ '1'..='9') = key.code else {
        return None;
    };
    if !key.modifiers.difference(KeyModifiers::SHIFT).is_empty() {
        return None;
    }
    if links >= 10 {
        *typed = Some(c.to_string());
        return Some(NumberKey::Typing);
    }
    Some(choose(&c.to_string(), links))
}

fn choose(number: &str, links: usize) -> NumberKey {
    match number.parse::<usize>() {
        Ok(n) if (1..=links).contains(&n) => NumberKey::Open(n),
        _ => NumberKey::NoSuchLink(if links == 0 {
            format!("no link [{number}]: this story has none")
        } else {
            format!("no link [{number}]: this story has links 1-{links}")
        }),
    }
}

/// A key while the prompt is open (`typed` is `Some`); the prompt is closed (`typed` set
/// to `None`) unless the answer is [`NumberKey::Typing`].
pub fn link_number_key(typed: &mut Option<String>, key: &KeyEvent, links: usize) -> NumberKey {
    let Some(number) = typed.as_mut() else {
        return NumberKey::NotMine;
    };
    let plain = key.modifiers.difference(KeyModifiers::SHIFT).is_empty();
    let answer = match key.code {
        KeyCode::Char(c @ '0'..='9') if plain => {
            if number.len() < NUMBER_DIGITS {
                number.push(c);
            }
            NumberKey::Typing
        }
        KeyCode::Backspace => {
            number.pop();
            if number.is_empty() {
                NumberKey::Cancelled
            } else {
                NumberKey::Typing
            }
        }
        KeyCode::Enter => choose(number, links),
        KeyCode::Esc => NumberKey::Cancelled,
        _ => NumberKey::NotMine,
    };
    if answer != NumberKey::Typing {
        *typed = None;
    }
    answer
}

/// The prompt as the status line shows it: `open link: 25_ (1-40, Enter opens, Esc cancels)`.
pub fn link_prompt(typed: &str, links: usize) -> String {
    let past = typed.parse::<usize>().map_or(true, |n| n > links);
    if past {
        format!("open link: {typed}_ (no such link: 1-{links}; Backspace, Esc cancels)")
    } else {
        format!("open link: {typed}_ (1-{links}, Enter opens, Esc cancels)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_links_are_opened() {
        assert_eq!(
            check("https://example.com/a?b=1").unwrap(),
            "https://example.com/a?b=1"
        );
        assert!(check(" http://example.com ").is_ok());
        for bad in [
            "file:///etc/passwd",
            "javascript:alert(1)",
            "exec:rm -rf /",
            "mailto:x@y",
        ] {
            assert!(matches!(check(bad), Err(OpenError::Scheme(_))), "{bad}");
        }
        assert!(matches!(
            check("not a url; rm -rf ~"),
            Err(OpenError::Invalid(_))
        ));
        assert!(matches!(check("\u{1b}[2J"), Err(OpenError::Invalid(_))));
    }

    #[test]
    fn a_link_with_shell_characters_is_one_argument() {
        // `echo` prints its arguments; the URL arrives as one argument, unexpanded.
        let url = check("https://example.com/$(id)?a=1&b=`x`").unwrap();
        let out = Command::new("echo").arg(&url).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), url);
    }

    const URL: &str = "https://example.org/a?b=1&c=$(id)";

    /// A folder of (empty, runnable) programs standing in for what is installed.
    fn installed(programs: &[&str]) -> (tempfile::TempDir, OsString) {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        for p in programs {
            let f = dir.path().join(p);
            std::fs::write(&f, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let path = dir.path().as_os_str().to_owned();
        (dir, path)
    }

    fn env(browser: Option<&str>, graphical: bool, path: &OsString) -> Env {
        Env {
            browser: browser.map(str::to_string),
            graphical,
            macos: false,
            path: Some(path.clone()),
        }
    }

    fn setting(command: Option<&[&str]>, terminal: Option<bool>) -> BrowserSetting {
        BrowserSetting {
            command: command.map(|c| c.iter().map(|w| w.to_string()).collect()),
            terminal,
        }
    }

    fn argv(l: &Launch) -> Vec<&str> {
        l.argv.iter().map(String::as_str).collect()
    }

    #[test]
    fn the_config_browser_comes_first_and_gets_the_link_in_one_argument() {
        let (_d, path) = installed(&["xdg-open", "lynx"]);
        let e = env(Some("firefox"), true, &path);
        let l = plan(URL, &setting(Some(&["w3m", "-o", "x=1", "%u"]), None), &e).unwrap();
        assert_eq!(argv(&l), ["w3m", "-o", "x=1", URL]);
        assert!(l.terminal, "w3m is a text browser");
        // `%u` inside a word stays inside that word; without it the link comes last.
        let l = plan(URL, &setting(Some(&["gui", "--url=%u"]), None), &e).unwrap();
        assert_eq!(argv(&l), ["gui", &format!("--url={URL}")]);
        assert!(!l.terminal);
        let l = plan(URL, &setting(Some(&["/opt/bin/lynx"]), None), &e).unwrap();
        assert_eq!(argv(&l), ["/opt/bin/lynx", URL]);
        assert!(l.terminal, "known by its file name");
        // browser_terminal overrides the name, both ways.
        let l = plan(URL, &setting(Some(&["mybrowser"]), Some(true)), &e).unwrap();
        assert!(l.terminal);
        let l = plan(URL, &setting(Some(&["w3m"]), Some(false)), &e).unwrap();
        assert!(!l.terminal);
    }

    #[test]
    fn browser_variable_is_split_without_a_shell_and_found_on_path() {
        let (_d, path) = installed(&["lynx"]);
        let none = setting(None, None);
        let l = plan(URL, &none, &env(Some("firefox --new-tab"), true, &path)).unwrap();
        assert_eq!(argv(&l), ["firefox", "--new-tab", URL]);
        assert!(!l.terminal);
        // A list: the first one installed; w3m is not, lynx is.
        let l = plan(URL, &none, &env(Some("w3m:lynx -dump"), false, &path)).unwrap();
        assert_eq!(argv(&l), ["lynx", "-dump", URL]);
        assert!(l.terminal);
        // None installed: the first, whose start then fails with a message.
        let l = plan(URL, &none, &env(Some(":w3m:links"), false, &path)).unwrap();
        assert_eq!(argv(&l), ["w3m", URL]);
        // `%s` is the variable's placeholder.
        let l = plan(URL, &none, &env(Some("gui --open=%s"), true, &path)).unwrap();
        assert_eq!(argv(&l), ["gui", &format!("--open={URL}")]);
        // browser_terminal applies to $BROWSER too.
        let l = plan(
            URL,
            &setting(None, Some(true)),
            &env(Some("less"), true, &path),
        )
        .unwrap();
        assert!(l.terminal);
        // Blank: as if unset.
        let l = plan(URL, &none, &env(Some("  "), false, &path)).unwrap();
        assert_eq!(argv(&l), ["lynx", URL]);
    }

    #[test]
    fn a_shell_as_browser_is_refused() {
        let (_d, path) = installed(&[]);
        for b in ["sh -c 'firefox %s'", "/bin/bash -c x", "dash"] {
            assert!(
                matches!(
                    plan(URL, &setting(None, None), &env(Some(b), true, &path)),
                    Err(OpenError::Shell(_))
                ),
                "{b}"
            );
        }
        assert!(matches!(
            plan(
                URL,
                &setting(Some(&["zsh", "-c"]), None),
                &env(None, true, &path)
            ),
            Err(OpenError::Shell(_))
        ));
    }

    #[test]
    fn without_a_setting_the_system_opener_or_a_text_browser() {
        let none = setting(None, None);
        let (_d, both) = installed(&["xdg-open", "w3m"]);
        // A desktop session: xdg-open, in the background.
        let l = plan(URL, &none, &env(None, true, &both)).unwrap();
        assert_eq!((argv(&l), l.terminal), (vec!["xdg-open", URL], false));
        // Over SSH (no display): the text browser, in the terminal.
        let l = plan(URL, &none, &env(None, false, &both)).unwrap();
        assert_eq!((argv(&l), l.terminal), (vec!["w3m", URL], true));
        // A desktop without xdg-open: the text browser still.
        let (_d2, only_w3m) = installed(&["w3m"]);
        let l = plan(URL, &none, &env(None, true, &only_w3m)).unwrap();
        assert_eq!(argv(&l), ["w3m", URL]);
        // No text browser over SSH: xdg-open, the last resort.
        let (_d3, only_xdg) = installed(&["xdg-open"]);
        let l = plan(URL, &none, &env(None, false, &only_xdg)).unwrap();
        assert_eq!(argv(&l), ["xdg-open", URL]);
        // Nothing: the error carries the link, to copy by hand.
        let (_d4, nothing) = installed(&[]);
        let e = plan(URL, &none, &env(None, false, &nothing)).unwrap_err();
        assert_eq!(e, OpenError::NoBrowser { url: URL.into() });
        assert!(e.to_string().contains(URL), "{e}");
        // macOS: `open`.
        let mac = Env {
            macos: true,
            ..env(None, true, &nothing)
        };
        assert_eq!(argv(&plan(URL, &none, &mac).unwrap()), ["open", URL]);
    }

    #[test]
    fn a_program_that_cannot_start_is_named_with_the_link() {
        let mut o = Opener::new(setting(Some(&["/nonexistent/browser-x"]), Some(false)));
        let e = o.open(URL).unwrap_err();
        let m = e.to_string();
        assert!(
            m == format!("cannot start /nonexistent/browser-x (not found): {URL}"),
            "{m}"
        );
        let launch = Launch {
            argv: vec!["/nonexistent/w3m".into(), URL.into()],
            terminal: true,
            url: URL.into(),
        };
        assert!(matches!(
            run_in_terminal(&launch),
            Err(OpenError::Spawn { .. })
        ));
    }

    #[test]
    fn a_text_browser_waits_for_the_terminal_and_a_gui_one_is_started() {
        let (_d, path) = installed(&[]);
        let mut o = Opener::dry_run(setting(Some(&["w3m", "%u"]), None), env(None, true, &path));
        assert_eq!(o.open(URL), Ok(Opened::Terminal("w3m".into())));
        assert!(o.launched().is_empty());
        let l = o.take_terminal().unwrap();
        assert_eq!(argv(&l), ["w3m", URL]);
        assert!(o.take_terminal().is_none());
        let mut o = Opener::dry_run(setting(Some(&["firefox"]), None), env(None, true, &path));
        assert_eq!(o.open(URL), Ok(Opened::Detached("firefox".into())));
        assert_eq!(argv(&o.launched()[0]), ["firefox", URL]);
        assert!(o.take_terminal().is_none());
        // The scheme check comes before any choice.
        assert!(matches!(
            o.open("file:///etc/passwd"),
            Err(OpenError::Scheme(_))
        ));
    }

    #[test]
    fn run_in_terminal_passes_the_link_as_one_argument_and_waits() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("args");
        // A "browser" that writes its arguments one per line.
        let launch = Launch {
            argv: vec![
                "/bin/sh".into(),
                "-c".into(),
                "printf '%s\\n' \"$@\" > \"$0\"".into(),
                out.display().to_string(),
                URL.into(),
            ],
            terminal: true,
            url: URL.into(),
        };
        assert!(run_in_terminal(&launch).unwrap().success());
        assert_eq!(std::fs::read_to_string(&out).unwrap(), format!("{URL}\n"));
    }

    fn k(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    fn code(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    #[test]
    fn few_links_open_on_one_digit_many_need_enter() {
        let mut typed = None;
        assert_eq!(link_digit(&mut typed, &k('3'), 9), Some(NumberKey::Open(3)));
        assert!(typed.is_none());
        assert!(matches!(
            link_digit(&mut typed, &k('5'), 3),
            Some(NumberKey::NoSuchLink(m)) if m == "no link [5]: this story has links 1-3"
        ));
        assert_eq!(link_digit(&mut typed, &k('0'), 3), None);
        assert_eq!(link_digit(&mut typed, &k('j'), 3), None);
        let ctrl = KeyEvent::new(KeyCode::Char('2'), KeyModifiers::CONTROL);
        assert_eq!(link_digit(&mut typed, &ctrl, 3), None);
        // Ten or more: every digit waits, even one that could not be extended (5 of 40).
        for first in ['2', '5'] {
            let mut typed = None;
            assert_eq!(
                link_digit(&mut typed, &k(first), 40),
                Some(NumberKey::Typing)
            );
            assert_eq!(typed.as_deref(), Some(first.to_string().as_str()));
        }
    }

    #[test]
    fn the_prompt_takes_digits_backspace_enter_and_esc() {
        let mut typed = Some("2".to_string());
        assert_eq!(link_number_key(&mut typed, &k('5'), 40), NumberKey::Typing);
        assert_eq!(
            link_prompt(typed.as_deref().unwrap(), 40),
            "open link: 25_ (1-40, Enter opens, Esc cancels)"
        );
        assert_eq!(
            link_number_key(&mut typed, &code(KeyCode::Enter), 40),
            NumberKey::Open(25)
        );
        assert!(typed.is_none());

        let mut typed = Some("5".to_string());
        link_number_key(&mut typed, &k('0'), 40);
        assert!(link_prompt("50", 40).contains("no such link: 1-40"));
        assert!(matches!(
            link_number_key(&mut typed, &code(KeyCode::Enter), 40),
            NumberKey::NoSuchLink(m) if m.contains("[50]")
        ));

        let mut typed = Some("1".to_string());
        link_number_key(&mut typed, &k('2'), 40);
        assert_eq!(
            link_number_key(&mut typed, &code(KeyCode::Backspace), 40),
            NumberKey::Typing
        );
        assert_eq!(typed.as_deref(), Some("1"));
        assert_eq!(
            link_number_key(&mut typed, &code(KeyCode::Backspace), 40),
            NumberKey::Cancelled
        );
        assert!(typed.is_none());

        let mut typed = Some("1".to_string());
        assert_eq!(
            link_number_key(&mut typed, &code(KeyCode::Esc), 40),
            NumberKey::Cancelled
        );
        let mut typed = Some("1".to_string());
        assert_eq!(link_number_key(&mut typed, &k('q'), 40), NumberKey::NotMine);
        assert!(typed.is_none());
        // No overflow, however long the number.
        let mut typed = Some("1".to_string());
        for _ in 0..40 {
            link_number_key(&mut typed, &k('9'), 40);
        }
        assert!(typed.as_ref().unwrap().len() <= NUMBER_DIGITS);
        assert!(matches!(
            link_number_key(&mut typed, &code(KeyCode::Enter), 40),
            NumberKey::NoSuchLink(_)
        ));
        // "0" typed first (after a prompt-opening digit elsewhere) is no link.
        assert!(matches!(choose("0", 40), NumberKey::NoSuchLink(_)));
    }
}

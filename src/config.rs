//! `feeds.toml`: sources, fetch settings, echomail charsets, tagger extensions, saved
//! searches and key bindings. Every error names the file, the line and the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::model::Tag;

/// A config problem, already phrased for the user: `feeds.toml:12: key `url`: ...`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// Where a source's stories come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Url(String),
    /// A file or folder, resolved against the config file's folder.
    Path(PathBuf),
}

impl Location {
    /// The text stored with the source so a changed location can be noticed.
    pub fn describe(&self) -> String {
        match self {
            Location::Url(u) => u.clone(),
            Location::Path(p) => p.display().to_string(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub location: Location,
    /// Applied to every story of this source, with provenance `source`.
    pub tags: Vec<Tag>,
    /// Interface auto-sync interval for this source, if not the global one.
    pub refresh: Option<Duration>,
    /// A binkd inbound folder: tossed files are moved to `<data>/ftn/done` (or `bad`).
    pub inbound: bool,
    /// Inbound only: files modified more recently than this are left for a later run. binkd
    /// renames a file into place when it is complete, so 0 suits it; a script or FTP upload
    /// writing in place needs a few seconds, or its half-written files are set aside as bad.
    pub min_age: Duration,
}

/// Global fetch settings.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    pub concurrency: usize,
    pub per_host: usize,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub max_redirects: usize,
    /// Cap on a response or file after decompression.
    pub max_bytes: u64,
    pub user_agent: String,
}

impl Default for FetchSettings {
    fn default() -> Self {
        FetchSettings {
            concurrency: 16,
            per_host: 8,
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            max_redirects: 5,
            max_bytes: 16 * 1024 * 1024,
            user_agent: format!("echowatch/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// Echomail decoding defaults.
#[derive(Debug, Clone)]
pub struct EchomailSettings {
    /// Charset for messages without a `CHRS` kludge (GoldED+ and MultiMail assume CP437).
    pub default_charset: String,
    /// Per echo area override of the default, keyed by upper-case area tag.
    pub area_charsets: BTreeMap<String, String>,
    /// Packet passwords by sending node: a packet in an inbound from one of these nodes
    /// under another password is set aside, not tossed (as crashmail and hpt check them).
    pub packet_passwords: BTreeMap<crate::ftn::FtnAddress, String>,
}

impl EchomailSettings {
    /// The decoding table the echomail reader uses (names were checked when parsing).
    pub fn charsets(&self) -> crate::ftn::Charsets {
        use crate::ftn::Charset;
        let by_name = |n: &str| Charset::from_chrs(n).unwrap_or(Charset::Cp437);
        self.area_charsets.iter().fold(
            crate::ftn::Charsets::new(by_name(&self.default_charset)),
            |acc, (area, name)| acc.with_area(area, by_name(name)),
        )
    }
}

impl Default for EchomailSettings {
    fn default() -> Self {
        EchomailSettings {
            default_charset: "CP437".into(),
            area_charsets: BTreeMap::new(),
            packet_passwords: BTreeMap::new(),
        }
    }
}

/// How the interface opens links: `[settings] browser` and `browser_terminal`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrowserSetting {
    /// The program and its arguments, `%u` standing for the link (appended when absent).
    /// `None`: `$BROWSER`, else the system's opener or a text browser found on `PATH`.
    pub command: Option<Vec<String>>,
    /// Whether the browser runs in this terminal (the interface steps aside until it ends);
    /// `None`: decided by its name (w3m, lynx, elinks, links… do).
    pub terminal: Option<bool>,
}

/// A saved search (watchlist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watch {
    pub name: String,
    pub query: String,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The file this came from (or where it would be).
    pub path: PathBuf,
    pub sources: Vec<Source>,
    pub fetch: FetchSettings,
    pub echomail: EchomailSettings,
    /// Interface auto-sync interval; `None` means only on demand.
    pub refresh: Option<Duration>,
    /// The browser the interface opens links with.
    pub browser: BrowserSetting,
    /// Extra tagger rules (same format as the built-in ones), file resolved against the config.
    pub tagger_rules: Option<PathBuf>,
    pub watches: Vec<Watch>,
    /// Key rebindings for the interface: action name → key description.
    pub keys: BTreeMap<String, String>,
    /// The line of each `[[watch]]` query, for errors that name it (a query is checked
    /// against the index only when it runs).
    pub watch_lines: BTreeMap<String, usize>,
    /// The line of each `[keys]` entry, for errors that name it.
    pub key_lines: BTreeMap<String, usize>,
    /// What [`Config::load`] checks against files beside the config: the line of
    /// `[tagger] rules`, and each policy in a source's `tags` with its line (a user's rules
    /// file may add policies, so they are checked once it is read).
    rules_line: usize,
    policy_tags: Vec<(String, usize)>,
}

impl Config {
    /// A config with no sources, for running without a file.
    pub fn empty(path: PathBuf) -> Config {
        Config {
            path,
            sources: Vec::new(),
            fetch: FetchSettings::default(),
            echomail: EchomailSettings::default(),
            refresh: None,
            browser: BrowserSetting::default(),
            tagger_rules: None,
            watches: Vec::new(),
            keys: BTreeMap::new(),
            key_lines: BTreeMap::new(),
            watch_lines: BTreeMap::new(),
            rules_line: 0,
            policy_tags: Vec::new(),
        }
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let config = Config::parse(path, &text)?;
        config.check_tagger_rules()?;
        Ok(config)
    }

    /// The user's tagger rules file can be read and parsed, and every policy named in a
    /// source's `tags` exists (built in, or added by that file). A broken rules file is a
    /// bad config: found here, it stops the run before anything is fetched, instead of
    /// failing every source that has something new.
    fn check_tagger_rules(&self) -> Result<(), ConfigError> {
        let invalid = |line: usize, message: String| ConfigError::Invalid {
            path: self.path.clone(),
            line,
            message,
        };
        let rules_text = match &self.tagger_rules {
            Some(file) => Some(std::fs::read_to_string(file).map_err(|e| {
                invalid(
                    self.rules_line,
                    format!("key `rules`: cannot read {}: {e}", file.display()),
                )
            })?),
            None => None,
        };
        if rules_text.is_none() && self.policy_tags.is_empty() {
            return Ok(());
        }
        let known = crate::classify::policy_ids(rules_text.as_deref()).map_err(|e| {
            let file = self.tagger_rules.as_deref().unwrap_or(Path::new("rules"));
            invalid(
                self.rules_line,
                format!("key `rules`: {}: {e}", file.display()),
            )
        })?;
        for (policy, line) in &self.policy_tags {
            if !known.iter().any(|k| k == policy) {
                return Err(invalid(
                    *line,
                    format!(
                        "key `tags`: unknown policy {policy:?}; the policies are: {}",
                        known.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Parse `text` as if read from `path` (relative source paths resolve against its folder).
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let invalid = |offset: usize, message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            line: line_of(text, offset),
            message,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            let message = e.message().trim();
            // toml names the key for a missing or unknown one, not for a value of the wrong
            // type; that one's span starts at the value, after `key =` on its line.
            match key_before(text, offset) {
                Some(key) if !message.contains('`') => {
                    invalid(offset, format!("key `{key}`: {message}"))
                }
                _ => invalid(offset, message.to_string()),
            }
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &str| {
            let p = PathBuf::from(p);
            if p.is_absolute() { p } else { base.join(p) }
        };

        let refresh = raw.settings_refresh().map(|m| Duration::from_secs(m * 60));
        let mut sources = Vec::new();
        let mut policy_tags = Vec::new();
        let mut seen = BTreeMap::new();
        for raw_source in raw.source {
            let at = raw_source.span().start;
            let s = raw_source.into_inner();
            let name = s.name.get_ref().trim().to_string();
            if name.is_empty() {
                return Err(invalid(
                    s.name.span().start,
                    "key `name`: must not be empty".into(),
                ));
            }
            // A name is printed as it is, on every screen and in every export.
            if name.chars().any(crate::parse::sanitize::is_forbidden) {
                return Err(invalid(
                    s.name.span().start,
                    "key `name`: control characters, escapes and bidi overrides are not \
                     allowed in a source name"
                        .into(),
                ));
            }
            // The index and `source:` queries compare names in any case: "Wire" and "WIRE"
            // would be one source there and two here.
            if let Some(first) = seen.insert(name.to_lowercase(), name.clone()) {
                let again = if first == name {
                    format!("key `name`: source {name:?} is defined twice")
                } else {
                    format!(
                        "key `name`: source {name:?} differs from {first:?} only in case; \
                         names must differ in more than case"
                    )
                };
                return Err(invalid(s.name.span().start, again));
            }
            let location = match (s.url, s.path) {
                (Some(url), None) => {
                    let parsed = url::Url::parse(url.get_ref()).map_err(|e| {
                        invalid(
                            url.span().start,
                            format!("key `url`: {e}: {:?}", url.get_ref()),
                        )
                    })?;
                    if !matches!(parsed.scheme(), "http" | "https") {
                        return Err(invalid(
                            url.span().start,
                            format!(
                                "key `url`: only http and https are fetched, not {:?}",
                                parsed.scheme()
                            ),
                        ));
                    }
                    Location::Url(url.into_inner())
                }
                (None, Some(p)) => Location::Path(resolve(p.get_ref())),
                (Some(_), Some(p)) => {
                    return Err(invalid(
                        p.span().start,
                        format!(
                            "key `path`: source {name:?} has both `url` and `path`; give exactly one"
                        ),
                    ));
                }
                (None, None) => {
                    return Err(invalid(
                        at,
                        format!("source {name:?} needs exactly one of the keys `url` or `path`"),
                    ));
                }
            };
            let mut tags = Vec::new();
            for t in s.tags.unwrap_or_default() {
                let tag = Tag::from_input(t.get_ref())
                    .map_err(|e| invalid(t.span().start, format!("key `tags`: {e}")))?;
                if tag.kind == crate::model::TagKind::Policy {
                    policy_tags.push((tag.value.clone(), line_of(text, t.span().start)));
                }
                tags.push(tag);
            }
            let inbound = s.inbound.as_ref().is_some_and(|i| *i.get_ref());
            if inbound && let Location::Url(_) = location {
                return Err(invalid(
                    s.inbound.as_ref().map_or(at, |i| i.span().start),
                    format!(
                        "key `inbound`: source {name:?} has a `url`; an inbound is a folder \
                         given by `path`"
                    ),
                ));
            }
            let min_age = match &s.min_age_secs {
                Some(v) if !inbound => {
                    return Err(invalid(
                        v.span().start,
                        format!(
                            "key `min_age_secs`: source {name:?} is not an inbound; \
                             add `inbound = true` or remove the key"
                        ),
                    ));
                }
                Some(v) => Duration::from_secs(*v.get_ref()),
                None => Duration::ZERO,
            };
            sources.push(Source {
                name,
                location,
                tags,
                refresh: s.refresh_minutes.map(|m| Duration::from_secs(m * 60)),
                inbound,
                min_age,
            });
        }

        let mut fetch = FetchSettings::default();
        let mut browser = BrowserSetting::default();
        if let Some(f) = raw.settings {
            if let Some(b) = &f.browser {
                browser.command = Some(browser_command(b.get_ref()).map_err(|message| {
                    invalid(b.span().start, format!("key `browser`: {message}"))
                })?);
            }
            browser.terminal = f.browser_terminal;
            let positive = |v: &Spanned<u64>, key: &str| {
                if *v.get_ref() == 0 {
                    Err(invalid(
                        v.span().start,
                        format!("key `{key}`: must be greater than 0"),
                    ))
                } else {
                    Ok(*v.get_ref())
                }
            };
            if let Some(v) = &f.concurrency {
                fetch.concurrency = positive(v, "concurrency")? as usize;
            }
            if let Some(v) = &f.per_host {
                fetch.per_host = positive(v, "per_host")? as usize;
            }
            if let Some(v) = &f.connect_timeout_secs {
                fetch.connect_timeout = Duration::from_secs(positive(v, "connect_timeout_secs")?);
            }
            if let Some(v) = &f.timeout_secs {
                fetch.timeout = Duration::from_secs(positive(v, "timeout_secs")?);
            }
            if let Some(v) = &f.max_redirects {
                fetch.max_redirects = *v.get_ref() as usize;
            }
            if let Some(v) = &f.max_bytes {
                fetch.max_bytes = positive(v, "max_bytes")?;
            }
            if let Some(v) = f.user_agent {
                fetch.user_agent = v;
            }
        }

        let mut echomail = EchomailSettings::default();
        if let Some(e) = raw.echomail {
            let known = |v: &Spanned<String>, key: &str| {
                if crate::ftn::Charset::from_chrs(v.get_ref()).is_some() {
                    Ok(v.get_ref().clone())
                } else {
                    Err(invalid(
                        v.span().start,
                        format!(
                            "key `{key}`: unknown charset {:?} (try CP437, CP850, CP866, LATIN-1, UTF-8)",
                            v.get_ref()
                        ),
                    ))
                }
            };
            if let Some(c) = &e.default_charset {
                echomail.default_charset = known(c, "default_charset")?;
            }
            for (area, c) in &e.area_charsets {
                echomail
                    .area_charsets
                    .insert(area.to_ascii_uppercase(), known(c, "area_charsets")?);
            }
            for (node, password) in &e.packet_passwords {
                let at = password.span().start;
                let address: crate::ftn::FtnAddress = node.parse().map_err(|_| {
                    invalid(
                        at,
                        format!(
                            "key `packet_passwords`: {node:?} is not a FidoNet address (Z:N/F or Z:N/F.P)"
                        ),
                    )
                })?;
                let pw = password.get_ref();
                if pw.is_empty() || pw.len() > 8 || !pw.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(invalid(
                        at,
                        format!(
                            "key `packet_passwords`: the password for {node} must be 1 to 8 \
                             printable ASCII characters (a packet header holds 8 bytes)"
                        ),
                    ));
                }
                echomail.packet_passwords.insert(address, pw.clone());
            }
        }

        let mut watches = Vec::new();
        let mut watch_lines = BTreeMap::new();
        for w in raw.watch {
            watch_lines.insert(w.name.clone(), line_of(text, w.query.span().start));
            if w.query.get_ref().trim().is_empty() {
                return Err(invalid(
                    w.query.span().start,
                    "key `query`: must not be empty".into(),
                ));
            }
            watches.push(Watch {
                name: w.name,
                query: w.query.into_inner(),
            });
        }

        Ok(Config {
            path: path.to_path_buf(),
            sources,
            fetch,
            echomail,
            refresh,
            browser,
            rules_line: raw
                .tagger
                .as_ref()
                .and_then(|t| t.rules.as_ref())
                .map_or(0, |r| line_of(text, r.span().start)),
            tagger_rules: raw
                .tagger
                .and_then(|t| t.rules)
                .map(|r| resolve(r.get_ref())),
            policy_tags,
            watches,
            watch_lines,
            key_lines: raw
                .keys
                .iter()
                .map(|(k, v)| (k.clone(), line_of(text, v.span().start)))
                .collect(),
            keys: raw
                .keys
                .into_iter()
                .map(|(k, v)| (k, v.into_inner()))
                .collect(),
        })
    }

    /// The default data folder: `index/` beside the config file.
    pub fn default_data_dir(&self) -> PathBuf {
        self.path.parent().unwrap_or(Path::new(".")).join("index")
    }

    pub fn source(&self, name: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.name == name)
    }
}

/// 1-based line number of a byte offset.
/// The key whose value starts at `offset`: `refresh_minutes` in `refresh_minutes = "x"`.
fn key_before(text: &str, offset: usize) -> Option<&str> {
    let before = text.get(..offset)?;
    let line = &before[before.rfind('\n').map_or(0, |i| i + 1)..];
    let key = line.trim_end().strip_suffix('=')?.trim();
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    bare.then_some(key)
}

fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    settings: Option<RawSettings>,
    echomail: Option<RawEchomail>,
    tagger: Option<RawTagger>,
    #[serde(default)]
    source: Vec<Spanned<RawSource>>,
    #[serde(default)]
    watch: Vec<RawWatch>,
    #[serde(default)]
    keys: BTreeMap<String, Spanned<String>>,
}

impl RawConfig {
    fn settings_refresh(&self) -> Option<u64> {
        self.settings
            .as_ref()
            .and_then(|s| s.refresh_minutes)
            .filter(|m| *m > 0)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    concurrency: Option<Spanned<u64>>,
    per_host: Option<Spanned<u64>>,
    connect_timeout_secs: Option<Spanned<u64>>,
    timeout_secs: Option<Spanned<u64>>,
    max_redirects: Option<Spanned<u64>>,
    max_bytes: Option<Spanned<u64>>,
    user_agent: Option<String>,
    refresh_minutes: Option<u64>,
    browser: Option<Spanned<RawBrowser>>,
    browser_terminal: Option<bool>,
}

/// `browser = "w3m %u"` (split at spaces) or `browser = ["my browser", "--new", "%u"]`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawBrowser {
    Line(String),
    Words(Vec<String>),
}

/// The browser's words, checked: a program is named, and it is not a shell, which would
/// read a link from a feed as commands (newsbeuter CVE-2017-12904).
fn browser_command(raw: &RawBrowser) -> Result<Vec<String>, String> {
    let words: Vec<String> = match raw {
        RawBrowser::Line(line) => line.split_whitespace().map(str::to_string).collect(),
        RawBrowser::Words(words) => words.clone(),
    };
    let Some(program) = words.first().filter(|p| !p.trim().is_empty()) else {
        return Err("name the browser program, e.g. \"w3m %u\" or \"firefox\"".into());
    };
    if words.iter().any(|w| w.chars().any(char::is_control)) {
        return Err("control characters are not allowed".into());
    }
    if crate::tui::open::is_shell(program) {
        return Err(format!(
            "{program:?} is a shell, and links from feeds are never given to a shell; \
             name the browser itself (its arguments may hold %u for the link)"
        ));
    }
    Ok(words)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEchomail {
    default_charset: Option<Spanned<String>>,
    #[serde(default)]
    area_charsets: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    packet_passwords: BTreeMap<String, Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTagger {
    rules: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    name: Spanned<String>,
    url: Option<Spanned<String>>,
    path: Option<Spanned<String>>,
    tags: Option<Vec<Spanned<String>>>,
    refresh_minutes: Option<u64>,
    inbound: Option<Spanned<bool>>,
    min_age_secs: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWatch {
    name: String,
    query: Spanned<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/echowatch/feeds.toml"), text)
    }

    fn error_of(text: &str) -> String {
        match parse(text) {
            Ok(_) => panic!("expected an error for {text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn full_config_parses() {
        let c = parse(
            r#"
[settings]
concurrency = 4
timeout_secs = 5
max_bytes = 1000
refresh_minutes = 30

[echomail]
default_charset = "CP866"
area_charsets = { tqw_technology = "UTF-8" }
packet_passwords = { "1337:1/100" = "SECRET" }

[tagger]
rules = "my-rules.toml"

[[source]]
name = "BIS"
url = "https://www.federalregister.gov/api/v1/documents.rss"
tags = ["country:US", "policy:export-controls", "official"]

[[source]]
name = "inbound"
path = "spool/inbound"
inbound = true
min_age_secs = 30

[[watch]]
name = "Dutch litho"
query = "country:NL lithography"

[keys]
quit = "x"
"#,
        )
        .unwrap();
        assert_eq!(c.fetch.concurrency, 4);
        assert_eq!(c.fetch.max_bytes, 1000);
        assert_eq!(c.refresh, Some(Duration::from_secs(1800)));
        assert_eq!(c.sources.len(), 2);
        assert_eq!(c.sources[0].tags[0], Tag::country("US"));
        assert_eq!(
            c.sources[1].location,
            Location::Path("/etc/echowatch/spool/inbound".into())
        );
        assert!(c.sources[1].inbound);
        assert_eq!(c.sources[1].min_age, Duration::from_secs(30));
        assert_eq!(c.sources[0].min_age, Duration::ZERO);
        assert_eq!(c.echomail.area_charsets["TQW_TECHNOLOGY"], "UTF-8");
        assert_eq!(
            c.echomail.packet_passwords[&"1337:1/100".parse().unwrap()],
            "SECRET"
        );
        assert_eq!(
            c.tagger_rules,
            Some(PathBuf::from("/etc/echowatch/my-rules.toml"))
        );
        assert_eq!(c.watches[0].query, "country:NL lithography");
        assert_eq!(c.keys["quit"], "x");
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = error_of("[[source]]\nname = \"a\"\nurl = \"https://x/\"\npath = \"y\"\n");
        assert!(
            e.starts_with("/etc/echowatch/feeds.toml:4: key `path`"),
            "{e}"
        );
        let e = error_of("\n[[source]]\nname = \"a\"\n");
        assert!(
            e.contains("feeds.toml:2:") && e.contains("`url` or `path`"),
            "{e}"
        );
        let e = error_of("[[source]]\nname = \"a\"\nurl = \"ftp://x/\"\n");
        assert!(e.contains(":3: key `url`: only http and https"), "{e}");
        let e =
            error_of("[[source]]\nname = \"a\"\nurl = \"https://x/\"\ntags = [\"country:USA\"]\n");
        assert!(e.contains(":4: key `tags`"), "{e}");
        // A value of the wrong type names its key too.
        let e = error_of("[settings]\nconcurrency = \"lots\"\n");
        assert!(e.contains(":2: key `concurrency`: invalid type"), "{e}");
        let e = error_of("[[source]]\nname = \"a\"\nurl = \"https://x/\"\ntags = \"brief\"\n");
        assert!(e.contains(":4: key `tags`: invalid type"), "{e}");
        let e = error_of("[settings]\nconcurency = 3\n");
        assert!(e.contains(":2:") && e.contains("concurency"), "{e}");
        let e = error_of(
            "[[source]]\nname = \"a\"\npath = \"x\"\n[[source]]\nname = \"a\"\npath = \"y\"\n",
        );
        assert!(e.contains(":5: key `name`") && e.contains("twice"), "{e}");
        let e = error_of("[echomail]\ndefault_charset = \"KLINGON\"\n");
        assert!(
            e.contains(":2: key `default_charset`: unknown charset"),
            "{e}"
        );
        let e = error_of("[settings]\ntimeout_secs = 0\n");
        assert!(e.contains(":2: key `timeout_secs`"), "{e}");
        let e = error_of("[echomail]\npacket_passwords = { \"uplink\" = \"PW\" }\n");
        assert!(
            e.contains(":2: key `packet_passwords`") && e.contains("not a FidoNet"),
            "{e}"
        );
        let e = error_of("[echomail]\npacket_passwords = { \"1:2/3\" = \"TOOLONGPW\" }\n");
        assert!(
            e.contains(":2: key `packet_passwords`") && e.contains("1 to 8"),
            "{e}"
        );
        // A minimum age only means something where files are moved away once tossed.
        let e = error_of("[[source]]\nname = \"a\"\npath = \"x\"\nmin_age_secs = 5\n");
        assert!(
            e.contains(":4: key `min_age_secs`") && e.contains("inbound = true"),
            "{e}"
        );
    }

    #[test]
    fn tagger_rules_and_policy_tags_are_checked_when_the_config_loads() {
        let dir = tempfile::tempdir().unwrap();
        let load = |config: &str| {
            let path = dir.path().join("feeds.toml");
            std::fs::write(&path, config).unwrap();
            Config::load(&path).map(|_| ()).map_err(|e| e.to_string())
        };
        let source = "[[source]]\nname = \"a\"\npath = \"x\"\n";

        // A rules file that is missing or broken stops the run: file, line, key.
        let e = load(&format!("[tagger]\nrules = \"my-rules.toml\"\n{source}")).unwrap_err();
        assert!(
            e.contains("feeds.toml:2: key `rules`: cannot read") && e.contains("my-rules.toml"),
            "{e}"
        );
        std::fs::write(dir.path().join("my-rules.toml"), "[[policy]\nid = ").unwrap();
        let e = load(&format!("[tagger]\nrules = \"my-rules.toml\"\n{source}")).unwrap_err();
        assert!(e.contains("feeds.toml:2: key `rules`: "), "{e}");

        // A policy in a source's tags must exist; a user's rules file may add one.
        let e = load(&format!("{source}tags = [\"policy:export-control\"]\n")).unwrap_err();
        assert!(
            e.contains("feeds.toml:4: key `tags`: unknown policy \"export-control\"")
                && e.contains("export-controls"),
            "{e}"
        );
        assert_eq!(
            load(&format!("{source}tags = [\"policy:export-controls\"]\n")),
            Ok(())
        );
        std::fs::write(
            dir.path().join("my-rules.toml"),
            "[[policy]]\nid = \"quantum-controls\"\nstrong = [\"quantum export rule\"]\n",
        )
        .unwrap();
        assert_eq!(
            load(&format!(
                "[tagger]\nrules = \"my-rules.toml\"\n{source}tags = [\"policy:quantum-controls\"]\n"
            )),
            Ok(())
        );
    }

    #[test]
    fn names_with_escapes_and_inbound_urls_are_refused() {
        let e = error_of("[[source]]\nname = \"Evil\\u001b]0;title\\u0007\"\npath = \"x\"\n");
        assert!(e.contains(":2: key `name`: control characters"), "{e}");
        let e = error_of("[[source]]\nname = \"r\\u202eevil\"\npath = \"x\"\n");
        assert!(e.contains(":2: key `name`"), "{e}");
        let e = error_of(
            "[[source]]\nname = \"Wire\"\npath = \"x\"\n[[source]]\nname = \"WIRE\"\npath = \"y\"\n",
        );
        assert!(
            e.contains(":5: key `name`") && e.contains("only in case"),
            "{e}"
        );
        let e = error_of("[[source]]\nname = \"a\"\nurl = \"https://x/\"\ninbound = true\n");
        assert!(
            e.contains(":4: key `inbound`") && e.contains("`path`"),
            "{e}"
        );
    }

    #[test]
    fn browser_setting_is_words_or_a_list_and_never_a_shell() {
        let c = parse("[settings]\nbrowser = \"w3m -o x=1 %u\"\n").unwrap();
        assert_eq!(
            c.browser,
            BrowserSetting {
                command: Some(vec!["w3m".into(), "-o".into(), "x=1".into(), "%u".into()]),
                terminal: None,
            }
        );
        let c = parse(
            "[settings]\nbrowser = [\"/opt/My Browser/run\", \"--url=%u\"]\nbrowser_terminal = true\n",
        )
        .unwrap();
        assert_eq!(
            c.browser.command.as_deref(),
            Some(&["/opt/My Browser/run".to_string(), "--url=%u".to_string()][..])
        );
        assert_eq!(c.browser.terminal, Some(true));
        assert_eq!(parse("").unwrap().browser, BrowserSetting::default());
        let e = error_of("[settings]\n\nbrowser = \"sh -c 'w3m %u'\"\n");
        assert!(
            e.contains(":3: key `browser`") && e.contains("shell"),
            "{e}"
        );
        let e = error_of("[settings]\nbrowser = [\"/bin/bash\", \"-c\"]\n");
        assert!(
            e.contains(":2: key `browser`") && e.contains("shell"),
            "{e}"
        );
        let e = error_of("[settings]\nbrowser = \"  \"\n");
        assert!(e.contains(":2: key `browser`: name the browser"), "{e}");
        let e = error_of("[settings]\nbrowser = []\n");
        assert!(e.contains(":2: key `browser`"), "{e}");
        let e = error_of("[settings]\nbrowser = 3\n");
        assert!(e.contains(":2:") && e.contains("browser"), "{e}");
        let e = error_of("[settings]\nbrowser_terminal = \"yes\"\n");
        assert!(e.contains(":2: key `browser_terminal`"), "{e}");
    }
}

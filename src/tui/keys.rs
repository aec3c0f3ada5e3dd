//! The keymap: actions, their default keys (newsboat/mutt/vi conventions, DESIGN.md) and
//! rebinding from the config's `[keys]` table (`action = "key [key…]"`).

use std::collections::{BTreeMap, HashMap};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Everything a key can do outside text input. The names are the config's `[keys]` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    Back,
    Quit,
    Search,
    Command,
    Sort,
    Focus,
    ClearFilters,
    ClearAll,
    Tags,
    ToggleRead,
    NextUnread,
    NextStory,
    PrevStory,
    Star,
    MarkAllRead,
    OpenLink,
    Sync,
    Watch,
    Trend,
    Failures,
    Sidebar,
    Help,
}

impl Action {
    pub const ALL: [Action; 29] = [
        Action::Up,
        Action::Down,
        Action::PageUp,
        Action::PageDown,
        Action::Top,
        Action::Bottom,
        Action::Open,
        Action::Back,
        Action::Quit,
        Action::Search,
        Action::Command,
        Action::Sort,
        Action::Focus,
        Action::ClearFilters,
        Action::ClearAll,
        Action::Tags,
        Action::ToggleRead,
        Action::NextUnread,
        Action::NextStory,
        Action::PrevStory,
        Action::Star,
        Action::MarkAllRead,
        Action::OpenLink,
        Action::Sync,
        Action::Watch,
        Action::Trend,
        Action::Failures,
        Action::Sidebar,
        Action::Help,
    ];

    /// The name used in the config's `[keys]` table.
    pub fn name(self) -> &'static str {
        match self {
            Action::Up => "up",
            Action::Down => "down",
            Action::PageUp => "page_up",
            Action::PageDown => "page_down",
            Action::Top => "top",
            Action::Bottom => "bottom",
            Action::Open => "open",
            Action::Back => "back",
            Action::Quit => "quit",
            Action::Search => "search",
            Action::Command => "command",
            Action::Sort => "sort",
            Action::Focus => "focus",
            Action::ClearFilters => "clear_filters",
            Action::ClearAll => "clear_all",
            Action::Tags => "tags",
            Action::ToggleRead => "toggle_read",
            Action::NextUnread => "next_unread",
            Action::NextStory => "next_story",
            Action::PrevStory => "previous_story",
            Action::Star => "star",
            Action::MarkAllRead => "mark_all_read",
            Action::OpenLink => "open_link",
            Action::Sync => "sync",
            Action::Watch => "watch",
            Action::Trend => "trend",
            Action::Failures => "sync_failures",
            Action::Sidebar => "sidebar",
            Action::Help => "help",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Action::Up => "move up",
            Action::Down => "move down",
            Action::PageUp => "page up",
            Action::PageDown => "page down",
            Action::Top => "first story",
            Action::Bottom => "last story",
            Action::Open => "open story / pick entry",
            Action::Back => "back; clears search/filters (never quits)",
            Action::Quit => "back; quits from the list",
            Action::Search => "search (as you type)",
            Action::Command => "command prompt",
            Action::Sort => "sort relevance / newest",
            Action::Focus => "switch sidebar / list",
            Action::ClearFilters => "clear facet filters",
            Action::ClearAll => "clear filters and query",
            Action::Tags => "edit tags of the story",
            Action::ToggleRead => "toggle read / unread",
            Action::NextUnread => "next unread story",
            Action::NextStory => "reader: next story of the list",
            Action::PrevStory => "reader: previous story of the list",
            Action::Star => "star / unstar",
            Action::MarkAllRead => "mark all in filter read",
            Action::OpenLink => "open link in browser",
            Action::Sync => "sync sources now",
            Action::Watch => "save search as a watch",
            Action::Trend => "trend chart (again: split)",
            Action::Failures => "sources that failed the last sync",
            Action::Sidebar => "hide / show the sidebar",
            Action::Help => "this help",
        }
    }

    fn by_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }

    fn default_keys(self) -> &'static [&'static str] {
        match self {
            Action::Up => &["k", "Up"],
            Action::Down => &["j", "Down"],
            Action::PageUp => &["PageUp", "C-b"],
            Action::PageDown => &["PageDown", "C-f", "Space"],
            Action::Top => &["g", "Home"],
            Action::Bottom => &["G", "End"],
            Action::Open => &["Enter"],
            Action::Back => &["Esc"],
            Action::Quit => &["q"],
            Action::Search => &["/"],
            Action::Command => &[":"],
            Action::Sort => &["S"],
            Action::Focus => &["Tab", "BackTab"],
            Action::ClearFilters => &["c"],
            Action::ClearAll => &["C"],
            Action::Tags => &["t"],
            Action::ToggleRead => &["m"],
            Action::NextUnread => &["n"],
            Action::NextStory => &["J"],
            Action::PrevStory => &["K"],
            Action::Star => &["s"],
            Action::MarkAllRead => &["A"],
            Action::OpenLink => &["o"],
            Action::Sync => &["r"],
            Action::Watch => &["w"],
            Action::Trend => &["T"],
            Action::Failures => &["F"],
            Action::Sidebar => &["B"],
            Action::Help => &["?", "F1"],
        }
    }
}

/// A key with its modifiers, normalised so `G` and `Shift+g` are the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl Key {
    pub fn from_event(e: &KeyEvent) -> Key {
        let mut mods = e.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
        let code = match e.code {
            // Terminals report shifted letters either way; the character already says it.
            KeyCode::Char(c) => {
                if c.is_ascii_uppercase() || !c.is_alphanumeric() {
                    mods &= !KeyModifiers::SHIFT;
                }
                KeyCode::Char(c)
            }
            other => other,
        };
        Key { code, mods }
    }

    /// Parse `x`, `G`, `Enter`, `C-x`, `Ctrl-x`, `Alt-x`, `F5`, `PageDown`, `Space`…
    pub fn parse(text: &str) -> Option<Key> {
        let mut mods = KeyModifiers::NONE;
        let mut rest = text.trim();
        loop {
            let lower = rest.to_ascii_lowercase();
            let strip = ["c-", "ctrl-", "ctrl+", "a-", "alt-", "alt+", "m-"]
                .iter()
                .find(|p| lower.starts_with(*p) && rest.chars().count() > p.len());
            match strip {
                Some(p) => {
                    mods |= if p.starts_with('c') {
                        KeyModifiers::CONTROL
                    } else {
                        KeyModifiers::ALT
                    };
                    rest = rest.get(p.len()..)?;
                }
                None => break,
            }
        }
        let code = if rest.chars().count() == 1 {
            let c = rest.chars().next()?;
            KeyCode::Char(if mods.contains(KeyModifiers::CONTROL) {
                c.to_ascii_lowercase()
            } else {
                c
            })
        } else {
            match rest.to_ascii_lowercase().as_str() {
                "enter" | "return" => KeyCode::Enter,
                "esc" | "escape" => KeyCode::Esc,
                "tab" => KeyCode::Tab,
                "backtab" => KeyCode::BackTab,
                "space" => KeyCode::Char(' '),
                "up" => KeyCode::Up,
                "down" => KeyCode::Down,
                "left" => KeyCode::Left,
                "right" => KeyCode::Right,
                "pageup" | "pgup" => KeyCode::PageUp,
                "pagedown" | "pgdn" => KeyCode::PageDown,
                "home" => KeyCode::Home,
                "end" => KeyCode::End,
                "backspace" => KeyCode::Backspace,
                "delete" | "del" => KeyCode::Delete,
                "insert" => KeyCode::Insert,
                f if f.starts_with('f') => {
                    KeyCode::F(f[1..].parse().ok().filter(|n| (1..=24).contains(n))?)
                }
                _ => return None,
            }
        };
        Some(Key { code, mods })
    }

    pub fn describe(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::BackTab => "S-Tab".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::Backspace => "Bksp".into(),
            KeyCode::Delete => "Del".into(),
            KeyCode::Insert => "Ins".into(),
            KeyCode::F(n) => format!("F{n}"),
            other => format!("{other:?}"),
        };
        let mut out = String::new();
        if self.mods.contains(KeyModifiers::CONTROL) {
            out.push_str("C-");
        }
        if self.mods.contains(KeyModifiers::ALT) {
            out.push_str("A-");
        }
        out.push_str(&base);
        out
    }
}

#[derive(Debug, Clone)]
pub struct Keymap {
    map: HashMap<Key, Action>,
    /// Keys per action in binding order, for the help screen.
    keys: BTreeMap<Action, Vec<Key>>,
}

impl Default for Keymap {
    fn default() -> Self {
        Keymap::from_config(&BTreeMap::new()).0
    }
}

/// Something wrong with one entry of the config's `[keys]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyProblem {
    /// The entry's name as written (`quit`, or an unknown one).
    pub entry: String,
    pub message: String,
}

impl std::fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[keys] {}: {}", self.entry, self.message)
    }
}

impl Keymap {
    /// Defaults with the config's rebindings applied. A rebound action loses its default keys;
    /// a key taken by a rebinding leaves the action that had it. Returns the problems found,
    /// each with the `[keys]` entry it is about: an unknown action, an unreadable key, one key
    /// given to two actions, an action left without any key. The interface refuses to start
    /// on them (the config's line is named); a keymap is still made, for tests and the help.
    pub fn from_config(config: &BTreeMap<String, String>) -> (Keymap, Vec<KeyProblem>) {
        let mut keys: BTreeMap<Action, Vec<Key>> = BTreeMap::new();
        for a in Action::ALL {
            keys.insert(
                a,
                a.default_keys()
                    .iter()
                    .filter_map(|k| Key::parse(k))
                    .collect(),
            );
        }
        let mut problems = Vec::new();
        let problem = |entry: &str, message: String| KeyProblem {
            entry: entry.to_string(),
            message,
        };
        // Which entry gave each key, and which action it took each key from.
        let mut given: HashMap<Key, &str> = HashMap::new();
        let mut taken: Vec<(Action, &str)> = Vec::new();
        for (name, value) in config {
            let Some(action) = Action::by_name(name.trim()) else {
                problems.push(problem(
                    name,
                    "unknown action (see ? for the actions)".into(),
                ));
                continue;
            };
            let mut bound = Vec::new();
            for word in value.split_whitespace() {
                match Key::parse(word) {
                    Some(k) => match given.insert(k, name) {
                        Some(other) if other != name => problems.push(problem(
                            name,
                            format!("key {word:?} is also given to `{other}`"),
                        )),
                        _ => bound.push(k),
                    },
                    None => problems.push(problem(name, format!("cannot read key {word:?}"))),
                }
            }
            if bound.is_empty() {
                continue;
            }
            for (other, list) in keys.iter_mut() {
                let before = list.len();
                list.retain(|k| !bound.contains(k));
                if list.len() < before && *other != action {
                    taken.push((*other, name));
                }
            }
            keys.insert(action, bound);
        }
        for (action, by) in taken {
            if keys.get(&action).is_some_and(Vec::is_empty) && !config.contains_key(action.name()) {
                problems.push(problem(
                    by,
                    format!(
                        "takes the only key of `{}`; give that action a key too",
                        action.name()
                    ),
                ));
            }
        }
        let mut map = HashMap::new();
        for (action, list) in &keys {
            for k in list {
                map.insert(*k, *action);
            }
        }
        (Keymap { map, keys }, problems)
    }

    pub fn action(&self, e: &KeyEvent) -> Option<Action> {
        self.map.get(&Key::from_event(e)).copied()
    }

    /// The keys of an action as the help screen shows them, e.g. `j ↓`.
    pub fn keys_of(&self, a: Action) -> String {
        self.keys
            .get(&a)
            .map(|ks| ks.iter().map(Key::describe).collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    }

    /// The first key of an action (for hints), or `-` if it has none.
    pub fn first_key(&self, a: Action) -> String {
        self.keys
            .get(&a)
            .and_then(|ks| ks.first())
            .map(Key::describe)
            .unwrap_or_else(|| "-".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyEventKind;

    fn ev(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent {
            code,
            modifiers: mods,
            kind: KeyEventKind::Press,
            state: crossterm::event::KeyEventState::NONE,
        }
    }

    #[test]
    fn defaults_follow_the_conventions() {
        let k = Keymap::default();
        assert_eq!(
            k.action(&ev(KeyCode::Char('j'), KeyModifiers::NONE)),
            Some(Action::Down)
        );
        assert_eq!(
            k.action(&ev(KeyCode::Down, KeyModifiers::NONE)),
            Some(Action::Down)
        );
        assert_eq!(
            k.action(&ev(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(Action::Bottom)
        );
        assert_eq!(
            k.action(&ev(KeyCode::Char('?'), KeyModifiers::SHIFT)),
            Some(Action::Help)
        );
        assert_eq!(
            k.action(&ev(KeyCode::Char('f'), KeyModifiers::CONTROL)),
            Some(Action::PageDown)
        );
        // Every action has a key and a description.
        for a in Action::ALL {
            assert!(!k.keys_of(a).is_empty(), "{a:?}");
            assert!(!a.describe().is_empty());
        }
    }

    #[test]
    fn conflicting_bindings_are_problems() {
        let cfg: BTreeMap<String, String> = [("quit", "x"), ("star", "x")]
            .into_iter()
            .map(|(a, k)| (a.to_string(), k.to_string()))
            .collect();
        let (_, problems) = Keymap::from_config(&cfg);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].entry, "star");
        assert!(
            problems[0].message.contains("also given to `quit`"),
            "{problems:?}"
        );

        // Taking the only key of another action leaves it unreachable, unless it is rebound.
        let mut cfg = BTreeMap::new();
        cfg.insert("search".to_string(), "s".to_string());
        let (_, problems) = Keymap::from_config(&cfg);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0]
                .to_string()
                .contains("[keys] search: takes the only key of `star`")
        );
        cfg.insert("star".to_string(), "C-s".to_string());
        assert!(Keymap::from_config(&cfg).1.is_empty());
    }

    #[test]
    fn config_rebinds_and_reports_problems() {
        let mut cfg = BTreeMap::new();
        cfg.insert("quit".to_string(), "x".to_string());
        cfg.insert("star".to_string(), "C-s j".to_string());
        cfg.insert("fly".to_string(), "z".to_string());
        cfg.insert("sync".to_string(), "Hyper-Q".to_string());
        let (k, problems) = Keymap::from_config(&cfg);
        assert_eq!(
            k.action(&ev(KeyCode::Char('x'), KeyModifiers::NONE)),
            Some(Action::Quit)
        );
        assert_eq!(k.action(&ev(KeyCode::Char('q'), KeyModifiers::NONE)), None);
        assert_eq!(
            k.action(&ev(KeyCode::Char('s'), KeyModifiers::CONTROL)),
            Some(Action::Star)
        );
        // `j` moved to star; Down keeps its arrow.
        assert_eq!(
            k.action(&ev(KeyCode::Char('j'), KeyModifiers::NONE)),
            Some(Action::Star)
        );
        assert_eq!(
            k.action(&ev(KeyCode::Down, KeyModifiers::NONE)),
            Some(Action::Down)
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
        // A key that cannot be read leaves the default in place.
        assert_eq!(
            k.action(&ev(KeyCode::Char('r'), KeyModifiers::NONE)),
            Some(Action::Sync)
        );
    }

    #[test]
    fn key_parsing_never_panics() {
        for text in [
            "",
            "C-",
            "ctrl-",
            "F0",
            "F99",
            "Fx",
            "é",
            "C-é",
            "ctrl-ctrl-x",
            "   ",
            "A-Enter",
        ] {
            let _ = Key::parse(text);
        }
        assert_eq!(Key::parse("F5").map(|k| k.code), Some(KeyCode::F(5)));
        assert_eq!(
            Key::parse("A-Enter").map(|k| (k.code, k.mods)),
            Some((KeyCode::Enter, KeyModifiers::ALT))
        );
    }
}

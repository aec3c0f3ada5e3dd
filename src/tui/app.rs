//! The interface's state and what every key does to it. No terminal here: the event loop
//! (`mod.rs`) feeds keys and ticks in, and the components draw from this state, so the whole
//! behaviour is testable with a temporary workspace and ratatui's `TestBackend`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::index::{FacetField, Hit, IndexDoc, IndexError, SearchRequest, Sort};
use crate::model::{StoryKind, Tag, TagKind, counted};
use crate::store::{StoryId, StoryRecord, TagRecord};
use crate::tui::jobs::{FacetCounts, Jobs, NotStarted, Reply, Request, TrendData};
use crate::tui::keys::{Action, Keymap};
use crate::tui::text::{self, Highlighter};
use crate::tui::watches::{self, WatchEntry};
use crate::tui::{TuiError, open};
use crate::workspace::Workspace;

/// How long an informational message stays on the status line.
const INFO_FADES_AFTER: Duration = Duration::from_secs(6);
/// Hits fetched from the index per page of the list; the list never holds more.
pub const WINDOW: usize = 200;
/// Search as you type waits this long after the last keystroke.
pub const DEBOUNCE: Duration = Duration::from_millis(120);
/// How often the index is checked for commits by another process (a cron `sync`).
const RELOAD_EVERY: Duration = Duration::from_secs(5);
/// `n` looks this far ahead for an unread story before giving up.
const UNREAD_SCAN: usize = 5000;
/// Weeks in the trend chart.
pub const TREND_WEEKS: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Sidebar,
    List,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Error,
}

/// What one list row shows beyond the hit itself (read from the store for visible rows only).
#[derive(Debug, Clone, PartialEq)]
pub struct RowInfo {
    pub title: String,
    pub date: DateTime<Utc>,
    pub feed: bool,
    pub echo: bool,
    pub source: String,
    /// Every echo area that carried it (the list shows the one filtered on, if any).
    pub areas: Vec<String>,
    pub read: bool,
    pub starred: bool,
    /// Countries, policies and free tags, short form (`CN`, `entity-list`, `brief`).
    pub tags: Vec<String>,
}

impl RowInfo {
    fn of(s: &StoryRecord) -> RowInfo {
        let mut tags: Vec<String> = Vec::new();
        for kind in [TagKind::Country, TagKind::Policy, TagKind::Free] {
            tags.extend(
                s.tags
                    .iter()
                    .filter(|t| t.tag.kind == kind)
                    .map(|t| text::line(&t.tag.value)),
            );
        }
        RowInfo {
            title: text::line(&s.title),
            date: s.date(),
            feed: s.kinds.contains(&StoryKind::Feed),
            echo: s.kinds.contains(&StoryKind::Echomail),
            source: s
                .area
                .as_ref()
                .filter(|_| {
                    s.kinds.contains(&StoryKind::Echomail) && !s.kinds.contains(&StoryKind::Feed)
                })
                .or(s.sources.first())
                .map(|n| text::line(n))
                .unwrap_or_default(),
            areas: s.areas.iter().map(|a| text::line(a)).collect(),
            read: s.read,
            starred: s.starred,
            tags,
        }
    }
}

/// Names for a narrow source column: a prefix before ": " that several sources share says
/// nothing there ("Sample: RegWatch", "Sample: ChipWire" → "RegWatch", "ChipWire"), and cut
/// names all read "Sample: R…". A prefix only one source has stays ("Federal Register: BIS").
fn short_source_names<'a>(names: impl Iterator<Item = &'a str> + Clone) -> HashMap<String, String> {
    let prefix = |name: &'a str| name.split_once(": ").map(|(p, rest)| (p, rest.trim()));
    let mut shared: HashMap<&str, usize> = HashMap::new();
    for (p, _) in names.clone().filter_map(prefix) {
        *shared.entry(p).or_default() += 1;
    }
    names
        .filter_map(|name| {
            let (p, rest) = prefix(name)?;
            (shared.get(p).is_some_and(|&n| n > 1) && !rest.is_empty())
                .then(|| (text::line(name), text::line(rest)))
        })
        .collect()
}

/// The story list: one window of hits from the index around the selection.
#[derive(Debug, Default)]
pub struct ListState {
    pub total: usize,
    /// Index in the result of `hits[0]`.
    pub start: usize,
    pub hits: Vec<Hit>,
    pub selected: usize,
    /// First row on screen.
    pub top: usize,
    /// Rows on screen at the last draw.
    pub height: usize,
    pub rows: HashMap<StoryId, RowInfo>,
    pub error: Option<String>,
}

impl ListState {
    pub fn hit(&self, i: usize) -> Option<&Hit> {
        i.checked_sub(self.start).and_then(|j| self.hits.get(j))
    }
}

#[derive(Debug)]
pub struct ReaderState {
    pub id: StoryId,
    pub story: StoryRecord,
    pub scroll: usize,
    /// Lines at the last draw and the height of the view, for paging and clamping.
    pub lines: usize,
    pub height: usize,
    /// The link number being typed at the "open link" prompt (a story with 10 links or more).
    pub link_number: Option<String>,
}

#[derive(Debug)]
pub struct TrendState {
    pub split: FacetField,
    pub data: Option<TrendData>,
    pub error: Option<String>,
}

#[derive(Debug)]
pub enum Screen {
    List,
    Reader(Box<ReaderState>),
    Trend(TrendState),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    Search,
    Command,
    WatchName,
    ConfirmMarkRead,
}

#[derive(Debug)]
pub struct Prompt {
    pub kind: PromptKind,
    pub input: String,
    /// Byte offset of the cursor in `input`.
    pub cursor: usize,
    pub error: Option<String>,
    /// The query before the prompt opened (Esc restores it).
    pub saved_query: String,
    /// For a confirmation: how many stories it applies to; None while the list it counts is
    /// still being searched (filled in when the answer arrives).
    pub count: Option<usize>,
    /// Where Up/Down are in the search history (`None`: the line as typed).
    history_pos: Option<usize>,
}

impl Prompt {
    fn new(kind: PromptKind, input: String, saved_query: String) -> Prompt {
        Prompt {
            kind,
            cursor: input.len(),
            input,
            error: None,
            saved_query,
            count: None,
            history_pos: None,
        }
    }
}

/// Searches kept for Up/Down in the search prompt, across sessions (as newsboat keeps
/// `history.search`).
const SEARCH_HISTORY: usize = 100;

fn history_file(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join("search-history")
}

/// The saved searches, oldest first. A missing or unreadable file is no history.
fn load_history(data_dir: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(history_file(data_dir))
        .map(|t| {
            t.lines()
                .map(text::line)
                .filter(|l| !l.trim().is_empty())
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Debug)]
pub struct TagEditor {
    pub id: StoryId,
    pub title: String,
    pub tags: Vec<TagRecord>,
    pub input: String,
    pub cursor: usize,
    /// `(tag, hint)` completions for the word being typed.
    pub candidates: Vec<(String, String)>,
    pub selected: usize,
    pub message: Option<(String, Level)>,
}

#[derive(Debug)]
pub enum Overlay {
    None,
    Prompt(Prompt),
    Tags(Box<TagEditor>),
    Help {
        scroll: usize,
    },
    /// The sources that failed the last sync, each with its error.
    Failures {
        scroll: usize,
    },
}

#[derive(Debug, Clone, Default)]
pub struct SyncProgress {
    pub done: usize,
    pub total: usize,
    /// The source that finished last (sources run in parallel and finish in any order).
    pub current: String,
    pub failed: usize,
}

/// One line of the sidebar.
#[derive(Debug, Clone, PartialEq)]
pub enum SideItem {
    Header(&'static str),
    Watch(usize),
    Facet(FacetField, String, u64),
}

/// What a sidebar entry is, whatever its count and place.
#[derive(Debug, Clone, PartialEq)]
enum SideKey {
    Header(&'static str),
    Watch(String),
    Facet(FacetField, String),
}

/// Fixed choices for tests and benchmarks.
#[derive(Debug, Clone, Default)]
pub struct AppOptions {
    /// A fixed clock (snapshots); `None` is the real time.
    pub now: Option<DateTime<Utc>>,
    /// Start the interval sync of the config (off in tests).
    pub auto_sync: bool,
    /// Sync at once when the store is empty (first run on a fresh clone: the bundled samples).
    pub sync_if_empty: bool,
}

pub struct App {
    pub ws: Workspace,
    pub keys: Keymap,
    pub jobs: Jobs,
    pub opts: AppOptions,
    /// No colours, attributes only (`NO_COLOR` set and not empty).
    pub mono: bool,

    /// The query the list shows (while typing: the last one that ran).
    pub query: String,
    /// The query text the list was last asked for (the typed query with a prefix star while
    /// the search prompt is open, the query as is after it closes).
    searched: String,
    pub filters: Vec<(FacetField, String)>,
    pub sort: Sort,
    pub highlighter: Highlighter,

    pub list: ListState,
    pub focus: Focus,
    pub screen: Screen,
    pub overlay: Overlay,

    pub facets: FacetCounts,
    pub facets_pending: bool,
    pub sidebar_selected: usize,
    pub sidebar_top: usize,
    /// Short names for the list's source column (see [`short_source_names`]).
    source_labels: HashMap<String, String>,
    /// Submitted searches, oldest first (Up/Down in the search prompt).
    search_history: Vec<String>,
    /// Ctrl-Z was pressed: the event loop suspends the process (job control) and redraws.
    pub suspend: bool,
    /// Hidden with its key, for the width of titles.
    pub sidebar_hidden: bool,
    /// The sidebar entry under the cursor, found again when counts re-order the entries.
    sidebar_key: Option<SideKey>,
    pub sidebar_height: usize,
    pub watches: Vec<WatchEntry>,
    /// Display names of sources by their lower-cased (index) form.
    pub source_names: HashMap<String, String>,

    pub message: Option<(String, Level)>,
    pub sync: Option<SyncProgress>,
    pub quit: bool,

    seq: u64,
    facets_seq: u64,
    watches_seq: u64,
    trend_seq: u64,
    watches_pending: bool,
    trend_pending: bool,
    search_seq: u64,
    search_pending: bool,
    prefetch_seq: u64,
    prefetch_pending: bool,
    prefetch_offset: usize,
    /// The story the cursor stays on when the list is searched again in place (a sync, a
    /// tag edit): new stories above it must not move the cursor onto another one.
    follow: Option<StoryId>,
    /// List pages come from the search worker (after the first page, which is drawn at once).
    async_search: bool,
    search_due: Option<Instant>,
    last_reload: Instant,
    /// When each source last began a sync here (absent: since the interface started), for
    /// the automatic sync at its own `refresh_minutes` or the global one.
    synced_at: HashMap<String, Instant>,
    started: Instant,
    /// The sources of the sync running now (`None`: all).
    syncing: Option<Vec<String>>,
    tag_universe: Option<Vec<(String, String)>>,
    /// The sources that failed in the last sync run here, with why (their own popup, and
    /// marked in the sidebar).
    pub last_failures: Vec<(String, String)>,
    /// A sync has finished since the interface started.
    synced: bool,
    message_at: Instant,
    /// Keys typed ahead of a list that is still being searched (see [`App::on_key`]).
    held: VecDeque<KeyEvent>,
    /// Opens links; a text browser waits here for the event loop, which owns the terminal.
    pub opener: open::Opener,
}

impl App {
    /// The order the list is in, as shown: a query without words to rank by is listed newest
    /// first whatever the chosen sort (see [`crate::index::ranks_by_words`]).
    pub fn sort_label(&self) -> &'static str {
        match self.sort {
            Sort::Relevance if crate::index::ranks_by_words(&self.query) => "relevance",
            _ => "newest",
        }
    }

    pub fn new(ws: Workspace, opts: AppOptions) -> Result<App, TuiError> {
        let source_labels = short_source_names(ws.config.sources.iter().map(|s| s.name.as_str()));
        let search_history = load_history(&ws.data_dir);
        let (keys, key_problems) = Keymap::from_config(&ws.config.keys);
        let opener = open::Opener::new(ws.config.browser.clone());
        let (watches, watch_error) = watches::load(&ws.config.watches, &ws.data_dir);
        let jobs = Jobs::start(&ws.index);
        let now = Instant::now();
        let mut app = App {
            ws,
            keys,
            jobs,
            opts,
            mono: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
            query: String::new(),
            searched: String::new(),
            filters: Vec::new(),
            sort: Sort::Newest,
            highlighter: Highlighter::default(),
            list: ListState::default(),
            focus: Focus::List,
            screen: Screen::List,
            overlay: Overlay::None,
            facets: BTreeMap::new(),
            facets_pending: false,
            sidebar_selected: 0,
            sidebar_top: 0,
            sidebar_key: None,
            sidebar_hidden: false,
            suspend: false,
            source_labels,
            search_history,
            sidebar_height: 0,
            watches,
            source_names: HashMap::new(),
            message: None,
            sync: None,
            quit: false,
            seq: 0,
            facets_seq: 0,
            watches_seq: 0,
            trend_seq: 0,
            watches_pending: false,
            trend_pending: false,
            search_seq: 0,
            search_pending: false,
            prefetch_seq: 0,
            prefetch_pending: false,
            prefetch_offset: 0,
            follow: None,
            async_search: false,
            search_due: None,
            last_reload: now,
            synced_at: HashMap::new(),
            started: now,
            syncing: None,
            tag_universe: None,
            last_failures: Vec::new(),
            synced: false,
            message_at: now,
            held: VecDeque::new(),
            opener,
        };
        app.load_source_names();
        if let Some(p) = key_problems.first() {
            let help = app.keys.first_key(Action::Help);
            app.error(format!("{p} (see {help} for the keys in use)"));
        }
        if let Some(e) = watch_error {
            app.error(e.to_string());
        }
        app.refresh(false);
        app.async_search = true;
        app.request_watch_counts();
        if app.opts.sync_if_empty
            && app.ws.index.doc_count() == 0
            && !app.ws.config.sources.is_empty()
        {
            app.start_sync();
            app.info("first run: reading the sources of the config…");
        }
        Ok(app)
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.opts.now.unwrap_or_else(Utc::now)
    }

    fn info(&mut self, m: impl Into<String>) {
        self.message = Some((m.into(), Level::Info));
        self.message_at = Instant::now();
    }

    fn error(&mut self, m: impl Into<String>) {
        self.message = Some((m.into(), Level::Error));
    }

    fn load_source_names(&mut self) {
        match self.ws.store.sources() {
            Ok(list) => {
                // Until a sync runs here, the failures shown are those the store recorded
                // (a cron sync's), for the sources still configured.
                if !self.synced {
                    self.last_failures = list
                        .iter()
                        .filter(|s| self.ws.config.sources.iter().any(|c| c.name == s.name))
                        .filter_map(|s| Some((s.name.clone(), s.last_error.clone()?)))
                        .collect();
                }
                self.source_names = list
                    .into_iter()
                    .map(|s| (s.name.to_lowercase(), text::line(&s.name)))
                    .collect();
            }
            Err(e) => self.error(e.to_string()),
        }
    }

    // ---- searching -------------------------------------------------------------------------

    /// Run the current query and filters again: the list from the index (one window), the
    /// facet counts in the background. `keep` keeps the selection's position.
    pub fn refresh(&mut self, keep: bool) {
        self.highlighter = Highlighter::new(&self.query);
        self.searched = self.search_text();
        let selected = if keep { self.list.selected } else { 0 };
        self.follow = match (&self.screen, keep) {
            (_, false) => None,
            (Screen::Reader(r), true) => Some(r.id),
            (_, true) => self.list.hit(selected).map(|h| h.id),
        };
        if !keep {
            self.list.top = 0;
        }
        self.list.selected = selected;
        // A page asked for under the old query must not land in the new list.
        self.prefetch_seq = 0;
        self.prefetch_pending = false;
        if self.async_search && self.jobs.can_search() {
            // The old page stays on screen until the new one arrives: typing never waits
            // for a search over the whole index.
            self.seq += 1;
            self.search_seq = self.seq;
            self.search_pending = true;
            let req = self.page_request(selected.saturating_sub(WINDOW / 4));
            self.jobs.send(Request::Search { seq: self.seq, req });
        }
        if !(self.async_search && self.jobs.can_search()) {
            self.search_pending = false;
            self.list.hits.clear();
            self.list.start = 0;
            self.fetch_window(selected);
        }
        self.request_facets();
    }

    /// The query as searched. While the search prompt is open, a last word without a space
    /// after it matches as a prefix, so the list follows the typing (`lith` shows lithography
    /// stories); once submitted the query is searched as written, exactly as the command
    /// line and a saved watch search it.
    fn search_text(&self) -> String {
        match &self.overlay {
            Overlay::Prompt(p) if p.kind == PromptKind::Search => {
                crate::index::as_you_type(&self.query)
            }
            _ => self.query.clone(),
        }
    }

    /// After the search prompt closes: search again if the list was found with the typed
    /// prefix (or for another query), so what stays on screen is the query as written.
    fn refresh_if_searched_differs(&mut self) {
        if self.search_text() != self.searched || self.list.error.is_some() {
            self.refresh(false);
        }
    }

    fn page_request(&self, offset: usize) -> SearchRequest {
        SearchRequest {
            query: self.search_text(),
            filters: self.filters.clone(),
            sort: self.sort,
            offset,
            limit: WINDOW,
        }
    }

    /// Make sure the window of hits holds `i`. With the search worker running, a page not
    /// yet there is asked for and its rows show as loading until it arrives; a move never
    /// waits for the index.
    fn fetch_window(&mut self, i: usize) {
        if self.list.hit(i).is_some() || i >= self.list.total.max(1) {
            return;
        }
        if !(self.async_search && self.jobs.can_search()) {
            return self.fetch_window_now(i);
        }
        if self.search_pending || (self.prefetch_pending && self.prefetch_covers(i)) {
            return;
        }
        self.request_page(i.saturating_sub(WINDOW / 4));
    }

    /// Fetch the page holding `i` at once, on this thread (`n` looking ahead for unread).
    fn fetch_window_now(&mut self, i: usize) {
        if self.list.hit(i).is_some() {
            return;
        }
        let offset = i.saturating_sub(WINDOW / 4);
        let result = self.ws.index.search(&self.page_request(offset));
        self.apply_page(offset, result);
    }

    fn prefetch_covers(&self, i: usize) -> bool {
        (self.prefetch_offset..self.prefetch_offset + WINDOW).contains(&i)
    }

    fn request_page(&mut self, offset: usize) {
        self.seq += 1;
        self.prefetch_seq = self.seq;
        self.prefetch_offset = offset;
        let req = self.page_request(offset);
        self.prefetch_pending = self.jobs.send(Request::Search { seq: self.seq, req });
    }

    fn apply_page(&mut self, offset: usize, result: Result<crate::index::SearchPage, IndexError>) {
        match result {
            Ok(page) => {
                self.list.total = page.total;
                self.list.start = offset;
                self.list.hits = page.hits;
                self.list.error = None;
                if let Some(id) = self.follow.take() {
                    self.keep_on(id);
                }
                if self.list.selected >= self.list.total {
                    self.list.selected = self.list.total.saturating_sub(1);
                    self.list.top = self.list.top.min(self.list.selected);
                }
                if self.list.hit(self.list.selected).is_none() && self.list.total > 0 {
                    // Past the end of a shorter result: fetch the page that holds the selection.
                    let offset = self.list.selected.saturating_sub(WINDOW / 4);
                    if offset != self.list.start {
                        let again = self.ws.index.search(&self.page_request(offset));
                        self.apply_page(offset, again);
                    }
                }
            }
            Err(e) => {
                self.list = ListState {
                    rows: std::mem::take(&mut self.list.rows),
                    height: self.list.height,
                    ..Default::default()
                };
                self.list.error = Some(e.to_string());
            }
        }
    }

    /// Select story `id` if the window holds it (as newsboat and mutt keep the article under
    /// the cursor when new ones arrive above it); otherwise the row stays. The view stays
    /// where it was unless the story left it, so stories arriving at the top are seen.
    fn keep_on(&mut self, id: StoryId) {
        let Some(j) = self.list.hits.iter().position(|h| h.id == id) else {
            return;
        };
        let now = self.list.start + j;
        self.list.selected = now;
        self.list.top = self.list.top.min(now);
        // (Before the first draw the height is unknown; drawing brings the row into view.)
        let h = self.list.height;
        if h > 0 && now >= self.list.top + h {
            self.list.top = now + 1 - h;
        }
    }

    /// Ask the search worker for the next (or previous) page before the selection reaches
    /// the end of the window, so moving through a long list does not wait for the index.
    fn maybe_prefetch(&mut self, i: usize) {
        if !self.async_search
            || self.prefetch_pending
            || self.search_pending
            || !self.jobs.can_search()
        {
            return;
        }
        let end = self.list.start + self.list.hits.len();
        let near_end = end < self.list.total && i + WINDOW / 3 >= end;
        let near_start = self.list.start > 0 && i < self.list.start + WINDOW / 6;
        let offset = if near_end {
            i.saturating_sub(WINDOW / 4)
        } else if near_start {
            i.saturating_sub(WINDOW * 3 / 4)
        } else {
            return;
        };
        self.request_page(offset);
    }

    fn request_facets(&mut self) {
        self.seq += 1;
        self.facets_seq = self.seq;
        self.facets_pending = self.jobs.send(Request::Facets {
            seq: self.seq,
            query: self.search_text(),
            filters: self.filters.clone(),
        });
    }

    fn request_watch_counts(&mut self) {
        self.seq += 1;
        self.watches_seq = self.seq;
        let mut list = Vec::new();
        for w in &self.watches {
            let since = self.ws.store.watch_last_viewed(&w.name).unwrap_or(None);
            list.push((w.name.clone(), w.query.clone(), since));
        }
        self.watches_pending = self.jobs.send(Request::Watches {
            seq: self.seq,
            watches: list,
        });
    }

    fn request_trend(&mut self) {
        let Screen::Trend(t) = &self.screen else {
            return;
        };
        let split = t.split;
        self.seq += 1;
        self.trend_seq = self.seq;
        let now = self.now();
        self.trend_pending = self.jobs.send(Request::Trend {
            seq: self.seq,
            query: self.search_text(),
            filters: self.filters.clone(),
            split,
            weeks: TREND_WEEKS,
            now,
        });
    }

    /// The current query and filters as one query string (for a watch).
    pub fn query_with_filters(&self) -> String {
        let mut parts = Vec::new();
        if !self.query.trim().is_empty() {
            let q = self.query.trim();
            parts.push(if self.filters.is_empty() {
                q.to_string()
            } else {
                format!("({q})")
            });
        }
        for (f, v) in &self.filters {
            parts.push(format!("+{}:\"{}\"", f.name(), v.replace('"', "")));
        }
        parts.join(" ")
    }

    pub fn has_filter(&self, field: FacetField, value: &str) -> bool {
        self.filters
            .iter()
            .any(|(f, v)| *f == field && v.eq_ignore_ascii_case(value))
    }

    fn toggle_filter(&mut self, field: FacetField, value: String) {
        if self.has_filter(field, &value) {
            self.filters
                .retain(|(f, v)| !(*f == field && v.eq_ignore_ascii_case(&value)));
        } else {
            self.filters.push((field, value));
        }
        self.refresh(false);
        self.clamp_sidebar();
        if matches!(self.screen, Screen::Trend(_)) {
            self.request_trend();
        }
    }

    // ---- time passes ------------------------------------------------------------------------

    /// How long the event loop may wait for a key before calling [`App::tick`].
    pub fn poll_timeout(&self, now: Instant) -> Duration {
        if let Some(due) = self.search_due {
            return due.saturating_duration_since(now);
        }
        if self.replies_pending() || self.jobs.sync_running() {
            return Duration::from_millis(50);
        }
        Duration::from_millis(500)
    }

    /// Run what is due: the debounced search, replies of background jobs, the index check
    /// for other writers, the interval sync.
    pub fn tick(&mut self, now: Instant) {
        // A confirmation ("starred") fades; an error stays until something replaces it.
        if matches!(self.message, Some((_, Level::Info)))
            && now.saturating_duration_since(self.message_at) >= INFO_FADES_AFTER
        {
            self.message = None;
        }
        if self.search_due.is_some_and(|due| due <= now) {
            self.search_due = None;
            self.run_live_search();
        }
        while let Some(r) = self.jobs.try_recv() {
            self.on_reply(r);
        }
        if now.duration_since(self.last_reload) >= RELOAD_EVERY {
            self.last_reload = now;
            self.check_external_commits();
        }
        if self.opts.auto_sync && !self.jobs.sync_running() {
            let due = self.due_sources(now);
            if due.len() == self.ws.config.sources.len() {
                self.start_sync();
            } else if !due.is_empty() {
                self.start_sync_of(Some(due));
            }
        }
    }

    /// The sources whose automatic sync is due: each at its own `refresh_minutes`, or else
    /// at `[settings] refresh_minutes` (0 or absent: only when asked).
    fn due_sources(&self, now: Instant) -> Vec<String> {
        let global = self.ws.config.refresh;
        self.ws
            .config
            .sources
            .iter()
            .filter(|s| {
                let every = s.refresh.or(global).filter(|d| !d.is_zero());
                let since = self.synced_at.get(&s.name).copied().unwrap_or(self.started);
                every.is_some_and(|every| now.duration_since(since) >= every)
            })
            .map(|s| s.name.clone())
            .collect()
    }

    /// Block until every background reply asked for so far has arrived (tests, benches).
    pub fn wait_idle(&mut self, timeout: Duration) {
        let end = Instant::now() + timeout;
        if self.search_due.take().is_some() {
            self.run_live_search();
        }
        while self.replies_pending() || self.jobs.sync_running() || self.jobs.marking() {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.jobs.recv_timeout(left) {
                Some(r) => self.on_reply(r),
                None => break,
            }
        }
    }

    /// Answers asked of the index worker and not yet in (the worker answers only the latest
    /// request of each kind, so one flag per kind, cleared by the answer to the latest).
    fn replies_pending(&self) -> bool {
        self.facets_pending
            || self.watches_pending
            || self.trend_pending
            || self.search_pending
            || self.prefetch_pending
    }

    fn on_reply(&mut self, r: Reply) {
        self.apply_reply(r);
        if !self.held.is_empty() {
            self.replay_held();
        }
    }

    fn apply_reply(&mut self, r: Reply) {
        match r {
            Reply::Search {
                seq,
                offset,
                result,
            } => {
                if seq == self.search_seq {
                    self.search_pending = false;
                    self.apply_page(offset, result);
                    if let Overlay::Prompt(p) = &mut self.overlay
                        && p.kind == PromptKind::ConfirmMarkRead
                    {
                        p.count = Some(self.list.total);
                        if self.list.total == 0 {
                            self.overlay = Overlay::None;
                            self.info("nothing to mark");
                        }
                    }
                } else if seq == self.prefetch_seq {
                    self.prefetch_pending = false;
                    // Only if the user is still where the page was asked for.
                    if let Ok(page) = &result
                        && (offset..offset + page.hits.len()).contains(&self.list.selected)
                    {
                        self.apply_page(offset, result);
                    }
                }
            }
            Reply::Facets { seq, result } => {
                if seq == self.facets_seq {
                    self.facets_pending = false;
                    match result {
                        Ok(mut c) => {
                            // Most frequent first; ties by name, so the order is stable.
                            for values in c.values_mut() {
                                values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                            }
                            self.facets = c;
                        }
                        Err(e) => self.error(format!("facet counts: {e}")),
                    }
                    self.clamp_sidebar();
                }
            }
            Reply::Watches { seq, counts } => {
                if seq == self.watches_seq {
                    self.watches_pending = false;
                    for (name, n) in counts {
                        if let Some(w) = self.watches.iter_mut().find(|w| w.name == name) {
                            let n = n.ok();
                            (w.new, w.total) = (n.map(|n| n.new), n.map(|n| n.total));
                        }
                    }
                }
            }
            Reply::Trend { seq, result } => {
                if seq == self.trend_seq {
                    self.trend_pending = false;
                }
                if seq == self.trend_seq
                    && let Screen::Trend(t) = &mut self.screen
                {
                    match result {
                        Ok(d) => {
                            t.data = Some(d);
                            t.error = None;
                        }
                        Err(e) => t.error = Some(e),
                    }
                }
            }
            Reply::WorkerFailed(e) => {
                // What was asked of it will never be answered. Ask again: a dead search
                // worker's part is then done here (see `Jobs::can_search`), and keys held
                // for the list act once it is in.
                let asked = self.replies_pending();
                self.facets_pending = false;
                self.watches_pending = false;
                self.trend_pending = false;
                self.search_pending = false;
                self.prefetch_pending = false;
                if asked {
                    self.refresh(true);
                }
                self.error(format!("{}; counts may be unavailable", text::line(&e)));
            }
            Reply::SyncProgress {
                name,
                done,
                total,
                failed,
            } => {
                let p = self.sync.get_or_insert_with(SyncProgress::default);
                p.done = done;
                p.total = total;
                p.current = text::line(&name);
                if failed {
                    p.failed += 1;
                }
            }
            Reply::MarkedRead(result) => {
                self.jobs.mark_finished();
                match result {
                    Ok(n) => {
                        self.list.rows.clear();
                        self.info(format!("marked {} read", counted(n, "story", "stories")));
                    }
                    Err(e) => self.error(format!("mark all read: {}", text::line(&e))),
                }
            }
            Reply::SyncDone(result) => {
                self.jobs.sync_finished();
                self.sync = None;
                // Intervals run from the end of a sync, so a slow one does not start the next.
                let now = Instant::now();
                let covered = self.syncing.take();
                for s in &self.ws.config.sources {
                    if covered.as_ref().is_none_or(|c| c.contains(&s.name)) {
                        self.synced_at.insert(s.name.clone(), now);
                    }
                }
                // A sync of some sources replaces only their failures.
                if let Some(c) = &covered {
                    self.last_failures.retain(|(name, _)| !c.contains(name));
                } else {
                    self.last_failures.clear();
                }
                self.synced = true;
                match result {
                    Ok(s) => {
                        // What the reader wants first is what is new; the status line has no
                        // room for five errors: the failures get their own popup, named by
                        // its key. The whole summary goes to the log.
                        tracing::info!("sync: {}", s.line);
                        let mut line = format!("sync: {} new", s.new);
                        if s.updated > 0 {
                            line.push_str(&format!(", {} updated", s.updated));
                        }
                        if !s.failures.is_empty() {
                            line.push_str(&format!(
                                "; {} failed, {} shows why",
                                counted(s.failures.len(), "source", "sources"),
                                self.keys.first_key(Action::Failures),
                            ));
                        }
                        if s.waiting > 0 {
                            line.push_str(&format!(
                                "; {} waiting (the server asked for later)",
                                counted(s.waiting, "source", "sources"),
                            ));
                        }
                        self.last_failures.extend(s.failures.iter().cloned());
                        if s.failures.is_empty() {
                            self.info(line)
                        } else {
                            self.error(line)
                        }
                    }
                    Err(e) => self.error(format!("sync failed: {}", text::line(&e))),
                }
                self.after_index_change();
            }
        }
    }

    /// The index changed under us (our sync, or another process): see it and redraw.
    fn after_index_change(&mut self) {
        if let Err(e) = self.ws.index.reload() {
            self.error(e.to_string());
        }
        self.jobs.send(Request::Reload);
        self.list.rows.clear();
        self.load_source_names();
        self.refresh(true);
        self.request_watch_counts();
        if matches!(self.screen, Screen::Trend(_)) {
            self.request_trend();
        }
    }

    fn check_external_commits(&mut self) {
        let before = self.ws.index.doc_count();
        if self.ws.index.reload().is_ok() && self.ws.index.doc_count() != before {
            self.after_index_change();
        }
    }

    pub fn start_sync(&mut self) {
        self.start_sync_of(None);
    }

    /// Sync `only` these sources (`None`: all) in the background.
    fn start_sync_of(&mut self, only: Option<Vec<String>>) {
        if self.ws.config.sources.is_empty() {
            self.error("nothing to sync: the config has no sources");
            return;
        }
        let names = only.clone().unwrap_or_default();
        let started = self
            .jobs
            .start_sync(self.ws.config.clone(), self.ws.data_dir.clone(), names);
        if started == Err(NotStarted::Running) {
            self.info("a sync is already running");
            return;
        }
        // Also when no thread could be had: the next automatic try waits a whole interval
        // instead of failing again on every tick. The sources' last failures stay.
        let now = Instant::now();
        for s in &self.ws.config.sources {
            if only.as_ref().is_none_or(|o| o.contains(&s.name)) {
                self.synced_at.insert(s.name.clone(), now);
            }
        }
        match started {
            Ok(()) => {
                let total = only.as_ref().map_or(self.ws.config.sources.len(), Vec::len);
                self.syncing = only;
                self.sync = Some(SyncProgress {
                    total,
                    ..Default::default()
                });
                self.info("sync started");
            }
            Err(NotStarted::Thread(e)) => {
                self.error(format!("sync: cannot start: {}", text::line(&e)))
            }
            Err(NotStarted::Running) => {}
        }
    }

    fn run_live_search(&mut self) {
        let Overlay::Prompt(p) = &self.overlay else {
            return;
        };
        if p.kind != PromptKind::Search || p.error.is_some() {
            return;
        }
        if p.input != self.query {
            self.query = p.input.clone();
            self.refresh(false);
        }
    }

    // ---- rows --------------------------------------------------------------------------------

    /// Row details for a story (cached; read from the store on first sight).
    pub fn row_info(&mut self, id: StoryId) -> Option<&RowInfo> {
        if !self.list.rows.contains_key(&id) {
            match self.ws.store.story_brief(id) {
                Ok(Some(s)) => {
                    self.list.rows.insert(id, RowInfo::of(&s));
                }
                Ok(None) => return None,
                Err(e) => {
                    self.error(e.to_string());
                    return None;
                }
            }
        }
        self.list.rows.get(&id)
    }

    /// Load row details for the rows on screen (called before drawing).
    pub fn prepare_rows(&mut self) {
        // Bounded cache, emptied before the screen's rows are loaded, never while.
        if self.list.rows.len() > 4 * WINDOW {
            self.list.rows.clear();
        }
        let end = (self.list.top + self.list.height.max(1)).min(self.list.total);
        for i in self.list.top..end {
            self.fetch_window(i);
            if let Some(id) = self.list.hit(i).map(|h| h.id) {
                self.row_info(id);
            }
        }
    }

    /// A source's name as the list's narrow column shows it.
    pub fn source_label<'a>(&'a self, name: &'a str) -> &'a str {
        self.source_labels.get(name).map_or(name, String::as_str)
    }

    /// What the list's source column shows for a row: the echo area filtered on when the
    /// story is in several, else its source (see [`RowInfo::of`]) by its short name.
    pub fn row_source<'a>(&'a self, row: &'a RowInfo) -> &'a str {
        let filtered = self.filters.iter().find_map(|(f, v)| {
            (*f == FacetField::Area)
                .then(|| row.areas.iter().find(|a| a.eq_ignore_ascii_case(v)))
                .flatten()
        });
        match filtered {
            Some(area) if row.echo && !row.feed => area,
            _ => self.source_label(&row.source),
        }
    }

    pub fn selected_id(&self) -> Option<StoryId> {
        match &self.screen {
            Screen::Reader(r) => Some(r.id),
            _ => self.list.hit(self.list.selected).map(|h| h.id),
        }
    }

    fn select(&mut self, i: usize) {
        if self.list.total == 0 {
            self.list.selected = 0;
            return;
        }
        let i = i.min(self.list.total - 1);
        // The user moved: the answer of a search still on its way keeps this row.
        self.follow = None;
        self.list.selected = i;
        self.fetch_window(i);
        self.maybe_prefetch(i);
        let h = self.list.height.max(1);
        if i < self.list.top {
            self.list.top = i;
        } else if i >= self.list.top + h {
            self.list.top = i + 1 - h;
        }
    }

    fn move_by(&mut self, delta: isize) {
        match self.focus {
            Focus::List => {
                let i = self.list.selected.saturating_add_signed(delta);
                self.select(i);
            }
            Focus::Sidebar => {
                let n = self.sidebar_items().len();
                if n > 0 {
                    self.sidebar_selected = self
                        .sidebar_selected
                        .saturating_add_signed(delta)
                        .min(n - 1);
                }
                self.sidebar_key = self.side_key(self.sidebar_selected);
                self.clamp_sidebar();
            }
        }
    }

    /// Keep the sidebar's cursor on its entry (counts re-order entries and filters add or
    /// drop some) and its view without blank rows while entries are hidden above.
    fn clamp_sidebar(&mut self) {
        let items = self.sidebar_items();
        let n = items.len();
        if let Some(key) = &self.sidebar_key
            && let Some(i) = items
                .iter()
                .position(|item| self.side_key_of(item).as_ref() == Some(key))
        {
            self.sidebar_selected = i;
        }
        self.sidebar_selected = self.sidebar_selected.min(n.saturating_sub(1));
        let h = self.sidebar_height.max(1);
        self.sidebar_top = self.sidebar_top.min(n.saturating_sub(h));
        if self.sidebar_selected < self.sidebar_top {
            self.sidebar_top = self.sidebar_selected;
        } else if self.sidebar_selected >= self.sidebar_top + h {
            self.sidebar_top = self.sidebar_selected + 1 - h;
        }
    }

    fn side_key(&self, i: usize) -> Option<SideKey> {
        self.sidebar_items()
            .get(i)
            .and_then(|item| self.side_key_of(item))
    }

    fn side_key_of(&self, item: &SideItem) -> Option<SideKey> {
        Some(match item {
            SideItem::Header(h) => SideKey::Header(h),
            SideItem::Watch(i) => SideKey::Watch(self.watches.get(*i)?.name.clone()),
            // Counts come lower-cased, filters as chosen.
            SideItem::Facet(field, value, _) => SideKey::Facet(*field, value.to_lowercase()),
        })
    }

    /// The sidebar: watches, then each facet with counts for the current query and filters.
    /// Active filters are listed even when the counts have not arrived yet.
    pub fn sidebar_items(&self) -> Vec<SideItem> {
        let mut items = Vec::new();
        if !self.watches.is_empty() {
            items.push(SideItem::Header("Watches"));
            items.extend((0..self.watches.len()).map(SideItem::Watch));
        }
        let sections = [
            (FacetField::Country, "Countries", 40),
            (FacetField::Policy, "Policies", 40),
            (FacetField::Source, "Sources", 60),
            (FacetField::Area, "Echo areas", 60),
            (FacetField::Tag, "Tags", 40),
            (FacetField::Kind, "Kinds", 4),
        ];
        for (field, title, cap) in sections {
            let counts = self.facets.get(&field).map(Vec::as_slice).unwrap_or(&[]);
            let mut entries: Vec<SideItem> = counts
                .iter()
                .take(cap)
                .map(|(v, n)| SideItem::Facet(field, v.clone(), *n))
                .collect();
            for (f, v) in &self.filters {
                if *f == field && !counts.iter().any(|(cv, _)| cv.eq_ignore_ascii_case(v)) {
                    entries.insert(0, SideItem::Facet(field, v.to_lowercase(), 0));
                }
            }
            // A source that failed and has no stories here is listed too, marked: a new
            // feed with a wrong address must not be missing from the list it is marked in.
            if field == FacetField::Source {
                for (name, _) in &self.last_failures {
                    let value = name.to_lowercase();
                    let listed =
                        |e: &SideItem| matches!(e, SideItem::Facet(_, v, _) if *v == value);
                    if !entries.iter().any(listed) {
                        entries.push(SideItem::Facet(field, value, 0));
                    }
                }
            }
            if !entries.is_empty() {
                items.push(SideItem::Header(title));
                items.extend(entries);
            }
        }
        items
    }

    /// How a facet value is shown: countries and areas upper case, sources as configured.
    pub fn facet_label(&self, field: FacetField, value: &str) -> String {
        let v = match field {
            FacetField::Country | FacetField::Area => value.to_uppercase(),
            FacetField::Source => self
                .source_names
                .get(value)
                .cloned()
                .unwrap_or_else(|| value.to_string()),
            _ => value.to_string(),
        };
        text::line(&v)
    }

    // ---- keys ---------------------------------------------------------------------------------

    /// A key from the terminal. Keys that act on the list (moves, open, star, read, tags,
    /// link, next unread) while the list's query is still being searched are held and
    /// replayed in order when its results land, like a shell's or vi's typeahead: `/word
    /// Enter Enter` typed in one go opens the first result, not the story that was under the
    /// cursor before. Searching stays in the background (a large index must never freeze the
    /// screen), and keys that do not need the new list (typing in a prompt, quitting, help)
    /// still act at once. Once one key is held, the ones after it wait too, so the order
    /// typed is the order applied.
    pub fn on_key(&mut self, key: KeyEvent) {
        if key.modifiers.contains(KeyModifiers::CONTROL) && matches!(key.code, KeyCode::Char('c')) {
            self.quit = true;
            return;
        }
        // Raw mode turns the terminal's suspend key into a key: suspend as the shell expects
        // (the event loop steps aside first, see `tui::suspend`).
        if key.modifiers.contains(KeyModifiers::CONTROL) && matches!(key.code, KeyCode::Char('z')) {
            self.suspend = true;
            return;
        }
        if !self.held.is_empty() || self.waits_for_list(&key) {
            self.held.push_back(key);
            return;
        }
        self.handle_key(key);
    }

    /// Keys typed ahead and not yet applied.
    pub fn held_keys(&self) -> usize {
        self.held.len()
    }

    /// Whether `key`, pressed now, would act on a list (or sidebar) whose new contents are
    /// still on their way.
    fn waits_for_list(&self, key: &KeyEvent) -> bool {
        if !matches!(self.overlay, Overlay::None) || !(self.search_pending || self.facets_pending) {
            return false;
        }
        let Some(action) = self.keys.action(key) else {
            return false;
        };
        let moves_or_opens = matches!(
            action,
            Action::Up
                | Action::Down
                | Action::PageUp
                | Action::PageDown
                | Action::Top
                | Action::Bottom
                | Action::Open
        );
        match (&self.screen, self.focus) {
            (Screen::List, Focus::List) => {
                self.search_pending
                    && (moves_or_opens
                        || matches!(
                            action,
                            Action::Tags
                                | Action::ToggleRead
                                | Action::Star
                                | Action::NextUnread
                                | Action::OpenLink
                        ))
            }
            // The sidebar's entries are the facet counts of the new query.
            (Screen::List, Focus::Sidebar) => self.facets_pending && moves_or_opens,
            (Screen::Reader(_), _) => self.search_pending && action == Action::NextUnread,
            _ => false,
        }
    }

    /// Apply the held keys that no longer wait (after an answer of the index worker).
    fn replay_held(&mut self) {
        while let Some(key) = self.held.front().copied() {
            if self.waits_for_list(&key) {
                break;
            }
            self.held.pop_front();
            self.handle_key(key);
            if self.quit {
                self.held.clear();
            }
        }
    }

    fn handle_key(&mut self, key: KeyEvent) {
        match &self.overlay {
            Overlay::Prompt(_) => return self.prompt_key(key),
            Overlay::Tags(_) => return self.tag_key(key),
            Overlay::Help { .. } | Overlay::Failures { .. } => {
                let action = self.keys.action(&key);
                if let Overlay::Help { scroll } | Overlay::Failures { scroll } = &mut self.overlay {
                    match action {
                        Some(Action::Down) => *scroll += 1,
                        Some(Action::Up) => *scroll = scroll.saturating_sub(1),
                        Some(Action::PageDown) => *scroll += 10,
                        Some(Action::PageUp) => *scroll = scroll.saturating_sub(10),
                        _ => self.overlay = Overlay::None,
                    }
                }
                return;
            }
            Overlay::None => {}
        }
        if let Some(step) = self.link_number_key(&key) {
            match step {
                open::NumberKey::Typing => self.show_link_prompt(),
                open::NumberKey::Open(n) => {
                    let link = match &self.screen {
                        Screen::Reader(r) => r.story.links.get(n - 1).cloned(),
                        _ => None,
                    };
                    match link {
                        Some(l) => self.open_link(&l),
                        None => self.error(format!("no link [{n}]")),
                    }
                }
                open::NumberKey::NoSuchLink(m) => self.error(m),
                open::NumberKey::Cancelled | open::NumberKey::NotMine => self.message = None,
            }
            return;
        }
        let Some(action) = self.keys.action(&key) else {
            return;
        };
        self.on_action(action);
    }

    pub fn on_action(&mut self, action: Action) {
        match action {
            Action::Help => {
                self.overlay = Overlay::Help { scroll: 0 };
                return;
            }
            Action::Sidebar => {
                self.sidebar_hidden = !self.sidebar_hidden;
                if self.sidebar_hidden {
                    self.focus = Focus::List;
                }
                return;
            }
            Action::Failures => {
                if self.last_failures.is_empty() {
                    self.info(if self.synced {
                        "no source failed in the last sync"
                    } else {
                        "no sync has run since the interface started"
                    });
                } else {
                    self.overlay = Overlay::Failures { scroll: 0 };
                }
                return;
            }
            Action::Search => {
                if !matches!(self.screen, Screen::List) {
                    self.screen = Screen::List;
                }
                self.focus = Focus::List;
                let q = self.query.clone();
                self.overlay = Overlay::Prompt(Prompt::new(PromptKind::Search, q.clone(), q));
                return;
            }
            Action::Command => {
                self.overlay = Overlay::Prompt(Prompt::new(
                    PromptKind::Command,
                    String::new(),
                    self.query.clone(),
                ));
                return;
            }
            Action::Sync => return self.start_sync(),
            Action::Sort => {
                self.sort = match self.sort {
                    Sort::Relevance => Sort::Newest,
                    Sort::Newest => Sort::Relevance,
                };
                if self.sort == Sort::Relevance && !crate::index::ranks_by_words(&self.query) {
                    self.info(
                        "relevance needs words to rank by; without them the newest come first",
                    );
                }
                self.refresh(false);
                return;
            }
            Action::ClearFilters => {
                self.filters.clear();
                self.refresh(false);
                self.after_filter_change();
                return;
            }
            Action::ClearAll => {
                self.filters.clear();
                self.query.clear();
                self.refresh(false);
                self.after_filter_change();
                return;
            }
            Action::Watch if self.query.trim().is_empty() && self.filters.is_empty() => {
                let k = |a| self.keys.first_key(a);
                self.info(format!(
                    "a watch saves a search: search ({}) or filter first",
                    k(Action::Search)
                ));
                return;
            }
            Action::Watch => {
                self.overlay = Overlay::Prompt(Prompt::new(
                    PromptKind::WatchName,
                    String::new(),
                    self.query.clone(),
                ));
                return;
            }
            Action::MarkAllRead => return self.confirm_mark_all_read(),
            Action::Trend if !matches!(self.screen, Screen::Trend(_)) => {
                self.screen = Screen::Trend(TrendState {
                    split: FacetField::Country,
                    data: None,
                    error: None,
                });
                self.request_trend();
                return;
            }
            _ => {}
        }
        match &mut self.screen {
            Screen::List => self.list_action(action),
            Screen::Reader(_) => self.reader_action(action),
            Screen::Trend(t) => match action {
                Action::Trend => {
                    t.split = if t.split == FacetField::Country {
                        FacetField::Policy
                    } else {
                        FacetField::Country
                    };
                    self.request_trend();
                }
                Action::Back | Action::Quit => self.screen = Screen::List,
                _ => {}
            },
        }
    }

    fn after_filter_change(&mut self) {
        if matches!(self.screen, Screen::Trend(_)) {
            self.request_trend();
        }
    }

    fn list_action(&mut self, action: Action) {
        let page = self.list.height.max(1) as isize;
        match action {
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-page),
            Action::PageDown => self.move_by(page),
            Action::Top => match self.focus {
                Focus::List => self.select(0),
                Focus::Sidebar => self.move_by(isize::MIN / 2),
            },
            Action::Bottom => match self.focus {
                Focus::List => self.select(self.list.total.saturating_sub(1)),
                Focus::Sidebar => self.move_by(isize::MAX / 2),
            },
            Action::Focus => {
                self.focus = if self.focus == Focus::List {
                    // Going to a hidden sidebar shows it.
                    self.sidebar_hidden = false;
                    Focus::Sidebar
                } else {
                    Focus::List
                };
                self.clamp_sidebar();
            }
            Action::Open => match self.focus {
                Focus::List => self.open_selected(),
                Focus::Sidebar => self.activate_sidebar(),
            },
            Action::Back if self.focus == Focus::Sidebar => self.focus = Focus::List,
            // A searched or filtered list is a step in: back is the whole list. `q` still
            // quits from anywhere in the list.
            Action::Back if !self.query.trim().is_empty() || !self.filters.is_empty() => {
                self.on_action(Action::ClearAll);
                let quit = self.keys.first_key(Action::Quit);
                self.info(format!("search and filters cleared; {quit} quits"));
            }
            // Esc is pressed out of habit (after a prompt, to "cancel"); it never quits, as in
            // mutt and newsboat. Only the quit key does.
            Action::Back => {
                let quit = self.keys.first_key(Action::Quit);
                self.info(format!("this is the whole list; {quit} quits"));
            }
            Action::Quit => self.quit = true,
            Action::Tags => self.open_tag_editor(),
            Action::ToggleRead => self.toggle_flag(false),
            Action::Star => self.toggle_flag(true),
            Action::NextUnread => {
                if let Some(i) = self.find_unread() {
                    self.focus = Focus::List;
                    self.select(i);
                }
            }
            Action::OpenLink => self.open_story_link(),
            _ => {}
        }
    }

    fn reader_action(&mut self, action: Action) {
        let Screen::Reader(r) = &mut self.screen else {
            return;
        };
        let page = r.height.saturating_sub(1).max(1);
        let max = r.lines.saturating_sub(r.height);
        match action {
            Action::Up => r.scroll = r.scroll.saturating_sub(1),
            Action::Down => r.scroll = (r.scroll + 1).min(max),
            Action::PageUp => r.scroll = r.scroll.saturating_sub(page),
            // At the end of a story, the page key goes on to the next one (as in mutt).
            Action::PageDown if r.scroll >= max && r.lines > 0 => self.step_story(1),
            Action::PageDown => r.scroll = (r.scroll + page).min(max),
            Action::NextStory => self.step_story(1),
            Action::PrevStory => self.step_story(-1),
            Action::Top => r.scroll = 0,
            Action::Bottom => r.scroll = max,
            Action::Back | Action::Quit => self.screen = Screen::List,
            Action::Tags => self.open_tag_editor(),
            Action::ToggleRead => self.toggle_flag(false),
            Action::Star => self.toggle_flag(true),
            Action::OpenLink => self.open_story_link(),
            Action::NextUnread => match self.find_unread() {
                Some(i) => {
                    self.select(i);
                    self.open_selected();
                }
                None => self.screen = Screen::List,
            },
            _ => {}
        }
    }

    /// Open the story `delta` rows away in the list, from the reader.
    fn step_story(&mut self, delta: isize) {
        let Some(i) = self.list.selected.checked_add_signed(delta) else {
            return self.info("this is the first story of the list");
        };
        if i >= self.list.total {
            return self.info("this is the last story of the list");
        }
        self.fetch_window_now(i);
        self.select(i);
        self.open_selected();
    }

    /// The next unread story after the selection; past the end of the list it wraps to the
    /// first unread from the top (as mutt and newsboat do), saying so. Looks a bounded way
    /// in each direction, so a huge all-read list does not stall the screen.
    fn find_unread(&mut self) -> Option<usize> {
        let total = self.list.total;
        let selected = self.list.selected;
        let after = (selected + 1)..(selected + 1).saturating_add(UNREAD_SCAN).min(total);
        let ahead_all = after.end >= total;
        if let Some(i) = self.first_unread(after) {
            return Some(i);
        }
        // Only wrap when the whole rest of the list was looked at.
        let before = 0..selected.min(UNREAD_SCAN);
        let behind_all = before.end >= selected;
        if ahead_all && let Some(i) = self.first_unread(before) {
            self.info("wrapped to the top: no unread story below");
            return Some(i);
        }
        // The scan may have moved the window of hits away from the selection.
        self.fetch_window_now(selected);
        let current_unread = self
            .list
            .hit(selected)
            .map(|h| h.id)
            .and_then(|id| self.row_info(id).map(|r| !r.read))
            .unwrap_or(false);
        self.info(if !ahead_all || !behind_all {
            format!("no unread story within {UNREAD_SCAN} of this one")
        } else if current_unread {
            "no other unread story in this list".to_string()
        } else {
            "no unread stories in this list".to_string()
        });
        None
    }

    /// The first unread story in `range` of the list (pages fetched as needed).
    fn first_unread(&mut self, range: std::ops::Range<usize>) -> Option<usize> {
        for i in range {
            self.fetch_window_now(i);
            let Some(id) = self.list.hit(i).map(|h| h.id) else {
                break;
            };
            if self.row_info(id).is_some_and(|r| !r.read) {
                return Some(i);
            }
        }
        None
    }

    pub fn open_selected(&mut self) {
        let Some(id) = self.list.hit(self.list.selected).map(|h| h.id) else {
            return;
        };
        match self.ws.store.story(id) {
            Ok(Some(mut story)) => {
                if !story.read {
                    self.set_read(id, true);
                    // Read before the reader opens: its header shows it so.
                    story.read = true;
                }
                self.screen = Screen::Reader(Box::new(ReaderState {
                    id,
                    story,
                    scroll: 0,
                    lines: 0,
                    height: 0,
                    link_number: None,
                }));
            }
            Ok(None) => self.error(format!("story {id} is gone from the store (reindex?)")),
            Err(e) => self.error(e.to_string()),
        }
    }

    fn set_read(&mut self, id: StoryId, read: bool) {
        match self.ws.store.set_read(&[id], read) {
            Ok(()) => {
                if let Some(r) = self.list.rows.get_mut(&id) {
                    r.read = read;
                }
                if let Screen::Reader(r) = &mut self.screen
                    && r.id == id
                {
                    r.story.read = read;
                }
            }
            Err(e) => self.error(e.to_string()),
        }
    }

    fn toggle_flag(&mut self, star: bool) {
        let Some(id) = self.selected_id() else { return };
        let Some(current) = self
            .row_info(id)
            .map(|r| if star { r.starred } else { r.read })
        else {
            return;
        };
        if !star {
            self.set_read(id, !current);
            self.info(if current {
                "marked unread"
            } else {
                "marked read"
            });
            return;
        }
        match self.ws.store.set_starred(&[id], !current) {
            Ok(()) => {
                if let Some(r) = self.list.rows.get_mut(&id) {
                    r.starred = !current;
                }
                if let Screen::Reader(r) = &mut self.screen {
                    r.story.starred = !current;
                }
                self.info(if current { "unstarred" } else { "starred" });
            }
            Err(e) => self.error(e.to_string()),
        }
    }

    fn confirm_mark_all_read(&mut self) {
        if self.jobs.marking() {
            return self.info("still marking stories read");
        }
        // The list on screen may still be the previous query's: start the pending search now
        // and show its count when it arrives (the marking itself uses the query as confirmed).
        if self.search_due.take().is_some() {
            self.run_live_search();
        }
        let counted = !self.search_pending;
        if counted && self.list.total == 0 {
            return self.info("nothing to mark");
        }
        let mut p = Prompt::new(
            PromptKind::ConfirmMarkRead,
            String::new(),
            self.query.clone(),
        );
        p.count = counted.then_some(self.list.total);
        self.overlay = Overlay::Prompt(p);
    }

    fn open_story_link(&mut self) {
        let link = match &self.screen {
            Screen::Reader(r) => r
                .story
                .link
                .clone()
                .or_else(|| r.story.links.first().cloned()),
            _ => {
                let Some(id) = self.selected_id() else { return };
                match self.ws.store.story(id) {
                    Ok(Some(s)) => s.link.or_else(|| s.links.first().cloned()),
                    Ok(None) => None,
                    Err(e) => return self.error(e.to_string()),
                }
            }
        };
        match link {
            Some(l) => self.open_link(&l),
            None => self.error("this story has no link"),
        }
    }

    fn open_link(&mut self, link: &str) {
        match self.opener.open(link) {
            Ok(open::Opened::Detached(program)) => self.info(format!(
                "opened with {program}: {}",
                text::truncate(&text::line(link), 60)
            )),
            Ok(open::Opened::Terminal(program)) => self.info(format!("opening in {program}…")),
            Err(e) => self.error(e.to_string()),
        }
    }

    /// A text browser the event loop ran (from [`open::Opener::take_terminal`]) has ended.
    pub fn browser_ended(
        &mut self,
        launch: &open::Launch,
        ended: Result<std::process::ExitStatus, open::OpenError>,
    ) {
        let url = text::line(&launch.url);
        match ended {
            Ok(status) if status.success() => self.info(format!(
                "back from {}: {}",
                launch.program(),
                text::truncate(&url, 60)
            )),
            Ok(status) => self.error(format!("{} failed ({status}): {url}", launch.program())),
            Err(e) => self.error(e.to_string()),
        }
    }

    /// The reader's link numbers (see [`open::link_digit`]): a digit opens link [n] at once,
    /// or, in a story with 10 links or more, starts the "open link" prompt, whose keys are
    /// taken here until Enter or Esc. Another key closes the prompt and acts as usual.
    fn link_number_key(&mut self, key: &KeyEvent) -> Option<open::NumberKey> {
        let Screen::Reader(r) = &mut self.screen else {
            return None;
        };
        let links = r.story.links.len();
        if let Some(typed) = &r.link_number {
            // The prompt lives on the status line. Once something else took its place there
            // (a sync's summary), it is closed: keys never go to a prompt out of sight.
            let shown =
                matches!(&self.message, Some((m, _)) if *m == open::link_prompt(typed, links));
            if !shown {
                r.link_number = None;
            }
        }
        if r.link_number.is_none() {
            return open::link_digit(&mut r.link_number, key, links);
        }
        match open::link_number_key(&mut r.link_number, key, links) {
            open::NumberKey::NotMine => {
                self.message = None;
                None
            }
            step => Some(step),
        }
    }

    fn show_link_prompt(&mut self) {
        let Screen::Reader(r) = &self.screen else {
            return;
        };
        let Some(typed) = &r.link_number else {
            return;
        };
        let prompt = open::link_prompt(typed, r.story.links.len());
        self.info(prompt);
        // A prompt waits for its answer: the message does not fade (an hour at most) until
        // the prompt closes or another message replaces it, which closes the prompt too.
        let now = Instant::now();
        self.message_at = now.checked_add(Duration::from_secs(3600)).unwrap_or(now);
    }

    fn activate_sidebar(&mut self) {
        let items = self.sidebar_items();
        match items.get(self.sidebar_selected).cloned() {
            Some(SideItem::Facet(field, value, _)) => self.toggle_filter(field, value),
            Some(SideItem::Watch(i)) => {
                let Some(w) = self.watches.get_mut(i) else {
                    return;
                };
                w.new = Some(0);
                let (name, query) = (w.name.clone(), w.query.clone());
                self.query = query;
                self.filters.clear();
                let now = self.now();
                if let Err(e) = self.ws.store.set_watch_viewed(&name, now) {
                    self.error(e.to_string());
                }
                self.refresh(false);
                if let Some(e) = self.list.error.clone() {
                    self.error(format!("watch {name}: {e}"));
                }
                self.focus = Focus::List;
            }
            _ => {}
        }
    }

    // ---- the prompt -----------------------------------------------------------------------

    fn prompt_key(&mut self, key: KeyEvent) {
        let Overlay::Prompt(p) = &mut self.overlay else {
            return;
        };
        if p.kind == PromptKind::ConfirmMarkRead {
            let count = p.count;
            self.overlay = Overlay::None;
            if matches!(key.code, KeyCode::Char('y' | 'Y')) {
                let store = Workspace::store_path(&self.ws.data_dir);
                match self.jobs.start_mark_read(
                    &self.ws.index,
                    store,
                    self.search_text(),
                    self.filters.clone(),
                ) {
                    Ok(()) => self.info(match count {
                        Some(n) => format!("marking {} read…", counted(n, "story", "stories")),
                        None => "marking stories read…".to_string(),
                    }),
                    Err(NotStarted::Running) => self.info("already marking stories read"),
                    Err(NotStarted::Thread(e)) => {
                        self.error(format!("mark all read: cannot start: {}", text::line(&e)))
                    }
                }
            } else {
                self.info("not marked");
            }
            return;
        }
        match key.code {
            KeyCode::Esc => {
                let kind = p.kind;
                let saved = std::mem::take(&mut p.saved_query);
                self.overlay = Overlay::None;
                self.search_due = None;
                if kind == PromptKind::Search {
                    self.query = saved;
                    self.refresh_if_searched_differs();
                }
            }
            KeyCode::Enter => self.submit_prompt(),
            KeyCode::Up | KeyCode::Down if p.kind == PromptKind::Search => {
                let n = self.search_history.len();
                let pos = match (key.code, p.history_pos) {
                    (KeyCode::Up, None) => n.checked_sub(1),
                    (KeyCode::Up, Some(i)) => Some(i.saturating_sub(1)),
                    (_, Some(i)) if i + 1 < n => Some(i + 1),
                    _ => None,
                };
                if pos == p.history_pos {
                    return;
                }
                p.history_pos = pos;
                p.input = pos
                    .and_then(|i| self.search_history.get(i).cloned())
                    .unwrap_or_default();
                p.cursor = p.input.len();
                p.error = None;
                let input = p.input.clone();
                self.after_search_edit(input);
            }
            _ => {
                if edit_line(&mut p.input, &mut p.cursor, &key) {
                    p.error = None;
                    p.history_pos = None;
                    if p.kind == PromptKind::Search {
                        let input = p.input.clone();
                        self.after_search_edit(input);
                    }
                }
            }
        }
    }

    /// The search line changed: search it after a pause, or show why it cannot be.
    fn after_search_edit(&mut self, input: String) {
        match self.ws.index.validate(&input) {
            Ok(()) => self.search_due = Some(Instant::now() + DEBOUNCE),
            Err(e) => {
                self.search_due = None;
                if let Overlay::Prompt(p) = &mut self.overlay {
                    p.error = Some(query_error(&e));
                }
            }
        }
    }

    /// Keep a submitted search for Up/Down, newest last, once, and save the history.
    fn remember_search(&mut self, query: &str) {
        let query = text::line(query);
        if query.trim().is_empty() {
            return;
        }
        self.search_history.retain(|q| *q != query);
        self.search_history.push(query);
        let extra = self.search_history.len().saturating_sub(SEARCH_HISTORY);
        self.search_history.drain(..extra);
        let mut body = self.search_history.join("\n");
        body.push('\n');
        if let Err(e) = std::fs::write(history_file(&self.ws.data_dir), body) {
            tracing::warn!("cannot save the search history: {e}");
        }
    }

    fn submit_prompt(&mut self) {
        let Overlay::Prompt(p) = &mut self.overlay else {
            return;
        };
        let input = p.input.trim().to_string();
        match p.kind {
            PromptKind::Search => {
                if p.error.is_some() {
                    return;
                }
                self.overlay = Overlay::None;
                self.search_due = None;
                self.remember_search(&input);
                self.query = input;
                self.refresh_if_searched_differs();
                self.focus = Focus::List;
                self.after_filter_change();
            }
            PromptKind::WatchName => {
                if let Err(e) = self.add_watch(&input) {
                    if let Overlay::Prompt(p) = &mut self.overlay {
                        p.error = Some(e);
                    }
                    return;
                }
                self.overlay = Overlay::None;
            }
            PromptKind::Command => match self.run_command(&input) {
                Ok(()) => {
                    if matches!(
                        self.overlay,
                        Overlay::Prompt(Prompt {
                            kind: PromptKind::Command,
                            ..
                        })
                    ) {
                        self.overlay = Overlay::None;
                    }
                }
                Err(e) => {
                    if let Overlay::Prompt(p) = &mut self.overlay {
                        p.error = Some(e);
                    }
                }
            },
            PromptKind::ConfirmMarkRead => {}
        }
    }

    /// Save the current search (query and filters) as a watch named `name`.
    pub fn add_watch(&mut self, name: &str) -> Result<(), String> {
        let name = text::line(name);
        if name.is_empty() {
            return Err("a watch needs a name".into());
        }
        let query = self.query_with_filters();
        if query.is_empty() {
            return Err("search for something first (/ or a facet), then save it".into());
        }
        if self.watches.iter().any(|w| w.name == name && w.from_config) {
            return Err(format!(
                "{name:?} is defined in the config; pick another name"
            ));
        }
        self.watches.retain(|w| w.name != name);
        self.watches.push(WatchEntry {
            name: name.clone(),
            query,
            from_config: false,
            new: Some(0),
            total: None,
        });
        watches::save(&self.watches, &self.ws.data_dir).map_err(|e| e.to_string())?;
        let now = self.now();
        if let Err(e) = self.ws.store.set_watch_viewed(&name, now) {
            self.error(e.to_string());
        }
        self.info(format!("saved watch {name:?}"));
        self.request_watch_counts();
        Ok(())
    }

    fn run_command(&mut self, line: &str) -> Result<(), String> {
        let (cmd, arg) = line
            .split_once(char::is_whitespace)
            .map(|(c, a)| (c, a.trim()))
            .unwrap_or((line, ""));
        match cmd {
            "" => Ok(()),
            "q" | "quit" => {
                self.quit = true;
                Ok(())
            }
            "watch" => self.add_watch(arg),
            "unwatch" => {
                match self.watches.iter().find(|w| w.name == arg) {
                    None => return Err(format!("no watch named {arg:?}")),
                    Some(w) if w.from_config => {
                        return Err(format!("{arg:?} is defined in the config file"));
                    }
                    Some(_) => {}
                }
                self.watches.retain(|w| w.name != arg);
                watches::save(&self.watches, &self.ws.data_dir).map_err(|e| e.to_string())?;
                self.info(format!("removed watch {arg:?}"));
                Ok(())
            }
            "sort" => {
                self.sort = match arg {
                    "newest" => Sort::Newest,
                    "relevance" => Sort::Relevance,
                    _ => return Err("sort newest | sort relevance".into()),
                };
                self.refresh(false);
                if self.sort == Sort::Relevance
                    && !crate::index::ranks_by_words(&self.search_text())
                {
                    self.info(
                        "relevance needs words to rank by; without them the newest come first",
                    );
                }
                Ok(())
            }
            "export" => self.export_list(arg),
            "clear" => {
                self.on_action(Action::ClearAll);
                Ok(())
            }
            "sync" => {
                self.start_sync();
                Ok(())
            }
            "read" => {
                self.overlay = Overlay::None;
                self.confirm_mark_all_read();
                Ok(())
            }
            "trend" => {
                let split = match arg {
                    "" | "country" => FacetField::Country,
                    "policy" => FacetField::Policy,
                    _ => return Err("trend country | trend policy".into()),
                };
                self.screen = Screen::Trend(TrendState {
                    split,
                    data: None,
                    error: None,
                });
                self.request_trend();
                Ok(())
            }
            "tag" => {
                let id = self.selected_id().ok_or("no story selected")?;
                self.apply_tags(id, arg)
            }
            "help" => {
                self.overlay = Overlay::Help { scroll: 0 };
                Ok(())
            }
            other => Err(format!(
                "unknown command {:?} (watch NAME, unwatch NAME, sort newest|relevance, export [csv|jsonl] FILE, clear, sync, read, trend country|policy, tag +T -T, quit)",
                text::truncate(&text::line(other), 20)
            )),
        }
    }

    /// `:export [csv|jsonl] FILE`: the stories of the list (query and filters), newest first,
    /// as `echowatch export` writes them. The format is the word given, else the file's
    /// extension (`.csv`), else JSON lines. The file is replaced only when whole.
    fn export_list(&mut self, arg: &str) -> Result<(), String> {
        const USAGE: &str = "export [csv|jsonl] FILE";
        let (named, path) = match arg.split_once(char::is_whitespace) {
            Some((f @ ("csv" | "jsonl"), rest)) => (Some(f), rest.trim()),
            _ => (None, arg),
        };
        if path.is_empty() {
            return Err(USAGE.into());
        }
        let path = match path.strip_prefix("~/") {
            Some(rest) => std::env::var_os("HOME")
                .map(|home| std::path::PathBuf::from(home).join(rest))
                .ok_or("~ is unknown: HOME is not set")?,
            None => std::path::PathBuf::from(path),
        };
        if std::fs::symlink_metadata(&path).is_ok_and(|m| !m.file_type().is_file()) {
            return Err(format!(
                "{} is not a regular file",
                text::line(&path.display().to_string())
            ));
        }
        let csv = named.map_or_else(
            || {
                path.extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
            },
            |f| f == "csv",
        );
        let format = if csv {
            crate::export::Format::Csv
        } else {
            crate::export::Format::Jsonl
        };
        let request = |limit| SearchRequest {
            query: self.search_text(),
            filters: self.filters.clone(),
            sort: Sort::Newest,
            offset: 0,
            limit,
        };
        let total = self
            .ws
            .index
            .search(&request(1))
            .map_err(|e| e.to_string())?
            .total;
        let hits = self
            .ws
            .index
            .search(&request(total.max(1)))
            .map_err(|e| e.to_string())?
            .hits;
        let store = &self.ws.store;
        let written = crate::export::gateway::replace_file(&path, |file| {
            let fail = |e: &dyn std::fmt::Display| crate::export::gateway::GatewayError::Io {
                path: path.clone(),
                source: std::io::Error::other(e.to_string()),
            };
            let mut out = crate::export::Exporter::new(format, std::io::BufWriter::new(file))
                .map_err(|e| fail(&e))?;
            let mut n = 0usize;
            for hit in &hits {
                if let Some(story) = store.story(hit.id).map_err(|e| fail(&e))? {
                    out.write(&story).map_err(|e| fail(&e))?;
                    n += 1;
                }
            }
            out.finish().map_err(|e| fail(&e))?;
            Ok::<_, crate::export::gateway::GatewayError>(n)
        })
        .map_err(|e| text::line(&e.to_string()))?;
        self.info(format!(
            "exported {} to {}",
            counted(written, "story", "stories"),
            text::line(&path.display().to_string())
        ));
        Ok(())
    }

    // ---- tags ----------------------------------------------------------------------------------

    fn open_tag_editor(&mut self) {
        let Some(id) = self.selected_id() else { return };
        match self.ws.store.story(id) {
            Ok(Some(s)) => {
                let mut ed = TagEditor {
                    id,
                    title: text::line(&s.title),
                    tags: s.tags,
                    input: String::new(),
                    cursor: 0,
                    candidates: Vec::new(),
                    selected: 0,
                    message: None,
                };
                self.complete(&mut ed);
                self.overlay = Overlay::Tags(Box::new(ed));
            }
            Ok(None) => self.error(format!("story {id} is gone")),
            Err(e) => self.error(e.to_string()),
        }
    }

    /// Every tag the editor can complete: the rules' policies, all countries, and the
    /// tags already in use (from the facet counts).
    fn tag_universe(&mut self) -> &[(String, String)] {
        if self.tag_universe.is_none() {
            let mut all: Vec<(String, String)> = Vec::new();
            // The config's extra rules may add policies to the built-in ones.
            if let Ok(t) = self.ws.tagger() {
                all.extend(
                    t.policy_ids()
                        .iter()
                        .map(|p| (format!("policy:{p}"), String::new())),
                );
            }
            all.push(("country:EU".into(), "European Union".into()));
            for c in keshvar::CountryIterator::new() {
                all.push((
                    format!("country:{}", c.alpha2()),
                    c.iso_short_name().to_string(),
                ));
            }
            self.tag_universe = Some(all);
        }
        let mut extra = Vec::new();
        for (field, prefix) in [(FacetField::Tag, ""), (FacetField::Policy, "policy:")] {
            for (v, n) in self.facets.get(&field).map(Vec::as_slice).unwrap_or(&[]) {
                extra.push((
                    format!("{prefix}{v}"),
                    counted(*n as usize, "story", "stories"),
                ));
            }
        }
        let all = self.tag_universe.get_or_insert_with(Vec::new);
        for e in extra {
            if !all.iter().any(|(t, _)| *t == e.0) {
                all.push(e);
            }
        }
        all
    }

    fn complete(&mut self, ed: &mut TagEditor) {
        let word = ed.input[..ed.cursor.min(ed.input.len())]
            .rsplit(' ')
            .next()
            .unwrap_or("")
            .to_string();
        let removing = word.starts_with('-');
        let needle = word.trim_start_matches(['+', '-']).to_lowercase();
        let mut out: Vec<(String, String)> = Vec::new();
        if removing {
            for t in &ed.tags {
                let s = t.tag.to_string();
                if s.to_lowercase().contains(&needle) {
                    out.push((s, t.provenance.as_str().to_string()));
                }
            }
        } else if !needle.is_empty() {
            let have: Vec<String> = ed.tags.iter().map(|t| t.tag.to_string()).collect();
            let universe = self.tag_universe();
            let bare = |t: &str| {
                t.split_once(':')
                    .map(|(_, v)| v.to_lowercase())
                    .unwrap_or_else(|| t.to_lowercase())
            };
            // Prefix matches of the whole tag or its value first, then names that contain it.
            for (t, hint) in universe {
                if (t.to_lowercase().starts_with(&needle) || bare(t).starts_with(&needle))
                    && !have.contains(t)
                {
                    out.push((t.clone(), hint.clone()));
                }
            }
            // `country:nether` finds the Netherlands by name.
            let (family, value) = match needle.split_once(':') {
                Some((f, v)) => (Some(format!("{f}:")), v.to_string()),
                None => (None, needle.clone()),
            };
            if value.chars().count() >= 3 {
                for (t, hint) in universe {
                    if family.as_ref().is_none_or(|f| t.starts_with(f.as_str()))
                        && hint.to_lowercase().contains(&value)
                        && !have.contains(t)
                        && !out.iter().any(|(o, _)| o == t)
                    {
                        out.push((t.clone(), hint.clone()));
                    }
                }
            }
        }
        out.truncate(8);
        ed.candidates = out;
        ed.selected = ed.selected.min(ed.candidates.len().saturating_sub(1));
    }

    fn tag_key(&mut self, key: KeyEvent) {
        let Overlay::Tags(mut ed) = std::mem::replace(&mut self.overlay, Overlay::None) else {
            return;
        };
        match key.code {
            KeyCode::Esc => {
                // Closing: the list and counts show the new tags.
                self.refresh(true);
                return;
            }
            KeyCode::Up => ed.selected = ed.selected.saturating_sub(1),
            KeyCode::Down => {
                ed.selected = (ed.selected + 1).min(ed.candidates.len().saturating_sub(1))
            }
            KeyCode::Tab => {
                if let Some((tag, _)) = ed.candidates.get(ed.selected).cloned() {
                    let start = ed.input[..ed.cursor.min(ed.input.len())]
                        .rfind(' ')
                        .map(|i| i + 1)
                        .unwrap_or(0);
                    let sign = match ed.input.get(start..start + 1) {
                        Some("-") => "-",
                        Some("+") => "+",
                        _ => "",
                    };
                    let end = ed.input[ed.cursor.min(ed.input.len())..]
                        .find(' ')
                        .map(|i| i + ed.cursor)
                        .unwrap_or(ed.input.len());
                    ed.input.replace_range(start..end, &format!("{sign}{tag} "));
                    ed.cursor = start + sign.len() + tag.len() + 1;
                    ed.selected = 0;
                    self.complete(&mut ed);
                }
            }
            KeyCode::Enter => {
                let input = ed.input.trim().to_string();
                if input.is_empty() {
                    self.refresh(true);
                    return;
                }
                let id = ed.id;
                match self.apply_tags(id, &input) {
                    Ok(()) => {
                        ed.input.clear();
                        ed.cursor = 0;
                        if let Ok(Some(s)) = self.ws.store.story(id) {
                            ed.tags = s.tags;
                        }
                        ed.message = self.message.clone();
                    }
                    Err(e) => ed.message = Some((e, Level::Error)),
                }
                self.complete(&mut ed);
            }
            _ => {
                if edit_line(&mut ed.input, &mut ed.cursor, &key) {
                    ed.message = None;
                    ed.selected = 0;
                    self.complete(&mut ed);
                }
            }
        }
        self.overlay = Overlay::Tags(ed);
    }

    /// Apply `+tag -tag tag…` to a story: saved in the store at once and committed to the
    /// index so searches see it immediately.
    pub fn apply_tags(&mut self, id: StoryId, changes: &str) -> Result<(), String> {
        let mut add = Vec::new();
        let mut remove = Vec::new();
        for word in changes.split_whitespace() {
            let (list, text) = match word.split_at_checked(1) {
                Some(("-", rest)) => (&mut remove, rest),
                Some(("+", rest)) => (&mut add, rest),
                _ => (&mut add, word),
            };
            list.push(Tag::from_input(text).map_err(|e| e.to_string())?);
        }
        if add.is_empty() && remove.is_empty() {
            return Err("type +tag or -tag".into());
        }
        self.ws.check_policies(&add).map_err(|e| e.to_string())?;
        self.ws
            .store
            .set_manual_tags(id, &add, &remove)
            .map_err(|e| e.to_string())?;
        self.list.rows.remove(&id);
        let indexed = self
            .index_story(id)
            .map_err(|e| format!("saved, but not yet searchable: {e}"))?;
        if let Screen::Reader(r) = &mut self.screen
            && r.id == id
            && let Ok(Some(s)) = self.ws.store.story(id)
        {
            r.story = s;
        }
        let what: Vec<String> = add
            .iter()
            .map(|t| format!("+{t}"))
            .chain(remove.iter().map(|t| format!("-{t}")))
            .collect();
        if indexed {
            self.info(format!("saved {}", what.join(" ")));
        } else {
            self.info(format!(
                "saved {}; searchable when the running sync commits",
                what.join(" ")
            ));
        }
        self.request_facets();
        Ok(())
    }

    /// Commit one story to the index now. Only this story: the store's queue may hold many
    /// (flag changes, a crash) that `sync` or the next start index. Waits briefly for the
    /// writer; if a sync holds it, that sync's commit picks the story up from the queue.
    fn index_story(&mut self, id: StoryId) -> Result<bool, String> {
        let story = self.ws.store.story(id).map_err(|e| e.to_string())?;
        let mut writer = match self.ws.index.writer(Duration::from_millis(300)) {
            Ok(w) => w,
            Err(IndexError::Locked(_)) => return Ok(false),
            Err(e) => return Err(e.to_string()),
        };
        match story {
            Some(s) => writer
                .upsert(&IndexDoc::from(&s))
                .map_err(|e| e.to_string())?,
            None => writer.delete(id),
        }
        writer.commit().map_err(|e| e.to_string())?;
        self.ws
            .store
            .clear_pending(&[id])
            .map_err(|e| e.to_string())?;
        self.jobs.send(Request::Reload);
        Ok(true)
    }
}

/// A tantivy query error as one short line for the prompt.
fn query_error(e: &IndexError) -> String {
    let s = e.to_string();
    text::line(s.strip_prefix("bad query: ").unwrap_or(&s))
}

/// Line editing shared by the prompt and the tag editor. Returns true if the text changed.
pub fn edit_line(input: &mut String, cursor: &mut usize, key: &KeyEvent) -> bool {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    *cursor = (*cursor).min(input.len());
    while !input.is_char_boundary(*cursor) {
        *cursor -= 1;
    }
    let prev = |s: &str, i: usize| {
        s[..i]
            .char_indices()
            .next_back()
            .map(|(j, _)| j)
            .unwrap_or(0)
    };
    let next = |s: &str, i: usize| s[i..].chars().next().map(|c| i + c.len_utf8()).unwrap_or(i);
    match key.code {
        KeyCode::Char('u') if ctrl => {
            input.replace_range(..*cursor, "");
            *cursor = 0;
            true
        }
        KeyCode::Char('w') if ctrl => {
            let before = input[..*cursor].trim_end();
            let start = before.rfind(' ').map(|i| i + 1).unwrap_or(0);
            input.replace_range(start..*cursor, "");
            *cursor = start;
            true
        }
        KeyCode::Char('a') if ctrl => {
            *cursor = 0;
            false
        }
        KeyCode::Char('e') if ctrl => {
            *cursor = input.len();
            false
        }
        KeyCode::Char(c)
            if !ctrl && !c.is_control() && !crate::parse::sanitize::is_forbidden(c) =>
        {
            input.insert(*cursor, c);
            *cursor += c.len_utf8();
            true
        }
        KeyCode::Backspace if *cursor > 0 => {
            let p = prev(input, *cursor);
            input.replace_range(p..*cursor, "");
            *cursor = p;
            true
        }
        KeyCode::Delete if *cursor < input.len() => {
            let n = next(input, *cursor);
            input.replace_range(*cursor..n, "");
            true
        }
        KeyCode::Left => {
            *cursor = prev(input, *cursor);
            false
        }
        KeyCode::Right => {
            *cursor = next(input, *cursor);
            false
        }
        KeyCode::Home => {
            *cursor = 0;
            false
        }
        KeyCode::End => {
            *cursor = input.len();
            false
        }
        _ => false,
    }
}

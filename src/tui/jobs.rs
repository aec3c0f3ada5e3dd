//! Background work, so the interface never waits: an index worker (facet counts, watch
//! counts, trend data — aggregations over the whole index that can take longer than a
//! keystroke) and a sync worker (a full `sync` on its own workspace). Replies come back on a
//! channel the event loop drains; each request carries a generation so a stale answer (for a
//! filter the user has already left) is dropped.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::index::{FacetField, IndexError, SearchIndex, SearchPage, SearchRequest, Sort, Trend};
use crate::ingest::{self, SourceStatus};
use crate::store::Store;
use crate::workspace::Workspace;

pub type Filters = Vec<(FacetField, String)>;
pub type FacetCounts = BTreeMap<FacetField, Vec<(String, u64)>>;

#[derive(Debug, Clone)]
pub enum Request {
    Facets {
        seq: u64,
        query: String,
        filters: Filters,
    },
    /// `(name, query, last viewed)` of each watch.
    Watches {
        seq: u64,
        watches: Vec<(String, String, Option<DateTime<Utc>>)>,
    },
    Trend {
        seq: u64,
        query: String,
        filters: Filters,
        split: FacetField,
        weeks: usize,
        now: DateTime<Utc>,
    },
    /// A page of the list (the search worker answers these).
    Search { seq: u64, req: SearchRequest },
    /// See the latest index commit.
    Reload,
    /// Tests: the search worker waits this long, then panics without answering.
    #[cfg(test)]
    PanicAfter(Duration),
}

#[derive(Debug)]
pub enum Reply {
    Search {
        seq: u64,
        offset: usize,
        result: Result<SearchPage, IndexError>,
    },
    Facets {
        seq: u64,
        result: Result<FacetCounts, String>,
    },
    Watches {
        seq: u64,
        counts: Vec<(String, Result<WatchCount, String>)>,
    },
    Trend {
        seq: u64,
        result: Result<TrendData, String>,
    },
    /// The index worker could not start; counts stay unavailable.
    WorkerFailed(String),
    SyncProgress {
        name: String,
        done: usize,
        total: usize,
        failed: bool,
    },
    /// A sync finished: its summary line, or why it could not run.
    SyncDone(Result<SyncSummary, String>),
    /// Mark-all-read finished: how many stories, or why not.
    MarkedRead(Result<usize, String>),
}

/// Weekly counts and the day their window ends at.
#[derive(Debug, Clone)]
pub struct TrendData {
    pub trend: Trend,
    /// The window ends at the newest matching story, which is older than today (a store of
    /// old stories, the bundled samples); `None` when it ends today.
    pub until_newest: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct SyncSummary {
    /// The command line's summary (for the log).
    pub line: String,
    pub new: usize,
    pub updated: usize,
    /// Sources skipped until the time their server asked for (Retry-After).
    pub waiting: usize,
    pub failures: Vec<(String, String)>,
}

/// A watch's counts: stories new since it was last viewed, and all it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchCount {
    pub new: usize,
    pub total: usize,
}

/// Why a background job did not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotStarted {
    /// One of its kind is still running.
    Running,
    /// The system would not give it a thread (the message says why).
    Thread(String),
}

pub struct Jobs {
    requests: Option<Sender<Request>>,
    searches: Option<Sender<Request>>,
    replies: Receiver<Reply>,
    reply_tx: Sender<Reply>,
    sync_running: bool,
    marking: bool,
}

impl Jobs {
    /// Start the index workers on shared handles of the interface's index.
    pub fn start(index: &SearchIndex) -> Jobs {
        let (reply_tx, replies) = mpsc::channel();
        // Two workers: list pages must not wait behind a slow count over the whole index.
        let spawn = |name: &'static str| {
            let (req_tx, req_rx) = mpsc::channel();
            let index = index.share();
            let stopped =
                move |panic| Reply::WorkerFailed(format!("the {name} worker stopped: {panic}"));
            match spawn_job(name, reply_tx.clone(), stopped, move |tx| {
                index_worker(&index, req_rx, tx)
            }) {
                Ok(()) => Some(req_tx),
                Err(e) => {
                    let _ = reply_tx.send(Reply::WorkerFailed(format!(
                        "cannot start the {name} worker: {e}"
                    )));
                    None
                }
            }
        };
        let requests = spawn("counts");
        let searches = spawn("search");
        Jobs {
            requests,
            searches,
            replies,
            reply_tx,
            sync_running: false,
            marking: false,
        }
    }

    /// Hand `r` to its worker. False if that worker is gone: no answer will come.
    pub fn send(&mut self, r: Request) -> bool {
        let reload = matches!(r, Request::Reload);
        let to_search = matches!(r, Request::Search { .. });
        #[cfg(test)]
        let to_search = to_search || matches!(r, Request::PanicAfter(_));
        if reload || to_search {
            let taken = Self::hand(&mut self.searches, r.clone());
            if to_search {
                return taken;
            }
        }
        Self::hand(&mut self.requests, r)
    }

    fn hand(worker: &mut Option<Sender<Request>>, r: Request) -> bool {
        let taken = worker.as_ref().is_some_and(|tx| tx.send(r).is_ok());
        if !taken {
            *worker = None;
        }
        taken
    }

    /// False when the search worker is gone: the caller searches on its own thread instead.
    pub fn can_search(&self) -> bool {
        self.searches.is_some()
    }

    pub fn try_recv(&mut self) -> Option<Reply> {
        self.replies.try_recv().ok()
    }

    /// Wait up to `timeout` for a reply (tests and benches wait for counts this way).
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<Reply> {
        self.replies.recv_timeout(timeout).ok()
    }

    pub fn sync_running(&self) -> bool {
        self.sync_running
    }

    /// Run `sync` of every source on a thread with its own workspace (its own SQLite
    /// connection and index writer; a concurrent cron `sync` just makes one of them wait).
    /// `only`: the names of the sources to sync (empty: all). When it does not start, no
    /// reply comes: the caller says why.
    pub fn start_sync(
        &mut self,
        config: Config,
        data_dir: PathBuf,
        only: Vec<String>,
    ) -> Result<(), NotStarted> {
        if self.sync_running {
            return Err(NotStarted::Running);
        }
        let stopped = |panic| Reply::SyncDone(Err(format!("sync stopped: {panic}")));
        let started = spawn_job("sync", self.reply_tx.clone(), stopped, move |tx| {
            let result = Workspace::open(config, &data_dir)
                .map_err(|e| e.to_string())
                .and_then(|mut ws| {
                    let mut on_event = |ev: ingest::SourceEvent<'_>| {
                        let _ = tx.send(Reply::SyncProgress {
                            name: ev.name.to_string(),
                            done: ev.done,
                            total: ev.total,
                            failed: matches!(ev.status, SourceStatus::Failed(_)),
                        });
                    };
                    ingest::sync(&mut ws, &only, ingest::Rereads::Changed, &mut on_event)
                        .map(|r| SyncSummary {
                            line: r.summary(),
                            new: r.stories.new,
                            updated: r.stories.updated,
                            waiting: r.deferred,
                            failures: r.failures.clone(),
                        })
                        .map_err(|e| e.to_string())
                });
            let _ = tx.send(Reply::SyncDone(result));
        });
        match started {
            Ok(()) => {
                self.sync_running = true;
                Ok(())
            }
            Err(e) => {
                tracing::error!("cannot start a sync: {e}");
                Err(NotStarted::Thread(e.to_string()))
            }
        }
    }

    pub fn sync_finished(&mut self) {
        self.sync_running = false;
    }

    /// Mark every story matching `query` and `filters` read, on a thread with its own store
    /// connection: over a large filter that is a second or more of writing, which the
    /// interface must not wait for. When it does not start, no reply comes.
    pub fn start_mark_read(
        &mut self,
        index: &SearchIndex,
        store: PathBuf,
        query: String,
        filters: Filters,
    ) -> Result<(), NotStarted> {
        if self.marking {
            return Err(NotStarted::Running);
        }
        let index = index.share();
        let stopped = |panic| Reply::MarkedRead(Err(format!("the job stopped: {panic}")));
        let started = spawn_job("mark", self.reply_tx.clone(), stopped, move |tx| {
            let result = index
                .matching_ids(&query, &filters)
                .map_err(|e| e.to_string())
                .and_then(|ids| {
                    let store = Store::open(&store).map_err(|e| e.to_string())?;
                    store.set_read(&ids, true).map_err(|e| e.to_string())?;
                    Ok(ids.len())
                });
            let _ = tx.send(Reply::MarkedRead(result));
        });
        match started {
            Ok(()) => {
                self.marking = true;
                Ok(())
            }
            Err(e) => {
                tracing::error!("cannot start mark-all-read: {e}");
                Err(NotStarted::Thread(e.to_string()))
            }
        }
    }

    pub fn marking(&self) -> bool {
        self.marking
    }

    pub fn mark_finished(&mut self) {
        self.marking = false;
    }
}

/// Run `job` on a thread named `echowatch-NAME`, handing it a sender for its answers. If it
/// panics, `stopped` (given the panic's message) is sent in place of the answer it never
/// gave, so the interface never waits for a dead thread. The panic itself goes to the log
/// (see the hook in `tui::run`), never onto the screen.
fn spawn_job(
    name: &str,
    replies: Sender<Reply>,
    stopped: impl FnOnce(String) -> Reply + Send + 'static,
    job: impl FnOnce(Sender<Reply>) + Send + 'static,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(format!("echowatch-{name}"))
        .spawn(move || {
            let answer = replies.clone();
            if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(|| job(answer))) {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into());
                let _ = replies.send(stopped(message));
            }
        })
        .map(drop)
}

fn index_worker(index: &SearchIndex, requests: Receiver<Request>, replies: Sender<Reply>) {
    while let Ok(first) = requests.recv() {
        // Take everything queued and answer only the latest request of each kind: while the
        // user types, only the last filter matters.
        let mut reload = false;
        let (mut facets, mut watches, mut trend, mut search) = (None, None, None, None);
        for r in std::iter::once(first).chain(requests.try_iter()) {
            match r {
                Request::Reload => reload = true,
                r @ Request::Search { .. } => search = Some(r),
                r @ Request::Facets { .. } => facets = Some(r),
                r @ Request::Watches { .. } => watches = Some(r),
                r @ Request::Trend { .. } => trend = Some(r),
                #[cfg(test)]
                Request::PanicAfter(wait) => {
                    std::thread::sleep(wait);
                    panic!("told to stop");
                }
            }
        }
        if reload && let Err(e) = index.reload() {
            tracing::warn!("index worker reload: {e}");
        }
        let mut out = Vec::new();
        if let Some(Request::Search { seq, req }) = search {
            out.push(Reply::Search {
                seq,
                offset: req.offset,
                result: index.search(&req),
            });
        }
        if let Some(Request::Facets {
            seq,
            query,
            filters,
        }) = facets
        {
            out.push(Reply::Facets {
                seq,
                result: index
                    .facet_counts(&query, &filters)
                    .map_err(|e| e.to_string()),
            });
        }
        if let Some(Request::Trend {
            seq,
            query,
            filters,
            split,
            weeks,
            now,
        }) = trend
        {
            // The chart ends at the newest story of the filter when that is before today:
            // the last weeks before today would be a flat zero for a store of old stories.
            let newest = index
                .search(&SearchRequest {
                    query: query.clone(),
                    filters: filters.clone(),
                    sort: Sort::Newest,
                    offset: 0,
                    limit: 1,
                })
                .ok()
                .and_then(|p| p.hits.first().map(|h| h.published))
                .filter(|t| t.date_naive() < now.date_naive());
            let result = index
                .weekly_counts(&query, &filters, split, 4, weeks, newest.unwrap_or(now))
                .map(|trend| TrendData {
                    trend,
                    until_newest: newest,
                })
                .map_err(|e| e.to_string());
            out.push(Reply::Trend { seq, result });
        }
        if let Some(Request::Watches { seq, watches }) = watches {
            let counts = watches
                .into_iter()
                .map(|(name, query, since)| {
                    let new = index.count_new_since(&query, since);
                    let total = index.count_new_since(&query, None);
                    (
                        name,
                        new.and_then(|new| Ok(WatchCount { new, total: total? }))
                            .map_err(|e| e.to_string()),
                    )
                })
                .collect();
            out.push(Reply::Watches { seq, counts });
        }
        for r in out {
            if replies.send(r).is_err() {
                return;
            }
        }
    }
}

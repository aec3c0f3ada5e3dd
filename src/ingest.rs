//! `sync` and `import`: sources → fetch/read → parse → tag → store → index.
//!
//! Producers (one task per source) fetch or read, parse and tag on the tokio runtime and
//! blocking pool, using both cores; one consumer, the calling thread, owns the store and
//! writes one transaction per source batch, so SQLite never sees two writers from us.
//! A bounded channel keeps memory flat however many sources there are. The index is
//! committed once at the end.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use crate::config::{Location, Source};
use crate::ftn;
use crate::index::{IndexDoc, IndexUpdate};
use crate::parse;
use crate::sources::http::{FetchLimits, FetchOutcome, Fetcher, Validators};
use crate::sources::local;
use crate::store::{BatchOutcome, FetchRecord, FileStamp, Incoming, Queued, SourceId, StoryId};
use crate::workspace::{LazyTagger, WRITER_WAIT, Workspace, WorkspaceError};

/// What happened to one source in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceStatus {
    /// New or changed stories were stored, or the source was read for the first time (an
    /// empty feed included), or its files were read again on request (`sync --reread`).
    Ok,
    /// Fetched or read, nothing new (HTTP 304, an HTTP 200 or a changed file whose every
    /// story is already known, or files skipped as unchanged since they were last read).
    Unchanged,
    Failed(String),
    /// The server asked us (Retry-After) not to come back before this.
    Deferred(DateTime<Utc>),
}

/// Progress events for a bar or a status line.
#[derive(Debug, Clone)]
pub struct SourceEvent<'a> {
    pub name: &'a str,
    pub status: &'a SourceStatus,
    pub done: usize,
    pub total: usize,
}

#[derive(Debug, Clone, Default)]
pub struct SyncReport {
    pub ok: usize,
    pub unchanged: usize,
    pub failed: usize,
    pub deferred: usize,
    pub stories: BatchOutcome,
    /// Netmail messages in packets, left out: echowatch reads echomail.
    pub netmail_skipped: usize,
    /// Each failure, named: `(source, error)`.
    pub failures: Vec<(String, String)>,
    pub indexed: usize,
}

impl SyncReport {
    /// The one summary line of a run.
    pub fn summary(&self) -> String {
        let mut line = format!(
            "sources: {} ok, {} unchanged, {} failed",
            self.ok, self.unchanged, self.failed
        );
        if self.deferred > 0 {
            line.push_str(&format!(", {} waiting (Retry-After)", self.deferred));
        }
        line.push_str(&format!(
            "; stories: {} new, {} updated",
            self.stories.new, self.stories.updated
        ));
        match self.stories.duplicates {
            0 => {}
            1 => line.push_str(", 1 duplicate MSGID dropped"),
            n => line.push_str(&format!(", {n} duplicate MSGIDs dropped")),
        }
        match self.netmail_skipped {
            0 => {}
            1 => line.push_str(", 1 netmail message skipped"),
            n => line.push_str(&format!(", {n} netmail messages skipped")),
        }
        line
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("cannot start the fetch runtime: {0}")]
    Runtime(std::io::Error),
    #[error("no source named {0:?} in the config")]
    UnknownSource(String),
}

enum Msg {
    /// Stories of one source (or one file of a folder source).
    Batch {
        source: usize,
        stories: Vec<Incoming>,
        /// Netmail messages the file held, left out.
        netmail_skipped: usize,
        settle: Option<PathBuf>,
        /// The file the batch came from, to be skipped next time while it stays the same.
        stamp: Option<(PathBuf, FileStamp)>,
        /// A bundle some of whose packets are broken: the others' stories are in this batch,
        /// the bundle is a failure of its source and goes to bad/ with this reason.
        broken: Option<String>,
    },
    /// One file of a folder source could not be used; the rest go on.
    FileFailed {
        source: usize,
        file: PathBuf,
        error: String,
        settle: bool,
    },
    /// Files a path source read before that are gone: forget their stamps.
    Gone { source: usize, files: Vec<PathBuf> },
    /// The source is finished.
    Done { source: usize, record: FetchRecord },
}

impl Msg {
    /// `file` of `source` could not be used (`settle`: set it aside with the reason).
    fn file_failed(source: usize, file: &Path, error: String, settle: bool) -> Msg {
        Msg::FileFailed {
            source,
            file: file.to_path_buf(),
            error,
            settle,
        }
    }

    /// A file of `source` that yields nothing (left alone, or gone), with its stamp if any.
    fn nothing(source: usize, stamp: Option<(PathBuf, FileStamp)>) -> Msg {
        Msg::Batch {
            source,
            stories: Vec::new(),
            netmail_skipped: 0,
            settle: None,
            stamp,
            broken: None,
        }
    }
}

#[derive(Default)]
struct Tally {
    outcome: BatchOutcome,
    netmail_skipped: usize,
    file_errors: Vec<String>,
    /// Files read (not skipped as unchanged).
    files_read: usize,
}

/// Fetch or read the given sources (all of the config when `only` is empty) and ingest them.
pub fn sync(
    ws: &mut Workspace,
    only: &[String],
    rereads: Rereads,
    on_event: &mut dyn FnMut(SourceEvent<'_>),
) -> Result<SyncReport, IngestError> {
    for name in only {
        if ws.config.source(name).is_none() {
            return Err(IngestError::UnknownSource(name.clone()));
        }
    }
    let sources: Vec<Source> = ws
        .config
        .sources
        .iter()
        .filter(|s| only.is_empty() || only.contains(&s.name))
        .cloned()
        .collect();
    run(ws, &sources, Some(rereads), on_event)
}

/// Ingest local files or folders once (`echowatch import`). Each path is its own source,
/// named `import:` and the path as given; nothing is moved.
pub fn import(
    ws: &mut Workspace,
    paths: &[PathBuf],
    on_event: &mut dyn FnMut(SourceEvent<'_>),
) -> Result<SyncReport, IngestError> {
    let sources: Vec<Source> = paths
        .iter()
        .map(|p| Source {
            // The name is shown on stderr and in the interface: cleaned like any path.
            name: format!("import:{}", parse::sanitize::path(p)),
            location: Location::Path(std::path::absolute(p).unwrap_or_else(|_| p.clone())),
            tags: Vec::new(),
            refresh: None,
            inbound: false,
            min_age: std::time::Duration::ZERO,
        })
        .collect();
    // One-off sources: nothing to remember for a next time.
    run(ws, &sources, None, on_event)
}

/// Whether `sync` reads the files of path sources that have not changed since it last did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rereads {
    /// Skip them, as a server's 304 would.
    Changed,
    /// Read every file (`sync --reread`), and remember them for the next sync.
    All,
}

/// `rereads` is None for `import`, whose files are read whole and not remembered.
fn run(
    ws: &mut Workspace,
    sources: &[Source],
    rereads: Option<Rereads>,
    on_event: &mut dyn FnMut(SourceEvent<'_>),
) -> Result<SyncReport, IngestError> {
    // One run at a time per data folder: two at once raced for the same inbound files (and
    // for SQLite's write lock). Taken before anything is read, so the second run sees what
    // the first left; the interface's background sync comes through here too.
    let _lock = ws.lock_for_writing()?;
    let now = Utc::now();
    let mut report = SyncReport::default();
    let total = sources.len();
    let mut done = 0usize;

    // Register sources and find those a server asked us to leave alone for now.
    let named: Vec<(&str, String)> = sources
        .iter()
        .map(|s| (s.name.as_str(), s.location.describe()))
        .collect();
    // A sync knows every path source of the config, so the file stamps of any other go
    // (`sync --source` included); `import` leaves them be.
    let stamped: Option<Vec<&str>> = rereads.map(|_| {
        ws.config
            .sources
            .iter()
            .filter(|s| matches!(s.location, Location::Path(_)) && !s.inbound)
            .map(|s| s.name.as_str())
            .collect()
    });
    let ids: Vec<SourceId> = ws.store.ensure_sources(&named, stamped.as_deref())?;
    let mut work: Vec<(usize, Validators)> = Vec::new();
    // Sources never fetched or read successfully: their first success counts as ok even with
    // nothing in it (an empty feed), since there was nothing for it to be unchanged from.
    let mut first_read = vec![false; sources.len()];
    for (i, (s, &id)) in sources.iter().zip(&ids).enumerate() {
        let state = ws.store.source_state(id)?;
        first_read[i] = state.last_success.is_none();
        if let Some(until) = state.next_fetch_after.filter(|t| *t > now) {
            report.deferred += 1;
            done += 1;
            on_event(SourceEvent {
                name: &s.name,
                status: &SourceStatus::Deferred(until),
                done,
                total,
            });
            continue;
        }
        work.push((
            i,
            Validators {
                etag: state.etag,
                last_modified: state.last_modified,
            },
        ));
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        // Parsing runs here; a few threads use both cores without a malloc arena each.
        .max_blocking_threads(4)
        .enable_all()
        .build()
        .map_err(IngestError::Runtime)?;
    let fetch = &ws.config.fetch;
    let limits = FetchLimits {
        concurrency: fetch.concurrency,
        per_host: fetch.per_host,
        connect_timeout: fetch.connect_timeout,
        total_timeout: fetch.timeout,
        max_redirects: fetch.max_redirects,
        max_bytes: fetch.max_bytes,
        user_agent: fetch.user_agent.clone(),
    };
    let charsets = ws.config.echomail.charsets();
    let reader = reader_id(&charsets, fetch.max_bytes);
    let ctx = Arc::new(ProducerContext {
        tagger: ws.lazy_tagger(),
        charsets,
        packet_passwords: ws.config.echomail.packet_passwords.clone(),
        max_bytes: fetch.max_bytes,
        data_dir: ws.data_dir.clone(),
        reader,
    });
    // Small on purpose: a batch can be a whole feed or packet; memory stays flat.
    let (tx, mut rx) = mpsc::channel::<Msg>(4);
    let in_flight = Arc::new(tokio::sync::Semaphore::new(fetch.concurrency.max(1)));

    let fetcher = match Fetcher::new(limits) {
        Ok(f) => Some(f),
        Err(e) => {
            tracing::error!("HTTP client unavailable: {e}");
            None
        }
    };
    for (i, validators) in work {
        let source = sources[i].clone();
        let tx = tx.clone();
        let ctx = Arc::clone(&ctx);
        match &source.location {
            Location::Url(url) => {
                let url = url.clone();
                let fetcher = fetcher.clone();
                let in_flight = Arc::clone(&in_flight);
                runtime.spawn(async move {
                    // Held from fetch until the batch is handed to the consumer: bodies and
                    // parsed stories of at most this many sources exist at once, however
                    // many sources there are.
                    let Ok(_slot) = in_flight.acquire_owned().await else {
                        return;
                    };
                    let record = match fetcher {
                        Some(f) => fetch_source(&f, i, &url, validators, ctx, &tx).await,
                        None => FetchRecord::Failure {
                            error: "HTTP client unavailable".into(),
                            retry_after: None,
                        },
                    };
                    let _ = tx.send(Msg::Done { source: i, record }).await;
                });
            }
            Location::Path(path) => {
                let path = path.clone();
                // Files of an inbound folder are moved away once tossed: nothing to remember.
                let stamps = match rereads {
                    Some(rereads) if !source.inbound => Some(Stamps {
                        skip_unchanged: rereads == Rereads::Changed,
                        known: ws.store.file_stamps(ids[i])?,
                        settled_before: settled_before(std::time::SystemTime::now()),
                    }),
                    _ => None,
                };
                // `import` (no rereads) reads what the user named just now.
                let named = rereads.is_none();
                runtime.spawn_blocking(move || {
                    let inbound = source.inbound.then_some(source.min_age);
                    let record = read_source(i, &path, inbound, stamps, named, &ctx, &tx);
                    let _ = tx.blocking_send(Msg::Done { source: i, record });
                });
            }
        }
    }
    drop(tx);

    // The consumer: this thread owns the store.
    let mut tallies: HashMap<usize, Tally> = HashMap::new();
    let mut writer: Option<IndexUpdate<'_>> = None;
    let mut indexed: Vec<StoryId> = Vec::new();
    // Fetch outcomes, written a few dozen per transaction rather than one commit each. One
    // lost to a crash only costs the next sync a full fetch of that source.
    let mut fetched: Vec<(SourceId, DateTime<Utc>, FetchRecord)> = Vec::new();
    while let Some(msg) = rx.blocking_recv() {
        match msg {
            Msg::Batch {
                source,
                stories,
                netmail_skipped,
                settle,
                stamp,
                broken,
            } => {
                let s = &sources[source];
                let from_file = stamp.as_ref().map(|(file, stamp)| (file.as_path(), *stamp));
                let (outcome, changed) =
                    ws.store
                        .ingest_batch_ids(ids[source], &s.tags, &stories, now, from_file)?;
                let tally = tallies.entry(source).or_default();
                tally.files_read += 1;
                tally.outcome += outcome;
                tally.netmail_skipped += netmail_skipped;
                // Index as we go: tantivy's indexing threads work while the next feeds are
                // fetched and parsed. One commit at the end makes the run visible at once.
                if !changed.is_empty() {
                    let w = match writer.as_mut() {
                        Some(w) => w,
                        None => writer
                            .insert(ws.index.writer(WRITER_WAIT).map_err(WorkspaceError::from)?),
                    };
                    let mut replaced = Vec::new();
                    for queued in changed {
                        match queued {
                            Queued::New { id, item } => {
                                let doc =
                                    IndexDoc::new_story(id, &stories[item], &s.name, &s.tags, now);
                                w.add(&doc).map_err(WorkspaceError::from)?;
                                indexed.push(id);
                            }
                            Queued::Changed(id) => {
                                if let Some(story) = ws.store.story_brief(id)? {
                                    replaced.push(IndexDoc::from(&story));
                                }
                                indexed.push(id);
                            }
                        }
                    }
                    w.replace(&replaced).map_err(WorkspaceError::from)?;
                }
                // Set aside only now its good packets are committed: a crash before this
                // tosses the bundle again, and MSGIDs make that a no-op.
                let broken = broken.map(|error| parse::sanitize::line(&error));
                if let Some(error) = &broken {
                    tracing::warn!("{}: {error}", s.name);
                    let tally = tallies.entry(source).or_default();
                    tally.file_errors.push(error.clone());
                }
                if let Some(file) = settle {
                    settle_file(&ctx.data_dir, &file, broken.as_deref());
                }
            }
            Msg::FileFailed {
                source,
                file,
                error,
                settle,
            } => {
                // Parser errors can quote the file's bytes, and paths its name: one clean line.
                let error = parse::sanitize::line(&error);
                tracing::warn!("{}: {error}", sources[source].name);
                if settle {
                    settle_file(&ctx.data_dir, &file, Some(&error));
                }
                tallies.entry(source).or_default().file_errors.push(error);
            }
            Msg::Gone { source, files } => {
                ws.store.forget_file_stamps(ids[source], &files)?;
            }
            Msg::Done { source, record } => {
                let tally = tallies.remove(&source).unwrap_or_default();
                let s = &sources[source];
                let record = match &record {
                    FetchRecord::Success { .. } | FetchRecord::Unchanged { .. }
                        if !tally.file_errors.is_empty() =>
                    {
                        FetchRecord::Failure {
                            error: file_errors_message(&tally.file_errors),
                            retry_after: None,
                        }
                    }
                    // A server's or parser's words (or a folder's path), cleaned as above; the
                    // list of file errors just built keeps its line breaks.
                    FetchRecord::Failure { error, retry_after } => FetchRecord::Failure {
                        error: parse::sanitize::line(error),
                        retry_after: *retry_after,
                    },
                    _ => record,
                };
                fetched.push((ids[source], Utc::now(), record.clone()));
                if fetched.len() >= FETCH_RECORDS_PER_COMMIT {
                    ws.store.record_fetches(&fetched)?;
                    fetched.clear();
                }
                report.stories += tally.outcome;
                report.netmail_skipped += tally.netmail_skipped;
                let status = match &record {
                    FetchRecord::Failure { error, .. } => {
                        tracing::warn!(source = %s.name, "failed: {error}");
                        report.failed += 1;
                        report.failures.push((s.name.clone(), error.clone()));
                        SourceStatus::Failed(error.clone())
                    }
                    // `--reread` asked for the files to be read again: a source whose files
                    // were is ok, so the summary tells it from one whose files were skipped.
                    FetchRecord::Success { .. }
                        if tally.outcome.new + tally.outcome.updated > 0
                            || first_read[source]
                            || (rereads == Some(Rereads::All) && tally.files_read > 0) =>
                    {
                        report.ok += 1;
                        SourceStatus::Ok
                    }
                    _ => {
                        report.unchanged += 1;
                        SourceStatus::Unchanged
                    }
                };
                done += 1;
                on_event(SourceEvent {
                    name: &s.name,
                    status: &status,
                    done,
                    total,
                });
            }
        }
    }
    ws.store.record_fetches(&fetched)?;
    runtime.shutdown_background();
    if let Some(w) = writer {
        w.commit().map_err(WorkspaceError::from)?;
        ws.store.clear_pending(&indexed)?;
    }
    indexed.sort_unstable();
    indexed.dedup();
    // Anything queued but not indexed above (left by an earlier run that was killed).
    report.indexed = indexed.len() + ws.flush_index()?;
    tracing::info!("sync: {}", report.summary());
    Ok(report)
}

/// Fetch outcomes written per transaction (see `fetched` in [`run`]).
const FETCH_RECORDS_PER_COMMIT: usize = 64;

/// Every failed file of a folder source, one per line (at most ten, then a count).
fn file_errors_message(errors: &[String]) -> String {
    const SHOWN: usize = 10;
    let mut msg = errors
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("\n  ");
    if errors.len() > SHOWN {
        msg.push_str(&format!("\n  … and {} more files", errors.len() - SHOWN));
    }
    msg
}

struct ProducerContext {
    tagger: LazyTagger,
    charsets: ftn::Charsets,
    /// `[echomail] packet_passwords`: checked on packets in an inbound.
    packet_passwords: std::collections::BTreeMap<ftn::FtnAddress, String>,
    max_bytes: u64,
    data_dir: PathBuf,
    /// [`reader_id`]: stamped into every file read.
    reader: u64,
}

impl ProducerContext {
    /// Attach the tagger's verdict to each story. Fails only if user rules do not load.
    fn tag_all(&self, stories: Vec<crate::model::ParsedStory>) -> Result<Vec<Incoming>, String> {
        let tagger = self.tagger.get().map_err(|e| e.to_string())?;
        Ok(stories
            .into_iter()
            .map(|story| {
                // Capped before anything (the tagger included) reads the fields.
                let story = story.capped();
                let auto_tags = tagger.tag(&story.title, &story.body);
                Incoming { story, auto_tags }
            })
            .collect())
    }
}

async fn fetch_source(
    fetcher: &Fetcher,
    i: usize,
    url: &str,
    validators: Validators,
    ctx: Arc<ProducerContext>,
    tx: &mpsc::Sender<Msg>,
) -> FetchRecord {
    match fetcher.fetch(url, &validators).await {
        Ok(FetchOutcome::NotModified { validators }) => FetchRecord::Unchanged {
            etag: validators.etag,
            last_modified: validators.last_modified,
        },
        Ok(FetchOutcome::Fetched {
            body,
            validators,
            final_url,
            charset,
            ..
        }) => {
            // New content: it will need the tagger.
            ctx.tagger.warm_up();
            let parsed = tokio::task::spawn_blocking(move || {
                parse::feed::parse_with_charset(&body, Some(&final_url), charset.as_deref())
                    .map_err(|e| e.to_string())
                    .and_then(|stories| ctx.tag_all(stories))
            })
            .await;
            match parsed {
                Ok(Ok(stories)) => {
                    let _ = tx
                        .send(Msg::Batch {
                            source: i,
                            stories,
                            netmail_skipped: 0,
                            settle: None,
                            stamp: None,
                            broken: None,
                        })
                        .await;
                    FetchRecord::Success {
                        etag: validators.etag,
                        last_modified: validators.last_modified,
                    }
                }
                Ok(Err(e)) => FetchRecord::Failure {
                    error: format!("{url}: {e}"),
                    retry_after: None,
                },
                Err(e) => FetchRecord::Failure {
                    error: format!("{url}: parser crashed: {e}"),
                    retry_after: None,
                },
            }
        }
        Err(e) => FetchRecord::Failure {
            error: e.to_string(),
            retry_after: e.retry_after(),
        },
    }
}

/// What a path source remembers of the files it read (none for inbound folders and `import`).
struct Stamps {
    /// By absolute path.
    known: HashMap<PathBuf, FileStamp>,
    /// Files whose stamp is unchanged need no reading (false for `sync --reread`).
    skip_unchanged: bool,
    /// Files modified or changed at or after this (ns since the epoch) are read but not
    /// stamped: a second write within the clock's resolution would not change their stamp.
    settled_before: i64,
}

/// Read every finished file of a path source. In an inbound folder each file is settled
/// (moved to done/ or bad/) by the consumer after its stories are committed. With stamps,
/// files whose stamp is unchanged are skipped, and the stamps of files read are remembered.
/// `inbound` is the minimum age of a file to toss when the folder is a binkd inbound.
/// `named` is `import`'s: a path that is neither a file nor a folder, or a folder without a
/// file to read, is a failure (see [`not_importable`]).
fn read_source(
    i: usize,
    path: &Path,
    inbound: Option<std::time::Duration>,
    stamps: Option<Stamps>,
    named: bool,
    ctx: &ProducerContext,
    tx: &mpsc::Sender<Msg>,
) -> FetchRecord {
    // Remembered by absolute path, so a config found by a relative path (cron and an
    // interactive shell in different folders) names the same files.
    let path = &std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    if named && let Some(error) = not_importable(path) {
        return FetchRecord::Failure {
            error,
            retry_after: None,
        };
    }
    // An inbound folder holds only what binkd finished receiving; elsewhere, every file.
    let is_inbound = inbound.is_some();
    let listed = if let Some(min_age) = inbound {
        ftn::inbound::finished_files(path, min_age)
            .map_err(|e| format!("{}: {e}", parse::sanitize::path(path)))
    } else {
        local::list_files(path).map_err(|e| e.to_string())
    };
    let in_folder = path.is_dir();
    let files = match listed {
        Ok(f) => f,
        Err(error) => {
            return FetchRecord::Failure {
                error,
                retry_after: None,
            };
        }
    };
    if named && in_folder && files.is_empty() {
        return FetchRecord::Failure {
            error: nothing_in_folder(path),
            retry_after: None,
        };
    }
    if let Some(s) = &stamps {
        let listed: std::collections::HashSet<&PathBuf> = files.iter().collect();
        let gone: Vec<PathBuf> = s
            .known
            .keys()
            .filter(|k| !listed.contains(k))
            .cloned()
            .collect();
        if !gone.is_empty() {
            let _ = tx.blocking_send(Msg::Gone {
                source: i,
                files: gone,
            });
        }
    }
    for file in &files {
        // Taken before reading: a change during the read shows next time.
        let stamp = std::fs::metadata(file)
            .ok()
            .and_then(|m| file_stamp(&m, ctx.reader));
        if let (Some(s), Some(stamp)) = (&stamps, stamp)
            && s.skip_unchanged
            && s.known.get(file) == Some(&stamp)
        {
            continue;
        }
        ctx.tagger.warm_up();
        // Remembered only when settled: a file written in the last moments could change again
        // within the clock's resolution without its stamp changing. A file dated in the future
        // (a skewed file server) is read every time until the clock passes its date.
        let stamp = stamp
            .filter(|st| {
                stamps
                    .as_ref()
                    .is_some_and(|s| settled(st, s.settled_before))
            })
            .map(|st| (file.clone(), st));
        let msg = read_file(i, file, in_folder && !is_inbound, is_inbound, stamp, ctx);
        if tx.blocking_send(msg).is_err() {
            break;
        }
    }
    // A source with nothing new is reported "unchanged" from its tally, like a 304.
    FetchRecord::Success {
        etag: None,
        last_modified: None,
    }
}

/// What `import` reads: regular files (feeds, packets, bundles, text exports) and folders
/// of them.
const IMPORT_READS: &str =
    "import reads files (feeds, .pkt packets, ZIP bundles, BBS text exports) and folders of them";

/// Why `import` refuses `path` when it is neither a file nor a folder, saying what it is.
/// Looked at without opening it: opening a FIFO to read waits for a writer, for ever. A
/// path that is not there is left to the listing, which says so.
fn not_importable(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.is_file() || meta.is_dir() {
        return None;
    }
    let kind = crate::sources::local::special_kind(&meta);
    Some(format!(
        "{}: {kind}, not a file to read: {IMPORT_READS}",
        parse::sanitize::path(path)
    ))
}

/// `import`'s failure for the folder `path` that has no file to read: an empty folder (a
/// spool not mounted, a mistyped path) is no success.
fn nothing_in_folder(path: &Path) -> String {
    let empty = std::fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_none());
    let what = if empty {
        "an empty folder, nothing to import"
    } else {
        "no file to import in this folder or its subfolders (hidden and partial files, \
         pipes, sockets and devices are passed over)"
    };
    format!("{}: {what}: {IMPORT_READS}", parse::sanitize::path(path))
}

/// One file of a path source, read, parsed and tagged into the message for the store writer.
/// `pass_over` lets a file that is none of ours (a README in a feed folder) go by, stamped;
/// `inbound` sets a broken file aside and a read one into the processed folder.
fn read_file(
    source: usize,
    file: &Path,
    pass_over: bool,
    inbound: bool,
    stamp: Option<(PathBuf, FileStamp)>,
    ctx: &ProducerContext,
) -> Msg {
    // A file that cannot be read or parsed is set aside; a tagger failure (the user's rules
    // file) is not the file's fault, so it stays in place for the next run.
    let failed = |error: String, settle: bool| Msg::file_failed(source, file, error, settle);
    if inbound && is_foreign_text(file) {
        // Not counted, not moved: the next sync looks again, hence debug, not info.
        tracing::debug!(
            "{}: left in the inbound: a .txt that is not a BBS text export",
            file.display()
        );
        return Msg::nothing(source, None);
    }
    let bytes = match local::read_capped(file, ctx.max_bytes) {
        Ok(bytes) => bytes,
        // Listed, then gone: another tosser took it. Not a failure, and nothing to move.
        Err(local::LocalError::Io { source: e, .. })
            if inbound && e.kind() == std::io::ErrorKind::NotFound =>
        {
            tracing::info!(
                "{}: gone before it was read (another program took it)",
                file.display()
            );
            return Msg::nothing(source, None);
        }
        Err(e) => return failed(e.to_string(), inbound),
    };
    let name = file.file_name().map(|n| n.to_string_lossy());
    if pass_over && !parse::recognised(name.as_deref().unwrap_or(""), &bytes) {
        tracing::info!(
            "{}: skipped: not a feed, packet, bundle or text export",
            file.display()
        );
        return Msg::nothing(source, stamp);
    }
    if inbound && let Some(why) = wrong_password(&bytes, ctx) {
        return failed(format!("{}: {why}", shown(file)), true);
    }
    if !ftn::packet::looks_like_packet(&bytes) && ftn::bundle::is_zip(&bytes) {
        return read_bundle(source, file, &bytes, inbound, stamp, ctx);
    }
    let parsed = match parse::any(file, &bytes, &ctx.charsets, ctx.max_bytes) {
        Ok(parsed) => parsed,
        Err(e) => return failed(format!("{}: {e}", shown(file)), inbound),
    };
    match ctx.tag_all(parsed.stories) {
        Ok(stories) => Msg::Batch {
            source,
            stories,
            netmail_skipped: parsed.netmail_skipped,
            settle: inbound.then(|| file.to_path_buf()),
            stamp,
            broken: None,
        },
        Err(error) => failed(error, false),
    }
}

/// Why an inbound file must not be tossed for its packet password: a packet (or any packet
/// of a bundle) from a node `[echomail] packet_passwords` names, under another password. A
/// bundle with one such packet is set aside whole: what came with a forged packet is not
/// trusted either. Compared without regard to case, as tossers do; the password itself is
/// never shown.
fn wrong_password(bytes: &[u8], ctx: &ProducerContext) -> Option<String> {
    if ctx.packet_passwords.is_empty() {
        return None;
    }
    let check = |packet: &[u8]| -> Option<String> {
        let reader = ftn::PacketReader::new(packet).ok()?;
        let header = reader.header();
        // Stone-age packets carry no zone: then net/node/point must agree, and the password
        // of any node they could be from will do.
        let expected: Vec<&String> = ctx
            .packet_passwords
            .iter()
            .filter(|(node, _)| {
                (node.zone == header.orig.zone || header.orig.zone == 0)
                    && (node.net, node.node, node.point)
                        == (header.orig.net, header.orig.node, header.orig.point)
            })
            .map(|(_, pw)| pw)
            .collect();
        let given = header.password_str();
        let wrong =
            !expected.is_empty() && !expected.iter().any(|pw| given.eq_ignore_ascii_case(pw));
        wrong.then(|| {
            format!(
                "packet from {} has the wrong password (not the one [echomail] packet_passwords gives it)",
                header.orig
            )
        })
    };
    if ftn::packet::looks_like_packet(bytes) {
        return check(bytes);
    }
    if !ftn::bundle::is_zip(bytes) {
        return None;
    }
    let limits = ftn::Limits {
        max_total_bytes: ctx.max_bytes,
        ..ftn::Limits::default()
    };
    ftn::bundle::unpack_each(bytes, limits)
        .ok()?
        .into_iter()
        .flatten()
        .find_map(|entry| check(&entry.data).map(|why| format!("{}: {why}", entry.name)))
}

/// A file's path as messages show it (stderr, the interface, a `.reason`): sanitised, since an
/// inbound's file names come from a remote mailer.
fn shown(file: &Path) -> String {
    parse::sanitize::path(file)
}

/// A bundle, packet by packet: the stories of its good packets go to the store even when
/// others are broken (as crashmail tosses them); the bundle is then still set aside in bad/,
/// its reason naming the broken packets, and counted as a failure. Archive entry names are
/// labels only, never paths ([`ftn::bundle`]).
fn read_bundle(
    source: usize,
    file: &Path,
    bytes: &[u8],
    inbound: bool,
    stamp: Option<(PathBuf, FileStamp)>,
    ctx: &ProducerContext,
) -> Msg {
    let failed = |error: String, settle: bool| Msg::file_failed(source, file, error, settle);
    let limits = ftn::Limits {
        max_total_bytes: ctx.max_bytes,
        ..ftn::Limits::default()
    };
    let read = match ftn::bundle::read_each(&shown(file), bytes, &ctx.charsets, limits) {
        Ok(read) => read,
        Err(e) => return failed(format!("{}: {e}", shown(file)), inbound),
    };
    for w in &read.file.warnings {
        tracing::warn!("{w}");
    }
    let broken = if read.broken.is_empty() {
        None
    } else {
        let list: Vec<String> = read.broken.iter().map(ToString::to_string).collect();
        let list = list.join("; ");
        if read.read == 0 {
            // Nothing good in it: a broken file like any other.
            return failed(format!("{}: {list}", shown(file)), inbound);
        }
        Some(format!(
            "{}: {} of {} packets broken, the rest tossed: {list}",
            shown(file),
            read.broken.len(),
            read.read + read.broken.len(),
        ))
    };
    match ctx.tag_all(read.file.stories) {
        Ok(stories) => Msg::Batch {
            source,
            stories,
            netmail_skipped: read.file.netmail_skipped,
            settle: inbound.then(|| file.to_path_buf()),
            // Not remembered: a folder source reads it (and reports it) again next time.
            stamp: stamp.filter(|_| broken.is_none()),
            broken,
        },
        Err(error) => failed(error, false),
    }
}

/// A `*.txt` in an inbound folder whose first 64 KiB (all any detector looks at) are not a
/// BBS text export nor anything else we read: a README, a sysop's notes. It is not ours to
/// move (binkd inbounds hold other programs' files). Unreadable ones are not judged here:
/// the full read reports them.
fn is_foreign_text(file: &Path) -> bool {
    use std::io::Read;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    if !name.to_ascii_lowercase().ends_with(".txt") {
        return false;
    }
    let mut head = Vec::new();
    match std::fs::File::open(file).and_then(|f| f.take(65536).read_to_end(&mut head)) {
        Ok(_) => !parse::recognised(&name, &head),
        Err(_) => false,
    }
}

/// This program and the settings that change what a file reads as, hashed: a file stamped by
/// another reader is read again. Kept per file, so one broken file (which fails its source)
/// does not make the others unknown.
fn reader_id(charsets: &ftn::Charsets, max_bytes: u64) -> u64 {
    let reader = format!(
        "echowatch {} reader {}; charsets {}; max_bytes {max_bytes}",
        env!("CARGO_PKG_VERSION"),
        parse::READER_VERSION,
        charsets.describe(),
    );
    let hash = blake3::hash(reader.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_bytes()[..8]);
    u64::from_le_bytes(first)
}

fn file_stamp(meta: &std::fs::Metadata, reader: u64) -> Option<FileStamp> {
    let since_epoch = |t: std::time::SystemTime| {
        let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
        i64::try_from(d.as_nanos()).ok()
    };
    #[cfg(unix)]
    let (changed_ns, inode) = {
        use std::os::unix::fs::MetadataExt;
        (
            meta.ctime()
                .saturating_mul(1_000_000_000)
                .saturating_add(meta.ctime_nsec()),
            meta.ino(),
        )
    };
    #[cfg(not(unix))]
    let (changed_ns, inode) = (0, 0);
    Some(FileStamp {
        size: meta.len(),
        modified_ns: since_epoch(meta.modified().ok()?)?,
        changed_ns,
        inode,
        reader,
    })
}

/// Two seconds before `now`: older file times are past any clock's resolution (FAT's is 2 s).
fn settled_before(now: std::time::SystemTime) -> i64 {
    let now = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    i64::try_from(now).unwrap_or(i64::MAX) - 2_000_000_000
}

/// Neither modified nor changed at or after `before` (a file dated in the future never is).
fn settled(stamp: &FileStamp, before: i64) -> bool {
    stamp.modified_ns.max(stamp.changed_ns) < before
}

/// Move a tossed inbound file out of the way: to done/, or to bad/ beside its reason.
fn settle_file(data_dir: &Path, file: &Path, error: Option<&str>) {
    let verdict = match error {
        None => ftn::inbound::Verdict::Done,
        Some(reason) => ftn::inbound::Verdict::Bad(reason),
    };
    match ftn::inbound::settle(data_dir, file, verdict) {
        Ok(_) => {}
        // Someone else (another tosser) took it meanwhile: theirs to file, nothing lost.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => tracing::info!("{e}"),
        Err(e) => tracing::error!(
            "cannot move {} out of the inbound folder: {e}",
            file.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const READER: u64 = 7;

    /// Built once for all reads of these tests (slow in a debug build).
    static TAGGER: std::sync::LazyLock<LazyTagger> =
        std::sync::LazyLock::new(|| LazyTagger::new(None));

    fn context(dir: &Path) -> ProducerContext {
        ProducerContext {
            tagger: TAGGER.clone(),
            charsets: ftn::Charsets::default(),
            packet_passwords: Default::default(),
            max_bytes: 1 << 20,
            data_dir: dir.to_path_buf(),
            reader: READER,
        }
    }

    /// Read `folder` with `stamps`: the files read (stamped ones by name), and those forgotten.
    fn read(folder: &Path, stamps: Option<Stamps>) -> (Vec<PathBuf>, Vec<PathBuf>) {
        let (tx, mut rx) = mpsc::channel(64);
        read_source(0, folder, None, stamps, false, &context(folder), &tx);
        drop(tx);
        let (mut read, mut gone) = (Vec::new(), Vec::new());
        while let Ok(msg) = rx.try_recv() {
            match msg {
                Msg::Batch {
                    stamp: Some((file, _)),
                    ..
                } => read.push(file),
                Msg::Batch { stamp: None, .. } => read.push(PathBuf::from("<unstamped>")),
                Msg::Gone { files, .. } => gone.extend(files),
                Msg::FileFailed { file, error, .. } => panic!("{}: {error}", file.display()),
                Msg::Done { .. } => {}
            }
        }
        (read, gone)
    }

    fn write_aged(path: &Path, text: &str) {
        std::fs::write(path, text).unwrap();
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
    }

    const FEED: &str = "<rss version=\"2.0\"><channel><title>t</title><item><title>One</title>\
                        <guid>g1</guid><description>Body.</description></item></channel></rss>";

    #[test]
    fn unchanged_files_are_skipped_only_under_the_same_reader() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("feeds");
        std::fs::create_dir(&folder).unwrap();
        let (a, b) = (folder.join("a.xml"), folder.join("b.xml"));
        write_aged(&a, FEED);
        write_aged(&b, FEED);
        let stamp_of = |p: &Path| file_stamp(&std::fs::metadata(p).unwrap(), READER).unwrap();
        // Files written by this test count as settled (their inode change time is now).
        let later = settled_before(std::time::SystemTime::now() + Duration::from_secs(60));
        let stamps = |skip_unchanged, known: &[(&Path, FileStamp)]| {
            Some(Stamps {
                known: known.iter().map(|(p, s)| (p.to_path_buf(), *s)).collect(),
                skip_unchanged,
                settled_before: later,
            })
        };

        // Nothing known: both read and stamped.
        assert_eq!(
            read(&folder, stamps(true, &[])).0,
            vec![a.clone(), b.clone()]
        );
        // Both known and unchanged: nothing read.
        let both = [(a.as_path(), stamp_of(&a)), (b.as_path(), stamp_of(&b))];
        assert_eq!(read(&folder, stamps(true, &both)), (vec![], vec![]));
        // `sync --reread`: all read again, and stamped.
        assert_eq!(
            read(&folder, stamps(false, &both)).0,
            vec![a.clone(), b.clone()]
        );
        // Taken by another reader (another version, other charsets): that file read again.
        let mut other = stamp_of(&a);
        other.reader = READER + 1;
        let by_other = [(a.as_path(), other), (b.as_path(), stamp_of(&b))];
        assert_eq!(read(&folder, stamps(true, &by_other)).0, vec![a.clone()]);
        // `import` and inbound folders: no stamps, all read, none remembered.
        assert_eq!(
            read(&folder, None).0,
            vec![PathBuf::from("<unstamped>"), PathBuf::from("<unstamped>")]
        );
        // One file's stamp differs in any part: that file alone.
        let mut stale = stamp_of(&b);
        stale.changed_ns -= 1;
        let changed = [(a.as_path(), stamp_of(&a)), (b.as_path(), stale)];
        assert_eq!(read(&folder, stamps(true, &changed)).0, vec![b.clone()]);
        // A file that is gone is forgotten.
        std::fs::remove_file(&a).unwrap();
        let (read_now, gone) = read(&folder, stamps(true, &changed));
        assert_eq!(read_now, vec![b.clone()]);
        assert_eq!(gone, vec![a.clone()]);
        // A file changed after the settling point is read but not stamped.
        let mut fresh = stamps(true, &[]);
        if let Some(s) = fresh.as_mut() {
            s.settled_before = 0;
        }
        assert_eq!(read(&folder, fresh).0, vec![PathBuf::from("<unstamped>")]);
    }

    #[test]
    fn fresh_stamps_are_not_trusted() {
        let now = std::time::SystemTime::now();
        let before = settled_before(now);
        let ns = |t: std::time::SystemTime| {
            t.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64
        };
        let hour = Duration::from_secs(3600);
        let stamp = |modified, changed| FileStamp {
            size: 1,
            modified_ns: ns(modified),
            changed_ns: ns(changed),
            inode: 1,
            reader: READER,
        };
        assert!(settled(&stamp(now - hour, now - hour), before));
        assert!(!settled(&stamp(now - hour, now), before));
        assert!(!settled(&stamp(now, now - hour), before));
        assert!(!settled(&stamp(now + hour, now - hour), before));
        assert!(!settled(
            &stamp(now - Duration::from_secs(1), now - hour),
            before
        ));
    }

    #[test]
    fn an_inbound_file_gone_before_it_is_read_is_no_failure_and_is_not_moved() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("0000aaaa.pkt");
        match read_file(0, &gone, false, true, None, &context(dir.path())) {
            Msg::Batch {
                stories, settle, ..
            } => assert!(stories.is_empty() && settle.is_none()),
            Msg::FileFailed { error, .. } => panic!("counted as a failure: {error}"),
            _ => panic!("unexpected message"),
        }
        // Elsewhere a missing file is still an error.
        assert!(matches!(
            read_file(0, &gone, false, false, None, &context(dir.path())),
            Msg::FileFailed { settle: false, .. }
        ));
    }
}

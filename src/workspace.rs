//! A data folder opened for work: the store, the search index beside it, the tagger and
//! the config. Keeps the index in step with the store: anything the store queued (a crash
//! between store commit and index commit, a deleted or unreadable index) is indexed on open.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::classify::Tagger;
use crate::config::Config;
use crate::index::{Flag, IdSet, IndexDoc, IndexError, SearchIndex, StoryFlags};
use crate::model::{Tag, TagKind};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error("cannot create data folder {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} is a file, not a folder; --data takes the data folder (the one holding store.sqlite)"
    )]
    NotAFolder { path: PathBuf },
    #[error("no echowatch store in {path}; run `echowatch sync` first, or check --data")]
    NoStore { path: PathBuf },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("unknown {} {}; the policies are: {known}", if ids.len() == 1 { "policy" } else { "policies" }, quoted(ids))]
    UnknownPolicy { ids: Vec<String>, known: String },
    #[error("tagger rules {path}: {message}")]
    Rules { path: PathBuf, message: String },
    #[error(
        "data folder {path} is busy: another echowatch run{holder} (sync, import, reindex, retag or an FTN export) still holds it after {waited_s} s; nothing was done, try again later"
    )]
    Busy {
        path: PathBuf,
        /// ` (process N)` when the lock file names its holder.
        holder: String,
        waited_s: u64,
    },
}

/// How long a writer waits for another echowatch process holding the index.
pub const WRITER_WAIT: Duration = Duration::from_secs(60);

/// How long a run that writes stories waits for another one on the same data folder
/// (a cron sync overlapping the last, or the interface's). `ECHOWATCH_LOCK_WAIT_MS` overrides
/// it (tests).
pub const LOCK_WAIT: Duration = Duration::from_secs(60);

/// The data folder, held by the one run allowed to write stories or move inbound files at a
/// time: sync, import, reindex, retag, the FTN gateway. Readers never take it. An advisory
/// lock (flock) on `<data>/echowatch.lock`: the system drops it when the process dies, so
/// a killed run leaves nothing to clean up. Released on drop.
#[derive(Debug)]
pub struct DataLock {
    _file: std::fs::File,
}

impl DataLock {
    /// Take the lock of `data_dir`, waiting up to `wait` for another run to finish.
    pub fn acquire(data_dir: &Path, wait: Duration) -> Result<DataLock, WorkspaceError> {
        use std::io::{Read, Seek, Write};
        let path = data_dir.join("echowatch.lock");
        let io_err = |source| WorkspaceError::DataDir {
            path: path.clone(),
            source,
        };
        // Never truncated or removed before it is held: unlinking a lock file lets two
        // processes hold two different files.
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err)?;
        let start = std::time::Instant::now();
        let mut logged = false;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if start.elapsed() < wait => {
                    if !logged {
                        tracing::info!(
                            "waiting for another echowatch run on {}",
                            data_dir.display()
                        );
                        logged = true;
                    }
                    std::thread::sleep(Duration::from_millis(100).min(wait));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    let mut text = String::new();
                    let _ = file.read_to_string(&mut text);
                    let holder = match text.trim().parse::<u32>() {
                        Ok(pid) => format!(" (process {pid})"),
                        Err(_) => String::new(),
                    };
                    return Err(WorkspaceError::Busy {
                        path: data_dir.to_path_buf(),
                        holder,
                        waited_s: wait.as_secs(),
                    });
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io_err(e)),
            }
        }
        // Who holds it, for the message of a run that gives up waiting. Best effort.
        let _ = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()));
        Ok(DataLock { _file: file })
    }

    /// [`LOCK_WAIT`], or `ECHOWATCH_LOCK_WAIT_MS`.
    pub fn wait() -> Duration {
        std::env::var("ECHOWATCH_LOCK_WAIT_MS")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .map_or(LOCK_WAIT, Duration::from_millis)
    }
}

pub struct Workspace {
    pub config: Config,
    pub data_dir: PathBuf,
    pub store: Store,
    pub index: SearchIndex,
    tagger: LazyTagger,
}

/// The tagger, built on first use. Building it takes ~30 ms of CPU (its automaton of a few
/// thousand patterns is under 1 MB): commands that tag nothing (`search`, `show`, the interface, a sync
/// where every feed answers 304) never build it. A sync starts building it on a spare thread
/// when the first new content arrives, so tagging rarely waits.
#[derive(Clone)]
pub struct LazyTagger {
    cell: Arc<OnceLock<Result<Arc<Tagger>, String>>>,
    warming: Arc<std::sync::atomic::AtomicBool>,
    rules: Option<PathBuf>,
}

impl LazyTagger {
    pub fn new(rules: Option<PathBuf>) -> LazyTagger {
        LazyTagger {
            cell: Arc::new(OnceLock::new()),
            warming: Arc::default(),
            rules,
        }
    }

    /// Start building in the background (once); `get` then waits only for what is left.
    pub fn warm_up(&self) {
        if self
            .warming
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        let this = self.clone();
        std::thread::spawn(move || {
            let _ = this.get();
        });
    }

    pub fn get(&self) -> Result<Arc<Tagger>, WorkspaceError> {
        let built = self.cell.get_or_init(|| {
            load_tagger(self.rules.as_deref())
                .map(Arc::new)
                .map_err(|e| e.to_string())
        });
        built.clone().map_err(|message| WorkspaceError::Rules {
            path: self.rules.clone().unwrap_or_default(),
            message,
        })
    }
}

impl Workspace {
    /// Open (creating as needed) the data folder. Brings the index up to date with the store.
    pub fn open(config: Config, data_dir: &Path) -> Result<Workspace, WorkspaceError> {
        // create_dir_all on a file says only "File exists".
        if data_dir.metadata().is_ok_and(|m| !m.is_dir()) {
            return Err(WorkspaceError::NotAFolder {
                path: data_dir.to_path_buf(),
            });
        }
        std::fs::create_dir_all(data_dir).map_err(|source| WorkspaceError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        // One opener at a time: two processes opening a fresh (or older) store at once both
        // ran its migrations ("table sources already exists"). Held for the open alone.
        let opening = lock_for_open(data_dir);
        let store = Store::open(&Workspace::store_path(data_dir))?;
        let (mut index, fresh) = SearchIndex::open_or_create(&data_dir.join("tantivy"))?;
        drop(opening);
        index.set_flags(Arc::new(StoreFlags::new(Workspace::store_path(data_dir))));
        index.set_policy_ids(policy_ids(config.tagger_rules.clone()));
        if fresh && store.story_count()? > 0 {
            tracing::info!(
                "search index was missing, unreadable or of an older version: rebuilding it from the store"
            );
            store.queue_all()?;
        }
        let tagger = LazyTagger::new(config.tagger_rules.clone());
        let mut ws = Workspace {
            config,
            data_dir: data_dir.to_path_buf(),
            store,
            index,
            tagger,
        };
        ws.drop_orphan_documents()?;
        ws.flush_index()?;
        Ok(ws)
    }

    /// Remove index documents of stories the store does not have. That happens when the store
    /// lost its last commits (a power cut with `synchronous = NORMAL`) after the index had
    /// committed them, or when the store file was replaced; SQLite then hands those ids out
    /// again, and new stories are added to the index without a delete. Cheap when all is well:
    /// one look at the largest id on each side.
    fn drop_orphan_documents(&mut self) -> Result<(), WorkspaceError> {
        // The index first: a document it holds was stored before the index committed it.
        // The free bound settles the usual case; deleted documents can make it too high.
        let Some(bound) = self.index.max_id_bound()? else {
            return Ok(());
        };
        if bound <= self.store.max_story_id()? {
            return Ok(());
        }
        let Some(index_max) = self.index.max_id()? else {
            return Ok(());
        };
        if index_max <= self.store.max_story_id()? {
            return Ok(());
        }
        let mut writer = self.index.writer(WRITER_WAIT)?;
        // Holding the writer, no other process can add documents; read the store again.
        let store_max = self.store.max_story_id()?;
        tracing::warn!(
            "search index holds stories {}..={index_max} the store does not have: removing them",
            store_max + 1
        );
        writer.delete_ids_above(store_max)?;
        writer.commit()?;
        Ok(())
    }

    /// Hold the data folder for a run that writes stories (see [`DataLock`]).
    pub fn lock_for_writing(&self) -> Result<DataLock, WorkspaceError> {
        DataLock::acquire(&self.data_dir, DataLock::wait())
    }

    /// Where the store of a data folder lives (another connection to it: a background job).
    pub fn store_path(data_dir: &Path) -> PathBuf {
        data_dir.join("store.sqlite")
    }

    /// For commands that only work on stories already stored (search, show, tag, export,
    /// stats, retag): `data_dir` must hold a store. Creates nothing: a mistyped `--data`
    /// would otherwise become a new, empty store that answers every query with nothing.
    pub fn require_store(data_dir: &Path) -> Result<(), WorkspaceError> {
        if Workspace::store_path(data_dir).is_file() {
            return Ok(());
        }
        match data_dir.metadata() {
            Ok(m) if !m.is_dir() => Err(WorkspaceError::NotAFolder {
                path: data_dir.to_path_buf(),
            }),
            Ok(_) => Err(WorkspaceError::NoStore {
                path: data_dir.to_path_buf(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(WorkspaceError::NoStore {
                path: data_dir.to_path_buf(),
            }),
            // A path through a file, or one we may not look into: the reason, as `open`
            // would give it.
            Err(source) => Err(WorkspaceError::DataDir {
                path: data_dir.to_path_buf(),
                source,
            }),
        }
    }

    /// Index every story the store has queued, in one commit. Returns how many.
    pub fn flush_index(&mut self) -> Result<usize, WorkspaceError> {
        let pending = self.store.pending_index()?;
        if pending.is_empty() {
            return Ok(0);
        }
        let mut writer = self.index.writer(WRITER_WAIT)?;
        for chunk in pending.chunks(1000) {
            let mut docs = Vec::with_capacity(chunk.len());
            for id in chunk {
                match self.store.story_brief(*id)? {
                    Some(story) => docs.push(IndexDoc::from(&story)),
                    None => writer.delete(*id),
                }
            }
            writer.replace(&docs)?;
        }
        writer.commit()?;
        self.store.clear_pending(&pending)?;
        Ok(pending.len())
    }

    /// Rebuild the whole index from the store. Returns the number of stories indexed.
    pub fn reindex(&mut self) -> Result<usize, WorkspaceError> {
        let _lock = self.lock_for_writing()?;
        let mut writer = self.index.bulk_writer(WRITER_WAIT)?;
        writer.delete_all()?;
        let mut n = 0usize;
        let mut failed: Option<IndexError> = None;
        self.store.for_each_story_brief(|story| {
            if failed.is_none()
                && let Err(e) = writer.add(&IndexDoc::from(&story))
            {
                failed = Some(e);
            }
            n += 1;
            Ok(())
        })?;
        if let Some(e) = failed {
            return Err(e.into());
        }
        writer.commit()?;
        let pending = self.store.pending_index()?;
        self.store.clear_pending(&pending)?;
        Ok(n)
    }

    /// The tagger (waits for it to be built).
    pub fn tagger(&self) -> Result<Arc<Tagger>, WorkspaceError> {
        self.tagger.get()
    }

    /// Refuse policy tags the rules do not know (`policy:tarifs`): typed by a person, one
    /// would make a facet of its own that no story of the tagger ever joins. Names them all.
    pub fn check_policies(&self, tags: &[Tag]) -> Result<(), WorkspaceError> {
        let tagger = self.tagger()?;
        let known = tagger.policy_ids();
        let ids: Vec<String> = tags
            .iter()
            .filter(|t| t.kind == TagKind::Policy && !known.contains(&t.value))
            .map(|t| t.value.clone())
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        Err(WorkspaceError::UnknownPolicy {
            ids,
            known: known.join(", "),
        })
    }

    /// A handle to give to other threads.
    pub fn lazy_tagger(&self) -> LazyTagger {
        self.tagger.clone()
    }

    /// Re-run the tagger over every stored story (after a change of rules), then reindex.
    /// Manual tags are untouched and keep winning. Returns the number of stories retagged.
    pub fn retag(&mut self) -> Result<usize, WorkspaceError> {
        let _lock = self.lock_for_writing()?;
        let tagger = self.tagger()?;
        // A page at a time, one transaction each: memory stays flat however large the store.
        let mut after = 0;
        let mut n = 0;
        loop {
            let page = self.store.stories_after_brief(after, 1000)?;
            let Some(last) = page.last().map(|s| s.id) else {
                break;
            };
            let updates: Vec<_> = page
                .iter()
                .map(|s| (s.id, tagger.tag(&s.title, &s.body)))
                .collect();
            self.store.replace_auto_tags(&updates)?;
            n += page.len();
            after = last;
        }
        self.flush_index()?;
        Ok(n)
    }
}

/// The store's read and starred flags, for the index's `is:` words. A connection of its
/// own, opened by the first such query: the index is searched from the interface's worker
/// threads too. That connection only reads, so every commit (the interface marking a story
/// read, a cron sync) changes its `data_version`; a flag's ids are read again only then, and
/// a query typed letter by letter reads them once.
struct StoreFlags {
    path: PathBuf,
    cached: Mutex<Option<FlagCache>>,
}

struct FlagCache {
    store: Store,
    /// Each flag's ids, with the `data_version` they were read at.
    ids: std::collections::HashMap<Flag, (i64, Arc<IdSet>)>,
}

impl StoreFlags {
    fn new(path: PathBuf) -> StoreFlags {
        StoreFlags {
            path,
            cached: Mutex::new(None),
        }
    }
}

impl StoryFlags for StoreFlags {
    fn ids(&self, flag: Flag) -> Result<Arc<IdSet>, String> {
        // A panic elsewhere while it was held leaves nothing half-written that matters here.
        let mut cached = self
            .cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let cache = match &mut *cached {
            Some(cache) => cache,
            empty => empty.insert(FlagCache {
                store: Store::open(&self.path).map_err(|e| e.to_string())?,
                ids: Default::default(),
            }),
        };
        // Read before the ids: a commit in between is seen by the next query.
        let version = cache.store.data_version().map_err(|e| e.to_string())?;
        if let Some((read_at, ids)) = cache.ids.get(&flag)
            && *read_at == version
        {
            return Ok(ids.clone());
        }
        let ids = match flag {
            Flag::Read => cache.store.read_ids(),
            Flag::Starred => cache.store.starred_ids(),
        }
        .map_err(|e| e.to_string())?;
        let ids = Arc::new(IdSet::new(&ids));
        cache.ids.insert(flag, (version, ids.clone()));
        Ok(ids)
    }
}

/// An exclusive lock on `<data>/open.lock` while the store and index are opened, readers
/// included (milliseconds, unless a migration runs). Waits as long as the holder: it is
/// working or dead (and then the system releases it). A folder where it cannot be created
/// (read-only) goes without.
fn lock_for_open(data_dir: &Path) -> Option<std::fs::File> {
    let path = data_dir.join("open.lock");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .and_then(|f| f.lock().map(|()| f));
    match file {
        Ok(f) => Some(f),
        Err(e) => {
            tracing::warn!("{}: {e}; opening without it", path.display());
            None
        }
    }
}

/// `"a", "b"` for a message.
fn quoted(values: &[String]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    quoted.join(", ")
}

/// The policy ids of the built-in rules and of the user's rules file, for the index to check
/// `policy:` values with (read when asked: only a query naming an unknown policy asks). A
/// rules file that cannot be read leaves the built-in ids; tagging reports its error.
fn policy_ids(rules: Option<PathBuf>) -> crate::index::PolicyIds {
    Arc::new(move || {
        let overlay = rules
            .as_deref()
            .and_then(|path| std::fs::read_to_string(path).ok());
        crate::classify::policy_ids(overlay.as_deref())
            .or_else(|_| crate::classify::policy_ids(None))
            .unwrap_or_default()
    })
}

fn load_tagger(rules: Option<&Path>) -> Result<Tagger, String> {
    let Some(path) = rules else {
        return Ok(Tagger::builtin());
    };
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    Tagger::with_overlay(&text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::SearchRequest;
    use crate::model::{ParsedStory, StoryKind};
    use crate::store::Incoming;

    fn story(guid: &str, title: &str) -> Incoming {
        let mut s = ParsedStory::new(StoryKind::Feed, title);
        s.guid = Some(guid.into());
        Incoming {
            story: s,
            auto_tags: vec![],
        }
    }

    fn hits(ws: &Workspace, query: &str) -> usize {
        ws.index
            .search(&SearchRequest {
                query: query.into(),
                limit: 10,
                ..Default::default()
            })
            .unwrap()
            .total
    }

    #[test]
    fn an_index_of_an_older_analyzer_is_rebuilt_from_the_store_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let config = || Config::empty(dir.path().join("feeds.toml"));
        let title = "商务部公告：对镓、锗相关物项实施出口管制";
        let stored = {
            let mut ws = Workspace::open(config(), &data).unwrap();
            let src = ws.store.ensure_source("a", "https://a.test/").unwrap();
            ws.store
                .ingest_batch(src, &[], &[story("1", title)], chrono::Utc::now())
                .unwrap();
            ws.flush_index().unwrap();
            ws.store.story_brief(1).unwrap().unwrap()
        };
        // What an echowatch of index version 4 left: the same story, its Chinese title one
        // token, and nothing queued in the store.
        let index = data.join("tantivy");
        std::fs::remove_dir_all(&index).unwrap();
        crate::index::write_version_4_index(&index, &[IndexDoc::from(&stored)]);
        let ws = Workspace::open(config(), &data).unwrap();
        assert_eq!(ws.index.doc_count(), 1);
        assert_eq!(hits(&ws, "出口管制"), 1);
        assert_eq!(hits(&ws, "镓"), 1);
    }

    #[test]
    fn read_and_starred_come_from_the_store_with_no_reindexing() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut ws = Workspace::open(Config::empty(dir.path().join("feeds.toml")), &data).unwrap();
        let src = ws.store.ensure_source("a", "https://a.test/").unwrap();
        let batch = [
            story("1", "Alpha one"),
            story("2", "Alpha two"),
            story("3", "Beta three"),
        ];
        ws.store
            .ingest_batch(src, &[], &batch, chrono::Utc::now())
            .unwrap();
        ws.flush_index().unwrap();
        assert_eq!(hits(&ws, "is:unread"), 3);
        assert_eq!(hits(&ws, "is:starred"), 0);
        ws.store.set_read(&[1, 3], true).unwrap();
        ws.store.set_starred(&[2], true).unwrap();
        // Nothing is queued for the index: the flags are read when a query names them.
        assert!(ws.store.pending_index().unwrap().is_empty());
        assert_eq!(hits(&ws, "is:unread"), 1);
        assert_eq!(hits(&ws, "is:read alpha"), 1);
        assert_eq!(hits(&ws, "is:starred OR beta"), 2);
        // The interface searches from other threads, on shared handles.
        let shared = ws.index.share();
        let starred = std::thread::spawn(move || {
            shared
                .search(&SearchRequest {
                    query: "is:starred".into(),
                    limit: 10,
                    ..Default::default()
                })
                .map(|page| page.hits.iter().map(|h| h.id).collect::<Vec<_>>())
        })
        .join()
        .unwrap()
        .unwrap();
        assert_eq!(starred, vec![2]);
        // Marked read again, as opening a story does: the next query sees it.
        ws.store.set_read(&[2], true).unwrap();
        assert_eq!(hits(&ws, "is:unread"), 0);
        ws.store.set_starred(&[2], false).unwrap();
        assert_eq!(hits(&ws, "is:starred"), 0);
    }

    #[test]
    fn index_documents_of_stories_the_store_lost_are_removed_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let config = || Config::empty(dir.path().join("feeds.toml"));
        {
            let mut ws = Workspace::open(config(), &data).unwrap();
            let src = ws.store.ensure_source("a", "https://a.test/").unwrap();
            let batch = [
                story("1", "Alpha one"),
                story("2", "Alpha two"),
                story("3", "Alpha three"),
            ];
            ws.store
                .ingest_batch(src, &[], &batch, chrono::Utc::now())
                .unwrap();
            ws.flush_index().unwrap();
            assert_eq!(ws.index.doc_count(), 3);
        }
        // The store's last commit is lost (as after a power cut), the index kept it: id 3
        // is free again in the store but still in the index.
        rusqlite::Connection::open(Workspace::store_path(&data))
            .unwrap()
            .execute_batch("PRAGMA foreign_keys = ON; DELETE FROM stories WHERE id = 3;")
            .unwrap();
        let ws = Workspace::open(config(), &data).unwrap();
        assert_eq!(ws.index.doc_count(), 2);
        assert_eq!(hits(&ws, "three"), 0);
        assert_eq!(hits(&ws, "alpha"), 2);
    }
}

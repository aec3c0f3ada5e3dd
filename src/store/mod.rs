//! The system of record: SQLite (WAL). Sources and their fetch state, stories, which
//! sources carried each story, tags with provenance, read/starred flags, the export ledger.
//! Everything the search index holds can be rebuilt from here.

mod schema;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;

use crate::model::{
    AutoTag, Evidence, ParsedStory, Provenance, StoryKind, Tag, TagKind, TextField,
};
use crate::parse::canonical::canonical_link;

pub type StoryId = i64;
pub type SourceId = i64;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("store was written by a newer echowatch (schema {found}, this one knows {known})")]
    TooNew { found: i64, known: i64 },
    #[error("store: {context}: {source}")]
    Sql {
        context: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("no story with id {0}")]
    NoSuchStory(StoryId),
}

type Result<T> = std::result::Result<T, StoreError>;

/// Attach a short context to SQLite errors.
trait Context<T> {
    fn ctx(self, context: &'static str) -> Result<T>;
}

impl<T> Context<T> for rusqlite::Result<T> {
    fn ctx(self, context: &'static str) -> Result<T> {
        self.map_err(|source| StoreError::Sql { context, source })
    }
}

/// Validators and politeness state of one source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SourceState {
    pub id: SourceId,
    pub name: String,
    pub location: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub last_attempt: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// A server asked us (Retry-After) not to come back before this.
    pub next_fetch_after: Option<DateTime<Utc>>,
}

/// How one attempt to fetch or read a source ended, for its status row.
#[derive(Debug, Clone)]
pub enum FetchRecord {
    Success {
        etag: Option<String>,
        last_modified: Option<String>,
    },
    Unchanged {
        etag: Option<String>,
        last_modified: Option<String>,
    },
    Failure {
        error: String,
        retry_after: Option<DateTime<Utc>>,
    },
}

/// What a path source last read of one file: while all of it stays the same, the next sync
/// skips the file. As git does, the inode change time is kept besides the modification time:
/// programs can set the latter back (`cp -p`, `touch -d`, unpacking an archive), not the former.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    pub size: u64,
    /// Nanoseconds since the Unix epoch.
    pub modified_ns: i64,
    /// Inode change time, nanoseconds since the Unix epoch (0 where there is none).
    pub changed_ns: i64,
    /// 0 where there is none.
    pub inode: u64,
    /// Which reader (program version and read settings, hashed) read the file: a stamp taken by
    /// another one never matches, so such files are read again.
    pub reader: u64,
}

/// One story of a batch, with the tagger's verdict.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub story: ParsedStory,
    pub auto_tags: Vec<AutoTag>,
}

/// A story a batch queued for the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
    /// Created by the batch from its item `item`: that item, the source and its default tags
    /// are all the index needs, so nothing has to be read back.
    New { id: StoryId, item: usize },
    /// Updated, or carried by one more source: its whole record must be read back.
    Changed(StoryId),
}

/// What a batch did to the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub new: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Echomail whose MSGID an earlier, different message already has: dropped, as tossers
    /// drop dupes.
    pub duplicates: usize,
}

impl std::ops::AddAssign for BatchOutcome {
    fn add_assign(&mut self, o: Self) {
        self.new += o.new;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
        self.duplicates += o.duplicates;
    }
}

/// A tag on a story as the user sees it: its provenance and, for automatic tags, the evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TagRecord {
    pub tag: Tag,
    pub provenance: Provenance,
    pub score: Option<f32>,
    pub evidence: Vec<Evidence>,
}

/// A stored story with everything a view needs.
#[derive(Debug, Clone, PartialEq)]
pub struct StoryRecord {
    pub id: StoryId,
    pub title: String,
    pub body: String,
    pub links: Vec<String>,
    pub link: Option<String>,
    pub published: Option<DateTime<Utc>>,
    pub first_seen: DateTime<Utc>,
    pub author: Option<String>,
    pub kind: StoryKind,
    /// Every kind of source that carried it (a gateway post and its feed item: both).
    pub kinds: Vec<StoryKind>,
    /// The echo area it first came in.
    pub area: Option<String>,
    /// Every echo area it came in, by any source (in name order).
    pub areas: Vec<String>,
    pub origin: Option<String>,
    pub read: bool,
    pub starred: bool,
    /// Names of the sources that carried it, the first one first.
    pub sources: Vec<String>,
    /// Effective tags: manual decisions applied over automatic and source-default ones.
    pub tags: Vec<TagRecord>,
}

impl StoryRecord {
    /// The date a view sorts and shows: published, or when we first saw it.
    pub fn date(&self) -> DateTime<Utc> {
        self.published.unwrap_or(self.first_seen)
    }

    fn values(&self, kind: TagKind) -> Vec<String> {
        self.tags
            .iter()
            .filter(|t| t.tag.kind == kind)
            .map(|t| t.tag.value.clone())
            .collect()
    }
    pub fn countries(&self) -> Vec<String> {
        self.values(TagKind::Country)
    }
    pub fn policies(&self) -> Vec<String> {
        self.values(TagKind::Policy)
    }
    pub fn free_tags(&self) -> Vec<String> {
        self.values(TagKind::Free)
    }
}

/// Counts for `stats`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StoreStats {
    pub stories: u64,
    pub by_source: BTreeMap<String, u64>,
    pub by_kind: BTreeMap<String, u64>,
}

pub struct Store {
    conn: Connection,
}

fn ts(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

fn from_ts(t: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(t, 0).single().unwrap_or_default()
}

impl Store {
    /// Open (creating if needed) the store at `path`, applying pending migrations.
    pub fn open(path: &Path) -> Result<Store> {
        let open_err = |source| StoreError::Open {
            path: path.display().to_string(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open_err)?;
        // Every transaction here writes. Taking the write lock at BEGIN makes a second writer
        // (the interface tagging while cron syncs) wait out the busy timeout; a deferred one
        // would read first and fail at once when the other commit made its snapshot stale.
        conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
        rusqlite::vtab::array::load_module(&conn).map_err(open_err)?;
        let store = Store { conn };
        store.configure().map_err(open_err)?;
        store.migrate()?;
        Ok(store)
    }

    fn configure(&self) -> rusqlite::Result<()> {
        // Another echowatch (cron sync while the interface is open) may hold the write lock:
        // wait for it instead of failing.
        self.conn.busy_timeout(Duration::from_secs(30))?;
        self.conn.pragma_update(None, "journal_mode", "WAL")?;
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        self.conn.pragma_update(None, "foreign_keys", "ON")?;
        self.conn.pragma_update(None, "temp_store", "MEMORY")?;
        self.conn.pragma_update(None, "cache_size", -16_000)?;
        Ok(())
    }

    fn migrate(&self) -> Result<()> {
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .ctx("read schema version")?;
        let known = schema::MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::TooNew {
                found: version,
                known,
            });
        }
        if version == known {
            return Ok(());
        }
        // A migration may rewrite every row: its statement journal goes to a temporary file,
        // not memory (on 1,000,000 stories it took ~800 MB of RAM).
        self.conn
            .pragma_update(None, "temp_store", "FILE")
            .ctx("prepare migration")?;
        for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self.conn.unchecked_transaction().ctx("begin migration")?;
            tx.execute_batch(sql).ctx("apply migration")?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .ctx("record schema version")?;
            tx.commit().ctx("commit migration")?;
        }
        self.conn
            .pragma_update(None, "temp_store", "MEMORY")
            .ctx("finish migration")?;
        Ok(())
    }

    // ---- sources -------------------------------------------------------------------------

    /// The id of the named source, creating it (or updating its location) as needed.
    pub fn ensure_source(&self, name: &str, location: &str) -> Result<SourceId> {
        ensure_source_in(&self.conn, name, location)
    }

    /// [`Self::ensure_source`] for many sources in one transaction, writing only new sources
    /// and changed locations: a sync of 200 unchanged sources used to commit 200 times first.
    /// `stamped`: the names of every path source that keeps file stamps (all of the config's,
    /// inbound folders aside); the stamps of any other source are dropped, so a source removed
    /// or made an inbound folder reads its files again if it comes back.
    pub fn ensure_sources(
        &mut self,
        sources: &[(&str, String)],
        stamped: Option<&[&str]>,
    ) -> Result<Vec<SourceId>> {
        let tx = self.conn.transaction().ctx("begin sources")?;
        let ids = sources
            .iter()
            .map(|(name, location)| ensure_source_in(&tx, name, location))
            .collect::<Result<Vec<_>>>()?;
        if let Some(names) = stamped {
            let names: Vec<rusqlite::types::Value> = names
                .iter()
                .map(|n| rusqlite::types::Value::Text((*n).to_owned()))
                .collect();
            tx.prepare_cached(
                "DELETE FROM source_files WHERE source_id IN
                     (SELECT id FROM sources WHERE name NOT IN rarray(?1))",
            )
            .ctx("prepare drop stale file stamps")?
            .execute([std::rc::Rc::new(names)])
            .ctx("drop stale file stamps")?;
        }
        tx.commit().ctx("commit sources")?;
        Ok(ids)
    }

    pub fn source_state(&self, id: SourceId) -> Result<SourceState> {
        self.conn
            .prepare_cached(
                "SELECT id, name, location, etag, last_modified, last_attempt, last_success,
                        last_error, next_fetch_after FROM sources WHERE id = ?1",
            )
            .ctx("prepare source_state")?
            .query_row([id], source_state_row)
            .ctx("read source state")
    }

    pub fn sources(&self) -> Result<Vec<SourceState>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, name, location, etag, last_modified, last_attempt, last_success,
                        last_error, next_fetch_after FROM sources ORDER BY name",
            )
            .ctx("prepare sources")?;
        let rows = stmt.query_map([], source_state_row).ctx("list sources")?;
        rows.collect::<rusqlite::Result<_>>().ctx("list sources")
    }

    /// The stamps of the files a path source read, by path as listed.
    pub fn file_stamps(&self, source: SourceId) -> Result<HashMap<PathBuf, FileStamp>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT path, size, modified_ns, changed_ns, inode, reader FROM source_files
                 WHERE source_id = ?1",
            )
            .ctx("prepare file stamps")?;
        let rows = stmt
            .query_map([source], |r| {
                let path: String = r.get(0)?;
                let size: i64 = r.get(1)?;
                let inode: i64 = r.get(4)?;
                let reader: i64 = r.get(5)?;
                Ok((
                    PathBuf::from(path),
                    FileStamp {
                        size: size as u64,
                        modified_ns: r.get(2)?,
                        changed_ns: r.get(3)?,
                        inode: inode as u64,
                        reader: reader as u64,
                    },
                ))
            })
            .ctx("read file stamps")?;
        rows.collect::<rusqlite::Result<_>>()
            .ctx("read file stamps")
    }

    /// Forget the stamps of files a path source no longer lists.
    pub fn forget_file_stamps(&self, source: SourceId, paths: &[PathBuf]) -> Result<()> {
        let paths: Vec<rusqlite::types::Value> = paths
            .iter()
            .filter_map(|p| p.to_str())
            .map(|p| rusqlite::types::Value::Text(p.to_owned()))
            .collect();
        self.conn
            .prepare_cached("DELETE FROM source_files WHERE source_id = ?1 AND path IN rarray(?2)")
            .ctx("prepare forget file stamps")?
            .execute(params![source, std::rc::Rc::new(paths)])
            .ctx("forget file stamps")?;
        Ok(())
    }

    /// Record how an attempt ended. Validators are kept exactly as the server sent them.
    pub fn record_fetch(
        &self,
        id: SourceId,
        at: DateTime<Utc>,
        record: &FetchRecord,
    ) -> Result<()> {
        write_fetch(&self.conn, id, at, record)
    }

    /// [`Self::record_fetch`] for many sources in one transaction.
    pub fn record_fetches(
        &mut self,
        records: &[(SourceId, DateTime<Utc>, FetchRecord)],
    ) -> Result<()> {
        let tx = self.conn.transaction().ctx("begin fetch records")?;
        for (id, at, record) in records {
            write_fetch(&tx, *id, *at, record)?;
        }
        tx.commit().ctx("commit fetch records")
    }

    // ---- ingest --------------------------------------------------------------------------

    /// Store one source's stories in one transaction. Within the source, the same guid (or
    /// link) updates the story; across sources, the same canonical link or MSGID joins the
    /// existing story. Manual tags, read and starred state are never touched here.
    pub fn ingest_batch(
        &mut self,
        source: SourceId,
        source_tags: &[Tag],
        batch: &[Incoming],
        at: DateTime<Utc>,
    ) -> Result<BatchOutcome> {
        self.ingest_batch_ids(source, source_tags, batch, at, None)
            .map(|(outcome, _)| outcome)
    }

    /// [`Store::ingest_batch`], also returning the stories it queued for the index (new,
    /// updated, or carried by one more source), so the caller can index them right away.
    /// `from_file`: the file of a path source the batch was read from, remembered with it.
    pub fn ingest_batch_ids(
        &mut self,
        source: SourceId,
        source_tags: &[Tag],
        batch: &[Incoming],
        at: DateTime<Utc>,
        from_file: Option<(&Path, FileStamp)>,
    ) -> Result<(BatchOutcome, Vec<Queued>)> {
        let tx = self.conn.transaction().ctx("begin batch")?;
        // The file is remembered as read in the same commit as its stories.
        if let Some((path, stamp)) = from_file {
            write_file_stamp(&tx, source, path, stamp)?;
        }
        let mut outcome = BatchOutcome::default();
        let mut queued = Vec::new();
        let mut hot = HotStatements::prepare(&tx)?;
        for (item, incoming) in batch.iter().enumerate() {
            let (change, id) = ingest_one(&tx, &mut hot, source, source_tags, incoming, ts(at))?;
            match (&change, id) {
                (Change::New, Some(id)) => queued.push(Queued::New { id, item }),
                (_, Some(id)) => queued.push(Queued::Changed(id)),
                (_, None) => {}
            }
            match change {
                Change::New => outcome.new += 1,
                Change::Updated => outcome.updated += 1,
                Change::Unchanged => outcome.unchanged += 1,
                Change::Duplicate => outcome.duplicates += 1,
            }
        }
        drop(hot);
        tx.commit().ctx("commit batch")?;
        Ok((outcome, queued))
    }

    /// Replace the automatic tags of stories (after `retag`), in one transaction; queues them
    /// for the index.
    pub fn replace_auto_tags(&mut self, updates: &[(StoryId, Vec<AutoTag>)]) -> Result<()> {
        let tx = self.conn.transaction().ctx("begin retag")?;
        for (id, tags) in updates {
            write_auto_tags(&tx, *id, tags)?;
            queue(&tx, *id)?;
        }
        tx.commit().ctx("commit retag")
    }

    /// Apply an analyst's additions and removals. They win over every other provenance and
    /// survive re-ingest, retagging and reindexing.
    pub fn set_manual_tags(&mut self, id: StoryId, add: &[Tag], remove: &[Tag]) -> Result<()> {
        let tx = self.conn.transaction().ctx("begin tag edit")?;
        let exists: bool = tx
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM stories WHERE id = ?1)",
                [id],
                |r| r.get(0),
            )
            .ctx("find story")?;
        if !exists {
            return Err(StoreError::NoSuchStory(id));
        }
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO tags (story_id, tag, provenance, present) VALUES (?1, ?2, 'manual', ?3)
                     ON CONFLICT(story_id, tag, provenance) DO UPDATE SET present = excluded.present",
                )
                .ctx("prepare manual tag")?;
            for t in add {
                stmt.execute(params![id, t.to_string(), 1])
                    .ctx("add manual tag")?;
            }
            for t in remove {
                stmt.execute(params![id, t.to_string(), 0])
                    .ctx("remove manual tag")?;
            }
        }
        queue(&tx, id)?;
        tx.commit().ctx("commit tag edit")
    }

    pub fn set_read(&self, ids: &[StoryId], read: bool) -> Result<()> {
        self.set_flag("read", ids, read)
    }

    pub fn set_starred(&self, ids: &[StoryId], starred: bool) -> Result<()> {
        self.set_flag("starred", ids, starred)
    }

    /// Read and starred live only in the store (views read them from here), so a flag
    /// change never costs an index update.
    /// One statement over an array of ids (SQLite's `carray`) into the narrow `flags` table:
    /// marking a million stories read is one pass over small rows. Ids of stories that do not
    /// exist are skipped.
    fn set_flag(&self, column: &'static str, ids: &[StoryId], value: bool) -> Result<()> {
        let ids: std::rc::Rc<Vec<rusqlite::types::Value>> =
            std::rc::Rc::new(ids.iter().map(|&id| id.into()).collect());
        let sql = format!(
            "INSERT INTO flags (story_id, {column})
             SELECT value, ?2 FROM rarray(?1) WHERE EXISTS (SELECT 1 FROM stories WHERE id = value)
             ON CONFLICT(story_id) DO UPDATE SET {column} = excluded.{column}"
        );
        self.conn
            .prepare_cached(&sql)
            .ctx("prepare flag")?
            .execute(params![ids, value])
            .ctx("set flag")?;
        Ok(())
    }

    // ---- reading -------------------------------------------------------------------------

    pub fn story(&self, id: StoryId) -> Result<Option<StoryRecord>> {
        self.load_story(id, Detail::Full)
    }

    /// A story without tag evidence: what the search index needs, read much faster.
    pub fn story_brief(&self, id: StoryId) -> Result<Option<StoryRecord>> {
        self.load_story(id, Detail::Brief)
    }

    fn load_story(&self, id: StoryId, detail: Detail) -> Result<Option<StoryRecord>> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT s.id, title, body, links, link, published, first_seen, author, kind, area,
                        origin, coalesce(f.read, 0), coalesce(f.starred, 0), auto_tags
                 FROM stories s LEFT JOIN flags f ON f.story_id = s.id WHERE s.id = ?1",
            )
            .ctx("prepare story")?
            .query_row([id], story_row)
            .optional()
            .ctx("read story")?;
        let Some((mut record, auto_tags)) = row else {
            return Ok(None);
        };
        self.fill_story(&mut record, &auto_tags, detail)?;
        Ok(Some(record))
    }

    fn fill_story(&self, record: &mut StoryRecord, auto_tags: &str, detail: Detail) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT s.name, ss.kind, ss.area FROM story_sources ss JOIN sources s ON s.id = ss.source_id
                 WHERE ss.story_id = ?1 ORDER BY ss.first_seen, ss.rowid",
            )
            .ctx("prepare story sources")?;
        let rows = stmt
            .query_map([record.id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ))
            })
            .ctx("read story sources")?;
        for row in rows {
            let (name, kind, area) = row.ctx("read story source")?;
            if !record.sources.contains(&name) {
                record.sources.push(name);
            }
            if let Ok(k) = kind.parse::<StoryKind>()
                && !record.kinds.contains(&k)
            {
                record.kinds.push(k);
            }
            if record.area.is_none() {
                record.area = area;
            }
        }
        if record.kinds.is_empty() {
            record.kinds.push(record.kind);
        }
        let mut stmt = self
            .conn
            .prepare_cached("SELECT area FROM story_areas WHERE story_id = ?1 ORDER BY area")
            .ctx("prepare story areas")?;
        let areas = stmt
            .query_map([record.id], |r| r.get::<_, String>(0))
            .ctx("read story areas")?;
        for area in areas {
            record.areas.push(area.ctx("read story area")?);
        }
        if record.areas.is_empty()
            && let Some(area) = &record.area
        {
            record.areas.push(area.clone());
        }
        record.tags = self.effective_tags(record.id, auto_tags, detail)?;
        Ok(())
    }

    /// Tags after provenance rules: a manual row decides; otherwise any present one counts.
    /// `auto_tags` is the story's stored tagger verdict (JSON), read with the story.
    fn effective_tags(
        &self,
        id: StoryId,
        auto_tags: &str,
        detail: Detail,
    ) -> Result<Vec<TagRecord>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT tag, provenance, present FROM tags WHERE story_id = ?1")
            .ctx("prepare tags")?;
        let rows = stmt
            .query_map([id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, bool>(2)?,
                ))
            })
            .ctx("read tags")?;
        type TagRow = (String, Provenance, bool, Option<f32>, Vec<Evidence>);
        let mut all: Vec<TagRow> = Vec::new();
        for row in rows {
            let (text, prov, present) = row.ctx("read tag")?;
            if let Ok(provenance) = prov.parse::<Provenance>() {
                all.push((text, provenance, present, None, Vec::new()));
            }
        }
        // A damaged verdict loses the automatic tags (retag restores them), never the story.
        fn verdict<T: serde::de::DeserializeOwned>(id: StoryId, json: &str) -> Vec<T> {
            serde_json::from_str(json).unwrap_or_else(|e| {
                tracing::warn!(
                    "story {id}: automatic tags unreadable ({e}); `retag` restores them"
                );
                Vec::new()
            })
        }
        match detail {
            Detail::Full => all.extend(
                verdict::<StoredAutoTag>(id, auto_tags)
                    .into_iter()
                    .map(|t| (t.tag, Provenance::Auto, true, t.score, t.evidence)),
            ),
            Detail::Brief => all.extend(
                verdict::<BriefAutoTag>(id, auto_tags)
                    .into_iter()
                    .map(|t| (t.tag, Provenance::Auto, true, t.score, Vec::new())),
            ),
        }
        let mut by_tag: BTreeMap<Tag, (Option<bool>, Option<TagRecord>)> = BTreeMap::new();
        for (text, provenance, present, score, evidence) in all {
            let Ok(tag) = text.parse::<Tag>() else {
                continue;
            };
            let entry = by_tag.entry(tag.clone()).or_default();
            if provenance == Provenance::Manual {
                entry.0 = Some(present);
            }
            if present {
                let record = TagRecord {
                    tag,
                    provenance,
                    score,
                    evidence,
                };
                // Show the strongest provenance: manual, then auto (with evidence), then source.
                let rank = |p: Provenance| match p {
                    Provenance::Manual => 0,
                    Provenance::Auto => 1,
                    Provenance::Source => 2,
                };
                if entry
                    .1
                    .as_ref()
                    .is_none_or(|old| rank(provenance) < rank(old.provenance))
                {
                    entry.1 = Some(record);
                }
            }
        }
        Ok(by_tag
            .into_values()
            .filter_map(|(manual, record)| match manual {
                Some(false) => None,
                _ => record,
            })
            .collect())
    }

    /// Visit every story in id order, with tag evidence (for export) without loading them all.
    pub fn for_each_story(&self, f: impl FnMut(StoryRecord) -> Result<()>) -> Result<()> {
        self.for_each_story_with(Detail::Full, f)
    }

    /// Like [`Store::for_each_story`] without tag evidence (reindex, retag).
    pub fn for_each_story_brief(&self, f: impl FnMut(StoryRecord) -> Result<()>) -> Result<()> {
        self.for_each_story_with(Detail::Brief, f)
    }

    fn for_each_story_with(
        &self,
        detail: Detail,
        mut f: impl FnMut(StoryRecord) -> Result<()>,
    ) -> Result<()> {
        let mut last = 0;
        loop {
            let page = self.stories_after(last, 500, detail)?;
            let Some(end) = page.last().map(|s| s.id) else {
                return Ok(());
            };
            for record in page {
                f(record)?;
            }
            last = end;
        }
    }

    /// Up to `limit` stories with ids above `after`, in id order, without tag evidence: a
    /// page of a walk over the whole store that can write between pages.
    pub fn stories_after_brief(&self, after: StoryId, limit: usize) -> Result<Vec<StoryRecord>> {
        self.stories_after(after, limit, Detail::Brief)
    }

    fn stories_after(
        &self,
        after: StoryId,
        limit: usize,
        detail: Detail,
    ) -> Result<Vec<StoryRecord>> {
        let page: Vec<(StoryRecord, String)> = {
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT s.id, title, body, links, link, published, first_seen, author, kind, area,
                            origin, coalesce(f.read, 0), coalesce(f.starred, 0), auto_tags
                     FROM stories s LEFT JOIN flags f ON f.story_id = s.id
                     WHERE s.id > ?1 ORDER BY s.id LIMIT ?2",
                )
                .ctx("prepare story page")?;
            let rows = stmt
                .query_map(params![after, limit as i64], story_row)
                .ctx("read story page")?;
            rows.collect::<rusqlite::Result<_>>()
                .ctx("read story page")?
        };
        let mut out = Vec::with_capacity(page.len());
        for (mut record, auto_tags) in page {
            self.fill_story(&mut record, &auto_tags, detail)?;
            out.push(record);
        }
        Ok(out)
    }

    /// The largest story id (0 for an empty store).
    pub fn max_story_id(&self) -> Result<StoryId> {
        self.conn
            .query_row("SELECT coalesce(max(id), 0) FROM stories", [], |r| r.get(0))
            .ctx("read largest story id")
    }

    /// Ids of the stories marked read (the query words `is:read` and `is:unread`).
    pub fn read_ids(&self) -> Result<Vec<StoryId>> {
        self.ids_where("SELECT story_id FROM flags WHERE read")
    }

    /// Ids of the starred stories (the query word `is:starred`).
    pub fn starred_ids(&self) -> Result<Vec<StoryId>> {
        self.ids_where("SELECT story_id FROM flags WHERE starred")
    }

    /// One pass over the narrow `flags` table, ids only: for a million read stories about
    /// 90 ms, half of it the scan.
    fn ids_where(&self, sql: &'static str) -> Result<Vec<StoryId>> {
        let mut stmt = self.conn.prepare_cached(sql).ctx("prepare flagged ids")?;
        let rows = stmt
            .query_map([], |r| r.get::<_, StoryId>(0))
            .ctx("read flagged ids")?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .ctx("read flagged ids")
    }

    /// A number that changes whenever another connection commits to the store (SQLite's
    /// `data_version`; this connection's own commits leave it as it is): what a connection
    /// that only reads has read stays current while it does not change.
    pub fn data_version(&self) -> Result<i64> {
        self.conn
            .pragma_query_value(None, "data_version", |r| r.get(0))
            .ctx("read data version")
    }

    pub fn story_count(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM stories", [], |r| r.get(0))
            .ctx("count stories")
    }

    /// Stories changed since the index last committed.
    pub fn pending_index(&self) -> Result<Vec<StoryId>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT story_id FROM index_queue")
            .ctx("prepare queue")?;
        let rows = stmt.query_map([], |r| r.get(0)).ctx("read queue")?;
        rows.collect::<rusqlite::Result<_>>().ctx("read queue")
    }

    /// Forget queued ids once the index has committed them.
    pub fn clear_pending(&self, ids: &[StoryId]) -> Result<()> {
        let tx = self.conn.unchecked_transaction().ctx("begin dequeue")?;
        {
            let mut stmt = tx
                .prepare_cached("DELETE FROM index_queue WHERE story_id = ?1")
                .ctx("prepare dequeue")?;
            for id in ids {
                stmt.execute([id]).ctx("dequeue")?;
            }
        }
        tx.commit().ctx("commit dequeue")
    }

    /// Queue every story (the index was lost or is being rebuilt).
    pub fn queue_all(&self) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO index_queue SELECT id FROM stories",
                [],
            )
            .ctx("queue all")?;
        Ok(())
    }

    pub fn stats(&self) -> Result<StoreStats> {
        let mut stats = StoreStats {
            stories: self.story_count()?,
            ..Default::default()
        };
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT s.name, COUNT(DISTINCT ss.story_id) FROM story_sources ss
                 JOIN sources s ON s.id = ss.source_id GROUP BY s.name",
            )
            .ctx("prepare stats")?;
        for row in stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .ctx("stats by source")?
        {
            let (name, n): (String, u64) = row.ctx("stats by source")?;
            stats.by_source.insert(name, n);
        }
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT kind, COUNT(DISTINCT story_id) FROM story_sources GROUP BY kind",
            )
            .ctx("prepare stats")?;
        for row in stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .ctx("stats by kind")?
        {
            let (kind, n): (String, u64) = row.ctx("stats by kind")?;
            stats.by_kind.insert(kind, n);
        }
        Ok(stats)
    }

    // ---- export ledger and watches -------------------------------------------------------

    /// True if the story was already posted to this echo area.
    /// Whether story `id` came in echo area `area` (any case), by any source.
    pub fn seen_in_area(&self, id: StoryId, area: &str) -> Result<bool> {
        self.conn
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM story_areas WHERE story_id = ?1 AND area = ?2)",
            )
            .ctx("prepare story areas")?
            .query_row(params![id, area], |r| r.get(0))
            .ctx("read story areas")
    }

    pub fn ledger_contains(&self, id: StoryId, area: &str) -> Result<bool> {
        self.conn
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM ftn_ledger WHERE story_id = ?1 AND area = ?2 AND sent)",
            )
            .ctx("prepare ledger")?
            .query_row(params![id, area], |r| r.get(0))
            .ctx("read ledger")
    }

    /// MSGID serials for posting these stories (not yet posted there, see
    /// [`Store::ledger_contains`]) to `area` from `address`, reserved in the ledger (as the
    /// MSGID `address serial`, FTS-0009) until [`Store::ledger_confirm`]. `None` for a story
    /// posted there meanwhile (another gateway run on this store confirmed it between the
    /// caller's check and this transaction): it must not go out again under a new MSGID,
    /// which no dupe checker would catch.
    ///
    /// A story reserved before and never confirmed gets the same MSGID again: its packet may
    /// have gone out, and a repeat under the same MSGID is a dupe tossers drop. New serials
    /// are the Unix time in seconds, or one more than the last this store gave `address` when
    /// that is later, skipping any MSGID the store has seen: unique per address for decades,
    /// whatever the store's story ids, as FTS-0009 asks.
    pub fn ledger_reserve(
        &mut self,
        ids: &[StoryId],
        area: &str,
        address: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<u32>>> {
        // IMMEDIATE: two gateway runs on one store must not hand out the same serial, and
        // what one confirmed is seen by the other here.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .ctx("begin reserve")?;
        let prefix = format!("{address} ");
        let last: Option<i64> = tx
            .prepare_cached("SELECT last FROM ftn_serials WHERE address = ?1")
            .ctx("prepare serial")?
            .query_row([address], |r| r.get(0))
            .optional()
            .ctx("read serial")?;
        // 32 bits of seconds last until 2106; past u32::MAX the serial wraps to 0.
        let mut next = last.map_or(0, |l| l + 1).max(now.timestamp()) & 0xFFFF_FFFF;
        let mut serials = Vec::with_capacity(ids.len());
        for &id in ids {
            let row: Option<(String, bool)> = tx
                .prepare_cached(
                    "SELECT msgid, sent FROM ftn_ledger WHERE story_id = ?1 AND area = ?2",
                )
                .ctx("prepare reservation")?
                .query_row(params![id, area], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .ctx("read reservation")?;
            let reserved = match row {
                Some((_, true)) => {
                    serials.push(None);
                    continue;
                }
                Some((msgid, false)) => Some(msgid),
                None => None,
            };
            // A reservation made under another address (`--from` changed) is not reused.
            if let Some(serial) = reserved
                .as_deref()
                .and_then(|m| m.strip_prefix(&prefix))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
            {
                serials.push(Some(serial));
                continue;
            }
            let (serial, msgid) = loop {
                let serial = next as u32;
                let candidate = format!("{prefix}{serial:08x}");
                next = (next + 1) & 0xFFFF_FFFF;
                let seen: bool = tx
                    .prepare_cached(
                        "SELECT EXISTS(SELECT 1 FROM stories WHERE msgid = ?1)
                             OR EXISTS(SELECT 1 FROM ftn_ledger WHERE msgid = ?1)",
                    )
                    .ctx("prepare msgid check")?
                    .query_row([&candidate], |r| r.get(0))
                    .ctx("check msgid")?;
                if !seen {
                    break (serial, candidate);
                }
            };
            tx.prepare_cached(
                "INSERT INTO ftn_ledger (story_id, area, msgid, posted_at, sent) VALUES (?1, ?2, ?3, ?4, 0)
                 ON CONFLICT(story_id, area) DO UPDATE SET msgid = excluded.msgid,
                     posted_at = excluded.posted_at WHERE NOT ftn_ledger.sent",
            )
            .ctx("prepare reserve")?
            .execute(params![id, area, msgid, ts(now)])
            .ctx("reserve msgid")?;
            serials.push(Some(serial));
        }
        let last_given = (next - 1).rem_euclid(1 << 32);
        tx.prepare_cached(
            "INSERT INTO ftn_serials (address, last) VALUES (?1, ?2)
             ON CONFLICT(address) DO UPDATE SET last = excluded.last",
        )
        .ctx("prepare serial")?
        .execute(params![address, last_given])
        .ctx("write serial")?;
        tx.commit().ctx("commit reserve")?;
        Ok(serials)
    }

    /// Record that the stories reserved by [`Store::ledger_reserve`] went out (their packet
    /// is written): they are not posted to `area` again.
    pub fn ledger_confirm(&mut self, ids: &[StoryId], area: &str, at: DateTime<Utc>) -> Result<()> {
        self.ledger_update(
            "UPDATE ftn_ledger SET sent = 1, posted_at = ?3 WHERE story_id = ?1 AND area = ?2",
            ids,
            area,
            &ts(at),
        )
    }

    /// Record that the stories reserved by [`Store::ledger_reserve`] are about to be written
    /// to the packet `packet` (a path), before it gets that name.
    pub fn ledger_set_packet(&mut self, ids: &[StoryId], area: &str, packet: &str) -> Result<()> {
        self.ledger_update(
            "UPDATE ftn_ledger SET packet = ?3 WHERE story_id = ?1 AND area = ?2 AND NOT sent",
            ids,
            area,
            &packet,
        )
    }

    /// `sql` (parameters: story, area, `value`) for each of `ids`, in one transaction.
    fn ledger_update(
        &mut self,
        sql: &str,
        ids: &[StoryId],
        area: &str,
        value: &dyn rusqlite::ToSql,
    ) -> Result<()> {
        let tx = self.conn.transaction().ctx("begin ledger")?;
        {
            let mut stmt = tx.prepare_cached(sql).ctx("prepare ledger")?;
            for id in ids {
                stmt.execute(params![id, area, value]).ctx("write ledger")?;
            }
        }
        tx.commit().ctx("commit ledger")
    }

    /// Reservations in `area` not confirmed that name the packet they were being written to:
    /// (story, MSGID, packet path), in story order.
    pub fn ledger_unconfirmed(&self, area: &str) -> Result<Vec<(StoryId, String, Option<String>)>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT story_id, msgid, packet FROM ftn_ledger
                 WHERE area = ?1 AND NOT sent ORDER BY story_id",
            )
            .ctx("prepare ledger")?;
        let rows = stmt
            .query_map([area], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .ctx("read ledger")?;
        rows.map(|r| r.ctx("read ledger")).collect()
    }

    pub fn watch_last_viewed(&self, name: &str) -> Result<Option<DateTime<Utc>>> {
        self.conn
            .prepare_cached("SELECT last_viewed FROM watch_state WHERE name = ?1")
            .ctx("prepare watch")?
            .query_row([name], |r| r.get::<_, i64>(0))
            .optional()
            .ctx("read watch")
            .map(|v| v.map(from_ts))
    }

    pub fn set_watch_viewed(&self, name: &str, at: DateTime<Utc>) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO watch_state VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET last_viewed = excluded.last_viewed",
            )
            .ctx("prepare watch")?
            .execute(params![name, ts(at)])
            .ctx("write watch")?;
        Ok(())
    }
}

fn source_state_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SourceState> {
    Ok(SourceState {
        id: r.get(0)?,
        name: r.get(1)?,
        location: r.get(2)?,
        etag: r.get(3)?,
        last_modified: r.get(4)?,
        last_attempt: r.get::<_, Option<i64>>(5)?.map(from_ts),
        last_success: r.get::<_, Option<i64>>(6)?.map(from_ts),
        last_error: r.get(7)?,
        next_fetch_after: r.get::<_, Option<i64>>(8)?.map(from_ts),
    })
}

/// A story row and its stored tagger verdict (JSON).
fn story_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(StoryRecord, String)> {
    let links: String = r.get(3)?;
    let kind: String = r.get(8)?;
    let record = StoryRecord {
        id: r.get(0)?,
        title: r.get(1)?,
        body: r.get(2)?,
        links: serde_json::from_str(&links).unwrap_or_default(),
        link: r.get(4)?,
        published: r.get::<_, Option<i64>>(5)?.map(from_ts),
        first_seen: from_ts(r.get(6)?),
        author: r.get(7)?,
        kind: kind.parse().unwrap_or(StoryKind::Feed),
        kinds: Vec::new(),
        area: r.get(9)?,
        areas: Vec::new(),
        origin: r.get(10)?,
        read: r.get(11)?,
        starred: r.get(12)?,
        sources: Vec::new(),
        tags: Vec::new(),
    };
    Ok((record, r.get(13)?))
}

/// One automatic tag as kept in `stories.auto_tags`.
#[derive(Serialize, serde::Deserialize)]
struct StoredAutoTag {
    tag: String,
    score: Option<f32>,
    #[serde(default)]
    evidence: Vec<Evidence>,
}

/// [`StoredAutoTag`] without its evidence, which is skipped unparsed.
#[derive(serde::Deserialize)]
struct BriefAutoTag {
    tag: String,
    score: Option<f32>,
}

/// The JSON kept for a story's automatic tags, with the strongest few mentions of each.
/// Written by hand: it is made for every story a sync stores, and serde's generic path cost
/// as much as a tenth of the store writer's time. A test checks it equals serde's output.
fn auto_tags_json(tags: &[AutoTag]) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(64 + tags.len() * 160);
    out.push(b'[');
    let mut evidence: Vec<&Evidence> = Vec::new();
    for (i, t) in tags.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"tag\":");
        json_tag(&mut out, &t.tag);
        out.extend_from_slice(b",\"score\":");
        json_f32(&mut out, t.score);
        out.extend_from_slice(b",\"evidence\":[");
        // The strongest few mentions explain a tag; all of them made the evidence as
        // large as the story itself and showed in ingest time.
        evidence.clear();
        evidence.extend(t.evidence.iter());
        evidence.sort_by(|a, b| b.weight.total_cmp(&a.weight));
        evidence.truncate(MAX_EVIDENCE);
        for (j, e) in evidence.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"phrase\":");
            json_str(&mut out, &e.phrase);
            out.extend_from_slice(match e.field {
                TextField::Title => b",\"field\":\"title\",\"start\":",
                TextField::Body => b",\"field\":\"body\",\"start\":",
            });
            json_u64(&mut out, e.start as u64);
            out.extend_from_slice(b",\"end\":");
            json_u64(&mut out, e.end as u64);
            out.extend_from_slice(b",\"weight\":");
            json_f32(&mut out, e.weight);
            out.push(b'}');
        }
        out.extend_from_slice(b"]}");
    }
    out.push(b']');
    // Only whole UTF-8 strings and ASCII went in.
    String::from_utf8(out).unwrap_or_else(|_| "[]".into())
}

/// A tag as a JSON string, as its `Display` form, without formatting it first.
fn json_tag(out: &mut Vec<u8>, tag: &Tag) {
    let prefix: &[u8] = match tag.kind {
        TagKind::Country => b"country:",
        TagKind::Policy => b"policy:",
        TagKind::Free => b"",
    };
    if plain_json(&tag.value) {
        out.push(b'"');
        out.extend_from_slice(prefix);
        out.extend_from_slice(tag.value.as_bytes());
        out.push(b'"');
    } else {
        json_str(out, &tag.to_string());
    }
}

/// True when `s` goes into a JSON string as it is.
fn plain_json(s: &str) -> bool {
    s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\')
}

/// A JSON string: copied as it is when nothing in it needs escaping (the usual case).
fn json_str(out: &mut Vec<u8>, s: &str) {
    if plain_json(s) {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

fn json_u64(out: &mut Vec<u8>, n: u64) {
    use serde_json::ser::Formatter;
    let _ = serde_json::ser::CompactFormatter.write_u64(out, n);
}

/// As serde_json writes an `f32`, `null` when not finite.
fn json_f32(out: &mut Vec<u8>, x: f32) {
    use serde_json::ser::Formatter;
    if x.is_finite() {
        let _ = serde_json::ser::CompactFormatter.write_f32(out, x);
    } else {
        out.extend_from_slice(b"null");
    }
}

/// How much of a story to read: evidence JSON is the costly part and only views need it.
#[derive(Clone, Copy)]
enum Detail {
    Full,
    Brief,
}

enum Change {
    New,
    Updated,
    Unchanged,
    /// A repeated MSGID on a different message: not stored.
    Duplicate,
}

/// The key a story is known by within its source: guid, else canonical link, else a hash of
/// its title (an item with neither guid nor link is identified by what it says).
fn source_key(story: &ParsedStory, canonical: Option<&str>) -> String {
    if let Some(g) = story.guid.as_deref().filter(|g| !g.is_empty()) {
        return format!("guid:{g}");
    }
    if let Some(c) = canonical {
        return format!("link:{c}");
    }
    format!("title:{}", blake3::hash(story.title.as_bytes()).to_hex())
}

fn content_hash(s: &ParsedStory) -> Vec<u8> {
    let mut h = blake3::Hasher::new();
    for part in [
        s.title.as_str(),
        s.body.as_str(),
        s.link.as_deref().unwrap_or(""),
        s.author.as_deref().unwrap_or(""),
    ] {
        h.update(part.as_bytes());
        h.update(&[0]);
    }
    h.update(
        &s.published
            .map(|p| p.timestamp())
            .unwrap_or(i64::MIN)
            .to_le_bytes(),
    );
    h.finalize().as_bytes()[..16].to_vec()
}

/// Store one story; returns what happened and the id if it was queued for the index.
/// The statements nearly every story of a batch runs, prepared once per batch: finding each
/// in the statement cache (a hash of its SQL) and handing it back cost more than some of them
/// take to run.
struct HotStatements<'tx> {
    by_guid: rusqlite::CachedStatement<'tx>,
    read_hash: rusqlite::CachedStatement<'tx>,
    by_link: rusqlite::CachedStatement<'tx>,
    insert_story: rusqlite::CachedStatement<'tx>,
    link_source: rusqlite::CachedStatement<'tx>,
    queue: rusqlite::CachedStatement<'tx>,
}

impl<'tx> HotStatements<'tx> {
    fn prepare(tx: &'tx Transaction<'_>) -> Result<Self> {
        let prepare = |sql: &str| tx.prepare_cached(sql).ctx("prepare batch statement");
        Ok(Self {
            by_guid: prepare("SELECT story_id FROM story_sources WHERE source_id = ?1 AND guid = ?2")?,
            read_hash: prepare("SELECT content_hash, primary_source FROM stories WHERE id = ?1")?,
            by_link: prepare("SELECT id FROM stories WHERE canonical_link = ?1")?,
            // Not `RETURNING id`: SQLite runs that through an ephemeral table, which cost
            // about as much as the insert itself; the id is `last_insert_rowid`.
            insert_story: prepare(
                "INSERT INTO stories (canonical_link, msgid, link, title, body, links, published,
                    first_seen, updated, author, kind, area, origin, content_hash, primary_source,
                    auto_tags)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            )?,
            link_source: prepare(
                "INSERT INTO story_sources (story_id, source_id, guid, kind, area, first_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(story_id, source_id) DO NOTHING",
            )?,
            queue: prepare(QUEUE_SQL)?,
        })
    }
}

fn ingest_one(
    tx: &Transaction<'_>,
    hot: &mut HotStatements<'_>,
    source: SourceId,
    source_tags: &[Tag],
    inc: &Incoming,
    now: i64,
) -> Result<(Change, Option<StoryId>)> {
    let story = &inc.story;
    let canonical = story.link.as_deref().and_then(canonical_link);
    let key = source_key(story, canonical.as_deref());
    let msgid = match story.kind {
        StoryKind::Echomail => story.guid.clone(),
        StoryKind::Feed => None,
    };
    let hash = content_hash(story);

    let known: Option<StoryId> = hot
        .by_guid
        .query_row(params![source, key], |r| r.get(0))
        .optional()
        .ctx("look up by guid")?;

    if let Some(id) = known {
        let (old_hash, primary): (Vec<u8>, SourceId) = hot
            .read_hash
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .ctx("read hash")?;
        if old_hash == hash {
            return Ok((Change::Unchanged, None));
        }
        // A feed may rewrite an item under the same guid, but echomail is never edited: a
        // MSGID on another message is a dupe (FTS-0009), and taking it as an update lost the
        // first message. The same message read again differently (a newer reader) still updates.
        if let Some(m) = msgid.as_deref()
            && !same_message(tx, id, source, story, canonical.as_deref())?
        {
            warn_duplicate(m, id, story);
            return Ok((Change::Duplicate, None));
        }
        // Only the source that first carried a story rewrites its text; a second copy (the
        // echo of a feed item) must not flip it back and forth.
        if primary != source {
            return Ok((Change::Unchanged, None));
        }
        update_story(tx, id, story, canonical.as_deref(), &hash, now)?;
        write_auto_tags(tx, id, &inc.auto_tags)?;
        write_source_tags(tx, id, source_tags)?;
        hot.queue.execute([id]).ctx("queue story")?;
        return Ok((Change::Updated, Some(id)));
    }

    // Same story from another source: by canonical link, or by MSGID for echomail.
    let mut existing: Option<StoryId> = None;
    if let Some(c) = canonical.as_deref() {
        existing = hot
            .by_link
            .query_row([c], |r| r.get(0))
            .optional()
            .ctx("look up by link")?;
    }
    if existing.is_none()
        && let Some(m) = msgid.as_deref()
    {
        existing = story_with_msgid(tx, m)?;
        // Found by MSGID alone, yet another message: a dupe from another source.
        if let Some(id) = existing
            && !same_message(tx, id, source, story, canonical.as_deref())?
        {
            warn_duplicate(m, id, story);
            return Ok((Change::Duplicate, None));
        }
    }

    let (id, change) = match existing {
        Some(id) => {
            if let Some(m) = msgid.as_deref() {
                // Found by link, its MSGID may already be another story's (a gateway that
                // reused serials): the story joins by link and that MSGID stays where it is.
                let attached = tx
                    .prepare_cached(
                        "UPDATE stories SET msgid = ?2 WHERE id = ?1 AND msgid IS NULL
                           AND NOT EXISTS (SELECT 1 FROM stories WHERE msgid = ?2)",
                    )
                    .ctx("prepare msgid")?
                    .execute(params![id, m])
                    .ctx("attach msgid")?;
                if attached == 0
                    && let Some(owner) = story_with_msgid(tx, m)?.filter(|o| *o != id)
                {
                    tracing::warn!(
                        "MSGID {m} of {:?} already belongs to story {owner}; joined story {id} by its link",
                        story.title
                    );
                }
            }
            // A feed's own text reads better than an echomail copy of it (a gateway's
            // "Description:" and "Link to news story:" lines, cut lines, a charset's losses):
            // a feed takes over a story an echo brought first. Only this way, so the text
            // never flips back.
            if story.kind == StoryKind::Feed && primary_kind(tx, id)? == StoryKind::Echomail {
                update_story(tx, id, story, canonical.as_deref(), &hash, now)?;
                tx.prepare_cached(
                    "UPDATE stories SET primary_source = ?2, kind = 'feed' WHERE id = ?1",
                )
                .ctx("prepare take over")?
                .execute(params![id, source])
                .ctx("take over story")?;
                write_auto_tags(tx, id, &inc.auto_tags)?;
                (id, Change::Updated)
            } else {
                (id, Change::Unchanged)
            }
        }
        None => {
            hot.insert_story
                .execute(params![
                    canonical,
                    msgid,
                    story.link,
                    story.title,
                    story.body,
                    serde_json::to_string(&story.links).unwrap_or_else(|_| "[]".into()),
                    story.published.map(ts),
                    now,
                    story.author,
                    story.kind.as_str(),
                    story.area,
                    story.origin,
                    hash,
                    source,
                    auto_tags_json(&inc.auto_tags)
                ])
                .ctx("insert story")?;
            let id: StoryId = tx.last_insert_rowid();
            (id, Change::New)
        }
    };
    hot.link_source
        .execute(params![
            id,
            source,
            key,
            story.kind.as_str(),
            story.area,
            now
        ])
        .ctx("link story to source")?;
    if let Some(area) = story.area.as_deref() {
        tx.prepare_cached("INSERT OR IGNORE INTO story_areas (story_id, area) VALUES (?1, ?2)")
            .ctx("prepare story area")?
            .execute(params![id, area])
            .ctx("record story area")?;
    }
    write_source_tags(tx, id, source_tags)?;
    hot.queue.execute([id]).ctx("queue story")?;
    Ok((change, Some(id)))
}

/// Whether `story`, from `source`, is the message stored as `id` (or an echo of it) read
/// again, perhaps by a newer reader: the same title or the same link, and the same author
/// when the stored text came from `source` too (elsewhere it may be a feed's author, or the
/// echo's poster: a gateway). A message that only shares a MSGID with it differs in title
/// and link, as different posts do.
fn same_message(
    tx: &Transaction<'_>,
    id: StoryId,
    source: SourceId,
    story: &ParsedStory,
    canonical: Option<&str>,
) -> Result<bool> {
    let (title, author, link, primary): (String, Option<String>, Option<String>, SourceId) = tx
        .prepare_cached(
            "SELECT title, author, canonical_link, primary_source FROM stories WHERE id = ?1",
        )
        .ctx("prepare message lookup")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .ctx("read message")?;
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    let same_author = primary != source
        || norm(author.as_deref().unwrap_or("")) == norm(story.author.as_deref().unwrap_or(""));
    let same_title = norm(&title) == norm(&story.title);
    let same_link = link.is_some() && link.as_deref() == canonical;
    Ok(same_author && (same_title || same_link))
}

fn warn_duplicate(msgid: &str, kept: StoryId, story: &ParsedStory) {
    tracing::warn!(
        "duplicate MSGID {msgid}: {:?} dropped, story {kept} already has that MSGID",
        story.title
    );
}

fn story_with_msgid(tx: &Transaction<'_>, msgid: &str) -> Result<Option<StoryId>> {
    tx.prepare_cached("SELECT id FROM stories WHERE msgid = ?1")
        .ctx("prepare msgid lookup")?
        .query_row([msgid], |r| r.get(0))
        .optional()
        .ctx("look up by msgid")
}

fn update_story(
    tx: &Transaction<'_>,
    id: StoryId,
    s: &ParsedStory,
    canonical: Option<&str>,
    hash: &[u8],
    now: i64,
) -> Result<()> {
    // The canonical link may now collide with another story's; keep the old one then.
    tx.prepare_cached(
        "UPDATE stories SET link = ?2, title = ?3, body = ?4, links = ?5, published = ?6, updated = ?7,
            author = ?8, content_hash = ?9,
            canonical_link = CASE WHEN ?10 IS NULL OR EXISTS(SELECT 1 FROM stories WHERE canonical_link = ?10 AND id != ?1)
                                  THEN canonical_link ELSE ?10 END
         WHERE id = ?1",
    )
    .ctx("prepare update")?
    .execute(params![
        id,
        s.link,
        s.title,
        s.body,
        serde_json::to_string(&s.links).unwrap_or_else(|_| "[]".into()),
        s.published.map(ts),
        now,
        s.author,
        hash,
        canonical
    ])
    .ctx("update story")?;
    Ok(())
}

/// The kind of the source whose text a story holds.
fn primary_kind(tx: &Transaction<'_>, id: StoryId) -> Result<StoryKind> {
    let kind: String = tx
        .prepare_cached("SELECT kind FROM stories WHERE id = ?1")
        .ctx("prepare kind")?
        .query_row([id], |r| r.get(0))
        .ctx("read kind")?;
    Ok(if kind == StoryKind::Echomail.as_str() {
        StoryKind::Echomail
    } else {
        StoryKind::Feed
    })
}

/// Replace a story's automatic tags.
fn write_auto_tags(tx: &Transaction<'_>, id: StoryId, tags: &[AutoTag]) -> Result<()> {
    tx.prepare_cached("UPDATE stories SET auto_tags = ?2 WHERE id = ?1")
        .ctx("prepare auto tags")?
        .execute(params![id, auto_tags_json(tags)])
        .ctx("write auto tags")?;
    Ok(())
}

/// The id of the named source, writing it only when it is new or its location changed.
fn ensure_source_in(conn: &Connection, name: &str, location: &str) -> Result<SourceId> {
    let known: Option<(SourceId, String)> = conn
        .prepare_cached("SELECT id, location FROM sources WHERE name = ?1")
        .ctx("prepare find source")?
        .query_row([name], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .ctx("find source")?;
    match known {
        Some((id, known_location)) if known_location == location => Ok(id),
        _ => {
            let id = conn
                .prepare_cached(
                    "INSERT INTO sources (name, location) VALUES (?1, ?2)
                     ON CONFLICT(name) DO UPDATE SET location = excluded.location
                     RETURNING id",
                )
                .ctx("prepare ensure_source")?
                .query_row(params![name, location], |r| r.get(0))
                .ctx("ensure source")?;
            if known.is_some() {
                // Stamps are of the files at the old location: were it used again, its files
                // would be skipped though nothing read them since.
                conn.prepare_cached("DELETE FROM source_files WHERE source_id = ?1")
                    .ctx("prepare drop moved file stamps")?
                    .execute([id])
                    .ctx("drop moved file stamps")?;
            }
            Ok(id)
        }
    }
}

/// Remember that `path` was read whole with this stamp. Paths that are not UTF-8 are not
/// remembered (they are read every time).
fn write_file_stamp(
    conn: &Connection,
    source: SourceId,
    path: &Path,
    stamp: FileStamp,
) -> Result<()> {
    let Some(path) = path.to_str() else {
        return Ok(());
    };
    conn.prepare_cached(
        "INSERT INTO source_files (source_id, path, size, modified_ns, changed_ns, inode, reader)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(source_id, path) DO UPDATE SET size = excluded.size,
             modified_ns = excluded.modified_ns, changed_ns = excluded.changed_ns,
             inode = excluded.inode, reader = excluded.reader",
    )
    .ctx("prepare file stamp")?
    .execute(params![
        source,
        path,
        stamp.size as i64,
        stamp.modified_ns,
        stamp.changed_ns,
        stamp.inode as i64,
        stamp.reader as i64
    ])
    .ctx("record file stamp")?;
    Ok(())
}

/// Write how one fetch attempt ended. Validators are kept exactly as the server sent them.
fn write_fetch(
    conn: &Connection,
    id: SourceId,
    at: DateTime<Utc>,
    record: &FetchRecord,
) -> Result<()> {
    let now = ts(at);
    match record {
        FetchRecord::Success {
            etag,
            last_modified,
        }
        | FetchRecord::Unchanged {
            etag,
            last_modified,
        } => {
            conn.prepare_cached(
                "UPDATE sources SET etag = ?2, last_modified = ?3, last_attempt = ?4,
                     last_success = ?4, last_error = NULL, next_fetch_after = NULL WHERE id = ?1",
            )
            .ctx("prepare record_fetch")?
            .execute(params![id, etag, last_modified, now])
            .ctx("record fetch success")?;
        }
        FetchRecord::Failure { error, retry_after } => {
            conn.prepare_cached(
                "UPDATE sources SET last_attempt = ?2, last_error = ?3, next_fetch_after = ?4
                     WHERE id = ?1",
            )
            .ctx("prepare record_fetch")?
            .execute(params![id, now, error, retry_after.map(ts)])
            .ctx("record fetch failure")?;
        }
    }
    Ok(())
}

/// Mentions kept per automatic tag.
const MAX_EVIDENCE: usize = 3;

fn write_source_tags(tx: &Transaction<'_>, id: StoryId, tags: &[Tag]) -> Result<()> {
    if tags.is_empty() {
        return Ok(());
    }
    let mut stmt = tx
        .prepare_cached("INSERT OR IGNORE INTO tags (story_id, tag, provenance, present) VALUES (?1, ?2, 'source', 1)")
        .ctx("prepare source tag")?;
    for t in tags {
        stmt.execute(params![id, t.to_string()])
            .ctx("write source tag")?;
    }
    Ok(())
}

const QUEUE_SQL: &str = "INSERT OR IGNORE INTO index_queue VALUES (?1)";

fn queue(tx: &Transaction<'_>, id: StoryId) -> Result<()> {
    tx.prepare_cached(QUEUE_SQL)
        .ctx("prepare queue")?
        .execute([id])
        .ctx("queue story")?;
    Ok(())
}

#[cfg(test)]
mod tests;

//! The search index: tantivy under `<data>/tantivy`, derived from the store and rebuildable.
//!
//! Title and body are stemmed English text; id, source, kind, area, country, policy and tag
//! are exact keyword fields (lower-cased, fast) so counts per value come straight from the
//! index; `published` is a fast date field for ranges and `recency` (date, then id) a unique
//! key for newest-first lists, readable from either end. The document shape is
//! [`IndexDoc`], deliberately small, so another engine could be fed the same documents.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tantivy::aggregation::AggregationCollector;
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::agg_result::{AggregationResult, AggregationResults, BucketResult};
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScorer, EmptyQuery, EnableScoring, Explanation,
    FuzzyTermQuery, Occur, Query, QueryParser, QueryParserError, Scorer, TermQuery, Weight,
};
use tantivy::query_grammar::{UserInputAst, UserInputLeaf, UserInputLiteral};
use tantivy::schema::{
    DateOptions, DateTimePrecision, Field, INDEXED, IndexRecordOption, STORED, Schema,
    TextFieldIndexing, TextOptions,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::tokenizer::{LowerCaser, RawTokenizer, TextAnalyzer};
use tantivy::{
    DocId, DocSet, Index, IndexReader, IndexWriter, Order, ReloadPolicy, Score, SegmentReader,
    TERMINATED, TantivyDocument, Term,
};

mod names;
mod stem;

/// The analyzer of title and body, for highlighting what a query matched the same way.
pub use stem::english_analyzer;

use crate::model::StoryKind;
use crate::model::{Tag, TagKind};
use crate::store::{Incoming, StoryId, StoryRecord};

/// Bumped whenever the schema below changes: an index of another version is rebuilt.
/// 2: only id, title, link and author are stored; hits come from fast fields.
/// 3: `recency`, a unique newest-first sort key, so deep pages can be read from the far end.
/// 4: `recency` with 34 bits of seconds and 30 of id (was 36 and 28).
/// 5: title and body through [`TEXT_ANALYZER`]: each Han, Hiragana or Katakana character a
///    token (they were whole runs, so a Chinese word inside one could not be found).
const SCHEMA_VERSION: &str = "5";
/// The analyzer of title and body (see [`stem`]). Not tantivy's `en_stem`, whose tokens it
/// no longer matches: the schema names it, so an index made with the old one never passes
/// for current, and a missing registration fails loudly instead of falling back to tantivy's.
const TEXT_ANALYZER: &str = "en_stem_cjk";
const WRITER_HEAP: usize = 40 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("search index {path}: {source}")]
    Tantivy {
        path: PathBuf,
        #[source]
        source: tantivy::TantivyError,
    },
    #[error("search index {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("bad query: {0}")]
    Query(String),
    #[error("cannot read which stories are read or starred: {0}")]
    Flags(String),
    #[error("search index is locked by another echowatch writer (waited {0:?})")]
    Locked(Duration),
}

type Result<T> = std::result::Result<T, IndexError>;

/// The exact-value fields a query or a facet can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FacetField {
    Country,
    Policy,
    Tag,
    Source,
    Kind,
    Area,
}

impl FacetField {
    pub const ALL: [FacetField; 6] = [
        FacetField::Country,
        FacetField::Policy,
        FacetField::Tag,
        FacetField::Source,
        FacetField::Kind,
        FacetField::Area,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FacetField::Country => "country",
            FacetField::Policy => "policy",
            FacetField::Tag => "tag",
            FacetField::Source => "source",
            FacetField::Kind => "kind",
            FacetField::Area => "area",
        }
    }
}

/// What the index holds of a story.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexDoc {
    pub id: StoryId,
    pub title: String,
    pub body: String,
    pub published: DateTime<Utc>,
    pub first_seen: DateTime<Utc>,
    pub link: Option<String>,
    pub author: Option<String>,
    pub sources: Vec<String>,
    pub kinds: Vec<StoryKind>,
    /// Every echo area it came in.
    pub areas: Vec<String>,
    pub countries: Vec<String>,
    pub policies: Vec<String>,
    pub tags: Vec<String>,
}

impl From<&StoryRecord> for IndexDoc {
    fn from(s: &StoryRecord) -> Self {
        IndexDoc {
            id: s.id,
            title: s.title.clone(),
            body: s.body.clone(),
            published: s.date(),
            first_seen: s.first_seen,
            link: s.link.clone(),
            author: s.author.clone(),
            sources: s.sources.clone(),
            kinds: s.kinds.clone(),
            areas: s.areas.clone(),
            countries: s.countries(),
            policies: s.policies(),
            tags: s.free_tags(),
        }
    }
}

impl IndexDoc {
    /// The document of a story just created from `incoming` by the source `source` (with its
    /// default tags), first seen at `first_seen`: the same document [`IndexDoc::from`] makes
    /// of the stored record, without reading it back.
    pub fn new_story(
        id: StoryId,
        incoming: &Incoming,
        source: &str,
        source_tags: &[Tag],
        first_seen: DateTime<Utc>,
    ) -> IndexDoc {
        let s = &incoming.story;
        let tags: std::collections::BTreeSet<&Tag> = incoming
            .auto_tags
            .iter()
            .map(|t| &t.tag)
            .chain(source_tags)
            .collect();
        let values = |kind: TagKind| -> Vec<String> {
            tags.iter()
                .filter(|t| t.kind == kind)
                .map(|t| t.value.clone())
                .collect()
        };
        // The store keeps whole seconds.
        let secs = |t: DateTime<Utc>| DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t);
        let first_seen = secs(first_seen);
        IndexDoc {
            id,
            title: s.title.clone(),
            body: s.body.clone(),
            published: s.published.map(secs).unwrap_or(first_seen),
            first_seen,
            link: s.link.clone(),
            author: s.author.clone(),
            sources: vec![source.to_string()],
            kinds: vec![s.kind],
            areas: s.area.iter().cloned().collect(),
            countries: values(TagKind::Country),
            policies: values(TagKind::Policy),
            tags: values(TagKind::Free),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    #[default]
    Relevance,
    Newest,
}

/// A search: the user's query text, exact filters (facet drill-down), order and page.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub query: String,
    pub filters: Vec<(FacetField, String)>,
    pub sort: Sort,
    pub offset: usize,
    pub limit: usize,
}

/// A highlighted excerpt: text and the byte ranges of matched terms in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snippet {
    pub text: String,
    pub highlights: Vec<std::ops::Range<usize>>,
}

/// One result: what ranking and paging need. Everything shown about a story is read from the
/// store, for the rows on screen only.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: StoryId,
    pub score: f32,
    pub published: DateTime<Utc>,
}

/// Makes highlighted excerpts of texts for one query (see [`SearchIndex::snippets`]).
pub struct Snippets {
    generator: SnippetGenerator,
}

impl Snippets {
    pub fn of(&self, text: &str) -> Snippet {
        let s = self.generator.snippet(text);
        Snippet {
            text: s.fragment().to_string(),
            highlights: s.highlighted().to_vec(),
        }
    }
}

/// The fast field newest-first lists are sorted by.
const RECENCY: &str = "recency";

/// Offsets from which a newest-first page counts the matches first, to read it from whichever
/// end is nearer. Below it the extra counting pass would cost more than it saves.
const FAR_PAGE: usize = 5_000;

/// A unique sort key: publication time, then story id. Sorting by the date alone leaves ties to
/// tantivy, which breaks them by document address in both directions, so a page read from the
/// other end would not mirror the same order. 34 bits of seconds (1698 to 2242; dates outside
/// are clamped to the ends) above 30 bits of id (ids are SQLite rowids, counting from 1; from
/// 2^30 on, stories of the same second would no longer be ordered by id).
fn recency_key(published: DateTime<Utc>, id: StoryId) -> u64 {
    const ID_BITS: u32 = 30;
    const HALF: i64 = 1 << 33;
    let secs = published.timestamp().clamp(-HALF, HALF - 1) + HALF;
    ((secs as u64) << ID_BITS) | (id as u64 & ((1 << ID_BITS) - 1))
}

/// Which stretch of the oldest-first or newest-first order holds positions
/// `offset..offset + limit` of the newest-first list of `total` matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PageWindow {
    oldest_first: bool,
    skip: usize,
    take: usize,
}

impl PageWindow {
    fn of(total: usize, offset: usize, limit: usize) -> PageWindow {
        let end = offset.saturating_add(limit).min(total);
        let take = end.saturating_sub(offset);
        // Newest-first position p is oldest-first position total - 1 - p.
        if total - end < offset {
            PageWindow {
                oldest_first: true,
                skip: total - end,
                take,
            }
        } else {
            PageWindow {
                oldest_first: false,
                skip: offset,
                take,
            }
        }
    }
}

/// The `id` and `published` fast-field columns of each segment, opened on first use.
struct HitColumns<'s> {
    searcher: &'s tantivy::Searcher,
    segments: BTreeMap<
        u32,
        (
            tantivy::columnar::Column<u64>,
            tantivy::columnar::Column<tantivy::DateTime>,
        ),
    >,
}

impl<'s> HitColumns<'s> {
    fn new(searcher: &'s tantivy::Searcher) -> Self {
        HitColumns {
            searcher,
            segments: BTreeMap::new(),
        }
    }

    fn read(&mut self, addr: tantivy::DocAddress) -> tantivy::Result<(StoryId, DateTime<Utc>)> {
        let (ids, dates) = match self.segments.entry(addr.segment_ord) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => {
                let fast = self.searcher.segment_reader(addr.segment_ord).fast_fields();
                v.insert((fast.u64("id")?, fast.date("published")?))
            }
        };
        let id = ids.first(addr.doc_id).unwrap_or(0) as StoryId;
        let published = dates
            .first(addr.doc_id)
            .and_then(|d| DateTime::from_timestamp(d.into_timestamp_secs(), 0))
            .unwrap_or_default();
        Ok((id, published))
    }
}

#[derive(Debug, Clone, Default)]
pub struct SearchPage {
    pub total: usize,
    pub hits: Vec<Hit>,
}

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    title: Field,
    body: Field,
    published: Field,
    recency: Field,
    seen: Field,
    link: Field,
    author: Field,
    country: Field,
    policy: Field,
    tag: Field,
    source: Field,
    kind: Field,
    area: Field,
}

impl Fields {
    fn facet(&self, f: FacetField) -> Field {
        match f {
            FacetField::Country => self.country,
            FacetField::Policy => self.policy,
            FacetField::Tag => self.tag,
            FacetField::Source => self.source,
            FacetField::Kind => self.kind,
            FacetField::Area => self.area,
        }
    }
}

fn build_schema() -> (Schema, Fields) {
    build_schema_with(TEXT_ANALYZER)
}

/// The schema, with title and body analyzed by `text_analyzer` (tests build older indexes).
fn build_schema_with(text_analyzer: &str) -> (Schema, Fields) {
    let mut b = Schema::builder();
    // The store is the system of record: the index keeps only what search and counts need.
    // The body is indexed but not stored (snippets are made from the store's text), and hits
    // are read from fast fields, so a page of results never touches the document store.
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(text_analyzer)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let keyword = TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("keyword")
                .set_index_option(IndexRecordOption::Basic),
        )
        .set_fast(Some("keyword"));
    let date = DateOptions::from(INDEXED)
        .set_fast()
        .set_precision(DateTimePrecision::Seconds);
    let fields = Fields {
        id: b.add_u64_field("id", INDEXED | STORED | tantivy::schema::FAST),
        title: b.add_text_field("title", text.clone().set_stored()),
        body: b.add_text_field("body", text),
        published: b.add_date_field("published", date.clone()),
        recency: b.add_u64_field("recency", tantivy::schema::FAST),
        seen: b.add_date_field("seen", date),
        link: b.add_text_field("link", STORED),
        author: b.add_text_field("author", STORED),
        country: b.add_text_field("country", keyword.clone()),
        policy: b.add_text_field("policy", keyword.clone()),
        tag: b.add_text_field("tag", keyword.clone()),
        source: b.add_text_field("source", keyword.clone()),
        kind: b.add_text_field("kind", keyword.clone()),
        area: b.add_text_field("area", keyword),
    };
    (b.build(), fields)
}

/// Read the last page of every index file, all at once. Opening the index reads each file's
/// footer, one after another; from a cold disk (the page cache reclaimed overnight) that was
/// one ~4 ms read per file, 48 files for a million stories: most of a cold start. Reads in
/// parallel cost one latency instead. Failures are ignored: tantivy reports real ones.
fn prefetch_footers(dir: &Path) {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .collect();
    let threads = files.len().clamp(1, 16);
    std::thread::scope(|scope| {
        for chunk in files.chunks(files.len().div_ceil(threads).max(1)) {
            scope.spawn(move || {
                let mut page = [0u8; 4096];
                for path in chunk {
                    if let Ok(mut f) = std::fs::File::open(path) {
                        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                        let _ = f.seek(SeekFrom::Start(len.saturating_sub(page.len() as u64)));
                        let _ = f.read(&mut page);
                    }
                }
            });
        }
    });
}

fn register_tokenizers(index: &Index) {
    let keyword = || {
        TextAnalyzer::builder(RawTokenizer::default())
            .filter(LowerCaser)
            .build()
    };
    index.tokenizers().register("keyword", keyword());
    index
        .tokenizers()
        .register(TEXT_ANALYZER, stem::english_analyzer());
    index.fast_field_tokenizer().register("keyword", keyword());
}

pub struct SearchIndex {
    dir: PathBuf,
    index: Index,
    reader: IndexReader,
    fields: Fields,
    /// Where `is:read`, `is:unread` and `is:starred` look (see [`StoryFlags`]).
    flags: Option<Arc<dyn StoryFlags>>,
    /// The policy ids the tagger's rules know (see [`PolicyIds`]).
    policy_ids: Option<PolicyIds>,
}

/// The policy ids the rules know, the built-in ones and any a user rules file adds: asked
/// only when a query names a policy no story has (`policy:entity`), to tell a policy that
/// just has no stories yet from a typo, and to suggest the closest.
pub type PolicyIds = Arc<dyn Fn() -> Vec<String> + Send + Sync>;

/// Which stories are read and which starred, for the query words `is:read`, `is:unread` and
/// `is:starred`. The flags live in the store and change all the time (opening a story marks
/// it read): indexing them would rewrite a story's document for each. A query that names
/// one asks for the flagged ids when it runs, and tests them against each candidate's id.
pub trait StoryFlags: Send + Sync {
    /// The ids of the stories that have `flag`.
    fn ids(&self, flag: Flag) -> std::result::Result<Arc<IdSet>, String>;
}

/// A flag of a story, kept in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flag {
    Read,
    Starred,
}

/// Story ids, tested once per candidate document. A bitmap over the ids (SQLite rowids,
/// dense from 1: 125 KB for a million stories); a sorted list only for a few ids so large
/// that their bitmap would pass 2 MB (16 million stories), which a store does not reach.
#[derive(Debug)]
pub struct IdSet(Ids);

#[derive(Debug)]
enum Ids {
    Bits(Vec<u64>),
    Sorted(Vec<u64>),
}

impl IdSet {
    pub fn new(ids: &[StoryId]) -> IdSet {
        let ids: Vec<u64> = ids
            .iter()
            .filter_map(|&id| u64::try_from(id).ok())
            .collect();
        let words = ids.iter().max().map_or(0, |max| max / 64 + 1);
        if words <= (8 * ids.len() as u64).max(1 << 18) {
            let mut bits = vec![0u64; words as usize];
            for id in ids {
                if let Some(word) = bits.get_mut((id / 64) as usize) {
                    *word |= 1 << (id % 64);
                }
            }
            IdSet(Ids::Bits(bits))
        } else {
            let mut ids = ids;
            ids.sort_unstable();
            ids.dedup();
            IdSet(Ids::Sorted(ids))
        }
    }

    fn contains(&self, id: u64) -> bool {
        match &self.0 {
            Ids::Bits(bits) => bits
                .get((id / 64) as usize)
                .is_some_and(|word| word & (1 << (id % 64)) != 0),
            Ids::Sorted(ids) => ids.binary_search(&id).is_ok(),
        }
    }
}

/// The words `is:` takes: each names a flag and whether it is set.
const FLAG_WORDS: [(&str, Flag, bool); 3] = [
    ("starred", Flag::Starred, true),
    ("unread", Flag::Read, false),
    ("read", Flag::Read, true),
];

/// `is:WORD`: the flag and the value it asks for. A start of a word is enough (`is:star`), so
/// the list follows as the word is typed in the interface; the words start differently.
fn flag_word(value: &str) -> Result<(Flag, bool)> {
    // tantivy leaves a prefix's star in the value (`is:star*`).
    let value = value.trim().trim_end_matches('*').to_lowercase();
    FLAG_WORDS
        .iter()
        .find(|(word, ..)| !value.is_empty() && word.starts_with(&value))
        .map(|&(_, flag, set)| (flag, set))
        .ok_or_else(|| {
            IndexError::Query(format!("is:{value}: use is:starred, is:unread or is:read"))
        })
}

/// The stories whose `flag` is `set`: each candidate document's id (a fast field) looked
/// up in the flagged ids. Lazy: inside a conjunction (`chip is:unread`) only the documents
/// the other clauses find are looked at; alone it is one pass over the id column.
#[derive(Debug, Clone)]
struct FlagQuery {
    /// The stories that have the flag.
    ids: Arc<IdSet>,
    /// Whether those are wanted, or all the others.
    set: bool,
}

impl Query for FlagQuery {
    fn weight(&self, _: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }
}

impl Weight for FlagQuery {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let ids = reader.fast_fields().u64("id")?.first_or_default_col(0);
        let docs = FlagDocs::new(ids, self.clone());
        Ok(Box::new(ConstScorer::new(docs, boost)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        if self.scorer(reader, 1.0)?.seek(doc) != doc {
            return Err(tantivy::TantivyError::InvalidArgument(format!(
                "document {doc} does not have the flag"
            )));
        }
        Ok(Explanation::new("is: flag", 1.0))
    }
}

/// Documents whose ids are read from the column a block at a time: one call through the
/// column's trait object per block, not per document (`is:starred` over a million documents
/// took 33 ms read one by one, 8 ms by blocks).
const FLAG_BLOCK: u32 = 128;
/// Documents looked at one at a time before reading blocks (see [`FlagDocs::settle`]).
const FLAG_NEAR: u32 = 16;

struct FlagDocs {
    ids: Arc<dyn tantivy::columnar::ColumnValues<u64>>,
    query: FlagQuery,
    doc: DocId,
    /// Documents in the segment that have an id (all of them).
    max_doc: DocId,
    /// The ids of the documents from `block_start` on, `block_len` of them.
    block: [u64; FLAG_BLOCK as usize],
    block_start: DocId,
    block_len: u32,
}

impl FlagDocs {
    fn new(ids: Arc<dyn tantivy::columnar::ColumnValues<u64>>, query: FlagQuery) -> FlagDocs {
        let max_doc = ids.num_vals();
        let mut docs = FlagDocs {
            ids,
            query,
            doc: 0,
            max_doc,
            block: [0; FLAG_BLOCK as usize],
            block_start: 0,
            block_len: 0,
        };
        docs.settle(0);
        docs
    }

    /// Move to the first matching document from `from` on.
    fn settle(&mut self, from: DocId) -> DocId {
        let set = &*self.query.ids;
        // A few documents one at a time first: asked by a conjunction (`chip is:unread`) about
        // a document of the other clause, the answer is usually that one or one close by, and
        // reading a whole block for each such question made `chip is:unread` 3 times slower.
        let mut doc = from;
        let near = from.saturating_add(FLAG_NEAR).min(self.max_doc);
        while doc < near {
            if set.contains(self.ids.get_val(doc)) == self.query.set {
                self.doc = doc;
                return doc;
            }
            doc += 1;
        }
        while doc < self.max_doc {
            if doc < self.block_start || doc >= self.block_start + self.block_len {
                self.block_start = doc - doc % FLAG_BLOCK;
                self.block_len = FLAG_BLOCK.min(self.max_doc - self.block_start);
                let block = &mut self.block[..self.block_len as usize];
                self.ids.get_range(u64::from(self.block_start), block);
            }
            let skip = (doc - self.block_start) as usize;
            let block = &self.block[skip..self.block_len as usize];
            match block
                .iter()
                .position(|&id| set.contains(id) == self.query.set)
            {
                Some(i) => {
                    self.doc = doc + i as DocId;
                    return self.doc;
                }
                None => doc = self.block_start + self.block_len,
            }
        }
        self.doc = TERMINATED;
        self.doc
    }
}

impl DocSet for FlagDocs {
    fn advance(&mut self) -> DocId {
        if self.doc == TERMINATED {
            return TERMINATED;
        }
        self.settle(self.doc + 1)
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.doc >= target {
            return self.doc;
        }
        self.settle(target)
    }

    fn doc(&self) -> DocId {
        self.doc
    }

    /// Unknown without a pass: the most it can be, so that in a conjunction the other
    /// clauses lead and this one is asked only about their documents.
    fn size_hint(&self) -> u32 {
        self.max_doc
    }
}

impl SearchIndex {
    /// Open the index in `dir`, or create it. Returns `true` as the second value when the
    /// index was (re)created empty, so the caller refills it from the store. An index that is
    /// missing, unreadable or of another schema version is rebuilt, never fatal.
    pub fn open_or_create(dir: &Path) -> Result<(SearchIndex, bool)> {
        let io = |source| IndexError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let tv = |source| IndexError::Tantivy {
            path: dir.to_path_buf(),
            source,
        };
        let (schema, fields) = build_schema();
        let version_file = dir.join("echowatch-schema");
        let current = std::fs::read_to_string(&version_file).ok();
        let opened = if current.as_deref() == Some(SCHEMA_VERSION) {
            prefetch_footers(dir);
            match Index::open_in_dir(dir) {
                Ok(index) if index.schema() == schema => Some(index),
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(
                        "search index {} unreadable ({e}); rebuilding it",
                        dir.display()
                    );
                    None
                }
            }
        } else {
            None
        };
        let (index, fresh) = match opened {
            Some(index) => (index, false),
            None => {
                if dir.exists() {
                    std::fs::remove_dir_all(dir).map_err(io)?;
                }
                std::fs::create_dir_all(dir).map_err(io)?;
                let index = Index::create_in_dir(dir, schema).map_err(tv)?;
                std::fs::write(&version_file, SCHEMA_VERSION).map_err(io)?;
                (index, true)
            }
        };
        register_tokenizers(&index);
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(tv)?;
        Ok((
            SearchIndex {
                dir: dir.to_path_buf(),
                index,
                reader,
                fields,
                flags: None,
                policy_ids: None,
            },
            fresh,
        ))
    }

    /// Where `is:read`, `is:unread` and `is:starred` look; without it they are refused.
    /// Handles made by [`Self::share`] afterwards share it.
    pub fn set_flags(&mut self, flags: Arc<dyn StoryFlags>) {
        self.flags = Some(flags);
    }

    /// Where `policy:` values are checked; without it, against the built-in rules.
    pub fn set_policy_ids(&mut self, policy_ids: PolicyIds) {
        self.policy_ids = Some(policy_ids);
    }

    fn tv(&self) -> impl Fn(tantivy::TantivyError) -> IndexError + '_ {
        |source| IndexError::Tantivy {
            path: self.dir.clone(),
            source,
        }
    }

    /// Take the single writer, waiting up to `wait` if another process (a cron `sync` while
    /// the interface is open) holds it. One indexing thread: during a sync the other core
    /// parses and writes the store, and two indexing threads measured slower there
    /// (BENCHMARKS.md).
    pub fn writer(&self, wait: Duration) -> Result<IndexUpdate<'_>> {
        self.writer_with_threads(wait, 1)
    }

    /// A writer with one indexing thread per core, for rebuilding the whole index.
    pub fn bulk_writer(&self, wait: Duration) -> Result<IndexUpdate<'_>> {
        let cores = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(4);
        self.writer_with_threads(wait, cores)
    }

    fn writer_with_threads(&self, wait: Duration, threads: usize) -> Result<IndexUpdate<'_>> {
        let start = Instant::now();
        loop {
            // tantivy wants at least 15 MB of arena per indexing thread.
            let heap = WRITER_HEAP.max(threads * 20 * 1024 * 1024);
            match self
                .index
                .writer_with_num_threads::<TantivyDocument>(threads, heap)
            {
                Ok(writer) => {
                    return Ok(IndexUpdate {
                        index: self,
                        writer,
                    });
                }
                Err(tantivy::TantivyError::LockFailure(..)) if start.elapsed() < wait => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(tantivy::TantivyError::LockFailure(..)) => {
                    return Err(IndexError::Locked(start.elapsed()));
                }
                Err(e) => return Err((self.tv())(e)),
            }
        }
    }

    /// See the latest commit (by this or another process).
    pub fn reload(&self) -> Result<()> {
        self.reader.reload().map_err(self.tv())
    }

    pub fn doc_count(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    fn parse(&self, req_query: &str, filters: &[(FacetField, String)]) -> Result<Box<dyn Query>> {
        let f = &self.fields;
        let text = req_query.trim();
        let mut parser = QueryParser::for_index(&self.index, vec![f.title, f.body]);
        parser.set_conjunction_by_default();
        parser.set_field_boost(f.title, 2.0);
        let parse = |text: &str| self.parse_user(&parser, text);
        let user: Box<dyn Query> = if text.is_empty() {
            Box::new(AllQuery)
        } else if let Some((rest, word)) = trailing_prefix(text) {
            let (rest, word) = after_han_or_kana(text, rest, word);
            // The rest must stand as a query of its own ("chip OR" does not): otherwise the
            // star is dropped and the word matched whole. A word of several tokens (`出口管`,
            // each character a token) has no prefix query either: matched whole, it is a
            // phrase of its characters, which finds them inside longer runs as typed.
            match (rest.is_empty(), self.prefix_query(word)) {
                (true, Some(prefix)) => prefix,
                (false, Some(prefix)) => match parse(rest) {
                    Ok(rest) => Box::new(BooleanQuery::new(vec![
                        (Occur::Must, rest),
                        (Occur::Must, prefix),
                    ])),
                    Err(_) => parse(&text[..text.len() - 1])?,
                },
                (_, None) => parse(&text[..text.len() - 1])?,
            }
        } else {
            parse(text)?
        };
        if filters.is_empty() {
            return Ok(user);
        }
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, user)];
        for (field, value) in filters {
            let term = Term::from_field_text(f.facet(*field), &value.to_lowercase());
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
            ));
        }
        Ok(Box::new(BooleanQuery::new(clauses)))
    }

    /// The user's query through tantivy's grammar and query builder, with what analysts type
    /// and tantivy refuses adapted in between (see [`adapt`]).
    fn parse_user(&self, parser: &QueryParser, text: &str) -> Result<Box<dyn Query>> {
        let ast = tantivy::query_grammar::parse_query(&grammar_safe(text)).map_err(|_| {
            IndexError::Query(describe_query_error(&QueryParserError::SyntaxError(
                text.to_string(),
            )))
        })?;
        let ast = self.adapt(ast)?;
        if !names_a_flag(&ast) {
            return parser
                .build_query_from_user_input_ast(ast)
                .map_err(|e| IndexError::Query(describe_query_error(&e)));
        }
        let Some(flags) = &self.flags else {
            return Err(IndexError::Flags(
                "this search index was opened without its store".into(),
            ));
        };
        Ok(build_with_flags(parser, ast, &**flags)?.unwrap_or_else(|| Box::new(EmptyQuery)))
    }

    /// A query as parsed, made acceptable to tantivy's query builder as analysts type it:
    /// - a group of exclusions alone (`-country:CN`, `NOT tag:brief`, `chip OR (-kind:feed)`)
    ///   means every story except those. tantivy refuses it ("only excluding terms given")
    ///   as exclusions have nothing to be taken from: the group gets "all stories" (`*`).
    /// - `source:` takes words of a source's name as well as the whole name; see
    ///   [`Self::source_leaf`].
    /// - a date field takes plain dates (`published:[2026-08-01 TO *]`), which tantivy's
    ///   RFC 3339 reader refuses; see [`date_leaf`].
    fn adapt(&self, ast: UserInputAst) -> Result<UserInputAst> {
        Ok(match ast {
            UserInputAst::Clause(clauses) => {
                let mut clauses = clauses
                    .into_iter()
                    .map(|(occur, sub)| Ok((occur, self.adapt(sub)?)))
                    .collect::<Result<Vec<_>>>()?;
                if !clauses.is_empty() && clauses.iter().all(|(o, _)| *o == Some(Occur::MustNot)) {
                    clauses.push((
                        Some(Occur::Must),
                        UserInputAst::Leaf(Box::new(UserInputLeaf::All)),
                    ));
                }
                UserInputAst::Clause(clauses)
            }
            UserInputAst::Boost(sub, boost) => {
                UserInputAst::Boost(Box::new(self.adapt(*sub)?), boost)
            }
            UserInputAst::Leaf(leaf) => {
                let field = match leaf.as_ref() {
                    UserInputLeaf::Literal(l) => l.field_name.as_deref(),
                    UserInputLeaf::Range { field, .. } | UserInputLeaf::Set { field, .. } => {
                        field.as_deref()
                    }
                    UserInputLeaf::Exists { field } => Some(field.as_str()),
                    UserInputLeaf::All => None,
                };
                let is_date = field
                    .and_then(|name| self.index.schema().get_field(name).ok())
                    .is_some_and(|f| {
                        self.index
                            .schema()
                            .get_field_entry(f)
                            .field_type()
                            .value_type()
                            == tantivy::schema::Type::Date
                    });
                match *leaf {
                    leaf if is_date => date_leaf(leaf)?,
                    leaf if field == Some(IS) => flag_leaf(leaf)?,
                    UserInputLeaf::Literal(l) if field == Some(FacetField::Source.name()) => {
                        self.source_leaf(l)?
                    }
                    UserInputLeaf::Literal(l) if field == Some(FacetField::Country.name()) => {
                        let phrase = self.country_value(&l.phrase)?;
                        UserInputAst::Leaf(Box::new(UserInputLeaf::Literal(UserInputLiteral {
                            phrase,
                            ..l
                        })))
                    }
                    UserInputLeaf::Literal(l) if field == Some(FacetField::Policy.name()) => {
                        self.check_policy(&l.phrase)?;
                        UserInputAst::Leaf(Box::new(UserInputLeaf::Literal(l)))
                    }
                    UserInputLeaf::Set { field, elements }
                        if field.as_deref() == Some(FacetField::Country.name()) =>
                    {
                        let elements = elements
                            .iter()
                            .map(|v| self.country_value(v))
                            .collect::<Result<Vec<_>>>()?;
                        UserInputAst::Leaf(Box::new(UserInputLeaf::Set { field, elements }))
                    }
                    UserInputLeaf::Set { field, elements }
                        if field.as_deref() == Some(FacetField::Policy.name()) =>
                    {
                        for v in &elements {
                            self.check_policy(v)?;
                        }
                        UserInputAst::Leaf(Box::new(UserInputLeaf::Set { field, elements }))
                    }
                    leaf => UserInputAst::Leaf(Box::new(leaf)),
                }
            }
        })
    }

    /// `source:VALUE`. Source names are indexed whole (lower-cased), which keeps counts per
    /// source exact, so `source:RegWatch` would find nothing of "Sample: RegWatch". A value
    /// that is a whole name matches that source only, as before; any other matches the
    /// sources whose names hold its words in a row (`RegWatch`, `"federal register"`), read
    /// from the index's own list of names.
    fn source_leaf(&self, literal: UserInputLiteral) -> Result<UserInputAst> {
        let words = |s: &str| -> Vec<String> {
            s.split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(str::to_lowercase)
                .collect()
        };
        let value = literal.phrase.to_lowercase();
        let wanted = words(&value);
        let names = self.source_names()?;
        if wanted.is_empty() || names.contains(&value) {
            return Ok(UserInputAst::Leaf(Box::new(UserInputLeaf::Literal(
                literal,
            ))));
        }
        let elements: Vec<String> = names
            .into_iter()
            .filter(|name| words(name).windows(wanted.len()).any(|w| w == wanted))
            .collect();
        if elements.is_empty() {
            return Ok(UserInputAst::Leaf(Box::new(UserInputLeaf::Literal(
                literal,
            ))));
        }
        Ok(UserInputAst::Leaf(Box::new(UserInputLeaf::Set {
            field: literal.field_name,
            elements,
        })))
    }

    /// Every source name in the index's term dictionary (lower-cased, as indexed). A name
    /// left only by deleted documents may be among them; it matches nothing.
    fn source_names(&self) -> Result<std::collections::BTreeSet<String>> {
        self.values(self.fields.source)
    }

    /// Every value of a keyword field in the index's term dictionary (see
    /// [`Self::source_names`]).
    fn values(&self, field: Field) -> Result<std::collections::BTreeSet<String>> {
        let searcher = self.reader.searcher();
        let mut names = std::collections::BTreeSet::new();
        for segment in searcher.segment_readers() {
            let inverted = segment.inverted_index(field).map_err(self.tv())?;
            let mut terms = inverted.terms().stream().map_err(|source| IndexError::Io {
                path: self.dir.clone(),
                source,
            })?;
            while terms.advance() {
                if let Ok(name) = std::str::from_utf8(terms.key()) {
                    names.insert(name.to_string());
                }
            }
        }
        Ok(names)
    }

    /// `country:VALUE` as the index holds it: a code (`cn`, `uk` is `GB`) or a country's name
    /// (`china`, `"united states"`, `Deutschland`) as its code. A value that is neither is
    /// an error suggesting the code, unless stories carry it as it is (a store may keep
    /// older values). A prefix being typed (`cn*`) is left to match as typed.
    fn country_value(&self, value: &str) -> Result<String> {
        if value.trim().is_empty() || value.ends_with('*') {
            return Ok(value.to_string());
        }
        match names::country_code(value) {
            Ok(code) => Ok(code),
            Err(_) if self.has_value(self.fields.country, value)? => Ok(value.to_string()),
            Err(message) => Err(IndexError::Query(message)),
        }
    }

    /// `policy:ID` must be an id some story has or the rules know; otherwise the error names
    /// the closest ids (`policy:entity` → `policy:entity-list`), or all of them.
    fn check_policy(&self, value: &str) -> Result<()> {
        if value.trim().is_empty()
            || value.ends_with('*')
            || self.has_value(self.fields.policy, value)?
        {
            return Ok(());
        }
        let mut known = match &self.policy_ids {
            Some(ids) => ids(),
            None => crate::classify::policy_ids(None).unwrap_or_default(),
        };
        let wanted = value.to_lowercase();
        if known.contains(&wanted) {
            return Ok(());
        }
        for indexed in self.values(self.fields.policy)? {
            if !known.contains(&indexed) {
                known.push(indexed);
            }
        }
        let near = names::closest(&wanted, known.iter().map(String::as_str), 5);
        let (which, listed) = if near.is_empty() {
            (
                "the policies are",
                known.iter().map(String::as_str).collect(),
            )
        } else {
            ("the closest", near)
        };
        let listed: Vec<String> = listed.iter().map(|id| format!("policy:{id}")).collect();
        Err(IndexError::Query(format!(
            "policy:{value}: no story has that policy and the rules have no such id; {which}: {}",
            listed.join(", ")
        )))
    }

    /// Whether some document holds `value` (lower-cased, as indexed) in a keyword field: one
    /// look-up in each segment's term dictionary.
    fn has_value(&self, field: Field, value: &str) -> Result<bool> {
        let searcher = self.reader.searcher();
        let term = Term::from_field_text(field, &value.to_lowercase());
        for segment in searcher.segment_readers() {
            let inverted = segment.inverted_index(field).map_err(self.tv())?;
            let found = inverted
                .get_term_info(&term)
                .map_err(|source| IndexError::Io {
                    path: self.dir.clone(),
                    source,
                })?;
            if found.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Title or body words that start with `word`, compared as indexed (lower case, stemmed:
    /// `lith` and `lithography` both lead to `lithographi`). `None` if `word` leaves no term.
    fn prefix_query(&self, word: &str) -> Option<Box<dyn Query>> {
        let f = &self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (field, boost) in [(f.title, 2.0), (f.body, 1.0)] {
            let Ok(mut analyzer) = self.index.tokenizer_for_field(field) else {
                continue;
            };
            let mut terms = Vec::new();
            analyzer
                .token_stream(word)
                .process(&mut |t| terms.push(t.text.clone()));
            let [term] = terms.as_slice() else {
                continue;
            };
            let prefix = FuzzyTermQuery::new_prefix(Term::from_field_text(field, term), 0, false);
            clauses.push((
                Occur::Should,
                Box::new(BoostQuery::new(Box::new(prefix), boost)),
            ));
        }
        (!clauses.is_empty()).then(|| Box::new(BooleanQuery::new(clauses)) as Box<dyn Query>)
    }

    /// Check a query without running it (the interface shows the error as you type).
    pub fn validate(&self, query: &str) -> Result<()> {
        self.parse(query, &[]).map(|_| ())
    }

    pub fn search(&self, req: &SearchRequest) -> Result<SearchPage> {
        self.search_from(req, FAR_PAGE)
    }

    /// [`Self::search`], reading newest-first pages from the nearer end from offset `far_page`.
    fn search_from(&self, req: &SearchRequest, far_page: usize) -> Result<SearchPage> {
        let searcher = self.reader.searcher();
        let query = self.parse(&req.query, &req.filters)?;
        // tantivy sizes its top-k buffer from offset + limit: neither needs to pass the number
        // of documents, and a huge `--limit` or offset must not become a huge allocation.
        let num_docs = (searcher.num_docs() as usize).max(1);
        let limit = req.limit.clamp(1, num_docs);
        let req = &SearchRequest {
            offset: req.offset.min(num_docs),
            ..req.clone()
        };
        let tv = self.tv();
        let (total, ranked): (usize, Vec<(f32, tantivy::DocAddress)>) = match req.sort {
            Sort::Relevance if ranks_by_words(&req.query) => {
                let top = TopDocs::with_limit(limit).and_offset(req.offset);
                searcher.search(&query, &(Count, top)).map_err(&tv)?
            }
            // Without words to rank by (no query, or filters alone), every score is the same
            // and relevance means nothing: newest first.
            _ if req.offset < far_page => {
                let top = TopDocs::with_limit(limit)
                    .and_offset(req.offset)
                    .order_by_fast_field::<u64>(RECENCY, Order::Desc);
                let (n, docs) = searcher.search(&query, &(Count, top)).map_err(&tv)?;
                (n, docs.into_iter().map(|(_, a)| (0.0, a)).collect())
            }
            // A deep page: the cost of a top-k grows with offset + limit, so a page nearer the
            // oldest end is read oldest-first from there and reversed. The key is unique, so
            // both directions give the same sequence.
            _ => {
                let total = query.count(&searcher).map_err(&tv)?;
                let window = PageWindow::of(total, req.offset, limit);
                let docs = match window.take {
                    0 => Vec::new(),
                    take => {
                        let order = if window.oldest_first {
                            Order::Asc
                        } else {
                            Order::Desc
                        };
                        let top = TopDocs::with_limit(take)
                            .and_offset(window.skip)
                            .order_by_fast_field::<u64>(RECENCY, order);
                        searcher.search(&query, &top).map_err(&tv)?
                    }
                };
                let mut ranked: Vec<_> = docs.into_iter().map(|(_, a)| (0.0, a)).collect();
                if window.oldest_first {
                    ranked.reverse();
                }
                (total, ranked)
            }
        };
        let mut columns = HitColumns::new(&searcher);
        let mut hits = Vec::with_capacity(ranked.len());
        for (score, addr) in ranked {
            let (id, published) = columns.read(addr).map_err(&tv)?;
            hits.push(Hit {
                id,
                score,
                published,
            });
        }
        Ok(SearchPage { total, hits })
    }

    /// At least the largest story id in the index, at no cost: each segment's column knows its
    /// largest value, deleted documents included.
    pub fn max_id_bound(&self) -> Result<Option<StoryId>> {
        let mut bound = None;
        for segment in self.reader.searcher().segment_readers() {
            if segment.num_docs() > 0 {
                let ids = segment.fast_fields().u64("id").map_err(self.tv())?;
                bound = bound.max(Some(ids.max_value() as StoryId));
            }
        }
        Ok(bound)
    }

    /// The largest story id in the index (deleted documents excluded): one pass over the ids.
    pub fn max_id(&self) -> Result<Option<StoryId>> {
        let searcher = self.reader.searcher();
        let top = TopDocs::with_limit(1).order_by_fast_field::<u64>("id", Order::Desc);
        let docs = searcher.search(&AllQuery, &top).map_err(self.tv())?;
        Ok(docs.first().map(|(id, _)| *id as StoryId))
    }

    /// A highlighter for `query`'s terms in story bodies (None for an empty query). The body
    /// is not kept in the index, so callers pass the store's text.
    pub fn snippets(&self, query: &str) -> Result<Option<Snippets>> {
        if query.trim().is_empty() {
            return Ok(None);
        }
        let searcher = self.reader.searcher();
        let query = self.parse(query, &[])?;
        let mut generator =
            SnippetGenerator::create(&searcher, &*query, self.fields.body).map_err(self.tv())?;
        generator.set_max_num_chars(200);
        Ok(Some(Snippets { generator }))
    }

    /// Counts per value of each exact field for the stories matching `query` and `filters`.
    /// Values come back lower-cased (the index's keyword form).
    pub fn facet_counts(
        &self,
        query: &str,
        filters: &[(FacetField, String)],
    ) -> Result<BTreeMap<FacetField, Vec<(String, u64)>>> {
        let searcher = self.reader.searcher();
        let q = self.parse(query, filters)?;
        let mut spec = serde_json::Map::new();
        for f in FacetField::ALL {
            spec.insert(
                f.name().into(),
                serde_json::json!({ "terms": { "field": f.name(), "size": 500 } }),
            );
        }
        let aggs: Aggregations = serde_json::from_value(serde_json::Value::Object(spec))
            .map_err(|e| IndexError::Query(e.to_string()))?;
        let collector = AggregationCollector::from_aggs(aggs, Default::default());
        let results: AggregationResults = searcher.search(&q, &collector).map_err(self.tv())?;
        let mut out = BTreeMap::new();
        for f in FacetField::ALL {
            let mut counts = Vec::new();
            if let Some(AggregationResult::BucketResult(BucketResult::Terms { buckets, .. })) =
                results.0.get(f.name())
            {
                for b in buckets {
                    let key = match &b.key {
                        tantivy::aggregation::Key::Str(s) => s.clone(),
                        other => format!("{other:?}"),
                    };
                    counts.push((key, b.doc_count));
                }
            }
            out.insert(f, counts);
        }
        Ok(out)
    }

    /// Number of stories first seen after `since` matching `query` (watchlist "new" counts).
    pub fn count_new_since(&self, query: &str, since: Option<DateTime<Utc>>) -> Result<usize> {
        let searcher = self.reader.searcher();
        let q = self.parse(query, &[])?;
        let q: Box<dyn Query> = match since {
            None => q,
            Some(t) => {
                let lower = tantivy::DateTime::from_timestamp_secs(t.timestamp() + 1);
                let range = tantivy::query::RangeQuery::new(
                    std::ops::Bound::Included(Term::from_field_date(self.fields.seen, lower)),
                    std::ops::Bound::Unbounded,
                );
                Box::new(BooleanQuery::new(vec![
                    (Occur::Must, q),
                    (Occur::Must, Box::new(range)),
                ]))
            }
        };
        searcher.search(&q, &Count).map_err(self.tv())
    }
}

/// `word*` ending a query: the rest of the query and the word, when the word stands alone
/// (not a field's value, not inside a phrase, not an operator). The interface adds the star
/// to what is being typed, so `lith` already finds lithography.
pub fn trailing_prefix(text: &str) -> Option<(&str, &str)> {
    let stem = text.strip_suffix('*')?;
    let start = stem
        .char_indices()
        .rev()
        .find(|(_, c)| !c.is_alphanumeric())
        .map_or(0, |(i, c)| i + c.len_utf8());
    let (rest, word) = stem.split_at(start);
    let rest = rest.trim_end();
    let stands_alone = rest.is_empty() || stem[rest.len()..start].starts_with(char::is_whitespace);
    let in_phrase = rest.matches('"').count() % 2 == 1;
    if word.is_empty() || !stands_alone || in_phrase || ["AND", "OR", "NOT"].contains(&word) {
        return None;
    }
    Some((rest, word))
}

/// A prefix word that runs on from Han or Kana without a space (`芯片ex*`): the characters
/// join the rest of the query, matched as typed, and only the letters after them are the
/// prefix (`export` is found as `芯片ex` is typed). Other words are left as they are.
fn after_han_or_kana<'t>(text: &'t str, rest: &'t str, word: &'t str) -> (&'t str, &'t str) {
    let cut = word
        .char_indices()
        .rev()
        .find(|(_, c)| stem::is_cjk(*c))
        .map(|(i, c)| i + c.len_utf8());
    match cut {
        Some(cut) if cut < word.len() => {
            let tail = &word[cut..];
            // `text` is the query, the word and a `*`: what is before the tail is the rest.
            let head_end = text.len() - 1 - tail.len();
            (text.get(..head_end).unwrap_or(rest), tail)
        }
        _ => (rest, word),
    }
}

/// What the interface searches for while the query is being typed: the last word, if it is
/// still being typed (no space after it), is matched as a prefix.
pub fn as_you_type(query: &str) -> String {
    let typed = query.trim_start();
    let ends_in_word = typed.chars().last().is_some_and(char::is_alphanumeric);
    let with_star = format!("{typed}*");
    if ends_in_word && trailing_prefix(&with_star).is_some() {
        with_star
    } else {
        query.to_string()
    }
}

/// `query` without the spaces between a `-` or `+` and a `*` (`chip - *` is `chip -*`):
/// tantivy's grammar panics on them ("Exist query without a field"). Inside a phrase the
/// change is harmless: signs, stars and spaces all split words there.
fn grammar_safe(query: &str) -> String {
    const SPACE: [char; 4] = [' ', '\t', '\r', '\n'];
    let mut out = String::with_capacity(query.len());
    let mut rest = query;
    while let Some(i) = rest.find(['-', '+']) {
        out.push_str(&rest[..=i]);
        rest = &rest[i + 1..];
        let after = rest.trim_start_matches(SPACE);
        if after.starts_with('*') {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Whether `query` has words to rank by: a term, phrase or range on the title or body that
/// is not excluded. Filters alone (`country:CN -tag:brief`) give every match the same score,
/// so such a query is listed newest first, as an empty one is.
pub fn ranks_by_words(query: &str) -> bool {
    fn words(ast: &UserInputAst) -> bool {
        let text_field = |name: Option<&str>| matches!(name, None | Some("title" | "body"));
        match ast {
            UserInputAst::Clause(clauses) => clauses
                .iter()
                .any(|(occur, sub)| *occur != Some(Occur::MustNot) && words(sub)),
            UserInputAst::Boost(sub, _) => words(sub),
            UserInputAst::Leaf(leaf) => match leaf.as_ref() {
                UserInputLeaf::Literal(l) => text_field(l.field_name.as_deref()),
                UserInputLeaf::Range { field, .. } | UserInputLeaf::Set { field, .. } => {
                    text_field(field.as_deref())
                }
                _ => false,
            },
        }
    }
    // Lenient: while the analyst types, a half-written query is labelled as it will run.
    !query.trim().is_empty() && words(&tantivy::query_grammar::parse_query_lenient(query).0)
}

/// A leaf on a date field with its values as tantivy reads them (RFC 3339). A plain date
/// `2026-08-01` is that whole day, UTC (midnight to midnight): on its own, since a story
/// published at exactly midnight is not what `published:2026-08-01` asks for, and as a
/// range's bound, where an inclusive end takes in its day (`[2026-11-20 TO 2026-11-22]`
/// holds the 22nd, as analysts read it) and an exclusive one leaves it out (`}` keeps
/// midnight; `{` or `>` at the start begins at the next midnight). A set of values is
/// each value's match.
fn date_leaf(leaf: UserInputLeaf) -> Result<UserInputAst> {
    use tantivy::query_grammar::UserInputBound as Bound;
    let field_name = |field: &Option<String>| field.clone().unwrap_or_default();
    let lower = |field: &str, b: Bound| -> Result<Bound> {
        Ok(match b {
            Bound::Inclusive(v) if v != "*" => Bound::Inclusive(date_value(field, &v)?.0),
            Bound::Exclusive(v) if v != "*" => match date_value(field, &v)? {
                (_, Some(next_day)) => Bound::Inclusive(next_day),
                (instant, None) => Bound::Exclusive(instant),
            },
            other => other,
        })
    };
    let upper = |field: &str, b: Bound| -> Result<Bound> {
        Ok(match b {
            Bound::Inclusive(v) if v != "*" => match date_value(field, &v)? {
                (_, Some(next_day)) => Bound::Exclusive(next_day),
                (instant, None) => Bound::Inclusive(instant),
            },
            Bound::Exclusive(v) if v != "*" => Bound::Exclusive(date_value(field, &v)?.0),
            other => other,
        })
    };
    let leaf = match leaf {
        UserInputLeaf::Literal(l) => {
            let name = field_name(&l.field_name);
            match date_value(&name, &l.phrase)? {
                (start, Some(end)) => UserInputLeaf::Range {
                    field: l.field_name,
                    lower: Bound::Inclusive(start),
                    upper: Bound::Exclusive(end),
                },
                (instant, None) => UserInputLeaf::Literal(UserInputLiteral {
                    phrase: instant,
                    ..l
                }),
            }
        }
        UserInputLeaf::Range {
            field,
            lower: from,
            upper: to,
        } => {
            let name = field_name(&field);
            UserInputLeaf::Range {
                lower: lower(&name, from)?,
                upper: upper(&name, to)?,
                field,
            }
        }
        UserInputLeaf::Set { field, elements } => {
            let any = elements
                .into_iter()
                .map(|phrase| {
                    let literal = UserInputLiteral {
                        field_name: field.clone(),
                        phrase,
                        delimiter: tantivy::query_grammar::Delimiter::None,
                        slop: 0,
                        prefix: false,
                    };
                    Ok((
                        Some(Occur::Should),
                        date_leaf(UserInputLeaf::Literal(literal))?,
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            return Ok(UserInputAst::Clause(any));
        }
        other => other,
    };
    Ok(UserInputAst::Leaf(Box::new(leaf)))
}

/// A date as typed, in RFC 3339 for tantivy: a plain date gives its midnight UTC and the next
/// one (the end of that day); a full timestamp gives itself (in UTC).
fn date_value(field: &str, text: &str) -> Result<(String, Option<String>)> {
    let midnight = |d: chrono::NaiveDate| format!("{}T00:00:00Z", d.format("%Y-%m-%d"));
    if let Ok(day) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let next = day.succ_opt().map(midnight);
        return Ok((midnight(day), next));
    }
    match DateTime::parse_from_rfc3339(text) {
        Ok(t) => Ok((
            t.with_timezone(&Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            None,
        )),
        Err(_) => Err(IndexError::Query(format!(
            "{field}: cannot read the date {text:?}: write it as 2026-08-01 (that day, UTC) or 2026-08-01T00:00:00Z"
        ))),
    }
}

/// The pseudo-field of the flag words: `is:starred`, `is:unread`, `is:read`.
const IS: &str = "is";

/// An `is:` leaf checked, with its word written out in full (`is:star` is `is:starred`); a
/// set of words is any of them. Whatever else (`is:[a TO b]`, `is:*`) is refused.
fn flag_leaf(leaf: UserInputLeaf) -> Result<UserInputAst> {
    let literal = |word: &str| -> Result<UserInputAst> {
        let (flag, set) = flag_word(word)?;
        let full = FLAG_WORDS
            .iter()
            .find(|&&(_, f, s)| (f, s) == (flag, set))
            .map_or(word, |(name, ..)| name);
        Ok(UserInputAst::Leaf(Box::new(UserInputLeaf::Literal(
            UserInputLiteral {
                field_name: Some(IS.to_string()),
                phrase: full.to_string(),
                delimiter: tantivy::query_grammar::Delimiter::None,
                slop: 0,
                prefix: false,
            },
        ))))
    };
    match leaf {
        UserInputLeaf::Literal(l) => literal(&l.phrase),
        UserInputLeaf::Set { elements, .. } => Ok(UserInputAst::Clause(
            elements
                .iter()
                .map(|word| Ok((Some(Occur::Should), literal(word)?)))
                .collect::<Result<Vec<_>>>()?,
        )),
        _ => Err(IndexError::Query(
            "is: takes a word: is:starred, is:unread or is:read".into(),
        )),
    }
}

/// Whether an adapted query has an `is:` word.
fn names_a_flag(ast: &UserInputAst) -> bool {
    match ast {
        UserInputAst::Clause(clauses) => clauses.iter().any(|(_, sub)| names_a_flag(sub)),
        UserInputAst::Boost(sub, _) => names_a_flag(sub),
        UserInputAst::Leaf(leaf) => {
            matches!(leaf.as_ref(), UserInputLeaf::Literal(l) if l.field_name.as_deref() == Some(IS))
        }
    }
}

/// A query with `is:` words: tantivy's builder cannot make those, so the query's clauses
/// are put together here as the builder would (no operator means AND; a leaf that leaves no
/// term drops out, `None` if nothing is left) and every other leaf is built by tantivy.
fn build_with_flags(
    parser: &QueryParser,
    ast: UserInputAst,
    flags: &dyn StoryFlags,
) -> Result<Option<Box<dyn Query>>> {
    Ok(match ast {
        UserInputAst::Clause(clauses) => {
            let mut built: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            for (occur, sub) in clauses {
                if let Some(q) = build_with_flags(parser, sub, flags)? {
                    built.push((occur.unwrap_or(Occur::Must), q));
                }
            }
            if built.iter().all(|(occur, _)| *occur == Occur::MustNot) && !built.is_empty() {
                built.push((Occur::Must, Box::new(AllQuery)));
            }
            (!built.is_empty()).then(|| Box::new(BooleanQuery::new(built)) as Box<dyn Query>)
        }
        UserInputAst::Boost(sub, boost) => build_with_flags(parser, *sub, flags)?
            .map(|q| Box::new(BoostQuery::new(q, boost as Score)) as Box<dyn Query>),
        UserInputAst::Leaf(leaf) => match *leaf {
            UserInputLeaf::Literal(l) if l.field_name.as_deref() == Some(IS) => {
                let (flag, set) = flag_word(&l.phrase)?;
                let ids = flags.ids(flag).map_err(IndexError::Flags)?;
                Some(Box::new(FlagQuery { ids, set }))
            }
            leaf => {
                let q = parser
                    .build_query_from_user_input_ast(UserInputAst::Leaf(Box::new(leaf)))
                    .map_err(|e| IndexError::Query(describe_query_error(&e)))?;
                (!q.is::<EmptyQuery>()).then_some(q)
            }
        },
    })
}

fn describe_query_error(e: &tantivy::query::QueryParserError) -> String {
    use tantivy::query::QueryParserError as E;
    match e {
        E::FieldDoesNotExist(f) => format!(
            "unknown field {f:?} (fields: title, body, country, policy, tag, source, kind, area, published, seen, is)"
        ),
        // Only a date our own reading let through and tantivy's did not can get here.
        E::DateFormatError(_) => {
            "cannot read a date: write it as 2026-08-01 (that day, UTC) or 2026-08-01T00:00:00Z"
                .to_string()
        }
        E::SyntaxError(text) => syntax_hint(text),
        other => other.to_string(),
    }
}

/// tantivy says only "Syntax Error" and the query; say what is most often wrong, as typed.
fn syntax_hint(text: &str) -> String {
    let quotes = text.chars().filter(|&c| c == '"').count();
    let depth = text.chars().fold(0i64, |d, c| match c {
        '(' => d + 1,
        ')' => d - 1,
        _ => d,
    });
    let brackets = text.chars().filter(|&c| matches!(c, '[' | '{')).count()
        != text.chars().filter(|&c| matches!(c, ']' | '}')).count();
    if quotes % 2 == 1 {
        "a quote is not closed: end the phrase with \"".to_string()
    } else if depth > 0 {
        "a ( is not closed".to_string()
    } else if depth < 0 {
        "a ) has no ( before it".to_string()
    } else if brackets {
        "a range is not closed: write it as published:[2026-08-01 TO 2026-08-31]".to_string()
    } else {
        format!(
            "cannot read the query {:?}: check its quotes, brackets and operators (AND, OR, NOT, -)",
            crate::parse::sanitize::line(text)
        )
    }
}

/// An open writer: add or replace documents, then commit once.
pub struct IndexUpdate<'a> {
    index: &'a SearchIndex,
    writer: IndexWriter,
}

impl IndexUpdate<'_> {
    /// Insert or replace the document of one story.
    pub fn upsert(&mut self, d: &IndexDoc) -> Result<()> {
        self.writer
            .delete_term(Term::from_field_u64(self.index.fields.id, d.id as u64));
        self.add(d)
    }

    /// Replace the documents of several stories (or add them): one delete for all of them,
    /// where [`Self::upsert`] keeps one in memory per story until the commit. A story listed
    /// twice is indexed once, as last listed.
    pub fn replace(&mut self, docs: &[IndexDoc]) -> Result<()> {
        if docs.is_empty() {
            return Ok(());
        }
        let last: BTreeMap<StoryId, &IndexDoc> = docs.iter().map(|d| (d.id, d)).collect();
        let ids = last
            .keys()
            .map(|&id| Term::from_field_u64(self.index.fields.id, id as u64));
        self.writer
            .delete_query(Box::new(tantivy::query::TermSetQuery::new(ids)))
            .map_err(self.index.tv())?;
        for d in last.values() {
            self.add(d)?;
        }
        Ok(())
    }

    /// Remove the documents of every story with an id above `id`.
    pub fn delete_ids_above(&mut self, id: StoryId) -> Result<()> {
        let range = tantivy::query::RangeQuery::new(
            std::ops::Bound::Excluded(Term::from_field_u64(self.index.fields.id, id as u64)),
            std::ops::Bound::Unbounded,
        );
        self.writer
            .delete_query(Box::new(range))
            .map_err(self.index.tv())?;
        Ok(())
    }

    /// Add the document of a story the index cannot hold yet (just created in the store:
    /// the index only ever commits after the store). Skips the delete that [`Self::upsert`]
    /// queues, which tantivy keeps in memory until the commit (~1 KB per document).
    pub fn add(&mut self, d: &IndexDoc) -> Result<()> {
        let f = &self.index.fields;
        let mut doc = TantivyDocument::default();
        doc.add_u64(f.id, d.id as u64);
        doc.add_text(f.title, &d.title);
        doc.add_text(f.body, &d.body);
        doc.add_date(
            f.published,
            tantivy::DateTime::from_timestamp_secs(d.published.timestamp()),
        );
        doc.add_u64(f.recency, recency_key(d.published, d.id));
        doc.add_date(
            f.seen,
            tantivy::DateTime::from_timestamp_secs(d.first_seen.timestamp()),
        );
        if let Some(l) = &d.link {
            doc.add_text(f.link, l);
        }
        if let Some(a) = &d.author {
            doc.add_text(f.author, a);
        }
        for s in &d.sources {
            doc.add_text(f.source, s);
        }
        for k in &d.kinds {
            doc.add_text(f.kind, k.as_str());
        }
        for a in &d.areas {
            doc.add_text(f.area, a);
        }
        for c in &d.countries {
            doc.add_text(f.country, c);
        }
        for p in &d.policies {
            doc.add_text(f.policy, p);
        }
        for t in &d.tags {
            doc.add_text(f.tag, t);
        }
        self.writer.add_document(doc).map_err(self.index.tv())?;
        Ok(())
    }

    pub fn delete(&mut self, id: StoryId) {
        self.writer
            .delete_term(Term::from_field_u64(self.index.fields.id, id as u64));
    }

    pub fn delete_all(&mut self) -> Result<()> {
        self.writer
            .delete_all_documents()
            .map_err(self.index.tv())?;
        Ok(())
    }

    /// Make everything visible at once and refresh this process's reader.
    pub fn commit(mut self) -> Result<()> {
        self.writer.commit().map_err(self.index.tv())?;
        // Wait for merges so a following open does not find a half-merged directory locked.
        self.writer
            .wait_merging_threads()
            .map_err(self.index.tv())?;
        self.index.reload()
    }
}

// ---- added for the terminal interface (tui): bulk ids and weekly trend counts ----------

/// Stories per week for a filter, split by the top values of one facet field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trend {
    /// Start of each week, oldest first.
    pub weeks: Vec<DateTime<Utc>>,
    /// All matching stories per week.
    pub total: Vec<u64>,
    /// The top values of the split field (lower-cased), each with its count per week.
    pub series: Vec<(String, Vec<u64>)>,
}

impl SearchIndex {
    /// Another handle on the same index for another thread: it shares the open files, the
    /// caches and the reader (a reload through one is seen by all), so a worker thread costs
    /// no second copy of the index in memory.
    pub fn share(&self) -> SearchIndex {
        SearchIndex {
            dir: self.dir.clone(),
            index: self.index.clone(),
            reader: self.reader.clone(),
            fields: self.fields,
            flags: self.flags.clone(),
            policy_ids: self.policy_ids.clone(),
        }
    }

    /// Ids of every story matching `query` and `filters` (mark-all-read for a filter). Reads
    /// fast fields only; no stored document is loaded.
    pub fn matching_ids(
        &self,
        query: &str,
        filters: &[(FacetField, String)],
    ) -> Result<Vec<StoryId>> {
        let searcher = self.reader.searcher();
        let q = self.parse(query, filters)?;
        let docs = searcher
            .search(&q, &tantivy::collector::DocSetCollector)
            .map_err(self.tv())?;
        let mut columns = HitColumns::new(&searcher);
        let mut ids = Vec::with_capacity(docs.len());
        for addr in docs {
            ids.push(columns.read(addr).map_err(self.tv())?.0);
        }
        ids.sort_unstable();
        Ok(ids)
    }

    /// Stories per week over the `weeks` weeks before `now` (by `published`), for the stories
    /// matching `query` and `filters`, split by the `top` most frequent values of `split`.
    /// One aggregation pass: a terms bucket with a date histogram under it.
    pub fn weekly_counts(
        &self,
        query: &str,
        filters: &[(FacetField, String)],
        split: FacetField,
        top: usize,
        weeks: usize,
        now: DateTime<Utc>,
    ) -> Result<Trend> {
        const WEEK: i64 = 7 * 86_400;
        let weeks = weeks.clamp(1, 520);
        // Week slots end at the start of the week after `now`, aligned to tantivy's fixed
        // 7-day buckets (counted from the Unix epoch) so every bucket falls in one slot.
        let end = (now.timestamp().div_euclid(WEEK) + 1) * WEEK;
        let start = end - weeks as i64 * WEEK;
        let searcher = self.reader.searcher();
        let user = self.parse(query, filters)?;
        let range = tantivy::query::RangeQuery::new(
            std::ops::Bound::Included(Term::from_field_date(
                self.fields.published,
                tantivy::DateTime::from_timestamp_secs(start),
            )),
            std::ops::Bound::Excluded(Term::from_field_date(
                self.fields.published,
                tantivy::DateTime::from_timestamp_secs(end),
            )),
        );
        let q = BooleanQuery::new(vec![(Occur::Must, user), (Occur::Must, Box::new(range))]);
        let histogram = serde_json::json!({ "date_histogram": { "field": "published", "fixed_interval": "7d" } });
        let spec = serde_json::json!({
            "all": histogram,
            "split": { "terms": { "field": split.name(), "size": top.max(1) }, "aggs": { "weeks": histogram } },
        });
        let aggs: Aggregations =
            serde_json::from_value(spec).map_err(|e| IndexError::Query(e.to_string()))?;
        let collector = AggregationCollector::from_aggs(aggs, Default::default());
        let results: AggregationResults = searcher.search(&q, &collector).map_err(self.tv())?;

        let slots = |result: Option<&AggregationResult>| -> Vec<u64> {
            let mut out = vec![0u64; weeks];
            if let Some(AggregationResult::BucketResult(BucketResult::Histogram {
                buckets: tantivy::aggregation::agg_result::BucketEntries::Vec(buckets),
            })) = result
            {
                for b in buckets {
                    let tantivy::aggregation::Key::F64(ms) = b.key else {
                        continue;
                    };
                    let secs = (ms / 1000.0) as i64;
                    let slot = (secs - start).div_euclid(WEEK);
                    if let Some(n) = usize::try_from(slot).ok().and_then(|i| out.get_mut(i)) {
                        *n += b.doc_count;
                    }
                }
            }
            out
        };
        let mut trend = Trend {
            weeks: (0..weeks)
                .filter_map(|i| DateTime::from_timestamp(start + i as i64 * WEEK, 0))
                .collect(),
            total: slots(results.0.get("all")),
            series: Vec::new(),
        };
        if let Some(AggregationResult::BucketResult(BucketResult::Terms { buckets, .. })) =
            results.0.get("split")
        {
            for b in buckets {
                let tantivy::aggregation::Key::Str(name) = &b.key else {
                    continue;
                };
                trend
                    .series
                    .push((name.clone(), slots(b.sub_aggregation.0.get("weeks"))));
            }
        }
        Ok(trend)
    }
}

/// An index as echowatch wrote it at schema version 4 (title and body through tantivy's
/// stock `en_stem`), holding `docs`: what an upgrade finds on disk.
#[cfg(test)]
pub(crate) fn write_version_4_index(dir: &Path, docs: &[IndexDoc]) {
    let (schema, fields) = build_schema_with("en_stem");
    std::fs::create_dir_all(dir).unwrap();
    let index = Index::create_in_dir(dir, schema).unwrap();
    register_tokenizers(&index);
    let reader = index.reader().unwrap();
    let old = SearchIndex {
        dir: dir.to_path_buf(),
        index,
        reader,
        fields,
        flags: None,
        policy_ids: None,
    };
    let mut writer = old.writer(Duration::from_secs(1)).unwrap();
    for d in docs {
        writer.add(d).unwrap();
    }
    writer.commit().unwrap();
    std::fs::write(dir.join("echowatch-schema"), "4").unwrap();
}

#[cfg(test)]
mod tests;

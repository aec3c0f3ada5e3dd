//! Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
//! Never edit a released migration: add a new one.

pub const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    r#"
    CREATE TABLE sources (
        id               INTEGER PRIMARY KEY,
        name             TEXT NOT NULL UNIQUE,
        location         TEXT NOT NULL,
        etag             TEXT,
        last_modified    TEXT,
        last_attempt     INTEGER,
        last_success     INTEGER,
        last_error       TEXT,
        next_fetch_after INTEGER
    );

    CREATE TABLE stories (
        id             INTEGER PRIMARY KEY,
        canonical_link TEXT UNIQUE,
        msgid          TEXT UNIQUE,
        link           TEXT,
        title          TEXT NOT NULL,
        body           TEXT NOT NULL,
        links          TEXT NOT NULL DEFAULT '[]',
        published      INTEGER,
        first_seen     INTEGER NOT NULL,
        updated        INTEGER NOT NULL,
        author         TEXT,
        kind           TEXT NOT NULL,
        area           TEXT,
        origin         TEXT,
        content_hash   BLOB NOT NULL,
        primary_source INTEGER NOT NULL REFERENCES sources(id),
        read           INTEGER NOT NULL DEFAULT 0,
        starred        INTEGER NOT NULL DEFAULT 0
    );

    -- Which sources carried each story, under which source-local key (guid, MSGID, link).
    CREATE TABLE story_sources (
        story_id   INTEGER NOT NULL REFERENCES stories(id) ON DELETE CASCADE,
        source_id  INTEGER NOT NULL REFERENCES sources(id),
        guid       TEXT NOT NULL,
        kind       TEXT NOT NULL,
        area       TEXT,
        first_seen INTEGER NOT NULL,
        PRIMARY KEY (story_id, source_id),
        UNIQUE (source_id, guid)
    );

    -- Tags with provenance. A manual row with present = 0 is an analyst's removal and
    -- overrides automatic and source-default rows of the same tag.
    CREATE TABLE tags (
        story_id   INTEGER NOT NULL REFERENCES stories(id) ON DELETE CASCADE,
        tag        TEXT NOT NULL,
        provenance TEXT NOT NULL CHECK (provenance IN ('source', 'auto', 'manual')),
        present    INTEGER NOT NULL DEFAULT 1,
        score      REAL,
        evidence   TEXT,
        PRIMARY KEY (story_id, tag, provenance)
    ) WITHOUT ROWID;

    -- Stories changed in the store but not yet committed to the search index. Written in
    -- the same transaction as the change, so a crash between store and index loses nothing.
    CREATE TABLE index_queue (story_id INTEGER PRIMARY KEY);

    -- Stories already gated out as echomail, so none is posted to an area twice.
    CREATE TABLE ftn_ledger (
        story_id  INTEGER NOT NULL REFERENCES stories(id) ON DELETE CASCADE,
        area      TEXT NOT NULL,
        msgid     TEXT NOT NULL,
        posted_at INTEGER NOT NULL,
        PRIMARY KEY (story_id, area)
    );

    -- When each saved search was last looked at, for "new since last viewed" counts.
    CREATE TABLE watch_state (
        name        TEXT PRIMARY KEY,
        last_viewed INTEGER NOT NULL
    );
    "#,
    // 2: the tagger's verdict is kept with the story, one JSON array per story, instead of a
    // row per automatic tag: it is derived data (retag recomputes it), always read and written
    // whole, and a row each made automatic tags the costliest part of storing a story.
    // `tags` keeps the source-default and manual rows, which are decisions, not derivations.
    r#"
    ALTER TABLE stories ADD COLUMN auto_tags TEXT NOT NULL DEFAULT '[]';
    UPDATE stories SET auto_tags = (
        SELECT json_group_array(json_object(
            'tag', t.tag, 'score', t.score, 'evidence', CASE WHEN json_valid(t.evidence) THEN json(t.evidence) ELSE json('[]') END))
        FROM tags t WHERE t.story_id = stories.id AND t.provenance = 'auto')
    WHERE id IN (SELECT story_id FROM tags WHERE provenance = 'auto');
    DELETE FROM tags WHERE provenance = 'auto';
    "#,
    // 3: read and starred flags in a narrow table of their own. As columns of `stories`,
    // setting one rewrote the whole row, body and all: marking 300,000 stories read took 2 s.
    r#"
    CREATE TABLE flags (
        story_id INTEGER PRIMARY KEY REFERENCES stories(id) ON DELETE CASCADE,
        read     INTEGER NOT NULL DEFAULT 0,
        starred  INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO flags (story_id, read, starred)
        SELECT id, read, starred FROM stories WHERE read OR starred;
    ALTER TABLE stories DROP COLUMN read;
    ALTER TABLE stories DROP COLUMN starred;
    "#,
    // 4: the size, times and inode of each file a path source read, so the next sync skips
    // files that have not changed (a local file's answer to an HTTP validator).
    r#"
    CREATE TABLE source_files (
        source_id   INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
        path        TEXT NOT NULL,
        size        INTEGER NOT NULL,
        modified_ns INTEGER NOT NULL,
        changed_ns  INTEGER NOT NULL,
        inode       INTEGER NOT NULL,
        reader      INTEGER NOT NULL,
        PRIMARY KEY (source_id, path)
    ) WITHOUT ROWID;
    "#,
    // 5: gateway MSGIDs unique per address (FTS-0009), not a hash of the small per-store story
    // id, which every fresh store repeated. `sent = 0` marks a MSGID reserved for a post whose
    // packet may not have been written yet: the next run posts it again under that same MSGID.
    // `ftn_serials` keeps the last serial given out per address, so serials only grow.
    r#"
    ALTER TABLE ftn_ledger ADD COLUMN sent INTEGER NOT NULL DEFAULT 1;
    CREATE INDEX ftn_ledger_msgid ON ftn_ledger(msgid);
    CREATE TABLE ftn_serials (
        address TEXT PRIMARY KEY,
        last    INTEGER NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 6: the packet a reserved post is being written to (its path), recorded before the
    // packet gets that name: a run killed between writing the packet and confirming it
    // leaves a reservation that names it, and the next run confirms it instead of posting
    // the story again when that packet is there with the story's MSGID in it.
    r#"
    ALTER TABLE ftn_ledger ADD COLUMN packet TEXT;
    "#,
    // 7: every echo area a story was seen in. `stories.area` keeps the first, and
    // `story_sources` one row per source, so the same story tossed again in a second area of
    // the same inbound was remembered nowhere: the gateway then posted it into that area.
    r#"
    CREATE TABLE story_areas (
        story_id INTEGER NOT NULL REFERENCES stories(id) ON DELETE CASCADE,
        area     TEXT NOT NULL COLLATE NOCASE,
        PRIMARY KEY (story_id, area)
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO story_areas (story_id, area)
        SELECT id, area FROM stories WHERE area IS NOT NULL;
    INSERT OR IGNORE INTO story_areas (story_id, area)
        SELECT story_id, area FROM story_sources WHERE area IS NOT NULL;
    "#,
];

//! Keeping the search index in one piece.
//!
//! FTS5 writes each change as a new segment and merges them only when several pile up at one
//! level, so a live wiki's index sits in about ten segments, and every term of every search is
//! looked up in each (on 10,000 pages, half a search's SQL time: `docs/performance.md`). A
//! while after the index changes (the `index_merge_after` setting, 60 s unless set), a timer
//! merges every segment into one, a bounded slice of work per run so a run holds the tenant's
//! writer for milliseconds; it comes back each second until one segment is left. Edits that
//! arrive meanwhile are folded into the same merge, not a new one, so however busy the wiki, the
//! merging costs at most one slice a second.

use mobieus_sdk::prelude::*;

/// The timer's key.
pub const TIMER: &str = "index_merge";
/// Leaf pages written per index per run (about 10–20 ms of work on this project's 2-core box).
const SLICE_PAGES: i64 = 200;
/// Seconds to wait after a change before merging, unless `index_merge_after` says.
pub const DEFAULT_AFTER_SECS: i64 = 60;
/// The payload of a merge's first run (JSON).
const START: &str = "\"start\"";
/// A merge not finished comes back this much later.
const AGAIN_MS: i64 = 1_000;

/// The migration: when a merge is due (one row while one is).
pub const MIGRATION: &str = "
    CREATE TABLE know_index_merge (
        one    INTEGER PRIMARY KEY CHECK (one = 1),
        due_at INTEGER NOT NULL
    );";

/// The index changed: a merge is set for later, unless one is already set.
pub fn changed(cx: &Ctx) -> Result<()> {
    let after = cx
        .config("index_merge_after")
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|s| (0..=86_400).contains(s))
        .unwrap_or(DEFAULT_AFTER_SECS);
    let due = cx.now_ms() + after * 1_000;
    let set = cx
        .db()
        .query_one(
            "INSERT INTO know_index_merge (one, due_at) VALUES (1, ?1)
             ON CONFLICT DO NOTHING RETURNING due_at",
            &[&due],
        )?
        .is_some();
    if set {
        cx.set_timer(TIMER, due, &"start")?;
    }
    Ok(())
}

/// The timer came due: one slice of merging of each index, and again in a second if an index
/// is still in more than one segment. The first run of a merge also takes the words no page has
/// any more out of the lexicon (before merging, so the merge takes that change in too), so they
/// do not crowd out the ones a part of a word should find.
pub fn run(cx: &Ctx, timer: &Timer) -> Result<()> {
    let db = cx.db();
    if timer.payload == START {
        db.execute(
            "INSERT INTO know_lexicon (know_lexicon, rowid, word)
             SELECT 'delete', id, word FROM know_lexicon_words
             WHERE word NOT IN (SELECT term FROM know_vocab)",
            &[],
        )?;
        db.execute(
            "DELETE FROM know_lexicon_words WHERE word NOT IN (SELECT term FROM know_vocab)",
            &[],
        )?;
    }
    let mut whole = true;
    for table in crate::search::FTS_TABLES {
        // A negative count merges every segment into one (an incremental `optimize`).
        db.execute(
            &format!("INSERT INTO {table} ({table}, rank) VALUES ('merge', ?1)"),
            &[&-SLICE_PAGES],
        )?;
        let segments: i64 = db
            .query_one(
                &format!("SELECT count(DISTINCT segid) AS segments FROM {table}_idx"),
                &[],
            )?
            .map(|r| r.get("segments"))
            .transpose()?
            .unwrap_or(0);
        whole &= segments <= 1;
    }
    if whole {
        db.execute("DELETE FROM know_index_merge", &[])?;
    } else {
        cx.set_timer(TIMER, cx.now_ms() + AGAIN_MS, &"more")?;
    }
    Ok(())
}

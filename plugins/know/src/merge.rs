//! Keeping the search index in one piece.
//!
//! FTS5 writes each change as a new segment and merges them only when several pile up at one
//! level, so a live wiki's index sits in about ten segments, and every term of every search is
//! looked up in each (on 10,000 pages, half a search's SQL time: `docs/performance.md`). A
//! while after the index changes (the `index_merge_after` setting, 60 s unless set), a timer
//! merges every segment into one, a bounded slice of work per run so a run holds the tenant's
//! writer for milliseconds; it comes back each second until one segment is left. Edits that
//! arrive meanwhile are folded into the same merge, not a new one, so however busy the wiki, the
//! merging costs at most one slice a second. Each merge also sweeps the lexicon of words no page
//! has any more, a slice a run.

use mobieus_sdk::prelude::*;

/// The timer's key.
pub const TIMER: &str = "index_merge";
/// Leaf pages written per index per run (about 10–20 ms of work on this project's 2-core box).
const SLICE_PAGES: i64 = 200;
/// Seconds to wait after a change before merging, unless `index_merge_after` says.
pub const DEFAULT_AFTER_SECS: i64 = 60;
/// Lexicon words checked per run for still being on a page.
const SWEEP_WORDS: i64 = 2_000;
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
        cx.set_timer(TIMER, due, &Some(0))?;
    }
    Ok(())
}

/// The timer came due: one slice of merging of each index, and again in a second if an index
/// is still in more than one segment. Each run of a merge also sweeps a slice of the lexicon
/// (before merging, so the merge takes that change in too): the words no page has any more leave
/// it, so they do not crowd out the ones a part of a word should find. The payload is where the
/// sweep goes on from (a lexicon id), or `null` once it is done.
pub fn run(cx: &Ctx, timer: &Timer) -> Result<()> {
    let db = cx.db();
    let mut sweep: Option<i64> = mobieus_sdk::json::from_str(&timer.payload).unwrap_or(None);
    if let Some(from) = sweep {
        let to: Option<i64> = db
            .query_one(
                "SELECT max(id) AS upto FROM (SELECT id FROM know_lexicon_words WHERE id > ?1
                                              ORDER BY id LIMIT ?2)",
                &[&from, &SWEEP_WORDS],
            )?
            .map(|r| r.get::<Option<i64>>("upto"))
            .transpose()?
            .flatten();
        if let Some(to) = to {
            const GONE: &str = "FROM know_lexicon_words AS w WHERE w.id > ?1 AND w.id <= ?2
                AND NOT EXISTS (SELECT 1 FROM know_vocab v WHERE v.term = w.word)";
            db.execute(
                &format!("INSERT INTO know_lexicon (know_lexicon, rowid, word) SELECT 'delete', w.id, w.word {GONE}"),
                &[&from, &to],
            )?;
            db.execute(&format!("DELETE {GONE}"), &[&from, &to])?;
        }
        sweep = to;
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
    if whole && sweep.is_none() {
        db.execute("DELETE FROM know_index_merge", &[])?;
    } else {
        cx.set_timer(TIMER, cx.now_ms() + AGAIN_MS, &sweep)?;
    }
    Ok(())
}

//! The host as a shared cache (RFC 9111) in front of plugin GETs.
//!
//! A plugin marks an answer every caller allowed the route may be given with the targeted field
//! `Mobieus-Cache-Control: max-age=N` (RFC 9213: a `Cache-Control` for this cache alone, which
//! the host consumes; clients and caches past it never see it). The host gives that answer again,
//! with `Age`, to the same request (path, query, the headers its `Vary` names) until N seconds
//! pass or the tenant's file changes, whichever is first. It is the plugin's word that the answer
//! depends on nothing else: not the caller (past the route's scope, which is checked first, on
//! every request), not the time, not the headers it does not name.
//!
//! A change is any commit to the file, by the server or by another process (the CLI). SQLite's
//! `PRAGMA data_version` tells a connection that another one committed since it last looked: each
//! read connection keeps the value it last saw (client data on the connection), and one that sees
//! a new value moves the file's generation on before it looks. An answer is tagged with the
//! generation read before its read began, and given only while the generation is the same: a
//! commit after its read moves it on at the next look from any connection.
//!
//! Kept: a `200` (not `Vary: *`) to a request with no validator (`If-None-Match`…) and no
//! `Cache-Control: no-cache`/`no-store`; a read that asked nothing (AI, another surface). Bounded
//! in bytes (`--plugin-shared-cache-mib`), the least recently used answer going first. Only the
//! routes that have marked an answer are looked for ([`crate::plugins::dispatch`] learns them per
//! plugin build), so a plugin that never marks one pays nothing.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hashlink::LruCache;
use rusqlite::Connection;

use crate::plugins::bindings::types;

/// The targeted cache-control field a plugin answers with.
pub const FIELD: &str = "mobieus-cache-control";
/// The longest a plugin may ask an answer to be kept.
const MAX_AGE: u64 = 24 * 60 * 60;
/// What one entry costs beyond its bytes: the key, the map's node, the `Arc`.
const OVERHEAD: usize = 256;

/// Which answer: the tenant file, the plugin build, what was asked, and what the host gave the
/// call besides the caller (the tenant's settings for the plugin, whether the console is barred).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub db: tenants::DbId,
    pub plugin: String,
    /// The component's hash: a new build never gives an old build's answers.
    pub build: String,
    /// The path and query as sent.
    pub target: String,
    pub settings: u64,
    pub bars_console: bool,
}

/// A fingerprint of the settings a call is given, the same whatever the map's order.
pub fn settings_print(settings: &HashMap<String, String>) -> u64 {
    // Fixed keys: the same settings print the same in every call of this process.
    let state =
        std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default();
    settings
        .iter()
        .fold(0u64, |sum, pair| sum.wrapping_add(state.hash_one(pair)))
}

struct Entry {
    generation: u64,
    stored: Instant,
    max_age: Duration,
    /// The request headers the answer's `Vary` names, with their values when it was made.
    vary: Vec<(String, Option<String>)>,
    response: types::Response,
    weight: usize,
}

struct Inner {
    answers: LruCache<Key, Arc<Entry>>,
    bytes: usize,
    generations: HashMap<tenants::DbId, u64>,
}

/// Plugin answers kept for reuse, across tenants, within a byte budget.
pub struct SharedCache {
    budget: usize,
    inner: Mutex<Inner>,
}

/// What a look found.
pub enum Look {
    /// The answer, with its `Age`.
    Hit(types::Response),
    /// None: the generation to tag an answer made now with.
    Miss(u64),
    /// The request may not be answered from the cache, nor its answer kept.
    Bypass,
}

impl SharedCache {
    /// A cache of at most `budget` bytes; 0 keeps nothing.
    pub fn new(budget: usize) -> SharedCache {
        SharedCache {
            budget,
            inner: Mutex::new(Inner {
                answers: LruCache::new_unbounded(),
                bytes: 0,
                generations: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Looks for the answer to `key` on `conn`, a read connection of `key.db`, outside any
    /// transaction; `headers` are the request's.
    pub fn look(
        &self,
        conn: &Connection,
        key: &Key,
        headers: &[types::Header],
    ) -> rusqlite::Result<Look> {
        if self.budget == 0 || !may_use(headers) {
            return Ok(Look::Bypass);
        }
        let changed = saw_commit(conn)?;
        let mut inner = self.lock();
        // The file's key is cloned only the first time it is seen.
        let seen = u64::from(changed);
        let generation = match inner.generations.get_mut(&key.db) {
            Some(generation) => {
                *generation += seen;
                *generation
            }
            None => {
                inner.generations.insert(key.db.clone(), seen);
                seen
            }
        };
        let Some(entry) = inner.answers.get(key).cloned() else {
            return Ok(Look::Miss(generation));
        };
        let age = entry.stored.elapsed();
        if entry.generation != generation || age >= entry.max_age {
            inner.bytes -= entry.weight;
            inner.answers.remove(key);
            return Ok(Look::Miss(generation));
        }
        drop(inner);
        if entry
            .vary
            .iter()
            .any(|(name, value)| header(headers, name) != value.as_deref())
        {
            return Ok(Look::Miss(generation));
        }
        let mut response = entry.response.clone();
        response.headers.push(types::Header {
            name: "Age".into(),
            value: age.as_secs().to_string(),
        });
        Ok(Look::Hit(response))
    }

    /// Keeps `response` for `key` if its plugin marked it shareable and a look gave the
    /// `generation` to keep it under, and says whether it was marked; takes the mark off either
    /// way, so it never reaches the client.
    pub fn keep(
        &self,
        key: impl FnOnce() -> Key,
        generation: Option<u64>,
        headers: &[types::Header],
        response: &mut types::Response,
    ) -> bool {
        let Some(max_age) = take_max_age(&mut response.headers) else {
            return false;
        };
        if let Some(generation) = generation {
            self.keep_marked(key(), generation, headers, response, max_age);
        }
        true
    }

    fn keep_marked(
        &self,
        key: Key,
        generation: u64,
        headers: &[types::Header],
        response: &types::Response,
        max_age: Duration,
    ) {
        let vary: Option<Vec<(String, Option<String>)>> = response
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("vary"))
            .flat_map(|h| h.value.split(','))
            .map(|name| name.trim().to_ascii_lowercase())
            .filter(|name| !name.is_empty())
            .map(|name| {
                (name != "*").then(|| (name.clone(), header(headers, &name).map(str::to_owned)))
            })
            .collect();
        let (Some(vary), 200) = (vary, response.status) else {
            return;
        };
        if max_age.is_zero() {
            return;
        }
        let weight = OVERHEAD
            + key.target.len()
            + response.body.len()
            + response
                .headers
                .iter()
                .map(|h| h.name.len() + h.value.len())
                .sum::<usize>();
        // One answer may take an eighth of the budget, so a few large ones cannot empty it.
        if weight > self.budget / 8 {
            return;
        }
        let entry = Arc::new(Entry {
            generation,
            stored: Instant::now(),
            max_age,
            vary,
            response: response.clone(),
            weight,
        });
        let mut inner = self.lock();
        if inner.generations.get(&key.db) != Some(&generation) {
            // The file changed while the answer was being made.
            return;
        }
        if let Some(old) = inner.answers.insert(key, entry) {
            inner.bytes -= old.weight;
        }
        inner.bytes += weight;
        while inner.bytes > self.budget {
            match inner.answers.remove_lru() {
                Some((_, old)) => inner.bytes -= old.weight,
                None => break,
            }
        }
    }
}

/// Whether a request may be answered from the cache: not one that asks the origin to check
/// (`no-cache`), to keep nothing (`no-store`), or that carries a validator of its own.
fn may_use(headers: &[types::Header]) -> bool {
    !headers.iter().any(|h| {
        let name = &h.name;
        let validator = name
            .as_bytes()
            .get(..3)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"if-"));
        let directive =
            name.eq_ignore_ascii_case("cache-control") || name.eq_ignore_ascii_case("pragma");
        validator || directive && (h.value.contains("no-cache") || h.value.contains("no-store"))
    })
}

fn header<'a>(headers: &'a [types::Header], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

/// Takes [`FIELD`] off the answer's headers: its `max-age`, or none when it has none, says
/// `no-store` or `private`, or is not one field (RFC 9213: a malformed field is ignored).
fn take_max_age(headers: &mut Vec<types::Header>) -> Option<Duration> {
    let fields: Vec<String> = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(FIELD))
        .map(|h| h.value.clone())
        .collect();
    if fields.is_empty() {
        return None;
    }
    headers.retain(|h| !h.name.eq_ignore_ascii_case(FIELD));
    let [field] = fields.as_slice() else {
        return None;
    };
    let mut max_age = None;
    for directive in field.split(',').map(str::trim) {
        match directive.split_once('=') {
            Some(("max-age", n)) => max_age = Some(n.parse::<u64>().ok()?.min(MAX_AGE)),
            None if directive == "no-store" || directive == "private" => return None,
            _ => {}
        }
    }
    max_age.map(Duration::from_secs)
}

/// Whether another connection committed to `conn`'s file since this function last asked
/// `conn` (always, the first time it asks one).
fn saw_commit(conn: &Connection) -> rusqlite::Result<bool> {
    const NAME: &std::ffi::CStr = c"mobieus.shared_cache.data_version";
    let version: i64 = conn
        .prepare_cached("PRAGMA data_version")?
        .query_row([], |r| r.get(0))?;
    // Kept as the pointer's value plus one (no allocation, nothing to free): null is "never".
    let now = (version as usize).wrapping_add(1) as *mut std::ffi::c_void;
    // SAFETY: the handle is this open connection's, used on this thread while `conn` is borrowed;
    // the client data is a plain value under a static name, with no destructor.
    unsafe {
        let db = conn.handle();
        let seen = rusqlite::ffi::sqlite3_get_clientdata(db, NAME.as_ptr());
        if seen == now {
            return Ok(false);
        }
        rusqlite::ffi::sqlite3_set_clientdata(db, NAME.as_ptr(), now, None);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::headers::h;

    fn answer(headers: Vec<types::Header>, body: &str) -> types::Response {
        types::Response {
            status: 200,
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    fn key(target: &str) -> Key {
        Key {
            db: tenants::DbId {
                tenant_id: "t1".into(),
                env: tenants::Env::Live,
            },
            plugin: "know".into(),
            build: "abc".into(),
            target: target.into(),
            settings: 0,
            bars_console: false,
        }
    }

    fn miss(look: Look) -> u64 {
        match look {
            Look::Miss(generation) => generation,
            Look::Hit(_) => panic!("a hit"),
            Look::Bypass => panic!("a bypass"),
        }
    }

    fn hit(look: Look) -> types::Response {
        match look {
            Look::Hit(response) => response,
            _ => panic!("no hit"),
        }
    }

    #[test]
    fn an_answer_is_given_again_until_another_connection_commits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x)")
            .unwrap();
        let reader = Connection::open(&path).unwrap();
        let cache = SharedCache::new(1 << 20);
        let k = key("/api/v1/know/search?q=a");
        let generation = miss(cache.look(&reader, &k, &[]).unwrap());
        // Marked, with no look before it: only said so (the route's first, see `dispatch`).
        let mut response = answer(vec![h("Mobieus-Cache-Control", "max-age=60")], "zero");
        assert!(cache.keep(|| k.clone(), None, &[], &mut response));
        assert!(response.headers.is_empty(), "the mark is taken off");
        miss(cache.look(&reader, &k, &[]).unwrap());
        let mut response = answer(vec![h("Mobieus-Cache-Control", "max-age=60")], "one");
        assert!(cache.keep(|| k.clone(), Some(generation), &[], &mut response));
        assert!(response.headers.is_empty(), "the mark is taken off");
        assert!(!cache.keep(
            || k.clone(),
            Some(generation),
            &[],
            &mut answer(vec![], "plain")
        ));
        let again = hit(cache.look(&reader, &k, &[]).unwrap());
        assert_eq!(again.body, b"one");
        assert_eq!(again.headers[0].name, "Age");
        // Another request is another answer.
        miss(
            cache
                .look(&reader, &key("/api/v1/know/search?q=b"), &[])
                .unwrap(),
        );
        // A commit elsewhere retires it, on this connection and on a new one.
        writer.execute("INSERT INTO t VALUES (1)", []).unwrap();
        let after = miss(cache.look(&reader, &k, &[]).unwrap());
        assert!(after > generation);
        let fresh = Connection::open(&path).unwrap();
        miss(cache.look(&fresh, &k, &[]).unwrap());
        // An answer made before a commit another connection saw is not kept.
        let stale = miss(cache.look(&reader, &k, &[]).unwrap());
        writer.execute("INSERT INTO t VALUES (2)", []).unwrap();
        miss(cache.look(&fresh, &k, &[]).unwrap());
        let mut response = answer(vec![h("Mobieus-Cache-Control", "max-age=60")], "old");
        cache.keep(|| k.clone(), Some(stale), &[], &mut response);
        miss(cache.look(&reader, &k, &[]).unwrap());
    }

    #[test]
    fn only_a_marked_shareable_200_is_kept_and_vary_is_honoured() {
        let conn = Connection::open_in_memory().unwrap();
        let cache = SharedCache::new(1 << 20);
        let cases = [
            (200, vec![], false),
            (200, vec![h(FIELD, "max-age=0")], false),
            (200, vec![h(FIELD, "max-age=60, private")], false),
            (200, vec![h(FIELD, "max-age=sixty")], false),
            (
                200,
                vec![h(FIELD, "max-age=60"), h(FIELD, "max-age=5")],
                false,
            ),
            (200, vec![h(FIELD, "max-age=60"), h("Vary", "*")], false),
            (404, vec![h(FIELD, "max-age=60")], false),
            (200, vec![h(FIELD, "max-age=60")], true),
        ];
        for (i, (status, headers, kept)) in cases.into_iter().enumerate() {
            let k = key(&format!("/x?{i}"));
            let generation = miss(cache.look(&conn, &k, &[]).unwrap());
            let mut response = answer(headers, "x");
            response.status = status;
            cache.keep(|| k.clone(), Some(generation), &[], &mut response);
            assert!(
                !response
                    .headers
                    .iter()
                    .any(|h| h.name.eq_ignore_ascii_case(FIELD))
            );
            let found = matches!(cache.look(&conn, &k, &[]).unwrap(), Look::Hit(_));
            assert_eq!(found, kept, "case {i}");
        }
        // Vary: the named header's value is part of which answer.
        let k = key("/vary");
        let en = [h("Accept-Language", "en")];
        let generation = miss(cache.look(&conn, &k, &en).unwrap());
        let mut response = answer(
            vec![h(FIELD, "max-age=60"), h("Vary", "accept-language")],
            "en",
        );
        cache.keep(|| k.clone(), Some(generation), &en, &mut response);
        hit(cache.look(&conn, &k, &en).unwrap());
        miss(
            cache
                .look(&conn, &k, &[h("accept-language", "fr")])
                .unwrap(),
        );
        miss(cache.look(&conn, &k, &[]).unwrap());
        // A validator or no-cache goes to the plugin.
        for asks in [h("If-None-Match", "\"1\""), h("Cache-Control", "no-cache")] {
            assert!(matches!(
                cache.look(&conn, &k, &[asks, en[0].clone()]).unwrap(),
                Look::Bypass
            ));
        }
    }

    #[test]
    fn identical_misses_at_once_keep_one_answer_counted_once() {
        // Read threads that miss the same search at once each run it and keep their answer:
        // the last one stays, and the byte count holds exactly that one.
        let cache = SharedCache::new(1 << 20);
        let k = key("/api/v1/know/search?q=same");
        let threads = 8;
        let (looked, kept) = (
            std::sync::Barrier::new(threads),
            std::sync::Barrier::new(threads),
        );
        std::thread::scope(|scope| {
            for i in 0..threads {
                let (cache, k, looked, kept) = (&cache, &k, &looked, &kept);
                scope.spawn(move || {
                    let conn = Connection::open_in_memory().unwrap();
                    // A connection's first look counts as a commit seen; let every one pass it.
                    miss(cache.look(&conn, k, &[]).unwrap());
                    looked.wait();
                    let generation = miss(cache.look(&conn, k, &[]).unwrap());
                    kept.wait();
                    let mut response = answer(vec![h(FIELD, "max-age=60")], &format!("run {i}"));
                    assert!(cache.keep(|| k.clone(), Some(generation), &[], &mut response));
                });
            }
        });
        let inner = cache.lock();
        assert_eq!(inner.answers.len(), 1);
        let (_, entry) = inner.answers.iter().next().unwrap();
        assert_eq!(inner.bytes, entry.weight);
        drop(inner);
        let conn = Connection::open_in_memory().unwrap();
        // This connection's first look bumps the generation (as any connection's first does).
        miss(cache.look(&conn, &k, &[]).unwrap());
        let inner = cache.lock();
        assert_eq!((inner.answers.len(), inner.bytes), (0, 0));
    }

    #[test]
    fn the_budget_bounds_the_bytes_kept() {
        let conn = Connection::open_in_memory().unwrap();
        let cache = SharedCache::new(64 << 10);
        let body = "x".repeat(4 << 10);
        for i in 0..100 {
            let k = key(&format!("/x?{i}"));
            let generation = miss(cache.look(&conn, &k, &[]).unwrap());
            cache.keep(
                || k,
                Some(generation),
                &[],
                &mut answer(vec![h(FIELD, "max-age=60")], &body),
            );
        }
        let inner = cache.lock();
        assert!(inner.bytes <= 64 << 10);
        assert!(inner.answers.len() >= 10);
        drop(inner);
        // The newest stay; the oldest went.
        hit(cache.look(&conn, &key("/x?99"), &[]).unwrap());
        miss(cache.look(&conn, &key("/x?0"), &[]).unwrap());
        // Too big for the budget: not kept.
        let k = key("/big");
        let generation = miss(cache.look(&conn, &k, &[]).unwrap());
        let big = "x".repeat(16 << 10);
        cache.keep(
            || k.clone(),
            Some(generation),
            &[],
            &mut answer(vec![h(FIELD, "max-age=60")], &big),
        );
        miss(cache.look(&conn, &k, &[]).unwrap());
        // Off: nothing is looked for.
        assert!(matches!(
            SharedCache::new(0).look(&conn, &k, &[]).unwrap(),
            Look::Bypass
        ));
    }
}

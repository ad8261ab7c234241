//! The cost of one plugin call, shared by the `plugin_call` and `load` benchmarks: a fresh
//! instance of a component from its `PluginPre`, one `handle` call that makes one host import (a
//! one-row `SELECT` under the SQL sandbox) in a read transaction — against the same transaction
//! and `SELECT` done natively on the same connection. Two subjects: the guestbook's entry (four
//! columns) and Market's listing (fourteen), the plugin halves of the load harness's pairs.
// Each benchmark reads the parts it prints.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mobieus::plugins::bindings::types;
use mobieus::plugins::dispatch::{read_call, route_call};
use mobieus::plugins::migrate;
use mobieus::plugins::registry::{Origin, PluginSet, Plugins};
use mobieus::plugins::runtime::{Limits, Runtime};
use tenants::{Env, Plan, PoolConfig, Slug, Store};

pub struct Overhead {
    pub calls: u64,
    pub plugin: Histogram<u64>,
    pub native: Histogram<u64>,
    pub plugin_total: Duration,
    pub native_total: Duration,
}

impl Overhead {
    pub fn plugin_mean_us(&self) -> f64 {
        self.plugin_total.as_nanos() as f64 / self.calls as f64 / 1000.0
    }

    pub fn native_mean_us(&self) -> f64 {
        self.native_total.as_nanos() as f64 / self.calls as f64 / 1000.0
    }

    /// Instantiate + call: what a plugin call costs beyond the same read done natively.
    pub fn overhead_us(&self) -> f64 {
        self.plugin_mean_us() - self.native_mean_us()
    }
}

/// What is read: a plugin's one-row GET, and the same row read natively.
#[derive(Clone, Copy)]
pub enum Subject {
    /// `GET /api/v1/guestbook/entries/{id}`: four text columns.
    Entry,
    /// Market's `GET /api/v1/listings/{id}`: fourteen columns, a JSON list among them.
    Listing,
}

impl Subject {
    pub fn name(self) -> &'static str {
        match self {
            Subject::Entry => "guestbook entry (4 columns)",
            Subject::Listing => "Market listing (14 columns)",
        }
    }

    fn wasm(self) -> (Vec<u8>, Origin) {
        match self {
            Subject::Entry => {
                let path = PathBuf::from(
                    std::env::var("LOAD_GUESTBOOK")
                        .unwrap_or_else(|_| env!("MOBIEUS_GUESTBOOK_WASM").into()),
                );
                (std::fs::read(&path).unwrap(), Origin::Installed(path))
            }
            // `LOAD_MARKET=path/market.wasm` measures another build of it.
            Subject::Listing => match std::env::var("LOAD_MARKET") {
                Ok(path) => (std::fs::read(&path).unwrap(), Origin::FirstParty),
                Err(_) => (
                    mobieus::plugins::registry::embedded_wasm("market")
                        .expect("Market is embedded")
                        .to_vec(),
                    Origin::FirstParty,
                ),
            },
        }
    }

    fn seed(self) -> &'static str {
        match self {
            Subject::Entry => {
                "INSERT INTO guestbook_entries (id, name, message, created_at) VALUES ('gb_1', 'bench', 'one row', '2026-11-27T00:00:00.000Z')"
            }
            Subject::Listing => {
                "INSERT INTO market_listings (id, title, description, price, currency, seller_id, status, file_ids, created_at, updated_at)
                 VALUES ('lst_01KBENCH0000000000000000000', 'A bicycle', 'Barely ridden, new tyres.', 12000, 'EUR', 'usr_01KBENCH0000000000000000000', 'active', '[]', '2026-11-27T00:00:00.000Z', '2026-11-27T00:00:00.000Z')"
            }
        }
    }

    /// Path, route template, its parameter, the scope.
    fn request(
        self,
    ) -> (
        &'static str,
        &'static str,
        (&'static str, &'static str),
        &'static str,
    ) {
        match self {
            Subject::Entry => (
                "/api/v1/guestbook/entries/gb_1",
                "/api/v1/guestbook/entries/{id}",
                ("id", "gb_1"),
                "guestbook:read",
            ),
            Subject::Listing => (
                "/api/v1/listings/lst_01KBENCH0000000000000000000",
                "/api/v1/listings/{id}",
                ("id", "lst_01KBENCH0000000000000000000"),
                "listings:read",
            ),
        }
    }

    fn native(self, conn: &rusqlite::Connection) {
        match self {
            Subject::Entry => native_entry(conn),
            Subject::Listing => native_listing(conn),
        }
    }
}

/// `calls` plugin calls, then `calls` native reads, one thread, after a warm-up of both.
pub fn measure(subject: Subject, calls: u64) -> Overhead {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), PoolConfig::default()).unwrap();
    let tenant = store
        .create_tenant(&Slug::parse("bench").unwrap(), Plan::Pro)
        .unwrap();
    let db = store.db(&tenant, Env::Live).unwrap();
    let plugins = Plugins::new(
        Runtime::new(Limits::default(), Some(dir.path().join("cache"))).unwrap(),
        dir.path().join("plugins"),
    );
    let (wasm, origin) = subject.wasm();
    let plugin = std::sync::Arc::new(plugins.load(&wasm, origin, &PluginSet::default()).unwrap());
    let p = plugin.clone();
    db.write(move |w| -> anyhow::Result<()> {
        migrate::ensure(w, &p, &Limits::default()).map_err(anyhow::Error::msg)?;
        w.execute(subject.seed(), [])?;
        Ok(())
    })
    .unwrap();

    let (path, route, (param, value), scope) = subject.request();
    let request = types::Request {
        method: "GET".into(),
        path: path.into(),
        route: route.into(),
        params: vec![(param.into(), value.into())],
        query: String::new(),
        headers: vec![],
        body: vec![],
        caller: types::Caller {
            key_id: "key_1".into(),
            scopes: vec![scope.into()],
            env: "live".into(),
            tenant: "bench".into(),
        },
        request_id: "req_bench".into(),
    };
    let call = || route_call(&plugins, &plugin, Default::default(), "req_bench", None);

    let mut plugin_hist = Histogram::<u64>::new_with_bounds(1, 10_000_000, 3).unwrap();
    let mut native_hist = plugin_hist.clone();
    let conn = db_conn(&db);
    // Warm up both paths (page cache, the pool's instance slots).
    for _ in 0..1000 {
        read_call(&conn, &plugins, &plugin, call(), &request)
            .ok()
            .unwrap();
        subject.native(&conn);
    }
    let started = Instant::now();
    for _ in 0..calls {
        let t = Instant::now();
        let response = read_call(&conn, &plugins, &plugin, call(), &request)
            .ok()
            .unwrap();
        plugin_hist.record(t.elapsed().as_nanos() as u64).unwrap();
        assert_eq!(response.status, 200);
    }
    let plugin_total = started.elapsed();
    let started = Instant::now();
    for _ in 0..calls {
        let t = Instant::now();
        subject.native(&conn);
        native_hist.record(t.elapsed().as_nanos() as u64).unwrap();
    }
    let native_total = started.elapsed();
    Overhead {
        calls,
        plugin: plugin_hist,
        native: native_hist,
        plugin_total,
        native_total,
    }
}

fn db_conn(db: &tenants::TenantDb) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(db.path()).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL").ok();
    conn
}

fn native_entry(conn: &rusqlite::Connection) {
    conn.execute_batch("BEGIN").unwrap();
    let row: (String, String, String, String) = conn
        .prepare_cached("SELECT id, name, message, created_at FROM guestbook_entries WHERE id = ?1")
        .unwrap()
        .query_row(["gb_1"], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap();
    std::hint::black_box(
        serde_json::to_vec(
            &serde_json::json!({"id": row.0, "name": row.1, "message": row.2, "created_at": row.3}),
        )
        .unwrap(),
    );
    conn.execute_batch("ROLLBACK").unwrap();
}

fn native_listing(conn: &rusqlite::Connection) {
    conn.execute_batch("BEGIN").unwrap();
    let listing = conn
        .prepare_cached(
            "SELECT id, title, description, price, currency, seller_id, buyer_id, status, file_ids,
                    withdrawn_reason, created_at, updated_at, sold_at, withdrawn_at
             FROM market_listings WHERE id = ?1",
        )
        .unwrap()
        .query_row(["lst_01KBENCH0000000000000000000"], |r| {
            let file_ids: String = r.get(8)?;
            Ok(serde_json::json!({
                "id": r.get::<_, String>(0)?,
                "title": r.get::<_, String>(1)?,
                "description": r.get::<_, String>(2)?,
                "price": r.get::<_, i64>(3)?,
                "currency": r.get::<_, String>(4)?,
                "seller_id": r.get::<_, String>(5)?,
                "buyer_id": r.get::<_, Option<String>>(6)?,
                "status": r.get::<_, String>(7)?,
                "file_ids": serde_json::from_str::<serde_json::Value>(&file_ids).unwrap(),
                "withdrawn_reason": r.get::<_, Option<String>>(9)?,
                "created_at": r.get::<_, String>(10)?,
                "updated_at": r.get::<_, String>(11)?,
                "sold_at": r.get::<_, Option<String>>(12)?,
                "withdrawn_at": r.get::<_, Option<String>>(13)?,
            }))
        })
        .unwrap();
    std::hint::black_box(serde_json::to_vec(&listing).unwrap());
    conn.execute_batch("ROLLBACK").unwrap();
}

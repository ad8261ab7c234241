//! Load harness (not a test): what one box holds with 10,000 tenants and traffic spread as Zipf's
//! law (a few hot, most cold). It creates the tenants and a key each through the library (a CLI
//! process per tenant would take ten times longer), starts the release binary, then measures:
//!
//! 1. the reference: `GET /api/v1/events?limit=20` of one tenant, at N keep-alive connections;
//! 2. the same read spread over all but the last 200 tenants by Zipf's law (s = 1), each
//!    request with its tenant's `Host` and key: throughput and latency against the reference;
//! 3. the server's resident memory and open descriptors after it;
//! 4. the first request to each of the 200 tenants never touched (a cold tenant: its files
//!    open), one at a time, against the second request to the same tenant.
//!
//! Run: `cargo bench -p mobieus --bench zipf_tenants` (env `ZIPF_TENANTS`, default 10000;
//! `LOAD_SECS`, default 20; `LOAD_CONNECTIONS`, default 32).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

mod common;

use bytes::Bytes;
use chrono::Utc;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use mobieus::auth::{KeyKind, NewKey, keys};
use tenants::{Env, Plan, PoolConfig, Slug, Store};

use common::drive::{self, Scenario};

/// Tenants left out of the Zipf traffic, to measure a cold first request.
const COLD: usize = 200;

fn main() {
    let n = common::env("ZIPF_TENANTS", 10_000) as usize;
    let secs = common::env("LOAD_SECS", 20);
    let connections = common::env("LOAD_CONNECTIONS", 32) as usize;
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().to_str().unwrap().to_owned();
    let started = Instant::now();
    let keys = seed(dir.path(), n);
    println!(
        "{n} tenants, a key each, in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let (mut server, addr) = common::start(&data);
    let pid = server.id();
    let rt = common::runtime();
    let duration = Duration::from_secs(secs);
    rt.block_on(async {
        let reference = Arc::new(Scenario::get("/api/v1/events?limit=20", Some(&keys[0])));
        let host = format!("t0.localhost:{}", addr.port());
        let one = drive::measure(pid, addr, &host, reference, connections, duration).await;
        println!("{}", drive::header());
        println!("{}", one.row("one tenant (reference)"));
        let hot = n - COLD;
        let keys = Arc::new(keys);
        let (rate, p50, p99, errors, touched) = zipf(addr, keys.clone(), hot, connections, duration).await;
        println!(
            "{:<44} {:>10.0} {:>9} {:>9} {:>9} {:>8}",
            format!("Zipf over {hot} tenants"),
            rate,
            p50,
            p99,
            "",
            errors
        );
        println!(
            "ratio: {:.2}x the one-tenant reference; {touched} distinct tenants touched",
            rate / one.rate()
        );
        let (rss, fds) = process(pid);
        println!("server: {rss} MiB resident, {fds} open descriptors");
        let (cold, warm) = first_requests(addr, &keys, hot, n).await;
        println!(
            "first request to a cold tenant ({COLD}, one at a time): p50 {} µs, p99 {} µs; its second: p50 {} µs, p99 {} µs",
            cold.value_at_quantile(0.5),
            cold.value_at_quantile(0.99),
            warm.value_at_quantile(0.5),
            warm.value_at_quantile(0.99)
        );
        let (rss, fds) = process(pid);
        println!("server after: {rss} MiB resident, {fds} open descriptors");
    });
    let _ = server.kill();
}

/// `n` tenants `t0…`, each with a live key that reads events and is not rate-limited.
fn seed(dir: &std::path::Path, n: usize) -> Vec<String> {
    let store = Store::open(
        dir,
        PoolConfig {
            connections_per_db: 1,
            ..Default::default()
        },
    )
    .unwrap();
    (0..n)
        .map(|i| {
            let tenant = store
                .create_tenant(&Slug::parse(&format!("t{i}")).unwrap(), Plan::Pro)
                .unwrap();
            let new = NewKey {
                env: Env::Live,
                kind: KeyKind::Secret,
                format: keys::KeyFormat::Mobieus,
                scopes: vec!["events:read".into()],
                label: None,
                expires_at: None,
                rate_limit_per_minute: Some(1_000_000_000),
            };
            let db = store.db(&tenant, Env::Live).unwrap();
            let (_, plaintext) = db
                .write(move |w| keys::create(w, &new, Utc::now()).map_err(tenants::Error::from))
                .unwrap();
            store.pools().close_tenant(&tenant.id);
            plaintext
        })
        .collect()
}

/// Ranks 0..n by Zipf's law with s = 1: the cumulative weights, for a binary search.
fn zipf_cdf(n: usize) -> Vec<f64> {
    let mut total = 0.0;
    let mut cdf: Vec<f64> = (1..=n)
        .map(|k| {
            total += 1.0 / k as f64;
            total
        })
        .collect();
    for c in &mut cdf {
        *c /= total;
    }
    cdf
}

type ZipfResult = (f64, u64, u64, u64, usize);

async fn zipf(
    addr: SocketAddr,
    keys: Arc<Vec<String>>,
    hot: usize,
    connections: usize,
    duration: Duration,
) -> ZipfResult {
    let cdf = Arc::new(zipf_cdf(hot));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|c| {
            let (cdf, keys, stop) = (cdf.clone(), keys.clone(), stop.clone());
            tokio::spawn(async move {
                let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
                let (mut errors, mut touched) = (0u64, std::collections::HashSet::new());
                let mut sender = common::connect(addr).await;
                let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ c as u64;
                while !stop.load(Ordering::Relaxed) {
                    // xorshift: uniform in [0, 1), then the rank it falls on.
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let u = (seed >> 11) as f64 / (1u64 << 53) as f64;
                    let rank = cdf.partition_point(|&c| c < u).min(cdf.len() - 1);
                    touched.insert(rank);
                    let request = hyper::Request::get("/api/v1/events?limit=20")
                        .header("host", format!("t{rank}.localhost:{}", addr.port()))
                        .header("authorization", format!("Bearer {}", keys[rank]))
                        .body(Full::new(Bytes::new()))
                        .unwrap();
                    let t = Instant::now();
                    let resp = sender.send_request(request).await.unwrap();
                    let ok = resp.status().is_success();
                    let _ = resp.into_body().collect().await.unwrap();
                    if ok {
                        hist.record(t.elapsed().as_micros() as u64).unwrap();
                    } else {
                        errors += 1;
                    }
                }
                (hist, errors, touched)
            })
        })
        .collect();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let (mut errors, mut touched) = (0, std::collections::HashSet::new());
    for t in tasks {
        let (hist, e, seen) = t.await.unwrap();
        all.add(hist).unwrap();
        errors += e;
        touched.extend(seen);
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    (
        rate,
        all.value_at_quantile(0.5),
        all.value_at_quantile(0.99),
        errors,
        touched.len(),
    )
}

/// The first and the second request to each tenant in `from..to`, one at a time.
async fn first_requests(
    addr: SocketAddr,
    keys: &[String],
    from: usize,
    to: usize,
) -> (Histogram<u64>, Histogram<u64>) {
    let mut cold = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let mut warm = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    for (i, key) in keys.iter().enumerate().take(to).skip(from) {
        let host = format!("t{i}.localhost:{}", addr.port());
        for hist in [&mut cold, &mut warm] {
            let t = Instant::now();
            let (status, _) = common::request(
                addr,
                &host,
                Some(key),
                "GET",
                "/api/v1/events?limit=20",
                None,
            )
            .await;
            assert_eq!(status, 200);
            hist.record(t.elapsed().as_micros() as u64).unwrap();
        }
    }
    (cold, warm)
}

/// The server's resident memory (MiB) and open descriptors.
fn process(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
    (rss_kib / 1024, fds)
}

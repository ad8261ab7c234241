//! Load harness (not a test): starts the release binary on a temp data dir and drives it at 64
//! keep-alive connections, printing throughput, p50/p99 and the server's CPU time per request for
//!
//! - `GET /healthz` (no tenant, no key),
//! - `GET /api/v1/events?limit=20` (authenticated, 20 rows from the tenant's file),
//! - `POST /api/v1/posts` (authenticated; one row + one event in one transaction),
//! - one-row reads and 20-row list pages of the host's posts beside the Market plugin's listings
//!   (and the guestbook plugin beside users), the same work through the same stack.
//!
//! Each plugin route's throughput and CPU-per-request ratios to the native route beside it are
//! the medians of the rounds' ratios. When plugin routes ran, it also measures the per-request
//! instantiate + call overhead in-process (as the `plugin_call` benchmark does).
//!
//! Then it SIGKILLs the server, restarts it, and checks that every acknowledged create is there.
//!
//! Run: `cargo bench -p mobieus --bench load` (env `LOAD_SECS`, default 10 s per scenario;
//! `LOAD_CONNECTIONS`, default 64; `LOAD_ROUNDS`, default 1, reports the median of several rounds;
//! `LOAD_ONLY=text`, only the scenarios whose name contains it). The load generator shares the machine's cores with the server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

#[path = "common/call_overhead.rs"]
mod call_overhead;
mod common;

use common::drive::{self, RunResult, Scenario};
use common::{cli, request, start};

fn main() {
    let secs = common::env("LOAD_SECS", 10);
    let connections = common::env("LOAD_CONNECTIONS", 64) as usize;
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().to_str().unwrap().to_owned();
    let (mut server, addr) = start(&data);
    cli(&data, &["tenant", "create", "bench", "--plan", "pro"]);
    cli(&data, &["plugin", "install", &common::guestbook_wasm()]);
    cli(
        &data,
        &["plugin", "enable", "--tenant", "bench", "guestbook"],
    );
    let key = common::unlimited_key(
        &data,
        "bench",
        "events:read,users:read,users:write,posts:read,posts:write,guestbook:read,guestbook:write,listings:read,listings:write",
    );
    let host = format!("bench.localhost:{}", addr.port());

    let runtime = common::runtime();
    let seeded = runtime.block_on(seed(addr, &host, &key));
    let author = seeded.author.clone();
    println!(
        "mobieus load harness: {connections} keep-alive connections, {secs} s per scenario, {} posts and {} listings seeded",
        seeded.posts, seeded.listings
    );
    println!("{}", drive::header());

    // A plugin route and a native route doing the same one-row read, through the same host stack.
    let entry = runtime.block_on(guestbook_entry(addr, &host, &key));
    let user_path = format!("/api/v1/users/{author}");
    let entry_path = format!("/api/v1/guestbook/entries/{entry}");
    let post_path = format!("/api/v1/posts/{}", seeded.post);
    let listing_path = format!("/api/v1/listings/{}", seeded.listing);
    let scenarios: Vec<(&str, Scenario)> = vec![
        ("GET /healthz", Scenario::get("/healthz", None)),
        (
            "GET /api/v1/users/{id} (native)",
            Scenario::get(&user_path, Some(&key)),
        ),
        (
            "GET /api/v1/guestbook/entries/{id} (plugin)",
            Scenario::get(&entry_path, Some(&key)),
        ),
        (
            "GET /api/v1/posts/{id} (native)",
            Scenario::get(&post_path, Some(&key)),
        ),
        (
            "GET /api/v1/listings/{id} (plugin)",
            Scenario::get(&listing_path, Some(&key)),
        ),
        (
            "GET /api/v1/posts?limit=20 (native)",
            Scenario::get("/api/v1/posts?limit=20", Some(&key)),
        ),
        (
            "GET /api/v1/listings?limit=20 (plugin)",
            Scenario::get("/api/v1/listings?limit=20", Some(&key)),
        ),
        (
            "GET /api/v1/events?limit=20",
            Scenario::get("/api/v1/events?limit=20", Some(&key)),
        ),
        (
            "POST /api/v1/posts",
            Scenario::post(
                "/api/v1/posts",
                &key,
                format!(
                    r#"{{"author_id":"{author}","title":"Load","body":"A post written by the load harness."}}"#
                ),
            ),
        ),
    ];
    // LOAD_ONLY=events runs only the scenarios whose name contains it (for profiling).
    let only = std::env::var("LOAD_ONLY").unwrap_or_default();
    // LOAD_ROUNDS=3 runs the scenarios round-robin three times and reports each one's median
    // round: on a shared 2-core box one run of a scenario varies by ±10%.
    let rounds = common::env("LOAD_ROUNDS", 1).max(1);
    let scenarios: Vec<(&str, Arc<Scenario>)> = scenarios
        .into_iter()
        .filter(|(n, _)| n.contains(only.as_str()))
        .map(|(n, s)| (n, Arc::new(s)))
        .collect();
    let mut results: Vec<Vec<RunResult>> = scenarios.iter().map(|_| vec![]).collect();
    let mut created = 0;
    for _ in 0..rounds {
        for ((name, scenario), runs) in scenarios.iter().zip(&mut results) {
            let result = runtime.block_on(drive::measure(
                server.id(),
                addr,
                &host,
                scenario.clone(),
                connections,
                Duration::from_secs(secs),
            ));
            if name.starts_with("POST") {
                created += result.ok;
            }
            runs.push(result);
        }
    }
    for ((name, _), runs) in scenarios.iter().zip(&results) {
        let (result, all) = drive::median(runs);
        let rounds = if runs.len() > 1 {
            format!("   rounds: {all}")
        } else {
            String::new()
        };
        println!("{}{rounds}", result.row(name));
    }

    // A plugin scenario against the native one listed just before it, round by round (both ran
    // back to back, so a slow minute of the shared box weighs on both): the median of the
    // rounds' throughput ratios, and of their server-CPU-per-request ratios, which the load
    // generator's share of the cores does not disturb.
    for (i, (name, _)) in scenarios.iter().enumerate().skip(1) {
        let (native, _) = scenarios[i - 1];
        if !(name.ends_with("(plugin)") && native.ends_with("(native)")) {
            continue;
        }
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let pairs = || results[i].iter().zip(&results[i - 1]);
        let throughput = median(pairs().map(|(p, n)| p.rate() / n.rate()).collect());
        let cpu = median(
            pairs()
                .map(|(p, n)| n.cpu_per_request() / p.cpu_per_request())
                .collect(),
        );
        println!(
            "{name} / {native}: throughput {throughput:.2}x, native CPU per request / plugin's {cpu:.2}x"
        );
    }

    // The per-request cost of the plugin call itself, measured in this process on one thread
    // while the server idles (the same measurement as the `plugin_call` benchmark).
    if scenarios.iter().any(|(name, _)| name.ends_with("(plugin)")) {
        for subject in [
            call_overhead::Subject::Entry,
            call_overhead::Subject::Listing,
        ] {
            let o = call_overhead::measure(subject, 20_000);
            println!(
                "instantiate+call overhead, {}: {:.1} µs per request (plugin call {:.1} µs, the same read natively {:.1} µs; one thread, 20,000 calls)",
                subject.name(),
                o.overhead_us(),
                o.plugin_mean_us(),
                o.native_mean_us()
            );
        }
    }

    // Durability under load: SIGKILL right after the last acknowledged create, then count.
    server.kill().unwrap();
    server.wait().unwrap();
    let (mut server, addr) = start(&data);
    let host = format!("bench.localhost:{}", addr.port());
    let total = runtime.block_on(async {
        let resp = request(
            addr,
            &host,
            Some(&key),
            "GET",
            "/api/v1/posts?limit=1",
            None,
        )
        .await;
        let v: serde_json::Value = serde_json::from_slice(&resp.1).unwrap();
        v["total_count"].as_u64().unwrap()
    });
    let seeded_posts = seeded.posts as u64;
    if !only.is_empty() && !"POST".contains(only.as_str()) {
        let _ = server.kill();
        return;
    }
    println!(
        "after SIGKILL and restart: {} of {} acknowledged creates present{}",
        total - seeded_posts,
        created,
        if total - seeded_posts == created {
            ""
        } else {
            "  <-- LOST WRITES"
        }
    );
    let _ = server.kill();
}

/// Writes one guestbook entry (the plugin is installed and on); returns its id.
async fn guestbook_entry(addr: SocketAddr, host: &str, key: &str) -> String {
    for _ in 0..100 {
        let (status, body) = request(
            addr,
            host,
            Some(key),
            "POST",
            "/api/v1/guestbook/entries",
            Some(br#"{"name":"bench","message":"one row to read"}"#.to_vec()),
        )
        .await;
        if status == 201 {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            return v["id"].as_str().unwrap().to_owned();
        }
        // The server loads newly installed plugins within a second.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the guestbook plugin never answered");
}

struct Seeded {
    author: String,
    posts: usize,
    listings: usize,
    post: String,
    listing: String,
}

/// One user, 99 posts and 99 listings, so every list read returns a full page.
async fn seed(addr: SocketAddr, host: &str, key: &str) -> Seeded {
    let create = async |path: &str, body: String| -> String {
        let (status, body) =
            request(addr, host, Some(key), "POST", path, Some(body.into_bytes())).await;
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        v["id"].as_str().unwrap().to_owned()
    };
    let author = create("/api/v1/users", r#"{"username":"bench"}"#.into()).await;
    let (mut post, mut listing) = (String::new(), String::new());
    for i in 0..99 {
        post = create(
            "/api/v1/posts",
            format!(r#"{{"author_id":"{author}","body":"seed {i}"}}"#),
        )
        .await;
        listing = create(
            "/api/v1/listings",
            format!(
                r#"{{"seller_id":"{author}","title":"Seed {i}","description":"A thing to sell","price":{},"currency":"EUR"}}"#,
                100 * i
            ),
        )
        .await;
    }
    Seeded {
        author,
        posts: 99,
        listings: 99,
        post,
        listing,
    }
}

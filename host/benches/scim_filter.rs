//! Load harness (not a test): `GET /scim/v2/Users?filter=userName eq "…"` over 100,000 users,
//! beside the host's events read (`GET /api/v1/events?limit=20`) in the same run, at 64
//! keep-alive connections. The rounds alternate the two, so a slow minute of the shared box
//! weighs on both; it prints each one's throughput and latency and the median of the rounds'
//! ratios. A lookup by `userName` is an index lookup (`users_username_nocase`), so it must not
//! slow down as the directory grows: the harness also times the same filter at 1,000 users
//! first, to show the lookup costs the same at 100 times the users; and, last, what a filter
//! with no index to use (`name.familyName eq`) costs: a scan of every user.
//!
//! Run: `cargo bench -p mobieus --bench scim_filter` (env `LOAD_SECS`, default 10 s per
//! scenario; `LOAD_CONNECTIONS`, default 64; `LOAD_ROUNDS`, default 3; `SCIM_USERS`, default
//! 100000). Seeding 100,000 users through `POST /scim/v2/Users` takes a minute or two.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use common::drive::{self, RunResult, Scenario};
use common::{cli, request, start};

/// Filters for 64 different users spread over the first `users`, in mixed case (compared
/// without case, as SCIM says).
fn lookups(users: usize) -> Vec<String> {
    (0..64)
        .map(|i| {
            let n = (i * 7_919 + 13) % users;
            let filter = format!("userName eq \"Member{n}@Example.org\"");
            let q: String = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect();
            format!("/scim/v2/Users?filter={q}")
        })
        .collect()
}

fn main() {
    let secs = common::env("LOAD_SECS", 10);
    let connections = common::env("LOAD_CONNECTIONS", 64) as usize;
    let rounds = common::env("LOAD_ROUNDS", 3).max(1);
    let users = common::env("SCIM_USERS", 100_000) as usize;
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().to_str().unwrap().to_owned();
    let (mut server, addr) = start(&data);
    cli(&data, &["tenant", "create", "bench", "--plan", "pro"]);
    // SCIM follows the tenant's rate limit: lift it to the most a tenant may set (a million a
    // minute, far above what this box serves).
    cli(
        &data,
        &[
            "settings",
            "set",
            "--tenant",
            "bench",
            "default_rate_limit_per_minute",
            "1000000",
        ],
    );
    let key = common::unlimited_key(&data, "bench", "events:read");
    let token = cli(
        &data,
        &["scim", "token", "create", "--tenant", "bench", "--quiet"],
    )
    .trim()
    .to_owned();
    let host = format!("bench.localhost:{}", addr.port());
    let runtime = common::runtime();
    let duration = Duration::from_secs(secs);

    // The same lookup at 1,000 users, before the rest are written.
    let small = users.min(1_000);
    let started = Instant::now();
    runtime.block_on(seed(addr, &host, &token, 0, small));
    let at_small = Arc::new(Scenario::get_each(lookups(small), Some(&token)));
    let small_run = runtime.block_on(drive::measure(
        server.id(),
        addr,
        &host,
        at_small,
        connections,
        duration,
    ));
    runtime.block_on(seed(addr, &host, &token, small, users));
    println!(
        "mobieus SCIM filter harness: {users} users seeded through POST /scim/v2/Users in {:.0} s; {connections} keep-alive connections, {secs} s per scenario, {rounds} rounds",
        started.elapsed().as_secs_f64()
    );
    let (status, body) = runtime.block_on(request(
        addr,
        &host,
        Some(&token),
        "GET",
        &lookups(users)[0],
        None,
    ));
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (status, body["totalResults"].as_u64()),
        (200, Some(1)),
        "{body}"
    );

    let scenarios = [
        (
            "GET /api/v1/events?limit=20 (host)",
            Arc::new(Scenario::get("/api/v1/events?limit=20", Some(&key))),
        ),
        (
            "GET /scim/v2/Users?filter=userName eq",
            Arc::new(Scenario::get_each(lookups(users), Some(&token))),
        ),
    ];
    let mut results: Vec<Vec<RunResult>> = vec![vec![], vec![]];
    for _ in 0..rounds {
        for ((_, scenario), runs) in scenarios.iter().zip(&mut results) {
            let (s, c) = (scenario.clone(), connections);
            runs.push(runtime.block_on(drive::measure(server.id(), addr, &host, s, c, duration)));
        }
    }
    println!("{}   rounds", drive::header());
    println!(
        "{}",
        small_run.row(&format!("  the same filter at {small} users"))
    );
    let mut medians = vec![];
    for ((name, _), runs) in scenarios.iter().zip(&results) {
        let (m, all) = drive::median(runs);
        println!("{}   {all}", m.row(name));
        medians.push(m);
    }
    let ratio = drive::compare(&results[0], &results[1]).throughput;
    let errors: u64 = results.iter().flatten().map(|r| r.errors).sum::<u64>() + small_run.errors;
    println!(
        "userName filter / events read: {ratio:.2}x; at {users} users / at {small} users: {:.2}x; {errors} errors",
        medians[1].rate() / small_run.rate()
    );

    // What an unindexed filter costs, for the docs: it reads every user and evaluates in
    // memory (a scan), a few connections at a time.
    let q: String = url::form_urlencoded::byte_serialize(b"name.familyName eq \"77\"").collect();
    let scan = Arc::new(Scenario::get(
        &format!("/scim/v2/Users?filter={q}"),
        Some(&token),
    ));
    let r = runtime.block_on(drive::measure(server.id(), addr, &host, scan, 4, duration));
    println!(
        "{}",
        r.row(&format!(
            "  a scan: filter=name.familyName eq, {users} users"
        ))
    );
    let _ = server.kill();
}

/// Provisions users `from..to` over 8 connections (writes queue for the tenant's writer anyway).
async fn seed(addr: SocketAddr, host: &str, token: &str, from: usize, to: usize) {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(from));
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let (next, host, token) = (next.clone(), host.to_owned(), token.to_owned());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= to {
                        return;
                    }
                    let body = serde_json::json!({
                        "userName": format!("member{i}@example.org"),
                        "name": { "givenName": "Member", "familyName": format!("{i}") },
                        "emails": [{ "value": format!("member{i}@example.org"), "primary": true }],
                        "active": true,
                    });
                    let (status, answer) = request(
                        addr,
                        &host,
                        Some(&token),
                        "POST",
                        "/scim/v2/Users",
                        Some(body.to_string().into_bytes()),
                    )
                    .await;
                    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&answer));
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
}

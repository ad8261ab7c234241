//! The hostile plugin (`tests/plugins/hostile`, `tests/plugins/squatter`) against the sandbox's
//! limits, each case with probes showing the rest of the box keeps answering within a second:
//! `/healthz`, another tenant, the same tenant's host routes, and another plugin (guestbook).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{ALL_CORE, Client, Server, eventually};
use crate::operations;
use crate::plugins::{dropped_in_is_refused, hostile_server_with, test_plugin};
use crate::receiver::{Receiver, Reply};

/// A server with the hostile plugin on for `acme`, and a second tenant to probe.
struct Hostile {
    server: Server,
    acme: Client,
    other: Client,
}

async fn hostile_box(args: &[&str]) -> Hostile {
    let scopes = format!("{ALL_CORE},hostile:use,guestbook:read,guestbook:write");
    let (server, acme) = hostile_server_with(args, &scopes).await;
    let other = server.tenant_with_key("other");
    Hostile {
        server,
        acme,
        other,
    }
}

impl Hostile {
    /// A small plugin write, which must succeed.
    async fn write_a_thing(&self) {
        let r = self.acme.post("/api/v1/hostile/things", json!({})).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
}

/// Asks the rest of the box, every 100 ms while it runs, and remembers the slowest answer.
struct Probe {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<(String, Duration)>>,
}

impl Probe {
    fn start(b: &Hostile) -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let probes: Vec<(String, Client)> = vec![
            ("/healthz".into(), b.server.client("-")),
            ("/api/v1/users".into(), b.other.clone()),
            ("/api/v1/posts".into(), b.acme.clone()),
            ("/api/v1/guestbook/entries".into(), b.acme.clone()),
        ];
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut slowest: Vec<(String, Duration)> = probes
                .iter()
                .map(|(p, _)| (p.clone(), Duration::ZERO))
                .collect();
            while !flag.load(Ordering::Relaxed) {
                for (i, (path, client)) in probes.iter().enumerate() {
                    let started = Instant::now();
                    let r = tokio::time::timeout(Duration::from_secs(10), client.get(path))
                        .await
                        .unwrap_or_else(|_| panic!("{path}: no answer in 10 s"));
                    assert_eq!(r.status, 200, "{path}: {}", r.text);
                    slowest[i].1 = slowest[i].1.max(started.elapsed());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            slowest
        });
        Probe { stop, task }
    }

    /// Stops, and fails if any probe ever took a second.
    async fn finish(self) {
        self.stop.store(true, Ordering::Relaxed);
        for (path, slowest) in self.task.await.unwrap() {
            assert!(slowest < Duration::from_secs(1), "{path} took {slowest:?}");
        }
    }
}

/// Sends `n` copies of a request at once; their answers and how long the last took.
async fn at_once(
    client: &Client,
    method: reqwest::Method,
    path: &str,
    n: usize,
) -> (Vec<(u16, Value)>, Duration) {
    let started = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (client, method, path) = (client.clone(), method.clone(), path.to_owned());
            tokio::spawn(async move {
                let body =
                    (method == reqwest::Method::POST).then(|| ("application/json", b"{}".to_vec()));
                let r =
                    tokio::time::timeout(Duration::from_secs(30), client.send(method, &path, body))
                        .await
                        .unwrap_or_else(|_| panic!("{path}: no answer in 30 s"));
                (
                    r.status.as_u16(),
                    serde_json::from_str(&r.text).unwrap_or(Value::Null),
                )
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    (out, started.elapsed())
}

fn resident_mib(server: &Server) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", server.pid().unwrap())).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024
}

/// Case 1: a plugin named like a host table prefix is refused, and says why.
#[tokio::test]
async fn a_plugin_named_after_host_tables_is_refused_at_install() {
    let server = Server::start();
    let out = server.cli(&["plugin", "install", &test_plugin("squatter")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("name `api` is taken") && stderr.contains("api_keys"),
        "{stderr}"
    );
    // Dropped into the directory by hand, the server refuses it too, with the same reason.
    dropped_in_is_refused(&server, "squatter", "name `api` is taken").await;
    let list = server.cli_ok(&["plugin", "list", "--json"]);
    assert!(!list.contains("\"api\""), "{list}");
}

/// Case 2: SQL that never ends, in a read and in a write (holding the tenant's writer), and a
/// WASI sleep, all stop at the deadline; a hundred sleeping calls answer at once.
#[tokio::test]
async fn the_deadline_bounds_sql_and_sleeps_too() {
    let b = hostile_box(&["--metrics-listen", "127.0.0.1:0"]).await;
    let probe = Probe::start(&b);
    for method in [reqwest::Method::GET, reqwest::Method::POST] {
        let started = Instant::now();
        let r = b
            .acme
            .send(
                method.clone(),
                "/api/v1/hostile/sql-spin",
                (method == reqwest::Method::POST).then(|| ("application/json", b"{}".to_vec())),
            )
            .await;
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(4),
            "{method} sql-spin took {took:?}"
        );
        // Interrupted at the deadline: the guest either answers with the error or is trapped.
        match r.status.as_u16() {
            200 => assert!(
                r.json()["error"].as_str().unwrap().contains("deadline"),
                "{}",
                r.text
            ),
            _ => r.assert_error(503, "plugin_timeout"),
        }
    }
    // The writer is free again: a write of the same tenant goes through at once.
    let started = Instant::now();
    b.write_a_thing().await;
    assert!(started.elapsed() < Duration::from_secs(1));

    let (sleeps, took) = at_once(&b.acme, reqwest::Method::GET, "/api/v1/hostile/sleep", 100).await;
    assert!(took < Duration::from_secs(10), "100 sleeps took {took:?}");
    for (status, body) in &sleeps {
        // Refused the moment it asks to wait; past the caps, told the surface is busy.
        assert!(
            (*status == 500 && body["error"]["code"] == "plugin_failed")
                || (*status == 503 && body["error"]["code"] == "plugin_busy"),
            "{status} {body}"
        );
    }
    // Beside them, more callers without a key than may wait: refused for that, never told the
    // plugin is busy (a plugin GET's gate checks run on the read thread, or first when it cannot
    // have one).
    let anonymous = b.server.client("acme");
    let ((spins, took), (keyless, _)) = tokio::join!(
        at_once(
            &b.acme,
            reqwest::Method::GET,
            "/api/v1/hostile/sql-spin",
            12,
        ),
        async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            at_once(
                &anonymous,
                reqwest::Method::GET,
                "/api/v1/hostile/sql-spin",
                300,
            )
            .await
        }
    );
    assert!(
        took < Duration::from_secs(15),
        "12 spinning reads took {took:?}"
    );
    assert!(
        spins.iter().all(|(s, _)| [200, 503].contains(s)),
        "{spins:?}"
    );
    assert!(
        keyless
            .iter()
            .all(|(s, body)| *s == 401 && body["error"]["code"] == "missing_authorization"),
        "{keyless:?}"
    );
    probe.finish().await;
    assert!(
        b.server.log().contains("may not sleep"),
        "the trap names the reason"
    );
    // The metrics tell the operator the same, by outcome.
    let metrics = operations::scrape(&operations::metrics_addr(&b.server)).await;
    let calls = |outcome| {
        let labels = [("plugin", "hostile"), ("outcome", outcome)];
        operations::value(&metrics, "mobieus_plugin_calls_total", &labels).unwrap_or(0.0)
    };
    assert!(calls("trap") >= 1.0, "the sleeps trapped");
    let busy = sleeps
        .iter()
        .chain(&spins)
        .filter(|(_, body)| body["error"]["code"] == "plugin_busy")
        .count();
    assert_eq!(
        calls("refused"),
        busy as f64,
        "each plugin_busy is a refusal"
    );
}

/// Case 3: SQL within resource limits — a value past the length limit, a result past what a
/// query may return, writes past the tenant's quota, and a huge rolled-back write whose WAL is
/// handed back.
#[tokio::test]
async fn sql_cannot_exhaust_memory_or_disk() {
    let b = hostile_box(&["--plugin-quota-mib", "24"]).await;
    let probe = Probe::start(&b);
    let before = resident_mib(&b.server);
    for _ in 0..5 {
        let r = b.acme.get("/api/v1/hostile/sql-huge").await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json()["allowed"], false, "{}", r.text);
        assert!(
            r.json()["error"].as_str().unwrap().contains("too big"),
            "{}",
            r.text
        );
    }
    let r = b.acme.get("/api/v1/hostile/sql-wide").await;
    assert_eq!(r.json()["allowed"], false, "{}", r.text);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("the most one query may return"),
        "{}",
        r.text
    );
    let after = resident_mib(&b.server);
    assert!(after < before + 150, "resident {before} MiB -> {after} MiB");

    // The quota: writes stop with a clear refusal. Where SQLite gives up the whole transaction
    // on reaching it (as it may), nothing of the request is kept and the client hears 507;
    // otherwise the plugin hears `denied` and keeps what fit.
    let r = b.acme.post("/api/v1/hostile/fill", json!({})).await;
    if r.status == 507 {
        r.assert_error(507, "storage_quota_exceeded");
    } else {
        assert_eq!(r.status, 200, "{}", r.text);
        let fill = r.json();
        assert!(
            (10..24).contains(&fill["inserted"].as_i64().unwrap()),
            "{fill}"
        );
        assert!(
            fill["error"]["message"].as_str().unwrap().contains("quota"),
            "{fill}"
        );
    }
    // Smaller plugin writes still fit, and the host's own writes are not held to the quota.
    b.write_a_thing().await;
    let file = b.server.data_dir().join("tenants/acme/live.db");
    let size = std::fs::metadata(&file).unwrap().len();
    assert!(size <= 25 << 20, "{size} bytes");
    assert_eq!(
        b.acme
            .post("/api/v1/users", json!({ "username": "still_writes" }))
            .await
            .status,
        201
    );
    probe.finish().await;
}

#[tokio::test]
async fn a_large_rolled_back_write_leaves_no_large_wal() {
    // Time enough to write 80 MB on a slow disk.
    let b = hostile_box(&["--plugin-timeout", "20s"]).await;
    b.acme
        .post("/api/v1/hostile/bloat-then-fail", json!({}))
        .await
        .assert_error(409, "changed_my_mind");
    // The writer truncates it right after the batch (the answer does not wait for that).
    let wal = b.server.data_dir().join("tenants/acme/live.db-wal");
    let wal_size = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    eventually(Duration::from_secs(10), async || {
        (wal_size() <= 64 << 20).then_some(())
    })
    .await;
    assert_eq!(b.acme.get("/api/v1/hostile/things").await.status, 200);
}

/// Case 4: an `on-event` storm is bounded by depth and per-call caps; a handler that loops backs
/// off; the tenant's other plugins and webhooks keep flowing meanwhile.
#[tokio::test]
async fn event_storms_and_stuck_handlers_are_bounded() {
    let receiver = Receiver::http().await;
    receiver.answer(|_| Reply::status(200));
    let b = hostile_box(&[
        "--webhook-allow-http",
        "--webhook-allow-cidr",
        "127.0.0.0/8",
    ])
    .await;
    let r = b
        .acme
        .post(
            "/api/v1/webhooks",
            json!({ "url": receiver.url("/hook"), "events": ["user.registered"] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let probe = Probe::start(&b);
    // One call's emits: 100 at most, and no payload over 64 KiB.
    let r = b.acme.post("/api/v1/hostile/flood", json!({})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["emitted"], 100, "{}", r.text);
    assert!(
        r.json()["refusal"]
            .as_str()
            .unwrap()
            .contains("as many events as one call may")
    );

    // A storm: each echo is answered with twenty. Depth 3 with 10 per reaction: 1 + 10 + 100 + 1000.
    assert_eq!(
        b.acme.post("/api/v1/hostile/echo", json!({})).await.status,
        201
    );
    let count = async || {
        let r = b.acme.get("/api/v1/events?type=hostile.echo&limit=1").await;
        r.json()["total_count"].as_i64().unwrap()
    };
    eventually(Duration::from_secs(60), async || {
        (count().await == 1111).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(count().await, 1111, "the storm went on");

    // A handler that never returns: other plugins' reactions and the host's writes go on.
    assert_eq!(
        b.acme.post("/api/v1/hostile/stuck", json!({})).await.status,
        201
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = b
        .acme
        .post(
            "/api/v1/guestbook/entries",
            json!({ "name": "Ada", "message": "hi" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let started = Instant::now();
    assert_eq!(
        b.acme
            .post("/api/v1/users", json!({ "username": "during" }))
            .await
            .status,
        201
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "a write waited {:?}",
        started.elapsed()
    );
    // Its webhook is delivered while the stuck handler backs off.
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert!(String::from_utf8_lossy(&got[0].body).contains("during"));
    probe.finish().await;
    let log = b.server.log();
    assert!(
        log.contains("on-event failed"),
        "the stuck handler's failures are logged"
    );
}

use crate::harness::{Resp, Server};

fn limit_headers(r: &Resp) -> (u32, u32, i64) {
    (
        r.header("x-ratelimit-limit").unwrap().parse().unwrap(),
        r.header("x-ratelimit-remaining").unwrap().parse().unwrap(),
        r.header("x-ratelimit-reset").unwrap().parse().unwrap(),
    )
}

#[tokio::test]
async fn per_key_limit_counts_down_then_refuses_with_retry_after() {
    let server = Server::start();
    server.create_tenant("acme", "pro");
    let (_, key) = server.create_key("acme", "live", "events:read", &["--rate-limit", "3"]);
    let client = server.client("acme").key(&key);
    let now = chrono::Utc::now().timestamp();
    for remaining in [2, 1, 0] {
        let r = client.get("/api/v1/events").await;
        assert_eq!(r.status, 200);
        let (limit, left, reset) = limit_headers(&r);
        assert_eq!((limit, left), (3, remaining));
        assert!(reset > now && reset <= now + 61, "{reset} vs {now}");
    }
    let r = client.get("/api/v1/events").await;
    r.assert_error(429, "rate_limited");
    assert_eq!(limit_headers(&r).1, 0);
    let retry: i64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    // Error responses of authenticated requests carry the headers too.
    let (_, other) = server.create_key("acme", "live", "events:read", &["--rate-limit", "3"]);
    let r = server.client("acme").key(&other).get("/api/v1/users").await;
    r.assert_error(403, "insufficient_scope");
    assert_eq!(limit_headers(&r).0, 3);
    // Another key has its own window.
    assert_eq!(
        server
            .client("acme")
            .key(&other)
            .get("/api/v1/events")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn precedence_is_key_then_tenant_then_platform() {
    let server = Server::start_with(&["--rate-limit-per-minute", "7"]);
    server.create_tenant("acme", "pro");
    let (key_id, key) = server.create_key("acme", "live", "events:read", &[]);
    let client = server.client("acme").key(&key);
    assert_eq!(limit_headers(&client.get("/api/v1/events").await).0, 7);
    server.set_setting("acme", "default_rate_limit_per_minute", "50");
    assert_eq!(limit_headers(&client.get("/api/v1/events").await).0, 50);
    server.cli_ok(&[
        "key",
        "edit",
        "--tenant",
        "acme",
        &key_id,
        "--rate-limit",
        "2",
    ]);
    let r = client.get("/api/v1/events").await;
    assert_eq!(limit_headers(&r).0, 2);
    // Three requests already in this window: the lowered limit refuses at once.
    client
        .get("/api/v1/events")
        .await
        .assert_error(429, "rate_limited");
    server.cli_ok(&[
        "key",
        "edit",
        "--tenant",
        "acme",
        &key_id,
        "--rate-limit",
        "none",
    ]);
    let r = client.get("/api/v1/events").await;
    assert_eq!(r.status, 200);
    assert_eq!(limit_headers(&r).0, 50);
    server.set_setting("acme", "default_rate_limit_per_minute", "none");
    assert_eq!(limit_headers(&client.get("/api/v1/events").await).0, 7);
}

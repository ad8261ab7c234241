use reqwest::Method;
use serde_json::json;

use crate::harness::Server;

#[tokio::test]
async fn every_response_has_a_request_id_and_errors_use_the_envelope() {
    let server = Server::start();
    let acme = server.tenant_with_key("acme");
    let r = acme.get("/api/v1/events").await;
    let id = r.header("x-request-id").unwrap();
    assert!(
        id.len() == 20 && id.starts_with("req_") && id[4..].bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    acme.get("/api/v1/nope")
        .await
        .assert_error(404, "not_found");
    acme.get("/").await.assert_error(404, "not_found");
    acme.send(Method::DELETE, "/api/v1/events", None)
        .await
        .assert_error(405, "method_not_allowed");
    acme.send(Method::PUT, "/api/v1/users", None)
        .await
        .assert_error(405, "method_not_allowed");
    acme.get("/api/v1/users/usr_nope")
        .await
        .assert_error(404, "user_not_found");
    acme.get("/api/v1/posts/post_nope")
        .await
        .assert_error(404, "post_not_found");
    // Two requests never share an id.
    let a = acme.get("/api/v1/events").await;
    let b = acme.get("/api/v1/events").await;
    assert_ne!(a.header("x-request-id"), b.header("x-request-id"));
}

#[tokio::test]
async fn bodies_are_checked() {
    let server = Server::start();
    let acme = server.tenant_with_key("acme");
    let send = |ct: &'static str, body: &'static str| {
        let acme = acme.clone();
        async move {
            acme.send(
                Method::POST,
                "/api/v1/users",
                Some((ct, body.as_bytes().to_vec())),
            )
            .await
        }
    };
    send("application/json", "{\"username\": ")
        .await
        .assert_error(400, "invalid_json");
    send("application/json", "")
        .await
        .assert_error(400, "invalid_json");
    send("text/plain", "{\"username\":\"ada\"}")
        .await
        .assert_error(415, "unsupported_media_type");
    acme.send(Method::POST, "/api/v1/users", None)
        .await
        .assert_error(415, "unsupported_media_type");
    let r = send("application/json", "{\"username\": 5}").await;
    r.assert_error(400, "validation_failed");
    assert_eq!(r.json()["error"]["field"], "username");
    let r = send("application/json", "{}").await;
    assert_eq!(r.json()["error"]["field"], "username");
    let r = send("application/json", "{\"username\":\"ada\",\"admin\":true}").await;
    assert_eq!(r.json()["error"]["field"], "admin");
    let r = acme
        .post(
            "/api/v1/users",
            json!({ "username": "ada", "email": "nope" }),
        )
        .await;
    r.assert_error(400, "validation_failed");
    assert_eq!(r.json()["error"]["field"], "email");
    let big = json!({ "username": "ada", "display_name": "x".repeat(2 << 20) });
    acme.post("/api/v1/users", big)
        .await
        .assert_error(413, "payload_too_large");
    // charset parameters are fine.
    let r = acme
        .send(
            Method::POST,
            "/api/v1/users",
            Some((
                "application/json; charset=utf-8",
                br#"{"username":"ada"}"#.to_vec(),
            )),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // Nothing a client sent above produced a 500.
    assert!(!server.log().contains("internal_error"));
}

#[tokio::test]
async fn cors_preflight_and_headers_follow_the_tenant_setting() {
    let server = Server::start();
    let acme = server.tenant_with_key("acme");
    let preflight = |origin: &'static str, path: &'static str| {
        let c = server
            .client("acme")
            .header("origin", origin)
            .header("access-control-request-method", "POST");
        async move { c.send(Method::OPTIONS, path, None).await }
    };
    let r = preflight("https://a.example", "/api/v1/posts").await;
    assert_eq!(r.status, 204);
    assert!(r.header("access-control-allow-origin").is_none());

    server.set_setting(
        "acme",
        "cors.allowed_origins",
        "https://a.example,https://b.example",
    );
    for path in [
        "/api/v1/posts",
        "/api/v1/users/usr_x",
        "/api/v1/anything/at/all",
    ] {
        let r = preflight("https://a.example", path).await;
        assert_eq!(r.status, 204, "{path}");
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://a.example")
        );
        let methods = r.header("access-control-allow-methods").unwrap();
        assert!(methods.contains("POST") && methods.contains("PATCH"));
        let headers = r.header("access-control-allow-headers").unwrap();
        assert!(headers.contains("authorization") && headers.contains("idempotency-key"));
    }
    let r = preflight("https://evil.example", "/api/v1/posts").await;
    assert_eq!(r.status, 204);
    assert!(r.header("access-control-allow-origin").is_none());

    let r = acme
        .clone()
        .header("origin", "https://b.example")
        .get("/api/v1/events")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://b.example")
    );
    assert!(
        r.header("access-control-expose-headers")
            .unwrap()
            .contains("x-request-id")
    );
    // Errors carry CORS headers too, so a browser app can read them.
    let r = server
        .client("acme")
        .header("origin", "https://b.example")
        .get("/api/v1/events")
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://b.example")
    );
    let r = acme
        .clone()
        .header("origin", "https://evil.example")
        .get("/api/v1/events")
        .await;
    assert!(r.header("access-control-allow-origin").is_none());
    // Unknown tenant: no CORS, the usual 404.
    let r = server
        .client("nope")
        .header("origin", "https://a.example")
        .send(Method::OPTIONS, "/api/v1/posts", None)
        .await;
    r.assert_error(404, "tenant_not_found");
}

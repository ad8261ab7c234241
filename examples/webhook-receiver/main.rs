//! A webhook receiver that verifies every delivery before it trusts it.
//!
//! `WEBHOOK_SECRET=whsec_... webhook-receiver [ADDR]` (default 127.0.0.1:9000), then register
//! `http://ADDR/webhooks` as an endpoint.

mod verify;

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

#[tokio::main]
async fn main() {
    let secret = std::env::var("WEBHOOK_SECRET")
        .expect("set WEBHOOK_SECRET to the endpoint's whsec_… secret");
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9000".into());
    let app = Router::new()
        .route("/webhooks", post(receive))
        .with_state(secret);
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    println!("receiving on http://{addr}/webhooks");
    axum::serve(listener, app).await.expect("serve");
}

async fn receive(State(secret): State<String>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    // Either scheme will do; a receiver built on a Standard Webhooks library checks the second.
    let verified = if headers.contains_key("mobieus-signature") {
        verify::mobieus_signature(header("mobieus-signature"), &body, &secret, now)
    } else {
        let (id, t, sig) = (
            header("webhook-id"),
            header("webhook-timestamp"),
            header("webhook-signature"),
        );
        verify::standard_webhooks(id, t, sig, &body, &secret, now)
    };
    match verified {
        Ok(()) => {
            // Verified: now it is safe to parse and act on. Deduplicate on the event id.
            println!(
                "{} {}",
                header("webhook-id"),
                String::from_utf8_lossy(&body)
            );
            StatusCode::NO_CONTENT
        }
        Err(why) => {
            eprintln!("refused a delivery: {why:?}");
            StatusCode::UNAUTHORIZED
        }
    }
}

//! Help load harness (not a test): the help desk's ticket list and create beside the host's
//! posts, and the cost of an AI assist with a provider that answers at once. Starts the release
//! binary, an OpenAI-compatible provider on loopback that answers instantly, seeds 100 posts and
//! 100 tickets (`HELPDESK_TICKETS` to change) and a Know page, then runs each pair back to back,
//! round after round:
//!
//! - `GET /api/v1/posts?limit=20` (host) / `GET /api/v1/helpdesk/tickets?limit=20` (plugin),
//! - that list / the same with `q` (text in a subject or thread) matching one ticket, and
//!   matching every ticket,
//! - `POST /api/v1/posts` (host) / `POST /api/v1/helpdesk/tickets` (plugin: ticket, message,
//!   audit row, event, receipt mail),
//! - `GET /api/v1/helpdesk/tickets/{id}` (plugin read) / `POST /api/v1/helpdesk/ai/summary`
//!   (one AI question: the call stops, the host asks, the call runs again),
//! - the same read / `POST /api/v1/helpdesk/ai/reply-suggest` (a Know search as the caller, then
//!   the question: three runs of the call).
//!
//! It prints each run, then per pair the medians of the rounds' throughput and server-CPU ratios,
//! and the server CPU an assist costs beyond a plain read of the same ticket (host + plugin, the
//! provider's own time excluded: it answers at once).
//!
//! Run: `cargo bench -p mobieus --bench helpdesk` (env `LOAD_SECS`, default 5 s per run;
//! `LOAD_ROUNDS`, default 3; `LOAD_CONNECTIONS`, default 32).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use serde_json::{Value, json};

mod common;

use common::drive::{self, Pair, Scenario};
use common::{cli, start_with};

fn main() {
    let load = drive::Load::from_env();
    let runtime = common::runtime();
    let provider = runtime.block_on(Provider::start());

    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().to_str().unwrap().to_owned();
    let (mut server, addr) = start_with(
        &data,
        &["--ai-allow-http", "--ai-allow-cidr", "127.0.0.1/32"],
    );
    let pid = server.id();
    cli(&data, &["tenant", "create", "bench", "--plan", "pro"]);
    for flag in ["ai.summary", "ai.reply_suggest"] {
        cli(
            &data,
            &[
                "plugin", "flag", "--tenant", "bench", "helpdesk", flag, "on",
            ],
        );
    }
    common::set_ai_provider(
        &data,
        "bench",
        "openai",
        "instant",
        &format!("http://{}/v1", provider.addr),
    );
    let key = common::unlimited_key(
        &data,
        "bench",
        "users:write,posts:read,posts:write,helpdesk:read,helpdesk:write,helpdesk:admin,know:read,know:write",
    );
    let host = format!("bench.localhost:{}", addr.port());
    let tickets = common::env("HELPDESK_TICKETS", 100).max(1) as usize;
    let seeding = std::time::Instant::now();
    let (author, ticket) = runtime.block_on(seed(addr, &host, &key, tickets));
    println!(
        "mobieus help desk harness: {}; 100 posts and {tickets} tickets seeded in {:.0?}",
        load.describe(),
        seeding.elapsed()
    );
    let list = Arc::new(Scenario::get(
        "/api/v1/helpdesk/tickets?limit=20",
        Some(&key),
    ));
    let one = format!(
        "/api/v1/helpdesk/tickets?limit=20&q=order%20{}%3A",
        tickets / 2
    );

    let post = format!(r#"{{"author_id":"{author}","body":"A post under load"}}"#);
    let new_ticket = format!(
        r#"{{"subject":"Refund under load","body":"Where is my refund?","requester_id":"{author}"}}"#
    );
    let about = format!(r#"{{"ticket_id":"{ticket}"}}"#);
    let read = format!("/api/v1/helpdesk/tickets/{ticket}");
    let pairs: Vec<Pair> = vec![
        [
            ("GET /api/v1/helpdesk/tickets?limit=20", list.clone()),
            (
                "GET /api/v1/helpdesk/tickets?limit=20&q=order N: (one ticket)",
                Arc::new(Scenario::get(&one, Some(&key))),
            ),
        ],
        [
            ("GET /api/v1/helpdesk/tickets?limit=20", list),
            (
                "GET /api/v1/helpdesk/tickets?limit=20&q=refund (every ticket)",
                Arc::new(Scenario::get(
                    "/api/v1/helpdesk/tickets?limit=20&q=refund",
                    Some(&key),
                )),
            ),
        ],
        [
            (
                "GET /api/v1/posts?limit=20 (host)",
                Arc::new(Scenario::get("/api/v1/posts?limit=20", Some(&key))),
            ),
            (
                "GET /api/v1/helpdesk/tickets?limit=20",
                Arc::new(Scenario::get(
                    "/api/v1/helpdesk/tickets?limit=20",
                    Some(&key),
                )),
            ),
        ],
        [
            (
                "POST /api/v1/posts (host)",
                Arc::new(Scenario::post("/api/v1/posts", &key, post)),
            ),
            (
                "POST /api/v1/helpdesk/tickets",
                Arc::new(Scenario::post("/api/v1/helpdesk/tickets", &key, new_ticket)),
            ),
        ],
        [
            (
                "GET /api/v1/helpdesk/tickets/{id}",
                Arc::new(Scenario::get(&read, Some(&key))),
            ),
            (
                "POST /api/v1/helpdesk/ai/summary",
                Arc::new(Scenario::post(
                    "/api/v1/helpdesk/ai/summary",
                    &key,
                    about.clone(),
                )),
            ),
        ],
        [
            (
                "GET /api/v1/helpdesk/tickets/{id}",
                Arc::new(Scenario::get(&read, Some(&key))),
            ),
            (
                "POST /api/v1/helpdesk/ai/reply-suggest",
                Arc::new(Scenario::post(
                    "/api/v1/helpdesk/ai/reply-suggest",
                    &key,
                    about,
                )),
            ),
        ],
    ];
    load.compare_pairs(&runtime, pid, addr, &host, &pairs);
    println!(
        "provider questions answered: {}",
        provider.asked.load(Ordering::SeqCst)
    );
    let _ = server.kill();
}

/// A user, 100 posts, `tickets` tickets by them (each naming its own order), a published Know
/// page on refunds; the user and the first ticket.
async fn seed(addr: SocketAddr, host: &str, key: &str, tickets: usize) -> (String, String) {
    let call = async |method: &str, path: &str, body: Value| {
        common::call(addr, host, key, method, path, body).await
    };
    common::until_answered(addr, host, key, "/api/v1/helpdesk/queues").await;
    let user = call(
        "POST",
        "/api/v1/users",
        json!({"username": "rita", "email": "rita@example.org"}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut first = None;
    for i in 0..100 {
        call(
            "POST",
            "/api/v1/posts",
            json!({"author_id": user, "body": format!("post {i}")}),
        )
        .await;
    }
    for i in 0..tickets {
        let t = call(
            "POST",
            "/api/v1/helpdesk/tickets",
            json!({"subject": format!("Refund {i}"), "body": format!("Order {i}: I returned my order and want a refund."), "requester_id": user, "tags": ["refunds"]}),
        )
        .await;
        first.get_or_insert(t["id"].as_str().unwrap().to_owned());
    }
    let page = call(
        "POST",
        "/api/v1/know/pages",
        json!({"title": "Refund policy", "body": "Refunds are issued within 14 days of a return."}),
    )
    .await;
    let (id, rev) = (
        page["id"].as_str().unwrap(),
        page["revision_id"].as_str().unwrap(),
    );
    call(
        "POST",
        &format!("/api/v1/know/pages/{id}/revisions/{rev}/approve"),
        json!({}),
    )
    .await;
    (user, first.unwrap())
}

/// An OpenAI-compatible chat completions endpoint on loopback that answers at once: a summary
/// or a reply suggestion, by the question's system prompt.
struct Provider {
    addr: SocketAddr,
    asked: Arc<AtomicUsize>,
}

impl Provider {
    async fn start() -> Provider {
        let asked = Arc::new(AtomicUsize::new(0));
        let counter = asked.clone();
        let addr = common::serve_loopback(move |body: Bytes| {
            let asked = counter.clone();
            async move {
                let question: Value = serde_json::from_slice(&body).unwrap_or_default();
                asked.fetch_add(1, Ordering::SeqCst);
                let system = question["messages"][0]["content"].as_str().unwrap_or("");
                let answer = if system.contains("summarise") {
                    json!({"summary": "A refund request.", "key_points": ["returned"], "next_step": "Refund it."})
                } else {
                    json!({"reply": "Refunds take 14 days.", "citations": []})
                };
                let completion = json!({
                    "id": "chatcmpl", "object": "chat.completion", "model": "instant",
                    "choices": [{"index": 0, "finish_reason": "stop",
                        "message": {"role": "assistant", "content": answer.to_string()}}],
                    "usage": {"prompt_tokens": 100, "completion_tokens": 20}
                });
                Bytes::from(completion.to_string())
            }
        })
        .await;
        Provider { addr, asked }
    }
}

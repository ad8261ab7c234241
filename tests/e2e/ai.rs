//! AI on the tenant's own key, through the real binary and a provider on loopback that speaks
//! each wire format: Anthropic's Messages API and OpenAI's chat completions. What the host sends
//! (headers, the forced tool, `response_format`, the repair), what it accepts and refuses
//! (malformed JSON, schema violations, 5xx, a provider that never answers), the feature flag,
//! the budget, the meter, the sealed key, the SSRF guard, and a hundred questions waiting on a
//! slow provider while the tenant's other writes, other tenants and host routes go on.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{ALL_CORE, Client, Server, eventually};
use crate::plugins::{test_plugin, until_served};
use crate::receiver::{Receiver, Reply};

pub const KEY: &str = "sk-provider-secret-0123456789";

/// A server that lets the AI client reach loopback, with `capable` on for acme and its flags on.
async fn ai_server(extra: &[&str]) -> (Server, Client) {
    let mut args = vec!["--ai-allow-http", "--ai-allow-cidr", "127.0.0.1/32"];
    args.extend_from_slice(extra);
    let server = Server::start_with(&args);
    let client = capable_tenant(&server, "acme").await;
    (server, client)
}

async fn capable_tenant(server: &Server, slug: &str) -> Client {
    server.create_tenant(slug, "pro");
    server.cli_ok(&["plugin", "install", &test_plugin("capable")]);
    server.cli_ok(&["plugin", "enable", "--tenant", slug, "capable"]);
    for flag in ["ai.tag", "ai.summary"] {
        server.cli_ok(&["plugin", "flag", "--tenant", slug, "capable", flag, "on"]);
    }
    let (_, key) = server.create_key(
        slug,
        "live",
        &format!("{ALL_CORE},capable:use,ai:read"),
        &["--rate-limit", "100000"],
    );
    let client = server.client(slug).key(&key);
    until_served(&client, "/api/v1/capable/ai/tagged").await;
    client
}

pub fn set_provider(server: &Server, slug: &str, provider: &str, base_url: &str) {
    server.cli_stdin_ok(
        &[
            "ai",
            "set",
            "--tenant",
            slug,
            "--provider",
            provider,
            "--model",
            "test-model",
            "--base-url",
            base_url,
        ],
        &format!("{KEY}\n"),
    );
}

pub fn anthropic_tool(input: Value) -> Reply {
    Reply::status(200).body(
        json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test",
            "content": [{ "type": "tool_use", "id": "toolu_1", "name": "answer", "input": input }],
            "stop_reason": "tool_use",
            "usage": { "input_tokens": 21, "output_tokens": 9 }
        })
        .to_string(),
    )
}

pub fn openai_text(text: &str) -> Reply {
    Reply::status(200).body(
        json!({
            "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-test",
            "choices": [{ "index": 0, "finish_reason": "stop",
                "message": { "role": "assistant", "content": text } }],
            "usage": { "prompt_tokens": 30, "completion_tokens": 10, "total_tokens": 40 }
        })
        .to_string(),
    )
}

async fn tag(client: &Client, text: &str) -> crate::harness::Resp {
    client
        .post("/api/v1/capable/ai/tag", json!({ "text": text }))
        .await
}

#[tokio::test]
async fn anthropic_answers_through_a_forced_tool_and_the_write_happens_once() {
    let provider = Receiver::http().await;
    provider.answer(|_| anthropic_tool(json!({ "tags": ["billing", "refund"] })));
    let (server, acme) = ai_server(&[]).await;

    // No provider yet.
    tag(&acme, "x").await.assert_error(409, "ai_not_configured");
    set_provider(&server, "acme", "anthropic", &provider.url(""));
    // The flag is the tenant's switch.
    server.cli_ok(&[
        "plugin", "flag", "--tenant", "acme", "capable", "ai.tag", "off",
    ]);
    let off = tag(&acme, "x").await;
    off.assert_error(403, "feature_disabled");
    assert!(
        off.json()["error"]["request_id"].is_string(),
        "{}",
        off.text
    );
    server.cli_ok(&[
        "plugin", "flag", "--tenant", "acme", "capable", "ai.tag", "on",
    ]);
    // A flag the plugin does not declare is refused by the CLI.
    let out = server.cli(&[
        "plugin", "flag", "--tenant", "acme", "capable", "nope", "on",
    ]);
    assert!(!out.status.success());

    let tagged = tag(&acme, "I want my money back").await;
    assert_eq!(tagged.status, 201, "{}", tagged.text);
    let tagged = tagged.json();
    assert_eq!(tagged["tags"], json!(["billing", "refund"]));
    assert_eq!(tagged["model"], "claude-test");
    assert_eq!(
        tagged["usage"],
        json!({ "input_tokens": 21, "output_tokens": 9 })
    );

    let sent = provider.received();
    assert_eq!(sent.len(), 1);
    let request = &sent[0];
    assert_eq!(request.path, "/v1/messages");
    assert_eq!(request.header("x-api-key"), KEY);
    assert_eq!(request.header("anthropic-version"), "2023-06-01");
    assert_eq!(request.header("authorization"), "");
    let body = request.json();
    assert_eq!(body["model"], "test-model");
    assert_eq!(body["max_tokens"], 200);
    assert_eq!(body["temperature"], 0.0);
    assert_eq!(
        body["messages"],
        json!([{ "role": "user", "content": "I want my money back" }])
    );
    assert!(
        body["system"]
            .as_str()
            .unwrap()
            .starts_with("You tag support messages.")
    );
    assert_eq!(body["tools"][0]["name"], "answer");
    assert_eq!(body["tools"][0]["input_schema"]["type"], "object");
    assert_eq!(
        body["tool_choice"],
        json!({ "type": "tool", "name": "answer" })
    );

    // The run that asked wrote a row and was rolled back; the run with the answer wrote once.
    let kept = acme.get("/api/v1/capable/ai/tagged").await.json();
    assert_eq!(kept["runs_kept"], 1, "{kept}");
    assert_eq!(kept["tagged"].as_array().unwrap().len(), 1);

    // Metered, readable by the tenant.
    let usage = acme.get("/api/v1/ai/usage").await;
    assert_eq!(usage.status, 200, "{}", usage.text);
    let usage = usage.json();
    assert_eq!(usage["calls"], 1);
    assert_eq!(usage["input_tokens"], 21);
    assert_eq!(usage["output_tokens"], 9);
    assert_eq!(usage["by_plugin"][0]["plugin"], "capable");
    assert_eq!(usage["recent"][0]["outcome"], "ok");
    assert_eq!(usage["recent"][0]["feature"], "ai.tag");
    acme.get("/api/v1/ai/usage?month=2026-13")
        .await
        .assert_error(400, "validation_failed");

    // The key is nowhere in plain text: not the tenant file, not the CLI, not the log.
    let file = std::fs::read(server.data_dir().join("tenants/acme/live.db")).unwrap();
    assert!(!file.windows(KEY.len()).any(|w| w == KEY.as_bytes()));
    let shown = server.cli_ok(&["ai", "show", "--tenant", "acme", "--json"]);
    assert!(
        !shown.contains(KEY) && shown.contains("\"key_set\": true"),
        "{shown}"
    );
    assert!(!server.log().contains(KEY));
}

#[tokio::test]
async fn openai_compatible_answers_are_repaired_once_then_refused() {
    let provider = Receiver::http().await;
    let (server, acme) = ai_server(&[]).await;
    set_provider(&server, "acme", "openai", &provider.url("/v1"));

    // Malformed, then right: one repair.
    provider.answer(|n| match n {
        0 => openai_text("Sure! Here are tags: billing"),
        _ => openai_text("```json\n{\"tags\": [\"billing\"]}\n```"),
    });
    let tagged = tag(&acme, "refund please").await;
    assert_eq!(tagged.status, 201, "{}", tagged.text);
    assert_eq!(tagged.json()["tags"], json!(["billing"]));
    assert_eq!(tagged.json()["usage"]["input_tokens"], 60);
    let sent = provider.received();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].path, "/v1/chat/completions");
    assert_eq!(sent[0].header("authorization"), format!("Bearer {KEY}"));
    let first = sent[0].json();
    assert_eq!(first["messages"][0]["role"], "system");
    assert_eq!(first["response_format"]["type"], "json_schema");
    assert_eq!(
        first["response_format"]["json_schema"]["schema"]["type"],
        "object"
    );
    let repair = sent[1].json();
    let messages = repair["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4, "{repair}");
    assert_eq!(messages[2]["role"], "assistant");
    assert!(
        messages[3]["content"]
            .as_str()
            .unwrap()
            .contains("does not satisfy the JSON Schema"),
        "{repair}"
    );

    // Wrong twice: refused, nothing written.
    provider.answer(|_| openai_text("{\"labels\": 3}"));
    tag(&acme, "again")
        .await
        .assert_error(502, "ai_provider_error");
    // The provider failing.
    provider.answer(|_| Reply::status(503).body("{\"error\":{\"message\":\"overloaded\"}}"));
    let failed = tag(&acme, "again").await;
    failed.assert_error(502, "ai_provider_error");
    assert!(failed.text.contains("overloaded"), "{}", failed.text);
    // A refused key: the provider's words (which may quote the key) are not passed on.
    provider.answer(|_| {
        Reply::status(401).body(format!(
            "{{\"error\":{{\"message\":\"Incorrect API key provided: {KEY}\"}}}}"
        ))
    });
    let refused = tag(&acme, "again").await;
    refused.assert_error(502, "ai_provider_error");
    assert!(
        refused.text.contains("refused the tenant's key") && !refused.text.contains(KEY),
        "{}",
        refused.text
    );
    // A provider that answers too much is cut off, not buffered.
    provider.answer(|_| Reply::status(200).body("x".repeat(5 << 20)));
    let huge = tag(&acme, "again").await;
    huge.assert_error(502, "ai_provider_error");
    assert!(
        huge.text.contains("bytes, the most the host reads"),
        "{}",
        huge.text
    );
    provider.answer(|_| Reply::status(200).body("not json at all"));
    tag(&acme, "again")
        .await
        .assert_error(502, "ai_provider_error");
    let kept = acme.get("/api/v1/capable/ai/tagged").await.json();
    assert_eq!(kept["tagged"].as_array().unwrap().len(), 1, "{kept}");

    // A read call asks too; plain text needs no schema.
    provider.answer(|_| openai_text("A short summary."));
    let summary = acme
        .get("/api/v1/capable/ai/summary?text=long%20story")
        .await;
    assert_eq!(summary.status, 200, "{}", summary.text);
    assert_eq!(summary.json()["summary"], "A short summary.");
    let last = provider.received().pop().unwrap().json();
    assert!(last.get("response_format").is_none());

    let usage = acme.get("/api/v1/ai/usage").await.json();
    let outcomes: Vec<&str> = usage["recent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == "ai_provider_error")
            .count(),
        5,
        "{usage}"
    );
}

#[tokio::test]
async fn a_provider_that_never_answers_times_out_and_the_budget_refuses() {
    let provider = Receiver::http().await;
    let (server, acme) = ai_server(&["--ai-timeout", "1s"]).await;
    set_provider(&server, "acme", "openai", &provider.url(""));
    let never = Arc::new(tokio::sync::Semaphore::new(0));
    let held = never.clone();
    provider.answer(move |_| openai_text("{}").hold(&held));
    let started = std::time::Instant::now();
    tag(&acme, "hello").await.assert_error(504, "ai_timeout");
    assert!(started.elapsed() < Duration::from_secs(10));

    // 40 tokens a call; a budget of 50 allows two, then refuses.
    provider.answer(|_| openai_text("{\"tags\": []}"));
    server.cli_ok(&["ai", "budget", "--tenant", "acme", "50"]);
    for _ in 0..2 {
        assert_eq!(tag(&acme, "hello").await.status, 201);
    }
    tag(&acme, "hello")
        .await
        .assert_error(429, "ai_budget_exceeded");
    server.cli_ok(&["ai", "budget", "--tenant", "acme", "none"]);
    assert_eq!(tag(&acme, "hello").await.status, 201);
    never.add_permits(1000);
}

#[tokio::test]
async fn the_ssrf_guard_keeps_a_loopback_provider_out_unless_the_operator_allows_it() {
    let provider = Receiver::http().await;
    provider.answer(|_| openai_text("{\"tags\": []}"));
    let server = Server::start_with(&["--ai-allow-http"]);
    let acme = capable_tenant(&server, "acme").await;
    set_provider(&server, "acme", "openai", &provider.url(""));
    let refused = tag(&acme, "x").await;
    refused.assert_error(502, "ai_provider_error");
    assert!(refused.text.contains("refused"), "{}", refused.text);
    assert_eq!(provider.count(), 0);
    // A per-plugin model, and https-only without --ai-allow-http.
    server.cli_ok(&[
        "ai", "model", "--tenant", "acme", "--plugin", "capable", "--model", "m2",
    ]);
    let shown = server.cli_ok(&["ai", "show", "--tenant", "acme"]);
    assert!(shown.contains("plugin capable: model m2"), "{shown}");
}

/// A hundred questions wait on a provider that holds every answer; meanwhile the same tenant's
/// plugin and host writes, another tenant and host routes are answered. Nothing is timed: they
/// must all finish while the hundred are still held.
#[tokio::test]
async fn a_hundred_waiting_questions_hold_no_writer_no_slot_no_thread() {
    let provider = Receiver::http().await;
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let held = gate.clone();
    provider.answer(move |_| anthropic_tool(json!({ "tags": ["waited"] })).hold(&held));
    let (server, acme) = ai_server(&["--ai-timeout", "120s"]).await;
    set_provider(&server, "acme", "anthropic", &provider.url(""));
    let other = capable_tenant(&server, "globex").await;

    let waiting: Vec<_> = (0..100)
        .map(|i| {
            let acme = acme.clone();
            tokio::spawn(async move { tag(&acme, &format!("question {i}")).await })
        })
        .collect();
    provider.wait_for(100, Duration::from_secs(60)).await;
    let author = acme.user("meanwhile").await;

    for i in 0..20 {
        let note = acme
            .post(
                "/api/v1/capable/notes",
                json!({ "title": format!("n{i}"), "body": "meanwhile" }),
            )
            .await;
        assert_eq!(note.status, 201, "{}", note.text);
        let post = acme.post_by(&author, "a host write").await;
        assert!(post.starts_with("post_"), "{post}");
        let theirs = other
            .post(
                "/api/v1/capable/notes",
                json!({ "title": "g", "body": "another tenant" }),
            )
            .await;
        assert_eq!(theirs.status, 201);
    }
    let health = acme.get("/healthz").await;
    assert_eq!(health.status, 200);
    // Still all held: nothing above waited for them.
    assert_eq!(provider.count(), 100);
    assert!(waiting.iter().all(|w| !w.is_finished()));

    gate.add_permits(1000);
    for w in waiting {
        let answered = w.await.unwrap();
        assert_eq!(answered.status, 201, "{}", answered.text);
    }
    let kept = acme.get("/api/v1/capable/ai/tagged").await.json();
    assert_eq!(kept["tagged"].as_array().unwrap().len(), 100);
    assert_eq!(kept["runs_kept"], 100);
    let usage = eventually(Duration::from_secs(10), async || {
        let u = acme.get("/api/v1/ai/usage").await.json();
        (u["calls"] == 100).then_some(u)
    })
    .await;
    assert_eq!(usage["input_tokens"], 2100);
}

/// The console sets the provider with a write-only key, keeps it on a blank save, sets the
/// budget, and shows the meter; the key never appears in a page, the audit log or the log.
#[tokio::test]
async fn the_console_sets_the_provider_key_and_budget_and_shows_the_meter() {
    use crate::admin::{Console, invite};
    let provider = Receiver::http().await;
    provider.answer(|_| openai_text("{\"tags\": [\"console\"]}"));
    let (server, acme) = ai_server(&[]).await;
    let mut console = Console::new(&server, "acme");
    console
        .set_up(&invite(&server, "acme", "ada@acme.example"))
        .await;
    let csrf = console.get("/admin/ai").await.csrf();
    let url = provider.url("");
    let saved = console
        .post(
            "/admin/ai",
            &[
                ("csrf", &csrf),
                ("provider", "openai"),
                ("model", "console-model"),
                ("base_url", &url),
                ("api_key", KEY),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    // Saved again with a blank key: the key stays.
    let kept = console
        .post(
            "/admin/ai",
            &[
                ("csrf", &csrf),
                ("provider", "openai"),
                ("model", "console-model"),
                ("base_url", &url),
                ("api_key", ""),
            ],
        )
        .await;
    assert_eq!(kept.status, 303);
    assert_eq!(tag(&acme, "from the console").await.status, 201);
    assert_eq!(
        provider.received()[0].header("authorization"),
        format!("Bearer {KEY}")
    );
    let bad = console
        .post(
            "/admin/ai/budget",
            &[("csrf", &csrf), ("monthly_token_budget", "lots")],
        )
        .await;
    assert_eq!(bad.status, 400);
    let budget = console
        .post(
            "/admin/ai/budget",
            &[("csrf", &csrf), ("monthly_token_budget", "1000")],
        )
        .await;
    assert_eq!(budget.status, 303);
    let page = console.get("/admin/ai").await;
    assert!(page.body.contains("console-model") && page.body.contains("set (sealed)"));
    assert!(
        page.body.contains("1 calls") && page.body.contains("of a budget of 1000"),
        "{}",
        page.body
    );
    let audit = server.cli_ok(&["audit", "list", "--tenant", "acme", "--json"]);
    assert!(audit.contains("ai.provider_set") && audit.contains("ai.budget_set"));
    for seen in [page.body, audit, server.log()] {
        assert!(!seen.contains(KEY));
    }
}

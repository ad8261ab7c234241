//! Know (embedded, on by default) through the real binary: the review flow with the setting on
//! and off, every endpoint, scope, error code and event, and what search finds.

use serde_json::{Value, json};

use crate::harness::{ALL_CORE, Client, Resp, Server, s};
use crate::market::events;

const KNOW: &str = "know:read,know:write";

fn know_tenant(server: &Server, slug: &str) -> Client {
    server.create_tenant(slug, "pro");
    let (_, key) = server.create_key(slug, "live", &format!("{ALL_CORE},{KNOW}"), &[]);
    server.client(slug).key(&key)
}

async fn create(client: &Client, body: Value) -> Value {
    let r = client.post("/api/v1/know/pages", body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json()
}

/// A page made stable: created, then its first revision approved.
async fn published(client: &Client, title: &str, body: &str) -> Value {
    let page = create(client, json!({"title": title, "body": body})).await;
    let (id, rev) = (s(&page["id"]), s(&page["revision_id"]));
    let r = approve(client, &id, &rev).await;
    assert_eq!(r.status, 200, "{}", r.text);
    page
}

async fn approve(client: &Client, id: &str, rev: &str) -> Resp {
    client
        .post(
            &format!("/api/v1/know/pages/{id}/revisions/{rev}/approve"),
            json!({}),
        )
        .await
}

async fn edit(client: &Client, id: &str, if_match: Option<&str>, body: Value) -> Resp {
    let client = match if_match {
        Some(rev) => client.clone().header("if-match", &format!("\"{rev}\"")),
        None => client.clone(),
    };
    client
        .patch(&format!("/api/v1/know/pages/{id}"), body)
        .await
}

async fn search(client: &Client, q: &str) -> Resp {
    let q: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
    client.get(&format!("/api/v1/know/search?q={q}")).await
}

/// The titles search finds for `q`, best first.
async fn found(client: &Client, q: &str) -> Vec<String> {
    let r = search(client, q).await;
    assert_eq!(r.status, 200, "{q}: {}", r.text);
    r.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| s(&h["title"]))
        .collect()
}

#[tokio::test]
async fn an_edit_waits_for_review_and_readers_search_and_webhooks_see_only_reviewed_text() {
    let server = Server::start();
    let acme = know_tenant(&server, "acme");
    let author = acme.user("ana").await;
    let reviewer = acme.user("rui").await;

    // Created: its first revision is pending; readers and search do not see it.
    let page = create(
        &acme,
        json!({"title": "Refund policy", "body": "Refunds take **five** days.", "tags": ["Billing"], "author_id": author}),
    )
    .await;
    let id = s(&page["id"]);
    let rev1 = s(&page["revision_id"]);
    assert!(id.starts_with("pg_") && rev1.starts_with("rev_"), "{page}");
    assert_eq!(
        (&page["status"], &page["revision_status"]),
        (&json!("pending"), &json!("pending"))
    );
    assert_eq!(page["tags"], json!(["billing"]));
    assert_eq!(
        page["html"],
        "<p>Refunds take <strong>five</strong> days.</p>\n"
    );
    let path = format!("/api/v1/know/pages/{id}");
    acme.get(&path)
        .await
        .assert_error(404, "revision_not_found");
    let latest = acme.get(&format!("{path}?revision=latest")).await;
    assert_eq!(latest.status, 200);
    assert_eq!(latest.header("etag"), Some(format!("\"{rev1}\"").as_str()));
    assert_eq!(
        acme.get("/api/v1/know/pages").await.json()["total_count"],
        0
    );
    let pending = acme.get("/api/v1/know/pages?status=pending").await.json();
    assert_eq!(pending["data"][0]["id"], id.as_str());
    assert!(found(&acme, "refund").await.is_empty());
    assert!(events(&acme, "page.created").await.is_empty());

    // Approved: stable, found, announced.
    let r = acme
        .post(
            &format!("{path}/revisions/{rev1}/approve"),
            json!({"reviewer_id": reviewer}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (&r.json()["status"], &r.json()["reviewer_id"]),
        (&json!("stable"), &json!(reviewer))
    );
    let stable = acme.get(&path).await;
    assert_eq!(stable.status, 200);
    assert_eq!(stable.json()["status"], "published");
    assert_eq!(stable.json()["author_id"], author.as_str());
    let etag = stable.header("etag").unwrap().to_owned();
    assert_eq!(etag, format!("\"{rev1}\""));
    let cached = acme.clone().header("if-none-match", &etag).get(&path).await;
    assert_eq!(cached.status, 304);
    assert_eq!(found(&acme, "refund").await, ["Refund policy"]);
    let created = events(&acme, "page.created").await;
    assert_eq!(created.len(), 1);
    assert_eq!(
        created[0]["data"],
        json!({"page_id": id, "revision_id": rev1, "previous_revision_id": null,
               "title": "Refund policy", "actor": {"key_id": created[0]["data"]["actor"]["key_id"], "user_id": reviewer}})
    );
    assert!(
        created[0]["data"]["actor"]["key_id"]
            .as_str()
            .unwrap()
            .starts_with("key_")
    );

    // An edit based on the stable revision waits; readers still get the stable text.
    let r = edit(
        &acme,
        &id,
        Some(&rev1),
        json!({"body": "Refunds take three days.", "summary": "faster now"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let rev2 = s(&r.json()["revision_id"]);
    assert_eq!(r.json()["revision_status"], "pending");
    assert_eq!(r.json()["status"], "pending");
    assert!(
        acme.get(&path).await.json()["body"]
            .as_str()
            .unwrap()
            .contains("five")
    );
    assert!(
        found(&acme, "three").await.is_empty(),
        "search never shows a pending text"
    );

    // Someone else, still on the stable revision, is refused; the head moves on.
    edit(&acme, &id, Some(&rev1), json!({"title": "Refunds"}))
        .await
        .assert_error(412, "revision_conflict");
    let r = edit(
        &acme,
        &id,
        Some(&rev2),
        json!({"title": "Refunds", "body": "Refunds take three days. Ask support."}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let rev3 = s(&r.json()["revision_id"]);

    // Approving the newest supersedes the stable one and the pending one it builds on.
    let r = approve(&acme, &id, &rev3).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let updated = events(&acme, "page.updated").await;
    assert_eq!(updated.len(), 1);
    assert_eq!(
        (
            &updated[0]["data"]["revision_id"],
            &updated[0]["data"]["previous_revision_id"],
            &updated[0]["data"]["title"]
        ),
        (&json!(rev3), &json!(rev1), &json!("Refunds"))
    );
    assert_eq!(found(&acme, "support").await, ["Refunds"]);
    assert!(
        found(&acme, "five").await.is_empty(),
        "search never shows a superseded text"
    );
    for done in [&rev1, &rev2, &rev3] {
        approve(&acme, &id, done)
            .await
            .assert_error(409, "already_reviewed");
    }

    // A rejected edit keeps its reason; the ones built on it go with it.
    let r = edit(
        &acme,
        &id,
        None,
        json!({"body": "Refunds are never given."}),
    )
    .await;
    let rev4 = s(&r.json()["revision_id"]);
    let r = edit(
        &acme,
        &id,
        Some(&rev4),
        json!({"body": "Refunds are never, ever given."}),
    )
    .await;
    let rev5 = s(&r.json()["revision_id"]);
    let reject = format!("{path}/revisions/{rev4}/reject");
    acme.post(&reject, json!({}))
        .await
        .assert_error(400, "validation_failed");
    acme.post(&reject, json!({"reason": "  "}))
        .await
        .assert_error(400, "validation_failed");
    let r = acme
        .post(&reject, json!({"reason": "Not our policy."}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (&r.json()["status"], &r.json()["reason"]),
        (&json!("rejected"), &json!("Not our policy."))
    );
    acme.post(&reject, json!({"reason": "again"}))
        .await
        .assert_error(409, "already_reviewed");
    let fifth = acme.get(&format!("{path}/revisions/{rev5}")).await.json();
    assert_eq!(fifth["status"], "rejected");
    assert!(
        fifth["reason"]
            .as_str()
            .unwrap()
            .contains("Not our policy."),
        "{fifth}"
    );
    assert!(found(&acme, "never").await.is_empty());
    let page = acme.get(&path).await.json();
    assert_eq!(
        (&page["status"], &page["revision_id"]),
        (&json!("published"), &json!(rev3))
    );
    assert_eq!(
        page["head_revision_id"],
        rev3.as_str(),
        "rejected revisions are not the head"
    );

    // The history: newest first, with who, when, status, reason and size change.
    let history = acme.get(&format!("{path}/revisions")).await.json();
    let statuses: Vec<&str> = history["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["rejected", "rejected", "stable", "superseded", "superseded"]
    );
    assert_eq!(
        history["data"][4]["size_change"],
        "Refunds take **five** days.".len()
    );
    assert_eq!(history["data"][3]["summary"], "faster now");
    assert_eq!(history["data"][3]["base_revision_id"], rev1.as_str());
    assert!(
        history["data"][0].get("body").is_none(),
        "the history leaves the text out"
    );
    let stable_only = acme
        .get(&format!("{path}/revisions?status=stable"))
        .await
        .json();
    assert_eq!(stable_only["total_count"], 1);

    // One revision, and the diff from an earlier one.
    let r = acme
        .get(&format!("{path}/revisions/{rev3}?compare_to={rev1}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let diff = s(&r.json()["diff"]);
    assert!(
        diff.contains(&format!("--- a/{rev1}")) && diff.contains(&format!("+++ b/{rev3}")),
        "{diff}"
    );
    assert!(
        diff.contains("-# Refund policy") && diff.contains("+# Refunds"),
        "{diff}"
    );
    assert!(
        diff.contains("-Refunds take **five** days.")
            && diff.contains("+Refunds take three days. Ask support."),
        "{diff}"
    );
    acme.get(&format!("{path}/revisions/{rev1}?compare_to={rev3}"))
        .await
        .assert_error(400, "validation_failed");
    acme.get(&format!("{path}/revisions/rev_01ARZ3NDEKTSV4RRFFQ69G5FAV"))
        .await
        .assert_error(404, "revision_not_found");

    // Deleted: gone from reads and search, announced; its revisions kept but not served.
    let r = acme.delete(&path).await;
    assert_eq!(r.status, 204, "{}", r.text);
    acme.get(&path).await.assert_error(404, "page_not_found");
    acme.get(&format!("{path}/revisions"))
        .await
        .assert_error(404, "page_not_found");
    approve(&acme, &id, &rev5)
        .await
        .assert_error(404, "page_not_found");
    edit(&acme, &id, None, json!({"title": "x"}))
        .await
        .assert_error(404, "page_not_found");
    acme.delete(&path).await.assert_error(404, "page_not_found");
    assert!(found(&acme, "support").await.is_empty());
    assert_eq!(
        acme.get("/api/v1/know/pages").await.json()["total_count"],
        0
    );
    let deleted = events(&acme, "page.deleted").await;
    assert_eq!(
        (deleted.len(), &deleted[0]["data"]["revision_id"]),
        (1, &json!(rev3))
    );
}

#[tokio::test]
async fn with_review_off_an_edit_is_stable_at_once() {
    let server = Server::start();
    let acme = know_tenant(&server, "acme");
    let out = server.set_setting("acme", "know.review_required", "off");
    assert!(out.contains("know.review_required = off"), "{out}");
    let refused = server.cli(&[
        "settings",
        "set",
        "--tenant",
        "acme",
        "know.review_required",
        "maybe",
    ]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("one of on, off"));
    let listed = server.cli_ok(&["settings", "list", "--tenant", "acme"]);
    assert!(listed.contains("know.review_required = off"), "{listed}");

    let page = create(
        &acme,
        json!({"title": "Wifi", "body": "The password is on the fridge."}),
    )
    .await;
    assert_eq!(
        (&page["status"], &page["revision_status"]),
        (&json!("published"), &json!("stable"))
    );
    let id = s(&page["id"]);
    assert_eq!(found(&acme, "fridge").await, ["Wifi"]);
    let r = edit(
        &acme,
        &id,
        Some(&s(&page["revision_id"])),
        json!({"body": "Ask at the desk."}),
    )
    .await;
    assert_eq!(r.json()["revision_status"], "stable");
    assert_eq!(found(&acme, "desk").await, ["Wifi"]);
    assert!(found(&acme, "fridge").await.is_empty());
    assert_eq!(events(&acme, "page.created").await.len(), 1);
    assert_eq!(events(&acme, "page.updated").await.len(), 1);

    // Back to the default: edits wait again.
    server.set_setting("acme", "know.review_required", "none");
    let r = edit(&acme, &id, None, json!({"body": "Ask anyone."})).await;
    assert_eq!(r.json()["revision_status"], "pending");
    assert!(found(&acme, "anyone").await.is_empty());
}

#[tokio::test]
async fn of_concurrent_edits_of_one_revision_one_wins_and_the_rest_get_412() {
    let server = Server::start();
    let acme = know_tenant(&server, "acme");
    let page = published(&acme, "Rota", "Nobody yet.").await;
    let (id, rev) = (s(&page["id"]), s(&page["revision_id"]));

    // A retried create (same Idempotency-Key) answers the first one again, headers and all.
    let keyed = acme.clone().header("idempotency-key", "wiki-1");
    let body = json!({"title": "Once", "body": "Only once."});
    let (first, again) = (
        keyed.post("/api/v1/know/pages", body.clone()).await,
        keyed.post("/api/v1/know/pages", body).await,
    );
    assert_eq!(
        (first.status.as_u16(), again.status.as_u16()),
        (201, 201),
        "{}",
        again.text
    );
    assert_eq!(again.text, first.text);
    for name in ["etag", "location", "content-type"] {
        assert_eq!(again.header(name), first.header(name), "{name}");
    }
    assert_eq!(again.header("idempotent-replayed"), Some("true"));

    let edits: Vec<_> = (0..8)
        .map(|i| {
            let (acme, id, rev) = (acme.clone(), id.clone(), rev.clone());
            tokio::spawn(async move {
                edit(
                    &acme,
                    &id,
                    Some(&rev),
                    json!({"body": format!("Person {i}.")}),
                )
                .await
            })
        })
        .collect();
    let mut results = vec![];
    for e in edits {
        results.push(e.await.unwrap());
    }
    let ok = results.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        ok,
        1,
        "{:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for r in results.iter().filter(|r| r.status != 200) {
        r.assert_error(412, "revision_conflict");
    }
    let history = acme
        .get(&format!("/api/v1/know/pages/{id}/revisions"))
        .await
        .json();
    assert_eq!(history["total_count"], 2);
}

#[tokio::test]
async fn bodies_are_rendered_to_html_without_script_handlers_or_javascript_links() {
    let server = Server::start();
    let acme = know_tenant(&server, "acme");
    let page = create(
        &acme,
        json!({"title": "Hostile", "body": "# Hi\n\n<script>alert(1)</script>\n\n<img src=x onerror=\"alert(2)\">\n\n[click](javascript:alert(3)) <a href=\"JaVaScRiPt:alert(4)\" onclick=\"alert(5)\">x</a>\n\n<iframe src=\"https://evil.example\"></iframe><style>body{}</style>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n[ok](https://example.org)"}),
    )
    .await;
    let html = s(&page["html"]).to_lowercase();
    for bad in [
        "<script",
        "onerror",
        "onclick",
        "javascript:",
        "<iframe",
        "<style",
        "alert(1)",
    ] {
        assert!(!html.contains(bad), "{bad} in {html}");
    }
    assert!(
        html.contains("<h1>hi</h1>") && html.contains("<table>"),
        "{html}"
    );
    assert!(html.contains("href=\"https://example.org\""), "{html}");
    assert!(
        page["body"].as_str().unwrap().contains("<script>"),
        "the Markdown is kept as written"
    );
}

#[tokio::test]
async fn search_stems_finds_parts_of_words_phrases_and_questions_and_ranks_titles_first() {
    let server = Server::start();
    let acme = know_tenant(&server, "acme");
    server.set_setting("acme", "know.review_required", "off");
    for (title, body) in [
        (
            "Onboarding new members",
            "# First week\n\nWelcome aboard. Read the code of conduct.\n\n## Accounts\n\nEvery member gets a mailbox.",
        ),
        (
            "Running the server",
            "How we run the box: restart it with the script, then check the logs.",
        ),
        (
            "Password reset",
            "To reset a password, open Settings and choose Security. Two-factor codes come by app.",
        ),
        (
            "Billing",
            "Invoices go out monthly. The password for the billing portal is kept by the treasurer.",
        ),
        (
            "Events calendar",
            "Meetups happen on Thursdays. Bring snacks; parking is free after six.",
        ),
        ("Réunion annuelle", "Les membres se retrouvent en décembre."),
    ] {
        create(&acme, json!({"title": title, "body": body})).await;
    }

    // Stemming: `runs` and `running` find `run`; substring: `boarding` finds `Onboarding`.
    assert_eq!(found(&acme, "runs").await, ["Running the server"]);
    assert_eq!(found(&acme, "boarding").await, ["Onboarding new members"]);
    let hit = search(&acme, "boarding").await.json()["data"][0].clone();
    assert_eq!(hit["match"], "substring");
    // Accents are folded, in words and in parts of words.
    assert_eq!(found(&acme, "reunion").await, ["Réunion annuelle"]);
    assert_eq!(found(&acme, "union").await, ["Réunion annuelle"]);
    assert_eq!(found(&acme, "écembre").await, ["Réunion annuelle"]);
    // Whatever a page is written in reaches the lexicon without breaking it: a word too long to
    // be taken in (still found whole), emoji, combining marks, joiners, other scripts.
    let long = "x".repeat(70);
    let odd = format!("{long} 👩\u{200D}💻 e\u{301}\u{301}tude \u{FEFF}zwnbsp Καλημέρα 東京タワー");
    create(&acme, json!({"title": "Odd words", "body": odd})).await;
    assert_eq!(found(&acme, &long).await, ["Odd words"]);
    assert_eq!(found(&acme, "tude").await, ["Odd words"]);
    assert_eq!(found(&acme, "λημ").await, ["Odd words"]);
    assert_eq!(found(&acme, "ταλ").await, Vec::<String>::new());
    // Phrases need their words together.
    assert_eq!(
        found(&acme, "\"reset a password\"").await,
        ["Password reset"]
    );
    assert!(found(&acme, "\"password reset a\"").await.is_empty());
    // A title hit outranks a body hit.
    assert_eq!(
        found(&acme, "password").await,
        ["Password reset", "Billing"]
    );
    // A question finds the page with most of its words, not only pages with all of them.
    let answer = found(&acme, "how do I reset my forgotten password?").await;
    assert_eq!(
        answer.first().map(String::as_str),
        Some("Password reset"),
        "{answer:?}"
    );
    assert_eq!(
        found(&acme, "where can I park on thursday").await,
        ["Events calendar"]
    );
    // The hit says where: its heading, a snippet with the terms marked, a score.
    let hit = search(&acme, "mailbox").await.json()["data"][0].clone();
    assert_eq!(
        (&hit["heading"], &hit["title"]),
        (&json!("Accounts"), &json!("Onboarding new members"))
    );
    assert_eq!(hit["snippet"], "Every member gets a <mark>mailbox</mark>.");
    assert!(
        hit["score"].as_f64().unwrap() > 0.0
            && hit["revision_id"].as_str().unwrap().starts_with("rev_")
    );
    // Prefixes, exclusions.
    assert_eq!(found(&acme, "invoic*").await, ["Billing"]);
    assert_eq!(
        found(&acme, "password -treasurer").await,
        ["Password reset"]
    );
    // Nothing found: the nearest indexed words.
    let r = search(&acme, "pasword secrity").await.json();
    assert_eq!(r["data"], json!([]));
    assert_eq!(r["did_you_mean"], json!(["password", "security"]));

    // Hostile syntax is text, or a clear 400, never a 500.
    for q in [
        "NEAR(password reset)",
        "password AND",
        "OR",
        "(((",
        ")",
        "*",
        "-",
        "a:b",
        "title:password",
        "\"\"",
        "^password",
        "pass*word",
        "{password}",
        "NOT password",
        "'; DROP TABLE know_pages; --",
        "\u{0}",
        "\u{E000}mark",
        "ü",
        "密码",
        "password\"",
        "\"unclosed",
        "-only",
    ] {
        let r = search(&acme, q).await;
        assert!(
            r.status == 200 || (r.status == 400 && r.code() == "invalid_query"),
            "{q:?}: {} {}",
            r.status,
            r.text
        );
    }
    search(&acme, "\"unclosed")
        .await
        .assert_error(400, "invalid_query");
    search(&acme, "-only")
        .await
        .assert_error(400, "invalid_query");
    acme.get("/api/v1/know/search")
        .await
        .assert_error(400, "validation_failed");
    // A question of 501 characters is refused; one of 500 is read.
    let long = format!("q={}", "a".repeat(501));
    acme.get(&format!("/api/v1/know/search?{long}"))
        .await
        .assert_error(400, "validation_failed");
    let r = search(&acme, &format!("password {}", "b".repeat(491))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    acme.get("/api/v1/know/search?q=x&limit=0")
        .await
        .assert_error(400, "validation_failed");
    acme.get("/api/v1/know/search?q=x&sort=asc")
        .await
        .assert_error(400, "validation_failed");
    assert_eq!(
        found(&acme, "NEAR(password reset)").await[0],
        "Password reset"
    );
}

#[tokio::test]
async fn pages_are_checked_listed_by_filter_and_guarded_by_scope() {
    let server = Server::start();
    let acme = know_tenant(&server, "acme");
    let root = published(&acme, "Handbook", "All of it.").await;
    let root_id = s(&root["id"]);
    let child = create(&acme, json!({"title": "Holidays", "body": "Ask first.", "parent_id": root_id, "tags": ["hr", "HR", "time-off"]})).await;
    let child_id = s(&child["id"]);
    assert_eq!(child["tags"], json!(["hr", "time-off"]));
    approve(&acme, &child_id, &s(&child["revision_id"])).await;

    for (body, field) in [
        (json!({"title": ""}), "title"),
        (json!({"title": "   "}), "title"),
        (json!({"title": "x".repeat(201)}), "title"),
        (json!({"title": "t", "tags": ["no spaces"]}), "tags"),
        (
            json!({"title": "t", "parent_id": "pg_01ARZ3NDEKTSV4RRFFQ69G5FAV"}),
            "parent_id",
        ),
        (
            json!({"title": "t", "author_id": "usr_01ARZ3NDEKTSV4RRFFQ69G5FAV"}),
            "author_id",
        ),
        (json!({"title": "t", "colour": "red"}), "colour"),
        (json!({"title": "t", "body": "x".repeat(200_001)}), "body"),
        (json!({"title": "t", "tags": vec!["a"; 21]}), "tags"),
    ] {
        let r = acme.post("/api/v1/know/pages", body.clone()).await;
        r.assert_error(400, "validation_failed");
        assert_eq!(r.json()["error"]["field"], field, "{body}: {}", r.text);
    }
    let r = edit(&acme, &root_id, None, json!({"parent_id": child_id})).await;
    r.assert_error(400, "validation_failed");
    assert_eq!(r.json()["error"]["field"], "parent_id");
    edit(&acme, &root_id, None, json!({"title": "Handbook"}))
        .await
        .assert_error(400, "validation_failed");
    edit(&acme, &root_id, None, json!({}))
        .await
        .assert_error(400, "validation_failed");
    acme.get("/api/v1/know/pages/pg_01ARZ3NDEKTSV4RRFFQ69G5FAV")
        .await
        .assert_error(404, "page_not_found");
    acme.get(&format!("/api/v1/know/pages/{root_id}?revision=first"))
        .await
        .assert_error(400, "validation_failed");

    let ids = |r: Value| -> Vec<String> {
        r["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| s(&p["id"]))
            .collect()
    };
    assert_eq!(
        ids(acme.get("/api/v1/know/pages").await.json()),
        [child_id.clone(), root_id.clone()]
    );
    assert_eq!(
        ids(acme
            .get(&format!("/api/v1/know/pages?parent_id={root_id}"))
            .await
            .json()),
        std::slice::from_ref(&child_id)
    );
    assert_eq!(
        ids(acme.get("/api/v1/know/pages?tag=HR").await.json()),
        std::slice::from_ref(&child_id)
    );
    assert_eq!(
        ids(acme.get("/api/v1/know/pages?status=published").await.json()).len(),
        2
    );
    assert!(
        ids(acme
            .get("/api/v1/know/pages?since=2999-01-01T00:00:00Z")
            .await
            .json())
        .is_empty()
    );
    acme.get("/api/v1/know/pages?status=draft")
        .await
        .assert_error(400, "validation_failed");
    acme.get("/api/v1/know/pages?colour=red")
        .await
        .assert_error(400, "validation_failed");
    let page1 = acme.get("/api/v1/know/pages?limit=1").await.json();
    assert_eq!(
        (page1["has_more"].as_bool(), page1["total_count"].as_i64()),
        (Some(true), Some(2))
    );

    // Scopes: a reader reads and searches, never writes; no key, no page; another tenant's key, 401.
    let (_, read_key) = server.create_key("acme", "live", "know:read", &[]);
    let reader = server.client("acme").key(&read_key);
    assert_eq!(
        reader
            .get(&format!("/api/v1/know/pages/{root_id}"))
            .await
            .status,
        200
    );
    assert_eq!(search(&reader, "holidays").await.status, 200);
    reader
        .post("/api/v1/know/pages", json!({"title": "x"}))
        .await
        .assert_error(403, "insufficient_scope");
    edit(&reader, &root_id, None, json!({"title": "x"}))
        .await
        .assert_error(403, "insufficient_scope");
    reader
        .delete(&format!("/api/v1/know/pages/{root_id}"))
        .await
        .assert_error(403, "insufficient_scope");
    approve(&reader, &root_id, "rev_x")
        .await
        .assert_error(403, "insufficient_scope");
    let (_, core_key) = server.create_key("acme", "live", ALL_CORE, &[]);
    let core = server.client("acme").key(&core_key);
    core.get("/api/v1/know/pages")
        .await
        .assert_error(403, "insufficient_scope");
    server
        .client("acme")
        .get("/api/v1/know/search?q=x")
        .await
        .assert_error(401, "missing_authorization");
    let globex = know_tenant(&server, "globex");
    globex
        .get(&format!("/api/v1/know/pages/{root_id}"))
        .await
        .assert_error(404, "page_not_found");
    assert!(
        found(&globex, "holidays").await.is_empty(),
        "another tenant's wiki is not searched"
    );

    // A page whose every revision was rejected is edited from its newest (the ETag of
    // ?revision=latest), and listed as rejected until then.
    let draft = create(&acme, json!({"title": "Draft", "body": "Too early."})).await;
    let draft_id = s(&draft["id"]);
    let reject = format!(
        "/api/v1/know/pages/{draft_id}/revisions/{}/reject",
        s(&draft["revision_id"])
    );
    let r = acme.post(&reject, json!({"reason": "Not yet."})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let rejected = acme.get("/api/v1/know/pages?status=rejected").await.json();
    assert_eq!(ids(rejected), std::slice::from_ref(&draft_id));
    let latest = acme
        .get(&format!("/api/v1/know/pages/{draft_id}?revision=latest"))
        .await;
    let etag = latest.header("etag").unwrap().trim_matches('"').to_owned();
    let r = edit(&acme, &draft_id, Some(&etag), json!({"body": "Now."})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["status"], "pending");

    // The children of a deleted page stay where they were and can still be edited.
    let r = acme.delete(&format!("/api/v1/know/pages/{root_id}")).await;
    assert_eq!(r.status, 204);
    let r = edit(&acme, &child_id, None, json!({"body": "Ask your lead."})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = approve(&acme, &child_id, &s(&r.json()["revision_id"])).await;
    assert_eq!(r.status, 200, "{}", r.text);
    edit(&acme, &child_id, None, json!({"parent_id": root_id}))
        .await
        .assert_error(400, "validation_failed");
    let r = edit(&acme, &child_id, None, json!({"parent_id": null})).await;
    assert_eq!(r.json()["parent_id"], Value::Null, "{}", r.text);
}

/// Waits (30 s at most) until no merge of Know's index is under way, then says how many segments
/// each of its three FTS5 indexes is in, read from the tenant file.
async fn merge_finished(server: &Server, slug: &str) -> Vec<i64> {
    let file = server.live_file(slug);
    let count = |sql: &str| -> i64 { file.query_row(sql, [], |r| r.get(0)).unwrap() };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while count("SELECT count(*) FROM know_index_merge") > 0 && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    ["know_fts", "know_words", "know_lexicon"]
        .iter()
        .map(|t| count(&format!("SELECT count(DISTINCT segid) FROM {t}_idx")))
        .collect()
}

#[tokio::test]
async fn the_index_is_merged_into_one_segment_after_edits_and_search_stays_exact() {
    let server = Server::start();
    let acme = know_tenant(&server, "acme");
    for (key, value) in [("review_required", "off"), ("index_merge_after", "0")] {
        server.set_setting("acme", &format!("know.{key}"), value);
    }
    let mut pages = vec![];
    for i in 0..40 {
        let page = create(
            &acme,
            json!({"title": format!("Guide {i}"), "body": format!("## Part\n\nalpha{i}omega common words")}),
        )
        .await;
        pages.push((s(&page["id"]), s(&page["revision_id"])));
    }
    // Edits and deletes while merges run: each is folded into the merge under way.
    let (edited, rev) = &pages[3];
    let r = edit(
        &acme,
        edited,
        Some(rev),
        json!({"body": "now about lanterns"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = acme
        .delete(&format!("/api/v1/know/pages/{}", pages[7].0))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);

    let segments = merge_finished(&server, "acme").await;
    assert_eq!(segments, [1, 1, 1], "each index merged into one segment");

    assert_eq!(found(&acme, "lanterns").await, ["Guide 3"]);
    assert!(
        found(&acme, "alpha3omega").await.is_empty(),
        "the old text is gone"
    );
    assert!(
        found(&acme, "alpha7omega").await.is_empty(),
        "the deleted page is gone"
    );
    assert_eq!(found(&acme, "alpha12omega").await, ["Guide 12"]);
    assert_eq!(found(&acme, "common").await.len(), 10);
    assert_eq!(
        found(&acme, "uide").await.len(),
        10,
        "parts of words still found"
    );

    // An edit after the merge sets the next one, which first takes the words no page has any
    // more out of the lexicon.
    let r = edit(
        &acme,
        &pages[5].0,
        Some(&pages[5].1),
        json!({"body": "ferries"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(found(&acme, "ferries").await, ["Guide 5"]);
    let file = server.live_file("acme");
    assert_eq!(merge_finished(&server, "acme").await, [1, 1, 1]);
    let lexicon = |word: &str| -> i64 {
        file.query_row(
            "SELECT count(*) FROM know_lexicon_words WHERE word = ?1",
            [word],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(
        [
            lexicon("alpha3omega"),
            lexicon("alpha5omega"),
            lexicon("alpha7omega")
        ],
        [0, 0, 0],
        "gone from every page, gone from the lexicon"
    );
    assert_eq!([lexicon("alpha12omega"), lexicon("ferries")], [1, 1]);
    assert_eq!(found(&acme, "erries").await, ["Guide 5"]);

    // A page of more words than one run sweeps, made and deleted before the merge is due: the
    // sweep takes two runs, and every word leaves.
    server.set_setting("acme", "know.index_merge_after", "5");
    let words: Vec<String> = (0..2_500).map(|i| format!("zq{i}x")).collect();
    let page = create(
        &acme,
        json!({"title": "Word list", "body": words.join(" ")}),
    )
    .await;
    assert_eq!(found(&acme, "zq2499x").await, ["Word list"]);
    let r = acme
        .delete(&format!("/api/v1/know/pages/{}", s(&page["id"])))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let swept = || -> i64 {
        file.query_row(
            "SELECT count(*) FROM know_lexicon_words WHERE word LIKE 'zq%'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(swept(), 2_500);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    while swept() > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(
        swept(),
        0,
        "every word of the deleted page left the lexicon"
    );
    assert!(found(&acme, "q2499").await.is_empty());
}

#[tokio::test]
async fn a_wiki_indexed_before_the_lexicon_gets_one_from_its_vocabulary() {
    let mut server = Server::start();
    server.create_tenant("acme", "pro");
    let (_, key) = server.create_key("acme", "live", KNOW, &[]);
    let acme = server.client("acme").key(&key);
    published(&acme, "Onboarding", "Welcome aboard.").await;
    server.kill();
    // Back to the index as migration 3 left it: the pages' text under a trigram index, no
    // lexicon.
    let file = server.live_file("acme");
    file.execute_batch(
        "DROP TABLE know_lexicon;
         DROP TABLE know_lexicon_words;
         CREATE VIRTUAL TABLE know_tri USING fts5(title, heading, body,
             content = 'know_sections', content_rowid = 'n', tokenize = 'trigram');
         INSERT INTO know_tri (know_tri) VALUES ('rebuild');
         DELETE FROM _migrations WHERE set_name = 'plugin:know' AND version = 4;",
    )
    .unwrap();
    drop(file);
    server.restart();

    let acme = server.client("acme").key(&key);
    assert_eq!(found(&acme, "boarding").await, ["Onboarding"]);
    let file = server.live_file("acme");
    let tri: i64 = file
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name LIKE 'know_tri%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        tri, 0,
        "the text's trigram index is dropped with its shadow tables"
    );
}

#[tokio::test]
async fn a_search_is_answered_again_from_the_shared_cache_until_the_wiki_changes() {
    let server = Server::start();
    let wiki = know_tenant(&server, "cached");
    server.set_setting("cached", "know.review_required", "off");
    let page = create(
        &wiki,
        json!({"title": "Parking", "body": "Park behind the hall.", "tags": ["venue"]}),
    )
    .await;

    // Run (the route's first marked answer, then the first kept), then given again with `Age`;
    // Know's mark to the host never reaches the client.
    let first = search(&wiki, "parking").await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.header("age"), None);
    let again = from_cache(&wiki, "/api/v1/know/search?q=parking").await;
    assert_eq!(again.text, first.text);
    for r in [&first, &again] {
        assert_eq!(r.header("mobieus-cache-control"), None);
        assert!(r.header("x-ratelimit-remaining").is_some());
    }
    assert_ne!(first.header("x-request-id"), again.header("x-request-id"));

    // Each request still passes its own checks: the scope, the key, the tenant.
    let (_, events_only) = server.create_key("cached", "live", "events:read", &[]);
    let refused = server.client("cached").key(&events_only);
    search(&refused, "parking")
        .await
        .assert_error(403, "insufficient_scope");
    let keyless = search(&server.client("cached"), "parking").await;
    assert_eq!(keyless.status, 401);
    let other = know_tenant(&server, "othercached");
    let theirs = search(&other, "parking").await;
    assert_eq!(
        (
            theirs.json()["data"].as_array().unwrap().len(),
            theirs.header("age")
        ),
        (0, None)
    );

    // Asked to check with the origin: run again.
    let checked = search(&wiki.clone().header("cache-control", "no-cache"), "parking").await;
    assert_eq!(checked.header("age"), None);

    // An edit through the API changes the tenant's file: the next search runs.
    create(
        &wiki,
        json!({"title": "Parking permits", "body": "Ask at the desk."}),
    )
    .await;
    assert_eq!(found(&wiki, "parking").await.len(), 2);
    let cached = from_cache(&wiki, "/api/v1/know/search?q=parking").await;
    assert_eq!(cached.json()["data"].as_array().unwrap().len(), 2);

    // So does a commit by another process (here the test's own connection to the file).
    let tagged = "/api/v1/know/search?q=parking&tag=venue";
    assert_eq!(
        wiki.get(tagged).await.json()["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    from_cache(&wiki, tagged).await;
    let file = server.live_file("cached");
    file.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    file.execute(
        "UPDATE know_pages SET tags = '[]' WHERE id = ?1",
        [s(&page["id"])],
    )
    .unwrap();
    let after = wiki.get(tagged).await;
    assert_eq!(after.header("age"), None);
    assert_eq!(after.json()["data"], json!([]));
    assert!(!server.log().contains("internal_error"));
}

/// Asks for `path` until the answer comes from the shared cache (`Age`): a read connection's
/// first look counts as a change, so the first answer kept may be retired once.
pub async fn from_cache(client: &Client, path: &str) -> Resp {
    for _ in 0..5 {
        let r = client.get(path).await;
        assert_eq!(r.status, 200, "{}", r.text);
        if r.header("age").is_some() {
            return r;
        }
    }
    panic!("{path} was never answered from the shared cache");
}

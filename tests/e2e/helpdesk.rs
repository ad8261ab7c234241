//! Help (embedded, on by default) through the real binary: tickets through every state with
//! their audit rows, events and mail; scopes; queues that assign in turn or by balance and drain
//! the backlog oldest first when an agent frees up; canned responses; notification preferences;
//! isolation from the other plugins' tables.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{ALL_CORE, Client, Resp, Server, eventually, s};
use crate::market::events;

pub const DESK: &str = "helpdesk:read,helpdesk:write,helpdesk:admin";

pub fn desk_tenant(server: &Server, slug: &str) -> Client {
    server.create_tenant(slug, "pro");
    let (_, key) = server.create_key(slug, "live", &format!("{ALL_CORE},{DESK}"), &[]);
    server.client(slug).key(&key)
}

/// A host user with an address.
pub async fn person(client: &Client, username: &str, name: &str) -> String {
    let r = client
        .post(
            "/api/v1/users",
            json!({ "username": username, "display_name": name, "email": format!("{username}@example.com") }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    s(&r.json()["id"])
}

pub async fn ticket(client: &Client, body: Value) -> Value {
    let r = client.post("/api/v1/helpdesk/tickets", body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json()
}

async fn reply(client: &Client, id: &str, body: Value) -> Resp {
    client
        .post(&format!("/api/v1/helpdesk/tickets/{id}/replies"), body)
        .await
}

async fn status(client: &Client, id: &str, to: &str) -> Resp {
    client
        .post(
            &format!("/api/v1/helpdesk/tickets/{id}/status"),
            json!({ "status": to }),
        )
        .await
}

async fn get(client: &Client, path: &str) -> Value {
    let r = client.get(path).await;
    assert_eq!(r.status, 200, "{path}: {}", r.text);
    r.json()
}

fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| s(&t["id"]))
        .collect()
}

/// The outbox's messages to `address`, as `mobieus mail list` shows them.
fn mailed(server: &Server, slug: &str) -> Vec<Value> {
    let out = server.cli_ok(&["mail", "list", "--tenant", slug, "--json"]);
    serde_json::from_str::<Value>(&out).unwrap()["data"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_ticket_moves_through_its_states_with_audit_rows_events_and_mail() {
    let server = Server::start();
    let acme = desk_tenant(&server, "acme");
    let rita = person(&acme, "rita", "Rita Requester").await;
    let ana = person(&acme, "ana", "Ana Agent").await;

    let t = ticket(
        &acme,
        json!({ "subject": "Cannot log in", "body": "My password reset mail never came.",
                "requester_id": rita, "tags": ["Login", "login", "mail"] }),
    )
    .await;
    let id = s(&t["id"]);
    assert!(id.starts_with("tkt_"), "{id}");
    assert_eq!(
        (&t["status"], &t["priority"], &t["tags"]),
        (&json!("new"), &json!("normal"), &json!(["login", "mail"]))
    );
    assert_eq!(t["assignee_id"], Value::Null);
    let got = get(&acme, &format!("/api/v1/helpdesk/tickets/{id}")).await;
    assert_eq!(got["subject"], "Cannot log in");
    let thread = get(&acme, &format!("/api/v1/helpdesk/tickets/{id}/messages")).await;
    assert_eq!(thread["total_count"], 1);
    assert_eq!(thread["data"][0]["author_role"], "requester");

    // Bad input.
    for bad in [
        json!({ "subject": "x", "body": "y", "requester_id": "usr_nope" }),
        json!({ "subject": " ", "body": "y", "requester_id": rita }),
        json!({ "subject": "Hi\r\nBcc: all@example.com", "body": "y", "requester_id": rita }),
        json!({ "subject": "x", "body": "y", "requester_id": rita, "priority": "asap" }),
        json!({ "subject": "x", "body": "y", "requester_id": rita, "tags": ["no spaces"] }),
        json!({ "subject": "x", "body": "y", "requester_id": rita, "queue_id": "que_nope" }),
        json!({ "subject": "x", "body": "y", "requester_id": rita, "colour": "red" }),
    ] {
        acme.post("/api/v1/helpdesk/tickets", bad)
            .await
            .assert_error(400, "validation_failed");
    }
    acme.get("/api/v1/helpdesk/tickets/tkt_nope")
        .await
        .assert_error(404, "ticket_not_found");

    // The agent's first public answer opens it and stamps the first response.
    let r = reply(
        &acme,
        &id,
        json!({ "author_id": ana, "body": "I re-sent it; check your spam folder." }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let after = &r.json()["ticket"];
    assert_eq!(after["status"], "open");
    assert!(after["first_responded_at"].is_string(), "{after}");
    // An internal note changes nothing a requester sees; a requester cannot write one.
    let r = reply(
        &acme,
        &id,
        json!({ "author_id": ana, "body": "Mail provider had an outage.", "visibility": "internal" }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    reply(
        &acme,
        &id,
        json!({ "author_id": rita, "body": "x", "visibility": "internal" }),
    )
    .await
    .assert_error(400, "validation_failed");
    reply(&acme, &id, json!({ "author_id": ana }))
        .await
        .assert_error(400, "validation_failed");
    let public = get(
        &acme,
        &format!("/api/v1/helpdesk/tickets/{id}/messages?visibility=public"),
    )
    .await;
    assert_eq!(public["total_count"], 2);

    // open → pending; the requester's reply brings it back.
    assert_eq!(status(&acme, &id, "pending").await.status, 200);
    let r = reply(
        &acme,
        &id,
        json!({ "author_id": rita, "body": "Still nothing." }),
    )
    .await;
    assert_eq!(r.json()["ticket"]["status"], "open", "{}", r.text);
    // The machine refuses what it does not allow, and says what it does.
    let wrong = status(&acme, &id, "closed").await;
    wrong.assert_error(409, "invalid_ticket_state");
    assert_eq!(
        wrong.json()["error"]["allowed"],
        json!(["pending", "on_hold", "solved"])
    );
    assert_eq!(status(&acme, &id, "on_hold").await.status, 200);
    status(&acme, &id, "pending")
        .await
        .assert_error(409, "invalid_ticket_state");
    assert_eq!(status(&acme, &id, "solved").await.status, 200);
    // Solved: the requester's reply reopens it; solved again, then closed for good.
    let r = reply(
        &acme,
        &id,
        json!({ "author_id": rita, "body": "It came back." }),
    )
    .await;
    assert_eq!(r.json()["ticket"]["status"], "open");
    let r = reply(
        &acme,
        &id,
        json!({ "author_id": ana, "body": "Fixed for real now.", "status": "solved" }),
    )
    .await;
    assert_eq!(r.json()["ticket"]["status"], "solved", "{}", r.text);
    assert!(r.json()["ticket"]["solved_at"].is_string());
    assert_eq!(status(&acme, &id, "closed").await.status, 200);
    for to in ["open", "solved", "new"] {
        status(&acme, &id, to)
            .await
            .assert_error(409, "invalid_ticket_state");
    }
    reply(
        &acme,
        &id,
        json!({ "author_id": rita, "body": "One more thing" }),
    )
    .await
    .assert_error(409, "invalid_ticket_state");
    status(&acme, &id, "paused")
        .await
        .assert_error(400, "validation_failed");

    // Every change, with its actor.
    let audit = get(&acme, &format!("/api/v1/helpdesk/tickets/{id}/audit")).await;
    let moves: Vec<String> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .filter(|c| c["field"] == "status")
        .map(|c| {
            format!(
                "{}>{}",
                c["from_value"].as_str().unwrap_or("-"),
                s(&c["to_value"])
            )
        })
        .collect();
    assert_eq!(
        moves,
        [
            "->new",
            "new>open",
            "open>pending",
            "pending>open",
            "open>on_hold",
            "on_hold>solved",
            "solved>open",
            "open>solved",
            "solved>closed"
        ]
    );
    assert!(audit["data"].as_array().unwrap().iter().all(|c| {
        c["actor_key_id"]
            .as_str()
            .is_some_and(|k| k.starts_with("key_"))
    }));

    // Events: created, each reply, each move with from, to and actor.
    let created = events(&acme, "ticket.created").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["data"]["ticket"]["id"], id);
    assert_eq!(events(&acme, "ticket.replied").await.len(), 5);
    let moved = events(&acme, "ticket.status_changed").await;
    assert_eq!(moved.len(), 8);
    assert_eq!(
        (&moved[0]["data"]["from"], &moved[0]["data"]["to"]),
        (&json!("new"), &json!("open"))
    );
    assert_eq!(moved[0]["data"]["actor"]["user_id"], ana);

    // Mail: the receipt and each agent's public reply to the requester (status mail is off by
    // default; internal notes are never mailed).
    let mail = eventually(Duration::from_secs(10), async || {
        let mail = mailed(&server, "acme");
        (mail.len() >= 3).then_some(mail)
    })
    .await;
    let subjects: Vec<String> = mail.iter().map(|m| s(&m["subject"])).collect();
    assert_eq!(mail.len(), 3, "{subjects:?}");
    assert!(
        subjects
            .iter()
            .any(|s| s.contains("Received: Cannot log in")),
        "{subjects:?}"
    );
    assert_eq!(
        subjects
            .iter()
            .filter(|s| s.contains("Re: Cannot log in"))
            .count(),
        2
    );

    // Lists and their filters.
    let other = ticket(
        &acme,
        json!({ "subject": "Invoice copy", "body": "Please send the March invoice.",
                "requester_id": ana, "priority": "high", "tags": ["billing"] }),
    )
    .await;
    let other_id = s(&other["id"]);
    let list = async |q: &str| get(&acme, &format!("/api/v1/helpdesk/tickets{q}")).await;
    assert_eq!(ids(&list("").await), [other_id.clone(), id.clone()]);
    assert_eq!(ids(&list("?status=closed").await), [id.as_str()]);
    assert_eq!(ids(&list("?tag=billing").await), [other_id.as_str()]);
    assert_eq!(
        ids(&list(&format!("?requester_id={rita}")).await),
        [id.as_str()]
    );
    assert_eq!(ids(&list("?q=SPAM+folder").await), [id.as_str()]);
    assert_eq!(ids(&list("?q=march").await), [other_id.as_str()]);
    assert_eq!(ids(&list("?assignee_id=none").await).len(), 2);
    acme.get("/api/v1/helpdesk/tickets?status=lost")
        .await
        .assert_error(400, "validation_failed");
    acme.get("/api/v1/helpdesk/tickets?colour=red")
        .await
        .assert_error(400, "validation_failed");

    // Tags: replaced as a set, counted in the vocabulary.
    let r = acme
        .send(
            Method::PUT,
            &format!("/api/v1/helpdesk/tickets/{other_id}/tags"),
            Some((
                "application/json",
                json!({ "tags": ["billing", "invoice"] })
                    .to_string()
                    .into_bytes(),
            )),
        )
        .await;
    assert_eq!(
        r.json()["tags"],
        json!(["billing", "invoice"]),
        "{}",
        r.text
    );
    let tags = get(&acme, "/api/v1/helpdesk/tags").await;
    assert_eq!(tags["data"][0], json!({ "tag": "billing", "count": 1 }));
    assert_eq!(tags["total_count"], 4);
}

#[tokio::test]
async fn scopes_guard_reads_writes_and_the_desks_set_up() {
    let server = Server::start();
    let acme = desk_tenant(&server, "acme");
    let rita = person(&acme, "rita", "Rita").await;
    let t = ticket(
        &acme,
        json!({ "subject": "Hi", "body": "Question", "requester_id": rita }),
    )
    .await;
    let id = s(&t["id"]);
    let (_, read) = server.create_key("acme", "live", "helpdesk:read", &[]);
    let read = server.client("acme").key(&read);
    let (_, write) = server.create_key("acme", "live", "helpdesk:read,helpdesk:write", &[]);
    let write = server.client("acme").key(&write);
    assert_eq!(read.get("/api/v1/helpdesk/tickets").await.status, 200);
    assert_eq!(read.get("/api/v1/helpdesk/queues").await.status, 200);
    assert_eq!(
        read.get("/api/v1/helpdesk/notification-preferences")
            .await
            .status,
        200
    );
    read.post(
        "/api/v1/helpdesk/tickets",
        json!({ "subject": "x", "body": "y", "requester_id": rita }),
    )
    .await
    .assert_error(403, "insufficient_scope");
    read.post(
        &format!("/api/v1/helpdesk/tickets/{id}/status"),
        json!({ "status": "open" }),
    )
    .await
    .assert_error(403, "insufficient_scope");
    write
        .post(
            "/api/v1/helpdesk/queues",
            json!({ "name": "Q", "mode": "manual" }),
        )
        .await
        .assert_error(403, "insufficient_scope");
    write
        .get("/api/v1/helpdesk/audit")
        .await
        .assert_error(403, "insufficient_scope");
    write
        .post("/api/v1/helpdesk/topics", json!({ "name": "T" }))
        .await
        .assert_error(403, "insufficient_scope");
    assert_eq!(
        write
            .post(
                "/api/v1/helpdesk/canned-responses",
                json!({ "title": "Hi", "body": "Hello" })
            )
            .await
            .status,
        201
    );
    // The admin log sees the whole desk.
    let audit = get(&acme, "/api/v1/helpdesk/audit").await;
    assert!(audit["total_count"].as_i64().unwrap() >= 2, "{audit}");
    let only = get(&acme, &format!("/api/v1/helpdesk/audit?ticket_id={id}")).await;
    assert_eq!(only["total_count"], 1);
    // Another tenant's key sees nothing of acme's desk.
    let globex = desk_tenant(&server, "globex");
    globex
        .get(&format!("/api/v1/helpdesk/tickets/{id}"))
        .await
        .assert_error(404, "ticket_not_found");
}

async fn queue(client: &Client, body: Value) -> String {
    let r = client.post("/api/v1/helpdesk/queues", body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    s(&r.json()["id"])
}

async fn agent(client: &Client, user: &str, body: Value) -> Value {
    let r = client
        .send(
            Method::PUT,
            &format!("/api/v1/helpdesk/agents/{user}"),
            Some(("application/json", body.to_string().into_bytes())),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
}

#[tokio::test]
async fn queues_assign_in_turn_or_by_balance_and_the_backlog_drains_oldest_first() {
    let server = Server::start();
    let acme = desk_tenant(&server, "acme");
    let rita = person(&acme, "rita", "Rita").await;
    let ana = person(&acme, "ana", "Ana").await;
    let bo = person(&acme, "bo", "Bo").await;
    let (first, second) = if ana < bo { (&ana, &bo) } else { (&bo, &ana) };

    let support = queue(
        &acme,
        json!({ "name": "Support", "mode": "round_robin", "first_response_minutes": 60, "resolution_minutes": 1440 }),
    )
    .await;
    acme.post(
        "/api/v1/helpdesk/queues",
        json!({ "name": "support", "mode": "manual" }),
    )
    .await
    .assert_error(409, "name_taken");
    acme.post(
        "/api/v1/helpdesk/queues",
        json!({ "name": "X", "mode": "random" }),
    )
    .await
    .assert_error(400, "validation_failed");
    let topic = acme
        .post(
            "/api/v1/helpdesk/topics",
            json!({ "name": "Login trouble", "queue_id": support }),
        )
        .await;
    assert_eq!(topic.status, 201, "{}", topic.text);
    let topic = s(&topic.json()["id"]);
    for user in [&ana, &bo] {
        let a = agent(
            &acme,
            user,
            json!({ "queue_ids": [support], "capacity": 1 }),
        )
        .await;
        assert_eq!(
            (&a["available"], &a["open_load"]),
            (&json!(true), &json!(0))
        );
    }
    // An agent's queues must exist; a user who is no one is refused.
    let r = acme
        .send(
            Method::PUT,
            &format!("/api/v1/helpdesk/agents/{ana}"),
            Some((
                "application/json",
                json!({ "queue_ids": ["que_nope"], "capacity": 1 })
                    .to_string()
                    .into_bytes(),
            )),
        )
        .await;
    r.assert_error(404, "queue_not_found");

    // The topic routes to the queue; round robin hands out in turn while there is room.
    let mut made = vec![];
    for n in 0..4 {
        let t = ticket(
            &acme,
            json!({ "subject": format!("Login {n}"), "body": "Help", "requester_id": rita, "topic_id": topic }),
        )
        .await;
        assert_eq!(t["queue_id"], support);
        assert!(t["first_response_due_at"].is_string() && t["resolution_due_at"].is_string());
        made.push(t);
    }
    let assignee = |t: &Value| t["assignee_id"].as_str().map(str::to_owned);
    assert_eq!(assignee(&made[0]).as_deref(), Some(first.as_str()));
    assert_eq!(assignee(&made[1]).as_deref(), Some(second.as_str()));
    assert_eq!((assignee(&made[2]), assignee(&made[3])), (None, None));
    // The queue assigned it, not the requester whose request it was.
    let trail = get(
        &acme,
        &format!(
            "/api/v1/helpdesk/tickets/{}/audit?limit=100",
            s(&made[0]["id"])
        ),
    )
    .await;
    let by_queue = trail["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "assignee_id")
        .unwrap();
    assert_eq!(by_queue["actor_user_id"], Value::Null, "{by_queue}");
    let agents = get(&acme, "/api/v1/helpdesk/agents").await;
    assert!(
        agents["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["open_load"] == 1)
    );

    // The first agent solves theirs: the oldest waiting ticket goes to them, not the newest.
    let id = |t: &Value| s(&t["id"]);
    assert_eq!(status(&acme, &id(&made[0]), "solved").await.status, 200);
    let t2 = get(&acme, &format!("/api/v1/helpdesk/tickets/{}", id(&made[2]))).await;
    assert_eq!(t2["assignee_id"], json!(first));
    let t3 = get(&acme, &format!("/api/v1/helpdesk/tickets/{}", id(&made[3]))).await;
    assert_eq!(t3["assignee_id"], Value::Null);
    // The second agent is away, then back with more room: the last one drains to them.
    agent(
        &acme,
        second,
        json!({ "queue_ids": [support], "capacity": 2, "available": false }),
    )
    .await;
    let t3 = get(&acme, &format!("/api/v1/helpdesk/tickets/{}", id(&made[3]))).await;
    assert_eq!(t3["assignee_id"], Value::Null);
    let back = agent(
        &acme,
        second,
        json!({ "queue_ids": [support], "capacity": 2 }),
    )
    .await;
    assert_eq!(back["open_load"], 2);
    let t3 = get(&acme, &format!("/api/v1/helpdesk/tickets/{}", id(&made[3]))).await;
    assert_eq!(t3["assignee_id"], json!(second));
    let assigned = events(&acme, "ticket.assigned").await;
    let hows: Vec<&str> = assigned
        .iter()
        .map(|e| e["data"]["how"].as_str().unwrap())
        .collect();
    assert_eq!(hows, ["round_robin", "round_robin", "drain", "drain"]);
    assert_eq!(assigned[2]["data"]["ticket"]["id"], id(&made[2]));
    assert_eq!(
        (
            &assigned[2]["data"]["from"],
            &assigned[2]["data"]["to"],
            &assigned[2]["data"]["queue"]
        ),
        (&Value::Null, &json!(first), &json!(support))
    );

    // By hand: to an agent, or to no one (which frees them to drain); never to a non-agent.
    let assign = |t: String, body: Value| {
        let acme = acme.clone();
        async move {
            acme.post(&format!("/api/v1/helpdesk/tickets/{t}/assign"), body)
                .await
        }
    };
    assign(id(&made[3]), json!({ "assignee_id": rita }))
        .await
        .assert_error(400, "validation_failed");
    let r = assign(id(&made[3]), json!({ "assignee_id": first })).await;
    assert_eq!(r.json()["assignee_id"], json!(first), "{}", r.text);
    assign(id(&made[0]), json!({ "assignee_id": first }))
        .await
        .assert_error(409, "invalid_ticket_state");

    // Balanced: the least loaded agent, never past the queue's cap.
    let billing = queue(
        &acme,
        json!({ "name": "Billing", "mode": "balanced", "agent_cap": 1 }),
    )
    .await;
    let cy = person(&acme, "cy", "Cy").await;
    agent(&acme, &cy, json!({ "queue_ids": [billing], "capacity": 5 })).await;
    let b1 = ticket(
        &acme,
        json!({ "subject": "Refund", "body": "x", "requester_id": rita, "queue_id": billing }),
    )
    .await;
    let b2 = ticket(
        &acme,
        json!({ "subject": "Refund 2", "body": "x", "requester_id": rita, "queue_id": billing }),
    )
    .await;
    assert_eq!(b1["assignee_id"], json!(cy));
    assert_eq!(b2["assignee_id"], Value::Null, "the cap of 1 holds");
    // The cap rises: the queue's PATCH; the next free moment drains.
    let r = acme
        .patch(
            &format!("/api/v1/helpdesk/queues/{billing}"),
            json!({ "agent_cap": 3 }),
        )
        .await;
    assert_eq!(r.json()["agent_cap"], 3, "{}", r.text);
    agent(&acme, &cy, json!({ "queue_ids": [billing], "capacity": 5 })).await;
    let b2 = get(&acme, &format!("/api/v1/helpdesk/tickets/{}", id(&b2))).await;
    assert_eq!(b2["assignee_id"], json!(cy));

    // A manual queue never assigns; switched to round robin, its backlog goes out at once.
    let triage = queue(&acme, json!({ "name": "Triage", "mode": "manual" })).await;
    agent(
        &acme,
        &cy,
        json!({ "queue_ids": [billing, triage], "capacity": 5 }),
    )
    .await;
    let m = ticket(
        &acme,
        json!({ "subject": "Unsorted", "body": "x", "requester_id": rita, "queue_id": triage }),
    )
    .await;
    assert_eq!(m["assignee_id"], Value::Null);
    let r = acme
        .patch(
            &format!("/api/v1/helpdesk/queues/{triage}"),
            json!({ "mode": "round_robin" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let m = get(&acme, &format!("/api/v1/helpdesk/tickets/{}", id(&m))).await;
    assert_eq!(m["assignee_id"], json!(cy));
    acme.patch(&format!("/api/v1/helpdesk/queues/{triage}"), json!({}))
        .await
        .assert_error(400, "validation_failed");
    acme.patch("/api/v1/helpdesk/queues/que_nope", json!({ "name": "x" }))
        .await
        .assert_error(404, "queue_not_found");
}

#[tokio::test]
async fn canned_responses_fill_their_placeholders_and_preferences_decide_mail_and_events() {
    let server = Server::start();
    let acme = desk_tenant(&server, "acme");
    let rita = person(&acme, "rita", "Rita Requester").await;
    let ana = person(&acme, "ana", "Ana Agent").await;
    // A placeholder the desk does not know is refused when saved, not sent to a customer.
    acme.post(
        "/api/v1/helpdesk/canned-responses",
        json!({ "title": "Bad", "body": "Hi {{ ticket.requestor.name }}" }),
    )
    .await
    .assert_error(400, "validation_failed");
    acme.post(
        "/api/v1/helpdesk/canned-responses",
        json!({ "title": "Bad", "body": "Hi {{ ticket.requester.name " }),
    )
    .await
    .assert_error(400, "validation_failed");
    let r = acme
        .post(
            "/api/v1/helpdesk/canned-responses",
            json!({ "title": "Reset", "body": "Hello {{ ticket.requester.name }}, about \"{{ ticket.subject }}\": use the reset link. {{ agent.name }}" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let canned = s(&r.json()["id"]);
    let t = ticket(
        &acme,
        json!({ "subject": "Locked out", "body": "Help", "requester_id": rita }),
    )
    .await;
    let id = s(&t["id"]);
    let r = reply(
        &acme,
        &id,
        json!({ "author_id": ana, "canned_response_id": canned }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.json()["message"]["body"],
        "Hello Rita Requester, about \"Locked out\": use the reset link. Ana Agent"
    );
    reply(
        &acme,
        &id,
        json!({ "author_id": ana, "canned_response_id": canned, "body": "both" }),
    )
    .await
    .assert_error(400, "validation_failed");
    // Deactivated, never deleted: listed, but no reply can use it.
    let r = acme
        .patch(
            &format!("/api/v1/helpdesk/canned-responses/{canned}"),
            json!({ "active": false }),
        )
        .await;
    assert_eq!(r.json()["active"], false, "{}", r.text);
    reply(
        &acme,
        &id,
        json!({ "author_id": ana, "canned_response_id": canned }),
    )
    .await
    .assert_error(404, "canned_response_not_found");
    let inactive = get(&acme, "/api/v1/helpdesk/canned-responses?active=false").await;
    assert_eq!(ids(&inactive), [canned.as_str()]);
    assert_eq!(
        acme.delete(&format!("/api/v1/helpdesk/canned-responses/{canned}"))
            .await
            .status,
        405
    );

    // Preferences: every event and channel; off means no mail, and for webhook, no event.
    let prefs = get(&acme, "/api/v1/helpdesk/notification-preferences").await;
    assert_eq!(prefs["preferences"].as_array().unwrap().len(), 8);
    let r = acme
        .send(
            Method::PUT,
            "/api/v1/helpdesk/notification-preferences",
            Some((
                "application/json",
                json!({ "preferences": [
                    { "event": "ticket.replied", "channel": "webhook", "enabled": false },
                    { "event": "ticket.replied", "channel": "mail", "enabled": false },
                    { "event": "ticket.status_changed", "channel": "mail", "enabled": true }
                ] })
                .to_string()
                .into_bytes(),
            )),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let before = events(&acme, "ticket.replied").await.len();
    let r = reply(
        &acme,
        &id,
        json!({ "author_id": ana, "body": "Quiet reply", "status": "solved" }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(events(&acme, "ticket.replied").await.len(), before);
    let mail = eventually(Duration::from_secs(10), async || {
        let mail = mailed(&server, "acme");
        mail.iter()
            .any(|m| {
                m["subject"]
                    .as_str()
                    .is_some_and(|s| s.ends_with("] Locked out"))
            })
            .then_some(mail)
    })
    .await;
    let subjects: Vec<String> = mail.iter().map(|m| s(&m["subject"])).collect();
    // The receipt, the first (canned) reply, the status mail; not the quiet reply.
    assert_eq!(subjects.len(), 3, "{subjects:?}");
    let bad = acme
        .send(
            Method::PUT,
            "/api/v1/helpdesk/notification-preferences",
            Some((
                "application/json",
                json!({ "preferences": [{ "event": "ticket.lost", "channel": "mail", "enabled": true }] })
                    .to_string()
                    .into_bytes(),
            )),
        )
        .await;
    bad.assert_error(400, "validation_failed");
    let changed = get(
        &acme,
        "/api/v1/helpdesk/audit?field=notification_preferences.ticket.replied.mail",
    )
    .await;
    assert_eq!(changed["total_count"], 1);
}

#[tokio::test]
async fn q_finds_text_in_subjects_and_threads_through_the_index_whatever_it_holds() {
    let mut server = Server::start();
    let acme = desk_tenant(&server, "acme");
    let rita = person(&acme, "rita", "Rita").await;
    let ana = person(&acme, "ana", "Ana").await;
    agent(&acme, &ana, json!({ "queue_ids": [], "capacity": 5 })).await;
    let wifi = s(&ticket(
        &acme,
        json!({ "subject": "Wi-Fi drops (again)", "body": "The \"guest\" network drops every 5 min.", "requester_id": rita }),
    )
    .await["id"]);
    let summer = s(&ticket(
        &acme,
        json!({ "subject": "ÉTÉ schedule", "body": "When does the summer desk open? 100% sure it's NEAR me", "requester_id": rita }),
    )
    .await["id"]);
    let list = async |q: &str| {
        let path = format!(
            "/api/v1/helpdesk/tickets?q={}",
            q.bytes().map(|b| format!("%{b:02X}")).collect::<String>()
        );
        let r = acme.get(&path).await;
        assert_eq!(r.status, 200, "{q}: {}", r.text);
        ids(&r.json())
    };
    // Substrings of a subject or a message, in any case; Unicode letters folded too.
    assert_eq!(list("wi-fi").await, [wifi.as_str()]);
    assert_eq!(list("RY 5 MI").await, [wifi.as_str()]);
    assert_eq!(list("été").await, [summer.as_str()]);
    assert_eq!(list("SCHED").await, [summer.as_str()]);
    // FTS5's syntax is text here: quotes, parentheses, *, -, NEAR, %, and short queries.
    assert_eq!(list("\"guest\"").await, [wifi.as_str()]);
    assert_eq!(list("(again)").await, [wifi.as_str()]);
    assert_eq!(list("NEAR me").await, [summer.as_str()]);
    assert_eq!(list("100%").await, [summer.as_str()]);
    assert_eq!(list("5 min").await, [wifi.as_str()]);
    assert_eq!(list("*").await, Vec::<String>::new());
    assert_eq!(list("-").await, [wifi.as_str()]);
    assert_eq!(list("\"").await, [wifi.as_str()]);
    assert_eq!(list("N?").await, [summer.as_str()]);
    assert_eq!(list("AND OR NOT").await, Vec::<String>::new());
    assert_eq!(list("\")(*").await, Vec::<String>::new());
    // A reply and an internal note are found as soon as they are written.
    assert_eq!(
        reply(
            &acme,
            &wifi,
            json!({ "author_id": ana, "body": "Rebooted the access point." })
        )
        .await
        .status,
        201
    );
    assert_eq!(
        reply(&acme, &summer, json!({ "author_id": ana, "body": "Escalated to facilities.", "visibility": "internal" }))
            .await
            .status,
        201
    );
    assert_eq!(list("access point").await, [wifi.as_str()]);
    assert_eq!(list("facilities").await, [summer.as_str()]);
    let counted = get(&acme, "/api/v1/helpdesk/tickets?q=e").await;
    assert_eq!(counted["total_count"], 2);
    acme.get(&format!("/api/v1/helpdesk/tickets?q={}", "x".repeat(201)))
        .await
        .assert_error(400, "validation_failed");
    acme.get("/api/v1/helpdesk/tickets?q=+")
        .await
        .assert_error(400, "validation_failed");

    // A desk from before the index gets one from its tickets and threads.
    server.kill();
    let file = server.live_file("acme");
    file.execute_batch(
        "DROP TABLE helpdesk_search;
         DROP TABLE helpdesk_search_docs;
         DELETE FROM _migrations WHERE set_name = 'plugin:helpdesk' AND version = 2;",
    )
    .unwrap();
    drop(file);
    server.restart();
    let (_, key) = server.create_key("acme", "live", &format!("{ALL_CORE},{DESK}"), &[]);
    let acme = server.client("acme").key(&key);
    let r = acme.get("/api/v1/helpdesk/tickets?q=access%20point").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(ids(&r.json()), [wifi.as_str()]);
    let r = acme.get("/api/v1/helpdesk/tickets?q=%C3%89t%C3%A9").await;
    assert_eq!(ids(&r.json()), [summer.as_str()]);
}

use std::collections::HashSet;

use serde_json::Value;

use crate::harness::{Client, Server};

/// Follows `next_cursor` to the end; returns every id in order.
async fn all_pages(client: &Client, path: &str) -> Vec<String> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut ids = vec![];
    let mut next: Option<String> = None;
    loop {
        let url = match &next {
            Some(c) => format!("{path}{sep}cursor={c}"),
            None => path.to_owned(),
        };
        let r = client.get(&url).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let page = r.json();
        ids.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["id"].as_str().unwrap().to_owned()),
        );
        match &page["next_cursor"] {
            Value::String(c) => {
                assert_eq!(page["has_more"], true);
                next = Some(c.clone());
            }
            _ => {
                assert_eq!(page["has_more"], false);
                return ids;
            }
        }
    }
}

#[tokio::test]
async fn lists_page_newest_first_with_totals() {
    let server = Server::start();
    let acme = server.tenant_with_key("acme");
    let ada = acme.user("ada").await;
    let mut created = vec![];
    for i in 0..45 {
        created.push(acme.post_by(&ada, &format!("post {i}")).await);
    }
    let first = acme.get("/api/v1/posts").await.json();
    assert_eq!(first["data"].as_array().unwrap().len(), 20);
    assert_eq!(first["total_count"], 45);
    assert_eq!(first["data"][0]["id"], created[44].as_str());
    let ids = all_pages(&acme, "/api/v1/posts?limit=7").await;
    let mut expected = created.clone();
    expected.reverse();
    assert_eq!(ids, expected);
    // Filters: author.
    let bob = acme.user("bob").await;
    acme.post_by(&bob, "bob's").await;
    let r = acme
        .get(&format!("/api/v1/posts?author_id={bob}"))
        .await
        .json();
    assert_eq!(r["total_count"], 1);
    // Events: 2 users + 46 posts, newest first.
    let events = acme.get("/api/v1/events?limit=100").await.json();
    assert_eq!(events["total_count"], 48);
    let times: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] > w[1]));
    let users = acme.get("/api/v1/events?type=user.registered").await.json();
    assert_eq!(users["total_count"], 2);
    assert!(
        users["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["type"] == "user.registered")
    );
    let both = acme
        .get("/api/v1/events?type=user.registered,post.created&limit=1")
        .await
        .json();
    assert_eq!(both["total_count"], 48);
    assert_eq!(both["data"][0]["type"], "post.created");
}

#[tokio::test]
async fn time_filters_and_their_errors() {
    let server = Server::start();
    let acme = server.tenant_with_key("acme");
    acme.user("early").await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let middle = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    acme.user("late").await;
    let enc = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339().replace('+', "%2B");
    let since = acme
        .get(&format!("/api/v1/events?since={}", enc(middle)))
        .await
        .json();
    assert_eq!(since["total_count"], 1);
    assert_eq!(since["data"][0]["data"]["user"]["username"], "late");
    let until = acme
        .get(&format!("/api/v1/users?until={}", enc(middle)))
        .await
        .json();
    assert_eq!(until["total_count"], 1);
    assert_eq!(until["data"][0]["username"], "early");
    acme.get("/api/v1/events?since=yesterday")
        .await
        .assert_error(400, "invalid_since");
    acme.get("/api/v1/events?until=2026-02-30T00:00:00Z")
        .await
        .assert_error(400, "invalid_until");
    acme.get("/api/v1/events?since=2026-05-02T00:00:00Z&until=2026-05-01T00:00:00Z")
        .await
        .assert_error(400, "invalid_until");
    for bad in [
        "limit=101",
        "limit=0",
        "limit=ten",
        "colour=red",
        "type=Post",
    ] {
        acme.get(&format!("/api/v1/events?{bad}"))
            .await
            .assert_error(400, "validation_failed");
    }
    assert_eq!(acme.get("/api/v1/events?limit=100").await.status, 200);
}

#[tokio::test]
async fn forged_and_foreign_cursors_are_refused() {
    let server = Server::start();
    let acme = server.tenant_with_key("acme");
    for name in ["a", "b", "c"] {
        acme.user(name).await;
    }
    let page = acme.get("/api/v1/users?limit=1").await.json();
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    assert_eq!(
        acme.get(&format!("/api/v1/users?limit=1&cursor={cursor}"))
            .await
            .status,
        200
    );
    for bad in [
        "garbage".to_owned(),
        format!("{cursor}x"),
        // Someone else's list.
        cursor.clone(),
    ] {
        let path = if bad == cursor {
            format!("/api/v1/events?cursor={bad}")
        } else {
            format!("/api/v1/users?cursor={bad}")
        };
        acme.get(&path).await.assert_error(400, "invalid_cursor");
    }
    // A cursor that names an id we never issued.
    let (id_part, mac) = cursor.split_once('.').unwrap();
    let forged = format!("{}.{mac}", base64_url(&format!("usr_{}", "Z".repeat(26))));
    assert_ne!(forged.split_once('.').unwrap().0, id_part);
    acme.get(&format!("/api/v1/users?cursor={forged}"))
        .await
        .assert_error(400, "invalid_cursor");
}

#[tokio::test]
async fn plugin_cursors_are_sealed_by_the_host_like_its_own() {
    let server = Server::start();
    let acme = crate::market::market_tenant(&server, "acme");
    let seller = acme.user("sam").await;
    acme.user("kim").await;
    for i in 0..3 {
        crate::market::listing(&acme, &seller, &format!("Thing {i}"), 100).await;
    }
    let page = acme.get("/api/v1/listings?limit=1").await.json();
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    assert!(
        cursor.contains('.'),
        "sealed, not the plugin's own: {cursor}"
    );
    // Followed to the end, with the limit changing from page to page.
    let all: Vec<String> = all_pages(&acme, "/api/v1/listings?limit=1").await;
    assert_eq!(all.len(), 3);
    let next = acme
        .get(&format!("/api/v1/listings?limit=2&cursor={cursor}"))
        .await
        .json();
    assert_eq!(next["data"].as_array().unwrap().len(), 2);
    assert_eq!(next["data"][0]["id"], all[1].as_str());
    // The plugin's own form (hex of the last id), tampered, for other filters, a host list's.
    let inner_hex = hex(&all[0]);
    let host_cursor = acme.get("/api/v1/users?limit=1").await.json()["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    for (path, why) in [
        (format!("/api/v1/listings?cursor={inner_hex}"), "unsealed"),
        (format!("/api/v1/listings?cursor={cursor}x"), "tampered"),
        (
            format!("/api/v1/listings?status=sold&cursor={cursor}"),
            "other filters",
        ),
        (
            format!("/api/v1/users?cursor={cursor}"),
            "used on a host list",
        ),
        (
            format!("/api/v1/listings?cursor={host_cursor}"),
            "a host list's",
        ),
    ] {
        let r = acme.get(&path).await;
        assert_eq!(r.status, 400, "{why}: {}", r.text);
        assert_eq!(r.json()["error"]["code"], "invalid_cursor", "{why}");
    }
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn base64_url(s: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = s.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test]
async fn paging_under_concurrent_writes_has_no_gaps_or_duplicates() {
    let server = Server::start();
    let acme = server.tenant_with_key("acme");
    let ada = acme.user("ada").await;
    for i in 0..60 {
        acme.post_by(&ada, &format!("before {i}")).await;
    }
    let before: HashSet<String> = all_pages(&acme, "/api/v1/events?limit=100")
        .await
        .into_iter()
        .collect();
    assert_eq!(before.len(), 61);
    let writer = {
        let acme = acme.clone();
        let ada = ada.clone();
        tokio::spawn(async move {
            for i in 0..60 {
                acme.post_by(&ada, &format!("during {i}")).await;
            }
        })
    };
    let seen = all_pages(&acme, "/api/v1/events?limit=5").await;
    writer.await.unwrap();
    let unique: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "a page repeated an event");
    assert!(
        before.is_subset(&unique),
        "an event that existed before paging began was skipped"
    );
    assert!(seen.windows(2).all(|w| w[0] > w[1]));
}

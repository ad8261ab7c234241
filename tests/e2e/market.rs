//! The Market plugin (embedded, on by default) through the real binary: every endpoint, its
//! scopes, error codes and events.

use serde_json::{Value, json};

use crate::harness::{ALL_CORE, Client, Server};

pub const MARKET: &str = "listings:read,listings:write";

/// A tenant whose key holds the core scopes and the Market's.
pub fn market_tenant(server: &Server, slug: &str) -> Client {
    server.create_tenant(slug, "pro");
    let (_, key) = server.create_key(slug, "live", &format!("{ALL_CORE},{MARKET}"), &[]);
    server.client(slug).key(&key)
}

pub async fn listing(client: &Client, seller: &str, title: &str, price: i64) -> Value {
    let r = client
        .post(
            "/api/v1/listings",
            json!({"title": title, "price": price, "currency": "EUR", "seller_id": seller}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json()
}

/// The events of `types`, oldest first.
pub async fn events(client: &Client, types: &str) -> Vec<Value> {
    let r = client
        .get(&format!("/api/v1/events?type={types}&limit=100"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut data = r.json()["data"].as_array().unwrap().clone();
    data.reverse();
    data
}

#[tokio::test]
async fn a_listing_lives_from_active_to_sold_or_withdrawn_and_never_back() {
    let server = Server::start();
    let acme = market_tenant(&server, "acme");
    let seller = acme.user("sam").await;
    let buyer = acme.user("bo").await;

    let created = listing(&acme, &seller, "Road bike", 12_500).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("lst_"), "{id}");
    assert_eq!(created["status"], "active");
    assert_eq!(
        (&created["price"], &created["currency"]),
        (&json!(12_500), &json!("EUR"))
    );
    assert_eq!(
        acme.get(&format!("/api/v1/listings/{id}")).await.json(),
        created
    );

    // A lower-case currency is normalised; fields change while active.
    let r = acme
        .patch(
            &format!("/api/v1/listings/{id}"),
            json!({"price": 11_000, "currency": "usd"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (&r.json()["price"], &r.json()["currency"]),
        (&json!(11_000), &json!("USD"))
    );

    let sell = format!("/api/v1/listings/{id}/sell");
    acme.post(&sell, json!({"buyer_id": seller}))
        .await
        .assert_error(400, "validation_failed");
    acme.post(&sell, json!({"buyer_id": "usr_01NOBODY"}))
        .await
        .assert_error(400, "validation_failed");
    let r = acme.post(&sell, json!({"buyer_id": buyer})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let sold = r.json();
    assert_eq!(
        (&sold["status"], &sold["buyer_id"]),
        (&json!("sold"), &json!(buyer))
    );
    assert!(sold["sold_at"].is_string());

    // Nothing leaves sold.
    for (path, body) in [
        (sell.clone(), json!({"buyer_id": buyer})),
        (format!("/api/v1/listings/{id}/withdraw"), json!({})),
    ] {
        let r = acme.post(&path, body).await;
        r.assert_error(409, "invalid_listing_state");
        assert_eq!(r.json()["error"]["status"], "sold");
    }
    acme.patch(&format!("/api/v1/listings/{id}"), json!({"title": "x"}))
        .await
        .assert_error(409, "invalid_listing_state");

    // Withdrawn, with and without a body; nothing leaves withdrawn.
    let other = listing(&acme, &seller, "Helmet", 3_000).await;
    let other_id = other["id"].as_str().unwrap();
    let r = acme
        .post(
            &format!("/api/v1/listings/{other_id}/withdraw"),
            json!({"reason": "changed my mind"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (&r.json()["status"], &r.json()["withdrawn_reason"]),
        (&json!("withdrawn"), &json!("changed my mind"))
    );
    acme.post(
        &format!("/api/v1/listings/{other_id}/sell"),
        json!({"buyer_id": buyer}),
    )
    .await
    .assert_error(409, "invalid_listing_state");
    let third = listing(&acme, &seller, "Pump", 900).await;
    let r = acme
        .send(
            reqwest::Method::POST,
            &format!(
                "/api/v1/listings/{}/withdraw",
                third["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // One event per change, each with the listing as it became.
    let log = events(
        &acme,
        "listing.created,listing.updated,listing.sold,listing.withdrawn",
    )
    .await;
    let kinds: Vec<&str> = log.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "listing.created",
            "listing.updated",
            "listing.sold",
            "listing.created",
            "listing.withdrawn",
            "listing.created",
            "listing.withdrawn"
        ]
    );
    assert_eq!(log[1]["data"]["changed"], json!(["price", "currency"]));
    assert_eq!(log[2]["data"]["listing"], sold);
    assert_eq!(log[4]["data"]["reason"], "changed my mind");
    assert_eq!(log[0]["data"]["listing"]["id"], id.as_str());
}

#[tokio::test]
async fn bad_listings_are_refused_with_the_field_named() {
    let server = Server::start();
    let acme = market_tenant(&server, "acme");
    let seller = acme.user("sam").await;
    let good = json!({"title": "Bike", "price": 100, "currency": "EUR", "seller_id": seller});
    let with = |k: &str, v: Value| {
        let mut body = good.clone();
        body[k] = v;
        body
    };
    for (body, field) in [
        (with("title", json!("  ")), "title"),
        (with("title", json!("x".repeat(201))), "title"),
        (with("price", json!(-1)), "price"),
        (with("price", json!(1.5)), "price"),
        (with("currency", json!("EURO")), "currency"),
        (with("currency", json!("XYZ")), "currency"),
        (with("seller_id", json!("usr_01NOBODY")), "seller_id"),
        (with("seller_id", json!("sam")), "seller_id"),
        (with("file_ids", json!(["file_01NOPE"])), "file_ids"),
        (with("colour", json!("red")), "colour"),
    ] {
        let r = acme.post("/api/v1/listings", body.clone()).await;
        r.assert_error(400, "validation_failed");
        assert_eq!(r.json()["error"]["field"], field, "{body}");
    }
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("currency");
    let r = acme.post("/api/v1/listings", missing).await;
    assert_eq!(r.json()["error"]["field"], "currency");
    acme.send(
        reqwest::Method::POST,
        "/api/v1/listings",
        Some(("application/json", b"{not json".to_vec())),
    )
    .await
    .assert_error(400, "invalid_json");

    let id = listing(&acme, &seller, "Bike", 100).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    acme.patch(&format!("/api/v1/listings/{id}"), json!({}))
        .await
        .assert_error(400, "validation_failed");
    acme.get("/api/v1/listings/lst_01NOTHERE")
        .await
        .assert_error(404, "listing_not_found");
    acme.patch("/api/v1/listings/lst_01NOTHERE", json!({"price": 1}))
        .await
        .assert_error(404, "listing_not_found");
    acme.post(
        "/api/v1/listings/lst_01NOTHERE/withdraw",
        json!({"reason": "x"}),
    )
    .await
    .assert_error(404, "listing_not_found");
    // Nothing was written by any of the refusals.
    let list = acme.get("/api/v1/listings").await.json();
    assert_eq!(list["total_count"], 1);
}

#[tokio::test]
async fn listings_filter_by_status_seller_and_time_and_page() {
    let server = Server::start();
    let acme = market_tenant(&server, "acme");
    let (sam, kim, bo) = (
        acme.user("sam").await,
        acme.user("kim").await,
        acme.user("bo").await,
    );
    let mut ids = vec![];
    for i in 0..5 {
        let seller = if i % 2 == 0 { &sam } else { &kim };
        ids.push(
            listing(&acme, seller, &format!("Thing {i}"), 100 * i).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let r = acme
        .post(
            &format!("/api/v1/listings/{}/sell", ids[0]),
            json!({"buyer_id": bo}),
        )
        .await;
    assert_eq!(r.status, 200);
    let middle = acme
        .get(&format!("/api/v1/listings/{}", ids[2]))
        .await
        .json()["created_at"]
        .as_str()
        .unwrap()
        .to_owned();

    let count = async |query: &str| {
        let r = acme.get(&format!("/api/v1/listings?{query}")).await;
        assert_eq!(r.status, 200, "{query}: {}", r.text);
        let body = r.json();
        assert_eq!(
            body["total_count"].as_u64().unwrap() as usize,
            body["data"].as_array().unwrap().len(),
            "{query}"
        );
        body["total_count"].as_u64().unwrap()
    };
    assert_eq!(count("").await, 5);
    assert_eq!(count("status=active").await, 4);
    assert_eq!(count("status=sold").await, 1);
    assert_eq!(count(&format!("seller_id={sam}")).await, 3);
    assert_eq!(count(&format!("seller={kim}")).await, 2);
    assert_eq!(count(&format!("seller_id={sam}&status=active")).await, 2);
    assert_eq!(count(&format!("since={middle}")).await, 3);
    assert_eq!(count(&format!("until={middle}")).await, 3);
    assert_eq!(count("since=2020-01-01T00:00:00%2B02:00").await, 5);

    acme.get("/api/v1/listings?status=gone")
        .await
        .assert_error(400, "validation_failed");
    acme.get("/api/v1/listings?since=yesterday")
        .await
        .assert_error(400, "invalid_since");
    acme.get("/api/v1/listings?until=2026-13-01T00:00:00Z")
        .await
        .assert_error(400, "invalid_until");
    acme.get("/api/v1/listings?colour=red")
        .await
        .assert_error(400, "validation_failed");
    acme.get("/api/v1/listings?limit=101")
        .await
        .assert_error(400, "validation_failed");
    acme.get("/api/v1/listings?cursor=zz")
        .await
        .assert_error(400, "invalid_cursor");

    // Newest first, two at a time, every listing once.
    let mut seen = vec![];
    let mut path = "/api/v1/listings?limit=2".to_owned();
    loop {
        let page = acme.get(&path).await.json();
        assert_eq!(page["total_count"], 5);
        for l in page["data"].as_array().unwrap() {
            seen.push(l["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(page["has_more"], true);
                path = format!("/api/v1/listings?limit=2&cursor={c}");
            }
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids);
}

#[tokio::test]
async fn listing_routes_need_their_scopes() {
    let server = Server::start();
    let acme = market_tenant(&server, "acme");
    let seller = acme.user("sam").await;
    let id = listing(&acme, &seller, "Bike", 100).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, read_only) = server.create_key("acme", "live", "listings:read", &[]);
    let reader = server.client("acme").key(&read_only);
    assert_eq!(reader.get("/api/v1/listings").await.status, 200);
    for r in [
        reader
            .post(
                "/api/v1/listings",
                json!({"title": "x", "price": 1, "currency": "EUR", "seller_id": seller}),
            )
            .await,
        reader
            .patch(&format!("/api/v1/listings/{id}"), json!({"price": 2}))
            .await,
        reader
            .post(&format!("/api/v1/listings/{id}/withdraw"), json!({}))
            .await,
        reader
            .post(
                &format!("/api/v1/listings/{id}/sell"),
                json!({"buyer_id": seller}),
            )
            .await,
    ] {
        r.assert_error(403, "insufficient_scope");
        assert_eq!(r.json()["error"]["required_scope"], "listings:write");
    }
    let (_, core_only) = server.create_key("acme", "live", ALL_CORE, &[]);
    let other = server.client("acme").key(&core_only);
    for path in [
        "/api/v1/listings".to_owned(),
        format!("/api/v1/listings/{id}"),
    ] {
        let r = other.get(&path).await;
        r.assert_error(403, "insufficient_scope");
        assert_eq!(r.json()["error"]["required_scope"], "listings:read");
    }
}

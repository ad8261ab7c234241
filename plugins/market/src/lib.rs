//! Market: listings with a price, a seller and a life of their own.
//!
//! `GET /api/v1/listings`, `GET /api/v1/listings/{id}` (`listings:read`); `POST /api/v1/listings`,
//! `PATCH /api/v1/listings/{id}`, `POST /api/v1/listings/{id}/sell`, `POST
//! /api/v1/listings/{id}/withdraw` (`listings:write`). A listing is `active` until it is `sold` or
//! `withdrawn`, and nothing leaves those: a wrong transition is `409 invalid_listing_state`.
//!
//! Events `listing.created`, `listing.updated`, `listing.sold`, `listing.withdrawn`, each with the
//! listing. It subscribes to `moderation.action_taken`: a moderator's `remove_content` on a
//! listing withdraws it. Built on the public SDK only.

mod currency;
mod schema;

use mobieus_sdk::json::Value as Json;
use mobieus_sdk::prelude::*;

struct Market;

const STATUSES: &[&str] = &["active", "sold", "withdrawn"];
const MAX_FILES: usize = 10;
/// A price above this (in minor units) is surely a typo: 10^13 cents is 100 billion.
const MAX_PRICE: i64 = 10_000_000_000_000;

impl Plugin for Market {
    fn manifest() -> Manifest {
        let with_listing = |extra: &[(&str, Json)]| {
            let mut properties = json!({ "listing": schema::listing() });
            for (k, v) in extra {
                properties[*k] = v.clone();
            }
            json!({"type": "object", "required": ["listing"], "properties": properties})
        };
        Manifest::new("market", env!("CARGO_PKG_VERSION"))
            .claims(["listings", "listing"])
            .scope("listings:read", "Read /api/v1/listings and /api/v1/listings/{id}.")
            .scope("listings:write", "Create, update, sell and withdraw listings.")
            .event_with_schema("listing.created", "A listing was put up.", with_listing(&[]))
            .event_with_schema(
                "listing.updated",
                "An active listing's title, description, price or files changed.",
                with_listing(&[("changed", json!({"type": "array", "items": {"type": "string"}}))]),
            )
            .event_with_schema("listing.sold", "A listing was sold to a buyer.", with_listing(&[]))
            .event_with_schema(
                "listing.withdrawn",
                "A listing was taken down by its seller's integration or by moderation.",
                with_listing(&[("reason", json!({"type": ["string", "null"]}))]),
            )
            .subscribe("moderation.action_taken")
            .migration(
                1,
                "listings",
                "CREATE TABLE market_listings (
                    id               TEXT PRIMARY KEY,
                    title            TEXT NOT NULL,
                    description      TEXT NOT NULL,
                    price            INTEGER NOT NULL CHECK (price >= 0),
                    currency         TEXT NOT NULL,
                    seller_id        TEXT NOT NULL,
                    buyer_id         TEXT,
                    status           TEXT NOT NULL CHECK (status IN ('active', 'sold', 'withdrawn')),
                    file_ids         TEXT NOT NULL DEFAULT '[]',
                    withdrawn_reason TEXT,
                    created_at       TEXT NOT NULL,
                    updated_at       TEXT NOT NULL,
                    sold_at          TEXT,
                    withdrawn_at     TEXT
                );
                CREATE INDEX market_listings_status ON market_listings (status, id);
                CREATE INDEX market_listings_seller ON market_listings (seller_id, id);
                CREATE INDEX market_listings_created ON market_listings (created_at);",
            )
    }

    fn router() -> Router {
        Router::new()
            .route(
                Route::get("/api/v1/listings", "listings:read", list)
                    .id("listListings")
                    .summary("List listings, newest first (filters: status, seller_id, since, until)")
                    .response(schema::listing_page),
            )
            .route(
                Route::post("/api/v1/listings", "listings:write", create)
                    .id("createListing")
                    .summary("Put up a listing")
                    .request(schema::new_listing)
                    .response(schema::listing),
            )
            .route(
                Route::get("/api/v1/listings/{id}", "listings:read", get)
                    .id("getListing")
                    .summary("One listing")
                    .response(schema::listing),
            )
            .route(
                Route::patch("/api/v1/listings/{id}", "listings:write", update)
                    .id("updateListing")
                    .summary("Change an active listing")
                    .request(schema::listing_patch)
                    .response(schema::listing),
            )
            .route(
                Route::post("/api/v1/listings/{id}/sell", "listings:write", sell)
                    .id("sellListing")
                    .summary("Mark an active listing sold to a buyer")
                    .request(schema::sale)
                    .response(schema::listing),
            )
            .route(
                Route::post("/api/v1/listings/{id}/withdraw", "listings:write", withdraw)
                    .id("withdrawListing")
                    .summary("Take an active listing down")
                    .request(schema::withdrawal)
                    .response(schema::listing),
            )
    }

    fn on_event(cx: &mut Ctx, event: &Event) -> std::result::Result<(), String> {
        let action = &event.data["action"];
        if event.event_type != "moderation.action_taken"
            || action["type"] != "remove_content"
            || action["target"]["type"] != "listing"
        {
            return Ok(());
        }
        let Some(id) = action["target"]["id"].as_str() else { return Ok(()) };
        // At least once: a listing already withdrawn (or sold) is left as it is.
        match find(cx, id).map_err(|e| e.to_string())? {
            Some(listing) if listing.status == "active" => {
                let reason = Some("moderation".to_owned());
                take_down(cx, listing, reason).map(|_| ()).map_err(|e| e.to_string())
            }
            _ => Ok(()),
        }
    }
}

#[derive(Serialize)]
struct Listing {
    id: String,
    title: String,
    description: String,
    /// In the currency's minor units (cents for EUR).
    price: i64,
    currency: String,
    seller_id: String,
    buyer_id: Option<String>,
    status: String,
    file_ids: Vec<String>,
    withdrawn_reason: Option<String>,
    created_at: String,
    updated_at: String,
    sold_at: Option<String>,
    withdrawn_at: Option<String>,
}

const COLUMNS: &str = "id, title, description, price, currency, seller_id, buyer_id, status, file_ids, \
                       withdrawn_reason, created_at, updated_at, sold_at, withdrawn_at";

fn listing(row: &mobieus_sdk::Row) -> Result<Listing> {
    let files: String = row.get("file_ids")?;
    Ok(Listing {
        id: row.get("id")?,
        title: row.get("title")?,
        description: row.get("description")?,
        price: row.get("price")?,
        currency: row.get("currency")?,
        seller_id: row.get("seller_id")?,
        buyer_id: row.get("buyer_id")?,
        status: row.get("status")?,
        file_ids: mobieus_sdk::json::from_str(&files)?,
        withdrawn_reason: row.get("withdrawn_reason")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
        sold_at: row.get("sold_at")?,
        withdrawn_at: row.get("withdrawn_at")?,
    })
}

fn find(cx: &Ctx, id: &str) -> Result<Option<Listing>> {
    cx.db()
        .query_one(&format!("SELECT {COLUMNS} FROM market_listings WHERE id = ?1"), &[&id])?
        .map(|r| listing(&r))
        .transpose()
}

fn find_active(cx: &Ctx) -> Result<Listing> {
    let id = cx.param("id")?;
    let listing = find(cx, &id)?.ok_or_else(|| Error::not_found("listing"))?;
    if listing.status != "active" {
        return Err(Error::conflict(
            "invalid_listing_state",
            format!("The listing is {}; only an active listing can change.", listing.status),
        )
        .with("status", listing.status.as_str()));
    }
    Ok(listing)
}

fn list(cx: &mut Ctx) -> Result<Reply> {
    let page = PageRequest::parse(cx, &["status", "seller_id", "seller"])?;
    let mut filter = page.time_filter("created_at");
    if let Some(status) = page.filter("status") {
        if !STATUSES.contains(&status) {
            return Err(Error::validation("status", format!("one of {}", STATUSES.join(", "))));
        }
        filter.and("status = ?", status);
    }
    // `seller` is an alias of `seller_id`.
    filter.and_opt("seller_id = ?", page.filter("seller_id").or(page.filter("seller")));
    Reply::ok(&page.fetch(&cx.db(), "market_listings", COLUMNS, &filter, listing, |l| l.id.clone())?)
}

fn get(cx: &mut Ctx) -> Result<Reply> {
    let id = cx.param("id")?;
    Reply::ok(&find(cx, &id)?.ok_or_else(|| Error::not_found("listing"))?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewListing {
    title: String,
    #[serde(default)]
    description: String,
    price: i64,
    currency: String,
    seller_id: String,
    #[serde(default)]
    file_ids: Vec<String>,
}

fn create(cx: &mut Ctx) -> Result<Reply> {
    let new: NewListing = cx.json()?;
    check_title(&new.title)?;
    check_description(&new.description)?;
    check_price(new.price)?;
    let currency = check_currency(&new.currency)?;
    check_user(cx, "seller_id", &new.seller_id)?;
    check_files(cx, &new.file_ids)?;
    let now = cx.now();
    let listing = Listing {
        id: cx.new_id("lst_"),
        title: new.title.trim().to_owned(),
        description: new.description,
        price: new.price,
        currency,
        seller_id: new.seller_id,
        buyer_id: None,
        status: "active".into(),
        file_ids: new.file_ids,
        withdrawn_reason: None,
        created_at: now.clone(),
        updated_at: now,
        sold_at: None,
        withdrawn_at: None,
    };
    cx.db().execute(
        "INSERT INTO market_listings (id, title, description, price, currency, seller_id, status, file_ids, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'active', ?7, ?8, ?8)",
        &[
            &listing.id,
            &listing.title,
            &listing.description,
            &listing.price,
            &listing.currency,
            &listing.seller_id,
            &mobieus_sdk::json::to_string(&listing.file_ids)?,
            &listing.created_at,
        ],
    )?;
    cx.emit("listing.created", &json!({ "listing": &listing }))?;
    Reply::created(&listing)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListingPatch {
    title: Option<String>,
    description: Option<String>,
    price: Option<i64>,
    currency: Option<String>,
    file_ids: Option<Vec<String>>,
}

fn update(cx: &mut Ctx) -> Result<Reply> {
    let patch: ListingPatch = cx.json()?;
    let mut listing = find_active(cx)?;
    let mut changed = vec![];
    if let Some(title) = patch.title {
        check_title(&title)?;
        listing.title = title.trim().to_owned();
        changed.push("title");
    }
    if let Some(description) = patch.description {
        check_description(&description)?;
        listing.description = description;
        changed.push("description");
    }
    if let Some(price) = patch.price {
        check_price(price)?;
        listing.price = price;
        changed.push("price");
    }
    if let Some(currency) = patch.currency {
        listing.currency = check_currency(&currency)?;
        changed.push("currency");
    }
    if let Some(files) = patch.file_ids {
        check_files(cx, &files)?;
        listing.file_ids = files;
        changed.push("file_ids");
    }
    if changed.is_empty() {
        return Err(Error::validation(
            "body",
            "nothing to change: give title, description, price, currency or file_ids",
        ));
    }
    listing.updated_at = cx.now();
    cx.db().execute(
        "UPDATE market_listings SET title = ?2, description = ?3, price = ?4, currency = ?5, file_ids = ?6, updated_at = ?7
         WHERE id = ?1",
        &[
            &listing.id,
            &listing.title,
            &listing.description,
            &listing.price,
            &listing.currency,
            &mobieus_sdk::json::to_string(&listing.file_ids)?,
            &listing.updated_at,
        ],
    )?;
    cx.emit("listing.updated", &json!({ "listing": &listing, "changed": changed }))?;
    Reply::ok(&listing)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Sale {
    buyer_id: String,
}

fn sell(cx: &mut Ctx) -> Result<Reply> {
    let sale: Sale = cx.json()?;
    let mut listing = find_active(cx)?;
    check_user(cx, "buyer_id", &sale.buyer_id)?;
    if sale.buyer_id == listing.seller_id {
        return Err(Error::validation("buyer_id", "the seller cannot buy their own listing"));
    }
    let now = cx.now();
    listing.status = "sold".into();
    listing.buyer_id = Some(sale.buyer_id);
    listing.sold_at = Some(now.clone());
    listing.updated_at = now;
    cx.db().execute(
        "UPDATE market_listings SET status = 'sold', buyer_id = ?2, sold_at = ?3, updated_at = ?3
         WHERE id = ?1 AND status = 'active'",
        &[&listing.id, &listing.buyer_id, &listing.updated_at],
    )?;
    cx.emit("listing.sold", &json!({ "listing": &listing }))?;
    Reply::ok(&listing)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Withdrawal {
    reason: Option<String>,
}

fn withdraw(cx: &mut Ctx) -> Result<Reply> {
    let withdrawal: Withdrawal = cx.json_or_default()?;
    if let Some(reason) = &withdrawal.reason
        && (reason.trim().is_empty() || reason.chars().count() > 500)
    {
        return Err(Error::validation("reason", "1 to 500 characters"));
    }
    let listing = find_active(cx)?;
    Reply::ok(&take_down(cx, listing, withdrawal.reason)?)
}

/// Active → withdrawn, with its event: the seller's way and moderation's.
fn take_down(cx: &Ctx, mut listing: Listing, reason: Option<String>) -> Result<Listing> {
    let now = cx.now();
    listing.status = "withdrawn".into();
    listing.withdrawn_reason = reason;
    listing.withdrawn_at = Some(now.clone());
    listing.updated_at = now;
    cx.db().execute(
        "UPDATE market_listings SET status = 'withdrawn', withdrawn_reason = ?2, withdrawn_at = ?3, updated_at = ?3
         WHERE id = ?1 AND status = 'active'",
        &[&listing.id, &listing.withdrawn_reason, &listing.updated_at],
    )?;
    cx.emit("listing.withdrawn", &json!({ "listing": &listing, "reason": &listing.withdrawn_reason }))?;
    Ok(listing)
}

fn check_title(title: &str) -> Result<()> {
    let n = title.trim().chars().count();
    if n == 0 || n > 200 {
        return Err(Error::validation("title", "1 to 200 characters"));
    }
    Ok(())
}

fn check_description(description: &str) -> Result<()> {
    if description.chars().count() > 10_000 {
        return Err(Error::validation("description", "at most 10000 characters"));
    }
    Ok(())
}

fn check_price(price: i64) -> Result<()> {
    if !(0..=MAX_PRICE).contains(&price) {
        return Err(Error::validation("price", "a whole number of minor units (e.g. cents), from 0"));
    }
    Ok(())
}

fn check_currency(code: &str) -> Result<String> {
    let upper = code.to_ascii_uppercase();
    if !currency::ISO_4217.contains(&upper.as_str()) {
        return Err(Error::validation("currency", "an ISO 4217 currency code, e.g. EUR"));
    }
    Ok(upper)
}

fn check_user(cx: &Ctx, field: &str, id: &str) -> Result<()> {
    if !id.starts_with("usr_") {
        return Err(Error::validation(field, "not a user id (usr_…)"));
    }
    if cx.user(id)?.is_none() {
        return Err(Error::validation(field, "no such user"));
    }
    Ok(())
}

/// Files are the host's: a listing may point at any that exist and were not rejected by the scan
/// (one still in quarantine is fine: it is served once it passes).
fn check_files(cx: &Ctx, ids: &[String]) -> Result<()> {
    if ids.len() > MAX_FILES {
        return Err(Error::validation("file_ids", format!("at most {MAX_FILES} files")));
    }
    for (i, id) in ids.iter().enumerate() {
        if ids[..i].contains(id) {
            return Err(Error::validation("file_ids", format!("`{id}` is listed twice")));
        }
        let status = cx.db().query_one("SELECT status FROM host_files WHERE id = ?1", &[id])?;
        match status.map(|r| r.get::<String>("status")).transpose()?.as_deref() {
            None => return Err(Error::validation("file_ids", format!("no such file: `{id}`"))),
            Some("rejected") => {
                return Err(Error::validation("file_ids", format!("`{id}` was rejected by the file scan")));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

mobieus_sdk::export!(Market);

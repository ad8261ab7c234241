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

use mobieus_sdk::check::{not_blank, not_blank_if_given};
use mobieus_sdk::prelude::*;

struct Market;

const STATUSES: &[&str] = &["active", "sold", "withdrawn"];
const MAX_FILES: usize = 10;
/// A price above this (in minor units) is surely a typo: 10^13 cents is 100 billion.
const MAX_PRICE: i64 = 10_000_000_000_000;

impl Plugin for Market {
    fn manifest() -> Manifest {
        Manifest::new("market", env!("CARGO_PKG_VERSION"))
            .claims(["listings", "listing"])
            .scope("listings:read", "Read /api/v1/listings and /api/v1/listings/{id}.")
            .scope("listings:write", "Create, update, sell and withdraw listings.")
            .event_of::<ListingEvent>("listing.created", "A listing was put up.")
            .event_of::<ListingUpdated>(
                "listing.updated",
                "An active listing's title, description, price or files changed.",
            )
            .event_of::<ListingEvent>("listing.sold", "A listing was sold to a buyer.")
            .event_of::<ListingWithdrawn>(
                "listing.withdrawn",
                "A listing was taken down by its seller's integration or by moderation.",
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
                    .summary("List listings, newest first")
                    .query("status", "Only listings in this state: active, sold or withdrawn.")
                    .query("seller_id", "Only this seller's listings (usr_…).")
                    .query("seller", "The same as seller_id."),
            )
            .route(
                Route::post("/api/v1/listings", "listings:write", create)
                    .id("createListing")
                    .summary("Put up a listing"),
            )
            .route(
                Route::get("/api/v1/listings/{id}", "listings:read", get)
                    .id("getListing")
                    .summary("One listing")
                    .error(404, "listing_not_found", "No listing has this id."),
            )
            .route(
                Route::patch("/api/v1/listings/{id}", "listings:write", update)
                    .id("updateListing")
                    .summary("Change an active listing")
                    .error(404, "listing_not_found", "No listing has this id.")
                    .error(409, "invalid_listing_state", "The listing is sold or withdrawn; only an active listing can change."),
            )
            .route(
                Route::post("/api/v1/listings/{id}/sell", "listings:write", sell)
                    .id("sellListing")
                    .summary("Mark an active listing sold to a buyer")
                    .error(404, "listing_not_found", "No listing has this id.")
                    .error(409, "invalid_listing_state", "The listing is sold or withdrawn; only an active listing can change."),
            )
            .route(
                Route::post("/api/v1/listings/{id}/withdraw", "listings:write", withdraw)
                    .id("withdrawListing")
                    .summary("Take an active listing down")
                    .error(404, "listing_not_found", "No listing has this id.")
                    .error(409, "invalid_listing_state", "The listing is sold or withdrawn; only an active listing can change."),
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
            Some(listing) if listing.status == Status::Active => {
                let reason = Some("moderation".to_owned());
                take_down(cx, listing, reason).map(|_| ()).map_err(|e| e.to_string())
            }
            _ => Ok(()),
        }
    }
}

/// A listing, as stored (its fields are the table's columns) and as answered.
#[derive(Serialize, Deserialize, JsonSchema)]
struct Listing {
    #[schemars(regex(pattern = "^lst_[0-9A-Z]{26}$"))]
    id: String,
    #[schemars(length(min = 1, max = 200))]
    title: String,
    #[schemars(length(max = 10000))]
    description: String,
    /// In the currency's minor units (cents for EUR).
    #[schemars(range(min = 0))]
    price: i64,
    /// ISO 4217.
    #[schemars(regex(pattern = "^[A-Z]{3}$"))]
    currency: String,
    seller_id: String,
    buyer_id: Option<String>,
    status: Status,
    file_ids: Vec<String>,
    withdrawn_reason: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    created_at: String,
    #[schemars(extend("format" = "date-time"))]
    updated_at: String,
    #[schemars(extend("format" = "date-time"))]
    sold_at: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    withdrawn_at: Option<String>,
}

impl HasId for Listing {
    fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Status {
    Active,
    Sold,
    Withdrawn,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Sold => "sold",
            Status::Withdrawn => "withdrawn",
        }
    }
}

#[derive(Serialize, JsonSchema)]
struct ListingEvent<'a> {
    listing: &'a Listing,
}

#[derive(Serialize, JsonSchema)]
struct ListingUpdated<'a> {
    listing: &'a Listing,
    changed: Vec<&'static str>,
}

#[derive(Serialize, JsonSchema)]
struct ListingWithdrawn<'a> {
    listing: &'a Listing,
    reason: Option<&'a str>,
}

fn find(cx: &Ctx, id: &str) -> Result<Option<Listing>> {
    cx.db().select_one("market_listings", "WHERE id = ?1", &[&id])
}

fn find_active(cx: &Ctx) -> Result<Listing> {
    let id = cx.param("id")?;
    let listing = find(cx, &id)?.ok_or_else(|| Error::not_found("listing"))?;
    if listing.status != Status::Active {
        let status = listing.status.as_str();
        return Err(Error::conflict(
            "invalid_listing_state",
            format!("The listing is {status}; only an active listing can change."),
        )
        .with("status", status));
    }
    Ok(listing)
}

fn list(cx: &mut Ctx) -> Result<Page<Listing>> {
    let page = PageRequest::from(cx)?;
    let mut filter = page.time_filter("created_at");
    filter.and_opt("status = ?", page.filter_one_of("status", STATUSES)?);
    // `seller` is an alias of `seller_id`.
    filter.and_opt("seller_id = ?", page.filter("seller_id").or(page.filter("seller")));
    page.fetch_as(&cx.db(), "market_listings", &filter)
}

fn get(cx: &mut Ctx, Path(id): Path<String>) -> Result<Json<Listing>> {
    find(cx, &id)?.map(Json).ok_or_else(|| Error::not_found("listing"))
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
struct NewListing {
    #[garde(length(chars, min = 1, max = 200), custom(not_blank))]
    title: String,
    #[serde(default)]
    #[garde(length(chars, max = 10000))]
    description: String,
    #[garde(range(min = 0, max = MAX_PRICE))]
    price: i64,
    /// ISO 4217, e.g. EUR.
    #[garde(length(equal = 3), custom(iso_4217))]
    #[schemars(regex(pattern = "^[A-Za-z]{3}$"))]
    currency: String,
    #[garde(skip)]
    seller_id: String,
    #[serde(default)]
    #[garde(length(max = MAX_FILES))]
    #[schemars(extend("uniqueItems" = true))]
    file_ids: Vec<String>,
}

fn create(cx: &mut Ctx, Json(new): Json<NewListing>) -> Result<Created<Listing>> {
    let currency = new.currency.to_ascii_uppercase();
    cx.require_user("seller_id", &new.seller_id)?;
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
        status: Status::Active,
        file_ids: new.file_ids,
        withdrawn_reason: None,
        created_at: now.clone(),
        updated_at: now,
        sold_at: None,
        withdrawn_at: None,
    };
    cx.db().insert("market_listings", &listing)?;
    cx.emit("listing.created", &ListingEvent { listing: &listing })?;
    Ok(Created(listing))
}

/// What may change; at least one of them.
#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schemars(extend("minProperties" = 1))]
struct ListingPatch {
    #[garde(length(chars, min = 1, max = 200), custom(not_blank_if_given))]
    title: Option<String>,
    #[garde(length(chars, max = 10000))]
    description: Option<String>,
    #[garde(range(min = 0, max = MAX_PRICE))]
    price: Option<i64>,
    #[garde(length(equal = 3), custom(iso_4217_if_given))]
    #[schemars(regex(pattern = "^[A-Za-z]{3}$"))]
    currency: Option<String>,
    #[garde(length(max = MAX_FILES))]
    #[schemars(extend("uniqueItems" = true))]
    file_ids: Option<Vec<String>>,
}

fn update(cx: &mut Ctx, Json(patch): Json<ListingPatch>) -> Result<Json<Listing>> {
    let mut listing = find_active(cx)?;
    let mut changed = vec![];
    if let Some(title) = patch.title {
        listing.title = title.trim().to_owned();
        changed.push("title");
    }
    if let Some(description) = patch.description {
        listing.description = description;
        changed.push("description");
    }
    if let Some(price) = patch.price {
        listing.price = price;
        changed.push("price");
    }
    if let Some(currency) = patch.currency {
        listing.currency = currency.to_ascii_uppercase();
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
    cx.emit("listing.updated", &ListingUpdated { listing: &listing, changed })?;
    Ok(Json(listing))
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
struct Sale {
    #[garde(skip)]
    buyer_id: String,
}

fn sell(cx: &mut Ctx, Json(sale): Json<Sale>) -> Result<Json<Listing>> {
    let mut listing = find_active(cx)?;
    cx.require_user("buyer_id", &sale.buyer_id)?;
    if sale.buyer_id == listing.seller_id {
        return Err(Error::validation("buyer_id", "the seller cannot buy their own listing"));
    }
    let now = cx.now();
    listing.status = Status::Sold;
    listing.buyer_id = Some(sale.buyer_id);
    listing.sold_at = Some(now.clone());
    listing.updated_at = now;
    cx.db().execute(
        "UPDATE market_listings SET status = 'sold', buyer_id = ?2, sold_at = ?3, updated_at = ?3
         WHERE id = ?1 AND status = 'active'",
        &[&listing.id, &listing.buyer_id, &listing.updated_at],
    )?;
    cx.emit("listing.sold", &ListingEvent { listing: &listing })?;
    Ok(Json(listing))
}

#[derive(Deserialize, JsonSchema, Validate, Default)]
#[serde(deny_unknown_fields)]
struct Withdrawal {
    #[garde(length(chars, min = 1, max = 500), custom(not_blank_if_given))]
    reason: Option<String>,
}

fn withdraw(cx: &mut Ctx, JsonOrDefault(withdrawal): JsonOrDefault<Withdrawal>) -> Result<Json<Listing>> {
    let listing = find_active(cx)?;
    take_down(cx, listing, withdrawal.reason).map(Json)
}

/// Active → withdrawn, with its event: the seller's way and moderation's.
fn take_down(cx: &Ctx, mut listing: Listing, reason: Option<String>) -> Result<Listing> {
    let now = cx.now();
    listing.status = Status::Withdrawn;
    listing.withdrawn_reason = reason;
    listing.withdrawn_at = Some(now.clone());
    listing.updated_at = now;
    cx.db().execute(
        "UPDATE market_listings SET status = 'withdrawn', withdrawn_reason = ?2, withdrawn_at = ?3, updated_at = ?3
         WHERE id = ?1 AND status = 'active'",
        &[&listing.id, &listing.withdrawn_reason, &listing.updated_at],
    )?;
    cx.emit(
        "listing.withdrawn",
        &ListingWithdrawn { listing: &listing, reason: listing.withdrawn_reason.as_deref() },
    )?;
    Ok(listing)
}

fn iso_4217(code: &str, _: &()) -> mobieus_sdk::garde::Result {
    if !currency::ISO_4217.contains(&code.to_ascii_uppercase().as_str()) {
        return Err(mobieus_sdk::garde::Error::new("an ISO 4217 currency code, e.g. EUR"));
    }
    Ok(())
}

fn iso_4217_if_given(code: &Option<String>, cx: &()) -> mobieus_sdk::garde::Result {
    code.as_deref().map_or(Ok(()), |c| iso_4217(c, cx))
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

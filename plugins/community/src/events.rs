//! Events, their tiers (each with a price and an optional form), and RSVPs to free tiers.

use std::collections::BTreeMap;

use mobieus_sdk::check::not_blank;
use mobieus_sdk::json::{self as sj, Value};
use mobieus_sdk::prelude::*;

use crate::forms::{self, Field};
use crate::paging::{OffsetPage, Window};
use crate::members;

pub const MIGRATION: &str = "
CREATE TABLE community_events (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    location TEXT,
    starts_at TEXT NOT NULL,
    ends_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX community_events_starts ON community_events (starts_at, id);
CREATE TABLE community_tiers (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    name TEXT NOT NULL,
    price INTEGER NOT NULL,
    currency TEXT NOT NULL,
    capacity INTEGER,
    form TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX community_tiers_event ON community_tiers (event_id, id);
CREATE TABLE community_rsvps (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    tier_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    answers TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (event_id, user_id)
);
CREATE INDEX community_rsvps_tier ON community_rsvps (tier_id);
";

/// An event of the community.
#[derive(Serialize, JsonSchema)]
pub struct CommunityEvent {
    pub id: String,
    pub slug: String,
    pub title: String,
    pub description: String,
    pub location: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    pub starts_at: String,
    #[schemars(extend("format" = "date-time"))]
    pub ends_at: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
}

const EVENT_COLUMNS: &str = "id, slug, title, description, location, starts_at, ends_at, created_at";

fn event_of(r: &mobieus_sdk::Row) -> Result<CommunityEvent> {
    Ok(CommunityEvent {
        id: r.get("id")?,
        slug: r.get("slug")?,
        title: r.get("title")?,
        description: r.get("description")?,
        location: r.get("location")?,
        starts_at: r.get("starts_at")?,
        ends_at: r.get("ends_at")?,
        created_at: r.get("created_at")?,
    })
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewEvent {
    /// Its address: a-z, 0-9 and `-`, unique in the community.
    #[garde(length(min = 1, max = 100), custom(crate::slug))]
    pub slug: String,
    #[garde(length(chars, min = 1, max = 200), custom(not_blank), custom(mobieus_sdk::check::one_line))]
    pub title: String,
    #[serde(default)]
    #[garde(length(chars, max = 20000))]
    pub description: String,
    #[garde(inner(length(chars, max = 500)))]
    pub location: Option<String>,
    /// RFC 3339.
    #[garde(length(max = 64))]
    pub starts_at: String,
    #[garde(inner(length(max = 64)))]
    pub ends_at: Option<String>,
}

#[derive(Deserialize)]
pub struct SlugPath {
    #[allow(dead_code)]
    tag: String,
    slug: String,
}

#[derive(Deserialize)]
pub struct TierPath {
    #[allow(dead_code)]
    tag: String,
    tier_id: String,
}

pub fn list(cx: &mut Ctx) -> Result<Json<OffsetPage<CommunityEvent>>> {
    let window = Window::of(cx)?;
    Ok(Json(window.fetch(cx, EVENT_COLUMNS, "community_events", "starts_at, id", &[], event_of)?))
}

pub fn find(cx: &Ctx, slug: &str) -> Result<CommunityEvent> {
    let row = cx.db().query_one(&format!("SELECT {EVENT_COLUMNS} FROM community_events WHERE slug = ?1"), &[&slug])?;
    row.as_ref().map(event_of).transpose()?.ok_or_else(|| Error::not_found("event"))
}

pub fn get(cx: &mut Ctx, Path(p): Path<SlugPath>) -> Result<Json<CommunityEvent>> {
    Ok(Json(find(cx, &p.slug)?))
}

pub fn create(cx: &mut Ctx, Json(new): Json<NewEvent>) -> Result<Created<CommunityEvent>> {
    let starts = cx.ms_of(&new.starts_at).ok_or_else(|| Error::validation("starts_at", "an RFC 3339 time"))?;
    if let Some(ends) = &new.ends_at {
        let ends = cx.ms_of(ends).ok_or_else(|| Error::validation("ends_at", "an RFC 3339 time"))?;
        if ends < starts {
            return Err(Error::validation("ends_at", "before starts_at"));
        }
    }
    if cx.db().query_one("SELECT 1 AS one FROM community_events WHERE slug = ?1", &[&new.slug])?.is_some() {
        return Err(Error::conflict("slug_taken", "Another event has this slug."));
    }
    let event = CommunityEvent {
        id: cx.new_id("cev_"),
        slug: new.slug,
        title: new.title,
        description: new.description,
        location: new.location,
        starts_at: cx.time_at(starts),
        ends_at: new.ends_at.as_deref().and_then(|e| cx.ms_of(e)).map(|ms| cx.time_at(ms)),
        created_at: cx.now(),
    };
    cx.db().execute(
        &format!("INSERT INTO community_events ({EVENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
        &[&event.id, &event.slug, &event.title, &event.description, &event.location, &event.starts_at, &event.ends_at, &event.created_at],
    )?;
    Ok(Created(event))
}

/// A way in to an event: free (`price` 0) or paid, with a form its RSVPs answer.
#[derive(Serialize, JsonSchema)]
pub struct Tier {
    pub id: String,
    pub event_id: String,
    pub name: String,
    /// In minor units (cents); 0 is free.
    pub price: i64,
    pub currency: String,
    /// How many RSVPs it takes; `null`: no limit.
    pub capacity: Option<i64>,
    /// How many it has.
    pub taken: i64,
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewTier {
    #[garde(length(chars, min = 1, max = 200), custom(not_blank), custom(mobieus_sdk::check::one_line))]
    pub name: String,
    #[serde(default)]
    #[garde(range(min = 0_i64, max = 10_000_000_000_i64))]
    pub price: i64,
    /// ISO 4217 (default EUR).
    #[garde(inner(length(min = 3, max = 3)))]
    pub currency: Option<String>,
    #[garde(inner(range(min = 1, max = 1_000_000)))]
    pub capacity: Option<i64>,
    #[serde(default)]
    #[garde(dive)]
    pub form: Vec<Field>,
}

fn tier_of(r: &mobieus_sdk::Row) -> Result<Tier> {
    Ok(Tier {
        id: r.get("id")?,
        event_id: r.get("event_id")?,
        name: r.get("name")?,
        price: r.get("price")?,
        currency: r.get("currency")?,
        capacity: r.get("capacity")?,
        taken: r.get("taken")?,
    })
}

const TIER_COLUMNS: &str = "t.id, t.event_id, t.name, t.price, t.currency, t.capacity, (SELECT COUNT(*) FROM community_rsvps r WHERE r.tier_id = t.id) AS taken";

pub fn tiers(cx: &mut Ctx, Path(p): Path<SlugPath>) -> Result<Json<OffsetPage<Tier>>> {
    let event = find(cx, &p.slug)?;
    let window = Window::of(cx)?;
    Ok(Json(window.fetch(cx, TIER_COLUMNS, "community_tiers t WHERE t.event_id = ?1", "t.price, t.id", &[&event.id], tier_of)?))
}

pub fn create_tier(cx: &mut Ctx, Path(p): Path<SlugPath>, Json(new): Json<NewTier>) -> Result<Created<Tier>> {
    let event = find(cx, &p.slug)?;
    forms::check(&new.form)?;
    let currency = new.currency.unwrap_or_else(|| "EUR".into()).to_ascii_uppercase();
    if !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Error::validation("currency", "an ISO 4217 code"));
    }
    let tier = Tier { id: cx.new_id("tier_"), event_id: event.id, name: new.name, price: new.price, currency, capacity: new.capacity, taken: 0 };
    cx.db().execute(
        "INSERT INTO community_tiers (id, event_id, name, price, currency, capacity, form, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        &[&tier.id, &tier.event_id, &tier.name, &tier.price, &tier.currency, &tier.capacity, &sj::to_string(&new.form)?, &cx.now()],
    )?;
    Ok(Created(tier))
}

/// A tier's form: the fields an RSVP answers.
#[derive(Serialize, JsonSchema)]
pub struct TierForm {
    pub tier_id: String,
    pub fields: Vec<Field>,
}

fn tier_form(cx: &Ctx, tier_id: &str) -> Result<(Tier, Vec<Field>)> {
    let row = cx
        .db()
        .query_one(&format!("SELECT {TIER_COLUMNS}, t.form FROM community_tiers t WHERE t.id = ?1"), &[&tier_id])?
        .ok_or_else(|| Error::not_found("tier"))?;
    Ok((tier_of(&row)?, sj::from_str(&row.get::<String>("form")?)?))
}

pub fn form(cx: &mut Ctx, Path(p): Path<TierPath>) -> Result<Json<TierForm>> {
    let (tier, fields) = tier_form(cx, &p.tier_id)?;
    Ok(Json(TierForm { tier_id: tier.id, fields }))
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewRsvp {
    /// The member (a host user, usr_…).
    #[garde(length(max = 64))]
    pub user_id: String,
    /// The tier; by default the event's only free one.
    #[garde(inner(length(max = 64)))]
    pub tier_id: Option<String>,
    /// The tier form's answers, by field name.
    #[serde(default)]
    #[garde(skip)]
    pub answers: BTreeMap<String, Value>,
}

#[derive(Serialize, JsonSchema)]
pub struct Rsvp {
    pub id: String,
    pub event_id: String,
    pub tier_id: String,
    pub user_id: String,
    pub answers: BTreeMap<String, Value>,
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
}

/// `rsvp.created`
#[derive(Serialize, JsonSchema)]
pub struct RsvpEvent<'a> {
    pub rsvp: &'a Rsvp,
    pub event_slug: &'a str,
}

pub fn rsvp(cx: &mut Ctx, Path(p): Path<SlugPath>, Json(new): Json<NewRsvp>) -> Result<Created<Rsvp>> {
    let event = find(cx, &p.slug)?;
    cx.require_user("user_id", &new.user_id)?;
    members::refuse_banned(cx, &new.user_id)?;
    let tier_id = match new.tier_id {
        Some(id) => id,
        None => cx
            .db()
            .query_one("SELECT id FROM community_tiers WHERE event_id = ?1 AND price = 0 ORDER BY id LIMIT 1", &[&event.id])?
            .ok_or_else(|| Error::validation("tier_id", "the event has no free tier: name one"))?
            .get("id")?,
    };
    let (tier, fields) = tier_form(cx, &tier_id)?;
    if tier.event_id != event.id {
        return Err(Error::validation("tier_id", "a tier of another event"));
    }
    if tier.price > 0 {
        return Err(Error::new(402, "payment_required", format!(
            "This tier costs {} {} (in minor units): paid tiers are bought through checkout, not RSVP.", tier.price, tier.currency
        )).with("tier_id", tier.id.clone()));
    }
    if tier.capacity.is_some_and(|c| tier.taken >= c) {
        return Err(Error::conflict("tier_full", "The tier has no place left."));
    }
    if let Some(held) = cx.db().query_one("SELECT id FROM community_rsvps WHERE event_id = ?1 AND user_id = ?2", &[&event.id, &new.user_id])? {
        return Err(Error::conflict("already_rsvped", "This member has an RSVP to the event.").with("rsvp_id", held.get::<String>("id")?));
    }
    forms::answer(&fields, &new.answers)?;
    let rsvp = Rsvp { id: cx.new_id("rsvp_"), event_id: event.id, tier_id: tier.id, user_id: new.user_id, answers: new.answers, created_at: cx.now() };
    cx.db().execute(
        "INSERT INTO community_rsvps (id, event_id, tier_id, user_id, answers, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[&rsvp.id, &rsvp.event_id, &rsvp.tier_id, &rsvp.user_id, &sj::to_string(&rsvp.answers)?, &rsvp.created_at],
    )?;
    cx.emit("rsvp.created", &RsvpEvent { rsvp: &rsvp, event_slug: &event.slug })?;
    Ok(Created(rsvp))
}

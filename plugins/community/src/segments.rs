//! Segments: tiers of membership, with a price and a form members submit to join one. Their
//! members are who a broadcast goes to ([`crate::broadcasts`]).

use std::collections::BTreeMap;

use mobieus_sdk::check::not_blank;
use mobieus_sdk::json::{self as sj, Value};
use mobieus_sdk::prelude::*;

use crate::forms::{self, Field};
use crate::members;
use crate::paging::{OffsetPage, Window};

/// Also the first broadcasts table, as it shipped ([`crate::broadcasts::MIGRATION`] adds to it).
pub const MIGRATION: &str = "
CREATE TABLE community_segments (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    public INTEGER NOT NULL,
    price INTEGER NOT NULL,
    currency TEXT NOT NULL,
    active INTEGER NOT NULL,
    form TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE community_segment_members (
    segment_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    answers TEXT NOT NULL,
    joined_at TEXT NOT NULL,
    PRIMARY KEY (segment_id, user_id)
);
CREATE TABLE community_broadcasts (
    id TEXT PRIMARY KEY,
    segment_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    recipients INTEGER NOT NULL,
    sent_ms INTEGER NOT NULL
);
CREATE INDEX community_broadcasts_sent ON community_broadcasts (sent_ms);
";

use crate::IdPath;

/// A segment of the community's members.
#[derive(Serialize, JsonSchema)]
pub struct Segment {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Listed by `GET /segments/public`.
    pub public: bool,
    /// In minor units; 0 is free.
    pub price: i64,
    pub currency: String,
    pub active: bool,
    pub members: i64,
}

const COLUMNS: &str = "s.id, s.name, s.description, s.public, s.price, s.currency, s.active, (SELECT COUNT(*) FROM community_segment_members m WHERE m.segment_id = s.id) AS members";

fn segment_of(r: &mobieus_sdk::Row) -> Result<Segment> {
    Ok(Segment {
        id: r.get("id")?,
        name: r.get("name")?,
        description: r.get("description")?,
        public: r.get("public")?,
        price: r.get("price")?,
        currency: r.get("currency")?,
        active: r.get("active")?,
        members: r.get("members")?,
    })
}

pub fn find(cx: &Ctx, id: &str) -> Result<(Segment, Vec<Field>)> {
    let row = cx
        .db()
        .query_one(&format!("SELECT {COLUMNS}, s.form FROM community_segments s WHERE s.id = ?1"), &[&id])?
        .ok_or_else(|| Error::not_found("segment"))?;
    Ok((segment_of(&row)?, sj::from_str(&row.get::<String>("form")?)?))
}

pub fn public(cx: &mut Ctx) -> Result<Json<OffsetPage<Segment>>> {
    let window = Window::of(cx)?;
    Ok(Json(window.fetch(cx, COLUMNS, "community_segments s WHERE s.public = 1 AND s.active = 1", "s.price, s.id", &[], segment_of)?))
}

/// Every segment, public or not, active or not, newest first (`ADMIN`).
pub fn all(cx: &mut Ctx) -> Result<Json<OffsetPage<Segment>>> {
    let window = Window::of(cx)?;
    Ok(Json(window.fetch(cx, COLUMNS, "community_segments s", "s.created_at DESC, s.id DESC", &[], segment_of)?))
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewSegment {
    #[garde(length(chars, min = 1, max = 200), custom(not_blank), custom(mobieus_sdk::check::one_line))]
    pub name: String,
    #[serde(default)]
    #[garde(length(chars, max = 5000))]
    pub description: String,
    #[serde(default)]
    #[garde(skip)]
    pub public: bool,
    #[serde(default)]
    #[garde(range(min = 0_i64, max = 10_000_000_000_i64))]
    pub price: i64,
    #[garde(inner(length(min = 3, max = 3)))]
    pub currency: Option<String>,
    #[serde(default)]
    #[garde(dive)]
    pub form: Vec<Field>,
}

pub fn create(cx: &mut Ctx, Json(new): Json<NewSegment>) -> Result<Created<Segment>> {
    forms::check(&new.form)?;
    let now = cx.now();
    let segment = Segment {
        id: cx.new_id("seg_"),
        name: new.name,
        description: new.description,
        public: new.public,
        price: new.price,
        currency: new.currency.unwrap_or_else(|| "EUR".into()).to_ascii_uppercase(),
        active: true,
        members: 0,
    };
    cx.db().execute(
        "INSERT INTO community_segments (id, name, description, public, price, currency, active, form, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?8, ?8)",
        &[&segment.id, &segment.name, &segment.description, &segment.public, &segment.price, &segment.currency, &sj::to_string(&new.form)?, &now],
    )?;
    Ok(Created(segment))
}

/// A segment's form.
#[derive(Serialize, JsonSchema)]
pub struct SegmentForm {
    pub segment_id: String,
    pub fields: Vec<Field>,
}

pub fn form(cx: &mut Ctx, Path(p): Path<IdPath>) -> Result<Json<SegmentForm>> {
    let (segment, fields) = find(cx, &p.id)?;
    Ok(Json(SegmentForm { segment_id: segment.id, fields }))
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    #[garde(length(max = 64))]
    pub user_id: String,
    #[serde(default)]
    #[garde(skip)]
    pub answers: BTreeMap<String, Value>,
}

/// `segment.submitted`
#[derive(Serialize, JsonSchema)]
pub struct Submitted {
    pub segment_id: String,
    pub user_id: String,
    pub answers: BTreeMap<String, Value>,
}

pub fn submit(cx: &mut Ctx, Path(p): Path<IdPath>, Json(sub): Json<Submission>) -> Result<Created<Submitted>> {
    let (segment, fields) = find(cx, &p.id)?;
    if !segment.active {
        return Err(Error::conflict("segment_inactive", "The segment takes no submissions."));
    }
    cx.require_user("user_id", &sub.user_id)?;
    members::refuse_banned(cx, &sub.user_id)?;
    forms::answer(&fields, &sub.answers)?;
    cx.db().execute(
        "INSERT INTO community_segment_members (segment_id, user_id, answers, joined_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (segment_id, user_id) DO UPDATE SET answers = excluded.answers",
        &[&segment.id, &sub.user_id, &sj::to_string(&sub.answers)?, &cx.now()],
    )?;
    let submitted = Submitted { segment_id: segment.id, user_id: sub.user_id, answers: sub.answers };
    cx.emit("segment.submitted", &submitted)?;
    Ok(Created(submitted))
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct SegmentChange {
    #[garde(inner(length(chars, min = 1, max = 200), custom(not_blank), custom(mobieus_sdk::check::one_line)))]
    pub name: Option<String>,
    #[garde(inner(range(min = 0_i64, max = 10_000_000_000_i64)))]
    pub price: Option<i64>,
    #[garde(skip)]
    pub active: Option<bool>,
}

/// `segment.updated`
#[derive(Serialize, JsonSchema)]
pub struct SegmentUpdated<'a> {
    pub segment: &'a Segment,
}

pub fn update(cx: &mut Ctx, Path(p): Path<IdPath>, Json(change): Json<SegmentChange>) -> Result<Json<Segment>> {
    let (mut segment, _) = find(cx, &p.id)?;
    if let Some(name) = change.name {
        segment.name = name;
    }
    if let Some(price) = change.price {
        segment.price = price;
    }
    if let Some(active) = change.active {
        segment.active = active;
    }
    cx.db().execute(
        "UPDATE community_segments SET name = ?1, price = ?2, active = ?3, updated_at = ?4 WHERE id = ?5",
        &[&segment.name, &segment.price, &segment.active, &cx.now(), &segment.id],
    )?;
    cx.emit("segment.updated", &SegmentUpdated { segment: &segment })?;
    Ok(Json(segment))
}

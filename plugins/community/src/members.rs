//! Members (host users the community admitted), the rules they accept, kicks and bans, and the
//! applications that admit them.

use std::collections::BTreeMap;

use mobieus_sdk::json::{self as sj, Value};
use mobieus_sdk::prelude::*;

use crate::paging::{OffsetPage, Window};

pub const MIGRATION: &str = "
CREATE TABLE community_members (
    user_id TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('active', 'kicked', 'banned')),
    joined_at TEXT NOT NULL,
    rules_accepted_at TEXT,
    reason TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX community_members_status ON community_members (status, joined_at);
CREATE TABLE community_applications (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    answers TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    reason TEXT,
    created_at TEXT NOT NULL,
    decided_at TEXT
);
";

#[derive(Deserialize)]
pub struct UserPath {
    #[allow(dead_code)]
    tag: String,
    user_id: String,
}

use crate::IdPath;

/// A member as anyone may see them: public fields only (no email).
#[derive(Serialize, JsonSchema)]
pub struct Member {
    pub user_id: String,
    pub username: String,
    pub display_name: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    pub joined_at: String,
}

/// A member banned is refused everything a member does.
pub fn refuse_banned(cx: &Ctx, user_id: &str) -> Result<()> {
    let banned = cx.db().query_one("SELECT 1 AS one FROM community_members WHERE user_id = ?1 AND status = 'banned'", &[&user_id])?;
    match banned {
        Some(_) => Err(Error::new(403, "member_banned", "This member is banned from the community.")),
        None => Ok(()),
    }
}

pub fn list(cx: &mut Ctx) -> Result<Json<OffsetPage<Member>>> {
    let window = Window::of(cx)?;
    let page = window.fetch(cx, "user_id, joined_at", "community_members WHERE status = 'active'", "joined_at, user_id", &[], |r| {
        Ok((r.get::<String>("user_id")?, r.get::<String>("joined_at")?))
    })?;
    let ids: Vec<String> = page.data.iter().map(|(id, _)| id.clone()).collect();
    let users = cx.users(&ids)?;
    let data = page
        .data
        .into_iter()
        .filter_map(|(id, joined_at)| {
            let user = users.iter().find(|u| u.id == id)?;
            Some(Member { user_id: id, username: user.username.clone(), display_name: user.display_name.clone(), joined_at })
        })
        .collect();
    Ok(Json(OffsetPage { data, total: page.total, limit: page.limit, offset: page.offset }))
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct WhoBody {
    /// The member (a host user, usr_…).
    #[garde(length(max = 64))]
    pub user_id: String,
}

/// Admits a host user (active again after a kick; a ban stays).
pub fn admit(cx: &Ctx, user_id: &str) -> Result<()> {
    refuse_banned(cx, user_id)?;
    let now = cx.now();
    cx.db().execute(
        "INSERT INTO community_members (user_id, status, joined_at, updated_at) VALUES (?1, 'active', ?2, ?2)
         ON CONFLICT (user_id) DO UPDATE SET status = 'active', reason = NULL, updated_at = excluded.updated_at",
        &[&user_id, &now],
    )?;
    Ok(())
}

pub fn add(cx: &mut Ctx, Json(who): Json<WhoBody>) -> Result<Created<Value>> {
    let user = cx.require_user("user_id", &who.user_id)?;
    admit(cx, &user.id)?;
    Ok(Created(json!({"user_id": user.id, "status": "active"})))
}

/// `rules.accepted`, `member.kicked`, `member.banned`.
#[derive(Serialize, JsonSchema)]
pub struct MemberEvent {
    pub user_id: String,
    pub reason: Option<String>,
    /// The key that acted (key_…).
    pub by_key: String,
}

fn by_key(cx: &Ctx) -> String {
    cx.caller().map(|c| c.key_id).unwrap_or_default()
}

fn active(cx: &Ctx, user_id: &str) -> Result<()> {
    let row = cx.db().query_one("SELECT status FROM community_members WHERE user_id = ?1", &[&user_id])?;
    match row.map(|r| r.get::<String>("status")).transpose()?.as_deref() {
        Some("active") => Ok(()),
        Some("banned") => Err(Error::new(403, "member_banned", "This member is banned from the community.")),
        _ => Err(Error::not_found("member")),
    }
}

pub fn accept_rules(cx: &mut Ctx, Json(who): Json<WhoBody>) -> Result<Json<Value>> {
    active(cx, &who.user_id)?;
    let now = cx.now();
    cx.db().execute("UPDATE community_members SET rules_accepted_at = ?1, updated_at = ?1 WHERE user_id = ?2", &[&now, &who.user_id])?;
    cx.emit("rules.accepted", &MemberEvent { user_id: who.user_id.clone(), reason: None, by_key: by_key(cx) })?;
    Ok(Json(json!({"user_id": who.user_id, "rules_accepted_at": now})))
}

#[derive(Deserialize, JsonSchema, Validate, Default)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    #[garde(inner(length(chars, max = 1000)))]
    pub reason: Option<String>,
}

fn set_status(cx: &Ctx, user_id: &str, status: &str, reason: Option<String>, event: &str) -> Result<Json<Value>> {
    let now = cx.now();
    cx.db().execute(
        "UPDATE community_members SET status = ?1, reason = ?2, updated_at = ?3 WHERE user_id = ?4",
        &[&status, &reason, &now, &user_id],
    )?;
    cx.emit(event, &MemberEvent { user_id: user_id.to_owned(), reason: reason.clone(), by_key: by_key(cx) })?;
    Ok(Json(json!({"user_id": user_id, "status": status, "reason": reason})))
}

pub fn kick(cx: &mut Ctx, Path(p): Path<UserPath>, JsonOrDefault(why): JsonOrDefault<Reason>) -> Result<Json<Value>> {
    active(cx, &p.user_id)?;
    set_status(cx, &p.user_id, "kicked", why.reason, "member.kicked")
}

pub fn ban(cx: &mut Ctx, Path(p): Path<UserPath>, JsonOrDefault(why): JsonOrDefault<Reason>) -> Result<Json<Value>> {
    // Anyone the community knows may be banned, a member or an applicant; banning twice is 409.
    let status = cx.db().query_one("SELECT status FROM community_members WHERE user_id = ?1", &[&p.user_id])?.map(|r| r.get::<String>("status")).transpose()?;
    match status.as_deref() {
        Some("banned") => return Err(Error::conflict("already_banned", "This member is banned already.")),
        Some(_) => {}
        None => {
            cx.require_user("user_id", &p.user_id)?;
            let now = cx.now();
            cx.db().execute("INSERT INTO community_members (user_id, status, joined_at, updated_at) VALUES (?1, 'banned', ?2, ?2)", &[&p.user_id, &now])?;
        }
    }
    set_status(cx, &p.user_id, "banned", why.reason, "member.banned")
}

/// A request to join, decided by approve or reject.
#[derive(Serialize, JsonSchema)]
pub struct Application {
    pub id: String,
    pub user_id: String,
    pub answers: BTreeMap<String, Value>,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    pub reason: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
    #[schemars(extend("format" = "date-time"))]
    pub decided_at: Option<String>,
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewApplication {
    #[garde(length(max = 64))]
    pub user_id: String,
    #[serde(default)]
    #[garde(skip)]
    pub answers: BTreeMap<String, Value>,
}

fn application_of(r: &mobieus_sdk::Row) -> Result<Application> {
    Ok(Application {
        id: r.get("id")?,
        user_id: r.get("user_id")?,
        answers: sj::from_str(&r.get::<String>("answers")?)?,
        status: r.get("status")?,
        reason: r.get("reason")?,
        created_at: r.get("created_at")?,
        decided_at: r.get("decided_at")?,
    })
}

/// Applications, newest first; `?status=` keeps one status (`ADMIN`: answers are the applicant's).
pub fn applications(cx: &mut Ctx) -> Result<Json<OffsetPage<Application>>> {
    let window = Window::of(cx)?;
    let status = cx.query("status").unwrap_or_default();
    if !matches!(status.as_str(), "" | "pending" | "approved" | "rejected") {
        return Err(Error::validation("status", "pending, approved or rejected"));
    }
    let page = window.fetch(
        cx,
        "id, user_id, answers, status, reason, created_at, decided_at",
        "community_applications WHERE (?1 = '' OR status = ?1)",
        "created_at DESC, id DESC",
        &[&status],
        application_of,
    )?;
    Ok(Json(page))
}

pub fn create_application(cx: &mut Ctx, Json(new): Json<NewApplication>) -> Result<Created<Application>> {
    cx.require_user("user_id", &new.user_id)?;
    refuse_banned(cx, &new.user_id)?;
    if sj::to_string(&new.answers)?.len() > 20_000 {
        return Err(Error::validation("answers", "at most 20,000 bytes"));
    }
    let application = Application {
        id: cx.new_id("app_"),
        user_id: new.user_id,
        answers: new.answers,
        status: "pending".into(),
        reason: None,
        created_at: cx.now(),
        decided_at: None,
    };
    cx.db().execute(
        "INSERT INTO community_applications (id, user_id, answers, status, created_at) VALUES (?1, ?2, ?3, 'pending', ?4)",
        &[&application.id, &application.user_id, &sj::to_string(&application.answers)?, &application.created_at],
    )?;
    Ok(Created(application))
}

/// `application.approved`, `application.rejected`.
#[derive(Serialize, JsonSchema)]
pub struct ApplicationEvent<'a> {
    pub application: &'a Application,
}

fn decide(cx: &Ctx, id: &str, to: &str, reason: Option<String>) -> Result<Json<Application>> {
    let row = cx
        .db()
        .query_one("SELECT id, user_id, answers, status, reason, created_at, decided_at FROM community_applications WHERE id = ?1", &[&id])?
        .ok_or_else(|| Error::not_found("application"))?;
    let mut application = application_of(&row)?;
    if application.status != "pending" {
        return Err(Error::conflict("application_decided", format!("The application was {} already.", application.status)).with("status", application.status.clone()));
    }
    if to == "approved" {
        admit(cx, &application.user_id)?;
    }
    let now = cx.now();
    cx.db().execute(
        "UPDATE community_applications SET status = ?1, reason = ?2, decided_at = ?3 WHERE id = ?4",
        &[&to, &reason, &now, &id],
    )?;
    application.status = to.to_owned();
    application.reason = reason;
    application.decided_at = Some(now);
    cx.emit(&format!("application.{to}"), &ApplicationEvent { application: &application })?;
    Ok(Json(application))
}

pub fn approve(cx: &mut Ctx, Path(p): Path<IdPath>) -> Result<Json<Application>> {
    decide(cx, &p.id, "approved", None)
}

pub fn reject(cx: &mut Ctx, Path(p): Path<IdPath>, JsonOrDefault(why): JsonOrDefault<Reason>) -> Result<Json<Application>> {
    decide(cx, &p.id, "rejected", why.reason)
}

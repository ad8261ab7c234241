//! Moderation: reports against content and people, and the log of what moderators did.
//!
//! `POST /api/v1/reports` (`reports:write`); `GET /api/v1/reports`, `GET /api/v1/reports/{id}`,
//! `GET /api/v1/moderation/actions` (`reports:read`); `POST /api/v1/reports/{id}/dismiss` and
//! `/resolve` (`reports:manage`). A report is `open` until it is `dismissed` or `resolved`, once.
//! Resolving may take an action (`remove_content`, `warn_user`, `suspend_user`), which goes in
//! the action log and out as `moderation.action_taken`: the surface that owns the content reacts
//! to that event (Market withdraws a listing). Moderation reads no other plugin's tables.
//!
//! Built on the public SDK only.

mod schema;

use mobieus_sdk::prelude::*;

struct Moderation;

const TARGET_TYPES: &[&str] = &["post", "listing", "user", "file"];
const STATUSES: &[&str] = &["open", "resolved", "dismissed"];
const ACTIONS: &[&str] = &["remove_content", "warn_user", "suspend_user"];

impl Plugin for Moderation {
    fn manifest() -> Manifest {
        Manifest::new("moderation", env!("CARGO_PKG_VERSION"))
            .claims(["reports", "report", "moderation"])
            .scope("reports:read", "Read reports and the moderation action log.")
            .scope("reports:write", "File reports.")
            .scope("reports:manage", "Dismiss or resolve reports.")
            .event_with_schema(
                "report.created",
                "Someone reported a post, listing, user or file.",
                json!({"type": "object", "required": ["report"], "properties": {"report": schema::report()}}),
            )
            .event_with_schema(
                "report.resolved",
                "A report was closed: `status` says whether it was resolved or dismissed.",
                json!({"type": "object", "required": ["report"], "properties": {"report": schema::report()}}),
            )
            .event_with_schema(
                "moderation.action_taken",
                "A moderator acted on a report's target. Surfaces that own the target react to it.",
                json!({
                    "type": "object",
                    "required": ["action", "report"],
                    "properties": {"action": schema::action(), "report": schema::report()}
                }),
            )
            .migration(
                1,
                "reports_and_actions",
                "CREATE TABLE moderation_reports (
                    id              TEXT PRIMARY KEY,
                    target_type     TEXT NOT NULL,
                    target_id       TEXT NOT NULL,
                    reason          TEXT NOT NULL,
                    reporter_id     TEXT,
                    reported_by_key TEXT NOT NULL,
                    status          TEXT NOT NULL CHECK (status IN ('open', 'resolved', 'dismissed')),
                    note            TEXT,
                    action_id       TEXT,
                    closed_by_key   TEXT,
                    created_at      TEXT NOT NULL,
                    closed_at       TEXT
                );
                CREATE INDEX moderation_reports_status ON moderation_reports (status, id);
                CREATE INDEX moderation_reports_target ON moderation_reports (target_type, target_id);
                CREATE INDEX moderation_reports_created ON moderation_reports (created_at);
                CREATE TABLE moderation_actions (
                    id           TEXT PRIMARY KEY,
                    type         TEXT NOT NULL,
                    report_id    TEXT NOT NULL REFERENCES moderation_reports (id),
                    target_type  TEXT NOT NULL,
                    target_id    TEXT NOT NULL,
                    user_id      TEXT,
                    note         TEXT,
                    taken_by_key TEXT NOT NULL,
                    created_at   TEXT NOT NULL
                );
                CREATE INDEX moderation_actions_created ON moderation_actions (created_at);",
            )
    }

    fn router() -> Router {
        Router::new()
            .route(
                Route::post("/api/v1/reports", "reports:write", create)
                    .id("createReport")
                    .summary("Report a post, listing, user or file")
                    .request(schema::new_report)
                    .response(schema::report),
            )
            .route(
                Route::get("/api/v1/reports", "reports:read", list)
                    .id("listReports")
                    .summary("List reports, newest first (filters: status, target_type, since, until)")
                    .response(|| schema::page(schema::report())),
            )
            .route(
                Route::get("/api/v1/reports/{id}", "reports:read", get)
                    .id("getReport")
                    .summary("One report")
                    .response(schema::report),
            )
            .route(
                Route::post("/api/v1/reports/{id}/dismiss", "reports:manage", dismiss)
                    .id("dismissReport")
                    .summary("Close a report without action")
                    .request(schema::dismissal)
                    .response(schema::report),
            )
            .route(
                Route::post("/api/v1/reports/{id}/resolve", "reports:manage", resolve)
                    .id("resolveReport")
                    .summary("Close a report, optionally taking an action on its target")
                    .request(schema::resolution)
                    .response(schema::report),
            )
            .route(
                Route::get("/api/v1/moderation/actions", "reports:read", actions)
                    .id("listModerationActions")
                    .summary("The moderator action log, newest first (filters: type, target_type, report_id)")
                    .response(|| schema::page(schema::action())),
            )
    }
}

#[derive(Serialize, Clone)]
struct Target {
    #[serde(rename = "type")]
    kind: String,
    id: String,
}

#[derive(Serialize)]
struct Report {
    id: String,
    target: Target,
    reason: String,
    reporter_id: Option<String>,
    status: String,
    note: Option<String>,
    action_id: Option<String>,
    created_at: String,
    closed_at: Option<String>,
}

const REPORT_COLUMNS: &str = "id, target_type, target_id, reason, reporter_id, status, note, action_id, created_at, closed_at";

fn report(row: &mobieus_sdk::Row) -> Result<Report> {
    Ok(Report {
        id: row.get("id")?,
        target: Target { kind: row.get("target_type")?, id: row.get("target_id")? },
        reason: row.get("reason")?,
        reporter_id: row.get("reporter_id")?,
        status: row.get("status")?,
        note: row.get("note")?,
        action_id: row.get("action_id")?,
        created_at: row.get("created_at")?,
        closed_at: row.get("closed_at")?,
    })
}

#[derive(Serialize)]
struct Action {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    report_id: String,
    target: Target,
    /// The user a warning or suspension is for.
    user_id: Option<String>,
    note: Option<String>,
    taken_by_key: String,
    created_at: String,
}

const ACTION_COLUMNS: &str = "id, type, report_id, target_type, target_id, user_id, note, taken_by_key, created_at";

fn action(row: &mobieus_sdk::Row) -> Result<Action> {
    Ok(Action {
        id: row.get("id")?,
        kind: row.get("type")?,
        report_id: row.get("report_id")?,
        target: Target { kind: row.get("target_type")?, id: row.get("target_id")? },
        user_id: row.get("user_id")?,
        note: row.get("note")?,
        taken_by_key: row.get("taken_by_key")?,
        created_at: row.get("created_at")?,
    })
}

fn find(cx: &Ctx, id: &str) -> Result<Option<Report>> {
    cx.db()
        .query_one(&format!("SELECT {REPORT_COLUMNS} FROM moderation_reports WHERE id = ?1"), &[&id])?
        .map(|r| report(&r))
        .transpose()
}

fn key_id(cx: &Ctx) -> String {
    cx.caller().map(|c| c.key_id).unwrap_or_default()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTarget {
    #[serde(rename = "type")]
    kind: String,
    id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewReport {
    target: NewTarget,
    reason: String,
    reporter_id: Option<String>,
}

fn create(cx: &mut Ctx) -> Result<Reply> {
    let new: NewReport = cx.json()?;
    let reason = new.reason.trim();
    if reason.is_empty() || reason.chars().count() > 1000 {
        return Err(Error::validation("reason", "1 to 1000 characters"));
    }
    check_target(cx, &new.target)?;
    if let Some(reporter) = &new.reporter_id
        && (!reporter.starts_with("usr_") || cx.user(reporter)?.is_none())
    {
        return Err(Error::validation("reporter_id", "no such user"));
    }
    let report = Report {
        id: cx.new_id("rpt_"),
        target: Target { kind: new.target.kind, id: new.target.id },
        reason: reason.to_owned(),
        reporter_id: new.reporter_id,
        status: "open".into(),
        note: None,
        action_id: None,
        created_at: cx.now(),
        closed_at: None,
    };
    cx.db().execute(
        "INSERT INTO moderation_reports (id, target_type, target_id, reason, reporter_id, reported_by_key, status, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'open', ?7)",
        &[
            &report.id,
            &report.target.kind,
            &report.target.id,
            &report.reason,
            &report.reporter_id,
            &key_id(cx),
            &report.created_at,
        ],
    )?;
    cx.emit("report.created", &json!({ "report": &report }))?;
    Reply::created(&report)
}

/// The target must be something a report can be about. Users, posts and files are the host's,
/// read through the views it grants; a listing is the Market's, whose tables this plugin may not
/// read, so a listing id is checked for its shape only.
fn check_target(cx: &Ctx, target: &NewTarget) -> Result<()> {
    let prefix = match target.kind.as_str() {
        "post" => "post_",
        "listing" => "lst_",
        "user" => "usr_",
        "file" => "file_",
        _ => return Err(Error::validation("target.type", format!("one of {}", TARGET_TYPES.join(", ")))),
    };
    let shaped = target.id.len() > prefix.len()
        && target.id.starts_with(prefix)
        && target.id[prefix.len()..].bytes().all(|b| b.is_ascii_alphanumeric());
    if !shaped {
        return Err(Error::validation("target.id", format!("not a {} id ({prefix}…)", target.kind)));
    }
    let exists = match target.kind.as_str() {
        "user" => cx.user(&target.id)?.is_some(),
        "post" => cx.db().query_one("SELECT id FROM host_posts WHERE id = ?1", &[&target.id])?.is_some(),
        "file" => cx.db().query_one("SELECT id FROM host_files WHERE id = ?1", &[&target.id])?.is_some(),
        _ => true,
    };
    if !exists {
        return Err(Error::validation("target.id", format!("no such {}", target.kind)));
    }
    Ok(())
}

fn list(cx: &mut Ctx) -> Result<Reply> {
    let page = PageRequest::parse(cx, &["status", "target_type"])?;
    let mut filter = page.time_filter("created_at");
    if let Some(status) = page.filter("status") {
        one_of("status", status, STATUSES)?;
        filter.and("status = ?", status);
    }
    if let Some(kind) = page.filter("target_type") {
        one_of("target_type", kind, TARGET_TYPES)?;
        filter.and("target_type = ?", kind);
    }
    Reply::ok(&page.fetch(&cx.db(), "moderation_reports", REPORT_COLUMNS, &filter, report, |r| r.id.clone())?)
}

fn get(cx: &mut Ctx) -> Result<Reply> {
    let id = cx.param("id")?;
    Reply::ok(&find(cx, &id)?.ok_or_else(|| Error::not_found("report"))?)
}

fn actions(cx: &mut Ctx) -> Result<Reply> {
    let page = PageRequest::parse(cx, &["type", "target_type", "report_id"])?;
    let mut filter = page.time_filter("created_at");
    if let Some(kind) = page.filter("type") {
        one_of("type", kind, ACTIONS)?;
        filter.and("type = ?", kind);
    }
    if let Some(kind) = page.filter("target_type") {
        one_of("target_type", kind, TARGET_TYPES)?;
        filter.and("target_type = ?", kind);
    }
    filter.and_opt("report_id = ?", page.filter("report_id"));
    Reply::ok(&page.fetch(&cx.db(), "moderation_actions", ACTION_COLUMNS, &filter, action, |a| a.id.clone())?)
}

fn one_of(field: &str, value: &str, allowed: &[&str]) -> Result<()> {
    if allowed.contains(&value) { Ok(()) } else { Err(Error::validation(field, format!("one of {}", allowed.join(", ")))) }
}

/// The open report of the path, or why it cannot be closed.
fn open_report(cx: &Ctx) -> Result<Report> {
    let id = cx.param("id")?;
    let report = find(cx, &id)?.ok_or_else(|| Error::not_found("report"))?;
    if report.status != "open" {
        return Err(Error::bad_request("already_resolved", format!("The report was {} already.", report.status))
            .with("status", report.status.as_str()));
    }
    Ok(report)
}

fn check_note(note: &Option<String>) -> Result<()> {
    if note.as_ref().is_some_and(|n| n.chars().count() > 2000) {
        return Err(Error::validation("note", "at most 2000 characters"));
    }
    Ok(())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Dismissal {
    note: Option<String>,
}

fn dismiss(cx: &mut Ctx) -> Result<Reply> {
    let dismissal: Dismissal = cx.json_or_default()?;
    check_note(&dismissal.note)?;
    let mut report = open_report(cx)?;
    close(cx, &mut report, "dismissed", dismissal.note, None)?;
    Reply::ok(&report)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Resolution {
    action: Option<String>,
    note: Option<String>,
    /// Whom `warn_user` / `suspend_user` is for, when the target is not a user (default for a
    /// post: its author).
    user_id: Option<String>,
}

fn resolve(cx: &mut Ctx) -> Result<Reply> {
    let resolution: Resolution = cx.json_or_default()?;
    check_note(&resolution.note)?;
    let mut report = open_report(cx)?;
    let action = match resolution.action.as_deref() {
        None => None,
        Some(kind) => {
            one_of("action", kind, ACTIONS)?;
            let user_id = match kind {
                "remove_content" if report.target.kind == "user" => {
                    return Err(Error::validation(
                        "action",
                        "remove_content is for a post, listing or file; for a user, warn_user or suspend_user",
                    ));
                }
                "remove_content" => None,
                _ => Some(user_for(cx, &report.target, resolution.user_id.as_deref())?),
            };
            Some(Action {
                id: cx.new_id("mact_"),
                kind: kind.to_owned(),
                report_id: report.id.clone(),
                target: report.target.clone(),
                user_id,
                note: resolution.note.clone(),
                taken_by_key: key_id(cx),
                created_at: cx.now(),
            })
        }
    };
    close(cx, &mut report, "resolved", resolution.note, action.as_ref().map(|a| a.id.clone()))?;
    if let Some(action) = action {
        cx.db().execute(
            "INSERT INTO moderation_actions (id, type, report_id, target_type, target_id, user_id, note, taken_by_key, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            &[
                &action.id,
                &action.kind,
                &action.report_id,
                &action.target.kind,
                &action.target.id,
                &action.user_id,
                &action.note,
                &action.taken_by_key,
                &action.created_at,
            ],
        )?;
        cx.emit("moderation.action_taken", &json!({ "action": &action, "report": &report }))?;
    }
    Reply::ok(&report)
}

/// The user a warning or suspension is for.
fn user_for(cx: &Ctx, target: &Target, given: Option<&str>) -> Result<String> {
    let user = match (given, target.kind.as_str()) {
        (Some(user), _) => user.to_owned(),
        (None, "user") => target.id.clone(),
        (None, "post") => cx
            .db()
            .query_one("SELECT author_id FROM host_posts WHERE id = ?1", &[&target.id])?
            .map(|r| r.get::<String>("author_id"))
            .transpose()?
            .ok_or_else(|| Error::validation("user_id", "the reported post is gone; name the user"))?,
        (None, kind) => {
            return Err(Error::validation("user_id", format!("required to warn or suspend over a {kind}")));
        }
    };
    if !user.starts_with("usr_") || cx.user(&user)?.is_none() {
        return Err(Error::validation("user_id", "no such user"));
    }
    Ok(user)
}

fn close(cx: &Ctx, report: &mut Report, status: &str, note: Option<String>, action_id: Option<String>) -> Result<()> {
    report.status = status.to_owned();
    report.note = note;
    report.action_id = action_id;
    report.closed_at = Some(cx.now());
    // `status = 'open'` again: of two racing requests exactly one closes it.
    let changed = cx.db().execute(
        "UPDATE moderation_reports SET status = ?2, note = ?3, action_id = ?4, closed_by_key = ?5, closed_at = ?6
         WHERE id = ?1 AND status = 'open'",
        &[&report.id, &report.status, &report.note, &report.action_id, &key_id(cx), &report.closed_at],
    )?;
    if changed == 0 {
        return Err(Error::bad_request("already_resolved", "The report was closed already."));
    }
    cx.emit("report.resolved", &json!({ "report": &*report }))?;
    Ok(())
}

mobieus_sdk::export!(Moderation);

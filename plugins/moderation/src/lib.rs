//! Moderation: reports against content and people, and the log of what moderators did.
//!
//! `POST /api/v1/reports` (`reports:write`); `GET /api/v1/reports`, `GET /api/v1/reports/{id}`,
//! `GET /api/v1/moderation/actions` (`reports:read`); `POST /api/v1/reports/{id}/dismiss` and
//! `/resolve` (`reports:manage`). A report is `open` until it is `dismissed` or `resolved`, once.
//! Resolving may take an action (`remove_content`, `warn_user`, `suspend_user`), which goes in
//! the action log and out as `moderation.action_taken`: the surface that owns the content reacts
//! to that event (Market withdraws a listing). A community's ban (`member.banned`) goes in the
//! log too, as `ban_member` without a report. Moderation reads no other plugin's tables.
//!
//! Built on the public SDK only.

use mobieus_sdk::check::not_blank;
use mobieus_sdk::prelude::*;

struct Moderation;

const TARGET_TYPES: &[&str] = &["post", "listing", "user", "file"];
const STATUSES: &[&str] = &["open", "resolved", "dismissed"];
const ACTIONS: &[&str] = &["remove_content", "warn_user", "suspend_user"];
/// What the action log holds: the actions a report's resolution takes, and the bans of the
/// community surface (`member.banned`).
const LOGGED: &[&str] = &["remove_content", "warn_user", "suspend_user", "ban_member"];

impl Plugin for Moderation {
    fn manifest() -> Manifest {
        Manifest::new("moderation", env!("CARGO_PKG_VERSION"))
            .claims(["reports", "report", "moderation"])
            .scope("reports:read", "Read reports and the moderation action log.")
            .scope("reports:write", "File reports.")
            .scope("reports:manage", "Dismiss or resolve reports.")
            .event_of::<ReportEvent>("report.created", "Someone reported a post, listing, user or file.")
            .event_of::<ReportEvent>(
                "report.resolved",
                "A report was closed: `status` says whether it was resolved or dismissed.",
            )
            .event_of::<ActionTaken>(
                "moderation.action_taken",
                "A moderator acted on a report's target. Surfaces that own the target react to it.",
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
            // A ban in a community (`member.banned`) is an action without a report.
            .migration(
                2,
                "actions_without_a_report",
                "CREATE TABLE moderation_actions_next (
                    id           TEXT PRIMARY KEY,
                    type         TEXT NOT NULL,
                    report_id    TEXT REFERENCES moderation_reports (id),
                    target_type  TEXT NOT NULL,
                    target_id    TEXT NOT NULL,
                    user_id      TEXT,
                    note         TEXT,
                    taken_by_key TEXT NOT NULL,
                    created_at   TEXT NOT NULL
                );
                INSERT INTO moderation_actions_next SELECT id, type, report_id, target_type, target_id, user_id, note, taken_by_key, created_at FROM moderation_actions;
                DROP TABLE moderation_actions;
                ALTER TABLE moderation_actions_next RENAME TO moderation_actions;
                CREATE INDEX moderation_actions_created ON moderation_actions (created_at);",
            )
            .subscribe("member.banned")
    }

    /// A community's ban goes in the action log, once: its id is the event's.
    fn on_event(cx: &mut Ctx, event: &Event) -> std::result::Result<(), String> {
        if event.event_type != "member.banned" {
            return Ok(());
        }
        let Some(user) = event.data["user_id"].as_str() else { return Ok(()) };
        let id = format!("mact_{}", event.id.trim_start_matches("evt_"));
        let row = ActionRow {
            id: id.clone(),
            kind: "ban_member".into(),
            report_id: None,
            target_type: "user".into(),
            target_id: user.to_owned(),
            user_id: Some(user.to_owned()),
            note: event.data["reason"].as_str().map(str::to_owned),
            taken_by_key: event.data["by_key"].as_str().unwrap_or("").to_owned(),
            created_at: event.created_at.clone(),
        };
        let held = cx.db().query_one("SELECT 1 AS one FROM moderation_actions WHERE id = ?1", &[&id]).map_err(|e| e.to_string())?;
        if held.is_none() {
            cx.db().insert("moderation_actions", &row).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn router() -> Router {
        Router::new()
            .route(
                Route::post("/api/v1/reports", "reports:write", create)
                    .id("createReport")
                    .summary("Report a post, listing, user or file"),
            )
            .route(
                Route::get("/api/v1/reports", "reports:read", list)
                    .id("listReports")
                    .summary("List reports, newest first")
                    .query("status", "Only reports in this state: open, resolved or dismissed.")
                    .query("target_type", "Only reports about a post, listing, user or file."),
            )
            .route(
                Route::get("/api/v1/reports/{id}", "reports:read", get)
                    .id("getReport")
                    .summary("One report")
                    .error(404, "report_not_found", "No report has this id."),
            )
            .route(
                Route::post("/api/v1/reports/{id}/dismiss", "reports:manage", dismiss)
                    .id("dismissReport")
                    .summary("Close a report without action")
                    .error(404, "report_not_found", "No report has this id.")
                    .error(400, "already_resolved", "The report was closed already."),
            )
            .route(
                Route::post("/api/v1/reports/{id}/resolve", "reports:manage", resolve)
                    .id("resolveReport")
                    .summary("Close a report, optionally taking an action on its target")
                    .error(404, "report_not_found", "No report has this id.")
                    .error(400, "already_resolved", "The report was closed already."),
            )
            .route(
                Route::get("/api/v1/moderation/actions", "reports:read", actions)
                    .id("listModerationActions")
                    .summary("The moderator action log, newest first")
                    .query("type", "Only actions of this type.")
                    .query("target_type", "Only actions on a post, listing, user or file.")
                    .query("report_id", "Only actions taken on this report (rpt_…)."),
            )
    }
}

/// What a report or an action is about.
#[derive(Serialize, Deserialize, JsonSchema, Validate, Clone)]
#[serde(deny_unknown_fields)]
struct Target {
    /// post, listing, user or file.
    #[serde(rename = "type")]
    #[garde(skip)]
    kind: String,
    #[garde(skip)]
    id: String,
}

/// A report, as answered. Stored flat ([`ReportRow`]).
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(from = "ReportRow")]
struct Report {
    #[schemars(regex(pattern = "^rpt_[0-9A-Z]{26}$"))]
    id: String,
    target: Target,
    reason: String,
    reporter_id: Option<String>,
    /// open, resolved or dismissed.
    status: String,
    note: Option<String>,
    action_id: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    created_at: String,
    #[schemars(extend("format" = "date-time"))]
    closed_at: Option<String>,
}

/// A report's columns.
#[derive(Deserialize, JsonSchema)]
struct ReportRow {
    id: String,
    target_type: String,
    target_id: String,
    reason: String,
    reporter_id: Option<String>,
    status: String,
    note: Option<String>,
    action_id: Option<String>,
    created_at: String,
    closed_at: Option<String>,
}

impl From<ReportRow> for Report {
    fn from(r: ReportRow) -> Report {
        let target = Target { kind: r.target_type, id: r.target_id };
        let ReportRow { id, reason, reporter_id, status, note, action_id, created_at, closed_at, .. } = r;
        Report { id, target, reason, reporter_id, status, note, action_id, created_at, closed_at }
    }
}

impl HasId for Report {
    fn id(&self) -> &str {
        &self.id
    }
}

/// An action a moderator took, as answered. Stored flat ([`ActionRow`]).
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(from = "ActionRow")]
struct Action {
    id: String,
    /// remove_content, warn_user, suspend_user, or ban_member (a community's ban, without a
    /// report).
    #[serde(rename = "type")]
    kind: String,
    report_id: Option<String>,
    target: Target,
    /// The user a warning or suspension is for.
    user_id: Option<String>,
    note: Option<String>,
    taken_by_key: String,
    #[schemars(extend("format" = "date-time"))]
    created_at: String,
}

/// An action's columns, as stored and inserted.
#[derive(Serialize, Deserialize, JsonSchema)]
struct ActionRow {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    report_id: Option<String>,
    target_type: String,
    target_id: String,
    user_id: Option<String>,
    note: Option<String>,
    taken_by_key: String,
    created_at: String,
}

impl From<ActionRow> for Action {
    fn from(r: ActionRow) -> Action {
        let target = Target { kind: r.target_type, id: r.target_id };
        let ActionRow { id, kind, report_id, user_id, note, taken_by_key, created_at, .. } = r;
        Action { id, kind, report_id, target, user_id, note, taken_by_key, created_at }
    }
}

impl HasId for Action {
    fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Serialize, JsonSchema)]
struct ReportEvent<'a> {
    report: &'a Report,
}

#[derive(Serialize, JsonSchema)]
struct ActionTaken<'a> {
    action: &'a Action,
    report: &'a Report,
}

fn find(cx: &Ctx, id: &str) -> Result<Option<Report>> {
    cx.db().select_one("moderation_reports", "WHERE id = ?1", &[&id])
}

fn key_id(cx: &Ctx) -> String {
    cx.caller().map(|c| c.key_id).unwrap_or_default()
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
struct NewReport {
    #[garde(dive)]
    target: Target,
    #[garde(length(chars, min = 1, max = 1000), custom(not_blank))]
    reason: String,
    #[garde(skip)]
    reporter_id: Option<String>,
}

fn create(cx: &mut Ctx, Json(new): Json<NewReport>) -> Result<Created<Report>> {
    let reason = new.reason.trim();
    check_target(cx, &new.target)?;
    if let Some(reporter) = &new.reporter_id {
        cx.require_user("reporter_id", reporter)?;
    }
    let report = Report {
        id: cx.new_id("rpt_"),
        target: new.target.clone(),
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
    cx.emit("report.created", &ReportEvent { report: &report })?;
    Ok(Created(report))
}

/// The target must be something a report can be about. Users, posts and files are the host's,
/// read through the views it grants; a listing is the Market's, whose tables this plugin may not
/// read, so a listing id is checked for its shape only.
fn check_target(cx: &Ctx, target: &Target) -> Result<()> {
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

fn list(cx: &mut Ctx) -> Result<Page<Report>> {
    let page = PageRequest::from(cx)?;
    let mut filter = page.time_filter("created_at");
    filter.and_opt("status = ?", page.filter_one_of("status", STATUSES)?);
    filter.and_opt("target_type = ?", page.filter_one_of("target_type", TARGET_TYPES)?);
    page.fetch_as(&cx.db(), "moderation_reports", &filter)
}

fn get(cx: &mut Ctx, Path(id): Path<String>) -> Result<Json<Report>> {
    find(cx, &id)?.map(Json).ok_or_else(|| Error::not_found("report"))
}

fn actions(cx: &mut Ctx) -> Result<Page<Action>> {
    let page = PageRequest::from(cx)?;
    let mut filter = page.time_filter("created_at");
    filter.and_opt("type = ?", page.filter_one_of("type", LOGGED)?);
    filter.and_opt("target_type = ?", page.filter_one_of("target_type", TARGET_TYPES)?);
    filter.and_opt("report_id = ?", page.filter("report_id"));
    page.fetch_as(&cx.db(), "moderation_actions", &filter)
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

#[derive(Deserialize, JsonSchema, Validate, Default)]
#[serde(deny_unknown_fields)]
struct Dismissal {
    #[garde(length(chars, max = 2000))]
    note: Option<String>,
}

fn dismiss(cx: &mut Ctx, JsonOrDefault(dismissal): JsonOrDefault<Dismissal>) -> Result<Json<Report>> {
    let mut report = open_report(cx)?;
    close(cx, &mut report, "dismissed", dismissal.note, None)?;
    Ok(Json(report))
}

#[derive(Deserialize, JsonSchema, Validate, Default)]
#[serde(deny_unknown_fields)]
struct Resolution {
    /// remove_content, warn_user or suspend_user.
    #[garde(skip)]
    action: Option<String>,
    #[garde(length(chars, max = 2000))]
    note: Option<String>,
    /// Whom `warn_user` / `suspend_user` is for, when the target is not a user (default for a
    /// post: its author).
    #[garde(skip)]
    user_id: Option<String>,
}

fn resolve(cx: &mut Ctx, JsonOrDefault(resolution): JsonOrDefault<Resolution>) -> Result<Json<Report>> {
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
            Some(ActionRow {
                id: cx.new_id("mact_"),
                kind: kind.to_owned(),
                report_id: Some(report.id.clone()),
                target_type: report.target.kind.clone(),
                target_id: report.target.id.clone(),
                user_id,
                note: resolution.note.clone(),
                taken_by_key: key_id(cx),
                created_at: cx.now(),
            })
        }
    };
    close(cx, &mut report, "resolved", resolution.note, action.as_ref().map(|a| a.id.clone()))?;
    if let Some(row) = action {
        cx.db().insert("moderation_actions", &row)?;
        let action = Action::from(row);
        cx.emit("moderation.action_taken", &ActionTaken { action: &action, report: &report })?;
    }
    Ok(Json(report))
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
    cx.require_user("user_id", &user)?;
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
    cx.emit("report.resolved", &ReportEvent { report })?;
    Ok(())
}

mobieus_sdk::export!(Moderation);

//! Live sessions on Google Meet, Zoom or Webex for a cohort (a host group): the provider read
//! from the join URL's host, an iCalendar invitation (RFC 5545/5546, one UID per session)
//! mailed to every active member, reminders a day and an hour before through host timers, a
//! `METHOD:CANCEL` with a higher `SEQUENCE` on cancel, and a note when the recording is in.

use chrono::{DateTime, Utc};
use icalendar::{Calendar, Component, Event, EventLike, EventStatus};
use mobieus_sdk::prelude::*;

pub const MIGRATION: &str = "
    CREATE TABLE learn_live_sessions (
        id            TEXT PRIMARY KEY,
        cohort_id     TEXT NOT NULL,
        title         TEXT NOT NULL,
        description   TEXT NOT NULL DEFAULT '',
        join_url      TEXT NOT NULL,
        provider      TEXT NOT NULL CHECK (provider IN ('meet', 'zoom', 'webex')),
        starts_at     TEXT NOT NULL,
        duration_min  INTEGER NOT NULL,
        ends_at       TEXT NOT NULL,
        status        TEXT NOT NULL CHECK (status IN ('scheduled', 'cancelled')),
        sequence      INTEGER NOT NULL,
        uid           TEXT NOT NULL,
        invited       INTEGER NOT NULL,
        recording_url TEXT,
        created_at    TEXT NOT NULL,
        updated_at    TEXT NOT NULL,
        cancelled_at  TEXT
    );
    CREATE INDEX learn_live_sessions_cohort ON learn_live_sessions (cohort_id, starts_at);
    CREATE INDEX learn_live_sessions_starts ON learn_live_sessions (starts_at);";

const TABLE: &str = "learn_live_sessions";
/// Reminders before the start: their timer-key suffix and how long before.
const REMINDERS: [(&str, i64); 2] = [("1d", 86_400_000), ("1h", 3_600_000)];

#[derive(Serialize, Deserialize, JsonSchema, Clone)]
pub struct LiveSession {
    #[schemars(regex(pattern = "^lvs_[0-9A-Z]{26}$"))]
    pub id: String,
    /// The cohort: a host group (grp_…).
    pub cohort_id: String,
    pub title: String,
    pub description: String,
    pub join_url: String,
    pub provider: Provider,
    #[schemars(extend("format" = "date-time"))]
    pub starts_at: String,
    pub duration_min: i64,
    #[schemars(extend("format" = "date-time"))]
    pub ends_at: String,
    pub status: SessionStatus,
    /// The invitation's iCalendar `SEQUENCE`: 0, then one more for each change sent.
    pub sequence: i64,
    /// The invitation's iCalendar `UID`, the same in every mail about this session.
    pub uid: String,
    /// Active cohort members the invitation was mailed to.
    pub invited: i64,
    pub recording_url: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
    #[schemars(extend("format" = "date-time"))]
    pub updated_at: String,
    #[schemars(extend("format" = "date-time"))]
    pub cancelled_at: Option<String>,
}

impl HasId for LiveSession {
    fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Meet,
    Zoom,
    Webex,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Scheduled,
    Cancelled,
}

pub fn find(cx: &Ctx, id: &str) -> Result<LiveSession> {
    cx.db().select_one(TABLE, "WHERE id = ?1", &[&id])?.ok_or_else(|| Error::new(404, "live_session_not_found", "No live session has this id."))
}

/// The provider of an https join URL, from its host by domain suffix (never a substring:
/// `zoom.us.evil.example` is not Zoom), and the URL as the parser wrote it back: the form that is
/// stored and mailed (a tab or line break pasted into it is gone, never carried into an invite).
pub fn provider_of(join_url: &str) -> std::result::Result<(Provider, String), &'static str> {
    let url = url::Url::parse(join_url).map_err(|_| "not a URL")?;
    if url.scheme() != "https" {
        return Err("only https join URLs");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("a join URL carries no user name or password");
    }
    let host = url.host_str().ok_or("no host")?.trim_end_matches('.').to_ascii_lowercase();
    let under = |domain: &str| host == domain || host.ends_with(&format!(".{domain}"));
    let provider = if host == "meet.google.com" {
        Provider::Meet
    } else if under("zoom.us") {
        Provider::Zoom
    } else if host.ends_with(".webex.com") {
        Provider::Webex
    } else {
        return Err("a Google Meet (meet.google.com), Zoom (zoom.us) or Webex (*.webex.com) join URL");
    };
    Ok((provider, url.into()))
}

pub fn list(cx: &mut Ctx) -> Result<Page<LiveSession>> {
    let page = PageRequest::from(cx)?;
    let mut filter = page.time_filter("created_at");
    filter.and_opt("cohort_id = ?", page.filter("cohort_id"));
    filter.and_opt("status = ?", page.filter_one_of("status", &["scheduled", "cancelled"])?);
    if let Some(after) = page.filter("starts_after") {
        let ms = cx.ms_of(after).ok_or_else(|| Error::validation("starts_after", "an RFC 3339 time, e.g. 2026-05-29T00:00:00Z"))?;
        filter.and("starts_at > ?", cx.time_at(ms));
    }
    page.fetch_as(&cx.db(), TABLE, &filter)
}

pub fn get(cx: &mut Ctx, Path(id): Path<String>) -> Result<Json<LiveSession>> {
    find(cx, &id).map(Json)
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewSession {
    /// A host group (grp_…).
    #[garde(length(min = 1, max = 100))]
    cohort_id: String,
    /// One line: it is the invitation's subject.
    #[garde(length(chars, min = 1, max = 200), custom(mobieus_sdk::check::not_blank), custom(mobieus_sdk::check::one_line))]
    title: String,
    /// An https Google Meet, Zoom or Webex link.
    #[garde(length(min = 1, max = 2000))]
    join_url: String,
    /// In the future (RFC 3339).
    #[schemars(extend("format" = "date-time"))]
    #[garde(length(min = 1, max = 64))]
    starts_at: String,
    #[serde(default)]
    #[garde(length(chars, max = 5000))]
    description: String,
    /// Minutes, 5 to 720 (default 60).
    #[serde(default = "an_hour")]
    #[garde(range(min = 5, max = 720))]
    duration_min: i64,
}

fn an_hour() -> i64 {
    60
}

pub fn create(cx: &mut Ctx, Json(new): Json<NewSession>) -> Result<Created<LiveSession>> {
    let (provider, join_url) = provider_of(&new.join_url).map_err(|why| Error::validation("join_url", why))?;
    let now_ms = cx.now_ms();
    let starts_ms = cx.ms_of(&new.starts_at).ok_or_else(|| Error::validation("starts_at", "an RFC 3339 time, e.g. 2026-05-29T15:00:00Z"))?;
    if starts_ms <= now_ms {
        return Err(Error::validation("starts_at", "in the future"));
    }
    let members = cx.group_members(&new.cohort_id)?.ok_or_else(|| Error::new(404, "cohort_not_found", "No host group has this id."))?;
    let now = cx.time_at(now_ms);
    let id = cx.new_id("lvs_");
    let mut session = LiveSession {
        uid: format!("{}@{}", id.to_ascii_lowercase(), host_name(cx)),
        id,
        cohort_id: new.cohort_id,
        title: new.title.trim().to_owned(),
        description: new.description,
        join_url,
        provider,
        starts_at: cx.time_at(starts_ms),
        duration_min: new.duration_min,
        ends_at: cx.time_at(starts_ms + new.duration_min * 60_000),
        status: SessionStatus::Scheduled,
        sequence: 0,
        invited: 0,
        recording_url: None,
        created_at: now.clone(),
        updated_at: now,
        cancelled_at: None,
    };
    let invite = ics(cx, &session, "REQUEST")?;
    let subject = format!("Invitation: {} ({})", session.title, session.starts_at);
    let text = format!("You are invited to {}.\n\nStarts: {}\nDuration: {} minutes\nJoin: {}\n\n{}", session.title, session.starts_at, session.duration_min, session.join_url, session.description);
    session.invited = mail_members(cx, &members, &subject, &text, Some(("text/calendar; method=REQUEST", &invite)))? as i64;
    cx.db().insert(TABLE, &session)?;
    for (label, before) in REMINDERS {
        let at = starts_ms - before;
        // A reminder whose time has passed already is skipped, not sent late.
        if at > now_ms {
            cx.set_timer(&timer_key(&session.id, label), at, &Reminder { session_id: session.id.clone(), reminder: label.to_owned() })?;
        }
    }
    Ok(Created(session))
}

fn timer_key(session_id: &str, label: &str) -> String {
    format!("live:{session_id}:{label}")
}

/// What a reminder timer carries.
#[derive(Serialize, Deserialize)]
pub struct Reminder {
    session_id: String,
    reminder: String,
}

/// A reminder came due: mail the members active now (not those of when it was scheduled).
pub fn remind(cx: &Ctx, payload: &str) -> std::result::Result<(), String> {
    let reminder: Reminder = mobieus_sdk::json::from_str(payload).map_err(|e| format!("reminder payload: {e}"))?;
    let Ok(session) = find(cx, &reminder.session_id) else { return Ok(()) };
    if session.status != SessionStatus::Scheduled {
        return Ok(());
    }
    let members = cx.group_members(&session.cohort_id).map_err(|e| e.message)?.unwrap_or_default();
    let when = if reminder.reminder == "1d" { "tomorrow" } else { "in an hour" };
    let subject = format!("Reminder: {} starts {when}", session.title);
    let text = format!("{} starts {when}, at {}.\n\nJoin: {}", session.title, session.starts_at, session.join_url);
    mail_members(cx, &members, &subject, &text, None).map_err(|e| e.message)?;
    Ok(())
}

pub fn cancel(cx: &mut Ctx, Path(id): Path<String>) -> Result<Json<LiveSession>> {
    let mut session = find(cx, &id)?;
    if session.status == SessionStatus::Cancelled {
        return Err(Error::conflict("live_session_cancelled", "The session is cancelled already."));
    }
    let now = cx.now();
    session.status = SessionStatus::Cancelled;
    session.sequence += 1;
    session.cancelled_at = Some(now.clone());
    session.updated_at = now;
    for (label, _) in REMINDERS {
        cx.cancel_timer(&timer_key(&session.id, label))?;
    }
    let members = cx.group_members(&session.cohort_id)?.unwrap_or_default();
    let notice = ics(cx, &session, "CANCEL")?;
    let subject = format!("Cancelled: {} ({})", session.title, session.starts_at);
    let text = format!("{} on {} is cancelled.", session.title, session.starts_at);
    mail_members(cx, &members, &subject, &text, Some(("text/calendar; method=CANCEL", &notice)))?;
    cx.db().execute(
        "UPDATE learn_live_sessions SET status = 'cancelled', sequence = ?1, cancelled_at = ?2, updated_at = ?3 WHERE id = ?4",
        &[&session.sequence, &session.cancelled_at, &session.updated_at, &session.id],
    )?;
    Ok(Json(session))
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct Recording {
    /// An https link to the recording.
    #[garde(length(min = 1, max = 2000))]
    recording_url: String,
}

/// Attaches the recording once the session has started, and tells the cohort's active members.
pub fn recording(cx: &mut Ctx, Path(id): Path<String>, Json(rec): Json<Recording>) -> Result<Json<LiveSession>> {
    let mut session = find(cx, &id)?;
    let recording_url: String = match url::Url::parse(&rec.recording_url) {
        Ok(u) if u.scheme() == "https" && u.host_str().is_some() => u.into(),
        _ => return Err(Error::validation("recording_url", "an https URL")),
    };
    if session.status == SessionStatus::Cancelled {
        return Err(Error::conflict("live_session_cancelled", "A cancelled session has no recording."));
    }
    if cx.ms_of(&session.starts_at).unwrap_or(i64::MAX) > cx.now_ms() {
        return Err(Error::conflict("live_session_not_started", "A recording is attached once the session has started."));
    }
    session.recording_url = Some(recording_url);
    session.updated_at = cx.now();
    let members = cx.group_members(&session.cohort_id)?.unwrap_or_default();
    let subject = format!("Recording: {}", session.title);
    let text = format!("The recording of {} ({}) is ready: {}", session.title, session.starts_at, session.recording_url.as_deref().unwrap_or_default());
    mail_members(cx, &members, &subject, &text, None)?;
    cx.db().execute(
        "UPDATE learn_live_sessions SET recording_url = ?1, updated_at = ?2 WHERE id = ?3",
        &[&session.recording_url, &session.updated_at, &session.id],
    )?;
    Ok(Json(session))
}

/// Mails each active member on their own (no member sees another's address); how many.
fn mail_members(cx: &Ctx, members: &[String], subject: &str, text: &str, calendar: Option<(&str, &[u8])>) -> Result<usize> {
    let mut sent = 0;
    for chunk in members.chunks(100) {
        for user in cx.users(chunk)? {
            if user.email.is_none() {
                continue;
            }
            let mut mail = Mail::new(subject, text).to_user(&user.id);
            if let Some((content_type, bytes)) = calendar {
                mail = mail.attach("invite.ics", content_type, bytes.to_vec());
            }
            cx.send_mail(mail)?;
            sent += 1;
        }
    }
    Ok(sent)
}

fn host_name(cx: &Ctx) -> String {
    let host = cx.header("host").unwrap_or("localhost");
    host.rsplit_once(':').map_or(host, |(h, _)| h).to_ascii_lowercase()
}

fn utc(cx: &Ctx, time: &str) -> Result<DateTime<Utc>> {
    cx.ms_of(time).and_then(DateTime::from_timestamp_millis).ok_or_else(|| Error::internal(format!("a stored time that does not parse: {time}")))
}

/// The session as an iTIP message (`REQUEST` or `CANCEL`).
fn ics(cx: &Ctx, session: &LiveSession, method: &str) -> Result<Vec<u8>> {
    let mut event = Event::new();
    event
        .uid(&session.uid)
        .sequence(session.sequence as u32)
        .timestamp(utc(cx, &cx.now())?)
        .starts(utc(cx, &session.starts_at)?)
        .ends(utc(cx, &session.ends_at)?)
        .summary(&session.title)
        .location(&session.join_url)
        .url(&session.join_url)
        .add_property("ORGANIZER", format!("mailto:no-reply@{}", host_name(cx)))
        .status(if method == "CANCEL" { EventStatus::Cancelled } else { EventStatus::Confirmed });
    if !session.description.is_empty() {
        event.description(&session.description);
    }
    let mut calendar = Calendar::empty();
    calendar
        .append_property(("VERSION", "2.0"))
        .append_property(("PRODID", "-//Mobieus//Learn//EN"))
        .append_property(("METHOD", method))
        .push(event.done());
    Ok(calendar.done().to_string().into_bytes())
}

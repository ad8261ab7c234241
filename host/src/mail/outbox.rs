//! The outbox's rows: a message checked and queued in the caller's write transaction, the due
//! ones as the worker builds them, their outcome, and the listing operators read.

use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use tenants::db::Write;

use crate::time::to_rfc3339;

pub const MAX_RECIPIENTS: usize = 50;
pub const MAX_SUBJECT: usize = 998;
pub const MAX_TEXT: usize = 1 << 20;
pub const MAX_HTML: usize = 2 << 20;
pub const MAX_ATTACHMENTS: usize = 10 << 20;

pub struct NewAttachment {
    pub filename: String,
    pub content_type: String,
    pub content: Vec<u8>,
}

/// A message to queue; `to` are mailboxes (`ada@example.com`, `Ada <ada@example.com>`).
pub struct NewMail {
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    pub attachments: Vec<NewAttachment>,
}

/// What a plugin is told when a message cannot be queued.
pub fn check(m: &NewMail) -> Result<(), String> {
    if m.to.is_empty() || m.to.len() > MAX_RECIPIENTS {
        return Err(format!("a message has 1 to {MAX_RECIPIENTS} recipients"));
    }
    for to in &m.to {
        to.parse::<Mailbox>()
            .map_err(|e| format!("`{to}` is not an address: {e}"))?;
    }
    if m.subject.len() > MAX_SUBJECT || m.subject.chars().any(char::is_control) {
        return Err(format!(
            "the subject is one line of at most {MAX_SUBJECT} bytes"
        ));
    }
    if m.text.len() > MAX_TEXT || m.html.as_ref().is_some_and(|h| h.len() > MAX_HTML) {
        return Err(format!(
            "the text is at most {MAX_TEXT} bytes and the HTML {MAX_HTML}"
        ));
    }
    let mut total = 0;
    for a in &m.attachments {
        if a.filename.is_empty()
            || a.filename.len() > 255
            || a.filename
                .chars()
                .any(|c| c.is_control() || c == '/' || c == '\\')
        {
            return Err(format!("`{}` is not an attachment's file name", a.filename));
        }
        ContentType::parse(&a.content_type)
            .map_err(|_| format!("`{}` is not a content type", a.content_type))?;
        total += a.content.len();
    }
    if total > MAX_ATTACHMENTS {
        return Err(format!(
            "the attachments are {total} bytes; at most {MAX_ATTACHMENTS} in all"
        ));
    }
    Ok(())
}

/// Queues a checked message, due now; returns its id. The worker hears of it after the commit.
pub fn queue(w: &mut Write<'_>, plugin: &str, m: &NewMail) -> rusqlite::Result<String> {
    let id = format!("mail_{}", w.new_ulid());
    let now = chrono::Utc::now();
    w.prepare_cached(
        "INSERT INTO mail_outbox (id, plugin, recipients, subject, text, html, status, next_attempt_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8)",
    )?
    .execute(params![
        id,
        plugin,
        serde_json::to_string(&m.to).unwrap_or_default(),
        m.subject,
        m.text,
        m.html,
        now.timestamp_millis(),
        to_rfc3339(&now)
    ])?;
    for (position, a) in m.attachments.iter().enumerate() {
        w.prepare_cached(
            "INSERT INTO mail_attachments (mail_id, position, filename, content_type, content) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![id, position as i64, a.filename, a.content_type, a.content])?;
    }
    w.after_commit(super::SIGNAL);
    Ok(id)
}

/// A queued message as operators see it.
#[derive(Debug, Serialize)]
pub struct Queued {
    pub id: String,
    pub plugin: String,
    pub to: Vec<String>,
    pub subject: String,
    /// `pending`, `sent`, `written` (no SMTP server: see `eml_path`) or `failed`.
    pub status: String,
    pub attempt_count: u32,
    pub last_error: Option<String>,
    pub eml_path: Option<String>,
    pub created_at: String,
    pub sent_at: Option<String>,
}

/// The newest `limit` messages.
pub fn list(conn: &Connection, limit: u32) -> rusqlite::Result<Vec<Queued>> {
    conn.prepare_cached(
        "SELECT id, plugin, recipients, subject, status, attempt_count, last_error, eml_path, created_at, sent_at
         FROM mail_outbox ORDER BY id DESC LIMIT ?1",
    )?
    .query_map([limit], |r| {
        let to: String = r.get(2)?;
        Ok(Queued {
            id: r.get(0)?,
            plugin: r.get(1)?,
            to: serde_json::from_str(&to).unwrap_or_default(),
            subject: r.get(3)?,
            status: r.get(4)?,
            attempt_count: r.get(5)?,
            last_error: r.get(6)?,
            eml_path: r.get(7)?,
            created_at: r.get(8)?,
            sent_at: r.get(9)?,
        })
    })?
    .collect()
}

/// A due message, as the worker sends it.
pub struct Outgoing {
    pub id: String,
    pub mail: NewMail,
    pub attempt_count: u32,
}

/// Up to `limit` messages due at `now`, oldest first.
pub fn due(conn: &Connection, now: i64, limit: u32) -> rusqlite::Result<Vec<Outgoing>> {
    let heads: Vec<(String, String, String, String, Option<String>, u32)> = conn
        .prepare_cached(
            "SELECT id, recipients, subject, text, html, attempt_count FROM mail_outbox
             WHERE status = 'pending' AND next_attempt_at <= ?1 ORDER BY next_attempt_at LIMIT ?2",
        )?
        .query_map(params![now, limit], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    heads
        .into_iter()
        .map(|(id, to, subject, text, html, attempt_count)| {
            let attachments = conn
                .prepare_cached(
                    "SELECT filename, content_type, content FROM mail_attachments WHERE mail_id = ?1 ORDER BY position",
                )?
                .query_map([&id], |r| {
                    Ok(NewAttachment {
                        filename: r.get(0)?,
                        content_type: r.get(1)?,
                        content: r.get(2)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(Outgoing {
                id,
                mail: NewMail {
                    to: serde_json::from_str(&to).unwrap_or_default(),
                    subject,
                    text,
                    html,
                    attachments,
                },
                attempt_count,
            })
        })
        .collect()
}

/// When the file's next pending message is due: one probe of the index.
pub fn earliest(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT min(next_attempt_at) FROM mail_outbox WHERE status = 'pending'")?
        .query_row([], |r| r.get(0))
        .optional()
        .map(Option::flatten)
}

/// The RFC 5322 message: text (and HTML as its alternative), then the attachments. Its
/// Message-ID is the outbox id, so a retry is the same message.
pub fn build(from: &Mailbox, out: &Outgoing) -> Result<Message, String> {
    let m = &out.mail;
    let mut builder = Message::builder()
        .from(from.clone())
        .subject(m.subject.clone())
        .message_id(Some(format!("<{}@mobieus>", out.id)));
    for to in &m.to {
        builder = builder.to(to.parse::<Mailbox>().map_err(|e| e.to_string())?);
    }
    let text = || SinglePart::plain(m.text.clone());
    let message = if m.attachments.is_empty() {
        match &m.html {
            None => builder.singlepart(text()),
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                m.text.clone(),
                html.clone(),
            )),
        }
    } else {
        let mut mixed = match &m.html {
            None => MultiPart::mixed().singlepart(text()),
            Some(html) => MultiPart::mixed().multipart(MultiPart::alternative_plain_html(
                m.text.clone(),
                html.clone(),
            )),
        };
        for a in &m.attachments {
            let content_type = ContentType::parse(&a.content_type).map_err(|e| e.to_string())?;
            mixed = mixed.singlepart(
                Attachment::new(a.filename.clone()).body(a.content.clone(), content_type),
            );
        }
        builder.multipart(mixed)
    };
    message.map_err(|e| e.to_string())
}

/// What became of one attempt.
pub enum Outcome {
    Sent,
    Written(String),
    Failed(String),
}

/// Records an attempt and its consequence: sent or written, retried after the schedule's next
/// wait, or failed after its last.
pub fn record(
    w: &mut Write<'_>,
    out: &Outgoing,
    outcome: &Outcome,
    retry: &[std::time::Duration],
) -> rusqlite::Result<()> {
    let now = chrono::Utc::now();
    let attempt = format!("matt_{}", w.new_ulid());
    let error = match outcome {
        Outcome::Failed(why) => Some(why.as_str()),
        _ => None,
    };
    w.prepare_cached(
        "INSERT INTO mail_attempts (id, mail_id, attempted_at, ok, error) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![attempt, out.id, to_rfc3339(&now), error.is_none(), error])?;
    let attempts = out.attempt_count + 1;
    match outcome {
        Outcome::Sent | Outcome::Written(_) => {
            let (status, path) = match outcome {
                Outcome::Written(path) => ("written", Some(path.as_str())),
                _ => ("sent", None),
            };
            w.prepare_cached(
                "UPDATE mail_outbox SET status = ?2, attempt_count = ?3, next_attempt_at = NULL, last_error = NULL,
                     eml_path = ?4, sent_at = ?5 WHERE id = ?1",
            )?
            .execute(params![out.id, status, attempts, path, to_rfc3339(&now)])?;
        }
        Outcome::Failed(why) => {
            let next = retry
                .get(out.attempt_count as usize)
                .map(|wait| now.timestamp_millis() + wait.as_millis() as i64);
            let status = if next.is_some() { "pending" } else { "failed" };
            w.prepare_cached(
                "UPDATE mail_outbox SET status = ?2, attempt_count = ?3, next_attempt_at = ?4, last_error = ?5 WHERE id = ?1",
            )?
            .execute(params![out.id, status, attempts, next, why])?;
        }
    }
    Ok(())
}

//! Delivers the outbox of each tenant file when it is due ([`crate::schedule`]): each message is
//! built, sent over SMTP (or written as an `.eml` file when none is configured) outside any
//! transaction, and its attempt recorded in one write job. At least once: a crash between the
//! send and the record sends it again.

use std::path::PathBuf;
use std::sync::Arc;

use lettre::Transport;
use tenants::{DbId, Env};

use crate::error::ApiError;
use crate::mail::Mail;
use crate::mail::outbox::{self, Outcome, Outgoing};
use crate::schedule;

/// Messages one file sends in a row before the worker looks again.
const BATCH: u32 = 32;

#[derive(Clone)]
pub struct MailWorker {
    pub store: Arc<tenants::Store>,
    pub mail: Arc<Mail>,
    pub work: crate::shutdown::Work,
}

/// Starts the worker. Call once, inside the runtime.
pub fn start(state: MailWorker) {
    let (store, due, work) = (
        state.store.clone(),
        state.mail.due.clone(),
        state.work.clone(),
    );
    schedule::start(store, due, work, "mail", move |id| {
        let state = state.clone();
        async move {
            match tokio::task::spawn_blocking(move || deliver(&state, &id)).await {
                Ok(Ok(next)) => next,
                Ok(Err(e)) => {
                    tracing::error!("mail: {e}");
                    Some(schedule::now_ms() + 5_000)
                }
                Err(e) => {
                    tracing::error!("mail: {e}");
                    Some(schedule::now_ms() + 5_000)
                }
            }
        }
    });
}

/// Sends what is due in one file; returns when its next message is due.
fn deliver(state: &MailWorker, id: &DbId) -> Result<Option<i64>, ApiError> {
    let Some(tenant) = state.store.registry().get_by_id(&id.tenant_id)? else {
        return Ok(None);
    };
    state.mail.due.mark(&state.store, id)?;
    let db = state.store.db(&tenant, id.env)?;
    let dir = state
        .store
        .tenant_dir(&tenant)
        .join("mail")
        .join(id.env.as_str());
    loop {
        let now = schedule::now_ms();
        let batch = db.read(|conn| Ok::<_, ApiError>(outbox::due(conn, now, BATCH)?))?;
        let full = batch.len() as u32 == BATCH;
        for out in batch {
            if state.work.is_stopping() {
                // The rest waits for the next start.
                return Ok(Some(0));
            }
            let outcome = send(&state.mail, &dir, &out);
            if let Outcome::Failed(why) = &outcome {
                tracing::warn!(tenant = %tenant.slug, mail = %out.id, attempt = out.attempt_count + 1, "mail not sent: {why}");
            }
            let retry = state.mail.config.retry.clone();
            let counted = match &outcome {
                Outcome::Sent => "sent",
                Outcome::Written(_) => "written",
                Outcome::Failed(_) if retry.len() > out.attempt_count as usize => "retrying",
                Outcome::Failed(_) => "failed",
            };
            db.write(move |w| Ok::<_, ApiError>(outbox::record(w, &out, &outcome, &retry)?))?;
            crate::metrics::mail_send(counted);
        }
        if !full {
            break;
        }
    }
    db.read(|conn| Ok::<_, ApiError>(outbox::earliest(conn)?))
}

fn send(mail: &Mail, dir: &std::path::Path, out: &Outgoing) -> Outcome {
    let message = match outbox::build(&mail.config.from, out) {
        Ok(message) => message,
        Err(why) => return Outcome::Failed(format!("cannot be built: {why}")),
    };
    match &mail.transport {
        Some(smtp) => match smtp.send(&message) {
            Ok(_) => Outcome::Sent,
            Err(e) => Outcome::Failed(e.to_string()),
        },
        None => match write_eml(dir, &out.id, &message.formatted()) {
            Ok(path) => Outcome::Written(path.display().to_string()),
            Err(e) => Outcome::Failed(format!("writing the .eml file: {e}")),
        },
    }
}

/// `<tenant dir>/mail/<env>/<id>.eml`, whole or not at all.
fn write_eml(dir: &std::path::Path, id: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{id}.eml"));
    let tmp = dir.join(format!(".{id}.eml.tmp"));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// The live and sandbox files' mail, newest first, for the CLI and the console.
pub fn listing(
    store: &tenants::Store,
    tenant: &tenants::Tenant,
    env: Env,
    limit: u32,
) -> tenants::Result<Vec<outbox::Queued>> {
    let db = store.db(tenant, env)?;
    db.read(|conn| Ok(outbox::list(conn, limit)?))
}

//! `on-event`: plugins react to events of other surfaces, after they commit, at least once.
//!
//! The event log is the queue. Each plugin has a cursor per tenant file (`plugin_cursors`); a
//! drain reads the events after it whose types the plugin subscribed to and, for each, runs the
//! plugin's `on-event` in one writer job that also advances the cursor: the handler's writes, the
//! events it emits and the cursor commit together. A handler that fails is retried with a delay;
//! after `MAX_FAILURES` in a row the event is skipped (logged, and its error kept on the cursor)
//! so one bad event cannot stall the plugin for ever.
//!
//! A commit that appended events wakes the drain of that file (the `tenants` commit hook). A
//! plugin's cursor starts at the end of the log the first time the drain meets it: it sees events
//! from then on, not history.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{OptionalExtension, params};
use tenants::{DbId, Env};

use crate::app::AppState;
use crate::error::{ApiError, Result};
use crate::event_log::{self, Event};
use crate::plugins::bindings::types;
use crate::plugins::registry::LoadedPlugin;
use crate::plugins::runtime::CallError;
use crate::plugins::sandbox::{Installed, Mode};
use crate::plugins::state::{Call, Tx};

pub const MAX_FAILURES: u32 = 5;
const BATCH: i64 = 100;

/// Wakes drains; owned by the app.
pub type Dispatcher = crate::wakeups::Wakeups;

/// Starts the dispatcher. Call once, inside the runtime.
pub fn start(state: AppState) {
    let Some(mut inbox) = state.plugin_events.take() else {
        return;
    };
    tokio::spawn(async move {
        let running: Arc<Mutex<HashSet<DbId>>> = Arc::default();
        let again: Arc<Mutex<HashSet<DbId>>> = Arc::default();
        while let Some(id) = inbox.recv().await {
            if state
                .plugins
                .current()
                .plugins
                .iter()
                .all(|p| p.manifest.subscriptions.is_empty())
            {
                continue;
            }
            if !running
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id.clone())
            {
                again.lock().unwrap_or_else(|e| e.into_inner()).insert(id);
                continue;
            }
            let (state, running, again) = (state.clone(), running.clone(), again.clone());
            tokio::spawn(async move {
                loop {
                    let retry = drain(&state, &id).await;
                    let more = again.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                    match retry {
                        Some(delay) if !more => tokio::time::sleep(delay).await,
                        _ if more => continue,
                        _ => break,
                    }
                }
                running
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
            });
        }
    });
}

/// Delivers what is pending in one file. `Some(delay)` when a handler failed and should be
/// retried after `delay`.
async fn drain(state: &AppState, id: &DbId) -> Option<Duration> {
    let set = state.plugins.current();
    let blocking = state.clone();
    let target = id.clone();
    let subscribers: Vec<Arc<LoadedPlugin>> = set
        .plugins
        .iter()
        .filter(|p| !p.manifest.subscriptions.is_empty())
        .cloned()
        .collect();
    let found =
        tokio::task::spawn_blocking(move || enabled_subscribers(&blocking, &target, subscribers))
            .await;
    let (db, plugins) = match found {
        Ok(Ok(Some(found))) => found,
        Ok(Ok(None)) => return None,
        Ok(Err(e)) => {
            tracing::error!(tenant = %id.tenant_id, "on-event: {e}");
            return Some(Duration::from_secs(5));
        }
        Err(e) => {
            tracing::error!("on-event: {e}");
            return Some(Duration::from_secs(5));
        }
    };
    let mut retry = None;
    for plugin in plugins {
        loop {
            let (p, s) = (plugin.clone(), state.clone());
            match db.write_async(move |w| step(w, &s, &p)).await {
                Ok(Step::Handled) => continue,
                Ok(Step::Idle) => break,
                Ok(Step::Failed(failures)) => {
                    retry = Some(Duration::from_millis(200 * 2u64.pow(failures.min(6))));
                    break;
                }
                Err(e) => {
                    tracing::error!(plugin = %plugin.manifest.name, "on-event: {e}");
                    retry = Some(Duration::from_secs(5));
                    break;
                }
            }
        }
    }
    retry
}

type Found = Option<(Arc<tenants::TenantDb>, Vec<Arc<LoadedPlugin>>)>;

/// The subscribers the tenant has on, and the file.
fn enabled_subscribers(
    state: &AppState,
    id: &DbId,
    subscribers: Vec<Arc<LoadedPlugin>>,
) -> Result<Found> {
    let Some(tenant) = state.store.registry().get_by_id(&id.tenant_id)? else {
        return Ok(None);
    };
    let live = state.store.db(&tenant, Env::Live)?;
    let settings = live.read(|conn| Ok::<_, ApiError>(crate::settings::load(conn)?))?;
    let on = subscribers
        .into_iter()
        .filter(|p| settings.plugin_on(&p.manifest.name, p.enabled_by_default()))
        .collect();
    Ok(Some((state.store.db(&tenant, id.env)?, on)))
}

enum Step {
    Handled,
    Idle,
    Failed(u32),
}

/// One event for one plugin, in one writer job: find the next event after its cursor, run
/// `on-event`, advance the cursor.
fn step(
    w: &mut tenants::db::Write<'_>,
    state: &AppState,
    plugin: &LoadedPlugin,
) -> std::result::Result<Step, ApiError> {
    let name = &plugin.manifest.name;
    let cursor: Option<(String, u32)> = w
        .prepare_cached("SELECT last_event_id, failures FROM plugin_cursors WHERE plugin = ?1")?
        .query_row([name], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((after, failures)) = cursor else {
        // First meeting: start at the end of the log.
        let end: String =
            w.query_row("SELECT COALESCE(MAX(id), '') FROM events", [], |r| r.get(0))?;
        w.execute(
            "INSERT INTO plugin_cursors (plugin, last_event_id) VALUES (?1, ?2)",
            params![name, end],
        )?;
        return Ok(Step::Idle);
    };
    let subs = &plugin.manifest.subscriptions;
    let marks = vec!["?"; subs.len()].join(", ");
    let sql = format!(
        "SELECT {} FROM events WHERE id > ? AND type IN ({marks}) ORDER BY id LIMIT {BATCH}",
        event_log::COLUMNS
    );
    let mut args: Vec<String> = vec![after.clone()];
    args.extend(subs.iter().cloned());
    let next: Option<Event> = w
        .prepare_cached(&sql)?
        .query_row(rusqlite::params_from_iter(&args), event_log::from_row)
        .optional()?;
    let Some(event) = next else {
        return Ok(Step::Idle);
    };
    let wit_event = types::Event {
        id: event.id.clone(),
        event_type: event.kind.clone(),
        created_at: event.created_at.clone(),
        data: event.data.get().to_owned(),
    };
    w.execute("SAVEPOINT on_event", [])?;
    let outcome = {
        let sandbox = Installed::new(w.connection(), name, Mode::Write)?;
        let call = Call {
            plugin: name.clone(),
            declared_events: plugin.events.clone(),
            tx: Tx::Write((w as *mut tenants::db::Write<'_>).cast::<tenants::db::Write<'static>>()),
            rules: Some(sandbox.rules()),
            settings: Default::default(),
            request_id: format!("on-event {}", event.id),
        };
        state
            .plugins
            .runtime
            .on_event(&plugin.pre, call, &wit_event)
    };
    match outcome {
        Ok(()) => {
            w.execute("RELEASE on_event", [])?;
            w.execute(
                "UPDATE plugin_cursors SET last_event_id = ?2, failures = 0, last_error = NULL WHERE plugin = ?1",
                params![name, event.id],
            )?;
            Ok(Step::Handled)
        }
        Err(e) => {
            w.execute_batch("ROLLBACK TO on_event; RELEASE on_event")?;
            let why = match e {
                CallError::Timeout => "timed out".to_owned(),
                CallError::Failed(why) => why,
            };
            let failures = failures + 1;
            tracing::warn!(plugin = %name, event = %event.id, failures, "on-event failed: {why}");
            if failures >= MAX_FAILURES {
                tracing::error!(plugin = %name, event = %event.id, "on-event gave up on this event after {failures} failures");
                w.execute(
                    "UPDATE plugin_cursors SET last_event_id = ?2, failures = 0, last_error = ?3 WHERE plugin = ?1",
                    params![name, event.id, format!("skipped {}: {why}", event.id)],
                )?;
                return Ok(Step::Handled);
            }
            w.execute(
                "UPDATE plugin_cursors SET failures = ?2, last_error = ?3 WHERE plugin = ?1",
                params![name, failures, why],
            )?;
            Ok(Step::Failed(failures))
        }
    }
}

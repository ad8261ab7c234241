//! `on-event`: plugins react to events of other surfaces, after they commit, at least once.
//!
//! The event log is the queue. Each plugin has a cursor per tenant file (`plugin_cursors`); a
//! drain reads the events after it whose types the plugin subscribed to and, for each, runs the
//! plugin's `on-event` in one writer job that also advances the cursor: the handler's writes, the
//! events it emits and the cursor commit together. A handler that fails is retried with a delay;
//! after `MAX_FAILURES` in a row the event is skipped (logged, and its error kept on the cursor)
//! so one bad event cannot stall the plugin for ever.
//!
//! Bounded so no plugin holds a tenant's writer in a loop: a drain gives each plugin a turn of at
//! most [`TURN`] events before the next plugin's, so a long backlog or a storm of one plugin's
//! events delays the others' by one turn, not until it ends; a plugin whose handler fails waits a
//! backoff that doubles with each failure in a row (across events, up to [`MAX_BACKOFF`]) before
//! it runs again in that file; and the events a handler emits are capped per call and in chain
//! depth ([`crate::plugins::state::Emits`]).
//!
//! A commit that appended events wakes the drain of that file (the `tenants` commit hook). A
//! plugin's cursor starts at the end of the log the first time the drain meets it: it sees events
//! from then on, not history.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{OptionalExtension, params};
use tenants::{DbId, Env};

use crate::error::{ApiError, Result};
use crate::event_log::{self, Event};
use crate::files::blobs::Blobs;
use crate::plugins::bindings::types;
use crate::plugins::reaction::{self, Reaction};
use crate::plugins::registry::LoadedPlugin;
use crate::plugins::state::{Emits, Sealing};

pub const MAX_FAILURES: u32 = 5;
const BATCH: i64 = 100;
/// Events one plugin handles in a row before the drain turns to the tenant's next plugin.
pub const TURN: usize = 16;
/// The first wait after a failed handler; it doubles with every failure in a row.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Plugins whose handler failed in a file, and until when they wait.
#[derive(Default)]
struct Backoff(Mutex<HashMap<(DbId, String), (u32, Instant)>>);

impl Backoff {
    /// How long `plugin` must still wait in `id`, if it must.
    fn waiting(&self, id: &DbId, plugin: &str) -> Option<Duration> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (_, until) = map.get(&(id.clone(), plugin.to_owned()))?;
        until.checked_duration_since(Instant::now())
    }

    /// Records a failure; returns the wait before the next try.
    fn failed(&self, id: &DbId, plugin: &str) -> Duration {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map
            .entry((id.clone(), plugin.to_owned()))
            .or_insert((0, Instant::now()));
        entry.0 = entry.0.saturating_add(1);
        let wait = FIRST_BACKOFF
            .saturating_mul(2u32.saturating_pow(entry.0 - 1))
            .min(MAX_BACKOFF);
        entry.1 = Instant::now() + wait;
        wait
    }

    fn succeeded(&self, id: &DbId, plugin: &str) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&(id.clone(), plugin.to_owned()));
    }
}

/// Wakes drains; owned by the app.
pub type Dispatcher = crate::wakeups::Wakeups;

/// What the drains need: the tenant files, the plugins, and the queue of files with new events.
#[derive(Clone)]
pub struct Drainer {
    pub store: Arc<tenants::Store>,
    pub plugins: Arc<crate::plugins::registry::Plugins>,
    pub inbox: Arc<Dispatcher>,
}

/// Starts the dispatcher. Call once, inside the runtime.
pub fn start(state: Drainer) {
    let Some(mut inbox) = state.inbox.take() else {
        return;
    };
    tokio::spawn(async move {
        let running: Arc<Mutex<HashSet<DbId>>> = Arc::default();
        let again: Arc<Mutex<HashSet<DbId>>> = Arc::default();
        let backoff: Arc<Backoff> = Arc::default();
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
            let (state, running, again, backoff) = (
                state.clone(),
                running.clone(),
                again.clone(),
                backoff.clone(),
            );
            tokio::spawn(async move {
                loop {
                    let retry = drain(&state, &id, &backoff).await;
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
async fn drain(state: &Drainer, id: &DbId, backoff: &Backoff) -> Option<Duration> {
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
    let (db, blobs, plugins, settings) = match found {
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
    let mut retry: Option<Duration> = None;
    let mut later = |wait: Duration| retry = Some(retry.map_or(wait, |r| r.min(wait)));
    let mut turn: Vec<Arc<LoadedPlugin>> = Vec::new();
    for plugin in plugins {
        match backoff.waiting(id, &plugin.manifest.name) {
            Some(wait) => later(wait),
            None => turn.push(plugin),
        }
    }
    // Round by round, each plugin with events left gets up to TURN of them.
    while !turn.is_empty() {
        let mut next_round = Vec::new();
        for plugin in turn {
            let name = &plugin.manifest.name;
            let mut more = true;
            for _ in 0..TURN {
                let (p, s, b) = (plugin.clone(), state.clone(), blobs.clone());
                let settings = Arc::new(plugin.manifest.settings_for(&settings));
                let sealing = state.plugins.sealing(&id.tenant_id, id.env);
                // Alone, as a route's write is (see `dispatch`).
                match db
                    .write_alone(move |w| step(w, &s, &p, b, settings, sealing))
                    .await
                {
                    Ok(Step::Handled) => backoff.succeeded(id, name),
                    Ok(Step::Idle) => {
                        more = false;
                        break;
                    }
                    Ok(Step::Failed) => {
                        later(backoff.failed(id, name));
                        more = false;
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(plugin = %name, "on-event: {e}");
                        later(backoff.failed(id, name));
                        more = false;
                        break;
                    }
                }
            }
            if more {
                next_round.push(plugin);
            }
        }
        turn = next_round;
    }
    retry
}

type Found = Option<(
    Arc<tenants::TenantDb>,
    Blobs,
    Vec<Arc<LoadedPlugin>>,
    Arc<crate::settings::TenantSettings>,
)>;

/// The subscribers the tenant has on, the file and its uploads.
fn enabled_subscribers(
    state: &Drainer,
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
    let blobs = Blobs::of(&state.store, &tenant, id.env);
    Ok(Some((
        state.store.db(&tenant, id.env)?,
        blobs,
        on,
        Arc::new(settings),
    )))
}

enum Step {
    Handled,
    Idle,
    Failed,
}

/// One event for one plugin, in one writer job: find the next event after its cursor, run
/// `on-event`, advance the cursor.
fn step(
    w: &mut tenants::db::Write<'_>,
    state: &Drainer,
    plugin: &LoadedPlugin,
    blobs: Blobs,
    settings: Arc<HashMap<String, String>>,
    sealing: Option<Sealing>,
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
        "SELECT {}, chain_depth FROM events WHERE id > ? AND type IN ({marks}) ORDER BY id LIMIT {BATCH}",
        event_log::COLUMNS
    );
    let mut args: Vec<String> = vec![after.clone()];
    args.extend(subs.iter().cloned());
    let next: Option<(Event, u32)> = w
        .prepare_cached(&sql)?
        .query_row(rusqlite::params_from_iter(&args), |r| {
            Ok((event_log::from_row(r)?, r.get(4)?))
        })
        .optional()?;
    let Some((event, depth)) = next else {
        return Ok(Step::Idle);
    };
    let limits = &state.plugins.runtime.limits;
    let wit_event = types::Event {
        id: event.id.clone(),
        event_type: event.kind.clone(),
        created_at: event.created_at.clone(),
        data: event.data.get().to_owned(),
    };
    let reaction = Reaction {
        request_id: format!("on-event {}", event.id),
        emits: Emits::reaction(limits, depth),
        blobs: Some(blobs),
        settings,
        sealing,
    };
    let outcome = reaction::run(w, &state.plugins, plugin, reaction, |runtime, pre, call| {
        runtime.on_event(pre, call, &wit_event)
    })?;
    match outcome {
        Ok(()) => {
            w.execute(
                "UPDATE plugin_cursors SET last_event_id = ?2, failures = 0, last_error = NULL WHERE plugin = ?1",
                params![name, event.id],
            )?;
            Ok(Step::Handled)
        }
        Err(why) => {
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
            Ok(Step::Failed)
        }
    }
}

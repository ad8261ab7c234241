//! Plugin timers (contract 1.1 `timers`): rows in the tenant file (`plugin_timers`), set in the
//! transaction of the call that set them, and a worker that fires them through `on-timer`.
//!
//! The worker ([`crate::schedule`]) keeps, per tenant file with timers, the time its earliest
//! timer is due: one probe of the `due_at` index, and a sleep until then. Idle timers cost
//! nothing but their rows: 100,000 pending timers are one index probe per due check. A due timer is fired in one writer job: the row is
//! deleted and `on-timer` runs in a savepoint, so the call's writes and the deletion commit
//! together (a timer the handler sets again under its own key survives); a failed call keeps the
//! row, pushed back by a backoff, and after [`MAX_ATTEMPTS`] it is dropped with a log line. At
//! least once: a crash after the call and before the commit fires it again.
//!
//! A tenant file is marked in the registry (`timer_targets`) before a route of a plugin that
//! declares `timers` first writes to it, and when the worker first looks at it (a reaction's
//! timer), so the worker finds it again after a restart.

use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};
use tenants::db::Write;
use tenants::{DbId, Env};

use crate::error::ApiError;
use crate::files::blobs::Blobs;
use crate::plugins::bindings::types;
use crate::plugins::capabilities::Capability;
use crate::plugins::reaction::{self, Reaction};
use crate::plugins::registry::Plugins;
use crate::plugins::state::{Emits, Sealing};
use crate::schedule::{self, Due};
use crate::settings::TenantSettings;

/// Raised by a write that set a timer.
pub const SIGNAL: &str = "plugin_timers";
pub const MAX_KEY: usize = 200;
pub const MAX_PAYLOAD: usize = 64 << 10;
pub const MAX_ATTEMPTS: u32 = 8;
/// Timers one file fires in a row before the worker looks at other files.
const TURN: usize = 32;
/// How long a timer of a plugin that is off (or gone) waits before it is looked at again.
const POSTPONE_MS: i64 = 60_000;

pub fn check(key: &str, payload: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > MAX_KEY {
        return Err(format!("a timer key is 1 to {MAX_KEY} bytes"));
    }
    if payload.len() > MAX_PAYLOAD {
        return Err(format!(
            "the payload is {} bytes; at most {MAX_PAYLOAD} are allowed",
            payload.len()
        ));
    }
    Ok(())
}

/// Sets (or replaces) `plugin`'s timer `key`.
pub fn set(
    w: &mut Write<'_>,
    plugin: &str,
    key: &str,
    at_ms: i64,
    payload: &str,
) -> rusqlite::Result<()> {
    w.prepare_cached(
        "INSERT INTO plugin_timers (plugin, key, at_ms, due_at, payload) VALUES (?1, ?2, ?3, ?3, ?4)
         ON CONFLICT (plugin, key) DO UPDATE SET at_ms = excluded.at_ms, due_at = excluded.due_at,
             payload = excluded.payload, attempts = 0, last_error = NULL",
    )?
    .execute(params![plugin, key, at_ms, payload])?;
    w.after_commit(SIGNAL);
    Ok(())
}

pub fn cancel(w: &mut Write<'_>, plugin: &str, key: &str) -> rusqlite::Result<bool> {
    let n = w
        .prepare_cached("DELETE FROM plugin_timers WHERE plugin = ?1 AND key = ?2")?
        .execute(params![plugin, key])?;
    Ok(n > 0)
}

/// When the file's earliest timer is due: one probe of the index.
fn earliest(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT min(due_at) FROM plugin_timers")?
        .query_row([], |r| r.get(0))
}

/// What the worker needs.
#[derive(Clone)]
pub struct TimerWorker {
    pub store: Arc<tenants::Store>,
    pub plugins: Arc<Plugins>,
    pub due: Arc<Due>,
    pub work: crate::shutdown::Work,
}

/// Starts the worker. Call once, inside the runtime.
pub fn start(state: TimerWorker) {
    let (store, due, work) = (state.store.clone(), state.due.clone(), state.work.clone());
    schedule::start(store, due, work, "timer", move |id| {
        let state = state.clone();
        async move { fire(&state, &id).await }
    });
}

enum Step {
    Fired,
    /// Nothing due; the earliest timer left, if any.
    Idle(Option<i64>),
}

/// Fires what is due in one file, a turn's worth; returns when to look again.
async fn fire(state: &TimerWorker, id: &DbId) -> Option<i64> {
    let (blocking, target) = (state.clone(), id.clone());
    let found = tokio::task::spawn_blocking(move || open(&blocking, &target)).await;
    let (db, blobs, settings) = match found {
        Ok(Ok(Some(found))) => found,
        Ok(Ok(None)) => return None,
        Ok(Err(e)) => {
            tracing::error!(tenant = %id.tenant_id, "timers: {e}");
            return Some(schedule::now_ms() + 5_000);
        }
        Err(e) => {
            tracing::error!("timers: {e}");
            return Some(schedule::now_ms() + 5_000);
        }
    };
    for _ in 0..TURN {
        if state.work.is_stopping() {
            return Some(0);
        }
        let (s, b, e) = (state.clone(), blobs.clone(), settings.clone());
        let sealing = state.plugins.sealing(&id.tenant_id, id.env);
        // Alone, as a route's write is: a write past the plugin quota abandons the transaction.
        match db
            .write_alone(move |w| step(w, &s.plugins, &b, &e, sealing))
            .await
        {
            Ok(Step::Fired) => {}
            Ok(Step::Idle(next)) => return next,
            Err(e) => {
                tracing::warn!(tenant = %id.tenant_id, "timers: {e}");
                return Some(schedule::now_ms() + 1_000);
            }
        }
    }
    Some(0)
}

type Opened = Option<(Arc<tenants::TenantDb>, Blobs, Arc<TenantSettings>)>;

/// The file, its uploads, and the tenant's settings (which plugins it has on, and theirs).
fn open(state: &TimerWorker, id: &DbId) -> Result<Opened, ApiError> {
    let Some(tenant) = state.store.registry().get_by_id(&id.tenant_id)? else {
        return Ok(None);
    };
    state.due.mark(&state.store, id)?;
    let live = state.store.db(&tenant, Env::Live)?;
    let settings = live.read(|conn| Ok::<_, ApiError>(crate::settings::load(conn)?))?;
    let blobs = Blobs::of(&state.store, &tenant, id.env);
    Ok(Some((
        state.store.db(&tenant, id.env)?,
        blobs,
        Arc::new(settings),
    )))
}

/// Fires the earliest due timer of the file, in one writer job.
fn step(
    w: &mut Write<'_>,
    plugins: &Plugins,
    blobs: &Blobs,
    settings: &TenantSettings,
    sealing: Option<Sealing>,
) -> Result<Step, ApiError> {
    let now = schedule::now_ms();
    let next: Option<(String, String, i64, String, u32)> = w
        .prepare_cached(
            "SELECT plugin, key, at_ms, payload, attempts FROM plugin_timers
             WHERE due_at <= ?1 ORDER BY due_at LIMIT 1",
        )?
        .query_row([now], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?;
    let Some((name, key, at_ms, payload, attempts)) = next else {
        return Ok(Step::Idle(earliest(w)?));
    };
    let set = plugins.current();
    let plugin = set
        .get(&name)
        .filter(|p| settings.plugin_on(&p.manifest.name, p.enabled_by_default()))
        .filter(|p| p.manifest.capabilities.contains(Capability::Timers));
    let Some(plugin) = plugin else {
        // Off, gone, or no longer declaring timers: kept for when it is back.
        w.prepare_cached("UPDATE plugin_timers SET due_at = ?3 WHERE plugin = ?1 AND key = ?2")?
            .execute(params![name, key, now + POSTPONE_MS])?;
        return Ok(Step::Fired);
    };
    crate::plugins::migrate::ensure(w, plugin, &plugins.runtime.limits)
        .map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
    w.prepare_cached("DELETE FROM plugin_timers WHERE plugin = ?1 AND key = ?2")?
        .execute(params![name, key])?;
    let timer = types::Timer {
        key: key.clone(),
        at_ms,
        payload: payload.clone(),
    };
    let reaction = Reaction {
        request_id: format!("on-timer {name}/{key}"),
        emits: Emits::reaction(&plugins.runtime.limits, 0),
        blobs: Some(blobs.clone()),
        settings: Arc::new(plugin.manifest.settings_for(settings)),
        sealing,
    };
    let outcome = reaction::run(w, plugins, plugin, reaction, |runtime, pre, call| {
        runtime.on_timer(pre, call, &timer)
    })?;
    let Err(why) = outcome else {
        return Ok(Step::Fired);
    };
    let attempts = attempts + 1;
    tracing::warn!(plugin = %name, timer = %key, attempts, "on-timer failed: {why}");
    if attempts >= MAX_ATTEMPTS {
        // The DELETE above stands: the timer is dropped.
        tracing::error!(plugin = %name, timer = %key, "on-timer gave up on this timer after {attempts} failures");
        return Ok(Step::Fired);
    }
    let backoff = 1_000i64.saturating_mul(1 << attempts.min(12));
    // Put back, unless the failed call's rollback already did (it undid only its own writes).
    w.prepare_cached(
        "INSERT INTO plugin_timers (plugin, key, at_ms, due_at, payload, attempts, last_error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        name,
        key,
        at_ms,
        now + backoff,
        payload,
        attempts,
        why
    ])?;
    Ok(Step::Fired)
}

//! The delivery worker. One scheduler task keeps, per tenant file with webhooks, the time its next
//! delivery is due. A poll of a file (one at a time per file) takes the due deliveries of each
//! enabled endpoint that has free capacity, leases them (pushes their due time past the attempt
//! timeout, so a crash mid-attempt only delays them: at least once), and starts one task per
//! attempt. An attempt signs and sends, then records itself and its consequences (retry, failure,
//! disable, events) in one write job; the tenant writer batches these records.
//!
//! Wake-ups come from commits that create or re-arm deliveries (the `tenants` commit hook), from
//! finished attempts (capacity freed), and from the clock.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use rusqlite::{OptionalExtension, params};
use serde_json::json;
use tenants::db::Write;
use tenants::{DbId, TenantDb};
use tokio::sync::mpsc;

use crate::error::Result;
use crate::event_log;
use crate::ssrf;
use crate::time::to_rfc3339;
use crate::webhooks::store::{self, Secrets};
use crate::webhooks::{DELIVERY_FAILED, DISABLED, Msg, WebhookConfig, retry, sign};

/// How long a taken delivery stays invisible to other polls: the attempt's timeout and a margin.
fn lease(config: &WebhookConfig) -> Duration {
    config.timeout + Duration::from_secs(5)
}

/// Attempts in flight, in total and per endpoint.
#[derive(Default)]
struct InFlight {
    total: usize,
    per_endpoint: HashMap<String, usize>,
}

struct Job {
    delivery_id: String,
    endpoint_id: String,
    url: String,
    secrets: Secrets,
    event_id: String,
    body: String,
}

/// What the worker needs: the tenant files, and the webhook service (its client, guard, inbox).
#[derive(Clone)]
pub struct Worker {
    pub store: Arc<tenants::Store>,
    pub webhooks: Arc<super::Webhooks>,
    /// Polls and attempts are begun work: shutdown lets them finish and record themselves.
    pub work: crate::shutdown::Work,
}

/// Starts the worker. Call once, inside the runtime.
pub fn start(state: Worker) {
    let Some(inbox) = state
        .webhooks
        .inbox
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
    else {
        return;
    };
    tokio::spawn(schedule(state, inbox));
}

async fn schedule(state: Worker, mut inbox: mpsc::UnboundedReceiver<Msg>) {
    let inflight = Arc::new(Mutex::new(InFlight::default()));
    let mut due: HashMap<DbId, i64> = HashMap::new();
    let mut polling: HashSet<DbId> = HashSet::new();
    let mut again: HashSet<DbId> = HashSet::new();
    // Deliveries left pending by an earlier run: every file that has had endpoints, due now.
    // Secrets written before they were sealed are sealed first.
    let registry = state.clone();
    match tokio::task::spawn_blocking(move || {
        let targets = registry
            .store
            .registry()
            .targets(tenants::registry::Target::Webhooks)?;
        for (tenant, env) in &targets {
            let key = registry.webhooks.key.clone();
            let sealed = registry
                .store
                .db(tenant, *env)
                .and_then(|db| db.write(move |w| Ok(store::seal_plaintext_secrets(w, &key)?)));
            match sealed {
                Ok(0) => {}
                Ok(n) => tracing::info!(tenant = %tenant.slug, env = env.as_str(), "sealed {n} webhook secrets kept in plaintext"),
                Err(e) => tracing::error!(tenant = %tenant.slug, "sealing webhook secrets: {e}"),
            }
        }
        Ok::<_, tenants::Error>(targets)
    })
    .await
    {
        Ok(Ok(targets)) => {
            for (tenant, env) in targets {
                due.insert(
                    DbId {
                        tenant_id: tenant.id.clone(),
                        env,
                    },
                    0,
                );
            }
        }
        Ok(Err(e)) => tracing::error!("webhook worker: cannot list targets: {e}"),
        Err(e) => tracing::error!("webhook worker: cannot list targets: {e}"),
    }
    loop {
        let now = Utc::now().timestamp_millis();
        let ready: Vec<DbId> = due
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in ready {
            due.remove(&id);
            polling.insert(id.clone());
            state.work.begin(poll(state.clone(), inflight.clone(), id));
        }
        let in_flight = inflight.lock().unwrap_or_else(|e| e.into_inner()).total;
        crate::metrics::webhook_backlog(due.len() + polling.len(), in_flight);
        let sleep = due.values().min().map_or(Duration::from_secs(60), |at| {
            Duration::from_millis((at - now).clamp(1, 60_000) as u64)
        });
        tokio::select! {
            msg = inbox.recv() => match msg {
                None => return,
                Some(Msg::Wake(id)) => {
                    if polling.contains(&id) {
                        again.insert(id);
                    } else {
                        due.insert(id, 0);
                    }
                }
                Some(Msg::Polled(id, next)) => {
                    polling.remove(&id);
                    let next = if again.remove(&id) { Some(0) } else { next };
                    if let Some(at) = next {
                        let slot = due.entry(id).or_insert(at);
                        *slot = (*slot).min(at);
                    }
                }
            },
            _ = tokio::time::sleep(sleep) => {}
            _ = state.work.stopping() => return,
        }
    }
}

/// Takes what is due in one tenant file and starts its attempts.
async fn poll(state: Worker, inflight: Arc<Mutex<InFlight>>, id: DbId) {
    let blocking = state.clone();
    let (slots, target) = (inflight.clone(), id.clone());
    let taken = tokio::task::spawn_blocking(move || take_due(&blocking, &slots, &target)).await;
    let next = match taken {
        Ok(Ok(Some((db, jobs, next)))) => {
            for job in jobs {
                state
                    .work
                    .begin(attempt(state.clone(), inflight.clone(), db.clone(), job));
            }
            next
        }
        Ok(Ok(None)) => None,
        Ok(Err(e)) => {
            tracing::error!(tenant = %id.tenant_id, env = %id.env, "webhook poll failed: {e:#}");
            Some(Utc::now().timestamp_millis() + 5_000)
        }
        Err(e) => {
            tracing::error!("webhook poll task failed: {e}");
            Some(Utc::now().timestamp_millis() + 5_000)
        }
    };
    state.webhooks.send(Msg::Polled(id, next));
}

type Taken = Option<(Arc<TenantDb>, Vec<Job>, Option<i64>)>;

/// Blocking. `None` when the tenant is gone.
fn take_due(state: &Worker, inflight: &Mutex<InFlight>, id: &DbId) -> Result<Taken> {
    let Some(tenant) = state.store.registry().get_by_id(&id.tenant_id)? else {
        return Ok(None);
    };
    let db = state.store.db(&tenant, id.env)?;
    let config = &state.webhooks.config;
    let now = Utc::now().timestamp_millis();
    let (jobs, enabled) = db.read(|conn| -> Result<(Vec<Job>, Vec<String>)> {
        let endpoints: Vec<(String, String, Secrets)> = conn
            .prepare_cached(
                "SELECT id, url, secret, previous_secret, previous_expires_at FROM webhook_endpoints WHERE enabled = 1",
            )?
            .query_map([], |r| {
                let id: String = r.get(0)?;
                let secrets = Secrets::from_row(&state.webhooks.key, &id, r, 2)?;
                Ok((id, r.get(1)?, secrets))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let enabled = endpoints.iter().map(|(id, _, _)| id.clone()).collect();
        let mut jobs = vec![];
        let mut slots = inflight.lock().unwrap_or_else(|e| e.into_inner());
        for (endpoint_id, url, secrets) in endpoints {
            let busy = slots.per_endpoint.get(&endpoint_id).copied().unwrap_or(0);
            let free = config.per_endpoint.saturating_sub(busy).min(config.concurrency.saturating_sub(slots.total));
            if free == 0 {
                continue;
            }
            let due: Vec<(String, String, String)> = conn
                .prepare_cached(
                    "SELECT id, event_id, body FROM webhook_deliveries
                     WHERE endpoint_id = ?1 AND status = 'pending' AND next_attempt_at <= ?2
                     ORDER BY next_attempt_at LIMIT ?3",
                )?
                .query_map(params![endpoint_id, now, free as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            slots.total += due.len();
            *slots.per_endpoint.entry(endpoint_id.clone()).or_default() += due.len();
            jobs.extend(due.into_iter().map(|(delivery_id, event_id, body)| Job {
                delivery_id,
                endpoint_id: endpoint_id.clone(),
                url: url.clone(),
                secrets: secrets.clone(),
                event_id,
                body,
            }));
        }
        Ok((jobs, enabled))
    })?;
    if !jobs.is_empty() {
        let until = now + lease(config).as_millis() as i64;
        let ids: Vec<String> = jobs.iter().map(|j| j.delivery_id.clone()).collect();
        let leased = db.write(move |w| -> Result<()> {
            let mut stmt = w.prepare_cached(
                "UPDATE webhook_deliveries SET next_attempt_at = ?2 WHERE id = ?1",
            )?;
            for id in &ids {
                stmt.execute(params![id, until])?;
            }
            Ok(())
        });
        if let Err(e) = leased {
            release(inflight, &jobs);
            return Err(e);
        }
    }
    // When to look again: the earliest pending delivery of an endpoint with free capacity (a full
    // endpoint wakes the scheduler when an attempt finishes). One index probe per endpoint.
    let next: Option<i64> = db.read(|conn| -> Result<Option<i64>> {
        let slots = inflight.lock().unwrap_or_else(|e| e.into_inner());
        let mut next: Option<i64> = None;
        for endpoint in &enabled {
            if slots.per_endpoint.get(endpoint).copied().unwrap_or(0) >= config.per_endpoint {
                continue;
            }
            let first: Option<i64> = conn
                .prepare_cached(
                    "SELECT next_attempt_at FROM webhook_deliveries
                     WHERE endpoint_id = ?1 AND status = 'pending' ORDER BY next_attempt_at LIMIT 1",
                )?
                .query_row([endpoint], |r| r.get(0))
                .optional()?;
            next = match (next, first) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(next)
    })?;
    Ok(Some((db, jobs, next)))
}

fn release(inflight: &Mutex<InFlight>, jobs: &[Job]) {
    let mut slots = inflight.lock().unwrap_or_else(|e| e.into_inner());
    for job in jobs {
        slots.total = slots.total.saturating_sub(1);
        if let Some(n) = slots.per_endpoint.get_mut(&job.endpoint_id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                slots.per_endpoint.remove(&job.endpoint_id);
            }
        }
    }
}

/// What one attempt came to.
pub struct Outcome {
    pub status_code: Option<u16>,
    pub latency_ms: i64,
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub retry_after: Option<Duration>,
}

impl Outcome {
    fn succeeded(&self) -> bool {
        self.status_code.is_some_and(|s| (200..300).contains(&s))
    }

    fn gone(&self) -> bool {
        self.status_code == Some(410)
    }
}

async fn attempt(state: Worker, inflight: Arc<Mutex<InFlight>>, db: Arc<TenantDb>, job: Job) {
    let attempted_at = Utc::now();
    let outcome = send(&state.webhooks, &job).await;
    let config = state.webhooks.config.clone();
    let (delivery_id, endpoint_id) = (job.delivery_id.clone(), job.endpoint_id.clone());
    let recorded = db
        .write_async(move |w| {
            record(
                w,
                &config,
                &delivery_id,
                &endpoint_id,
                attempted_at,
                outcome,
            )
        })
        .await;
    match recorded {
        Ok(Some(settled)) => crate::metrics::webhook_attempt(settled),
        Ok(None) => {}
        Err(e) => {
            tracing::error!(delivery = %job.delivery_id, "could not record a webhook attempt: {e:#}")
        }
    }
    release(&inflight, std::slice::from_ref(&job));
    state.webhooks.send(Msg::Wake(db.id().clone()));
}

/// Signs and sends one delivery; never fails, it reports.
async fn send(webhooks: &super::Webhooks, job: &Job) -> Outcome {
    let started = Instant::now();
    let failed = |error: String, started: Instant| Outcome {
        status_code: None,
        latency_ms: started.elapsed().as_millis() as i64,
        response_body: None,
        error: Some(error),
        retry_after: None,
    };
    if let Err(refusal) = ssrf::check_url(&job.url, webhooks.guard.policy()) {
        return failed(format!("refused by the SSRF guard: {refusal}"), started);
    }
    let now = Utc::now().timestamp();
    let signature = sign::sign(
        &job.secrets.signing(now),
        &job.event_id,
        now,
        job.body.as_bytes(),
    );
    let request = webhooks
        .client
        .post(&job.url)
        .header("content-type", "application/json")
        .header("mobieus-signature", signature.mobieus_signature)
        .header("webhook-id", signature.webhook_id)
        .header("webhook-timestamp", signature.webhook_timestamp)
        .header("webhook-signature", signature.webhook_signature)
        .body(job.body.clone());
    let mut response = match request.send().await {
        Ok(r) => r,
        Err(e) => return failed(describe(&e, webhooks.config.timeout), started),
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let mut excerpt = Vec::new();
    let mut error = None;
    while excerpt.len() < 2048 {
        match response.chunk().await {
            Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => {
                error = Some(describe(&e, webhooks.config.timeout));
                break;
            }
        }
    }
    excerpt.truncate(2048);
    Outcome {
        status_code: Some(status),
        latency_ms: started.elapsed().as_millis() as i64,
        response_body: Some(String::from_utf8_lossy(&excerpt).into_owned()),
        error: error.or_else(|| {
            (!(200..300).contains(&status)).then(|| {
                if (300..400).contains(&status) {
                    format!("HTTP {status}: redirects are not followed")
                } else {
                    format!("HTTP {status}")
                }
            })
        }),
        retry_after,
    }
}

/// A readable cause: the SSRF refusal if there is one, else the innermost error.
fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("timed out after {} ms", timeout.as_millis());
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut innermost = e.to_string();
    while let Some(s) = source {
        if let Some(refusal) = s.downcast_ref::<ssrf::Refusal>() {
            return format!("refused by the SSRF guard: {refusal}");
        }
        innermost = s.to_string();
        source = s.source();
    }
    let kind = if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    format!("{kind}: {innermost}")
}

fn parse_retry_after(value: &str) -> Option<Duration> {
    let wait = match value.trim().parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at = httpdate::parse_http_date(value.trim()).ok()?;
            at.duration_since(std::time::SystemTime::now())
                .unwrap_or(Duration::ZERO)
        }
    };
    Some(wait.min(retry::MAX_RETRY_AFTER))
}

/// Records an attempt and what follows from it, in one transaction: the attempt row; the
/// delivery's new state (succeeded, retry at, failed); the endpoint's failure count; on a final
/// failure `webhook.delivery_failed`, and when the endpoint is disabled (a 410, or too many
/// failed deliveries in a row) `webhook.disabled`. Says how it settled, for the metrics (none
/// when the delivery was gone or settled meanwhile).
fn record(
    w: &mut Write<'_>,
    config: &WebhookConfig,
    delivery_id: &str,
    endpoint_id: &str,
    attempted_at: chrono::DateTime<Utc>,
    outcome: Outcome,
) -> Result<Option<&'static str>> {
    let now = Utc::now();
    let at = to_rfc3339(&now);
    let Some(attempts) = w
        .prepare_cached(
            "SELECT attempt_count FROM webhook_deliveries WHERE id = ?1 AND status = 'pending'",
        )?
        .query_row([delivery_id], |r| r.get::<_, u32>(0))
        .ok()
    else {
        return Ok(None); // deleted with its endpoint, or settled meanwhile
    };
    let attempt_id = format!("att_{}", w.new_ulid());
    w.prepare_cached(
        "INSERT INTO webhook_attempts (id, delivery_id, attempted_at, status_code, latency_ms, response_body, error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        attempt_id,
        delivery_id,
        to_rfc3339(&attempted_at),
        outcome.status_code,
        outcome.latency_ms,
        outcome.response_body,
        outcome.error
    ])?;
    let made = attempts + 1;
    let settle =
        |w: &Write<'_>, status: &str, next: Option<i64>| -> rusqlite::Result<usize> {
            w.prepare_cached(
            "UPDATE webhook_deliveries SET status = ?2, attempt_count = ?3, next_attempt_at = ?4,
                 last_status_code = ?5, last_error = ?6, updated_at = ?7 WHERE id = ?1",
        )?
        .execute(params![delivery_id, status, made, next, outcome.status_code, outcome.error, at])
        };
    if outcome.succeeded() {
        settle(w, "succeeded", None)?;
        w.prepare_cached("UPDATE webhook_endpoints SET consecutive_failures = 0 WHERE id = ?1 AND consecutive_failures > 0")?
            .execute([endpoint_id])?;
        return Ok(Some("delivered"));
    }
    let retry_in = if outcome.gone() {
        None
    } else {
        retry::delay_before(&config.schedule, made + 1)
    };
    if let Some(delay) = retry_in {
        let delay = delay.max(outcome.retry_after.unwrap_or_default());
        settle(
            w,
            "pending",
            Some(now.timestamp_millis() + delay.as_millis() as i64),
        )?;
        w.after_commit(store::SIGNAL);
        return Ok(Some("retrying"));
    }
    settle(w, "failed", None)?;
    let failures: u32 = w
        .prepare_cached(
            "UPDATE webhook_endpoints SET consecutive_failures = consecutive_failures + 1, updated_at = ?2
             WHERE id = ?1 RETURNING consecutive_failures",
        )?
        .query_row(params![endpoint_id, at], |r| r.get(0))?;
    if let Some(delivery) = store::get_delivery(w, endpoint_id, delivery_id)? {
        let data = json!({ "webhook_id": endpoint_id, "delivery": delivery });
        event_log::append_about_webhook(w, DELIVERY_FAILED, &data, endpoint_id)?;
    }
    let reason = if outcome.gone() {
        Some("the endpoint answered 410 Gone".to_owned())
    } else if failures >= config.disable_after {
        Some(format!("{failures} failed deliveries in a row"))
    } else {
        None
    };
    if let Some(reason) = reason {
        disable(w, endpoint_id, &reason)?;
    }
    Ok(Some("failed"))
}

/// Disables an endpoint and says so in the event log. Its pending deliveries wait for `enable`.
pub fn disable(w: &mut Write<'_>, endpoint_id: &str, reason: &str) -> Result<()> {
    let at = to_rfc3339(&Utc::now());
    let changed = w.execute(
        "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = ?2, updated_at = ?3 WHERE id = ?1 AND enabled = 1",
        params![endpoint_id, reason, at],
    )?;
    if changed > 0
        && let Some(endpoint) = store::get_endpoint(w, endpoint_id)?
    {
        let data = json!({ "webhook": endpoint, "reason": reason });
        event_log::append_about_webhook(w, DISABLED, &data, endpoint_id)?;
    }
    Ok(())
}

impl super::Webhooks {
    fn send(&self, msg: Msg) {
        let _ = self.wake.send(msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("999999999"), Some(retry::MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}

//! Operator metrics, in Prometheus's text format at `/metrics` on a listener of its own (`serve
//! --metrics-listen`), never on the public one. Every series is named and described here, once:
//! the code that counts calls the functions below, so a name cannot drift between the place that
//! counts and the documentation (`docs/operations.md`).
//!
//! Without `--metrics-listen` no recorder is installed and every call below is a no-op.
//! Labels name routes by their template and plugins by name, never a tenant or a key, unless the
//! operator asks for a `tenant` label on requests (`--metrics-tenant-label`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

const REQUESTS: &str = "mobieus_http_requests_total";
const REQUEST_SECONDS: &str = "mobieus_http_request_duration_seconds";
const PLUGIN_CALLS: &str = "mobieus_plugin_calls_total";
const PLUGIN_SECONDS: &str = "mobieus_plugin_call_duration_seconds";
const SHARED_CACHE: &str = "mobieus_plugin_shared_cache_total";
const WEBHOOK_ATTEMPTS: &str = "mobieus_webhook_attempts_total";
const WEBHOOK_IN_FLIGHT: &str = "mobieus_webhook_attempts_in_flight";
const WEBHOOK_FILES: &str = "mobieus_webhook_files_waiting";
const DUE_FILES: &str = "mobieus_due_work_files";
const DUE_RUNNING: &str = "mobieus_due_work_files_running";
const MAIL_SENDS: &str = "mobieus_mail_sends_total";
const OPEN_DATABASES: &str = "mobieus_tenant_databases_open";
/// Counted in the `tenants` crate, which names it itself; described here.
const WRITER_BATCH: &str = "mobieus_writer_batch_jobs";

const SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const BATCH: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// A recorder is installed: without one, the label values on the request path are not even built.
static ON: AtomicBool = AtomicBool::new(false);
static TENANT_LABEL: AtomicBool = AtomicBool::new(false);

/// Installs the process's recorder; its handle renders the text. Once per process.
pub fn install(tenant_label: bool) -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)?
        .set_buckets_for_metric(Matcher::Full(WRITER_BATCH.into()), BATCH)?
        .install_recorder()?;
    TENANT_LABEL.store(tenant_label, Ordering::Relaxed);
    ON.store(true, Ordering::Relaxed);
    describe();
    Ok(handle)
}

fn describe() {
    describe_counter!(
        REQUESTS,
        "Requests answered, by method, route template and status."
    );
    describe_histogram!(
        REQUEST_SECONDS,
        Unit::Seconds,
        "Time to answer a request, by method and route template."
    );
    describe_counter!(
        PLUGIN_CALLS,
        "Plugin calls by plugin, entry point (handle, event, timer) and outcome (ok, trap, timeout, refused)."
    );
    describe_histogram!(
        PLUGIN_SECONDS,
        Unit::Seconds,
        "Time a plugin call ran, by plugin."
    );
    describe_counter!(
        SHARED_CACHE,
        "Plugin GETs the shared cache was asked for, by plugin and outcome (hit, miss)."
    );
    describe_counter!(
        WEBHOOK_ATTEMPTS,
        "Webhook delivery attempts by outcome (delivered, retrying, failed)."
    );
    describe_gauge!(WEBHOOK_IN_FLIGHT, "Webhook delivery attempts running now.");
    describe_gauge!(
        WEBHOOK_FILES,
        "Tenant files with webhook deliveries scheduled (the backlog, counted in files)."
    );
    describe_gauge!(
        DUE_FILES,
        "Tenant files with due work scheduled, by kind (mail, timer)."
    );
    describe_gauge!(
        DUE_RUNNING,
        "Tenant files whose due work is being done now, by kind (mail, timer)."
    );
    describe_counter!(
        MAIL_SENDS,
        "Mail sends by outcome (sent, written, retrying, failed)."
    );
    describe_gauge!(OPEN_DATABASES, "Tenant database files open now.");
    describe_histogram!(
        WRITER_BATCH,
        "Jobs committed per tenant writer transaction."
    );
}

/// One answered request. `route` is a template (`/api/v1/users/{id}`) or `unmatched`.
pub fn request(method: &str, route: &str, status: u16, tenant: Option<&str>, took: Duration) {
    if !ON.load(Ordering::Relaxed) {
        return;
    }
    let (method, route) = (method.to_owned(), route.to_owned());
    let status = status.to_string();
    if TENANT_LABEL.load(Ordering::Relaxed) {
        // Empty (as good as absent to Prometheus) when no tenant was served: one label set for
        // the whole family.
        let tenant = tenant.unwrap_or_default().to_owned();
        counter!(REQUESTS, "method" => method.clone(), "route" => route.clone(), "status" => status, "tenant" => tenant)
            .increment(1);
    } else {
        counter!(REQUESTS, "method" => method.clone(), "route" => route.clone(), "status" => status)
            .increment(1);
    }
    histogram!(REQUEST_SECONDS, "method" => method, "route" => route).record(took.as_secs_f64());
}

/// How a plugin call ended.
#[derive(Debug, Clone, Copy)]
pub enum CallOutcome {
    Ok,
    /// It trapped, panicked, or answered something unusable.
    Trap,
    Timeout,
    /// The host did not start it (no call slot free within the deadline).
    Refused,
}

impl CallOutcome {
    fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::Trap => "trap",
            CallOutcome::Timeout => "timeout",
            CallOutcome::Refused => "refused",
        }
    }
}

/// One plugin call: `entry` is `handle`, `event` or `timer`.
pub fn plugin_call(plugin: &str, entry: &'static str, outcome: CallOutcome, took: Duration) {
    if !ON.load(Ordering::Relaxed) {
        return;
    }
    counter!(PLUGIN_CALLS, "plugin" => plugin.to_owned(), "entry" => entry, "outcome" => outcome.as_str())
        .increment(1);
    if !matches!(outcome, CallOutcome::Refused) {
        histogram!(PLUGIN_SECONDS, "plugin" => plugin.to_owned()).record(took.as_secs_f64());
    }
}

/// A plugin GET the shared cache answered (`hit`) or did not (`miss`).
pub fn shared_cache(plugin: &str, outcome: &'static str) {
    if ON.load(Ordering::Relaxed) {
        counter!(SHARED_CACHE, "plugin" => plugin.to_owned(), "outcome" => outcome).increment(1);
    }
}

/// One webhook attempt's outcome: `delivered`, `retrying` or `failed`.
pub fn webhook_attempt(outcome: &'static str) {
    counter!(WEBHOOK_ATTEMPTS, "outcome" => outcome).increment(1);
}

pub fn webhook_backlog(files_waiting: usize, in_flight: usize) {
    gauge!(WEBHOOK_FILES).set(files_waiting as f64);
    gauge!(WEBHOOK_IN_FLIGHT).set(in_flight as f64);
}

/// A due-work worker's schedule: files with work, and of those, the ones being worked now.
pub fn due_work(kind: &'static str, files: usize, running: usize) {
    gauge!(DUE_FILES, "kind" => kind).set(files as f64);
    gauge!(DUE_RUNNING, "kind" => kind).set(running as f64);
}

/// One mail send: `sent`, `written` (to an .eml file), `retrying` or `failed`.
pub fn mail_send(outcome: &'static str) {
    counter!(MAIL_SENDS, "outcome" => outcome).increment(1);
}

/// What the operator listener needs.
#[derive(Clone)]
pub struct Exporter {
    pub handle: PrometheusHandle,
    pub store: Arc<tenants::Store>,
}

/// The operator listener's routes: `/metrics`, and nothing else.
pub fn router(exporter: Exporter) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(exporter)
}

/// Serves the operator listener until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, exporter: Exporter) {
    let addr = listener.local_addr().ok();
    if let Err(e) = axum::serve(listener, router(exporter)).await {
        tracing::error!(addr = ?addr.map(|a: SocketAddr| a.to_string()), "metrics listener: {e}");
    }
}

/// Gauges read at scrape time, then the text.
async fn scrape(State(exporter): State<Exporter>) -> impl IntoResponse {
    gauge!(OPEN_DATABASES).set(exporter.store.pools().open_count() as f64);
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        exporter.handle.render(),
    )
}

/// Drains histograms into their buckets; the server calls it every few seconds.
pub fn upkeep(handle: &PrometheusHandle) {
    handle.run_upkeep();
}

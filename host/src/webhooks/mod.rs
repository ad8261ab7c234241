//! Webhooks: signed, retried, durable delivery of the event log to HTTPS endpoints.
//!
//! - [`store`]: endpoints, the delivery outbox (filled in the transaction that appends an event),
//!   attempts.
//! - [`worker`]: drains due deliveries across tenants with bounded concurrency and a cap per
//!   endpoint, signs ([`sign`]), sends through the SSRF guard ([`crate::ssrf`]), records every attempt
//!   and schedules retries ([`retry`]).
//! - [`filter`]: per-endpoint delivery filters on payload fields.
//!
//! The HTTP API is in [`crate::api::webhooks`].

pub mod filter;
pub mod manage;
pub mod retry;
pub mod sign;
pub mod store;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use tenants::DbId;
use tokio::sync::mpsc;

use crate::sealed::ServerKey;
use crate::ssrf::{Guard, Policy, SystemLookup};

pub const DELIVERY_FAILED: &str = "webhook.delivery_failed";
pub const DISABLED: &str = "webhook.disabled";
pub const TEST: &str = "webhook.test";

/// Event types about webhooks themselves that endpoints may subscribe to.
pub const EVENT_TYPES: &[&str] = &[DELIVERY_FAILED, DISABLED];

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Delays before each attempt; the first is 0 (the first attempt is immediate).
    pub schedule: Vec<Duration>,
    /// Failed deliveries in a row that disable an endpoint.
    pub disable_after: u32,
    /// Per attempt.
    pub timeout: Duration,
    pub policy: Policy,
    /// Extra trusted root certificates (PEM), for development and tests.
    pub extra_roots: Vec<Vec<u8>>,
    /// Attempts in flight at once, across all tenants.
    pub concurrency: usize,
    /// Attempts in flight at once to one endpoint, so a slow one cannot take every slot.
    pub per_endpoint: usize,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            schedule: retry::SCHEDULE.to_vec(),
            disable_after: retry::DISABLE_AFTER,
            timeout: retry::TIMEOUT,
            policy: Policy::default(),
            extra_roots: vec![],
            concurrency: 256,
            per_endpoint: 32,
        }
    }
}

impl WebhookConfig {
    /// The development and test relaxations in force, to warn about at start.
    pub fn relaxations(&self) -> Vec<String> {
        let mut on = vec![];
        if self.schedule != retry::SCHEDULE {
            on.push(format!("retry schedule {:?}", self.schedule));
        }
        if self.disable_after != retry::DISABLE_AFTER {
            on.push(format!(
                "disable after {} failed deliveries",
                self.disable_after
            ));
        }
        if self.policy.allow_http {
            on.push("plain http allowed".into());
        }
        for net in &self.policy.allow_cidrs {
            on.push(format!("{net} allowed"));
        }
        if !self.extra_roots.is_empty() {
            on.push("extra trusted root certificates".into());
        }
        on
    }
}

/// What the worker is told.
pub enum Msg {
    /// Deliveries may be due in this file.
    Wake(DbId),
    /// A poll finished; the file's next delivery is due then (unix ms), if any.
    Polled(DbId, Option<i64>),
}

/// The webhook service the app holds: configuration, the guard, the HTTP client, and the line to
/// the worker.
pub struct Webhooks {
    pub config: WebhookConfig,
    /// Seals the endpoints' signing secrets in the tenant files.
    pub key: Arc<ServerKey>,
    pub guard: Guard,
    client: reqwest::Client,
    wake: mpsc::UnboundedSender<Msg>,
    inbox: std::sync::Mutex<Option<mpsc::UnboundedReceiver<Msg>>>,
}

impl Webhooks {
    pub fn new(config: WebhookConfig, key: Arc<ServerKey>) -> anyhow::Result<Self> {
        let guard = Guard::new(config.policy.clone(), Arc::new(SystemLookup));
        let mut builder = reqwest::Client::builder()
            .dns_resolver(Arc::new(guard.clone()))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(config.per_endpoint)
            .user_agent(concat!("Mobieus-Webhooks/", env!("CARGO_PKG_VERSION")));
        for pem in &config.extra_roots {
            builder = builder.add_root_certificate(reqwest::Certificate::from_pem(pem)?);
        }
        let (wake, inbox) = mpsc::unbounded_channel();
        Ok(Webhooks {
            key,
            config,
            guard,
            client: builder.build()?,
            wake,
            inbox: std::sync::Mutex::new(Some(inbox)),
        })
    }

    /// Tells the worker that a tenant file has deliveries due (called after commits).
    pub fn notify(&self, id: &DbId) {
        let _ = self.wake.send(Msg::Wake(id.clone()));
    }
}

/// Every event type an endpoint may subscribe to.
pub fn known_event_types() -> Vec<&'static str> {
    crate::event_log::HOST_TYPES
        .iter()
        .chain(EVENT_TYPES)
        .copied()
        .collect()
}

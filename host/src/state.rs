//! The state every layer shares, and nothing else: it sits below the HTTP layers, the handlers
//! and the router, and imports none of them. Each middleware and worker takes the narrow handle it
//! needs ([`FromRef`] sub-states, or plain arguments), so none of them sees the whole.

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::FromRef;
use tenants::Store;

use crate::auth::login_throttle::LoginThrottle;
use crate::files::scan::Clamd;
use crate::files::scanner::{self, Scanner};
use crate::http::gate::Gate;
use crate::http::idempotency::InFlight;
use crate::http::last_used::LastUsed;
use crate::http::rate_limit::RateLimiter;
use crate::mail::Mail;
use crate::mail::worker::MailWorker;
use crate::paging::CursorKey;
use crate::plugins::dispatch::PluginRoutes;
use crate::plugins::events::{self, Dispatcher};
use crate::plugins::registry::Plugins;
use crate::plugins::timers::{self, TimerWorker};
use crate::schedule::Due;
use crate::webhooks::{self, Webhooks};

#[derive(Debug, Clone)]
pub struct Config {
    /// Tenants are served at `<slug>.<base_domain>`.
    pub base_domain: String,
    /// The platform default rate limit, per key per minute.
    pub rate_limit_per_minute: u32,
    /// ClamAV's daemon, when uploads are to be scanned by it too.
    pub clamd: Option<Clamd>,
    /// Whose forwarding headers name the client's address.
    pub trusted_proxies: crate::http::client_ip::TrustedProxies,
}

pub struct Shared {
    pub store: Arc<Store>,
    pub config: Config,
    pub limiter: Arc<RateLimiter>,
    pub last_used: Arc<LastUsed>,
    pub idempotency: Arc<InFlight>,
    pub cursor_key: CursorKey,
    pub webhooks: Arc<Webhooks>,
    pub plugins: Arc<Plugins>,
    pub plugin_events: Arc<Dispatcher>,
    /// Plugin timers' due work.
    pub timers: Arc<Due>,
    pub mail: Arc<Mail>,
    /// AI on tenants' own keys, for plugins' questions.
    pub ai: Arc<crate::ai::Ai>,
    /// The app, for the requests plugins make through `surfaces`.
    pub surfaces: Arc<crate::plugins::surfaces::Surfaces>,
    pub scanner: Arc<Scanner>,
    pub admin_logins: LoginThrottle,
    /// The background work shutdown waits for.
    pub work: crate::shutdown::Work,
}

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// Builds the state and connects the tenant files' commits to the workers that wait on them.
    pub fn new(
        store: Store,
        config: Config,
        cursor_secret: [u8; 32],
        webhooks: Webhooks,
        mail: Mail,
        ai: crate::ai::Ai,
        plugins: Arc<Plugins>,
    ) -> Self {
        let scanner = Arc::new(Scanner::new(config.clamd.clone()));
        let (webhooks, plugin_events) = (Arc::new(webhooks), Arc::new(Dispatcher::default()));
        // The hook lives in the store; it holds the workers' inboxes, not the state.
        let timers = Arc::new(Due::new(tenants::registry::Target::Timers));
        let mail = Arc::new(mail);
        let (w, e, s, t, m) = (
            webhooks.clone(),
            plugin_events.clone(),
            scanner.clone(),
            timers.clone(),
            mail.due.clone(),
        );
        store.pools().set_commit_hook(Arc::new(move |id, signals| {
            if signals.contains(&webhooks::store::SIGNAL) {
                w.notify(id);
            }
            if signals.contains(&crate::event_log::SIGNAL) {
                e.notify(id);
            }
            if signals.contains(&crate::files::SIGNAL) {
                s.notify(id);
            }
            if signals.contains(&timers::SIGNAL) {
                t.notify(id);
            }
            if signals.contains(&crate::mail::SIGNAL) {
                m.notify(id);
            }
        }));
        AppState(Arc::new(Shared {
            scanner,
            store: Arc::new(store),
            config,
            limiter: Arc::default(),
            last_used: Arc::default(),
            idempotency: Arc::default(),
            cursor_key: CursorKey::new(cursor_secret),
            webhooks,
            plugins,
            plugin_events,
            timers,
            mail,
            ai: Arc::new(ai),
            surfaces: Arc::default(),
            admin_logins: Default::default(),
            work: Default::default(),
        }))
    }

    /// The background workers' handles: webhook deliveries, plugin `on-event` drains, plugin
    /// timers, mail, file scans.
    pub fn start_workers(&self) {
        webhooks::worker::start(webhooks::worker::Worker {
            store: self.store.clone(),
            webhooks: self.webhooks.clone(),
            work: self.work.clone(),
        });
        events::start(events::Drainer {
            store: self.store.clone(),
            plugins: self.plugins.clone(),
            inbox: self.plugin_events.clone(),
        });
        timers::start(TimerWorker {
            store: self.store.clone(),
            plugins: self.plugins.clone(),
            due: self.timers.clone(),
            work: self.work.clone(),
        });
        crate::mail::worker::start(MailWorker {
            store: self.store.clone(),
            mail: self.mail.clone(),
            work: self.work.clone(),
        });
        scanner::start(scanner::ScanWorker {
            store: self.store.clone(),
            scanner: self.scanner.clone(),
        });
    }
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl FromRef<AppState> for Gate {
    fn from_ref(state: &AppState) -> Gate {
        Gate {
            store: state.store.clone(),
            base_domain: state.config.base_domain.as_str().into(),
            default_rate_limit: state.config.rate_limit_per_minute,
            limiter: state.limiter.clone(),
            last_used: state.last_used.clone(),
            plugins: state.plugins.clone(),
        }
    }
}

impl FromRef<AppState> for Arc<InFlight> {
    fn from_ref(state: &AppState) -> Arc<InFlight> {
        state.idempotency.clone()
    }
}

impl FromRef<AppState> for CursorKey {
    fn from_ref(state: &AppState) -> CursorKey {
        state.cursor_key.clone()
    }
}

impl FromRef<AppState> for Arc<Store> {
    fn from_ref(state: &AppState) -> Arc<Store> {
        state.store.clone()
    }
}

impl FromRef<AppState> for PluginRoutes {
    fn from_ref(state: &AppState) -> PluginRoutes {
        PluginRoutes {
            store: state.store.clone(),
            timers: state.timers.clone(),
            mail: state.mail.due.clone(),
            plugins: state.plugins.clone(),
            surfaces: state.surfaces.clone(),
            ai: state.ai.clone(),
            idempotency: state.idempotency.clone(),
            cursor_key: state.cursor_key.clone(),
        }
    }
}

impl FromRef<AppState> for Arc<Webhooks> {
    fn from_ref(state: &AppState) -> Arc<Webhooks> {
        state.webhooks.clone()
    }
}

impl FromRef<AppState> for Arc<Plugins> {
    fn from_ref(state: &AppState) -> Arc<Plugins> {
        state.plugins.clone()
    }
}

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use clap::Args;
use metrics_exporter_prometheus::PrometheusHandle;
use tenants::{Env, Plan, PoolConfig, Slug, Store};

use super::common::{CliResult, PluginArgs, actor, default_blocking_threads};
use crate::auth::keys::{self, KeyKind, NewKey};
use crate::auth::scopes;
use crate::http::idempotency;
use crate::plugins::registry::Plugins;
use crate::router::app;
use crate::state::{AppState, Config};
use crate::webhooks::{WebhookConfig, Webhooks};

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free one; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Tenants are served at <slug>.<base-domain>.
    #[arg(long, default_value = "localhost")]
    pub base_domain: String,
    /// The platform default rate limit per key per minute.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_per_minute: u32,
    /// Threads for blocking work (SQLite reads). Few threads that stay busy beat many that take
    /// turns: every hand-off between threads is a context switch on a small box.
    /// Default: 4 per core, at least 8.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub blocking_threads: Option<u16>,
    /// Scan uploads with ClamAV's daemon too: HOST:PORT or unix:/path/to/clamd.sock. Uploads stay
    /// in quarantine while it cannot be reached.
    #[arg(long)]
    pub clamd: Option<crate::files::scan::Clamd>,
    /// How long in-flight requests, then begun background work (webhook attempts, mail, timers),
    /// may take to finish after SIGTERM or Ctrl-C, e.g. 10s (default). Past it the server exits
    /// with status 1, abandoning what still runs; a second signal exits at once.
    #[arg(long, default_value = "10s", value_parser = crate::webhooks::retry::parse_duration)]
    pub shutdown_grace: Duration,
    /// Count `Forwarded` / `X-Forwarded-For` for the client's address only from peers in this
    /// range (repeatable): your reverse proxy, e.g. 127.0.0.1/32. From anyone else they are
    /// ignored.
    #[arg(long, value_parser = parse_cidr)]
    pub trusted_proxy: Vec<ipnet::IpNet>,
    /// Serve Prometheus metrics at http://ADDR/metrics, on this operator listener only (never on
    /// the public one), e.g. 127.0.0.1:9090.
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,
    /// Label request metrics with the tenant's slug too (one series per tenant and route: mind
    /// the cardinality on a box with many tenants).
    #[arg(long)]
    pub metrics_tenant_label: bool,
    /// Log lines as text (default) or JSON, one object per line.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(flatten)]
    pub webhooks: WebhookArgs,
    #[command(flatten)]
    pub mail: MailArgs,
    #[command(flatten)]
    pub ai: AiArgs,
    #[command(flatten)]
    pub plugins: PluginArgs,
}

/// AI on tenants' own keys. The allow flags let a local model server (Ollama on loopback) past the
/// SSRF guard; the server logs a warning when any is on.
#[derive(Debug, Clone, Default, Args)]
pub struct AiArgs {
    /// The longest an AI question may take, a repair included, e.g. 60s (default).
    #[arg(long, value_parser = crate::webhooks::retry::parse_duration)]
    pub ai_timeout: Option<Duration>,
    /// Allow plain-http provider URLs (a local model server).
    #[arg(long)]
    pub ai_allow_http: bool,
    /// Allow provider addresses in this range despite the SSRF guard (repeatable), e.g.
    /// 127.0.0.1/32 for Ollama on this machine.
    #[arg(long, value_parser = parse_cidr)]
    pub ai_allow_cidr: Vec<ipnet::IpNet>,
    /// Trust this PEM root certificate for providers' HTTPS (repeatable).
    #[arg(long)]
    pub ai_ca_file: Vec<std::path::PathBuf>,
}

impl AiArgs {
    fn config(&self) -> CliResult<crate::ai::AiConfig> {
        let mut config = crate::ai::AiConfig::default();
        if let Some(t) = self.ai_timeout {
            config.timeout = t;
        }
        config.policy.allow_http = self.ai_allow_http;
        config.policy.allow_cidrs = self.ai_allow_cidr.clone();
        config.extra_roots = read_pems("--ai-ca-file", &self.ai_ca_file)?;
        if config.policy.allow_http {
            tracing::warn!("ai: plain-http provider URLs allowed");
        }
        for cidr in &config.policy.allow_cidrs {
            tracing::warn!("ai: provider addresses in {cidr} allowed past the SSRF guard");
        }
        Ok(config)
    }
}

/// Mail plugins send (capability `mail`). Without `--smtp` nothing is dropped: messages are
/// written as `.eml` files under each tenant's directory (`mobieus mail list`).
#[derive(Debug, Clone, Default, Args)]
pub struct MailArgs {
    /// The SMTP server: smtp://host:25 (plain), smtp://user:pass@host:587?tls=required
    /// (STARTTLS), smtps://user:pass@host:465 (TLS).
    #[arg(long, env = "MOBIEUS_SMTP", hide_env_values = true)]
    pub smtp: Option<String>,
    /// The From of every message, e.g. "Acme Community <community@acme.example>".
    #[arg(long)]
    pub mail_from: Option<lettre::message::Mailbox>,
    /// Waits before each retry of a failed send, e.g. 1s,2s. Default: 1m,5m,30m,2h,6h.
    #[arg(long, value_parser = parse_waits)]
    pub mail_retry_schedule: Option<Waits>,
    /// Trust this PEM root certificate for the SMTP server's TLS (repeatable).
    #[arg(long)]
    pub smtp_ca_file: Vec<std::path::PathBuf>,
}

#[derive(Debug, Clone)]
pub struct Waits(Vec<Duration>);

fn parse_waits(s: &str) -> Result<Waits, String> {
    crate::webhooks::retry::parse_schedule(s).map(Waits)
}

impl MailArgs {
    fn config(&self) -> CliResult<crate::mail::MailConfig> {
        let mut config = crate::mail::MailConfig {
            smtp: self.smtp.clone(),
            ..Default::default()
        };
        if let Some(from) = &self.mail_from {
            config.from = from.clone();
        }
        if let Some(Waits(retry)) = &self.mail_retry_schedule {
            config.retry = retry.clone();
        }
        config.extra_roots = read_pems("--smtp-ca-file", &self.smtp_ca_file)?;
        Ok(config)
    }
}

/// Webhook delivery. All but `--webhook-timeout` relax the production rules, for development and
/// tests only; the server logs a warning when any is on.
#[derive(Debug, Clone, Default, Args)]
pub struct WebhookArgs {
    /// Delays before each attempt, e.g. 0s,1s,2s (the first must be 0s). Default: 0,1,5,30,120,360,1440 minutes.
    #[arg(long, value_parser = parse_schedule)]
    pub webhook_retry_schedule: Option<Schedule>,
    /// Disable an endpoint after this many failed deliveries in a row (default 5).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub webhook_disable_after: Option<u32>,
    /// Allow plain-http webhook URLs.
    #[arg(long)]
    pub webhook_allow_http: bool,
    /// Allow webhook addresses in this range despite the SSRF guard (repeatable), e.g. 127.0.0.0/8.
    #[arg(long, value_parser = parse_cidr)]
    pub webhook_allow_cidr: Vec<ipnet::IpNet>,
    /// Trust this PEM root certificate for webhook HTTPS (repeatable).
    #[arg(long)]
    pub webhook_ca_file: Vec<std::path::PathBuf>,
    /// Timeout per delivery attempt, e.g. 15s (default).
    #[arg(long, value_parser = crate::webhooks::retry::parse_duration)]
    pub webhook_timeout: Option<std::time::Duration>,
}

#[derive(Debug, Clone)]
pub struct Schedule(Vec<std::time::Duration>);

fn parse_schedule(s: &str) -> Result<Schedule, String> {
    let schedule = crate::webhooks::retry::parse_schedule(s)?;
    if schedule[0] != std::time::Duration::ZERO {
        return Err("the first delay must be 0s: the first attempt is immediate".into());
    }
    Ok(Schedule(schedule))
}

/// The PEM files an operator named with `flag`, read whole.
fn read_pems(flag: &str, paths: &[std::path::PathBuf]) -> CliResult<Vec<Vec<u8>>> {
    paths
        .iter()
        .map(|path| {
            std::fs::read(path)
                .map_err(|e| super::common::user_error(format!("{flag} {}: {e}", path.display())))
        })
        .collect()
}

fn parse_cidr(s: &str) -> Result<ipnet::IpNet, String> {
    s.parse()
        .map_err(|_| format!("`{s}` is not a CIDR range like 127.0.0.0/8"))
}

impl WebhookArgs {
    fn config(&self) -> CliResult<WebhookConfig> {
        let mut config = WebhookConfig::default();
        if let Some(Schedule(s)) = &self.webhook_retry_schedule {
            config.schedule = s.clone();
        }
        if let Some(n) = self.webhook_disable_after {
            config.disable_after = n;
        }
        if let Some(t) = self.webhook_timeout {
            config.timeout = t;
        }
        config.policy.allow_http = self.webhook_allow_http;
        config.policy.allow_cidrs = self.webhook_allow_cidr.clone();
        config.extra_roots = read_pems("--webhook-ca-file", &self.webhook_ca_file)?;
        Ok(config)
    }
}

const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Past the grace, how long the signal thread waits for the runtime to wind down before it ends
/// the process itself (a runtime whose workers are stuck never gets that far).
const SHUTDOWN_BACKSTOP: Duration = Duration::from_secs(5);

impl Default for ServeArgs {
    fn default() -> Self {
        ServeArgs {
            listen: "127.0.0.1:8080".parse().expect("valid address"),
            base_domain: "localhost".into(),
            rate_limit_per_minute: 600,
            blocking_threads: None,
            clamd: None,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            trusted_proxy: Vec::new(),
            metrics_listen: None,
            metrics_tenant_label: false,
            log_format: LogFormat::Text,
            webhooks: WebhookArgs::default(),
            mail: MailArgs::default(),
            ai: AiArgs::default(),
            plugins: PluginArgs::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

pub fn run(data_dir: &Path, args: ServeArgs) -> CliResult {
    init_logging(args.log_format);
    // Blocking set-up first, outside the runtime: open the store, bind (so the first-start banner
    // can name the real port), create the demo tenant on an empty data dir.
    let fresh = !data_dir.join("registry.db").exists();
    let store = Store::open(data_dir, pool_config())?;
    let secret = crate::sealed::server_secret(data_dir)
        .map_err(|e| super::common::user_error(format!("{e:#}")))?;
    let listener = std::net::TcpListener::bind(args.listen)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let metrics = args
        .metrics_listen
        .map(|at| open_metrics(at, args.metrics_tenant_label))
        .transpose()?;
    if fresh {
        first_start(&store, &args.base_domain, addr)?;
    }
    let config = Config {
        base_domain: args.base_domain.to_ascii_lowercase(),
        rate_limit_per_minute: args.rate_limit_per_minute,
        clamd: args.clamd.clone(),
        trusted_proxies: crate::http::client_ip::TrustedProxies::new(args.trusted_proxy.clone()),
    };
    let webhook_config = args.webhooks.config()?;
    for relaxation in webhook_config.relaxations() {
        tracing::warn!("webhooks: {relaxation} (development and tests only)");
    }
    let mail = crate::mail::Mail::new(args.mail.config()?)
        .map_err(|e| super::common::user_error(format!("{e:#}")))?;
    let key = std::sync::Arc::new(crate::sealed::ServerKey::from_secret(&secret));
    let webhooks = Webhooks::new(webhook_config, key.clone())
        .map_err(|e| super::common::user_error(format!("webhook client: {e:#}")))?;
    let ai = crate::ai::Ai::new(args.ai.config()?, key.clone())
        .map_err(|e| super::common::user_error(format!("AI client: {e:#}")))?;
    let blocking_threads = args
        .blocking_threads
        .map_or_else(default_blocking_threads, usize::from);
    let plugins = args.plugins.build(data_dir, blocking_threads)?;
    let plugins = std::sync::Arc::new(plugins.with_server_key(key));
    plugins.load_all();
    for plugin in &plugins.current().plugins {
        tracing::info!(plugin = %plugin.manifest.name, version = %plugin.manifest.version, "plugin ready");
    }
    watch_plugins(plugins.clone());
    let state = AppState::new(store, config, secret, webhooks, mail, ai, plugins);
    tracing::info!(data_dir = %data_dir.display(), "serving tenants at http://<slug>.{}:{}", args.base_domain, addr.port());
    let stop = watch_signals(args.shutdown_grace)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(blocking_threads)
        .build()?;
    let result = runtime.block_on(serve(state, listener, metrics, stop, args.shutdown_grace));
    // Dropping a runtime waits for its blocking tasks without end; a stuck one must not keep the
    // process alive.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

/// The operator listener, bound before the runtime starts (its address is printed), and the
/// recorder it renders.
type MetricsListener = (std::net::TcpListener, PrometheusHandle);

fn open_metrics(at: SocketAddr, tenant_label: bool) -> CliResult<MetricsListener> {
    let listener = std::net::TcpListener::bind(at)
        .map_err(|e| super::common::user_error(format!("--metrics-listen {at}: {e}")))?;
    listener.set_nonblocking(true)?;
    let handle = crate::metrics::install(tenant_label)?;
    Ok((listener, handle))
}

async fn serve(
    state: AppState,
    listener: std::net::TcpListener,
    metrics: Option<MetricsListener>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    grace: Duration,
) -> CliResult {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let addr = listener.local_addr()?;
    let upkeep = metrics.as_ref().map(|(_, handle)| handle.clone());
    if let Some((operator, handle)) = metrics {
        let operator = tokio::net::TcpListener::from_std(operator)?;
        println!(
            "mobieus metrics on http://{}/metrics",
            operator.local_addr()?
        );
        let exporter = crate::metrics::Exporter {
            handle,
            store: state.store.clone(),
        };
        tokio::spawn(crate::metrics::serve(operator, exporter));
    }
    tokio::spawn(housekeeping(state.clone(), upkeep));
    state.start_workers();
    println!("mobieus listening on http://{addr}");
    let mut stopping = stop.clone();
    let server = axum::serve(
        listener,
        app(state.clone()).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = stopping.wait_for(|s| *s).await;
    })
    .into_future();
    tokio::pin!(server);
    let deadline = tokio::select! {
        served = &mut server => { served?; tokio::time::Instant::now() + grace }
        _ = stop.wait_for(|s| *s) => {
            tracing::info!(grace = ?grace, "shutting down: in-flight requests and begun deliveries may finish");
            let deadline = tokio::time::Instant::now() + grace;
            match tokio::time::timeout_at(deadline, &mut server).await {
                Ok(served) => served?,
                Err(_) => {
                    let _ = state.work.finish(Duration::ZERO).await;
                    flush_last_use(&state).await;
                    return Err(anyhow::anyhow!(
                        "requests still running after the {grace:?} shutdown grace were abandoned"
                    )
                    .into());
                }
            }
            deadline
        }
    };
    // Requests are done: the workers start nothing new and finish what they began, in what is
    // left of the grace. A delivery cut short keeps its lease and is retried after a restart.
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    let unfinished = state.work.finish(left).await;
    flush_last_use(&state).await;
    if unfinished > 0 {
        return Err(anyhow::anyhow!(
            "{unfinished} deliveries, mails or timers still running after the {grace:?} shutdown grace were abandoned: they run again after a restart"
        )
        .into());
    }
    tracing::info!("stopped");
    Ok(())
}

/// Writes the keys' pending last-use, if a blocking thread is free to do it within a second.
async fn flush_last_use(state: &AppState) {
    let flush = state.clone();
    let flushed = tokio::time::timeout(
        Duration::from_secs(1),
        tokio::task::spawn_blocking(move || flush.last_used.flush(&flush.store)),
    )
    .await;
    if flushed.is_err() {
        tracing::warn!("key last-use not flushed: no blocking thread was free");
    }
}

/// SIGTERM and Ctrl-C, heard on a thread of their own so that a runtime whose workers are all
/// stuck still stops: the first signal flips the returned flag (graceful shutdown); if the
/// process is still alive `grace` plus a backstop later, or a second signal comes, it exits
/// with status 1.
fn watch_signals(grace: Duration) -> CliResult<tokio::sync::watch::Receiver<bool>> {
    let (flag, stop) = tokio::sync::watch::channel(false);
    let signals = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            signals.block_on(async move {
                shutdown_signal().await;
                let _ = flag.send(true);
                tokio::select! {
                    _ = tokio::time::sleep(grace + SHUTDOWN_BACKSTOP) => {
                        tracing::error!("the server did not stop within its shutdown grace: exiting");
                    }
                    _ = shutdown_signal() => tracing::warn!("second signal: exiting now"),
                }
                std::process::exit(1);
            })
        })?;
    Ok(stop)
}

/// Picks up new, upgraded and removed plugins within a second, without a restart.
fn watch_plugins(plugins: std::sync::Arc<Plugins>) {
    let spawned = std::thread::Builder::new()
        .name("plugin-watch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(500));
                plugins.rescan();
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot watch the plugins directory: {e}");
    }
}

/// An empty data dir: create tenant `demo` and print a live key with every core scope, once.
fn first_start(store: &Store, base_domain: &str, addr: SocketAddr) -> CliResult {
    let slug = Slug::parse("demo")?;
    let tenant = store.create_tenant(&slug, Plan::Pro)?;
    let now = Utc::now();
    let new = NewKey {
        env: Env::Live,
        kind: KeyKind::Secret,
        format: crate::auth::keys::KeyFormat::Mobieus,
        scopes: scopes::core_names(),
        label: Some("first-start demo key".into()),
        expires_at: None,
        rate_limit_per_minute: None,
    };
    let db = store.db(&tenant, Env::Live)?;
    let actor = actor();
    let (key, plaintext) =
        db.write(move |w| Ok::<_, anyhow::Error>(keys::mint_by(w, &actor, &new, now)?))?;
    let host = format!("demo.{base_domain}:{}", addr.port());
    println!();
    println!("First start: created tenant `demo` (plan pro) and a live key with every core scope.");
    println!("Key {} (shown once, store it now):", key.id);
    println!();
    println!("  {plaintext}");
    println!();
    println!("Try it:");
    println!();
    println!("  curl -H 'Authorization: Bearer {plaintext}' http://{host}/api/v1/events");
    println!();
    println!("The API reference: http://{host}/api/docs");
    println!(
        "The admin console: mobieus admin create --tenant demo --email you@example.org --base-url http://{base_domain}:{}",
        addr.port()
    );
    println!();
    Ok(())
}

/// Each open tenant file costs about five descriptors (the writer's and the readers' handles on
/// the database and its WAL). Raise the soft limit to the hard one, and open no more files than
/// the limit allows.
fn pool_config() -> PoolConfig {
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    let defaults = PoolConfig::default();
    let affordable = (limit.saturating_sub(256) / 8).max(16) as usize;
    if affordable < defaults.max_open {
        tracing::warn!(
            nofile = limit,
            max_open = affordable,
            "few file descriptors: fewer tenant files stay open"
        );
    }
    PoolConfig {
        max_open: defaults.max_open.min(affordable),
        ..defaults
    }
}

/// Signs cursors. Created once per data dir, readable only by its owner.
/// Flushes key last-use every few seconds; closes idle databases, prunes rate-limit windows and
/// sweeps expired idempotency records now and then.
async fn housekeeping(state: AppState, metrics: Option<PrometheusHandle>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    let mut round: u64 = 0;
    loop {
        tick.tick().await;
        round += 1;
        if let Some(handle) = &metrics {
            crate::metrics::upkeep(handle);
        }
        let state = state.clone();
        let done = tokio::task::spawn_blocking(move || {
            state.last_used.flush(&state.store);
            if round.is_multiple_of(6) {
                state.limiter.prune(Utc::now().timestamp());
                if let Err(e) = state.store.housekeeping() {
                    tracing::warn!("housekeeping: {e}");
                }
            }
            if round.is_multiple_of(120) {
                for (_, db) in state.store.pools().open_dbs() {
                    if let Err(e) = db.write(|w| Ok::<_, tenants::Error>(idempotency::sweep(w)?)) {
                        tracing::warn!(db = %db.path().display(), "idempotency sweep: {e}");
                    }
                }
            }
        })
        .await;
        if let Err(e) = done {
            tracing::error!("housekeeping task failed: {e}");
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// Logs to stderr at `MOBIEUS_LOG` (default `info`: the access log and above).
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MOBIEUS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

//! Plugin routes over HTTP. The host's router answers its own routes; anything else under
//! `/api/v1` comes here after the gate (tenant, key, plan, rate limit): the route table of the
//! plugins loaded now, the tenant's on/off switch, the scope check, `Idempotency-Key`, then one
//! call in a fresh instance:
//!
//! - GET: on a plugin read thread, the gate's checks it left ([`Deferred`]), then the answer the
//!   [`shared_cache`] kept if the plugin marked one shareable and the file has not changed since,
//!   or a read transaction on a pooled connection, sandboxed read-only;
//! - anything else: one job of the tenant writer — migrations if due, the call, its writes and
//!   the events it emits — committed together if it answers below 400, rolled back otherwise.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rusqlite::Connection;
use serde_json::Value;
use tenants::db::Write;

use crate::error::{ApiError, Result};
use crate::files::blobs::Blobs;
use crate::http::client_ip::ClientIp;
use crate::http::context::Authenticated;
use crate::http::gate::{Deferred, Refusal};
use crate::http::idempotency::{self, Claim, InFlight};
use crate::http::json::read_body;
use crate::http::request_id::RequestId;
use crate::http::scope;
use crate::metrics::CallOutcome;
use crate::paging::CursorKey;
use crate::plugins::asks::{Answering, Answers};
use crate::plugins::bindings::types;
use crate::plugins::capabilities::Capability;
use crate::plugins::manifest::Route;
use crate::plugins::read_pool::NotRun;
use crate::plugins::registry::{LoadedPlugin, Lookup, Plugins};
use crate::plugins::runtime::CallError;
use crate::plugins::sandbox::{Bounds, Installed, Mode};
use crate::plugins::shared_cache::{self, Look};
use crate::plugins::state::{Call, Emits, Tx};
use crate::plugins::surfaces::{Asker, Depth, Surfaces};
use crate::plugins::{cursors, headers};
use crate::plugins::{limits, migrate};
use crate::schedule::Due;

/// What plugin routes need: the tenant files and their uploads, the due work's marks, the
/// loaded plugins, the idempotency keys in flight, and the key that seals their list cursors
/// ([`cursors`]).
#[derive(Clone)]
pub struct PluginRoutes {
    pub store: Arc<tenants::Store>,
    /// The due work a plugin's write may add: timers, mail.
    pub timers: Arc<Due>,
    pub mail: Arc<Due>,
    pub plugins: Arc<Plugins>,
    /// The app, for `surfaces` calls.
    pub surfaces: Arc<Surfaces>,
    /// AI on the tenant's key, for the questions plugin calls ask.
    pub ai: Arc<crate::ai::Ai>,
    pub idempotency: Arc<InFlight>,
    pub cursor_key: CursorKey,
}

/// The router's fallback.
pub async fn fallback(State(state): State<PluginRoutes>, req: Request) -> Response {
    match route(&state, req).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "No such endpoint.")
}

async fn route(state: &PluginRoutes, req: Request) -> Result<Response> {
    let caller = if let Some(auth) = req.extensions().get::<Authenticated>() {
        Caller::Admitted(auth.clone())
    } else if let Some(deferred) = req.extensions().get::<Deferred>() {
        Caller::Deferred(deferred.clone())
    } else {
        return Err(not_found());
    };
    let set = state.plugins.current();
    let (plugin, route, params) = match set.route(route_method(req.method()), req.uri().path()) {
        // Borrowed from the set: a route carries its schemas, too big to copy per request.
        Lookup::Found(plugin, route, params) => (plugin.clone(), route, params),
        Lookup::MethodNotAllowed(methods) => {
            let mut response = ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "This endpoint does not accept that method.",
            )
            .into_response();
            // RFC 9110: a 405 names the methods the resource has.
            if let Ok(allow) = axum::http::HeaderValue::from_str(&methods.join(", ")) {
                response
                    .headers_mut()
                    .insert(axum::http::header::ALLOW, allow);
            }
            return Ok(response);
        }
        Lookup::None => return Err(not_found()),
    };
    // The template, not the path: what the access log and the metrics name the route by.
    let template = RouteTemplate(route.path.as_str().into());
    let mut response = match call(state, caller, plugin, route, params, req).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    response.extensions_mut().insert(template);
    Ok(response)
}

/// The method a plugin route is found and called by: a HEAD is its GET, whose body the server
/// leaves out (RFC 9110 §9.3.2).
fn route_method(method: &axum::http::Method) -> &str {
    if method == axum::http::Method::HEAD {
        "GET"
    } else {
        method.as_str()
    }
}

/// The route template a plugin's response answered, for [`crate::http::access_log`].
#[derive(Debug, Clone)]
pub struct RouteTemplate(pub Arc<str>);

/// Who a plugin route's request is from: a caller the gate admitted, or (a GET) one whose checks
/// the gate left to the read thread that makes the call.
enum Caller {
    Admitted(Authenticated),
    Deferred(Deferred),
}

/// A found route: the tenant's switch, the scope, then the call.
async fn call(
    state: &PluginRoutes,
    caller: Caller,
    plugin: Arc<LoadedPlugin>,
    route: &Route,
    params: Vec<(String, String)>,
    req: Request,
) -> Result<Response> {
    if route_method(req.method()) == "GET" {
        return read_route(state, caller, plugin, params, req, route).await;
    }
    let Caller::Admitted(auth) = caller else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "the gate deferred a write's checks"
        )));
    };
    let settings = allowed(&auth, &plugin, route.is_public(), &route.scope)?;
    let call = Invocation {
        state: state.clone(),
        auth,
        plugin,
        route: route.clone(),
        params,
        settings,
    };
    Ok(idempotency::guard(&state.idempotency, req, |req| call.run(req)).await)
}

/// The tenant's switch and the route's scope; the plugin's settings for the call.
fn allowed(
    auth: &Authenticated,
    plugin: &LoadedPlugin,
    public: bool,
    scope: &str,
) -> Result<HashMap<String, String>> {
    // Off for this tenant: as if it were not there.
    let settings = tenant_view(auth, plugin).ok_or_else(not_found)?;
    // A public route needs no scope; an anonymous caller gets nothing else (the gate admits
    // one for public routes only: this holds if that ever changes).
    if !public {
        if auth.key.is_anonymous() {
            return Err(not_found());
        }
        scope::check(Some(auth), scope)?;
    }
    Ok(settings)
}

/// A read's caller and request once its checks passed, kept for the runs of one read.
struct Checked {
    auth: Authenticated,
    request: types::Request,
    settings: Arc<HashMap<String, String>>,
}

/// What a read needs before its first run can check it.
struct Unchecked {
    caller: Caller,
    request: types::Request,
    public: bool,
    scope: String,
}

impl Unchecked {
    /// On the read thread, before the first run: the gate's checks if it left them, the switch,
    /// the scope, the cursor. A refusal is the answer.
    fn check(
        self,
        state: &PluginRoutes,
        plugin: &LoadedPlugin,
    ) -> std::result::Result<Checked, Refusal> {
        let auth = match self.caller {
            Caller::Admitted(auth) => auth,
            Caller::Deferred(deferred) => deferred.admit()?,
        };
        let refuse = |error: ApiError| Box::new(error.into_response());
        let settings = allowed(&auth, plugin, self.public, &self.scope).map_err(refuse)?;
        let mut request = self.request;
        let opened = cursors::open(
            &state.cursor_key,
            &plugin.manifest.name,
            &request.route,
            &request.query,
        )
        .map_err(refuse)?;
        if let Some(opened) = opened {
            request.query = opened;
        }
        request.caller = caller_of(&auth);
        Ok(Checked {
            auth,
            request,
            settings: Arc::new(settings),
        })
    }
}

/// How a read's run on the read thread ended.
enum Ran {
    /// Its checks refused it.
    Refused(Refusal),
    Called(Arc<Checked>, Outcome),
}

/// A GET in one blocking hop: the checks and the call in a read transaction. Migrations not yet
/// applied to this file run first, as a write; a question for the AI provider is answered between
/// runs.
async fn read_route(
    state: &PluginRoutes,
    caller: Caller,
    plugin: Arc<LoadedPlugin>,
    params: Vec<(String, String)>,
    req: Request,
    route: &Route,
) -> Result<Response> {
    let name = plugin.manifest.name.clone();
    let query = req.uri().query().unwrap_or("").to_owned();
    let deferred = match &caller {
        Caller::Deferred(deferred) => Some(deferred.clone()),
        Caller::Admitted(_) => None,
    };
    let mut unchecked = Some(Unchecked {
        caller,
        request: wit_request(route, params, &req, Vec::new()),
        public: route.is_public(),
        scope: route.scope.clone(),
    });
    let mut checked: Option<Arc<Checked>> = None;
    let asker = surfaces_asker(state, &plugin, &req);
    let (mut migrated, mut answers) = (false, Answers::default());
    loop {
        // No slot of the cap on calls (`permit`): the read threads bound reads, and a read
        // waiting for one must not hold a slot another plugin's calls need.
        let (st, pl) = (state.clone(), plugin.clone());
        // Each run has its own deadline, for its `surfaces` calls too.
        let run_asker = asker
            .as_ref()
            .map(|a| a.renewed(state.plugins.runtime.limits.deadline));
        let (first, ch, an) = (unchecked.take(), checked.clone(), answers.clone());
        // Looked for on the first run only: a later one follows an ask, and an answer that rests
        // on one (AI, another surface) is not the file's alone, so it is not kept either.
        let learned = plugin.shares_answers(&route.path);
        let looks = (learned && answers.is_empty()).then(|| target_of(&req));
        // On the plugin read threads, within this plugin's share of them.
        let ran = state
            .plugins
            .reads
            .run(&name, move || -> Ran {
                let ch = match (ch, first) {
                    (Some(ch), _) => ch,
                    (None, Some(first)) => match first.check(&st, &pl) {
                        Ok(ch) => Arc::new(ch),
                        Err(refusal) => return Ran::Refused(refusal),
                    },
                    (None, None) => {
                        let lost =
                            anyhow::anyhow!("a read's run has neither its checks nor its caller");
                        return Ran::Refused(Box::new(ApiError::internal(lost).into_response()));
                    }
                };
                let outcome = ch.auth.db.read(|conn| {
                    if pl.migrations_pending(ch.auth.db.id(), conn)? {
                        return Ok(None);
                    }
                    let mut call = new_call(
                        &st,
                        &ch.auth,
                        &pl,
                        ch.settings.clone(),
                        &ch.request.request_id,
                    );
                    let (shared, headers) = (&st.plugins.shared, &ch.request.headers);
                    let tag = if let Some(target) = looks {
                        match shared.look(conn, &shared_key(&ch, &pl, target), headers)? {
                            Look::Hit(response) => {
                                crate::metrics::shared_cache(&pl.manifest.name, "hit");
                                return Ok(Some(Read::Cached(response)));
                            }
                            Look::Miss(generation) => {
                                crate::metrics::shared_cache(&pl.manifest.name, "miss");
                                Some(generation)
                            }
                            Look::Bypass => None,
                        }
                    } else {
                        None
                    };
                    call.asker = run_asker;
                    call.answers = Some(an);
                    let response = read_call(conn, &st.plugins, &pl, call, &ch.request)?;
                    Ok(Some(Read::Made(response, tag)))
                });
                Ran::Called(ch, outcome)
            })
            .await;
        let (ch, outcome) = match ran {
            Ok(Ran::Refused(refusal)) => return Ok(*refusal),
            Ok(Ran::Called(ch, outcome)) => (ch, outcome),
            Err(NotRun::Busy) => return checks_first(deferred, &name).await,
            Err(NotRun::Panicked) => {
                return Err(ApiError::internal(anyhow::anyhow!(
                    "plugin `{name}`: a read job panicked"
                )));
            }
        };
        checked = Some(ch.clone());
        match outcome {
            Ok(Some(Read::Cached(response))) => return into_response(response),
            Ok(Some(Read::Made(mut response, tag))) => {
                if (200..300).contains(&response.status) {
                    let body = std::mem::take(&mut response.body);
                    response.body =
                        cursors::seal(&state.cursor_key, &name, &route.path, &query, body);
                }
                let key = || shared_key(&ch, &plugin, target_of(&req));
                let headers = &ch.request.headers;
                let marked = state.plugins.shared.keep(key, tag, headers, &mut response);
                if marked && !learned {
                    // The route's first marked answer: from now on its requests are looked for.
                    crate::metrics::shared_cache(&name, "miss");
                    plugin.shares(&route.path);
                }
                return into_response(response);
            }
            Ok(None) if !migrated => {
                migrated = true;
                let (migrating, plugins) = (plugin.clone(), state.plugins.clone());
                let applied = ch
                    .auth
                    .db
                    .write_alone(move |w| {
                        migrate::ensure(w, &migrating, &plugins.runtime.limits)
                            .map_err(|e| Undone::Call(CallError::Failed(e)))
                    })
                    .await;
                if let Err(u) = applied {
                    return undone(&name, u);
                }
            }
            Ok(None) => {
                return Err(ApiError::internal(anyhow::anyhow!(
                    "plugin `{name}`: its migrations did not apply"
                )));
            }
            Err(Undone::Call(CallError::Asked(ask))) => {
                let cx = answering(
                    state,
                    &ch.auth,
                    &name,
                    &ch.request.request_id,
                    asker.as_ref(),
                );
                answers.answer(&cx, *ask).await?;
            }
            Err(u) => return undone(&name, u),
        }
    }
}

/// A read refused as busy (its plugin's read queue full, or waited out) before its deferred
/// checks ran: they run first, on a blocking thread, so a caller the gate would refuse hears
/// that (and no more), never how busy the plugin is.
async fn checks_first(deferred: Option<Deferred>, plugin: &str) -> Result<Response> {
    let Some(deferred) = deferred.filter(Deferred::is_pending) else {
        return Err(plugin_busy(plugin));
    };
    match tokio::task::spawn_blocking(move || deferred.admit()).await {
        Ok(Err(refusal)) => Ok(*refusal),
        Ok(Ok(_)) => Err(plugin_busy(plugin)),
        Err(join) => Err(ApiError::internal(join)),
    }
}

/// What `surfaces` asks as, for a plugin that declared it: this request's caller.
fn surfaces_asker(state: &PluginRoutes, plugin: &LoadedPlugin, req: &Request) -> Option<Asker> {
    if !plugin.manifest.capabilities.contains(Capability::Surfaces) {
        return None;
    }
    Some(Asker {
        host: req.headers().get(axum::http::header::HOST)?.clone(),
        credential: Asker::credential_of(req.headers()),
        // The resolved client, so the calls it makes are limited as it is.
        client: req
            .extensions()
            .get::<ClientIp>()
            .map(|c| axum::extract::ConnectInfo(std::net::SocketAddr::new(c.0, 0))),
        depth: req.extensions().get::<Depth>().map_or(0, |d| d.0),
        surfaces: state.surfaces.clone(),
        deadline: std::time::Instant::now() + state.plugins.runtime.limits.deadline,
    })
}

/// What answering a call's ask needs; a surface GET gets a deadline of its own.
fn answering<'a>(
    state: &'a PluginRoutes,
    auth: &'a Authenticated,
    plugin: &'a str,
    request_id: &'a str,
    asker: Option<&Asker>,
) -> Answering<'a> {
    Answering {
        ai: &state.ai,
        store: &state.store,
        auth,
        plugin,
        request_id,
        surfaces: asker.map(|a| a.renewed(state.plugins.runtime.limits.deadline)),
        max_result: state.plugins.runtime.limits.sql.max_result,
    }
}

/// A read call's answer, or none when migrations must run first.
type Outcome = std::result::Result<Option<Read>, Undone>;

/// A read's answer: the shared cache's, or the plugin's, with the generation the cache may keep
/// it under.
enum Read {
    Cached(types::Response),
    Made(types::Response, Option<u64>),
}

/// What the shared cache knows a read's answer by.
fn shared_key(ch: &Checked, plugin: &LoadedPlugin, target: String) -> shared_cache::Key {
    shared_cache::Key {
        db: ch.auth.db.id().clone(),
        plugin: plugin.manifest.name.clone(),
        build: plugin.hash.clone(),
        target,
        settings: shared_cache::settings_print(&ch.settings),
        bars_console: bars_console(&ch.auth, plugin),
    }
}

/// The request as the shared cache knows it: the path and query as sent.
fn target_of(req: &Request) -> String {
    let uri = req.uri();
    uri.path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned())
}

/// A slot under the cap on plugin writes running at once; waiting for one (and so the timer)
/// only when they are all taken, up to the deadline ([`plugin_busy`] after it).
async fn permit<'a>(
    state: &'a PluginRoutes,
    plugin: &str,
) -> Result<tokio::sync::SemaphorePermit<'a>> {
    if let Ok(permit) = state.plugins.calls.try_acquire() {
        return Ok(permit);
    }
    tokio::time::timeout(
        state.plugins.runtime.limits.deadline,
        state.plugins.calls.acquire(),
    )
    .await
    .map_err(|_| plugin_busy(plugin))?
    .map_err(ApiError::internal)
}

/// The host did not run the call: counted as a refusal.
fn plugin_busy(plugin: &str) -> ApiError {
    crate::metrics::plugin_call(plugin, "handle", CallOutcome::Refused, Default::default());
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "plugin_busy",
        "Too many plugin calls are running. Retry shortly.",
    )
}

/// A route call's context, before its transaction and sandbox are set.
fn new_call(
    state: &PluginRoutes,
    auth: &Authenticated,
    plugin: &LoadedPlugin,
    settings: Arc<HashMap<String, String>>,
    request_id: &str,
) -> Call {
    let blobs = Blobs::of(&state.store, &auth.tenant, auth.key.env);
    let mut call = route_call(&state.plugins, plugin, settings, request_id, Some(blobs));
    call.sealing = state.plugins.sealing(&auth.tenant.id, auth.key.env);
    call.bars_console = bars_console(auth, plugin);
    call
}

/// Whether the call may not reach the console (a live key of the Cobuntu admin, to a plugin of
/// that namespace).
fn bars_console(auth: &Authenticated, plugin: &LoadedPlugin) -> bool {
    auth.key.env == tenants::Env::Live
        && auth.key.has_scope(crate::auth::scopes::COBUNTU_ADMIN)
        && plugin
            .manifest
            .namespaces
            .iter()
            .any(|n| n == crate::auth::scopes::COBUNTU_NAMESPACE)
}

/// A route call's context, from its parts (the benchmarks build one without a request).
pub fn route_call(
    plugins: &Plugins,
    plugin: &LoadedPlugin,
    settings: Arc<HashMap<String, String>>,
    request_id: &str,
    blobs: Option<Blobs>,
) -> Call {
    Call {
        plugin: plugin.manifest.name.clone(),
        capabilities: plugin.manifest.capabilities,
        declared_events: plugin.events.clone(),
        tx: Tx::None,
        rules: None,
        settings,
        request_id: request_id.to_owned(),
        emits: Emits::route(&plugins.runtime.limits),
        blobs,
        asker: None,
        answers: None,
        bars_console: false,
        sealing: None,
    }
}

/// The request as the plugin sees it, but for who asks ([`caller_of`]).
fn wit_request(
    route: &Route,
    params: Vec<(String, String)>,
    req: &Request,
    body: Vec<u8>,
) -> types::Request {
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.to_string())
        .unwrap_or_default();
    types::Request {
        method: route_method(req.method()).to_owned(),
        path: req.uri().path().to_owned(),
        route: route.path.clone(),
        params,
        query: req.uri().query().unwrap_or("").to_owned(),
        headers: req
            .headers()
            .iter()
            .filter(|(name, _)| !headers::is_credential(name))
            .filter_map(|(name, value)| {
                Some(types::Header {
                    name: name.as_str().to_owned(),
                    value: value.to_str().ok()?.to_owned(),
                })
            })
            .collect(),
        body,
        caller: types::Caller {
            key_id: String::new(),
            scopes: Vec::new(),
            env: String::new(),
            tenant: String::new(),
        },
        request_id,
    }
}

/// Who asks, as the plugin sees it.
fn caller_of(auth: &Authenticated) -> types::Caller {
    types::Caller {
        // An anonymous caller (a public route) has no key id: not its address either.
        key_id: if auth.key.is_anonymous() {
            String::new()
        } else {
            auth.key.id.clone()
        },
        scopes: auth.key.scopes.clone(),
        env: auth.key.env.as_str().to_owned(),
        tenant: auth.tenant.slug.to_string(),
    }
}

/// Whether the tenant has the plugin on, and its settings for it (`plugin.<name>.<key>`), from
/// the settings the gate read with the key.
fn tenant_view(auth: &Authenticated, plugin: &LoadedPlugin) -> Option<HashMap<String, String>> {
    let name = &plugin.manifest.name;
    let on = auth.settings.plugin_on(name, plugin.enabled_by_default());
    on.then(|| plugin.manifest.settings_for(&auth.settings))
}

struct Invocation {
    state: PluginRoutes,
    auth: Authenticated,
    plugin: Arc<LoadedPlugin>,
    route: Route,
    params: Vec<(String, String)>,
    settings: HashMap<String, String>,
}

/// How a write job ended when it did not commit.
pub enum Undone {
    /// The plugin answered 400 or above: its writes are rolled back, its answer stands.
    Answered(types::Response),
    Call(CallError),
    Host(ApiError),
}

impl From<tenants::Error> for Undone {
    fn from(e: tenants::Error) -> Self {
        Undone::Host(e.into())
    }
}

impl From<rusqlite::Error> for Undone {
    fn from(e: rusqlite::Error) -> Self {
        Undone::Host(e.into())
    }
}

impl Invocation {
    async fn run(self, req: Request) -> Response {
        match self.call(req).await {
            Ok(response) => response,
            Err(error) => error.into_response(),
        }
    }

    async fn call(self, req: Request) -> Result<Response> {
        let claim = req.extensions().get::<Arc<Claim>>().cloned();
        let asker = surfaces_asker(&self.state, &self.plugin, &req);
        let (parts, body) = req.into_parts();
        let body = read_body(body).await?;
        let head = Request::from_parts(parts, Body::empty());
        let mut request = wit_request(&self.route, self.params.clone(), &head, body.to_vec());
        request.caller = caller_of(&self.auth);
        // Before the write: a file with timers or mail is marked for its worker, which finds it
        // again after a restart.
        let file = self.auth.db.id();
        let caps = self.plugin.manifest.capabilities;
        for (capability, due) in [
            (Capability::Timers, &self.state.timers),
            (Capability::Mail, &self.state.mail),
        ] {
            if caps.contains(capability) && !due.is_marked(file) {
                let (due, store, file) = (due.clone(), self.state.store.clone(), file.clone());
                tokio::task::spawn_blocking(move || due.mark(&store, &file))
                    .await
                    .map_err(ApiError::internal)??;
            }
        }
        let name = self.plugin.manifest.name.clone();
        let (request, settings) = (Arc::new(request), Arc::new(self.settings));
        let mut answers = Answers::default();
        loop {
            let permit = permit(&self.state, &name).await?;
            let mut call = new_call(
                &self.state,
                &self.auth,
                &self.plugin,
                settings.clone(),
                &request.request_id,
            );
            call.answers = Some(answers.clone());
            call.asker = asker.clone();
            let (plugins, plugin) = (self.state.plugins.clone(), self.plugin.clone());
            let (rq, claim) = (request.clone(), claim.clone());
            // Alone: a write that reaches the tenant's quota makes SQLite abandon the
            // transaction, which must hold no other request's work.
            let outcome = self
                .auth
                .db
                .write_alone(move |w| write_call(w, &plugins, &plugin, call, &rq, claim.as_deref()))
                .await;
            drop(permit);
            match outcome {
                Ok(response) => return into_response(response),
                // Rolled back: asked with nothing held, then run again.
                Err(Undone::Call(CallError::Asked(ask))) => {
                    let cx = answering(
                        &self.state,
                        &self.auth,
                        &name,
                        &request.request_id,
                        asker.as_ref(),
                    );
                    answers.answer(&cx, *ask).await?;
                }
                Err(u) => return undone(&name, u),
            }
        }
    }
}

pub fn read_call(
    conn: &Connection,
    plugins: &Plugins,
    plugin: &LoadedPlugin,
    mut call: Call,
    request: &types::Request,
) -> std::result::Result<types::Response, Undone> {
    // Before BEGIN: the guard's marker made inside this transaction would go with its rollback.
    crate::plugins::sandbox::guard_connection(conn)?;
    conn.prepare_cached("BEGIN")?.execute([])?;
    let result = {
        let sandbox = Installed::new(
            conn,
            &plugin.manifest.name,
            plugin.manifest.capabilities,
            Mode::Read,
            &Bounds::for_call(&plugins.runtime.limits),
        )?;
        call.rules = Some(sandbox.rules());
        call.tx = Tx::Read(conn as *const Connection);
        plugins.runtime.handle(&plugin.pre, call, request)
    };
    conn.prepare_cached("ROLLBACK")?.execute([])?;
    result.map_err(Undone::Call)
}

fn write_call(
    w: &mut Write<'_>,
    plugins: &Plugins,
    plugin: &LoadedPlugin,
    mut call: Call,
    request: &types::Request,
    claim: Option<&Claim>,
) -> std::result::Result<types::Response, Undone> {
    migrate::ensure(w, plugin, &plugins.runtime.limits)
        .map_err(|e| Undone::Call(CallError::Failed(e)))?;
    let result = {
        let sandbox = Installed::new(
            w.connection(),
            &plugin.manifest.name,
            plugin.manifest.capabilities,
            Mode::Write,
            &Bounds::for_call(&plugins.runtime.limits),
        )?;
        call.rules = Some(sandbox.rules());
        call.tx = Tx::Write((w as *mut Write<'_>).cast::<Write<'static>>());
        plugins.runtime.handle(&plugin.pre, call, request)
    };
    if w.is_autocommit() {
        // SQLite gave up the transaction: the file reached the plugin quota mid-write.
        return Err(Undone::Host(limits::quota_exceeded()));
    }
    let response = result.map_err(Undone::Call)?;
    if response.status >= 400 {
        return Err(Undone::Answered(response));
    }
    if let Some(claim) = claim {
        let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::OK);
        // The headers the client gets, so a replay answers them too.
        let mut passed = axum::http::HeaderMap::new();
        headers::pass_through(response.headers.clone(), &mut passed);
        claim.record_with(w, status, &passed, &response.body)?;
    }
    Ok(response)
}

fn undone(plugin: &str, undone: Undone) -> Result<Response> {
    Err(match undone {
        // Its answer stands, rolled back.
        Undone::Answered(response) => return into_response(response),
        Undone::Host(e) => e,
        Undone::Call(CallError::Timeout) => {
            let mut e = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "plugin_timeout",
                format!("The `{plugin}` surface did not answer in time."),
            );
            e.set_source(anyhow::anyhow!("plugin `{plugin}` ran past its deadline"));
            e
        }
        Undone::Call(CallError::Asked(_)) => ApiError::internal(anyhow::anyhow!(
            "plugin `{plugin}`: an ask was left unanswered"
        )),
        Undone::Call(CallError::Failed(why)) => {
            let mut e = ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "plugin_failed",
                format!("The `{plugin}` surface failed. Include the request_id when reporting it."),
            );
            e.set_source(anyhow::anyhow!("plugin `{plugin}`: {why}"));
            e
        }
    })
}

/// The plugin's answer as an HTTP response. An error body in the envelope's shape becomes an
/// [`ApiError`], so it gets the request id like every other error; the plugin's other headers
/// stay on it.
fn into_response(response: types::Response) -> Result<Response> {
    let status = StatusCode::from_u16(response.status).map_err(ApiError::internal)?;
    if status.is_client_error() || status.is_server_error() {
        let parsed: Option<Value> = serde_json::from_slice(&response.body).ok();
        if let Some(Value::Object(mut error)) =
            parsed.and_then(|mut v| v.get_mut("error").map(Value::take))
        {
            let code = error
                .remove("code")
                .and_then(|c| c.as_str().map(str::to_owned))
                .unwrap_or_else(|| "plugin_error".into());
            let message = error
                .remove("message")
                .and_then(|m| m.as_str().map(str::to_owned))
                .unwrap_or_default();
            error.remove("request_id");
            let mut e = ApiError::new(status, code, message);
            for (k, v) in error {
                e = e.with(&k, v);
            }
            // Its other headers stand (a 412's `ETag`, xAPI's version); the envelope is JSON.
            let mut out = e.into_response();
            let kept = response
                .headers
                .into_iter()
                .filter(|h| !h.name.eq_ignore_ascii_case("content-type"))
                .collect();
            headers::pass_through(kept, out.headers_mut());
            return Ok(out);
        }
    }
    let mut out = Response::new(Body::from(response.body));
    *out.status_mut() = status;
    headers::pass_through(response.headers, out.headers_mut());
    Ok(out)
}

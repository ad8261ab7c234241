//! The top floor: the whole router, assembled once from the handlers' routers and wrapped in the
//! HTTP stack. Nothing below imports it.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;

use crate::error::{ApiError, Result};
use crate::http::gate::Gate;
use crate::http::scope::{self, ScopeLayer, Scopes};
use crate::openapi::serve::Documents;
use crate::plugins::dispatch;
use crate::state::AppState;
use crate::{admin, api, http, openapi, scim, ui};

pub fn app(state: AppState) -> Router {
    let (api, mut host_document) = host_api(&state);
    let scopes = ScopeLayer {
        scopes: Arc::new(Scopes::from_document(&host_document)),
        idempotency: state.idempotency.clone(),
    };
    // SCIM is in the document, beside `/api/v1`, under its own token (not a key's scope).
    scim::openapi::add_to(&mut host_document);
    let documents = Documents {
        host: Arc::new(host_document),
        plugins: state.plugins.clone(),
        store: state.store.clone(),
        base_domain: state.config.base_domain.as_str().into(),
    };
    let routes = Router::new()
        .route("/healthz", get(healthz))
        .route("/api/docs", get(openapi::docs::page))
        .route("/assets/{name}", get(ui::asset))
        .merge(admin::router())
        .merge(scim::router(Gate::from_ref(&state)))
        .merge(api.route_layer(from_fn_with_state(scopes, scope::layer)))
        .merge(
            Router::new()
                .route("/api/openapi.json", get(openapi::serve::json))
                .route("/api/openapi.yaml", get(openapi::serve::yaml))
                .with_state(documents),
        )
        .fallback(dispatch::fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state.clone());
    let trusted = state.config.trusted_proxies.clone();
    let app = http::stack(routes, Gate::from_ref(&state), trusted);
    // Plugins' `surfaces` calls come back in through the same app, gate and all.
    state.surfaces.serve(app.clone());
    app
}

/// The host's `/api/v1` routes and, from the same declarations, its finished OpenAPI document.
pub fn host_api(state: &AppState) -> (Router<AppState>, Value) {
    let (routes, doc) = OpenApiRouter::with_openapi(openapi::base())
        .merge(api::users::router())
        .merge(api::posts::router())
        .merge(api::events::router())
        .merge(api::files::router(state))
        .merge(api::webhooks::router())
        .merge(api::groups::router())
        .merge(api::ai::router())
        .split_for_parts();
    (routes, openapi::finish_host(doc))
}

/// Readiness: the registry answers. Needs no tenant and no key.
async fn healthz(State(state): State<AppState>) -> Result<impl IntoResponse> {
    tokio::task::spawn_blocking(move || state.store.tenant("-")).await??;
    Ok(axum::Json(serde_json::json!({ "status": "ok" })))
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "This endpoint does not accept that method.",
    )
}

#[cfg(test)]
mod tests {
    //! The whole router in-process (`oneshot`, no binary, no socket): the gate's refusals and the
    //! scope check as one table of scenarios, beside the end-to-end tests that stay.

    use axum::body::Body;
    use axum::http::Request;
    use chrono::{Duration, Utc};
    use tenants::{Env, Plan, Slug, Store};
    use tower::ServiceExt;

    use super::*;
    use crate::auth::{KeyKind, NewKey, keys};
    use crate::plugins::registry::Plugins;
    use crate::plugins::runtime::Runtime;
    use crate::state::Config;
    use crate::webhooks::Webhooks;

    struct Scenario {
        name: &'static str,
        host: &'static str,
        method: &'static str,
        path: &'static str,
        key: Key,
        status: u16,
        code: Option<&'static str>,
    }

    #[derive(Clone, Copy)]
    enum Key {
        None,
        Header(&'static str, &'static str),
        /// A key minted below, sent as a bearer token.
        Minted(usize),
    }

    /// Keys minted for the scenarios, by index.
    const READER: usize = 0;
    const REVOKED: usize = 1;
    const EXPIRED: usize = 2;
    const OTHER_TENANT: usize = 3;
    const TEST_ENV: usize = 4;
    const STARTER_PLAN: usize = 5;
    const WRITER: usize = 6;

    fn mint(store: &Store, slug: &str, env: Env, scopes: &[&str]) -> (String, String) {
        let tenant = store.tenant(slug).unwrap().unwrap();
        let db = store.db(&tenant, Env::Live).unwrap();
        let new = NewKey {
            env,
            kind: KeyKind::Secret,
            format: crate::auth::keys::KeyFormat::Mobieus,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            label: None,
            expires_at: None,
            rate_limit_per_minute: None,
        };
        db.write(move |w| keys::create(w, &new, Utc::now()).map_err(tenants::Error::from))
            .map(|(key, plaintext)| (key.id, plaintext))
            .unwrap()
    }

    fn setup(dir: &std::path::Path) -> (AppState, Vec<String>) {
        let store = Store::open(dir, Default::default()).unwrap();
        for (slug, plan) in [
            ("acme", Plan::Pro),
            ("globex", Plan::Pro),
            ("tiny", Plan::Starter),
        ] {
            store
                .create_tenant(&Slug::parse(slug).unwrap(), plan)
                .unwrap();
        }
        let read = ["users:read", "posts:read", "events:read"];
        let mut minted = vec![
            mint(&store, "acme", Env::Live, &read),
            mint(&store, "acme", Env::Live, &read),
            mint(&store, "acme", Env::Live, &read),
            mint(&store, "globex", Env::Live, &read),
            mint(&store, "acme", Env::Test, &read),
            mint(&store, "tiny", Env::Live, &read),
            mint(&store, "acme", Env::Live, &["users:write", "posts:write"]),
        ];
        let acme = store.db(&store.tenant("acme").unwrap().unwrap(), Env::Live);
        let acme = acme.unwrap();
        let (revoked, expired) = (minted[REVOKED].0.clone(), minted[EXPIRED].0.clone());
        acme.write(move |w| {
            keys::revoke(w, &revoked, Utc::now())?;
            w.execute(
                "UPDATE api_keys SET expires_at = ?2 WHERE id = ?1",
                rusqlite::params![
                    expired,
                    crate::time::to_rfc3339(&(Utc::now() - Duration::hours(1)))
                ],
            )?;
            Ok::<_, tenants::Error>(())
        })
        .unwrap();
        let config = Config {
            base_domain: "localhost".into(),
            rate_limit_per_minute: 600,
            clamd: None,
            trusted_proxies: Default::default(),
        };
        let runtime = Runtime::new(Default::default(), None).unwrap();
        let plugins = Arc::new(Plugins::new(runtime, dir.join("plugins")));
        let key = Arc::new(crate::sealed::ServerKey::ephemeral());
        let webhooks = Webhooks::new(Default::default(), key.clone()).unwrap();
        let mail = crate::mail::Mail::new(Default::default()).unwrap();
        let ai = crate::ai::Ai::new(Default::default(), key).unwrap();
        let state = AppState::new(store, config, [7; 32], webhooks, mail, ai, plugins);
        (
            state,
            minted.drain(..).map(|(_, plaintext)| plaintext).collect(),
        )
    }

    #[test]
    fn the_gate_and_the_scope_check_answer_every_scenario() {
        let scenarios = [
            Scenario {
                name: "a valid key",
                host: "acme.localhost",
                method: "GET",
                path: "/api/v1/users",
                key: Key::Minted(READER),
                status: 200,
                code: None,
            },
            Scenario {
                name: "no key",
                host: "acme.localhost",
                method: "GET",
                path: "/api/v1/users",
                key: Key::None,
                status: 401,
                code: Some("missing_authorization"),
            },
            Scenario {
                name: "not a bearer token",
                host: "acme.localhost",
                method: "GET",
                path: "/api/v1/users",
                key: Key::Header("authorization", "Basic YTpi"),
                status: 401,
                code: Some("invalid_authorization"),
            },
            Scenario {
                name: "an empty X-API-Key",
                host: "acme.localhost",
                method: "GET",
                path: "/api/v1/users",
                key: Key::Header("x-api-key", " "),
                status: 401,
                code: Some("invalid_authorization"),
            },
            Scenario {
                name: "a malformed key",
                host: "acme.localhost",
                method: "GET",
                path: "/api/v1/users",
                key: Key::Header("x-api-key", "mc_live_short"),
                status: 401,
                code: Some("invalid_api_key"),
            },
            Scenario {
                name: "a well-formed unknown key",
                host: "acme.localhost",
                method: "GET",
                path: "/api/v1/users",
                key: Key::Header(
                    "authorization",
                    "Bearer mc_live_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                ),
                status: 401,
                code: Some("invalid_api_key"),
            },
            Scenario {
                name: "a revoked key",
                host: "acme.localhost",
                method: "GET",
                path: "/api/v1/users",
                key: Key::Minted(REVOKED),
                status: 401,
                code: Some("invalid_api_key"),
            },
            Scenario {
                name: "an expired key",
                host: "acme.localhost",
                method: "GET",
                path: "/api/v1/users",
                key: Key::Minted(EXPIRED),
                status: 401,
                code: Some("invalid_api_key"),
            },
            Scenario {
                name: "another tenant's key",
                host: "acme.localhost",
                method: "GET",
                path: "/api/v1/users",
                key: Key::Minted(OTHER_TENANT),
                status: 401,
                code: Some("invalid_api_key"),
            },
            Scenario {
                name: "the key at its own tenant",
                host: "globex.localhost",
                method: "GET",
                path: "/api/v1/users",
                key: Key::Minted(OTHER_TENANT),
                status: 200,
                code: None,
            },
            Scenario {
                name: "no such tenant",
                host: "nobody.localhost",
                method: "GET",
                path: "/api/v1/users",
                key: Key::Minted(READER),
                status: 404,
                code: Some("tenant_not_found"),
            },
            Scenario {
                name: "the bare base domain",
                host: "localhost",
                method: "GET",
                path: "/api/v1/users",
                key: Key::Minted(READER),
                status: 404,
                code: Some("tenant_not_found"),
            },
            Scenario {
                name: "a test key reads the sandbox",
                host: "acme.localhost",
                method: "GET",
                path: "/api/v1/events",
                key: Key::Minted(TEST_ENV),
                status: 200,
                code: None,
            },
            Scenario {
                name: "a plan without the API",
                host: "tiny.localhost",
                method: "GET",
                path: "/api/v1/users",
                key: Key::Minted(STARTER_PLAN),
                status: 403,
                code: Some("plan_gated"),
            },
            Scenario {
                name: "a read key writing",
                host: "acme.localhost",
                method: "POST",
                path: "/api/v1/users",
                key: Key::Minted(READER),
                status: 403,
                code: Some("insufficient_scope"),
            },
            Scenario {
                name: "a write key reading",
                host: "acme.localhost",
                method: "GET",
                path: "/api/v1/posts/post_x",
                key: Key::Minted(WRITER),
                status: 403,
                code: Some("insufficient_scope"),
            },
            Scenario {
                name: "a scope checked before the body",
                host: "acme.localhost",
                method: "POST",
                path: "/api/v1/webhooks",
                key: Key::Minted(READER),
                status: 403,
                code: Some("insufficient_scope"),
            },
            Scenario {
                name: "a scope checked before an upload is read",
                host: "acme.localhost",
                method: "POST",
                path: "/api/v1/files",
                key: Key::Minted(READER),
                status: 403,
                code: Some("insufficient_scope"),
            },
            Scenario {
                name: "a write key with a bad body",
                host: "acme.localhost",
                method: "POST",
                path: "/api/v1/users",
                key: Key::Minted(WRITER),
                status: 415,
                code: Some("unsupported_media_type"),
            },
            Scenario {
                name: "a method the route lacks",
                host: "acme.localhost",
                method: "PUT",
                path: "/api/v1/users",
                key: Key::Minted(READER),
                status: 405,
                code: Some("method_not_allowed"),
            },
            Scenario {
                name: "no such endpoint",
                host: "acme.localhost",
                method: "GET",
                path: "/api/v1/nothing",
                key: Key::Minted(READER),
                status: 404,
                code: Some("not_found"),
            },
        ];
        let dir = tempfile::tempdir().unwrap();
        let (state, minted) = setup(dir.path());
        let app = app(state);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut failures = Vec::new();
        for s in &scenarios {
            let mut req = Request::builder()
                .method(s.method)
                .uri(s.path)
                .header("host", s.host);
            match s.key {
                Key::None => {}
                Key::Header(name, value) => req = req.header(name, value),
                Key::Minted(i) => {
                    req = req.header("authorization", format!("Bearer {}", minted[i]))
                }
            }
            let response = runtime
                .block_on(app.clone().oneshot(req.body(Body::empty()).unwrap()))
                .unwrap();
            let status = response.status().as_u16();
            let body = runtime
                .block_on(axum::body::to_bytes(response.into_body(), 1 << 20))
                .unwrap();
            let body: Value = serde_json::from_slice(&body).unwrap_or_default();
            let code = body["error"]["code"].as_str();
            if status != s.status || code != s.code {
                failures.push(format!(
                    "{}: {} {} on {} answered {status} {code:?}, expected {} {:?}",
                    s.name, s.method, s.path, s.host, s.status, s.code
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn every_host_operation_declares_a_scope_and_is_routed_by_the_same_declaration() {
        let dir = tempfile::tempdir().unwrap();
        let (state, _) = setup(dir.path());
        let (_, doc) = host_api(&state);
        let scopes = Scopes::from_document(&doc);
        let mut operations = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                operations += 1;
                let scope = op["x-required-scope"].as_str();
                assert!(scope.is_some(), "{method} {path} declares no scope");
                let method = axum::http::Method::from_bytes(method.to_uppercase().as_bytes());
                assert_eq!(
                    scopes.get(path, &method.unwrap()).map(|d| d.scope.as_str()),
                    scope
                );
            }
        }
        assert_eq!(scopes.len(), operations);
    }

    /// Statuses the host's own layers answer are documented on every operation they can reach.
    #[test]
    fn the_layers_statuses_are_documented() {
        let dir = tempfile::tempdir().unwrap();
        let (state, _) = setup(dir.path());
        let (_, doc) = host_api(&state);
        let statuses = |path: &str, method: &str| -> Vec<String> {
            let responses = doc["paths"][path][method]["responses"].as_object().unwrap();
            responses.keys().cloned().collect()
        };
        let create = statuses("/api/v1/users", "post");
        for status in ["400", "409", "413", "415", "422"] {
            assert!(create.contains(&status.to_owned()), "createUser {status}");
        }
        let username_taken = &doc["paths"]["/api/v1/users"]["post"]["responses"]["409"];
        assert!(
            username_taken["description"]
                .as_str()
                .unwrap()
                .contains("username_taken")
        );
        let patch = statuses("/api/v1/posts/{id}", "patch");
        assert!(patch.contains(&"415".to_owned()) && !patch.contains(&"422".to_owned()));
        let list = statuses("/api/v1/users", "get");
        assert!(
            !list
                .iter()
                .any(|s| ["409", "413", "415", "422"].contains(&s.as_str()))
        );
    }

    /// The operations the host documented before its routes were declared once (read from the
    /// `#[utoipa::path]` annotations and `scoped(...)` routers of that code): the same set, with
    /// the same scopes and ids, and every schema they reference defined.
    #[test]
    fn the_host_documents_the_same_operations_as_before() {
        let dir = tempfile::tempdir().unwrap();
        let (state, _) = setup(dir.path());
        let (_, doc) = host_api(&state);
        let before: Vec<Value> =
            serde_json::from_str(include_str!("../../tests/openapi/host-operations.json")).unwrap();
        let mut now = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                now.push(serde_json::json!({
                    "method": method, "path": path,
                    "scope": op["x-required-scope"], "operation_id": op["operationId"],
                }));
            }
        }
        let key = |o: &Value| (o["path"].to_string(), o["method"].to_string());
        now.sort_by_key(key);
        assert_eq!(now, before);
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for (at, _) in text.match_indices("#/components/schemas/") {
            let name = text[at + 21..].split('"').next().unwrap();
            assert!(
                schemas.contains_key(name),
                "`{name}` is referenced, not defined"
            );
        }
        for name in [
            "User",
            "Post",
            "Event",
            "File",
            "ErrorEnvelope",
            "NewUser",
            "PostPatch",
        ] {
            assert!(schemas.contains_key(name), "{name}");
        }
    }
}

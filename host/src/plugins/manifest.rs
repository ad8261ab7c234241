//! A plugin's manifest as the host keeps it, and the rules it must pass to load: a good name and
//! version, namespaces nobody else claims, routes, scopes and event types inside them, routes that
//! collide with nothing, migrations in order.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::plugins::bindings::types as wit;
use crate::plugins::capabilities::Capabilities;
use crate::plugins::runtime::Described as Component;
use crate::plugins::{routes, tables};
use crate::settings;

/// What the host owns: no plugin may claim these namespaces.
pub const HOST_NAMESPACES: &[&str] = &[
    "users", "user", "posts", "post", "events", "event", "webhooks", "webhook", "files", "file",
    "admin", "plugins",
];

const METHODS: &[&str] = &["GET", "POST", "PATCH", "PUT", "DELETE"];

#[derive(Debug, Clone, Serialize)]
pub struct Route {
    pub method: String,
    pub path: String,
    pub scope: String,
    pub operation_id: String,
    pub summary: String,
    #[serde(skip)]
    pub request_schema: Option<String>,
    #[serde(skip)]
    pub response_schema: Option<String>,
    /// What the document says of it beyond 1.0 (a 1.1 component's manifest extension).
    #[serde(skip)]
    pub doc: Option<RouteDoc>,
}

/// A route's success status, errors, query parameters and schema names (contract 1.1).
#[derive(Debug, Clone, Default)]
pub struct RouteDoc {
    pub success_status: u16,
    /// Status, code, description.
    pub errors: Vec<(u16, String, String)>,
    pub query: Vec<QueryParam>,
    pub request_name: Option<String>,
    pub response_name: Option<String>,
    /// Callable with no key (a GET only).
    pub public: bool,
}

#[derive(Debug, Clone)]
pub struct QueryParam {
    pub name: String,
    pub description: String,
    pub required: bool,
    pub schema: Option<String>,
}

impl Route {
    /// Anyone may call it, with no key.
    pub fn is_public(&self) -> bool {
        self.doc.as_ref().is_some_and(|d| d.public)
    }
}

impl From<wit::RouteDoc> for RouteDoc {
    fn from(d: wit::RouteDoc) -> Self {
        RouteDoc {
            success_status: d.success_status,
            errors: d
                .errors
                .into_iter()
                .map(|e| (e.status, e.code, e.description))
                .collect(),
            query: d
                .query
                .into_iter()
                .map(|q| QueryParam {
                    name: q.name,
                    description: q.description,
                    required: q.required,
                    schema: q.schema,
                })
                .collect(),
            request_name: d.request_name,
            response_name: d.response_name,
            public: d.public,
        }
    }
}

/// `Listing`, `NewListing`: what a schema may be called among the document's components.
fn schema_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl RouteDoc {
    fn check(&self, route: &Route) -> Result<(), String> {
        let at = format!("route {} {}", route.method, route.path);
        if self.public && route.method != "GET" {
            return Err(format!("{at}: only a GET route may be public"));
        }
        if !(200..300).contains(&self.success_status) {
            return Err(format!(
                "{at}: success status {} is not 2xx",
                self.success_status
            ));
        }
        for (status, code, _) in &self.errors {
            if !(400..600).contains(status) {
                return Err(format!("{at}: error status {status} is not 4xx or 5xx"));
            }
            if !crate::event_log::is_valid_type(&format!("x.{code}")) || code.contains('.') {
                return Err(format!("{at}: error code `{code}` is not snake_case"));
            }
        }
        let mut names = HashSet::new();
        for q in &self.query {
            if !word(&q.name) || !names.insert(q.name.as_str()) {
                return Err(format!(
                    "{at}: query parameter `{}` is not a-z, 0-9 and _, once",
                    q.name
                ));
            }
            if q.schema
                .as_deref()
                .is_some_and(|s| serde_json::from_str::<serde_json::Value>(s).is_err())
            {
                return Err(format!(
                    "{at}: query parameter `{}` has a schema that is not JSON",
                    q.name
                ));
            }
        }
        for name in self.request_name.iter().chain(&self.response_name) {
            if !schema_name(name) {
                return Err(format!(
                    "{at}: schema name `{name}` is not 1-64 letters and digits starting with a capital"
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Described {
    pub name: String,
    pub description: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Migration {
    pub version: u32,
    pub name: String,
    #[serde(skip)]
    pub sql: String,
}

/// A setting a tenant gives a plugin, stored as `plugin.<plugin>.<name>`.
#[derive(Debug, Clone, Serialize)]
pub struct SettingDoc {
    pub name: String,
    pub description: String,
    pub default: String,
    /// Empty: any text up to [`MAX_SETTING_VALUE`] characters.
    pub allowed: Vec<String>,
}

pub const MAX_SETTING_VALUE: usize = 1000;
const MAX_SETTINGS: usize = 32;

impl SettingDoc {
    /// Checks a value a tenant wants to set.
    pub fn check(&self, value: &str) -> Result<(), String> {
        if self.allowed.is_empty() {
            if value.chars().count() > MAX_SETTING_VALUE {
                return Err(format!("at most {MAX_SETTING_VALUE} characters"));
            }
        } else if !self.allowed.iter().any(|a| a == value) {
            return Err(format!("one of {}", self.allowed.join(", ")));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub namespaces: Vec<String>,
    pub routes: Vec<Route>,
    pub scopes: Vec<Described>,
    pub events: Vec<Described>,
    pub migrations: Vec<Migration>,
    pub feature_flags: Vec<String>,
    pub subscriptions: Vec<String>,
    /// Declared in 1.1's manifest extension; none for a 1.0 component.
    pub capabilities: Capabilities,
    /// The tenant settings it reads (1.1's manifest extension).
    pub settings: Vec<SettingDoc>,
    /// The contract version the component was built against (`1.0.0`, `1.1.0`).
    pub contract: &'static str,
}

impl From<Component> for Manifest {
    fn from(c: Component) -> Self {
        let mut manifest = Manifest::from(c.manifest);
        manifest.contract = c.contract;
        if let Some(extension) = c.extension {
            manifest.capabilities = extension.capabilities.into_iter().map(Into::into).collect();
            manifest.settings = extension
                .settings
                .into_iter()
                .map(|s| SettingDoc {
                    name: s.name,
                    description: s.description,
                    default: s.default_value,
                    allowed: s.allowed,
                })
                .collect();
            for doc in extension.routes {
                if let Some(route) = manifest
                    .routes
                    .iter_mut()
                    .find(|r| r.operation_id == doc.operation_id)
                {
                    route.doc = Some(doc.into());
                }
            }
        }
        manifest
    }
}

impl From<wit::Manifest> for Manifest {
    fn from(m: wit::Manifest) -> Self {
        Manifest {
            name: m.name,
            version: m.version,
            namespaces: m.namespaces,
            routes: m
                .routes
                .into_iter()
                .map(|r| Route {
                    method: r.method,
                    path: r.path,
                    scope: r.scope,
                    operation_id: r.operation_id,
                    summary: r.summary,
                    request_schema: r.request_schema,
                    response_schema: r.response_schema,
                    doc: None,
                })
                .collect(),
            scopes: m
                .scopes
                .into_iter()
                .map(|s| Described {
                    name: s.name,
                    description: s.description,
                })
                .collect(),
            events: m
                .events
                .into_iter()
                .map(|e| Described {
                    name: e.event_type,
                    description: e.description,
                })
                .collect(),
            migrations: m
                .migrations
                .into_iter()
                .map(|m| Migration {
                    version: m.version,
                    name: m.name,
                    sql: m.sql,
                })
                .collect(),
            feature_flags: m.feature_flags,
            subscriptions: m.subscriptions,
            capabilities: Capabilities::NONE,
            settings: vec![],
            contract: "1.0.0",
        }
    }
}

/// Checks a value for a plugin's setting `<plugin>.<name>` against what the plugin declared;
/// returns where it is stored and the value (`None` for `none`: back to the default).
pub fn setting_value(
    plugins: &[&Manifest],
    name: &str,
    value: &str,
) -> Result<(String, Option<String>), String> {
    let unknown = || {
        let mut known: Vec<String> = settings::NAMES.iter().map(|n| n.to_string()).collect();
        for p in plugins {
            known.extend(p.settings.iter().map(|s| format!("{}.{}", p.name, s.name)));
        }
        format!(
            "unknown setting `{name}`: expected one of {}",
            known.join(", ")
        )
    };
    let (plugin, key) = name.split_once('.').ok_or_else(unknown)?;
    let manifest = plugins
        .iter()
        .find(|p| p.name == plugin)
        .ok_or_else(unknown)?;
    let doc = manifest
        .settings
        .iter()
        .find(|s| s.name == key)
        .ok_or_else(unknown)?;
    if value == "none" {
        return Ok((settings::plugin_key(plugin, key), None));
    }
    doc.check(value)
        .map_err(|why| format!("{name} must be {why}, or `none` (default {})", doc.default))?;
    Ok((settings::plugin_key(plugin, key), Some(value.to_owned())))
}

fn word(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl Manifest {
    /// What `config.get` answers this plugin for a tenant: what the tenant set, over the
    /// defaults the plugin declared.
    pub fn settings_for(&self, tenant: &settings::TenantSettings) -> HashMap<String, String> {
        let defaults = self
            .settings
            .iter()
            .map(|s| (s.name.clone(), s.default.clone()));
        defaults.chain(tenant.of_plugin(&self.name)).collect()
    }

    pub fn event_types(&self) -> HashSet<String> {
        self.events.iter().map(|e| e.name.clone()).collect()
    }

    fn in_namespace(&self, ns: &str) -> bool {
        self.namespaces.iter().any(|n| n == ns)
    }

    /// Checks the manifest alone and against the plugins loaded already. Every host route lives
    /// under a host namespace, so a route inside the plugin's own namespaces cannot collide with
    /// one.
    pub fn validate(&self, others: &[&Manifest]) -> Result<(), String> {
        if !word(&self.name) {
            return Err(format!(
                "name `{}`: 1-32 of a-z, 0-9 and _, starting with a letter",
                self.name
            ));
        }
        if let Some(why) = tables::refusal(&self.name, others.iter().map(|o| o.name.as_str())) {
            return Err(why);
        }
        let semver = self.version.split('.').count() == 3
            && self
                .version
                .split(['.', '-', '+'])
                .next()
                .is_some_and(|p| p.parse::<u64>().is_ok());
        if !semver {
            return Err(format!(
                "version `{}` is not semver (e.g. 1.0.0)",
                self.version
            ));
        }
        if self.namespaces.is_empty() {
            return Err("claims no namespace".into());
        }
        for ns in &self.namespaces {
            if !word(ns) {
                return Err(format!("namespace `{ns}`: a-z, 0-9 and _"));
            }
            if HOST_NAMESPACES.contains(&ns.as_str()) {
                return Err(format!("namespace `{ns}` belongs to the host"));
            }
            if let Some(other) = others
                .iter()
                .find(|o| o.name != self.name && o.in_namespace(ns))
            {
                return Err(format!(
                    "namespace `{ns}` is already claimed by plugin `{}`",
                    other.name
                ));
            }
        }
        let own_scopes: HashSet<&str> = self.scopes.iter().map(|s| s.name.as_str()).collect();
        for scope in &self.scopes {
            // Seed 001's scopes keep their names (`READ_PUBLIC`): the plugin claiming its
            // namespace claims them.
            if self.in_namespace(crate::auth::scopes::COBUNTU_NAMESPACE)
                && crate::auth::scopes::COBUNTU
                    .iter()
                    .any(|s| s.name == scope.name)
            {
                continue;
            }
            let ns = scope.name.split(':').next().unwrap_or("");
            let action_ok = scope.name.split(':').skip(1).all(word) && scope.name.contains(':');
            if !self.in_namespace(ns) || !action_ok {
                return Err(format!(
                    "scope `{}` is outside the plugin's namespaces {:?}",
                    scope.name, self.namespaces
                ));
            }
        }
        for event in &self.events {
            let ns = event.name.split('.').next().unwrap_or("");
            if !self.in_namespace(ns) || !crate::event_log::is_valid_type(&event.name) {
                return Err(format!(
                    "event type `{}` is outside the plugin's namespaces {:?}",
                    event.name, self.namespaces
                ));
            }
        }
        let mut seen = HashSet::new();
        for route in &self.routes {
            if !METHODS.contains(&route.method.as_str()) {
                return Err(format!(
                    "route {} {}: method not one of {METHODS:?}",
                    route.method, route.path
                ));
            }
            if !routes::valid(&route.path) {
                return Err(format!(
                    "route path `{}` is not a template under /api/v1/",
                    route.path
                ));
            }
            let ns = routes::namespace(&route.path).unwrap_or("");
            if !self.in_namespace(ns) {
                return Err(format!(
                    "route `{}` is outside the plugin's namespaces {:?}",
                    route.path, self.namespaces
                ));
            }
            if !own_scopes.contains(route.scope.as_str())
                && !crate::auth::scopes::CORE
                    .iter()
                    .any(|s| s.name == route.scope)
            {
                return Err(format!(
                    "route {} {} requires `{}`, a scope the plugin does not define",
                    route.method, route.path, route.scope
                ));
            }
            if let Some(doc) = &route.doc {
                doc.check(route)?;
            }
            if !seen.insert((route.method.clone(), route.path.clone())) {
                return Err(format!(
                    "route {} {} is declared twice",
                    route.method, route.path
                ));
            }
            for other in others.iter().filter(|o| o.name != self.name) {
                if let Some(r) = other
                    .routes
                    .iter()
                    .find(|r| r.method == route.method && routes::overlap(&r.path, &route.path))
                {
                    return Err(format!(
                        "route {} {} collides with plugin `{}`'s {}",
                        route.method, route.path, other.name, r.path
                    ));
                }
            }
        }
        let mut last = 0;
        for m in &self.migrations {
            if m.version <= last {
                return Err(format!(
                    "migration versions must increase from 1 ({} after {last})",
                    m.version
                ));
            }
            last = m.version;
        }
        for s in &self.subscriptions {
            if !crate::event_log::is_valid_type(s) {
                return Err(format!("subscription `{s}` is not an event type"));
            }
        }
        if self.settings.len() > MAX_SETTINGS {
            return Err(format!("at most {MAX_SETTINGS} settings"));
        }
        let mut names = HashSet::new();
        for setting in &self.settings {
            let at = format!("setting `{}`", setting.name);
            if !word(&setting.name) {
                return Err(format!(
                    "{at}: 1-32 of a-z, 0-9 and _, starting with a letter"
                ));
            }
            if !names.insert(&setting.name) {
                return Err(format!("{at} is declared twice"));
            }
            setting
                .check(&setting.default)
                .map_err(|why| format!("{at}: its default is not allowed: {why}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(name: &str, ns: &str) -> Manifest {
        Manifest {
            name: name.into(),
            version: "1.0.0".into(),
            namespaces: vec![ns.into()],
            routes: vec![Route {
                method: "GET".into(),
                path: format!("/api/v1/{ns}/things/{{id}}"),
                scope: format!("{ns}:read"),
                operation_id: "get".into(),
                summary: String::new(),
                request_schema: None,
                response_schema: None,
                doc: None,
            }],
            scopes: vec![Described {
                name: format!("{ns}:read"),
                description: "read".into(),
            }],
            events: vec![Described {
                name: format!("{ns}.created"),
                description: "made".into(),
            }],
            migrations: vec![],
            feature_flags: vec![],
            subscriptions: vec![],
            capabilities: Capabilities::NONE,
            settings: vec![],
            contract: "1.1.0",
        }
    }

    #[test]
    fn rules() {
        let a = manifest("a", "alpha");
        assert!(a.validate(&[]).is_ok());
        let mut bad = manifest("b", "users");
        assert!(
            bad.validate(&[])
                .unwrap_err()
                .contains("belongs to the host")
        );
        bad = manifest("b", "alpha");
        assert!(
            bad.validate(&[&a])
                .unwrap_err()
                .contains("already claimed by plugin `a`")
        );
        // Upgrading the same plugin is not a conflict with itself.
        assert!(manifest("a", "alpha").validate(&[&a]).is_ok());
        let mut scope = manifest("c", "gamma");
        scope.scopes.push(Described {
            name: "users:admin".into(),
            description: String::new(),
        });
        assert!(scope.validate(&[]).unwrap_err().contains("outside"));
        let mut event = manifest("c", "gamma");
        event.events.push(Described {
            name: "alpha.created".into(),
            description: String::new(),
        });
        assert!(event.validate(&[]).unwrap_err().contains("outside"));
        let mut route = manifest("c", "gamma");
        route.routes[0].path = "/api/v1/alpha/x".into();
        assert!(route.validate(&[]).unwrap_err().contains("outside"));
        let mut twin = manifest("d", "delta");
        twin.namespaces.push("alpha".into());
        assert!(
            twin.validate(&[&a])
                .unwrap_err()
                .contains("already claimed")
        );
        let mut host_scope = manifest("c", "gamma");
        host_scope.routes[0].scope = "users:read".into();
        assert!(
            host_scope.validate(&[]).is_ok(),
            "a route may require a host scope"
        );
        let mut version = manifest("c", "gamma");
        version.version = "one".into();
        assert!(version.validate(&[]).is_err());
    }

    #[test]
    fn route_docs_are_checked() {
        let good = RouteDoc {
            success_status: 201,
            errors: vec![(404, "thing_not_found".into(), "No thing.".into())],
            request_name: Some("NewThing".into()),
            ..RouteDoc::default()
        };
        let with = |doc: RouteDoc| {
            let mut m = manifest("c", "gamma");
            m.routes[0].doc = Some(doc);
            m.validate(&[])
        };
        assert!(with(good.clone()).is_ok());
        let mut post = manifest("c", "gamma");
        post.routes[0].method = "POST".into();
        post.routes[0].doc = Some(RouteDoc {
            public: true,
            ..good.clone()
        });
        assert!(post.validate(&[]).unwrap_err().contains("only a GET"));
        for (bad, why) in [
            (
                RouteDoc {
                    success_status: 404,
                    ..good.clone()
                },
                "not 2xx",
            ),
            (
                RouteDoc {
                    errors: vec![(200, "ok".into(), String::new())],
                    ..good.clone()
                },
                "not 4xx",
            ),
            (
                RouteDoc {
                    errors: vec![(404, "Not Found".into(), String::new())],
                    ..good.clone()
                },
                "snake_case",
            ),
            (
                RouteDoc {
                    response_name: Some("lower".into()),
                    ..good.clone()
                },
                "capital",
            ),
            (
                RouteDoc {
                    query: vec![
                        QueryParam {
                            name: "q".into(),
                            description: String::new(),
                            required: false,
                            schema: None,
                        },
                        QueryParam {
                            name: "q".into(),
                            description: String::new(),
                            required: false,
                            schema: None,
                        },
                    ],
                    ..good.clone()
                },
                "once",
            ),
        ] {
            let refused = with(bad).unwrap_err();
            assert!(refused.contains(why), "{refused}");
        }
    }

    fn setting(name: &str, default: &str, allowed: &[&str]) -> SettingDoc {
        SettingDoc {
            name: name.into(),
            description: String::new(),
            default: default.into(),
            allowed: allowed.iter().map(|a| a.to_string()).collect(),
        }
    }

    #[test]
    fn settings_are_declared_once_with_an_allowed_default_and_set_only_as_declared() {
        let mut m = manifest("know", "know");
        m.settings = vec![setting("review_required", "on", &["on", "off"])];
        assert!(m.validate(&[]).is_ok());
        for (bad, why) in [
            (vec![setting("Review", "on", &[])], "1-32 of a-z"),
            (
                vec![setting("mode", "maybe", &["on", "off"])],
                "default is not allowed",
            ),
            (
                vec![setting("a", "", &[]), setting("a", "", &[])],
                "declared twice",
            ),
        ] {
            let mut m = m.clone();
            m.settings = bad;
            let refused = m.validate(&[]).unwrap_err();
            assert!(refused.contains(why), "{refused}");
        }

        let plugins = [&m];
        assert_eq!(
            setting_value(&plugins, "know.review_required", "off"),
            Ok(("plugin.know.review_required".into(), Some("off".into())))
        );
        assert_eq!(
            setting_value(&plugins, "know.review_required", "none"),
            Ok(("plugin.know.review_required".into(), None))
        );
        let wrong = setting_value(&plugins, "know.review_required", "yes").unwrap_err();
        assert!(wrong.contains("one of on, off"), "{wrong}");
        for unknown in ["know.review", "wiki.review_required", "review_required"] {
            let why = setting_value(&plugins, unknown, "on").unwrap_err();
            assert!(
                why.contains("expected one of") && why.contains("know.review_required"),
                "{why}"
            );
        }

        // What the plugin reads: the default until the tenant sets it.
        let mut tenant = settings::TenantSettings::default();
        assert_eq!(m.settings_for(&tenant)["review_required"], "on");
        tenant
            .plugin_settings
            .insert("plugin.know.review_required".into(), "off".into());
        assert_eq!(m.settings_for(&tenant)["review_required"], "off");
    }
}

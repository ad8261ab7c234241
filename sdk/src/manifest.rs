use serde_json::Value;

use crate::Router;
use crate::bindings::mobieus::plugin::types as wit;

/// A host capability beyond the contract's 1.0 imports: declared, or refused (`denied`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// SQLite FTS5 virtual tables of its own (`CREATE VIRTUAL TABLE <name>_… USING fts5`).
    Search,
    /// [`crate::Ctx::set_timer`], [`crate::Ctx::cancel_timer`] and [`crate::Plugin::on_timer`].
    Timers,
    /// [`crate::Ctx::file`] and [`crate::Ctx::read_file`].
    Files,
    /// [`crate::Ctx::send_mail`].
    Mail,
    /// [`crate::Ctx::surface_get`].
    Surfaces,
    /// [`crate::Ctx::ask`]: AI on the tenant's own provider and key.
    Ai,
}

impl From<Capability> for wit::Capability {
    fn from(c: Capability) -> Self {
        match c {
            Capability::Search => wit::Capability::Search,
            Capability::Timers => wit::Capability::Timers,
            Capability::Files => wit::Capability::Files,
            Capability::Mail => wit::Capability::Mail,
            Capability::Surfaces => wit::Capability::Surfaces,
            Capability::Ai => wit::Capability::Ai,
        }
    }
}

/// What a plugin declares. Its routes come from the [`Router`].
pub struct Manifest {
    name: String,
    version: String,
    namespaces: Vec<String>,
    scopes: Vec<(String, String)>,
    events: Vec<(String, String, Option<Value>)>,
    migrations: Vec<(u32, String, String)>,
    flags: Vec<String>,
    subscriptions: Vec<String>,
    capabilities: Vec<Capability>,
    settings: Vec<wit::SettingDoc>,
}

impl Manifest {
    /// `name`: lowercase letters, digits and `_`; also the prefix of the plugin's tables.
    pub fn new(name: &str, version: &str) -> Manifest {
        Manifest {
            name: name.to_owned(),
            version: version.to_owned(),
            namespaces: vec![],
            scopes: vec![],
            events: vec![],
            migrations: vec![],
            flags: vec![],
            subscriptions: vec![],
            capabilities: vec![],
            settings: vec![],
        }
    }

    /// The namespaces it claims: route paths (`/api/v1/<ns>/…`), scopes (`<ns>:…`) and event
    /// types (`<ns>.…`) must fall inside them.
    pub fn claims<const N: usize>(mut self, namespaces: [&str; N]) -> Manifest {
        self.namespaces
            .extend(namespaces.iter().map(|s| s.to_string()));
        self
    }

    pub fn scope(mut self, name: &str, description: &str) -> Manifest {
        self.scopes.push((name.to_owned(), description.to_owned()));
        self
    }

    pub fn event(mut self, event_type: &str, description: &str) -> Manifest {
        self.events
            .push((event_type.to_owned(), description.to_owned(), None));
        self
    }

    /// An event type with the JSON Schema of its payload.
    pub fn event_with_schema(
        mut self,
        event_type: &str,
        description: &str,
        schema: Value,
    ) -> Manifest {
        self.events
            .push((event_type.to_owned(), description.to_owned(), Some(schema)));
        self
    }

    /// An event type whose payload is `T` (its schema derived from the type).
    pub fn event_of<T: schemars::JsonSchema>(
        self,
        event_type: &str,
        description: &str,
    ) -> Manifest {
        self.event_with_schema(
            event_type,
            description,
            crate::extract::answer_schema::<T>(),
        )
    }

    /// SQL applied once per tenant database, in version order.
    pub fn migration(mut self, version: u32, name: &str, sql: &str) -> Manifest {
        self.migrations
            .push((version, name.to_owned(), sql.to_owned()));
        self
    }

    pub fn flag(mut self, name: &str) -> Manifest {
        self.flags.push(name.to_owned());
        self
    }

    /// A setting the tenant may give it, read with [`crate::Ctx::config`]: `name` is what the
    /// plugin asks for and what the tenant sets as `<plugin>.<name>` (`mobieus settings set
    /// --tenant acme know.review_required off`); `default` answers while the tenant has not set
    /// it; `allowed` lists the values a tenant may set (empty: any text up to 1000 characters).
    pub fn setting(
        mut self,
        name: &str,
        description: &str,
        default: &str,
        allowed: &[&str],
    ) -> Manifest {
        self.settings.push(wit::SettingDoc {
            name: name.to_owned(),
            description: description.to_owned(),
            default_value: default.to_owned(),
            allowed: allowed.iter().map(|a| (*a).to_owned()).collect(),
        });
        self
    }

    /// The host capabilities it uses; any other is refused.
    pub fn uses<const N: usize>(mut self, capabilities: [Capability; N]) -> Manifest {
        self.capabilities.extend(capabilities);
        self
    }

    pub(crate) fn extension(&self, router: &Router) -> wit::ManifestExtension {
        wit::ManifestExtension {
            capabilities: self.capabilities.iter().map(|c| (*c).into()).collect(),
            routes: router
                .routes
                .iter()
                .map(|r| {
                    let shapes = r.shapes();
                    wit::RouteDoc {
                        operation_id: r.operation_id(),
                        success_status: shapes.status.unwrap_or(200),
                        errors: r
                            .errors
                            .iter()
                            .map(|(status, code, description)| wit::ErrorDoc {
                                status: *status,
                                code: code.clone(),
                                description: description.clone(),
                            })
                            .collect(),
                        query: r
                            .query
                            .iter()
                            .map(|(name, description, required)| wit::ParamDoc {
                                name: (*name).to_owned(),
                                description: (*description).to_owned(),
                                required: *required,
                                schema: None,
                            })
                            .collect(),
                        request_name: shapes.request_name,
                        response_name: shapes.response_name,
                        public: r.public,
                    }
                })
                .collect(),
            settings: self.settings.clone(),
        }
    }

    /// Event types delivered to `on_event`.
    pub fn subscribe(mut self, event_type: &str) -> Manifest {
        self.subscriptions.push(event_type.to_owned());
        self
    }

    pub(crate) fn into_wit(self, router: &Router) -> wit::Manifest {
        wit::Manifest {
            name: self.name,
            version: self.version,
            namespaces: self.namespaces,
            routes: router
                .routes
                .iter()
                .map(|r| {
                    let shapes = r.shapes();
                    wit::Route {
                        method: r.method.to_owned(),
                        path: r.path.clone(),
                        scope: r.scope.clone(),
                        operation_id: r.operation_id(),
                        summary: r.summary.clone(),
                        request_schema: shapes.request.map(|s| s.to_string()),
                        response_schema: shapes.response.map(|s| s.to_string()),
                    }
                })
                .collect(),
            scopes: self
                .scopes
                .into_iter()
                .map(|(name, description)| wit::ScopeDef { name, description })
                .collect(),
            events: self
                .events
                .into_iter()
                .map(|(event_type, description, schema)| wit::EventDef {
                    event_type,
                    description,
                    payload_schema: schema.as_ref().map(Value::to_string),
                })
                .collect(),
            migrations: self
                .migrations
                .into_iter()
                .map(|(version, name, sql)| wit::Migration { version, name, sql })
                .collect(),
            feature_flags: self.flags,
            subscriptions: self.subscriptions,
        }
    }
}

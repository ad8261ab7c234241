//! The tenant's AI provider, in its live file: which wire format, where, which model (and a
//! plugin's own), the key sealed with the server key, and the monthly token budget.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::sealed::{ServerKey, Unsealable};
use crate::time::to_rfc3339;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Anthropic's Messages API.
    Anthropic,
    /// OpenAI's chat completions API, and every server that speaks it (Ollama, llama.cpp's
    /// server, vLLM).
    Openai,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Anthropic => "anthropic",
            Provider::Openai => "openai",
        }
    }

    pub fn default_base_url(self) -> &'static str {
        match self {
            Provider::Anthropic => "https://api.anthropic.com",
            Provider::Openai => "https://api.openai.com/v1",
        }
    }
}

impl std::str::FromStr for Provider {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "anthropic" => Ok(Provider::Anthropic),
            "openai" => Ok(Provider::Openai),
            _ => Err(format!("`{s}`: the provider is `anthropic` or `openai`")),
        }
    }
}

/// What a call needs: the tenant's provider, with the model for the calling plugin.
#[derive(Debug, Clone)]
pub struct Settings {
    pub provider: Provider,
    pub base_url: String,
    /// The plugin's own model if it has one, else the tenant's.
    pub model: String,
    sealed_key: String,
    pub monthly_token_budget: Option<u64>,
}

/// The associated data of a tenant's sealed key: a key moved to another tenant's file does not
/// open.
fn key_context(tenant_id: &str) -> String {
    format!("ai:{tenant_id}")
}

impl Settings {
    /// The provider key in plain text; empty for a server that needs none.
    pub fn open_key(&self, key: &ServerKey, tenant_id: &str) -> Result<String, Unsealable> {
        if self.sealed_key.is_empty() {
            return Ok(String::new());
        }
        key.open(&self.sealed_key, &key_context(tenant_id))
    }
}

/// The tenant's provider with the model for `plugin`; none if the tenant set none.
pub fn load(conn: &Connection, plugin: &str) -> rusqlite::Result<Option<Settings>> {
    conn.prepare_cached(
        "SELECT provider, base_url, COALESCE(m.model, p.model), api_key, monthly_token_budget
         FROM ai_provider p LEFT JOIN ai_plugin_models m ON m.plugin = ?1 WHERE p.id = 1",
    )?
    .query_row([plugin], |r| {
        let provider: String = r.get(0)?;
        Ok(Settings {
            provider: provider.parse().unwrap_or(Provider::Openai),
            base_url: r.get(1)?,
            model: r.get(2)?,
            sealed_key: r.get(3)?,
            monthly_token_budget: r.get::<_, Option<i64>>(4)?.map(|b| b.max(0) as u64),
        })
    })
    .optional()
}

/// What the tenant set, for the CLI, the console and the API: never the key.
#[derive(Debug, Clone, Serialize)]
pub struct Shown {
    pub provider: Provider,
    pub base_url: String,
    pub model: String,
    pub key_set: bool,
    pub monthly_token_budget: Option<u64>,
    /// Plugins with their own model.
    pub plugin_models: std::collections::BTreeMap<String, String>,
    pub updated_at: String,
}

pub fn show(conn: &Connection) -> rusqlite::Result<Option<Shown>> {
    let Some(mut shown) = conn
        .query_row(
            "SELECT provider, base_url, model, api_key <> '', monthly_token_budget, updated_at
             FROM ai_provider WHERE id = 1",
            [],
            |r| {
                let provider: String = r.get(0)?;
                Ok(Shown {
                    provider: provider.parse().unwrap_or(Provider::Openai),
                    base_url: r.get(1)?,
                    model: r.get(2)?,
                    key_set: r.get(3)?,
                    monthly_token_budget: r.get::<_, Option<i64>>(4)?.map(|b| b.max(0) as u64),
                    updated_at: r.get(5)?,
                    plugin_models: Default::default(),
                })
            },
        )
        .optional()?
    else {
        return Ok(None);
    };
    let mut stmt = conn.prepare("SELECT plugin, model FROM ai_plugin_models ORDER BY plugin")?;
    shown.plugin_models = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Some(shown))
}

/// What `mobieus ai set` and the console set.
pub struct NewProvider<'a> {
    pub provider: Provider,
    pub base_url: Option<&'a str>,
    pub model: &'a str,
    /// The key in plain text; empty for a server that needs none (a local Ollama); `None` keeps
    /// the key set before (the console's form leaves it blank).
    pub api_key: Option<&'a str>,
}

/// Checks a provider URL's shape (the SSRF guard checks where it leads, at every call).
pub fn check_base_url(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(format!("`{url}`: the base URL must be http or https"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("the base URL may not hold credentials: the key is given apart".into());
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!("`{url}`: the base URL has no query or fragment"));
    }
    Ok(())
}

/// Sets the tenant's provider (the budget and plugin models stay), as `actor`, audited.
pub fn set(
    conn: &Connection,
    server_key: &ServerKey,
    tenant_id: &str,
    actor: &str,
    new: &NewProvider<'_>,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let base_url = new
        .base_url
        .unwrap_or(new.provider.default_base_url())
        .trim_end_matches('/');
    check_base_url(base_url)?;
    let model = new.model.trim();
    if model.is_empty() || model.len() > 200 {
        return Err("the model is 1 to 200 characters".into());
    }
    let sealed = match new.api_key.map(str::trim) {
        Some("") => String::new(),
        Some(key) => server_key.seal(key, &key_context(tenant_id)),
        None => conn
            .query_row("SELECT api_key FROM ai_provider WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| e.to_string())?
            .unwrap_or_default(),
    };
    let key_set = !sealed.is_empty();
    let store = || -> rusqlite::Result<()> {
        conn.execute(
            "INSERT INTO ai_provider (id, provider, base_url, model, api_key, updated_at)
             VALUES (1, ?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (id) DO UPDATE SET provider = excluded.provider,
                 base_url = excluded.base_url, model = excluded.model,
                 api_key = excluded.api_key, updated_at = excluded.updated_at",
            params![
                new.provider.as_str(),
                base_url,
                model,
                sealed,
                to_rfc3339(&now)
            ],
        )?;
        crate::audit::record(
            conn,
            actor,
            "ai.provider_set",
            Some(new.provider.as_str()),
            serde_json::json!({ "base_url": base_url, "model": model, "key_set": key_set }),
            now,
        )
    };
    store().map_err(|e| e.to_string())
}

/// Sets (or with `None` clears) the monthly token budget, audited.
pub fn set_budget(
    conn: &Connection,
    actor: &str,
    budget: Option<u64>,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let changed = conn
        .execute(
            "UPDATE ai_provider SET monthly_token_budget = ?1, updated_at = ?2 WHERE id = 1",
            params![budget.map(|b| b as i64), to_rfc3339(&now)],
        )
        .map_err(|e| e.to_string())?;
    if changed == 0 {
        return Err("set the provider first (`mobieus ai set`)".into());
    }
    crate::audit::record(
        conn,
        actor,
        "ai.budget_set",
        None,
        serde_json::json!({ "monthly_token_budget": budget }),
        now,
    )
    .map_err(|e| e.to_string())
}

/// Gives `plugin` its own model (or with `None` takes it back to the tenant's), audited.
pub fn set_plugin_model(
    conn: &Connection,
    actor: &str,
    plugin: &str,
    model: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let result = match model.map(str::trim) {
        Some(m) if m.is_empty() || m.len() > 200 => {
            return Err("the model is 1 to 200 characters".into());
        }
        Some(m) => conn.execute(
            "INSERT INTO ai_plugin_models (plugin, model, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (plugin) DO UPDATE SET model = excluded.model,
                 updated_at = excluded.updated_at",
            params![plugin, m, to_rfc3339(&now)],
        ),
        None => conn.execute("DELETE FROM ai_plugin_models WHERE plugin = ?1", [plugin]),
    };
    result.map_err(|e| e.to_string())?;
    crate::audit::record(
        conn,
        actor,
        "ai.plugin_model_set",
        Some(plugin),
        serde_json::json!({ "model": model }),
        now,
    )
    .map_err(|e| e.to_string())
}

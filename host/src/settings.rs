//! Tenant settings: the tenant's default rate limit, its CORS origins and its upload cap. Stored
//! in the tenant's live file, read on every request (so a change by the CLI or the admin UI
//! applies at once).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use crate::time::to_rfc3339;

pub const DEFAULT_RATE_LIMIT: &str = "default_rate_limit_per_minute";
pub const CORS_ALLOWED_ORIGINS: &str = "cors.allowed_origins";
pub const FILES_MAX_UPLOAD_BYTES: &str = "files.max_upload_bytes";
pub const NAMES: &[&str] = &[
    DEFAULT_RATE_LIMIT,
    CORS_ALLOWED_ORIGINS,
    FILES_MAX_UPLOAD_BYTES,
];

/// The upload cap when the tenant set none: 25 MiB.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 25 << 20;
/// The largest cap a tenant may set: 1 GiB.
const MAX_UPLOAD_BYTES: u64 = 1 << 30;

/// The settings that shape request handling.
#[derive(Debug, Clone, Default)]
pub struct TenantSettings {
    pub default_rate_limit_per_minute: Option<u32>,
    pub cors_allowed_origins: Vec<String>,
    pub files_max_upload_bytes: Option<u64>,
    /// Plugins the tenant turned on or off (no entry: the plugin's default).
    pub plugins_enabled: std::collections::HashMap<String, bool>,
    /// Settings for plugins, `plugin.<name>.<key>` → value.
    pub plugin_settings: std::collections::HashMap<String, String>,
}

impl TenantSettings {
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.cors_allowed_origins.iter().any(|o| o == origin)
    }

    pub fn max_upload_bytes(&self) -> u64 {
        self.files_max_upload_bytes
            .unwrap_or(DEFAULT_MAX_UPLOAD_BYTES)
    }

    /// The settings the tenant set for plugin `name` (`plugin.<name>.<key>`), by key.
    pub fn of_plugin(&self, name: &str) -> std::collections::HashMap<String, String> {
        let prefix = format!("plugin.{name}.");
        self.plugin_settings
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(&prefix)?.to_owned(), v.clone())))
            .collect()
    }

    /// Whether the tenant has plugin `name` on: its own switch, else the plugin's default.
    pub fn plugin_on(&self, name: &str, default_on: bool) -> bool {
        self.plugins_enabled
            .get(name)
            .copied()
            .unwrap_or(default_on)
    }
}

pub fn load(conn: &Connection) -> rusqlite::Result<TenantSettings> {
    let mut settings = TenantSettings::default();
    // One statement for the settings and the plugin switches: the gate runs it on every request.
    let mut stmt = conn.prepare_cached(
        "SELECT 0, name, value FROM settings UNION ALL SELECT 1, name, enabled FROM plugin_settings",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let switch: bool = row.get(0)?;
        let name: String = row.get(1)?;
        if switch {
            settings.plugins_enabled.insert(name, row.get(2)?);
            continue;
        }
        let value: String = row.get(2)?;
        match name.as_str() {
            DEFAULT_RATE_LIMIT => settings.default_rate_limit_per_minute = value.parse().ok(),
            CORS_ALLOWED_ORIGINS => {
                settings.cors_allowed_origins = value.split(',').map(str::to_owned).collect()
            }
            FILES_MAX_UPLOAD_BYTES => settings.files_max_upload_bytes = value.parse().ok(),
            n if n.starts_with("plugin.") => {
                settings.plugin_settings.insert(name, value);
            }
            _ => {}
        }
    }
    Ok(settings)
}

pub fn all(conn: &Connection) -> rusqlite::Result<BTreeMap<String, String>> {
    let mut stmt = conn.prepare("SELECT name, value FROM settings ORDER BY name")?;
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
}

/// Checks and normalises a value for `name`. `Ok(None)` clears the setting (`none`, or an empty
/// origin list).
pub fn normalize(name: &str, value: &str) -> Result<Option<String>, String> {
    match name {
        DEFAULT_RATE_LIMIT => number_or_none(value, 1_000_000, || {
            format!("{DEFAULT_RATE_LIMIT} must be a whole number from 1 to 1000000, or `none`")
        }),
        FILES_MAX_UPLOAD_BYTES => number_or_none(value, MAX_UPLOAD_BYTES, || {
            format!(
                "{FILES_MAX_UPLOAD_BYTES} must be a number of bytes from 1 to {MAX_UPLOAD_BYTES}, or `none` (default {DEFAULT_MAX_UPLOAD_BYTES})"
            )
        }),
        CORS_ALLOWED_ORIGINS => {
            let origins: Vec<&str> = value
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .collect();
            for origin in &origins {
                validate_origin(origin)?;
            }
            Ok((!origins.is_empty()).then(|| origins.join(",")))
        }
        _ => Err(format!(
            "unknown setting `{name}`: expected one of {}",
            NAMES.join(", ")
        )),
    }
}

/// Where a plugin's setting is stored: `plugin.<plugin>.<name>`.
pub fn plugin_key(plugin: &str, name: &str) -> String {
    format!("plugin.{plugin}.{name}")
}

/// `none` (clear the setting), or a whole number from 1 to `max`; `wanted` says what was expected.
fn number_or_none(
    value: &str,
    max: u64,
    wanted: impl FnOnce() -> String,
) -> Result<Option<String>, String> {
    if value == "none" {
        return Ok(None);
    }
    match value.parse::<u64>() {
        Ok(n) if (1..=max).contains(&n) => Ok(Some(n.to_string())),
        _ => Err(wanted()),
    }
}

/// An origin is `scheme://host[:port]`, exactly as browsers send it.
fn validate_origin(origin: &str) -> Result<(), String> {
    let bad = || {
        format!(
            "`{origin}` is not an origin: expected scheme://host[:port], e.g. https://app.example"
        )
    };
    let (scheme, rest) = origin.split_once("://").ok_or_else(bad)?;
    if !matches!(scheme, "http" | "https") || rest.is_empty() {
        return Err(bad());
    }
    let ok = rest
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.:[]".contains(&b));
    if !ok {
        return Err(bad());
    }
    Ok(())
}

pub fn set(
    conn: &Connection,
    name: &str,
    value: Option<&str>,
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    match value {
        Some(value) => conn.execute(
            "INSERT INTO settings (name, value, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            params![name, value, to_rfc3339(&now)],
        )?,
        None => conn.execute("DELETE FROM settings WHERE name = ?1", [name])?,
    };
    Ok(())
}

/// Sets (or clears) a setting as `actor`, audited, in the caller's transaction. `value` must
/// have passed [`normalize`].
pub fn set_by(
    conn: &Connection,
    actor: &str,
    name: &str,
    value: Option<&str>,
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    set(conn, name, value, now)?;
    crate::audit::record(
        conn,
        actor,
        "settings.updated",
        Some(name),
        serde_json::json!({ "value": value }),
        now,
    )
}

/// Turns a plugin on or off for the tenant as `actor`, audited; the next request sees it.
pub fn switch_plugin_by(
    conn: &Connection,
    actor: &str,
    plugin: &str,
    on: bool,
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO plugin_settings (name, enabled, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at",
        params![plugin, on, to_rfc3339(&now)],
    )?;
    let action = if on {
        "plugin.enabled"
    } else {
        "plugin.disabled"
    };
    crate::audit::record(
        conn,
        actor,
        action,
        Some(plugin),
        serde_json::json!({}),
        now,
    )
}

/// Switches a plugin's feature flag for the tenant as `actor`, audited. The plugin reads it with
/// `config.flag`, and the host checks the flag a question for the AI provider names.
pub fn flag_plugin_by(
    conn: &Connection,
    actor: &str,
    plugin: &str,
    flag: &str,
    on: bool,
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    let name = format!("plugin.{plugin}.flag.{flag}");
    set(conn, &name, on.then_some("on"), now)?;
    crate::audit::record(
        conn,
        actor,
        if on {
            "plugin.flag_on"
        } else {
            "plugin.flag_off"
        },
        Some(&name),
        serde_json::json!({}),
        now,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked() {
        assert_eq!(
            normalize(DEFAULT_RATE_LIMIT, "120").unwrap().as_deref(),
            Some("120")
        );
        assert_eq!(normalize(DEFAULT_RATE_LIMIT, "none").unwrap(), None);
        assert!(normalize(DEFAULT_RATE_LIMIT, "0").is_err());
        assert!(normalize(DEFAULT_RATE_LIMIT, "-1").is_err());
        assert_eq!(
            normalize(
                CORS_ALLOWED_ORIGINS,
                "https://a.example, http://localhost:3000"
            )
            .unwrap()
            .as_deref(),
            Some("https://a.example,http://localhost:3000")
        );
        assert_eq!(normalize(CORS_ALLOWED_ORIGINS, "").unwrap(), None);
        for bad in [
            "a.example",
            "https://a.example/path",
            "ftp://a.example",
            "https://A.example",
        ] {
            assert!(normalize(CORS_ALLOWED_ORIGINS, bad).is_err(), "{bad}");
        }
        assert_eq!(
            normalize(FILES_MAX_UPLOAD_BYTES, "1048576")
                .unwrap()
                .as_deref(),
            Some("1048576")
        );
        assert!(normalize(FILES_MAX_UPLOAD_BYTES, "0").is_err());
        assert!(normalize(FILES_MAX_UPLOAD_BYTES, "2147483648").is_err());
        assert!(normalize("nope", "1").is_err());
    }
}

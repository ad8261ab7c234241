use std::path::Path;

use chrono::{DateTime, Utc};
use clap::Subcommand;
use serde_json::json;
use tenants::Env;

use super::common::{CliResult, actor, open_store, tenant_db, user_error};
use crate::auth::keys::{self, KeyEdit, KeyFormat, KeyKind, NewKey};
use crate::time::to_rfc3339;

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Mint a key. The plaintext is printed once and never again.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long, value_parser = parse_env)]
        env: Env,
        /// Comma-separated, e.g. events:read,posts:read
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        #[arg(long, default_value = "secret", value_parser = parse_kind)]
        kind: KeyKind,
        /// `mobieus` (mc_live_…) or `cobuntu` (pk_live_… publishable, sk_live_… secret), for
        /// the clients of the Cobuntu-compatible surface.
        #[arg(long, default_value = "mobieus", value_parser = parse_format)]
        format: KeyFormat,
        #[arg(long)]
        label: Option<String>,
        /// RFC 3339, e.g. 2027-01-01T00:00:00Z
        #[arg(long, value_parser = parse_time)]
        expires_at: Option<DateTime<Utc>>,
        /// Requests per minute for this key, overriding the tenant default.
        #[arg(long)]
        rate_limit: Option<u32>,
        #[arg(long)]
        json: bool,
        /// Print only the key itself (for `KEY=$(mobieus key create ... --quiet)`).
        #[arg(long, conflicts_with = "json")]
        quiet: bool,
    },
    /// List a tenant's keys (never their secrets).
    List {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key; the next request with it is refused.
    Revoke {
        #[arg(long)]
        tenant: String,
        key_id: String,
    },
    /// Change a key's label, rate limit or expiry.
    Edit {
        #[arg(long)]
        tenant: String,
        key_id: String,
        /// A new label (empty to clear).
        #[arg(long)]
        label: Option<String>,
        /// Requests per minute, or `none` to fall back to the tenant default.
        #[arg(long, value_parser = parse_optional_u32)]
        rate_limit: Option<OrNone<u32>>,
        /// RFC 3339, or `none` for no expiry.
        #[arg(long, value_parser = parse_optional_time)]
        expires_at: Option<OrNone<DateTime<Utc>>>,
    },
}

fn parse_env(s: &str) -> Result<Env, String> {
    s.parse().map_err(|e: tenants::Error| e.to_string())
}

fn parse_kind(s: &str) -> Result<KeyKind, String> {
    KeyKind::parse(s)
        .ok_or_else(|| format!("unknown key kind `{s}`: expected secret or publishable"))
}

fn parse_format(s: &str) -> Result<KeyFormat, String> {
    KeyFormat::parse(s)
        .ok_or_else(|| format!("unknown key format `{s}`: expected mobieus or cobuntu"))
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    crate::time::parse_rfc3339(s)
        .ok_or_else(|| format!("`{s}` is not an RFC 3339 time (e.g. 2027-01-01T00:00:00Z)"))
}

/// A value, or `none` to clear it (clap reads `Option<Option<T>>` as an optional flag value).
#[derive(Debug, Clone)]
pub struct OrNone<T>(Option<T>);

fn parse_optional_time(s: &str) -> Result<OrNone<DateTime<Utc>>, String> {
    if s == "none" {
        Ok(OrNone(None))
    } else {
        parse_time(s).map(|t| OrNone(Some(t)))
    }
}

fn parse_optional_u32(s: &str) -> Result<OrNone<u32>, String> {
    if s == "none" {
        return Ok(OrNone(None));
    }
    match s.parse::<u32>() {
        Ok(n) if n >= 1 => Ok(OrNone(Some(n))),
        _ => Err(format!(
            "`{s}` is not a whole number of at least 1, or `none`"
        )),
    }
}

pub fn run(data_dir: &Path, cmd: KeyCommand) -> CliResult {
    let store = open_store(data_dir)?;
    let now = Utc::now();
    match cmd {
        KeyCommand::Create {
            tenant,
            env,
            scopes,
            kind,
            format,
            label,
            expires_at,
            rate_limit,
            json,
            quiet,
        } => {
            let new = NewKey {
                env,
                kind,
                format,
                scopes: scopes
                    .into_iter()
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect(),
                label,
                expires_at,
                rate_limit_per_minute: rate_limit,
            };
            // Scopes of the loaded plugins count too (`guestbook:read`).
            let plugins = super::common::PluginArgs {
                plugins_dir: std::env::var_os("MOBIEUS_PLUGINS_DIR").map(Into::into),
                plugin_cache_dir: std::env::var_os("MOBIEUS_PLUGIN_CACHE_DIR").map(Into::into),
                ..Default::default()
            }
            .open(data_dir, super::common::default_blocking_threads())?;
            plugins.load_all();
            new.validate(now, &plugins.current().scopes())
                .map_err(user_error)?;
            let db = tenant_db(&store, &tenant)?;
            let actor = actor();
            let (key, plaintext) =
                db.write(move |w| Ok::<_, anyhow::Error>(keys::mint_by(w, &actor, &new, now)?))?;
            if quiet {
                println!("{plaintext}");
            } else if json {
                let mut out = serde_json::to_value(&key)?;
                out["key"] = json!(plaintext);
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                println!("Created {} key {} for tenant {tenant}", key.env, key.id);
                println!("Scopes: {}", key.scopes.join(", "));
                println!(
                    "This is the only time the key is shown. Store it now:\n\n  {plaintext}\n"
                );
            }
        }
        KeyCommand::List { tenant, json } => {
            let db = tenant_db(&store, &tenant)?;
            let list = db.read(|c| Ok::<_, anyhow::Error>(keys::list(c)?))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                println!(
                    "No keys. Mint one with `mobieus key create --tenant {tenant} --env live --scopes events:read`."
                );
            } else {
                println!(
                    "{:<30} {:<13} {:<4} {:<11} {:<8} {:<24} SCOPES",
                    "ID", "PREFIX", "ENV", "KIND", "STATUS", "LAST USED"
                );
                for k in list {
                    let status = k.status(now);
                    println!(
                        "{:<30} {:<13} {:<4} {:<11} {:<8} {:<24} {}",
                        k.id,
                        k.prefix,
                        k.env,
                        k.kind.as_str(),
                        status,
                        k.last_used_at
                            .as_ref()
                            .map(to_rfc3339)
                            .unwrap_or_else(|| "never".into()),
                        k.scopes.join(",")
                    );
                }
            }
        }
        KeyCommand::Revoke { tenant, key_id } => {
            let db = tenant_db(&store, &tenant)?;
            let (actor, id) = (actor(), key_id.clone());
            let revoked =
                db.write(move |w| Ok::<_, anyhow::Error>(keys::revoke_by(w, &actor, &id, now)?))?;
            match revoked {
                None => {
                    return Err(user_error(format!(
                        "tenant `{tenant}` has no key `{key_id}`"
                    )));
                }
                Some(false) => println!("Key {key_id} was already revoked"),
                Some(true) => {
                    println!("Revoked key {key_id}; requests with it are refused from now on")
                }
            }
        }
        KeyCommand::Edit {
            tenant,
            key_id,
            label,
            rate_limit,
            expires_at,
        } => {
            let rate_limit = rate_limit.map(|v| v.0);
            let expires_at = expires_at.map(|v| v.0);
            if label.is_none() && rate_limit.is_none() && expires_at.is_none() {
                return Err(user_error(
                    "nothing to change: pass --label, --rate-limit or --expires-at",
                ));
            }
            if let Some(label) = &label {
                keys::validate_label(label).map_err(user_error)?;
            }
            if let Some(Some(at)) = expires_at
                && at <= now
            {
                return Err(user_error("--expires-at must be in the future"));
            }
            let edit = KeyEdit {
                label: label.map(|l| (!l.is_empty()).then_some(l)),
                rate_limit_per_minute: rate_limit,
                expires_at,
            };
            let db = tenant_db(&store, &tenant)?;
            let (actor, id) = (actor(), key_id.clone());
            let found = db.write(move |w| {
                Ok::<_, anyhow::Error>(keys::edit_by(w, &actor, &id, &edit, now)?)
            })?;
            if !found {
                return Err(user_error(format!(
                    "tenant `{tenant}` has no key `{key_id}`"
                )));
            }
            println!("Updated key {key_id}");
        }
    }
    Ok(())
}

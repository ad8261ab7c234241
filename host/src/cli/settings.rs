use std::path::Path;

use chrono::Utc;
use clap::Subcommand;

use super::common::{CliResult, PluginArgs, actor, open_store, tenant_db, user_error};
use crate::{audit, settings};

#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// Set a tenant setting: `default_rate_limit_per_minute N|none` or
    /// `cors.allowed_origins https://a.example,https://b.example` (empty to clear) or
    /// `files.max_upload_bytes N|none` (default 25 MiB), or a plugin's `<plugin>.<name> VALUE`
    /// (`know.review_required off`; `none` goes back to the plugin's default).
    Set {
        #[arg(long)]
        tenant: String,
        name: String,
        value: String,
        #[command(flatten)]
        plugins: PluginArgs,
    },
    /// Show a tenant's settings, and those of its plugins.
    List {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        plugins: PluginArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// The newest entries of a tenant's audit log.
    List {
        #[arg(long)]
        tenant: String,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(data_dir: &Path, cmd: SettingsCommand) -> CliResult {
    let store = open_store(data_dir)?;
    match cmd {
        SettingsCommand::Set {
            tenant,
            name,
            value,
            plugins,
        } => {
            let (stored, value) = if settings::NAMES.contains(&name.as_str()) {
                (
                    name.clone(),
                    settings::normalize(&name, &value).map_err(user_error)?,
                )
            } else {
                let plugins = plugins.open(data_dir, super::common::default_blocking_threads())?;
                plugins.load_all();
                let set = plugins.current();
                let manifests: Vec<_> = set.plugins.iter().map(|p| &p.manifest).collect();
                crate::plugins::manifest::setting_value(&manifests, &name, &value)
                    .map_err(user_error)?
            };
            let db = tenant_db(&store, &tenant)?;
            let now = Utc::now();
            let (actor, n, v) = (actor(), stored, value.clone());
            db.write(move |w| {
                Ok::<_, anyhow::Error>(settings::set_by(w, &actor, &n, v.as_deref(), now)?)
            })?;
            match value {
                Some(v) => println!("Set {name} = {v} for tenant {tenant}"),
                None => println!("Cleared {name} for tenant {tenant}"),
            }
        }
        SettingsCommand::List {
            tenant,
            json,
            plugins,
        } => {
            let db = tenant_db(&store, &tenant)?;
            let all = db.read(|c| Ok::<_, anyhow::Error>(settings::all(c)?))?;
            let plugins = plugins.open(data_dir, super::common::default_blocking_threads())?;
            plugins.load_all();
            let set = plugins.current();
            // Every setting by the name it is set with: the host's, then each plugin's.
            let mut shown: Vec<(String, Option<String>, Option<String>)> = settings::NAMES
                .iter()
                .map(|n| (n.to_string(), all.get(*n).cloned(), None))
                .collect();
            for plugin in &set.plugins {
                for s in &plugin.manifest.settings {
                    let stored = settings::plugin_key(&plugin.manifest.name, &s.name);
                    let name = format!("{}.{}", plugin.manifest.name, s.name);
                    shown.push((name, all.get(&stored).cloned(), Some(s.default.clone())));
                }
            }
            if json {
                let map: serde_json::Map<_, _> = shown
                    .into_iter()
                    .map(|(n, v, default)| (n, serde_json::json!(v.or(default))))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&map)?);
            } else {
                for (name, value, default) in shown {
                    match (value, default) {
                        (Some(v), _) => println!("{name} = {v}"),
                        (None, Some(d)) => println!("{name} = {d} (default)"),
                        (None, None) => println!("{name} = (not set)"),
                    }
                }
            }
        }
    }
    Ok(())
}

pub fn run_audit(data_dir: &Path, cmd: AuditCommand) -> CliResult {
    let store = open_store(data_dir)?;
    let AuditCommand::List {
        tenant,
        limit,
        json,
    } = cmd;
    let db = tenant_db(&store, &tenant)?;
    let entries = db.read(|c| Ok::<_, anyhow::Error>(audit::list(c, limit)?))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
    } else {
        for e in entries {
            println!(
                "{}  {:<18} {:<20} {:<32} {}",
                e.at,
                e.actor,
                e.action,
                e.target.unwrap_or_default(),
                e.details
            );
        }
    }
    Ok(())
}

use std::path::{Path, PathBuf};

use chrono::Utc;
use clap::Subcommand;
use serde_json::json;

use super::common::PluginArgs;
use super::common::{CliResult, actor, open_store, tenant_db, user_error};
use crate::plugins::registry::Origin;

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Check a component and put it in the plugins directory; a running server loads it within a
    /// second. Installing a new version of a plugin upgrades it.
    Install {
        path: PathBuf,
        #[command(flatten)]
        plugins: PluginArgs,
    },
    /// The plugins this data dir runs (first-party and installed), and whether a tenant has them on.
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        plugins: PluginArgs,
    },
    /// Turn a plugin on for a tenant (from the next request).
    Enable {
        #[arg(long)]
        tenant: String,
        name: String,
        #[command(flatten)]
        plugins: PluginArgs,
    },
    /// Turn a plugin off for a tenant: its routes answer 404, its data stays.
    Disable {
        #[arg(long)]
        tenant: String,
        name: String,
        #[command(flatten)]
        plugins: PluginArgs,
    },
    /// Switch one of a plugin's feature flags for a tenant, e.g.
    /// `mobieus plugin flag --tenant acme help ai.reply_suggest on`. An AI feature works only
    /// while its flag is on.
    Flag {
        #[arg(long)]
        tenant: String,
        name: String,
        flag: String,
        /// `on` or `off`.
        #[arg(value_parser = ["on", "off"])]
        state: String,
        #[command(flatten)]
        plugins: PluginArgs,
    },
}

pub fn run(data_dir: &Path, cmd: PluginCommand) -> CliResult {
    match cmd {
        PluginCommand::Install { path, plugins } => {
            let plugins = plugins.open(data_dir, super::common::default_blocking_threads())?;
            plugins.load_all();
            let manifest = plugins
                .install(&path)
                .map_err(|why| user_error(format!("refused {}: {why}", path.display())))?;
            println!(
                "Installed {} {} (contract {}, capabilities: {}) into {} ({} routes, scopes: {})",
                manifest.name,
                manifest.version,
                manifest.contract,
                manifest.capabilities,
                plugins.dir().display(),
                manifest.routes.len(),
                manifest
                    .scopes
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            println!(
                "Turn it on for a tenant: mobieus plugin enable --tenant SLUG {}",
                manifest.name
            );
        }
        PluginCommand::List {
            tenant,
            json,
            plugins,
        } => {
            let plugins = plugins.open(data_dir, super::common::default_blocking_threads())?;
            let refusals = plugins.load_all();
            let set = plugins.current();
            let store = open_store(data_dir)?;
            let settings = match &tenant {
                Some(slug) => Some(
                    tenant_db(&store, slug)?
                        .read(|c| Ok::<_, anyhow::Error>(crate::settings::load(c)?))?,
                ),
                None => None,
            };

            let mut rows = vec![];
            for p in &set.plugins {
                rows.push(json!({
                    "name": p.manifest.name,
                    "version": p.manifest.version,
                    "contract": p.manifest.contract,
                    "capabilities": p.manifest.capabilities,
                    "origin": p.origin,
                    "enabled": settings.as_ref().map(|s| s.plugin_on(&p.manifest.name, p.enabled_by_default())),
                    "namespaces": p.manifest.namespaces,
                    "routes": p.manifest.routes,
                    "scopes": p.manifest.scopes,
                    "events": p.manifest.events,
                    "sha256": p.hash,
                }));
            }
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({ "plugins": rows, "refused": refusals }))?
                );
            } else {
                if rows.is_empty() {
                    println!("No plugins. Install one with `mobieus plugin install PATH.wasm`.");
                }
                for (row, p) in rows.iter().zip(&set.plugins) {
                    let origin = match &p.origin {
                        Origin::FirstParty => "first-party".to_owned(),
                        Origin::Installed(path) => path.display().to_string(),
                    };
                    let state = match row["enabled"].as_bool() {
                        Some(true) => " [on]",
                        Some(false) => " [off]",
                        None => "",
                    };
                    println!(
                        "{} {}{state}  {origin}  (contract {}, capabilities: {})",
                        p.manifest.name,
                        p.manifest.version,
                        p.manifest.contract,
                        p.manifest.capabilities
                    );
                    for r in &p.manifest.routes {
                        println!("    {:<6} {:<48} {}", r.method, r.path, r.scope);
                    }
                }
                for r in refusals {
                    println!("refused: {r}");
                }
            }
        }
        PluginCommand::Enable {
            tenant,
            name,
            plugins,
        } => switch(data_dir, &tenant, &name, true, plugins)?,
        PluginCommand::Disable {
            tenant,
            name,
            plugins,
        } => switch(data_dir, &tenant, &name, false, plugins)?,
        PluginCommand::Flag {
            tenant,
            name,
            flag,
            state,
            plugins,
        } => {
            let plugins = plugins.open(data_dir, super::common::default_blocking_threads())?;
            plugins.load_all();
            let set = plugins.current();
            let Some(plugin) = set.get(&name) else {
                return Err(user_error(format!(
                    "no plugin `{name}` is installed (see `mobieus plugin list`)"
                )));
            };
            if !plugin.manifest.feature_flags.contains(&flag) {
                return Err(user_error(format!(
                    "plugin `{name}` has no feature flag `{flag}`; it has: {}",
                    plugin.manifest.feature_flags.join(", ")
                )));
            }
            let store = open_store(data_dir)?;
            let db = tenant_db(&store, &tenant)?;
            let on = state == "on";
            let (actor, n, f, now) = (actor(), name.clone(), flag.clone(), Utc::now());
            db.write(move |w| {
                Ok::<_, anyhow::Error>(crate::settings::flag_plugin_by(w, &actor, &n, &f, on, now)?)
            })?;
            println!("Flag {flag} of plugin {name} is {state} for tenant {tenant}");
        }
    }
    Ok(())
}

fn switch(data_dir: &Path, tenant: &str, name: &str, on: bool, plugins: PluginArgs) -> CliResult {
    let plugins = plugins.open(data_dir, super::common::default_blocking_threads())?;
    plugins.load_all();
    if plugins.current().get(name).is_none() {
        return Err(user_error(format!(
            "no plugin `{name}` is installed (see `mobieus plugin list`)"
        )));
    }
    let store = open_store(data_dir)?;
    let db = tenant_db(&store, tenant)?;
    let (actor, name_owned) = (actor(), name.to_owned());
    let now = Utc::now();
    db.write(move |w| {
        Ok::<_, anyhow::Error>(crate::settings::switch_plugin_by(
            w,
            &actor,
            &name_owned,
            on,
            now,
        )?)
    })?;
    println!(
        "Plugin {name} is {} for tenant {tenant}",
        if on { "on" } else { "off" }
    );
    Ok(())
}

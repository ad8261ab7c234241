use std::path::Path;

use chrono::Utc;
use clap::Subcommand;

use super::common::{CliResult, actor, open_store, tenant_db, user_error};
use crate::{audit, settings};

#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// Set a tenant setting: `default_rate_limit_per_minute N|none` or
    /// `cors.allowed_origins https://a.example,https://b.example` (empty to clear) or
    /// `files.max_upload_bytes N|none` (default 25 MiB).
    Set {
        #[arg(long)]
        tenant: String,
        name: String,
        value: String,
    },
    /// Show a tenant's settings.
    List {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        json: bool,
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
        } => {
            let value = settings::normalize(&name, &value).map_err(user_error)?;
            let db = tenant_db(&store, &tenant)?;
            let now = Utc::now();
            let (actor, n, v) = (actor(), name.clone(), value.clone());
            db.write(move |w| {
                Ok::<_, anyhow::Error>(settings::set_by(w, &actor, &n, v.as_deref(), now)?)
            })?;
            match value {
                Some(v) => println!("Set {name} = {v} for tenant {tenant}"),
                None => println!("Cleared {name} for tenant {tenant}"),
            }
        }
        SettingsCommand::List { tenant, json } => {
            let db = tenant_db(&store, &tenant)?;
            let all = db.read(|c| Ok::<_, anyhow::Error>(settings::all(c)?))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                for name in settings::NAMES {
                    println!(
                        "{name} = {}",
                        all.get(*name).map_or("(not set)", String::as_str)
                    );
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

//! `mobieus mail list`: the outbox of a tenant file, where mail goes when no SMTP server is
//! configured (`.eml` files) and what became of what was sent.

use std::path::Path;

use clap::Subcommand;
use tenants::Env;

use super::common::{CliResult, open_store, user_error};

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// The newest messages of a tenant's outbox: status, recipients, subject, attempts, and the
    /// .eml file of a message written rather than sent.
    List {
        #[arg(long)]
        tenant: String,
        /// `live` (default) or `test`: the sandbox's outbox.
        #[arg(long, default_value = "live")]
        env: String,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(data_dir: &Path, cmd: MailCommand) -> CliResult {
    let MailCommand::List {
        tenant,
        env,
        limit,
        json,
    } = cmd;
    let env: Env = env
        .parse()
        .map_err(|_| user_error(format!("--env {env}: `live` or `test`")))?;
    let store = open_store(data_dir)?;
    let found = super::common::tenant(&store, &tenant)?;
    let mail = crate::mail::worker::listing(&store, &found, env, limit)
        .map_err(|e| user_error(e.to_string()))?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "data": mail }))?
        );
        return Ok(());
    }
    if mail.is_empty() {
        println!("No mail in {tenant}'s {} outbox.", env.as_str());
    }
    for m in mail {
        println!(
            "{}  {:<8} {:<10} to {}  \"{}\"  attempts {}{}{}",
            m.created_at,
            m.status,
            m.plugin,
            m.to.join(", "),
            m.subject,
            m.attempt_count,
            m.last_error
                .map(|e| format!("  last error: {e}"))
                .unwrap_or_default(),
            m.eml_path
                .map(|p| format!("  file: {p}"))
                .unwrap_or_default(),
        );
    }
    Ok(())
}

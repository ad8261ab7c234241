//! `mobieus admin create --tenant SLUG --email E`: invites an admin to a tenant's console and
//! prints a one-time setup link (valid 24 hours) to set the password. Run again for the same
//! email to get a new link (a password reset). `--lift-bar` gives the console back to an address
//! the community's ban barred ([`crate::admin::bars`]).

use std::path::Path;

use chrono::Utc;
use clap::Subcommand;
use serde_json::json;

use super::common::{CliResult, actor, open_store, tenant_db, user_error};
use crate::admin::{accounts, bars};
use crate::audit;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Invite an admin (or reset their password): prints a one-time setup link.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        /// Where the server is reached, for the link: scheme, base domain and port.
        #[arg(long, default_value = "http://localhost:8080")]
        base_url: String,
        /// Lift the console bar a community's ban put on this address (the ban itself stands).
        #[arg(long)]
        lift_bar: bool,
    },
}

pub fn run(data_dir: &Path, cmd: AdminCommand) -> CliResult {
    let AdminCommand::Create {
        tenant,
        email,
        base_url,
        lift_bar,
    } = cmd;
    let email = email.trim().to_owned();
    crate::domain::validate::email(&email)
        .map_err(|e| user_error(format!("--email: {}", e.message)))?;
    let (scheme, host) = base_url
        .trim_end_matches('/')
        .split_once("://")
        .filter(|(s, h)| matches!(*s, "http" | "https") && !h.is_empty() && !h.contains('/'))
        .ok_or_else(|| user_error("--base-url: scheme://host[:port], e.g. https://example.com"))?;
    let store = open_store(data_dir)?;
    let db = tenant_db(&store, &tenant)?;
    let (actor, e) = (actor(), email.clone());
    let (admin, token, barred_at) = db.write(move |w| {
        let now = Utc::now();
        let (admin, token) = accounts::invite(w, &e, now)?;
        audit::record(
            w,
            &actor,
            "admin.invited",
            Some(&admin.id),
            json!({ "email": e }),
            now,
        )?;
        let barred_at = bars::barred_at(w, &e)?;
        if lift_bar && barred_at.is_some() {
            bars::lift(w, &e)?;
            let details = json!({ "email": e, "barred_at": barred_at });
            audit::record(w, &actor, "admin.bar_lifted", Some(&admin.id), details, now)?;
            return Ok::<_, anyhow::Error>((admin, token, None));
        }
        Ok((admin, token, barred_at))
    })?;
    println!("Admin {} ({}) of tenant {tenant}.", admin.email, admin.id);
    if let Some(at) = barred_at {
        println!(
            "Note: the community banned the user with this address ({at}), which bars it from the console: the link will not sign in until the bar is lifted (run again with --lift-bar; the ban itself stands)."
        );
    }
    println!(
        "Open this link within 24 hours to set the password (it works once):\n\n  {scheme}://{tenant}.{host}/admin/setup?token={token}\n"
    );
    Ok(())
}

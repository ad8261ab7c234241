//! `mobieus scim token create|list|revoke`: the bearer tokens identity providers use on
//! `/scim/v2`. Printed once, stored hashed, revocable, audited.

use std::path::Path;

use chrono::Utc;
use clap::Subcommand;
use serde_json::json;

use super::common::{CliResult, actor, open_store, tenant_db, user_error};
use crate::auth::scim_tokens;

#[derive(Debug, Subcommand)]
pub enum ScimCommand {
    /// SCIM bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Mint a token. The plaintext is printed once and never again.
    Create {
        #[arg(long)]
        tenant: String,
        /// Which identity provider holds it, e.g. okta.
        #[arg(long)]
        label: Option<String>,
        #[arg(long)]
        json: bool,
        /// Print only the token (for `TOKEN=$(mobieus scim token create ... --quiet)`).
        #[arg(long, conflicts_with = "json")]
        quiet: bool,
    },
    /// List a tenant's tokens (never their secrets).
    List {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token; the next request with it is refused.
    Revoke {
        #[arg(long)]
        tenant: String,
        token_id: String,
    },
}

pub fn run(data_dir: &Path, cmd: ScimCommand) -> CliResult {
    let store = open_store(data_dir)?;
    let ScimCommand::Token(cmd) = cmd;
    let now = Utc::now();
    match cmd {
        TokenCommand::Create {
            tenant,
            label,
            json,
            quiet,
        } => {
            if let Some(label) = &label {
                crate::domain::validate::text("label", label, 1, 100, false)
                    .map_err(|e| user_error(e.message.to_string()))?;
            }
            let db = tenant_db(&store, &tenant)?;
            let actor = actor();
            let (token, plaintext) = db.write(move |w| {
                Ok::<_, anyhow::Error>(scim_tokens::mint_by(w, &actor, label.as_deref(), now)?)
            })?;
            if quiet {
                println!("{plaintext}");
            } else if json {
                let mut out = serde_json::to_value(&token)?;
                out["token"] = json!(plaintext);
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                println!("Created SCIM token {} for tenant {tenant}", token.id);
                println!("Base URL: http://{tenant}.<your domain>/scim/v2");
                println!(
                    "This is the only time the token is shown. Store it now:\n\n  {plaintext}\n"
                );
            }
        }
        TokenCommand::List { tenant, json } => {
            let db = tenant_db(&store, &tenant)?;
            let list = db.read(|c| Ok::<_, anyhow::Error>(scim_tokens::list(c)?))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                println!(
                    "No SCIM tokens. Mint one with `mobieus scim token create --tenant {tenant}`."
                );
            } else {
                println!(
                    "{:<36} {:<13} {:<8} {:<25} LABEL",
                    "ID", "PREFIX", "STATUS", "LAST USED"
                );
                for t in list {
                    println!(
                        "{:<36} {:<13} {:<8} {:<25} {}",
                        t.id,
                        t.prefix,
                        if t.revoked_at.is_some() {
                            "revoked"
                        } else {
                            "active"
                        },
                        t.last_used_at.as_deref().unwrap_or("never"),
                        t.label.as_deref().unwrap_or("")
                    );
                }
            }
        }
        TokenCommand::Revoke { tenant, token_id } => {
            let db = tenant_db(&store, &tenant)?;
            let (actor, id) = (actor(), token_id.clone());
            let revoked = db.write(move |w| {
                Ok::<_, anyhow::Error>(scim_tokens::revoke_by(w, &actor, &id, now)?)
            })?;
            match revoked {
                None => {
                    return Err(user_error(format!(
                        "tenant `{tenant}` has no SCIM token `{token_id}`"
                    )));
                }
                Some(false) => println!("SCIM token {token_id} was already revoked"),
                Some(true) => println!(
                    "Revoked SCIM token {token_id}; requests with it are refused from now on"
                ),
            }
        }
    }
    Ok(())
}

//! `mobieus ai`: a tenant's AI provider, model and key (read from stdin, never shown again),
//! a plugin's own model, the monthly token budget, and the meter.

use std::io::Read;
use std::path::Path;

use chrono::Utc;
use clap::Subcommand;

use super::common::{CliResult, actor, open_store, tenant, tenant_db, user_error};
use crate::ai::provider::{self, NewProvider, Provider};
use crate::ai::usage;

#[derive(Debug, Subcommand)]
pub enum AiCommand {
    /// Set a tenant's provider, model and key. The key is read from stdin (an empty line for a
    /// server that needs none, such as a local Ollama) and stored sealed with the server key.
    /// e.g. `mobieus ai set --tenant acme --provider anthropic --model claude-sonnet-4-5 < key.txt`
    Set {
        #[arg(long)]
        tenant: String,
        /// `anthropic` (the Messages API) or `openai` (chat completions: OpenAI, Ollama,
        /// llama.cpp's server, vLLM).
        #[arg(long)]
        provider: Provider,
        #[arg(long)]
        model: String,
        /// Default: https://api.anthropic.com or https://api.openai.com/v1. For Ollama:
        /// http://127.0.0.1:11434/v1 (and start the server with --ai-allow-http
        /// --ai-allow-cidr 127.0.0.1/32).
        #[arg(long)]
        base_url: Option<String>,
    },
    /// Give a plugin its own model (or `--clear` to use the tenant's).
    Model {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        plugin: String,
        #[arg(long, required_unless_present = "clear")]
        model: Option<String>,
        #[arg(long, conflicts_with = "model")]
        clear: bool,
    },
    /// Set the monthly token budget (input plus output, per calendar month in UTC), or `none`.
    Budget {
        #[arg(long)]
        tenant: String,
        /// A number of tokens, or `none`.
        tokens: String,
    },
    /// What the tenant set (never the key).
    Show {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        json: bool,
    },
    /// The meter: a month's calls and tokens by plugin and model, and its latest calls.
    Usage {
        #[arg(long)]
        tenant: String,
        /// `YYYY-MM`; this month by default.
        #[arg(long)]
        month: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(data_dir: &Path, cmd: AiCommand) -> CliResult {
    let store = open_store(data_dir)?;
    match cmd {
        AiCommand::Set {
            tenant: slug,
            provider,
            model,
            base_url,
        } => {
            let found = tenant(&store, &slug)?;
            let mut key = String::new();
            std::io::stdin().read_to_string(&mut key)?;
            let key = key.trim().to_owned();
            let secret =
                crate::sealed::server_secret(data_dir).map_err(|e| user_error(format!("{e:#}")))?;
            let server_key = crate::sealed::ServerKey::from_secret(&secret);
            let db = tenant_db(&store, &slug)?;
            let (actor, tenant_id, now) = (actor(), found.id.clone(), Utc::now());
            let (m, b, k) = (model.clone(), base_url.clone(), key.clone());
            db.write(move |w| {
                let new = NewProvider {
                    provider,
                    base_url: b.as_deref(),
                    model: &m,
                    api_key: Some(&k),
                };
                provider::set(w, &server_key, &tenant_id, &actor, &new, now)
                    .map_err(anyhow::Error::msg)
            })
            .map_err(|e| user_error(format!("{e:#}")))?;
            println!(
                "AI for tenant {slug}: {} at {}, model {model}, key {}",
                provider.as_str(),
                base_url.as_deref().unwrap_or(provider.default_base_url()),
                if key.is_empty() {
                    "none"
                } else {
                    "set (sealed)"
                }
            );
        }
        AiCommand::Model {
            tenant,
            plugin,
            model,
            clear: _,
        } => {
            let db = tenant_db(&store, &tenant)?;
            let (actor, p, m, now) = (actor(), plugin.clone(), model.clone(), Utc::now());
            db.write(move |w| {
                provider::set_plugin_model(w, &actor, &p, m.as_deref(), now)
                    .map_err(anyhow::Error::msg)
            })
            .map_err(|e| user_error(format!("{e:#}")))?;
            match model {
                Some(m) => println!("Plugin {plugin} uses model {m} for tenant {tenant}"),
                None => println!("Plugin {plugin} uses tenant {tenant}'s model"),
            }
        }
        AiCommand::Budget { tenant, tokens } => {
            let budget = match tokens.as_str() {
                "none" => None,
                n => Some(n.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    user_error(format!(
                        "`{n}`: a budget is a whole number of tokens, or `none`"
                    ))
                })?),
            };
            let db = tenant_db(&store, &tenant)?;
            let (actor, now) = (actor(), Utc::now());
            db.write(move |w| {
                provider::set_budget(w, &actor, budget, now).map_err(anyhow::Error::msg)
            })
            .map_err(|e| user_error(format!("{e:#}")))?;
            match budget {
                Some(b) => println!("Tenant {tenant}'s monthly AI budget: {b} tokens"),
                None => println!("Tenant {tenant} has no monthly AI budget"),
            }
        }
        AiCommand::Show { tenant, json } => {
            let db = tenant_db(&store, &tenant)?;
            let shown = db.read(|c| Ok::<_, anyhow::Error>(provider::show(c)?))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&shown)?);
                return Ok(());
            }
            let Some(s) = shown else {
                println!("Tenant {tenant} has no AI provider. Set one with `mobieus ai set`.");
                return Ok(());
            };
            println!(
                "{} at {}, model {}, key {}, monthly budget {}",
                s.provider.as_str(),
                s.base_url,
                s.model,
                if s.key_set { "set (sealed)" } else { "none" },
                s.monthly_token_budget
                    .map_or("none".to_owned(), |b| format!("{b} tokens"))
            );
            for (plugin, model) in s.plugin_models {
                println!("  plugin {plugin}: model {model}");
            }
        }
        AiCommand::Usage {
            tenant,
            month,
            json,
        } => {
            let month = month.unwrap_or_else(|| usage::month_of(Utc::now()));
            let db = tenant_db(&store, &tenant)?;
            let m = month.clone();
            let used = db.read(move |c| Ok::<_, anyhow::Error>(usage::month(c, &m)?))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&used)?);
                return Ok(());
            }
            println!(
                "{month}: {} calls, {} tokens in, {} out{}",
                used.calls,
                used.input_tokens,
                used.output_tokens,
                used.monthly_token_budget
                    .map(|b| format!(" (budget {b})"))
                    .unwrap_or_default()
            );
            for t in used.by_plugin {
                println!(
                    "  {:<12} {:<28} {:>5} calls {:>9} in {:>9} out",
                    t.plugin, t.model, t.calls, t.input_tokens, t.output_tokens
                );
            }
        }
    }
    Ok(())
}

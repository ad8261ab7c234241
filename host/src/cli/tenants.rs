use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use clap::Subcommand;
use tenants::{Plan, Slug};

use super::common::{CliResult, open_store, user_error};

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant (a community), served at <slug>.<base-domain>.
    Create {
        slug: String,
        #[arg(long, value_parser = parse_plan)]
        plan: Plan,
    },
    /// List tenants.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Change a tenant's plan; the server applies it on the next request.
    SetPlan {
        slug: String,
        #[arg(value_parser = parse_plan)]
        plan: Plan,
    },
    /// A tenant's own host names, served besides <slug>.<base-domain>.
    #[command(subcommand)]
    Domain(DomainCommand),
    /// Delete a tenant and all its data.
    Delete {
        slug: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DomainCommand {
    /// Serve SLUG at DOMAIN too (point its DNS at this server, or at your proxy).
    Add { slug: String, domain: String },
    /// Stop serving SLUG at DOMAIN.
    Remove { slug: String, domain: String },
}

fn parse_plan(s: &str) -> Result<Plan, String> {
    s.parse().map_err(|e: tenants::Error| e.to_string())
}

pub fn run(data_dir: &Path, cmd: TenantCommand) -> CliResult {
    match cmd {
        TenantCommand::Create { slug, plan } => {
            let slug = Slug::parse(&slug)?;
            let store = open_store(data_dir)?;
            let tenant = store.create_tenant(&slug, plan)?;
            println!(
                "Created tenant {} ({}), plan {}",
                tenant.slug, tenant.id, tenant.plan
            );
        }
        TenantCommand::List { json } => {
            let store = open_store(data_dir)?;
            let tenants = store.registry().list()?;
            let domains = store.registry().domains()?;
            let domains_of = |t: &tenants::Tenant| -> Vec<String> {
                domains
                    .iter()
                    .filter(|(_, owner)| owner.id == t.id)
                    .map(|(d, _)| d.clone())
                    .collect()
            };
            if json {
                let mut list = Vec::new();
                for t in &tenants {
                    let mut row = serde_json::to_value(t.as_ref())?;
                    row["domains"] = serde_json::json!(domains_of(t));
                    list.push(row);
                }
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if tenants.is_empty() {
                println!("No tenants. Create one with `mobieus tenant create SLUG --plan pro`.");
            } else {
                println!(
                    "{:<24} {:<13} {:<32} {:<24} DOMAINS",
                    "SLUG", "PLAN", "ID", "CREATED"
                );
                for t in tenants {
                    println!(
                        "{:<24} {:<13} {:<32} {:<24} {}",
                        t.slug,
                        t.plan,
                        t.id,
                        crate::time::to_rfc3339(&t.created_at),
                        domains_of(&t).join(", ")
                    );
                }
            }
        }
        TenantCommand::SetPlan { slug, plan } => {
            let store = open_store(data_dir)?;
            store.registry().set_plan(&slug, plan)?;
            println!("Tenant {slug} is now on plan {plan}");
        }
        TenantCommand::Domain(DomainCommand::Add { slug, domain }) => {
            let store = open_store(data_dir)?;
            store.registry().add_domain(&slug, &domain)?;
            println!(
                "Tenant {slug} is served at {} too (from the server's next request)",
                tenants::registry::parse_domain(&domain)?
            );
        }
        TenantCommand::Domain(DomainCommand::Remove { slug, domain }) => {
            let store = open_store(data_dir)?;
            store.registry().remove_domain(&slug, &domain)?;
            println!("Tenant {slug} is no longer served at {domain}");
        }
        TenantCommand::Delete { slug, yes } => {
            let store = open_store(data_dir)?;
            if store.tenant(&slug)?.is_none() {
                return Err(tenants::Error::TenantNotFound(slug).into());
            }
            if !yes {
                confirm(&slug)?;
            }
            let tenant = store.delete_tenant(&slug)?;
            println!(
                "Deleted tenant {} ({}) and all its data",
                tenant.slug, tenant.id
            );
        }
    }
    Ok(())
}

fn confirm(slug: &str) -> CliResult {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(user_error(format!(
            "refusing to delete tenant `{slug}` without confirmation: pass --yes"
        )));
    }
    print!("Delete tenant `{slug}` and ALL its data? Type the slug to confirm: ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    if answer.trim() != slug {
        return Err(user_error("not confirmed; nothing deleted"));
    }
    Ok(())
}

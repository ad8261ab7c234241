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
    /// Delete a tenant and all its data.
    Delete {
        slug: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
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
            if json {
                let list: Vec<_> = tenants.iter().map(|t| t.as_ref()).collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if tenants.is_empty() {
                println!("No tenants. Create one with `mobieus tenant create SLUG --plan pro`.");
            } else {
                println!("{:<24} {:<13} {:<32} CREATED", "SLUG", "PLAN", "ID");
                for t in tenants {
                    println!(
                        "{:<24} {:<13} {:<32} {}",
                        t.slug,
                        t.plan,
                        t.id,
                        crate::time::to_rfc3339(&t.created_at)
                    );
                }
            }
        }
        TenantCommand::SetPlan { slug, plan } => {
            let store = open_store(data_dir)?;
            store.registry().set_plan(&slug, plan)?;
            println!("Tenant {slug} is now on plan {plan}");
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

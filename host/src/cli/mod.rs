//! The command line. Every command works while a server runs on the same data dir: they write to
//! the same SQLite files, and the server reads what they change on its next request.

mod admins;
mod ai;
mod backup;
mod common;
mod config;
mod keys;
mod mail;
mod plugins;
mod scim;
pub mod serve;
mod settings;
mod tenants;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use common::{CliError, CliResult, PluginArgs};
pub use serve::ServeArgs;

#[derive(Debug, Parser)]
#[command(
    name = "mobieus",
    version,
    about = "Mobieus Server: a self-hostable, multi-tenant community API"
)]
pub struct Cli {
    /// Where the registry and every tenant's files live.
    #[arg(
        long,
        global = true,
        env = "MOBIEUS_DATA_DIR",
        default_value = "./data"
    )]
    pub data_dir: PathBuf,
    /// A TOML file of `serve` flags (docs/operations.md); flags and their environment variables
    /// win over it.
    #[arg(long, global = true, env = "MOBIEUS_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default command).
    Serve(Box<ServeArgs>),
    /// Create, list, re-plan and delete tenants.
    #[command(subcommand)]
    Tenant(tenants::TenantCommand),
    /// Mint, list, edit and revoke API keys.
    #[command(subcommand)]
    Key(keys::KeyCommand),
    /// Tenant settings: default rate limit, CORS origins.
    #[command(subcommand)]
    Settings(settings::SettingsCommand),
    /// Read a tenant's audit log.
    #[command(subcommand)]
    Audit(settings::AuditCommand),
    /// Invite admins to a tenant's console.
    #[command(subcommand)]
    Admin(admins::AdminCommand),
    /// Install plugins; turn them on and off per tenant.
    #[command(subcommand)]
    Plugin(plugins::PluginCommand),
    /// The mail plugins sent: sent, pending, failed, or written as .eml files.
    #[command(subcommand)]
    Mail(mail::MailCommand),
    /// A tenant's AI provider, model, key and budget, and its meter.
    #[command(subcommand)]
    Ai(ai::AiCommand),
    /// SCIM provisioning: the tokens identity providers use on /scim/v2.
    #[command(subcommand)]
    Scim(scim::ScimCommand),
    /// Back up a tenant (or every tenant) while the server runs: a consistent copy of its files.
    Backup(backup::BackupArgs),
    /// Restore a tenant from a backup, into this data dir.
    Restore(backup::RestoreArgs),
    /// The configuration file: check it before a restart.
    #[command(subcommand)]
    Config(config::ConfigCommand),
}

pub fn run() -> ExitCode {
    let argv = std::env::args_os().collect();
    let result = config::layered(argv, |cli: &Cli| cli.config.clone()).and_then(run_command);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::User(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(CliError::Internal(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run_command(cli: Cli) -> CliResult {
    match cli.command {
        None => serve::run(&cli.data_dir, ServeArgs::default()),
        Some(Command::Serve(args)) => serve::run(&cli.data_dir, *args),
        Some(Command::Tenant(cmd)) => tenants::run(&cli.data_dir, cmd),
        Some(Command::Key(cmd)) => keys::run(&cli.data_dir, cmd),
        Some(Command::Settings(cmd)) => settings::run(&cli.data_dir, cmd),
        Some(Command::Audit(cmd)) => settings::run_audit(&cli.data_dir, cmd),
        Some(Command::Plugin(cmd)) => plugins::run(&cli.data_dir, cmd),
        Some(Command::Admin(cmd)) => admins::run(&cli.data_dir, cmd),
        Some(Command::Mail(cmd)) => mail::run(&cli.data_dir, cmd),
        Some(Command::Ai(cmd)) => ai::run(&cli.data_dir, cmd),
        Some(Command::Scim(cmd)) => scim::run(&cli.data_dir, cmd),
        Some(Command::Backup(args)) => backup::run_backup(&cli.data_dir, args),
        Some(Command::Restore(args)) => backup::run_restore(&cli.data_dir, args),
        Some(Command::Config(cmd)) => config::run::<Cli>(cli.config.as_deref(), cmd),
    }
}

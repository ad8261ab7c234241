//! What every command shares: its errors and exit codes, who the audit log names, opening the
//! data directory, and the plugin runtime's settings (`serve` and the plugin commands use them).

use std::path::Path;

use clap::Args;

use crate::plugins::registry::Plugins;
use crate::plugins::runtime::{Limits, Runtime};

/// A failure of a command: the user's (exit code 2) or ours (exit code 1).
#[derive(Debug)]
pub enum CliError {
    User(String),
    Internal(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for CliError {
    fn from(e: E) -> Self {
        let e = e.into();
        match e.downcast::<::tenants::Error>() {
            Ok(
                t @ (::tenants::Error::TenantNotFound(_)
                | ::tenants::Error::TenantExists(_)
                | ::tenants::Error::Invalid(_)),
            ) => CliError::User(t.to_string()),
            Ok(other) => CliError::Internal(other.into()),
            Err(e) => CliError::Internal(e),
        }
    }
}

pub type CliResult<T = ()> = Result<T, CliError>;

pub fn user_error(message: impl Into<String>) -> CliError {
    CliError::User(message.into())
}

/// Who the audit log names for a CLI action.
pub fn actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

pub fn open_store(data_dir: &std::path::Path) -> CliResult<::tenants::Store> {
    Ok(::tenants::Store::open(
        data_dir,
        ::tenants::PoolConfig {
            connections_per_db: 1,
            ..Default::default()
        },
    )?)
}

/// The tenant, or a user error naming the slug.
pub fn tenant(
    store: &::tenants::Store,
    slug: &str,
) -> CliResult<std::sync::Arc<::tenants::Tenant>> {
    store.tenant(slug)?.ok_or_else(|| {
        user_error(format!(
            "tenant `{slug}` does not exist (see `mobieus tenant list`)"
        ))
    })
}

/// The tenant's live database, or a user error naming the slug.
pub fn tenant_db(
    store: &::tenants::Store,
    slug: &str,
) -> CliResult<std::sync::Arc<::tenants::TenantDb>> {
    let tenant = tenant(store, slug)?;
    Ok(store.db(&tenant, ::tenants::Env::Live)?)
}

/// Where plugins come from and what one call may use.
#[derive(Debug, Clone, Default, Args)]
pub struct PluginArgs {
    /// Directory of installed plugins (`*.wasm`), watched for changes. Default: <data-dir>/plugins.
    #[arg(long, env = "MOBIEUS_PLUGINS_DIR")]
    pub plugins_dir: Option<std::path::PathBuf>,
    /// Directory of compiled plugins, keyed by their bytes and the engine; servers may share one.
    /// Default: <data-dir>/plugin-cache.
    #[arg(long, env = "MOBIEUS_PLUGIN_CACHE_DIR")]
    pub plugin_cache_dir: Option<std::path::PathBuf>,
    /// Wall-clock limit of one plugin call, e.g. 2s (default).
    #[arg(long, value_parser = crate::webhooks::retry::parse_duration)]
    pub plugin_timeout: Option<std::time::Duration>,
    /// Memory limit of one plugin instance in MiB (default 64).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub plugin_memory_mib: Option<u32>,
    /// The size in MiB a tenant file may reach through plugin writes (default 1024): a plugin
    /// write past it is rolled back and answers `507 storage_quota_exceeded`.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub plugin_quota_mib: Option<u32>,
    /// MiB of plugin answers marked shareable (`Mobieus-Cache-Control`) the server keeps to give
    /// again until the tenant's data changes (default 32; 0 keeps none).
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=65536))]
    pub plugin_shared_cache_mib: Option<u32>,
}

impl PluginArgs {
    /// The plugins, their limits sized for a runtime with `blocking_threads` blocking threads, for
    /// a command that makes no call of theirs that seals (`secrets`: the server's, [`Self::build`]).
    pub fn open(
        &self,
        data_dir: &Path,
        blocking_threads: usize,
    ) -> CliResult<std::sync::Arc<Plugins>> {
        Ok(std::sync::Arc::new(self.build(data_dir, blocking_threads)?))
    }

    /// [`Self::open`], not yet shared: the server gives them its sealing key first.
    pub fn build(&self, data_dir: &Path, blocking_threads: usize) -> CliResult<Plugins> {
        let mut limits = Limits {
            read_concurrency: (blocking_threads / 2).max(2),
            ..Limits::default()
        };
        if let Some(t) = self.plugin_timeout {
            limits.deadline = t;
        }
        if let Some(m) = self.plugin_memory_mib {
            limits.memory = m as usize * 1024 * 1024;
        }
        if let Some(q) = self.plugin_quota_mib {
            limits.sql.max_file = u64::from(q) << 20;
        }
        if let Some(c) = self.plugin_shared_cache_mib {
            limits.shared_cache = (c as usize) << 20;
        }
        let cache = self
            .plugin_cache_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("plugin-cache"));
        let runtime = Runtime::new(limits, Some(cache))?;
        let dir = self
            .plugins_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("plugins"));
        Ok(Plugins::new(runtime, dir))
    }
}

pub fn default_blocking_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    (cores * 4).max(8)
}

//! `mobieus backup` and `mobieus restore`: a tenant's files, copied while the server writes them
//! ([`crate::backup`]).

use std::path::{Path, PathBuf};

use clap::Args;
use tenants::Slug;

use super::common::{CliResult, open_store, tenant, user_error};
use crate::backup::{self, Report};

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("which").required(true).args(["tenant", "all"]))]
pub struct BackupArgs {
    /// The tenant to back up into OUT (a new directory).
    #[arg(long)]
    tenant: Option<String>,
    /// Every tenant, each into OUT/<slug>.
    #[arg(long)]
    all: bool,
    /// Where the backup goes: a directory that does not exist yet (with --all, its parent may).
    out: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The slug it gets here (a tenant that does not exist yet; the backup's own slug or another).
    #[arg(long)]
    tenant: String,
    /// A backup directory written by `mobieus backup`.
    from: PathBuf,
}

pub fn run_backup(data_dir: &Path, args: BackupArgs) -> CliResult {
    let store = open_store(data_dir)?;
    let secret =
        crate::sealed::server_secret(data_dir).map_err(|e| user_error(format!("{e:#}")))?;
    if let Some(slug) = &args.tenant {
        let tenant = tenant(&store, slug)?;
        let report = backup::backup(&store, &tenant, &secret, &args.out)
            .map_err(|e| user_error(format!("backup of `{slug}`: {e:#}")))?;
        print_report("backed up", slug, &args.out, &report);
        return Ok(());
    }
    if args.out.exists() && std::fs::read_dir(&args.out)?.next().is_some() {
        return Err(user_error(format!(
            "{} is not empty: name a new directory",
            args.out.display()
        )));
    }
    std::fs::create_dir_all(&args.out)?;
    let mut failed = Vec::new();
    for tenant in store.registry().list()? {
        let out = args.out.join(tenant.slug.as_str());
        match backup::backup(&store, &tenant, &secret, &out) {
            Ok(report) => print_report("backed up", tenant.slug.as_str(), &out, &report),
            Err(e) => {
                eprintln!("backup of `{}` failed: {e:#}", tenant.slug);
                failed.push(tenant.slug.to_string());
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(anyhow::anyhow!("backups failed: {}", failed.join(", ")).into())
    }
}

pub fn run_restore(data_dir: &Path, args: RestoreArgs) -> CliResult {
    let slug = Slug::parse(&args.tenant)?;
    let store = open_store(data_dir)?;
    let secret = std::fs::read(data_dir.join("server.secret"))
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes.as_slice()).ok());
    let (tenant, report, warnings) = backup::restore(&store, &slug, secret.as_ref(), &args.from)
        .map_err(|e| match e.downcast::<tenants::Error>() {
            Ok(e @ tenants::Error::TenantExists(_)) => user_error(format!(
                "{e}: restore under another slug, or delete it first (`mobieus tenant delete {slug}`)"
            )),
            Ok(e) => e.into(),
            Err(e) => user_error(format!("restore from {}: {e:#}", args.from.display())),
        })?;
    print_report("restored", tenant.slug.as_str(), &args.from, &report);
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
    Ok(())
}

fn print_report(what: &str, slug: &str, dir: &Path, report: &Report) {
    println!(
        "{what} `{slug}` ({}): {} files, {:.1} MiB in {:.2} s ({:.0} MiB/s)",
        dir.display(),
        report.files,
        report.bytes as f64 / (1024.0 * 1024.0),
        report.seconds,
        report.mib_per_second()
    );
}

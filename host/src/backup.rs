//! Backups of one tenant taken while the server writes, and their restore.
//!
//! A backup is a directory:
//!
//! - `live.db`, `sandbox.db`: snapshots by `VACUUM INTO`, each made in one read transaction, so
//!   each holds exactly what was committed when it began (and a write acknowledged before the
//!   backup began was committed before it answered). The server's writers go on meanwhile.
//! - everything else under the tenant's directory (uploads by content hash, written mail), copied
//!   after the snapshots: uploads are never changed or deleted, so every upload a snapshot names
//!   is there.
//! - `manifest.json`: the tenant, when, the server secret's fingerprint, and every file with its
//!   size and SHA-256, written last.
//!
//! It is written as `OUT.partial` and renamed to `OUT` when whole: a directory named `OUT` is a
//! complete backup. A restore checks every file against the manifest and every database with
//! `PRAGMA integrity_check` before the tenant exists, then migrates it like a new tenant's.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tenants::registry::Target;
use tenants::{Env, Plan, Slug, Store, Tenant};

const FORMAT: &str = "mobieus-tenant-backup/1";
const MANIFEST: &str = "manifest.json";

#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub tenant: BackedUpTenant,
    pub taken_at: DateTime<Utc>,
    /// Which server secret sealed the tenant's secrets (webhook signing secrets, AI keys): a
    /// restore under another one warns that they will not open.
    pub server_secret: String,
    pub files: Vec<BackedUpFile>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct BackedUpTenant {
    pub id: String,
    pub slug: String,
    pub plan: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct BackedUpFile {
    /// Relative to the tenant's directory, `/`-separated.
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// What a backup or a restore did, for the operator.
pub struct Report {
    pub files: usize,
    pub bytes: u64,
    pub seconds: f64,
}

impl Report {
    pub fn mib_per_second(&self) -> f64 {
        self.bytes as f64 / (1024.0 * 1024.0) / self.seconds.max(1e-9)
    }
}

/// A short public name of the server secret (not the secret: a hash of it, domain-separated).
pub fn fingerprint(secret: &[u8; 32]) -> String {
    let mut hash = Sha256::new();
    hash.update(b"mobieus server secret fingerprint\0");
    hash.update(secret);
    hex::encode(&hash.finalize()[..8])
}

/// Backs `tenant` up into `out`, which must not exist.
pub fn backup(
    store: &Store,
    tenant: &Tenant,
    secret: &[u8; 32],
    out: &Path,
) -> anyhow::Result<Report> {
    let started = Instant::now();
    ensure!(
        !out.exists(),
        "{} exists: name a new directory",
        out.display()
    );
    let partial = partial_of(out);
    if partial.exists() {
        // Left by a backup that did not finish.
        std::fs::remove_dir_all(&partial)
            .with_context(|| format!("removing {}", partial.display()))?;
    }
    std::fs::create_dir_all(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let taken_at = Utc::now();
    let dir = store.tenant_dir(tenant);
    let mut files = Vec::new();
    // The databases first, then what they refer to.
    for env in [Env::Live, Env::Test] {
        let name = env.file_name();
        snapshot(&dir.join(name), &partial.join(name))?;
        files.push(describe(&partial, name)?);
    }
    for relative in walk(&dir)? {
        let name = relative.to_string_lossy().replace('\\', "/");
        if is_database(&name) || is_scratch(&relative) {
            continue;
        }
        let to = partial.join(&relative);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(dir.join(&relative), &to)
            .with_context(|| format!("copying {}", relative.display()))?;
        files.push(describe(&partial, &name)?);
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        tenant: BackedUpTenant {
            id: tenant.id.clone(),
            slug: tenant.slug.to_string(),
            plan: tenant.plan.as_str().into(),
            created_at: tenant.created_at,
        },
        taken_at,
        server_secret: fingerprint(secret),
        files,
    };
    let report = Report {
        files: manifest.files.len(),
        bytes: manifest.files.iter().map(|f| f.bytes).sum(),
        seconds: 0.0,
    };
    std::fs::write(
        partial.join(MANIFEST),
        serde_json::to_vec_pretty(&manifest)?,
    )?;
    sync_dir(&partial);
    std::fs::rename(&partial, out).with_context(|| format!("renaming to {}", out.display()))?;
    Ok(Report {
        seconds: started.elapsed().as_secs_f64(),
        ..report
    })
}

/// Restores the backup in `from` as tenant `slug` (which must not exist); its plan is the
/// backup's. Returns the tenant, what was restored, and warnings for the operator.
pub fn restore(
    store: &Store,
    slug: &Slug,
    secret: Option<&[u8; 32]>,
    from: &Path,
) -> anyhow::Result<(Tenant, Report, Vec<String>)> {
    let started = Instant::now();
    let manifest = read_manifest(from)?;
    let plan: Plan = manifest
        .tenant
        .plan
        .parse()
        .map_err(|e| anyhow::anyhow!("the backup's plan: {e}"))?;
    check(from, &manifest)?;
    let mut warnings = Vec::new();
    match secret.map(fingerprint) {
        Some(here) if here == manifest.server_secret => {}
        Some(here) => warnings.push(format!(
            "the backup's sealed secrets (webhook signing secrets, the AI provider key) were sealed \
             with another server secret (fingerprint {}; this data dir's is {here}): they will not \
             open here; set them again, or restore into a data dir with the original server.secret",
            manifest.server_secret
        )),
        None => warnings.push(format!(
            "this data dir has no server.secret yet: copy the original data dir's (fingerprint {}) \
             here before the server first starts, or the backup's sealed secrets will not open",
            manifest.server_secret
        )),
    }
    let tenant = store.create_tenant_from(slug, plan, |_, dir| {
        for file in &manifest.files {
            let to = dir.join(&file.path);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(|e| tenants::Error::io(parent, e))?;
            }
            std::fs::copy(from.join(&file.path), &to).map_err(|e| tenants::Error::io(&to, e))?;
        }
        Ok(())
    })?;
    // The workers find pending deliveries, mail and timers in the restored files.
    for env in [Env::Live, Env::Test] {
        for target in [Target::Webhooks, Target::Timers, Target::Mail] {
            store.registry().mark_target(target, &tenant.id, env)?;
        }
    }
    let report = Report {
        files: manifest.files.len(),
        bytes: manifest.files.iter().map(|f| f.bytes).sum(),
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok((tenant, report, warnings))
}

pub fn read_manifest(from: &Path) -> anyhow::Result<Manifest> {
    let path = from.join(MANIFEST);
    let bytes = std::fs::read(&path).with_context(|| {
        format!(
            "{}: not a backup (no {MANIFEST}; an unfinished one is named *.partial)",
            from.display()
        )
    })?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a backup manifest", path.display()))?;
    ensure!(
        manifest.format == FORMAT,
        "{}: format `{}`, this server reads `{FORMAT}`",
        path.display(),
        manifest.format
    );
    Ok(manifest)
}

/// Every file is there, whole, with nothing outside the backup named; every database passes
/// `PRAGMA integrity_check`.
fn check(from: &Path, manifest: &Manifest) -> anyhow::Result<()> {
    for file in &manifest.files {
        let relative = Path::new(&file.path);
        ensure!(
            relative
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_))),
            "the manifest names `{}`, outside the backup",
            file.path
        );
        let (bytes, sha256) = hash_file(&from.join(relative))
            .with_context(|| format!("{}: {}", from.display(), file.path))?;
        ensure!(
            bytes == file.bytes && sha256 == file.sha256,
            "{} is damaged: {bytes} bytes, SHA-256 {sha256}; the manifest says {} bytes, {}",
            file.path,
            file.bytes,
            file.sha256
        );
        if is_database(&file.path) {
            integrity_check(&from.join(relative))?;
        }
    }
    for env in [Env::Live, Env::Test] {
        ensure!(
            manifest.files.iter().any(|f| f.path == env.file_name()),
            "the backup has no {}",
            env.file_name()
        );
    }
    Ok(())
}

pub fn integrity_check(db: &Path) -> anyhow::Result<()> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if verdict != "ok" {
        bail!("{} fails PRAGMA integrity_check: {verdict}", db.display());
    }
    Ok(())
}

/// A consistent copy of a live database, while other connections (the server's) write it.
fn snapshot(db: &Path, to: &Path) -> anyhow::Result<()> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .with_context(|| format!("opening {}", db.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    let target = to.to_str().context("a backup path that is not UTF-8")?;
    conn.execute("VACUUM INTO ?1", [target])
        .with_context(|| format!("snapshotting {}", db.display()))?;
    Ok(())
}

fn describe(root: &Path, relative: &str) -> anyhow::Result<BackedUpFile> {
    let (bytes, sha256) = hash_file(&root.join(relative))?;
    Ok(BackedUpFile {
        path: relative.to_owned(),
        bytes,
        sha256,
    })
}

fn hash_file(path: &Path) -> anyhow::Result<(u64, String)> {
    let mut file = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let (mut hash, mut buf, mut bytes) = (Sha256::new(), vec![0u8; 1 << 16], 0u64);
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok((bytes, hex::encode(hash.finalize())))
}

/// The files under `dir`, relative to it.
fn walk(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        for entry in std::fs::read_dir(dir.join(&relative))? {
            let entry = entry?;
            let path = relative.join(entry.file_name());
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// A database file or one of its companions (snapshotted, never copied).
fn is_database(name: &str) -> bool {
    [".db", ".db-wal", ".db-shm", ".db-journal"]
        .iter()
        .any(|suffix| name.ends_with(suffix))
}

/// Uploads being written (`files/<env>/tmp`): not yet anything's.
fn is_scratch(relative: &Path) -> bool {
    relative.components().any(|c| c.as_os_str() == "tmp")
}

fn partial_of(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    out.with_file_name(name)
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

//! The scanner: takes quarantined files through [`scan::check`] and records the verdict.
//!
//! A commit that put a file in quarantine wakes it (the `files` commit signal), and at start it
//! looks at every tenant that has files, so an upload whose scan was cut short by a restart is
//! scanned when the server is back. A clean file becomes `clean` and `file.uploaded` is appended
//! in the same transaction; a rejected one becomes `rejected` with its reason, and is never
//! served. When a check cannot run (clamd unreachable), the file stays quarantined and the tenant
//! is tried again after [`RETRY`].

use std::sync::Arc;
use std::time::Duration;

use rusqlite::params;
use tenants::{DbId, Env};

use crate::error::{ApiError, Result};
use crate::event_log::{self, FILE_UPLOADED};
use crate::files::blobs::Blobs;
use crate::files::scan::{self, Clamd, Verdict};
use crate::files::{self, CLEAN, QUARANTINED, REJECTED};
use crate::time::to_rfc3339;
use crate::wakeups::Wakeups;

pub const RETRY: Duration = Duration::from_secs(10);
const BATCH: i64 = 20;

pub struct Scanner {
    wakeups: Wakeups,
    clamd: Option<Clamd>,
}

impl Scanner {
    pub fn new(clamd: Option<Clamd>) -> Scanner {
        Scanner {
            wakeups: Wakeups::default(),
            clamd,
        }
    }

    pub fn notify(&self, id: &DbId) {
        self.wakeups.notify(id);
    }
}

/// What the scanner's worker needs: the tenant files and the scanner's queue and settings.
#[derive(Clone)]
pub struct ScanWorker {
    pub store: Arc<tenants::Store>,
    pub scanner: Arc<Scanner>,
}

/// Starts the scanner. Call once, inside the runtime.
pub fn start(state: ScanWorker) {
    let Some(mut inbox) = state.scanner.wakeups.take() else {
        return;
    };
    let sweep = state.clone();
    tokio::task::spawn_blocking(move || {
        let tenants = sweep.store.registry().list().unwrap_or_default();
        for tenant in tenants {
            let dir = sweep.store.tenant_dir(&tenant);
            for env in [Env::Live, Env::Test] {
                if Blobs::new(&dir, env).root().exists() {
                    sweep.scanner.notify(&DbId {
                        tenant_id: tenant.id.clone(),
                        env,
                    });
                }
            }
        }
    });
    tokio::spawn(async move {
        while let Some(id) = inbox.recv().await {
            if let Err(e) = drain(&state, &id).await {
                tracing::warn!(tenant = %id.tenant_id, env = %id.env.as_str(), "file scan postponed: {e}");
                let again = state.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(RETRY).await;
                    again.scanner.notify(&id);
                });
            }
        }
    });
}

struct Pending {
    id: String,
    sha256: String,
    size: i64,
    content_type: String,
}

/// Scans every quarantined file of one tenant file.
async fn drain(state: &ScanWorker, id: &DbId) -> Result<()> {
    let (s, tenant_id) = (state.clone(), id.tenant_id.clone());
    let Some(tenant) =
        tokio::task::spawn_blocking(move || s.store.registry().get_by_id(&tenant_id)).await??
    else {
        return Ok(());
    };
    let (s, t, env) = (state.clone(), tenant.clone(), id.env);
    let db = tokio::task::spawn_blocking(move || s.store.db(&t, env)).await??;
    let blobs = std::sync::Arc::new(Blobs::of(&state.store, &tenant, id.env));
    let mut after = String::new();
    loop {
        let (reader, from) = (db.clone(), after.clone());
        let batch = tokio::task::spawn_blocking(move || {
            reader.read(|conn| -> Result<Vec<Pending>> {
                let mut stmt = conn.prepare_cached(
                    "SELECT id, sha256, size, content_type FROM files
                     WHERE status = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
                )?;
                let rows = stmt.query_map(params![QUARANTINED, from, BATCH], |r| {
                    Ok(Pending {
                        id: r.get(0)?,
                        sha256: r.get(1)?,
                        size: r.get(2)?,
                        content_type: r.get(3)?,
                    })
                })?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
        })
        .await??;
        if batch.is_empty() {
            return Ok(());
        }
        for file in batch {
            after = file.id.clone();
            let (b, clamd) = (blobs.clone(), state.scanner.clamd.clone());
            let (sha, size, declared) = (file.sha256.clone(), file.size, file.content_type.clone());
            let report = tokio::task::spawn_blocking(move || {
                scan::check(&b.path(&sha), size as u64, &declared, clamd.as_ref())
            })
            .await?
            .map_err(|e| ApiError::internal(anyhow::anyhow!("scanning {}: {e}", file.id)))?;
            db.write_async(move |w| record(w, &file.id, report)).await?;
        }
    }
}

/// Writes the verdict; a clean file's `file.uploaded` goes in the same transaction.
fn record(w: &mut tenants::db::Write<'_>, id: &str, report: scan::Report) -> Result<()> {
    let (status, reason) = match &report.verdict {
        Verdict::Clean => (CLEAN, None),
        Verdict::Rejected(why) => (REJECTED, Some(why.as_str())),
    };
    let changed = w.execute(
        "UPDATE files SET status = ?2, reason = ?3, sniffed_type = ?4, scanned_at = ?5
         WHERE id = ?1 AND status = ?6",
        params![
            id,
            status,
            reason,
            report.sniffed,
            to_rfc3339(&chrono::Utc::now()),
            QUARANTINED
        ],
    )?;
    if changed == 1 && status == CLEAN {
        let file = files::find(w, id)?.ok_or_else(|| ApiError::not_found("file"))?;
        event_log::append(w, FILE_UPLOADED, &serde_json::json!({ "file": file }))?;
    }
    Ok(())
}

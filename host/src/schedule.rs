//! Work kept in tenant files and done when due (plugin timers, the mail outbox). A worker keeps,
//! per tenant file with such work, when its earliest item is due (one probe of an index) and
//! sleeps until then; the commit that adds work wakes it for that file (the `tenants` commit
//! hook). A file is marked in the registry before work is first written to it, so the worker
//! finds it again after a restart without opening every tenant's files.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tenants::DbId;
use tenants::registry::Target;
use tokio::sync::mpsc;

use crate::wakeups::Wakeups;

/// One kind of due work: its inbox of files to look at and the files this process has marked.
pub struct Due {
    target: Target,
    wakeups: Wakeups,
    marked: Mutex<HashSet<DbId>>,
}

impl Due {
    pub fn new(target: Target) -> Due {
        Due {
            target,
            wakeups: Wakeups::default(),
            marked: Mutex::default(),
        }
    }

    pub fn notify(&self, id: &DbId) {
        self.wakeups.notify(id);
    }

    pub fn is_marked(&self, id: &DbId) -> bool {
        self.marked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(id)
    }

    /// Marks the file in the registry (blocking; once per file and process).
    pub fn mark(&self, store: &tenants::Store, id: &DbId) -> tenants::Result<()> {
        if self.is_marked(id) {
            return Ok(());
        }
        store
            .registry()
            .mark_target(self.target, &id.tenant_id, id.env)?;
        self.marked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone());
        Ok(())
    }
}

/// Now, in ms since the Unix epoch: what due times are counted in.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Starts the worker of `due`: `run` does what is due in one file (marking it first) and says
/// when to look at it again. Call once, inside the runtime.
pub fn start<F, Fut>(
    store: Arc<tenants::Store>,
    due: Arc<Due>,
    work: crate::shutdown::Work,
    what: &'static str,
    run: F,
) where
    F: Fn(DbId) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<i64>> + Send + 'static,
{
    let Some(mut inbox) = due.wakeups.take() else {
        return;
    };
    let run = Arc::new(run);
    tokio::spawn(async move {
        let (done_tx, mut done) = mpsc::unbounded_channel::<(DbId, Option<i64>)>();
        let mut next: HashMap<DbId, i64> = HashMap::new();
        let mut running: HashSet<DbId> = HashSet::new();
        let mut again: HashSet<DbId> = HashSet::new();
        let target = due.target;
        match tokio::task::spawn_blocking(move || store.registry().targets(target)).await {
            Ok(Ok(targets)) => {
                for (tenant, env) in targets {
                    let id = DbId {
                        tenant_id: tenant.id.clone(),
                        env,
                    };
                    next.insert(id, 0);
                }
            }
            Ok(Err(e)) => tracing::error!("{what} worker: cannot list its files: {e}"),
            Err(e) => tracing::error!("{what} worker: cannot list its files: {e}"),
        }
        loop {
            let now = now_ms();
            let ready: Vec<DbId> = next
                .iter()
                .filter(|(_, at)| **at <= now)
                .map(|(id, _)| id.clone())
                .collect();
            for id in ready {
                next.remove(&id);
                running.insert(id.clone());
                let (run, done_tx) = (run.clone(), done_tx.clone());
                // Begun work: shutdown lets it finish.
                work.begin(async move {
                    let at = run(id.clone()).await;
                    let _ = done_tx.send((id, at));
                });
            }
            crate::metrics::due_work(what, next.len() + running.len(), running.len());
            let sleep = next.values().min().map_or(Duration::from_secs(3600), |at| {
                Duration::from_millis((at - now).clamp(1, 3_600_000) as u64)
            });
            tokio::select! {
                woken = inbox.recv() => match woken {
                    None => return,
                    Some(id) if running.contains(&id) => { again.insert(id); }
                    Some(id) => { next.insert(id, 0); }
                },
                Some((id, at)) = done.recv() => {
                    running.remove(&id);
                    let at = if again.remove(&id) { Some(0) } else { at };
                    if let Some(at) = at {
                        let slot = next.entry(id).or_insert(at);
                        *slot = (*slot).min(at);
                    }
                }
                _ = tokio::time::sleep(sleep) => {}
                _ = work.stopping() => return,
            }
        }
    });
}

//! Open tenant databases. A database is opened on first use and closed when it has been idle for
//! `idle_after`, or when more than `max_open` are open (least recently used first), so a box with
//! 10,000 tenants holds pools and file handles only for the ones in use.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use scheduled_thread_pool::ScheduledThreadPool;

use crate::db::{CommitHook, DbId, HookSlot, now_ms};
use crate::{Env, Result, Tenant, TenantDb};

#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// At most this many databases open at once.
    pub max_open: usize,
    /// A database unused for this long is closed by [`Pools::close_idle`].
    pub idle_after: Duration,
    /// Connections per database.
    pub connections_per_db: u32,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_open: 256,
            idle_after: Duration::from_secs(60),
            connections_per_db: 8,
        }
    }
}

type PoolKey = (String, Env);

pub struct Pools {
    tenants_dir: PathBuf,
    config: PoolConfig,
    // One small thread pool for every r2d2 pool's housekeeping; r2d2 would start three threads
    // per pool otherwise.
    threads: Arc<ScheduledThreadPool>,
    open: Mutex<HashMap<PoolKey, Arc<TenantDb>>>,
    hook: HookSlot,
}

impl Pools {
    pub(crate) fn new(tenants_dir: PathBuf, config: PoolConfig) -> Self {
        Pools {
            tenants_dir,
            config,
            threads: Arc::new(
                ScheduledThreadPool::builder()
                    .num_threads(1)
                    .thread_name_pattern("sqlite-pool-{}")
                    .build(),
            ),
            open: Mutex::new(HashMap::new()),
            hook: HookSlot::default(),
        }
    }

    /// The database of `tenant` for `env`, opening it if needed. Blocking.
    pub fn get(&self, tenant: &Tenant, env: Env) -> Result<Arc<TenantDb>> {
        let key = (tenant.id.clone(), env);
        if let Some(db) = self.lock().get(&key) {
            return Ok(db.clone());
        }
        // Open outside the lock: migrations may take a while and must not stall other tenants.
        let path = self.tenant_dir(tenant).join(env.file_name());
        let id = DbId {
            tenant_id: tenant.id.clone(),
            env,
        };
        let db = Arc::new(TenantDb::open(
            &path,
            id,
            self.config.connections_per_db,
            self.threads.clone(),
            self.hook.clone(),
        )?);
        let evicted = {
            let mut open = self.lock();
            if let Some(raced) = open.get(&key) {
                return Ok(raced.clone());
            }
            let evicted = if open.len() >= self.config.max_open {
                evict_least_recent(&mut open)
            } else {
                None
            };
            open.insert(key, db.clone());
            evicted
        };
        // Closed outside the lock (see `closing`).
        drop(evicted);
        Ok(db)
    }

    /// Sets the hook every database calls after its commits. A second call is ignored.
    pub fn set_commit_hook(&self, hook: CommitHook) {
        let _ = self.hook.set(hook);
    }

    pub(crate) fn tenant_dir(&self, tenant: &Tenant) -> PathBuf {
        self.tenants_dir.join(tenant.slug.as_str())
    }

    /// Closes databases idle for longer than `idle_after`; returns how many. A request still using
    /// one keeps its `Arc` until it finishes.
    pub fn close_idle(&self) -> usize {
        let cutoff = now_ms() - self.config.idle_after.as_millis() as i64;
        self.closing(|_, db| db.last_used_ms() < cutoff)
    }

    /// Forgets every open database of a tenant (after it was deleted).
    pub fn close_tenant(&self, tenant_id: &str) {
        self.closing(|id, _| id == tenant_id);
    }

    /// Keeps only the databases of tenants `keep` says still exist.
    pub fn retain_tenants(&self, keep: impl Fn(&str) -> bool) {
        self.closing(|id, _| !keep(id));
    }

    /// Removes the databases `close` picks; returns how many. They are dropped after the lock is
    /// released: closing a file's last connection checkpoints its WAL, disk work that must not
    /// hold up every other tenant's `get`.
    fn closing(&self, close: impl Fn(&str, &TenantDb) -> bool) -> usize {
        let closed: Vec<Arc<TenantDb>> = {
            let mut open = self.lock();
            let keys: Vec<PoolKey> = open
                .iter()
                .filter(|((id, _), db)| close(id, db))
                .map(|(k, _)| k.clone())
                .collect();
            keys.iter().filter_map(|k| open.remove(k)).collect()
        };
        closed.len()
    }

    pub fn open_count(&self) -> usize {
        self.lock().len()
    }

    /// A snapshot of the open databases, for housekeeping (flushing batched writes, sweeping).
    pub fn open_dbs(&self) -> Vec<(String, Arc<TenantDb>)> {
        self.lock()
            .iter()
            .map(|((id, _), db)| (id.clone(), db.clone()))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PoolKey, Arc<TenantDb>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn evict_least_recent(open: &mut HashMap<PoolKey, Arc<TenantDb>>) -> Option<Arc<TenantDb>> {
    let oldest = open
        .iter()
        .min_by_key(|(_, db)| db.last_used_ms())
        .map(|(k, _)| k.clone())?;
    open.remove(&oldest)
}

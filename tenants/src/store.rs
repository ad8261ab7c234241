//! The data directory as a whole:
//!
//! ```text
//! <data-dir>/registry.db                 the tenants
//! <data-dir>/tenants/<slug>/live.db      live data, keys, settings, audit log
//! <data-dir>/tenants/<slug>/sandbox.db   what test keys read and write
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::{Env, Error, Plan, PoolConfig, Pools, Registry, Result, Slug, Tenant, TenantDb};

pub struct Store {
    data_dir: PathBuf,
    registry: Registry,
    pools: Pools,
}

impl Store {
    /// Opens the data directory, creating it if needed.
    pub fn open(data_dir: &Path, config: PoolConfig) -> Result<Self> {
        let tenants_dir = data_dir.join("tenants");
        std::fs::create_dir_all(&tenants_dir).map_err(|e| Error::io(&tenants_dir, e))?;
        Ok(Store {
            data_dir: data_dir.to_owned(),
            registry: Registry::open(&data_dir.join("registry.db"))?,
            pools: Pools::new(tenants_dir, config),
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn pools(&self) -> &Pools {
        &self.pools
    }

    /// The tenant with this slug, if it exists now. Blocking.
    pub fn tenant(&self, slug: &str) -> Result<Option<Arc<Tenant>>> {
        self.registry.get(slug)
    }

    /// The directory that holds everything of one tenant: its database files and its blobs.
    pub fn tenant_dir(&self, tenant: &Tenant) -> PathBuf {
        self.pools.tenant_dir(tenant)
    }

    /// A tenant's database for an environment, opened lazily. Blocking.
    pub fn db(&self, tenant: &Tenant, env: Env) -> Result<Arc<TenantDb>> {
        self.pools.get(tenant, env)
    }

    /// Creates a tenant with both of its files migrated, then makes it visible in the registry.
    pub fn create_tenant(&self, slug: &Slug, plan: Plan) -> Result<Tenant> {
        self.create_tenant_from(slug, plan, |_, _| Ok(()))
    }

    /// Creates a tenant whose directory `fill` first puts files in (a restore): its database
    /// files are then opened and migrated like a new tenant's, and only then is it visible in
    /// the registry. If anything fails, nothing of it stays.
    pub fn create_tenant_from(
        &self,
        slug: &Slug,
        plan: Plan,
        fill: impl FnOnce(&Tenant, &Path) -> Result<()>,
    ) -> Result<Tenant> {
        self.registry.insert(slug, plan, |tenant| {
            let dir = self.pools.tenant_dir(tenant);
            // Left over from a tenant deleted while a server held its files open: start clean.
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            }
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            if let Err(e) = fill(tenant, &dir) {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
            for env in [Env::Live, Env::Test] {
                self.pools.get(tenant, env)?;
            }
            self.pools.close_tenant(&tenant.id);
            Ok(())
        })
    }

    /// Deletes a tenant: first from the registry (it stops being served at once), then its files.
    pub fn delete_tenant(&self, slug: &str) -> Result<Tenant> {
        let tenant = self.registry.remove(slug)?;
        self.pools.close_tenant(&tenant.id);
        let dir = self.pools.tenant_dir(&tenant);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        Ok(tenant)
    }

    /// Closes idle databases and those of tenants deleted by another process. Blocking.
    pub fn housekeeping(&self) -> Result<usize> {
        let live: std::collections::HashSet<String> = self
            .registry
            .list()?
            .into_iter()
            .map(|t| t.id.clone())
            .collect();
        self.pools.retain_tenants(|id| live.contains(id));
        Ok(self.pools.close_idle())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn slug(s: &str) -> Slug {
        Slug::parse(s).unwrap()
    }

    #[test]
    fn create_list_set_plan_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), PoolConfig::default()).unwrap();
        store.create_tenant(&slug("acme"), Plan::Pro).unwrap();
        assert!(matches!(
            store.create_tenant(&slug("acme"), Plan::Pro),
            Err(Error::TenantExists(_))
        ));
        assert!(dir.path().join("tenants/acme/live.db").exists());
        assert!(dir.path().join("tenants/acme/sandbox.db").exists());

        // A second handle, as another process would have, sees the change at once.
        let other = Store::open(dir.path(), PoolConfig::default()).unwrap();
        assert_eq!(other.tenant("acme").unwrap().unwrap().plan, Plan::Pro);
        store.registry().set_plan("acme", Plan::Starter).unwrap();
        assert_eq!(other.tenant("acme").unwrap().unwrap().plan, Plan::Starter);

        store.delete_tenant("acme").unwrap();
        assert!(other.tenant("acme").unwrap().is_none());
        assert!(!dir.path().join("tenants/acme").exists());
        assert!(matches!(
            store.delete_tenant("acme"),
            Err(Error::TenantNotFound(_))
        ));
    }

    #[test]
    fn recreated_tenant_gets_fresh_files() {
        let dir = tempfile::tempdir().unwrap();
        let server = Store::open(dir.path(), PoolConfig::default()).unwrap();
        let cli = Store::open(dir.path(), PoolConfig::default()).unwrap();
        let first = cli.create_tenant(&slug("acme"), Plan::Pro).unwrap();
        let db = server.db(&first, Env::Live).unwrap();
        db.write(|w| {
            w.execute(
                "INSERT INTO users (id, username, created_at) VALUES ('usr_1', 'old', 'x')",
                [],
            )
            .map(|_| ())
            .map_err(Error::from)
        })
        .unwrap();
        cli.delete_tenant("acme").unwrap();
        let second = cli.create_tenant(&slug("acme"), Plan::Pro).unwrap();
        assert_ne!(first.id, second.id);
        let tenant = server.tenant("acme").unwrap().unwrap();
        let n: i64 = server
            .db(&tenant, Env::Live)
            .unwrap()
            .read(|c| Ok::<_, Error>(c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn many_tenants_do_not_keep_many_pools_open() {
        let dir = tempfile::tempdir().unwrap();
        let config = PoolConfig {
            max_open: 16,
            idle_after: Duration::from_millis(50),
            connections_per_db: 2,
        };
        let store = Store::open(dir.path(), config).unwrap();
        let fds_before = open_fds();
        for i in 0..300 {
            let t = store
                .create_tenant(&slug(&format!("t{i}")), Plan::Pro)
                .unwrap();
            let db = store.db(&t, Env::Live).unwrap();
            let _: i64 = db
                .read(|c| {
                    Ok::<_, Error>(c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?)
                })
                .unwrap();
            assert!(store.pools().open_count() <= 16);
        }
        // Each open database holds at most a few descriptors (file, WAL, shm); 16 of them, not 300.
        assert!(
            open_fds() < fds_before + 16 * 2 * 3 + 8,
            "{} fds",
            open_fds()
        );
        std::thread::sleep(Duration::from_millis(60));
        store.housekeeping().unwrap();
        assert_eq!(store.pools().open_count(), 0);
    }

    fn open_fds() -> usize {
        std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
    }
}

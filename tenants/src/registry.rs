//! The registry of tenants: one small SQLite file (`registry.db`). The server reads it on every
//! request through an in-memory copy that it revalidates with `PRAGMA data_version`, which changes
//! whenever another connection (the CLI in another process) commits. So `tenant set-plan` takes
//! effect on the server's next request without the server re-reading the table each time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::{Env, Error, Plan, Result, Slug, Tenant};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS tenants (
    id         TEXT PRIMARY KEY,
    slug       TEXT NOT NULL UNIQUE,
    plan       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
-- Tenant files that have (or had) webhook endpoints: where the delivery worker looks at start.
CREATE TABLE IF NOT EXISTS webhook_targets (
    tenant_id TEXT NOT NULL,
    env       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, env)
);
-- Tenant files that have (or had) plugin timers: where the timer worker looks at start.
CREATE TABLE IF NOT EXISTS timer_targets (
    tenant_id TEXT NOT NULL,
    env       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, env)
);
-- A tenant's own host names, besides <slug>.<base domain>.
CREATE TABLE IF NOT EXISTS tenant_domains (
    domain    TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL
);
-- Tenant files that have (or had) mail in their outbox: where the mail worker looks at start.
CREATE TABLE IF NOT EXISTS mail_targets (
    tenant_id TEXT NOT NULL,
    env       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, env)
);";

/// Which background worker a tenant file has work for, so it finds the file again at start
/// without opening every tenant's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Webhooks,
    Timers,
    Mail,
}

impl Target {
    const ALL: [Target; 3] = [Target::Webhooks, Target::Timers, Target::Mail];

    fn table(self) -> &'static str {
        match self {
            Target::Webhooks => "webhook_targets",
            Target::Timers => "timer_targets",
            Target::Mail => "mail_targets",
        }
    }
}

pub struct Registry {
    path: PathBuf,
    cache: Mutex<Cache>,
}

struct Cache {
    conn: Connection,
    data_version: Option<i64>,
    by_slug: HashMap<String, Arc<Tenant>>,
    by_id: HashMap<String, Arc<Tenant>>,
    by_domain: HashMap<String, Arc<Tenant>>,
}

impl Registry {
    pub fn open(path: &Path) -> Result<Self> {
        let conn = connect(path)?;
        conn.execute_batch(SCHEMA)?;
        Ok(Registry {
            path: path.to_owned(),
            cache: Mutex::new(Cache {
                conn,
                data_version: None,
                by_slug: HashMap::new(),
                by_id: HashMap::new(),
                by_domain: HashMap::new(),
            }),
        })
    }

    /// The tenant with this slug, as of the last commit by anyone. Blocking (cheap when nothing
    /// changed: one pragma on an open connection).
    pub fn get(&self, slug: &str) -> Result<Option<Arc<Tenant>>> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.refresh()?;
        Ok(cache.by_slug.get(slug).cloned())
    }

    /// The tenant with this id (ids are never reused), as of the last commit by anyone.
    pub fn get_by_id(&self, id: &str) -> Result<Option<Arc<Tenant>>> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.refresh()?;
        Ok(cache.by_id.get(id).cloned())
    }

    /// The tenant served at this host name of its own (`community.example.org`), if any.
    /// `domain` is lowercase, without a port.
    pub fn get_by_domain(&self, domain: &str) -> Result<Option<Arc<Tenant>>> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.refresh()?;
        Ok(cache.by_domain.get(domain).cloned())
    }

    /// Every tenant's own host names, sorted.
    pub fn domains(&self) -> Result<Vec<(String, Arc<Tenant>)>> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.refresh()?;
        let mut all: Vec<_> = cache
            .by_domain
            .iter()
            .map(|(d, t)| (d.clone(), t.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(all)
    }

    /// Serves the tenant at `domain` too. A domain belongs to one tenant.
    pub fn add_domain(&self, slug: &str, domain: &str) -> Result<()> {
        let domain = parse_domain(domain)?;
        let mut conn = connect(&self.path)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let tenant_id: String = tx
            .query_row("SELECT id FROM tenants WHERE slug = ?1", [slug], |r| {
                r.get(0)
            })
            .optional()?
            .ok_or_else(|| Error::TenantNotFound(slug.to_owned()))?;
        let owner: Option<String> = tx
            .query_row(
                "SELECT t.slug FROM tenant_domains d JOIN tenants t ON t.id = d.tenant_id
                 WHERE d.domain = ?1",
                [&domain],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(owner) = owner {
            return Err(Error::Invalid(format!("{domain} is already `{owner}`'s")));
        }
        tx.execute(
            "INSERT OR REPLACE INTO tenant_domains (domain, tenant_id) VALUES (?1, ?2)",
            params![domain, tenant_id],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Stops serving `slug` at `domain`.
    pub fn remove_domain(&self, slug: &str, domain: &str) -> Result<()> {
        let domain = domain.to_ascii_lowercase();
        let conn = connect(&self.path)?;
        let removed = conn.execute(
            "DELETE FROM tenant_domains WHERE domain = ?1
             AND tenant_id = (SELECT id FROM tenants WHERE slug = ?2)",
            params![domain, slug],
        )?;
        if removed == 0 {
            return Err(Error::Invalid(format!("`{slug}` has no domain {domain}")));
        }
        Ok(())
    }

    /// Every tenant, sorted by slug.
    pub fn list(&self) -> Result<Vec<Arc<Tenant>>> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.refresh()?;
        let mut all: Vec<_> = cache.by_slug.values().cloned().collect();
        all.sort_by(|a, b| a.slug.cmp(&b.slug));
        Ok(all)
    }

    /// Inserts a tenant. `prepare` runs between the existence check and the commit (it creates
    /// the tenant's files), so the server never sees a tenant whose files are not ready.
    pub(crate) fn insert(
        &self,
        slug: &Slug,
        plan: Plan,
        prepare: impl FnOnce(&Tenant) -> Result<()>,
    ) -> Result<Tenant> {
        let mut conn = connect(&self.path)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let exists: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM tenants WHERE slug = ?1)",
            [slug.as_str()],
            |r| r.get(0),
        )?;
        if exists {
            return Err(Error::TenantExists(slug.to_string()));
        }
        let tenant = Tenant {
            id: format!("tnt_{}", ulid::Ulid::new()),
            slug: slug.clone(),
            plan,
            created_at: Utc::now(),
        };
        prepare(&tenant)?;
        tx.execute(
            "INSERT INTO tenants (id, slug, plan, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![
                tenant.id,
                tenant.slug.as_str(),
                plan.as_str(),
                tenant.created_at.to_rfc3339()
            ],
        )?;
        tx.commit()?;
        Ok(tenant)
    }

    /// Remembers that a tenant file has work for `target`'s worker.
    pub fn mark_target(&self, target: Target, tenant_id: &str, env: Env) -> Result<()> {
        let conn = connect(&self.path)?;
        conn.execute(
            &format!(
                "INSERT OR IGNORE INTO {} (tenant_id, env) VALUES (?1, ?2)",
                target.table()
            ),
            params![tenant_id, env.as_str()],
        )?;
        Ok(())
    }

    /// Every tenant file marked for `target`, of tenants that still exist.
    pub fn targets(&self, target: Target) -> Result<Vec<(Arc<Tenant>, Env)>> {
        let conn = connect(&self.path)?;
        let mut stmt = conn.prepare(&format!("SELECT tenant_id, env FROM {}", target.table()))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let tenants = self.list()?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, env)| {
                let tenant = tenants.iter().find(|t| t.id == id)?.clone();
                Some((tenant, env.parse().ok()?))
            })
            .collect())
    }

    pub fn set_plan(&self, slug: &str, plan: Plan) -> Result<()> {
        let conn = connect(&self.path)?;
        let n = conn.execute(
            "UPDATE tenants SET plan = ?1 WHERE slug = ?2",
            params![plan.as_str(), slug],
        )?;
        if n == 0 {
            return Err(Error::TenantNotFound(slug.to_owned()));
        }
        Ok(())
    }

    pub(crate) fn remove(&self, slug: &str) -> Result<Tenant> {
        let mut conn = connect(&self.path)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let tenant = tx
            .query_row(
                "SELECT id, slug, plan, created_at FROM tenants WHERE slug = ?1",
                [slug],
                row_to_tenant,
            )
            .optional()?
            .ok_or_else(|| Error::TenantNotFound(slug.to_owned()))?;
        tx.execute("DELETE FROM tenants WHERE id = ?1", [&tenant.id])?;
        tx.execute(
            "DELETE FROM tenant_domains WHERE tenant_id = ?1",
            [&tenant.id],
        )?;
        for target in Target::ALL {
            tx.execute(
                &format!("DELETE FROM {} WHERE tenant_id = ?1", target.table()),
                [&tenant.id],
            )?;
        }
        tx.commit()?;
        Ok(tenant)
    }
}

impl Cache {
    fn refresh(&mut self) -> Result<()> {
        // Asked on every request: prepared once.
        let version: i64 = self
            .conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?;
        if self.data_version == Some(version) {
            return Ok(());
        }
        let mut stmt = self
            .conn
            .prepare("SELECT id, slug, plan, created_at FROM tenants")?;
        let by_slug = stmt
            .query_map([], row_to_tenant)?
            .map(|t| t.map(|t| (t.slug.to_string(), Arc::new(t))))
            .collect::<rusqlite::Result<HashMap<_, _>>>()?;
        drop(stmt);
        self.by_id = by_slug
            .values()
            .map(|t| (t.id.clone(), t.clone()))
            .collect();
        let mut stmt = self
            .conn
            .prepare("SELECT domain, tenant_id FROM tenant_domains")?;
        self.by_domain = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?
            .into_iter()
            .filter_map(|(domain, id)| Some((domain, self.by_id.get(&id)?.clone())))
            .collect();
        drop(stmt);
        self.by_slug = by_slug;
        self.data_version = Some(version);
        Ok(())
    }
}

/// A host name a tenant can be served at: lowercase ASCII (IDNs in their `xn--` form), at least
/// two labels of letters, digits and inner hyphens, no port.
pub fn parse_domain(domain: &str) -> Result<String> {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let labels: Vec<&str> = domain.split('.').collect();
    let ok = domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| label_ok(l))
        && !labels
            .last()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()));
    if !ok {
        return Err(Error::Invalid(format!(
            "`{domain}` is not a host name like community.example.org (lowercase letters, digits, \
             hyphens, dots; an IDN in its xn-- form; no port, no address)"
        )));
    }
    Ok(domain)
}

fn row_to_tenant(row: &rusqlite::Row<'_>) -> rusqlite::Result<Tenant> {
    let bad = |i: usize, e: Error| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    };
    let slug: String = row.get(1)?;
    let plan: String = row.get(2)?;
    let created_at: String = row.get(3)?;
    Ok(Tenant {
        id: row.get(0)?,
        slug: Slug::parse(&slug).map_err(|e| bad(1, e))?,
        plan: plan.parse().map_err(|e| bad(2, e))?,
        created_at: DateTime::parse_from_rfc3339(&created_at)
            .map_err(|e| bad(3, Error::Invalid(e.to_string())))?
            .with_timezone(&Utc),
    })
}

fn connect(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    conn.execute_batch("PRAGMA synchronous = NORMAL")?;
    Ok(conn)
}

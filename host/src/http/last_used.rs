//! Last-used time and IP of each key, recorded in memory per request and written to the tenant's
//! file in batches (one transaction per tenant every few seconds, and at shutdown), not a write per
//! request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tenants::{Env, Store, Tenant};

use crate::auth::keys;

#[derive(Default)]
pub struct LastUsed {
    pending: Mutex<HashMap<String, Pending>>,
}

struct Pending {
    tenant: Arc<Tenant>,
    keys: HashMap<String, (DateTime<Utc>, String)>,
}

impl LastUsed {
    pub fn record(&self, tenant: &Arc<Tenant>, key_id: &str, at: DateTime<Utc>, ip: &str) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let entry = pending.entry(tenant.id.clone()).or_insert_with(|| Pending {
            tenant: tenant.clone(),
            keys: HashMap::new(),
        });
        match entry.keys.get_mut(key_id) {
            Some(slot) => {
                slot.0 = at;
                if slot.1 != ip {
                    slot.1 = ip.to_owned();
                }
            }
            None => {
                entry.keys.insert(key_id.to_owned(), (at, ip.to_owned()));
            }
        }
    }

    /// Writes everything pending. Blocking. A tenant deleted meanwhile is skipped.
    pub fn flush(&self, store: &Store) {
        let batch = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        for (_, pending) in batch {
            let still_there = matches!(store.tenant(pending.tenant.slug.as_str()),
                Ok(Some(t)) if t.id == pending.tenant.id);
            if !still_there {
                continue;
            }
            let keys = pending.keys;
            let result = store.db(&pending.tenant, Env::Live).and_then(|db| {
                db.write(move |w| {
                    for (key_id, (at, ip)) in &keys {
                        keys::touch(w, key_id, *at, ip)?;
                    }
                    Ok::<_, tenants::Error>(())
                })
            });
            if let Err(e) = result {
                tracing::warn!(tenant = %pending.tenant.slug, "could not record key last use: {e}");
            }
        }
    }
}

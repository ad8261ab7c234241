//! The plugins this server runs: first-party ones embedded in the binary, then every `*.wasm` in
//! the plugins directory. Each is compiled, linked, asked for its manifest and checked against
//! the ones loaded before it; a refused one is logged with its reason and the server runs without
//! it. The set is swapped atomically when the directory changes: requests in flight finish on the
//! version they started with, and a refused upgrade leaves the old version serving.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::plugins::manifest::{Manifest, Route};
use crate::plugins::read_pool::ReadPool;
use crate::plugins::routes;
use crate::plugins::runtime::{Limits, Pre, Runtime};
use crate::plugins::shared_cache::SharedCache;
use crate::plugins::state::Sealing;
use crate::sealed::ServerKey;

/// Calls of one plugin that may wait for a read thread at once; more are `plugin_busy` at once.
const MAX_WAITING_READS: usize = 256;

/// Half the read threads for one plugin (`ReadPool::new` keeps both at one or more).
fn read_pool(limits: &Limits) -> ReadPool {
    let threads = limits.read_concurrency;
    ReadPool::new(threads, threads / 2, MAX_WAITING_READS, limits.deadline)
}

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_plugins.rs"));
}

/// The component of an embedded first-party plugin, by file stem (`market`).
pub fn embedded_wasm(name: &str) -> Option<&'static [u8]> {
    embedded::EMBEDDED
        .iter()
        .find(|(file, _)| *file == name)
        .map(|(_, wasm)| *wasm)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "path")]
pub enum Origin {
    /// Built from `plugins/` and embedded: enabled for tenants unless they turn it off.
    FirstParty,
    /// Installed into the plugins directory: off until a tenant turns it on.
    Installed(PathBuf),
}

pub struct LoadedPlugin {
    pub manifest: Manifest,
    pub pre: Pre,
    pub origin: Origin,
    /// SHA-256 of the component, hex.
    pub hash: String,
    pub events: Arc<HashSet<String>>,
    /// Tenant files this version's migrations are known to be applied to, so a GET need not ask
    /// the file each time (migrations are never undone).
    migrated: std::sync::RwLock<HashSet<tenants::DbId>>,
    /// Its GET routes (templates) that answered marked shareable: only their requests are
    /// looked for in the shared cache, so a route that never marks pays nothing for it.
    sharing: std::sync::RwLock<HashSet<String>>,
}

impl LoadedPlugin {
    pub fn enabled_by_default(&self) -> bool {
        self.origin == Origin::FirstParty
    }

    /// Whether `conn` (the file `id`) still lacks some of this plugin's migrations; remembers
    /// when it does not.
    pub fn migrations_pending(
        &self,
        id: &tenants::DbId,
        conn: &rusqlite::Connection,
    ) -> rusqlite::Result<bool> {
        // Read-locked on every request by every blocking thread; written once per file.
        let known = self.migrated.read().unwrap_or_else(|e| e.into_inner());
        if known.contains(id) {
            return Ok(false);
        }
        drop(known);
        let pending = crate::plugins::migrate::pending(conn, self)?;
        if !pending {
            let mut known = self.migrated.write().unwrap_or_else(|e| e.into_inner());
            known.insert(id.clone());
        }
        Ok(pending)
    }

    /// Whether the route `template` has marked an answer shareable ([`Self::shares`]).
    pub fn shares_answers(&self, template: &str) -> bool {
        let sharing = self.sharing.read().unwrap_or_else(|e| e.into_inner());
        sharing.contains(template)
    }

    /// Remembers that the route `template` marks answers shareable.
    pub fn shares(&self, template: &str) {
        let mut sharing = self.sharing.write().unwrap_or_else(|e| e.into_inner());
        sharing.insert(template.to_owned());
    }
}

#[derive(Default)]
pub struct PluginSet {
    pub plugins: Vec<Arc<LoadedPlugin>>,
}

pub enum Lookup<'a> {
    Found(&'a Arc<LoadedPlugin>, &'a Route, Vec<(String, String)>),
    /// The path is a plugin's, the method is not: the methods it has.
    MethodNotAllowed(Vec<&'a str>),
    None,
}

impl PluginSet {
    pub fn get(&self, name: &str) -> Option<&Arc<LoadedPlugin>> {
        self.plugins.iter().find(|p| p.manifest.name == name)
    }

    pub fn route(&self, method: &str, path: &str) -> Lookup<'_> {
        // Every route of a plugin lies in one of its namespaces, and a namespace has one owner:
        // only that plugin's templates need matching.
        let namespace = routes::namespace(path);
        let mut allowed: Vec<&str> = vec![];
        let owners = self
            .plugins
            .iter()
            .filter(|p| namespace.is_some_and(|ns| p.manifest.namespaces.iter().any(|n| n == ns)));
        for plugin in owners {
            for route in &plugin.manifest.routes {
                if let Some(params) = routes::matches(&route.path, path) {
                    if route.method == method {
                        return Lookup::Found(plugin, route, params);
                    }
                    allowed.push(&route.method);
                }
            }
        }
        if !allowed.is_empty() {
            Lookup::MethodNotAllowed(allowed)
        } else {
            Lookup::None
        }
    }

    /// Every scope some plugin defines, in load order.
    pub fn scopes(&self) -> Vec<String> {
        self.plugins
            .iter()
            .flat_map(|p| p.manifest.scopes.iter().map(|s| s.name.clone()))
            .collect()
    }

    /// Every event type some plugin declares.
    pub fn event_types(&self) -> Vec<String> {
        self.plugins
            .iter()
            .flat_map(|p| p.manifest.events.iter().map(|e| e.name.clone()))
            .collect()
    }

    fn manifests_except(&self, name: &str) -> Vec<&Manifest> {
        self.plugins
            .iter()
            .map(|p| &p.manifest)
            .filter(|m| m.name != name)
            .collect()
    }
}

pub struct Plugins {
    pub runtime: Runtime,
    /// Caps plugin calls running at once.
    pub calls: tokio::sync::Semaphore,
    /// The threads plugin reads run on.
    pub reads: ReadPool,
    /// Answers plugins marked shareable, given again until their tenant's file changes.
    pub shared: SharedCache,
    dir: PathBuf,
    set: RwLock<Arc<PluginSet>>,
    /// What the directory looked like at the last scan: file → (modified, length).
    seen: Mutex<HashMap<PathBuf, (SystemTime, u64)>>,
    /// The server's sealing key, for `secrets` (none in tests that build plugins by hand).
    server_key: Option<Arc<ServerKey>>,
}

impl Plugins {
    pub fn new(runtime: Runtime, dir: PathBuf) -> Plugins {
        Plugins {
            calls: tokio::sync::Semaphore::new(runtime.limits.concurrency),
            reads: read_pool(&runtime.limits),
            shared: SharedCache::new(runtime.limits.shared_cache),
            runtime,
            dir,
            set: RwLock::default(),
            seen: Mutex::default(),
            server_key: None,
        }
    }

    /// The plugins of a data directory seal with its server secret's key.
    pub fn with_server_key(mut self, key: Arc<ServerKey>) -> Plugins {
        self.server_key = Some(key);
        self
    }

    /// What a call in this tenant's environment seals with (`secrets`).
    pub fn sealing(&self, tenant_id: &str, env: tenants::Env) -> Option<Sealing> {
        self.server_key.as_ref().map(|key| Sealing {
            key: key.clone(),
            place: format!("{tenant_id}/{}", env.as_str()),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The set in force now.
    pub fn current(&self) -> Arc<PluginSet> {
        self.set.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Puts `next` in force. The old set is dropped after the lock is released (freeing compiled
    /// code unmaps memory), so no request's `current` waits on it.
    fn replace(&self, next: PluginSet) {
        let old = std::mem::replace(
            &mut *self.set.write().unwrap_or_else(|e| e.into_inner()),
            Arc::new(next),
        );
        drop(old);
    }

    /// Compiles, links and checks one component against `set` (a plugin of the same name is
    /// replaced, not a conflict).
    pub fn load(
        &self,
        wasm: &[u8],
        origin: Origin,
        set: &PluginSet,
    ) -> Result<LoadedPlugin, String> {
        let component = self
            .runtime
            .compile(wasm)
            .map_err(|e| format!("not a valid component: {e:#}"))?;
        let pre = self
            .runtime
            .prepare(&component)
            .map_err(|e| format!("it imports something the host does not provide: {e:#}"))?;
        let manifest: Manifest = self
            .runtime
            .manifest(&pre, "loading")
            .map_err(|e| format!("its manifest() failed: {e:?}"))?
            .into();
        manifest.validate(&set.manifests_except(&manifest.name))?;
        manifest
            .capabilities
            .check_imports(self.runtime.imports(&component).iter().map(String::as_str))?;
        Ok(LoadedPlugin {
            events: Arc::new(manifest.event_types()),
            manifest,
            pre,
            origin,
            hash: format!("{:x}", Sha256::digest(wasm)),
            migrated: Default::default(),
            sharing: Default::default(),
        })
    }

    /// Loads the embedded plugins and the directory. Returns the refusals (also logged).
    pub fn load_all(&self) -> Vec<String> {
        let mut set = PluginSet::default();
        let mut refusals = vec![];
        for (file, wasm) in embedded::EMBEDDED {
            match self.load(wasm, Origin::FirstParty, &set) {
                Ok(p) => set.plugins.push(Arc::new(p)),
                Err(why) => refusals.push(refuse(&format!("first-party {file}"), &why)),
            }
        }
        self.replace(set);
        refusals.extend(self.rescan());
        refusals
    }

    /// Loads what changed in the directory since the last scan: new and updated files, removed
    /// ones. Returns the refusals (also logged); the old version of a refused upgrade stays.
    pub fn rescan(&self) -> Vec<String> {
        let now = scan(&self.dir);
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if *seen == now {
            return vec![];
        }
        let mut refusals = vec![];
        let mut next = PluginSet {
            plugins: self.current().plugins.clone(),
        };
        // Files removed: their plugins go.
        next.plugins.retain(|p| match &p.origin {
            Origin::Installed(path) => now.contains_key(path),
            Origin::FirstParty => true,
        });
        let mut changed: Vec<&PathBuf> =
            now.keys().filter(|p| seen.get(*p) != now.get(*p)).collect();
        // Oldest file first: of two plugins claiming one namespace, the one installed first keeps
        // it, in this process and in every later one.
        changed.sort_by_key(|p| (now[*p].0, *p));
        for path in changed {
            let wasm = match std::fs::read(path) {
                Ok(bytes) => bytes,
                Err(e) => {
                    refusals.push(refuse(&path.display().to_string(), &e.to_string()));
                    continue;
                }
            };
            match self.load(&wasm, Origin::Installed(path.clone()), &next) {
                Ok(loaded) => {
                    let name = loaded.manifest.name.clone();
                    if next
                        .get(&name)
                        .is_some_and(|old| old.origin == Origin::FirstParty)
                    {
                        refusals.push(refuse(
                            &path.display().to_string(),
                            &format!("`{name}` is a first-party plugin"),
                        ));
                        continue;
                    }
                    tracing::info!(plugin = %name, version = %loaded.manifest.version, file = %path.display(), "plugin loaded");
                    next.plugins.retain(|p| p.manifest.name != name);
                    next.plugins.push(Arc::new(loaded));
                }
                Err(why) => refusals.push(refuse(&path.display().to_string(), &why)),
            }
        }
        next.plugins
            .sort_by(|a, b| a.manifest.name.cmp(&b.manifest.name));
        self.replace(next);
        *seen = now;
        refusals
    }

    /// Validates a component against the plugins loaded now and copies it into the directory as
    /// `<name>.wasm` (atomically). A running server picks it up at its next scan.
    pub fn install(&self, source: &Path) -> Result<Manifest, String> {
        let wasm = std::fs::read(source).map_err(|e| format!("{}: {e}", source.display()))?;
        let loaded = self.load(&wasm, Origin::Installed(source.to_owned()), &self.current())?;
        if self
            .current()
            .get(&loaded.manifest.name)
            .is_some_and(|p| p.origin == Origin::FirstParty)
        {
            return Err(format!(
                "`{}` is a first-party plugin",
                loaded.manifest.name
            ));
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| format!("{}: {e}", self.dir.display()))?;
        let target = self.dir.join(format!("{}.wasm", loaded.manifest.name));
        let tmp = self.dir.join(format!(".{}.wasm.tmp", loaded.manifest.name));
        std::fs::write(&tmp, &wasm)
            .and_then(|_| std::fs::rename(&tmp, &target))
            .map_err(|e| format!("{}: {e}", target.display()))?;
        Ok(loaded.manifest)
    }
}

fn refuse(what: &str, why: &str) -> String {
    tracing::error!(
        plugin = what,
        "plugin refused, the server runs without it: {why}"
    );
    format!("{what}: {why}")
}

fn scan(dir: &Path) -> HashMap<PathBuf, (SystemTime, u64)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return HashMap::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "wasm"))
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            Some((e.path(), (meta.modified().ok()?, meta.len())))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::runtime::Limits;

    fn wasm(name: &str) -> Vec<u8> {
        std::fs::read(Path::new(env!("MOBIEUS_TEST_PLUGINS_DIR")).join(format!("{name}.wasm")))
            .unwrap()
    }

    #[test]
    fn manifests_are_checked_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let plugins = Plugins::new(
            Runtime::new(Limits::default(), Some(dir.path().join("cache"))).unwrap(),
            dir.path().join("plugins"),
        );
        let mut set = PluginSet::default();
        let hostile = plugins
            .load(&wasm("hostile"), Origin::FirstParty, &set)
            .unwrap();
        assert_eq!(hostile.manifest.name, "hostile");
        assert!(
            hostile
                .manifest
                .routes
                .iter()
                .any(|r| r.path == "/api/v1/hostile/loop")
        );
        set.plugins.push(Arc::new(hostile));
        let refused = |name: &str| {
            plugins
                .load(&wasm(name), Origin::FirstParty, &set)
                .err()
                .unwrap()
        };
        assert!(
            refused("badscope").contains("outside"),
            "{}",
            refused("badscope")
        );
        assert!(
            refused("hostns").contains("belongs to the host"),
            "{}",
            refused("hostns")
        );
        assert!(
            refused("copycat").contains("already claimed by plugin `hostile`"),
            "{}",
            refused("copycat")
        );
        // The compiled artifact was cached; a second load reuses it.
        assert!(std::fs::read_dir(dir.path().join("cache")).unwrap().count() >= 4);
        assert!(
            plugins
                .load(&wasm("hostile"), Origin::FirstParty, &PluginSet::default())
                .is_ok()
        );
        assert!(
            plugins
                .load(b"not wasm", Origin::FirstParty, &set)
                .err()
                .unwrap()
                .contains("not a valid component")
        );
    }
}

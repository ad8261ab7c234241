//! The wasmtime side: one engine (pooling allocator, copy-on-write memory images, epoch
//! interruption), one linker with WASI (nothing granted) and the host's imports; components
//! compiled once (cached on disk by content hash and engine version) and linked once
//! ([`Pre`], for the contract version the component was built against); a fresh instance in a
//! fresh `Store` for every call, with a deadline and a memory cap.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};

use crate::metrics::CallOutcome;
use crate::plugins::asks::Asked;
use crate::plugins::bindings::{types, v1_0, v1_1};
pub use crate::plugins::limits::{Limits, SqlLimits};
use crate::plugins::state::{Call, PluginState};

/// How often the epoch advances; the deadline is counted in these.
const TICK: Duration = Duration::from_millis(10);

/// How a call went wrong.
#[derive(Debug)]
pub enum CallError {
    /// It ran past its deadline.
    Timeout,
    /// It trapped, panicked, ran out of memory, or returned something unusable.
    Failed(String),
    /// It asked something not yet answered (an AI question, a surface from a write): answer it,
    /// then run it again.
    Asked(Box<crate::plugins::asks::Ask>),
}

/// A component linked once, by the contract version it was built against. The imports are the
/// same (1.1's, which 1.0's resolve to); a version's exports are its own.
pub enum Pre {
    V1_0(v1_0::PluginPre<PluginState>),
    V1_1(v1_1::PluginPre<PluginState>),
}

impl Pre {
    pub fn contract(&self) -> &'static str {
        match self {
            Pre::V1_0(_) => "1.0.0",
            Pre::V1_1(_) => "1.1.0",
        }
    }
}

/// What a component says of itself at load: 1.0's manifest and, from 1.1, its extension.
pub struct Described {
    pub contract: &'static str,
    pub manifest: types::Manifest,
    pub extension: Option<types::ManifestExtension>,
}

pub struct Runtime {
    engine: Engine,
    linker: Linker<PluginState>,
    pub limits: Limits,
    cache_dir: Option<PathBuf>,
}

impl Runtime {
    pub fn new(limits: Limits, cache_dir: Option<PathBuf>) -> anyhow::Result<Runtime> {
        let mut pool = PoolingAllocationConfig::default();
        let calls = limits.concurrency.max(8) + limits.read_concurrency;
        let slots = calls as u32 * 2;
        pool.total_component_instances(slots)
            .total_core_instances(slots * 8)
            .total_memories(slots * 2)
            .total_tables(slots * 4)
            .max_memories_per_component(2)
            .max_tables_per_component(8)
            .max_core_instances_per_component(16)
            .max_memory_size(limits.memory)
            // Reset the first pages of a reused slot with memset instead of handing them back to
            // the kernel: a fresh instance per request otherwise spends most of its time in page
            // faults and TLB shootdowns.
            .linear_memory_keep_resident(4 << 20)
            .table_keep_resident(64 << 10)
            .decommit_batch_size(16)
            // Where the kernel can say which pages an instance dirtied (PAGEMAP_SCAN, Linux 6.7+),
            // reset only those: a request's footprint, not the whole resident window.
            .pagemap_scan(wasmtime::Enabled::Auto);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .memory_init_cow(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        no_waiting(&mut linker)?;
        v1_1::Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
        let ticker = engine.weak();
        std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                while let Some(engine) = ticker.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(TICK);
                }
            })?;
        if let Some(dir) = &cache_dir {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        Ok(Runtime {
            engine,
            linker,
            limits,
            cache_dir,
        })
    }

    /// Compiles a component, or loads what an earlier compile of the same bytes left on disk.
    pub fn compile(&self, wasm: &[u8]) -> anyhow::Result<Component> {
        let Some(dir) = &self.cache_dir else {
            return Ok(Component::from_binary(&self.engine, wasm)?);
        };
        let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut engine_hash);
        let key = format!("{:x}-{:016x}", Sha256::digest(wasm), engine_hash.finish());
        let path = dir.join(format!("{key}.cwasm"));
        if path.exists() {
            // SAFETY: the file was written by `serialize` of this same engine configuration (the
            // key includes its compatibility hash) into a directory only the server writes.
            if let Ok(component) = unsafe { Component::deserialize_file(&self.engine, &path) } {
                return Ok(component);
            }
        }
        let component = Component::from_binary(&self.engine, wasm)?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, component.serialize()?).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
        Ok(component)
    }

    /// Links a component once; instantiating it later is cheap. The newest contract is tried
    /// first; a component that lacks its exports is taken as 1.0.
    pub fn prepare(&self, component: &Component) -> anyhow::Result<Pre> {
        let pre = self.linker.instantiate_pre(component)?;
        match v1_1::PluginPre::new(pre.clone()) {
            Ok(pre) => Ok(Pre::V1_1(pre)),
            Err(newest) => match v1_0::PluginPre::new(pre) {
                Ok(pre) => Ok(Pre::V1_0(pre)),
                Err(_) => Err(newest.into()),
            },
        }
    }

    /// The names a component imports (`mobieus:plugin/db@1.1.0`, …).
    pub fn imports(&self, component: &Component) -> Vec<String> {
        component
            .component_type()
            .imports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .collect()
    }

    fn store(&self, call: Call) -> Store<PluginState> {
        let mut store = Store::new(&self.engine, PluginState::new(call, &self.limits));
        store.limiter(|s| &mut s.limits);
        let ticks = (self.limits.deadline.as_millis() / TICK.as_millis()).max(1) as u64;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        store
    }

    pub fn manifest(&self, pre: &Pre, name_hint: &str) -> Result<Described, CallError> {
        let mut store = self.store(Call::loading(name_hint));
        let (manifest, extension) = match pre {
            Pre::V1_0(pre) => {
                let plugin = pre.instantiate(&mut store).map_err(classify)?;
                (plugin.call_manifest(&mut store), None)
            }
            Pre::V1_1(pre) => {
                let plugin = pre.instantiate(&mut store).map_err(classify)?;
                let manifest = plugin.call_manifest(&mut store);
                let extension = plugin
                    .call_manifest_extension(&mut store)
                    .map_err(classify)?;
                (manifest, Some(extension))
            }
        };
        Ok(Described {
            contract: pre.contract(),
            manifest: manifest.map_err(classify)?,
            extension,
        })
    }

    /// One request: a fresh instance, `handle`, the response checked against the body cap.
    pub fn handle(
        &self,
        pre: &Pre,
        call: Call,
        request: &types::Request,
    ) -> Result<types::Response, CallError> {
        let (plugin, started) = (call.plugin.clone(), Instant::now());
        let mut store = self.store(call);
        let response = match pre {
            Pre::V1_0(pre) => pre
                .instantiate(&mut store)
                .and_then(|p| p.call_handle(&mut store, request)),
            Pre::V1_1(pre) => pre
                .instantiate(&mut store)
                .and_then(|p| p.call_handle(&mut store, request)),
        }
        .map_err(classify);
        let response = observed(&plugin, "handle", started, response)?;
        if response.body.len() > self.limits.body {
            return Err(CallError::Failed(format!(
                "the response body ({} bytes) is over the {} byte cap",
                response.body.len(),
                self.limits.body
            )));
        }
        if !(100..=599).contains(&response.status) {
            return Err(CallError::Failed(format!(
                "status {} is not an HTTP status",
                response.status
            )));
        }
        Ok(response)
    }

    /// One event for `on-event`.
    pub fn on_event(&self, pre: &Pre, call: Call, event: &types::Event) -> Result<(), CallError> {
        let (plugin, started) = (call.plugin.clone(), Instant::now());
        let mut store = self.store(call);
        let ran = match pre {
            Pre::V1_0(pre) => pre
                .instantiate(&mut store)
                .and_then(|p| p.call_on_event(&mut store, event)),
            Pre::V1_1(pre) => pre
                .instantiate(&mut store)
                .and_then(|p| p.call_on_event(&mut store, event)),
        }
        .map_err(classify);
        observed(&plugin, "event", started, ran)?
            .map_err(|e| CallError::Failed(format!("on-event failed: {e}")))
    }

    /// One due timer for `on-timer` (a 1.0 component sets none).
    pub fn on_timer(&self, pre: &Pre, call: Call, timer: &types::Timer) -> Result<(), CallError> {
        let Pre::V1_1(pre) = pre else {
            return Err(CallError::Failed(
                "a contract 1.0 plugin has no on-timer".into(),
            ));
        };
        let (plugin, started) = (call.plugin.clone(), Instant::now());
        let mut store = self.store(call);
        let ran = pre
            .instantiate(&mut store)
            .and_then(|p| p.call_on_timer(&mut store, timer))
            .map_err(classify);
        observed(&plugin, "timer", started, ran)?
            .map_err(|e| CallError::Failed(format!("on-timer failed: {e}")))
    }
}

/// The WASI version the linker defines (a guest built against an older 0.2 matches it).
const WASI_CLOCKS: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// WASI lets a guest wait: subscribe to a clock, then `poll` or `block`. A wait happens inside
/// the host, where the epoch deadline cannot interrupt it, so a sleeping plugin would hold its
/// thread, its call slot and perhaps the tenant's writer past its deadline. Plugins get no
/// waiting: a subscription for any time but now traps at once.
fn no_waiting(linker: &mut Linker<PluginState>) -> anyhow::Result<()> {
    use wasmtime::StoreContextMut;
    use wasmtime_wasi::clocks::WasiClocksView;
    use wasmtime_wasi::p2::bindings::clocks::monotonic_clock::Host;

    fn refused() -> wasmtime::Error {
        wasmtime::format_err!(
            "denied: plugins may not sleep or wait on a clock (it would outlive the call's deadline)"
        )
    }
    linker.allow_shadowing(true);
    let mut clock = linker.instance(WASI_CLOCKS)?;
    clock.func_wrap(
        "subscribe-duration",
        |mut store: StoreContextMut<'_, PluginState>, (nanos,): (u64,)| {
            if nanos > 0 {
                return Err(refused());
            }
            Ok((store.data_mut().clocks().subscribe_duration(0)?,))
        },
    )?;
    clock.func_wrap(
        "subscribe-instant",
        |mut store: StoreContextMut<'_, PluginState>, (when,): (u64,)| {
            let mut clocks = store.data_mut().clocks();
            if when > clocks.now()? {
                return Err(refused());
            }
            Ok((clocks.subscribe_instant(when)?,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// Counts a finished call by how it ended ([`crate::metrics`]); a call paused for an AI answer
/// has not ended, and its run after the answer is counted then. A plugin that returned its own
/// error ran fine: `ok`.
fn observed<T>(
    plugin: &str,
    entry: &'static str,
    started: Instant,
    result: Result<T, CallError>,
) -> Result<T, CallError> {
    let outcome = match &result {
        Ok(_) => CallOutcome::Ok,
        Err(CallError::Timeout) => CallOutcome::Timeout,
        Err(CallError::Failed(_)) => CallOutcome::Trap,
        Err(CallError::Asked(_)) => return result,
    };
    crate::metrics::plugin_call(plugin, entry, outcome, started.elapsed());
    result
}

fn classify(e: wasmtime::Error) -> CallError {
    let e = match e.downcast::<Asked>() {
        Ok(Asked(ask)) => return CallError::Asked(ask),
        Err(e) => e,
    };
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => CallError::Timeout,
        Some(trap) => CallError::Failed(format!("trapped: {trap}")),
        None => CallError::Failed(format!("{e:#}")),
    }
}

//! What one plugin call carries in its wasmtime `Store`: WASI (nothing granted), memory limits, and
//! the call's context — which plugin, which tenant database and transaction, which sandbox rules.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rusqlite::Connection;
use tenants::db::Write;
use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::files::blobs::Blobs;
use crate::plugins::asks::Answers;
use crate::plugins::capabilities::Capabilities;
use crate::plugins::limits::Limits;
use crate::plugins::sandbox::Rules;
use crate::plugins::surfaces::Asker;
use crate::sealed::ServerKey;

/// The database side of a call. The pointers are only dereferenced during the call that created
/// them, on the thread that owns the connection; see [`Tx::write`].
pub enum Tx {
    /// A GET: a read transaction on a pooled connection.
    Read(*const Connection),
    /// A write request or an event: the tenant writer's transaction, inside the job's savepoint.
    Write(*mut Write<'static>),
    /// Loading (`manifest`): no database at all.
    None,
}

// SAFETY: a `Tx` holding a pointer is created on the thread that owns the connection, inside the
// call it serves, and dropped before that call returns; only `Tx::None` crosses threads.
unsafe impl Send for Tx {}

pub struct Call {
    pub plugin: String,
    /// What it declared beyond contract 1.0: every other capability is `denied`.
    pub capabilities: Capabilities,
    pub declared_events: Arc<HashSet<String>>,
    pub tx: Tx,
    pub rules: Option<Arc<Rules>>,
    pub settings: Arc<HashMap<String, String>>,
    pub request_id: String,
    pub emits: Emits,
    /// The tenant file's uploads, for `files`.
    pub blobs: Option<Blobs>,
    /// Who `surfaces` asks as: a route's caller (none outside a route call).
    pub asker: Option<Asker>,
    /// What the call's earlier runs asked the AI provider, answered (a route call only).
    pub answers: Option<Answers>,
    /// Whether a ban it emits bars the user from the console ([`crate::admin::bars`]): a route
    /// call of the Cobuntu surface on live data, by a caller holding `ADMIN`.
    pub bars_console: bool,
    /// What `secrets` seals with, and for which tenant and environment (none while loading).
    pub sealing: Option<Sealing>,
}

/// The server's sealing key, and the tenant and environment a call's sealed values belong to.
#[derive(Clone)]
pub struct Sealing {
    pub key: Arc<ServerKey>,
    /// `<tenant id>/<env>`.
    pub place: String,
}

/// What `events.emit` may still do in one call: how many more events, how large, and at which
/// depth of a chain of reactions they stand.
pub struct Emits {
    pub left: usize,
    pub max_payload: usize,
    /// The depth the events this call emits get.
    pub depth: u32,
    pub max_depth: u32,
}

impl Emits {
    /// A route call's: its events start a chain.
    pub fn route(limits: &Limits) -> Emits {
        Emits {
            left: limits.events_per_call,
            max_payload: limits.event_payload,
            depth: 0,
            max_depth: limits.chain_depth,
        }
    }

    /// An `on-event` call's, in reply to an event at depth `handled`.
    pub fn reaction(limits: &Limits, handled: u32) -> Emits {
        Emits {
            left: limits.events_per_reaction,
            max_payload: limits.event_payload,
            depth: handled.saturating_add(1),
            max_depth: limits.chain_depth,
        }
    }
}

impl Call {
    pub fn loading(plugin: &str) -> Call {
        Call {
            plugin: plugin.to_owned(),
            capabilities: Capabilities::NONE,
            declared_events: Arc::default(),
            tx: Tx::None,
            rules: None,
            settings: Arc::default(),
            request_id: String::new(),
            emits: Emits {
                left: 0,
                max_payload: 0,
                depth: 0,
                max_depth: 0,
            },
            blobs: None,
            asker: None,
            answers: None,
            bars_console: false,
            sealing: None,
        }
    }

    /// The connection of this call, if it has one.
    pub fn conn(&self) -> Option<&Connection> {
        match self.tx {
            // SAFETY: the pointee outlives the call (see `Runtime::call_with_tx`), and the call
            // runs on the one thread that uses the connection.
            Tx::Read(c) => Some(unsafe { &*c }),
            Tx::Write(w) => Some(unsafe { &*w }),
            Tx::None => None,
        }
    }

    /// The write transaction, in a write call.
    pub fn write(&mut self) -> Option<&mut Write<'static>> {
        match self.tx {
            // SAFETY: as in `conn`; nothing else touches the `Write` while the call runs.
            Tx::Write(w) => Some(unsafe { &mut *w }),
            _ => None,
        }
    }
}

pub struct PluginState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub limits: StoreLimits,
    /// The most bytes one `db.query` may return.
    pub max_result: usize,
    pub call: Call,
}

impl PluginState {
    pub fn new(call: Call, limits: &Limits) -> PluginState {
        PluginState {
            // Nothing granted: no preopened directories, no environment, no sockets, stdio closed.
            // Built per call (~0.3 µs): reusing a thread's last one would hand the next tenant's
            // plugin the same insecure-random seed (a guest's hash-table keys) and generator.
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            limits: wasmtime::StoreLimitsBuilder::new()
                .memory_size(limits.memory)
                .build(),
            max_result: limits.sql.max_result,
            call,
        }
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

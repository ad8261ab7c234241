//! What one plugin call may use: time, memory, response size, SQL. A leaf: the runtime, the
//! sandbox and the call's state all read it.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Limits {
    /// Wall-clock time one call may take.
    pub deadline: Duration,
    /// Linear memory one instance may grow to.
    pub memory: usize,
    /// The largest response body a plugin may return.
    pub body: usize,
    /// Plugin route writes running at once, across every tenant and plugin (reads are bounded
    /// by `read_concurrency`).
    pub concurrency: usize,
    /// Threads plugin GETs run on ([`crate::plugins::read_pool`]), apart from the runtime's
    /// blocking threads that the host's own routes use; one plugin may use at most half of them,
    /// so one plugin's slow reads cannot stall another's.
    pub read_concurrency: usize,
    /// Wall-clock limit of applying a plugin's migrations to one tenant file.
    pub migration_deadline: Duration,
    /// What one call's SQL may use.
    pub sql: SqlLimits,
    /// Events one route call may emit.
    pub events_per_call: usize,
    /// Events one `on-event` call may emit.
    pub events_per_reaction: usize,
    /// The largest event payload (its JSON), in bytes.
    pub event_payload: usize,
    /// How deep a chain of reactions may go: an event emitted by a route or the host is depth 0,
    /// one emitted by `on-event` in reply to a depth-n event is depth n + 1; past this depth
    /// `emit` is refused. With `events_per_reaction` it bounds what one event can set off.
    pub chain_depth: u32,
    /// Bytes of plugin answers the host keeps to give again ([`crate::plugins::shared_cache`]);
    /// 0 keeps none.
    pub shared_cache: usize,
}

/// Resource limits on a plugin call's SQL, enforced by SQLite itself.
#[derive(Debug, Clone)]
pub struct SqlLimits {
    /// The longest string or blob a statement may build or store (`SQLITE_LIMIT_LENGTH`).
    pub max_value: usize,
    /// The longest SQL text (`SQLITE_LIMIT_SQL_LENGTH`).
    pub max_sql: usize,
    /// The most bytes of values one query may hand back to the guest.
    pub max_result: usize,
    /// The size a tenant file may reach through a plugin's writes (`PRAGMA max_page_count`);
    /// a write that would grow it further fails and rolls back.
    pub max_file: u64,
}

impl Default for SqlLimits {
    fn default() -> Self {
        SqlLimits {
            max_value: 8 << 20,
            max_sql: 256 << 10,
            max_result: 16 << 20,
            max_file: 1 << 30,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: Duration::from_secs(2),
            memory: 64 << 20,
            body: 4 << 20,
            concurrency: 64,
            read_concurrency: 4,
            migration_deadline: Duration::from_secs(10),
            sql: SqlLimits::default(),
            events_per_call: 100,
            events_per_reaction: 10,
            event_payload: 64 << 10,
            chain_depth: 3,
            shared_cache: 32 << 20,
        }
    }
}

/// The tenant file is at the size plugin writes may grow it to.
pub fn quota_exceeded() -> crate::error::ApiError {
    crate::error::ApiError::new(
        axum::http::StatusCode::INSUFFICIENT_STORAGE,
        "storage_quota_exceeded",
        "This community's data is at its storage quota; nothing of this request was kept.",
    )
}

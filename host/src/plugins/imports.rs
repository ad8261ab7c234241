//! The capabilities the host gives a plugin, one `impl` per WIT interface. A refusal is the WIT
//! `error` variant the plugin sees; nothing here traps (limits trap, in the runtime).

use rand::RngCore;
use rusqlite::types::{Value, ValueRef};
use serde_json::value::RawValue;

use crate::event_log;
use crate::plugins::bindings::mobieus::plugin::{
    clock, config, db, events, log, random, types, users,
};
use crate::plugins::bindings::types::{Error, SqlValue};
use crate::plugins::sandbox;
use crate::plugins::state::PluginState;

impl types::Host for PluginState {}

fn to_sql(v: SqlValue) -> Value {
    match v {
        SqlValue::Null => Value::Null,
        SqlValue::Integer(i) => Value::Integer(i),
        SqlValue::Real(f) => Value::Real(f),
        SqlValue::Text(s) => Value::Text(s),
        SqlValue::Blob(b) => Value::Blob(b),
    }
}

fn from_sql(v: ValueRef<'_>) -> SqlValue {
    match v {
        ValueRef::Null => SqlValue::Null,
        ValueRef::Integer(i) => SqlValue::Integer(i),
        ValueRef::Real(f) => SqlValue::Real(f),
        ValueRef::Text(t) => SqlValue::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
    }
}

/// Plugin SQL errors: a refusal by the sandbox is `denied`, a statement SQLite cannot parse is
/// `invalid`, anything else `failed`.
fn sql_error(e: rusqlite::Error) -> Error {
    let text = e.to_string();
    let denied = matches!(&e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::AuthorizationForStatementDenied)
        || text.contains("not authorized");
    if denied {
        return Error::Denied(format!(
            "the sandbox refused this statement ({text}): plugins may use their own tables (<name>_…) and the views host_users, host_posts, host_files"
        ));
    }
    let code = match &e {
        rusqlite::Error::SqliteFailure(f, _) => Some(f.code),
        _ => None,
    };
    match (&e, code) {
        (_, Some(rusqlite::ErrorCode::DiskFull)) => Error::Denied(
            "the tenant's data is at its quota: plugin writes may not grow the tenant file further (the operator sets it with --plugin-quota-mib)".into(),
        ),
        (_, Some(rusqlite::ErrorCode::TooBig)) => Error::Denied(format!(
            "{text}: a value or statement is over the length a plugin's SQL may use"
        )),
        (_, Some(rusqlite::ErrorCode::OperationInterrupted)) => {
            Error::Failed("interrupted: the call ran past its deadline".into())
        }
        (rusqlite::Error::SqliteFailure(_, Some(msg)), _)
            if msg.contains("syntax error") || msg.contains("no such") =>
        {
            Error::Invalid(msg.clone())
        }
        _ => Error::Failed(text),
    }
}

/// What a value costs the guest: its bytes, and a word for anything else.
fn value_size(v: &SqlValue) -> usize {
    match v {
        SqlValue::Text(t) => t.len(),
        SqlValue::Blob(b) => b.len(),
        _ => 8,
    }
}

/// At most this many rows come back from one query, so a plugin cannot make the host buffer a
/// whole table.
const MAX_ROWS: usize = 10_000;

impl PluginState {
    /// The call's connection and a prepared statement for `sql`, cached per plugin and mode.
    fn statement(&self, sql: &str) -> Result<rusqlite::CachedStatement<'_>, Error> {
        let conn = self
            .call
            .conn()
            .ok_or_else(|| Error::Denied("no database in this call".into()))?;
        let rules = self
            .call
            .rules
            .as_ref()
            .ok_or_else(|| Error::Denied("no sandbox in this call".into()))?;
        conn.prepare_cached(&rules.statement_key(sql))
            .map_err(sql_error)
    }
}

impl db::Host for PluginState {
    fn execute(&mut self, sql: String, params: Vec<SqlValue>) -> Result<u64, Error> {
        let mut stmt = self.statement(&sql)?;
        if stmt.readonly() && stmt.column_count() > 0 {
            return Err(Error::Invalid(
                "execute() runs statements; use query() for SELECT".into(),
            ));
        }
        let n = stmt
            .execute(rusqlite::params_from_iter(params.into_iter().map(to_sql)))
            .map_err(sql_error)?;
        Ok(n as u64)
    }

    fn query(&mut self, sql: String, params: Vec<SqlValue>) -> Result<db::Rows, Error> {
        let max_result = self.max_result;
        let mut stmt = self.statement(&sql)?;
        let columns: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
        let width = columns.len();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params.into_iter().map(to_sql)))
            .map_err(sql_error)?;
        let mut out = Vec::new();
        let mut bytes = 0usize;
        while let Some(row) = rows.next().map_err(sql_error)? {
            if out.len() == MAX_ROWS {
                return Err(Error::Failed(format!(
                    "more than {MAX_ROWS} rows: page the query"
                )));
            }
            let values: Vec<SqlValue> = (0..width)
                .map(|i| row.get_ref(i).map(from_sql).unwrap_or(SqlValue::Null))
                .collect();
            bytes += values.iter().map(value_size).sum::<usize>();
            if bytes > max_result {
                return Err(Error::Denied(format!(
                    "the query's result is over {max_result} bytes, the most one query may return: page it or select less"
                )));
            }
            out.push(values);
        }
        Ok(db::Rows { columns, rows: out })
    }
}

impl events::Host for PluginState {
    fn emit(&mut self, event_type: String, data: String) -> Result<String, Error> {
        if !self.call.declared_events.contains(&event_type) {
            return Err(Error::Denied(format!(
                "`{event_type}` is not an event type this plugin declares in its manifest"
            )));
        }
        let emits = &mut self.call.emits;
        if data.len() > emits.max_payload {
            return Err(Error::Invalid(format!(
                "the event's data is {} bytes; at most {} are allowed",
                data.len(),
                emits.max_payload
            )));
        }
        if emits.depth > emits.max_depth {
            return Err(Error::Denied(format!(
                "this handler reacts to an event at the end of a chain of {} reactions: it may not emit another",
                emits.max_depth
            )));
        }
        if emits.left == 0 {
            return Err(Error::Denied(
                "this call has emitted as many events as one call may".into(),
            ));
        }
        let depth = emits.depth;
        let payload = RawValue::from_string(data)
            .map_err(|e| Error::Invalid(format!("data is not JSON: {e}")))?;
        // Counted once it is an event that could be appended.
        self.call.emits.left -= 1;
        let rules = self.call.rules.clone();
        let w = self.call.write().ok_or_else(|| {
            Error::Denied("events can be emitted only by requests that write (not GET)".into())
        })?;
        let mut append = || event_log::append_at_depth(w, &event_type, &payload, depth);
        let event = match &rules {
            Some(rules) => sandbox::as_host(rules, append),
            None => append(),
        }
        .map_err(|e| Error::Failed(e.to_string()))?;
        Ok(event.id)
    }
}

impl log::Host for PluginState {
    fn log(&mut self, level: log::Level, message: String) {
        let message: String = message.chars().take(2000).collect();
        let (plugin, request_id) = (&self.call.plugin, &self.call.request_id);
        match level {
            log::Level::Debug => tracing::debug!(plugin, request_id, "{message}"),
            log::Level::Info => tracing::info!(plugin, request_id, "{message}"),
            log::Level::Warn => tracing::warn!(plugin, request_id, "{message}"),
            log::Level::Error => tracing::error!(plugin, request_id, "{message}"),
        }
    }
}

impl clock::Host for PluginState {
    fn now_ms(&mut self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

impl random::Host for PluginState {
    fn fill(&mut self, len: u32) -> Vec<u8> {
        let mut bytes = vec![0u8; len.min(1024) as usize];
        rand::rng().fill_bytes(&mut bytes);
        bytes
    }
}

impl config::Host for PluginState {
    fn get(&mut self, key: String) -> Option<String> {
        self.call.settings.get(&key).cloned()
    }

    fn flag(&mut self, name: String) -> bool {
        self.call
            .settings
            .get(&format!("flag.{name}"))
            .is_some_and(|v| v == "on")
    }
}

impl users::Host for PluginState {
    fn get(&mut self, id: String) -> Result<Option<users::User>, Error> {
        let rules = self.call.rules.clone();
        let conn = self
            .call
            .conn()
            .ok_or_else(|| Error::Denied("no database in this call".into()))?;
        let read = || crate::domain::users::find_active(conn, &id);
        let user = match &rules {
            Some(rules) => sandbox::as_host(rules, read),
            None => read(),
        }
        .map_err(|e| Error::Failed(e.to_string()))?;
        Ok(user.map(|u| users::User {
            id: u.id,
            username: u.username,
            display_name: u.display_name,
            email: u.email,
            created_at: u.created_at,
        }))
    }
}

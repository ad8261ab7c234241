//! The capabilities the host gives a plugin, one module per WIT interface (as wasmtime's `wasi`
//! keeps one per interface). A refusal is the WIT `error` variant the plugin sees; nothing here
//! traps (limits trap, in the runtime) but a question for the AI provider, which stops the call
//! until it is answered ([`crate::plugins::asks`]). An interface of a 1.1 capability first checks that the
//! plugin declared it.

mod ai;
mod clock;
mod config;
mod db;
mod events;
mod files;
mod log;
mod mail;
mod random;
mod secrets;
mod surfaces;
mod timers;
mod users;

use rusqlite::Connection;
use rusqlite::types::{Value, ValueRef};

use crate::plugins::bindings::types::{self, Error, SqlValue};
use crate::plugins::sandbox;
use crate::plugins::state::PluginState;

impl types::Host for PluginState {}

pub(super) fn to_sql(v: SqlValue) -> Value {
    match v {
        SqlValue::Null => Value::Null,
        SqlValue::Integer(i) => Value::Integer(i),
        SqlValue::Real(f) => Value::Real(f),
        SqlValue::Text(s) => Value::Text(s),
        SqlValue::Blob(b) => Value::Blob(b),
    }
}

pub(super) fn from_sql(v: ValueRef<'_>) -> SqlValue {
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
pub(super) fn sql_error(e: rusqlite::Error) -> Error {
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

    /// Runs host code on the call's connection with the sandbox lifted: it reads what the plugin
    /// may not, and answers only what the interface promises.
    fn as_host<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, Error> {
        let conn = self
            .call
            .conn()
            .ok_or_else(|| Error::Denied("no database in this call".into()))?;
        match &self.call.rules {
            Some(rules) => sandbox::as_host(rules, || f(conn)),
            None => f(conn),
        }
        .map_err(|e| Error::Failed(e.to_string()))
    }

    /// The same, for host code that writes in the call's transaction (a write call only).
    fn as_host_write<T, E: std::fmt::Display>(
        &mut self,
        refusal: &str,
        f: impl FnOnce(&mut tenants::db::Write<'static>) -> Result<T, E>,
    ) -> Result<T, Error> {
        let rules = self.call.rules.clone();
        let w = self
            .call
            .write()
            .ok_or_else(|| Error::Denied(refusal.to_owned()))?;
        match &rules {
            Some(rules) => sandbox::as_host(rules, || f(w)),
            None => f(w),
        }
        .map_err(|e| Error::Failed(e.to_string()))
    }
}

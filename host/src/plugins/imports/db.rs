//! `db`: SQL on the tenant's database, under the sandbox.

use crate::plugins::bindings::db;
use crate::plugins::bindings::types::{Error, SqlValue};
use crate::plugins::imports::{from_sql, sql_error, to_sql};
use crate::plugins::state::PluginState;

/// At most this many rows come back from one query, so a plugin cannot make the host buffer a
/// whole table.
const MAX_ROWS: usize = 10_000;

/// What a value costs the guest: its bytes, and a word for anything else.
fn value_size(v: &SqlValue) -> usize {
    match v {
        SqlValue::Text(t) => t.len(),
        SqlValue::Blob(b) => b.len(),
        _ => 8,
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

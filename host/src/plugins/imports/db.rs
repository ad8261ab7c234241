//! `db`: SQL on the tenant's database, under the sandbox.

use crate::plugins::bindings::db;
use crate::plugins::bindings::types::{Error, SqlValue};
use crate::plugins::imports::{from_sql, sql_error, to_sql};
use crate::plugins::packed::Packer;
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
        let mut out = Vec::new();
        let columns = self.each_row(&sql, params, |values| out.push(values))?;
        Ok(db::Rows { columns, rows: out })
    }

    fn query_packed(&mut self, sql: String, params: Vec<SqlValue>) -> Result<Vec<u8>, Error> {
        let mut body = Packer::default();
        let mut count = 0;
        let columns = self.each_row(&sql, params, |values| {
            count += 1;
            for v in &values {
                body.value(v);
            }
        })?;
        let mut packed = Packer::with_capacity(body.0.len() + 64);
        packed.u32(columns.len());
        for c in &columns {
            packed.str(c);
        }
        packed.u32(count);
        packed.0.extend_from_slice(&body.0);
        Ok(packed.0)
    }
}

impl PluginState {
    /// Runs a query under the sandbox and the result caps, handing each row to `each`; the
    /// column names.
    fn each_row(
        &mut self,
        sql: &str,
        params: Vec<SqlValue>,
        mut each: impl FnMut(Vec<SqlValue>),
    ) -> Result<Vec<String>, Error> {
        let max_result = self.max_result;
        let mut stmt = self.statement(sql)?;
        let columns: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
        let width = columns.len();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params.into_iter().map(to_sql)))
            .map_err(sql_error)?;
        let (mut n, mut bytes) = (0usize, 0usize);
        while let Some(row) = rows.next().map_err(sql_error)? {
            if n == MAX_ROWS {
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
            n += 1;
            each(values);
        }
        Ok(columns)
    }
}

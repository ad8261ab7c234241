use std::rc::Rc;

use crate::host::db as host;
use crate::{Error, Result};

/// A SQL value.
pub type Value = crate::bindings::mobieus::plugin::types::SqlValue;

/// SQL on the tenant's database, inside the request's transaction. Tables are named
/// `<plugin name>_…`; the host refuses anything else (another plugin's tables, the host's, ATTACH,
/// PRAGMA) with an error.
pub struct Db;

impl Db {
    /// Runs a statement with bound parameters; returns the number of rows changed.
    pub fn execute(&self, sql: &str, params: &[&dyn ToSql]) -> Result<u64> {
        Ok(host::execute(sql, &to_values(params))?)
    }

    /// Runs a query with bound parameters.
    pub fn query(&self, sql: &str, params: &[&dyn ToSql]) -> Result<Vec<Row>> {
        let rows = host::query(sql, &to_values(params))?;
        let columns = Rc::new(rows.columns);
        Ok(rows
            .rows
            .into_iter()
            .map(|values| Row {
                columns: columns.clone(),
                values,
            })
            .collect())
    }

    /// The first row, if any.
    pub fn query_one(&self, sql: &str, params: &[&dyn ToSql]) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }
}

fn to_values(params: &[&dyn ToSql]) -> Vec<Value> {
    params.iter().map(|p| p.to_sql()).collect()
}

pub struct Row {
    pub(crate) columns: Rc<Vec<String>>,
    pub(crate) values: Vec<Value>,
}

impl Row {
    /// The value of column `name`.
    pub fn get<T: FromSql>(&self, name: &str) -> Result<T> {
        let i = self
            .columns
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| Error::internal(format!("no column `{name}`")))?;
        T::from_sql(&self.values[i])
            .map_err(|why| Error::internal(format!("column `{name}`: {why}")))
    }
}

pub trait ToSql {
    fn to_sql(&self) -> Value;
}

impl ToSql for &str {
    fn to_sql(&self) -> Value {
        Value::Text((*self).to_owned())
    }
}

impl ToSql for str {
    fn to_sql(&self) -> Value {
        Value::Text(self.to_owned())
    }
}

impl ToSql for String {
    fn to_sql(&self) -> Value {
        Value::Text(self.clone())
    }
}

impl ToSql for i64 {
    fn to_sql(&self) -> Value {
        Value::Integer(*self)
    }
}

impl ToSql for i32 {
    fn to_sql(&self) -> Value {
        Value::Integer(i64::from(*self))
    }
}

impl ToSql for u32 {
    fn to_sql(&self) -> Value {
        Value::Integer(i64::from(*self))
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> Value {
        self.clone()
    }
}

impl ToSql for f64 {
    fn to_sql(&self) -> Value {
        Value::Real(*self)
    }
}

impl ToSql for bool {
    fn to_sql(&self) -> Value {
        Value::Integer(i64::from(*self))
    }
}

impl ToSql for Vec<u8> {
    fn to_sql(&self) -> Value {
        Value::Blob(self.clone())
    }
}

impl<T: ToSql> ToSql for Option<T> {
    fn to_sql(&self) -> Value {
        match self {
            Some(v) => v.to_sql(),
            None => Value::Null,
        }
    }
}

pub trait FromSql: Sized {
    fn from_sql(value: &Value) -> std::result::Result<Self, String>;
}

impl FromSql for String {
    fn from_sql(value: &Value) -> std::result::Result<Self, String> {
        match value {
            Value::Text(s) => Ok(s.clone()),
            other => Err(format!("expected text, found {other:?}")),
        }
    }
}

impl FromSql for i64 {
    fn from_sql(value: &Value) -> std::result::Result<Self, String> {
        match value {
            Value::Integer(n) => Ok(*n),
            other => Err(format!("expected an integer, found {other:?}")),
        }
    }
}

impl FromSql for f64 {
    fn from_sql(value: &Value) -> std::result::Result<Self, String> {
        match value {
            Value::Real(n) => Ok(*n),
            Value::Integer(n) => Ok(*n as f64),
            other => Err(format!("expected a number, found {other:?}")),
        }
    }
}

impl FromSql for bool {
    fn from_sql(value: &Value) -> std::result::Result<Self, String> {
        i64::from_sql(value).map(|n| n != 0)
    }
}

impl FromSql for Vec<u8> {
    fn from_sql(value: &Value) -> std::result::Result<Self, String> {
        match value {
            Value::Blob(b) => Ok(b.clone()),
            other => Err(format!("expected a blob, found {other:?}")),
        }
    }
}

impl<T: FromSql> FromSql for Option<T> {
    fn from_sql(value: &Value) -> std::result::Result<Self, String> {
        match value {
            Value::Null => Ok(None),
            v => T::from_sql(v).map(Some),
        }
    }
}

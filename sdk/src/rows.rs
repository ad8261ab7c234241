//! Rows to structs and structs to rows, through serde: a struct's fields are its columns, so
//! a table's shape is written once (its migration) beside one Rust type, with no row mapper and
//! no column list by hand.

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserializer, Serialize};

use crate::{Db, Error, Filter, Page, PageRequest, Result, Row, ToSql, Value};

impl Row {
    /// The row as `T`, field by column name (columns `T` does not name are ignored).
    pub fn to<T: DeserializeOwned>(&self) -> Result<T> {
        T::deserialize(RowDeserializer(self)).map_err(|e| Error::internal(format!("row: {e}")))
    }
}

/// The field names of `T`, in order: the columns to select for it.
pub fn columns<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Fields(&'static [&'static str]);
    struct Probe<'a>(&'a mut Option<Fields>);
    impl<'de> Deserializer<'de> for Probe<'_> {
        type Error = de::value::Error;
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = Some(Fields(fields));
            Err(de::Error::custom("probed"))
        }
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut found = None;
    let _ = T::deserialize(Probe(&mut found));
    found.map_or(&[], |Fields(f)| f)
}

impl Db {
    /// `SELECT <T's fields> FROM {table} {rest}`, each row as `T`. `rest` is the SQL after the
    /// table (`WHERE id = ?1`), with its values bound from `params`.
    pub fn select<T: DeserializeOwned>(
        &self,
        table: &str,
        rest: &str,
        params: &[&dyn ToSql],
    ) -> Result<Vec<T>> {
        let sql = format!("SELECT {} FROM {table} {rest}", columns::<T>().join(", "));
        self.query(&sql, params)?.iter().map(Row::to).collect()
    }

    /// The first row [`Db::select`] finds, if any.
    pub fn select_one<T: DeserializeOwned>(
        &self,
        table: &str,
        rest: &str,
        params: &[&dyn ToSql],
    ) -> Result<Option<T>> {
        Ok(self.select(table, rest, params)?.into_iter().next())
    }

    /// `INSERT INTO {table}` one row: every field of `row`, each in the column of its name.
    pub fn insert<T: Serialize>(&self, table: &str, row: &T) -> Result<u64> {
        let serde_json::Value::Object(fields) = serde_json::to_value(row)? else {
            return Err(Error::internal("a row to insert must be a struct"));
        };
        let names: Vec<&str> = fields.keys().map(String::as_str).collect();
        let values: Vec<Value> = fields.values().map(sql_value).collect();
        let marks: Vec<String> = (1..=values.len()).map(|i| format!("?{i}")).collect();
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES ({})",
            names.join(", "),
            marks.join(", ")
        );
        let params: Vec<&dyn ToSql> = values.iter().map(|v| v as &dyn ToSql).collect();
        self.execute(&sql, &params)
    }
}

/// A JSON value as it is stored: objects and arrays as JSON text, booleans as 0 and 1.
fn sql_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Integer(i64::from(*b)),
        serde_json::Value::Number(n) => n
            .as_i64()
            .map(Value::Integer)
            .unwrap_or_else(|| Value::Real(n.as_f64().unwrap_or(0.0))),
        serde_json::Value::String(s) => Value::Text(s.clone()),
        other => Value::Text(other.to_string()),
    }
}

impl PageRequest {
    /// [`PageRequest::fetch`] for a `T` whose fields are the table's columns and which has an
    /// `id` field.
    pub fn fetch_as<T: DeserializeOwned + HasId>(
        &self,
        db: &Db,
        table: &str,
        filter: &Filter,
    ) -> Result<Page<T>> {
        self.fetch(
            db,
            table,
            &columns::<T>().join(", "),
            filter,
            Row::to,
            |t: &T| t.id().to_owned(),
        )
    }
}

/// A listed item: its id is the cursor's position.
pub trait HasId {
    fn id(&self) -> &str;
}

struct RowDeserializer<'a>(&'a Row);

impl<'de> Deserializer<'de> for RowDeserializer<'de> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_map(Columns { row: self.0, at: 0 })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

struct Columns<'a> {
    row: &'a Row,
    at: usize,
}

impl<'de> MapAccess<'de> for Columns<'de> {
    type Error = de::value::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let Some(name) = self.row.columns.get(self.at) else {
            return Ok(None);
        };
        seed.deserialize(name.as_str().into_deserializer())
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let value = &self.row.values[self.at];
        self.at += 1;
        seed.deserialize(Cell(value))
    }
}

/// One value: text, numbers and blobs as they are, NULL as none, integers also as booleans, and
/// text also as any JSON (a column holding a list or an object).
struct Cell<'a>(&'a Value);

impl<'de> Deserializer<'de> for Cell<'de> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            Value::Integer(i) => visitor.visit_i64(*i),
            Value::Real(f) => visitor.visit_f64(*f),
            Value::Text(s) => visitor.visit_borrowed_str(s),
            Value::Blob(b) => visitor.visit_borrowed_bytes(b),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Integer(i) => visitor.visit_bool(*i != 0),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.json(|de| de.deserialize_seq(visitor))
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.json(|de| de.deserialize_map(visitor))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.json(|de| de.deserialize_struct(name, fields, visitor))
    }

    /// A unit variant stored as its name (`status = 'active'`).
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Text(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            _ => Err(de::Error::custom("expected a variant's name")),
        }
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct newtype_struct tuple tuple_struct identifier ignored_any
    }
}

impl<'de> Cell<'de> {
    /// A list or an object stored as JSON text.
    fn json<T>(
        self,
        f: impl FnOnce(
            &mut serde_json::Deserializer<serde_json::de::StrRead<'de>>,
        ) -> serde_json::Result<T>,
    ) -> Result<T, de::value::Error> {
        match self.0 {
            Value::Text(s) => {
                let mut de = serde_json::Deserializer::from_str(s);
                f(&mut de).map_err(de::Error::custom)
            }
            _ => Err(de::Error::custom("expected JSON text")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use serde::Deserialize;

    use super::*;

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Status {
        Active,
        Sold,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct Listing {
        id: String,
        price: i64,
        ratio: f64,
        buyer_id: Option<String>,
        sold: bool,
        status: Status,
        file_ids: Vec<String>,
    }

    fn row(pairs: Vec<(&str, Value)>) -> Row {
        Row {
            columns: Rc::new(pairs.iter().map(|(c, _)| c.to_string()).collect()),
            values: pairs.into_iter().map(|(_, v)| v).collect(),
        }
    }

    #[test]
    fn a_row_becomes_a_struct_by_column_name() {
        let r = row(vec![
            ("status", Value::Text("sold".into())),
            ("id", Value::Text("lst_1".into())),
            ("price", Value::Integer(250)),
            ("ratio", Value::Real(0.5)),
            ("buyer_id", Value::Null),
            ("sold", Value::Integer(1)),
            ("file_ids", Value::Text(r#"["file_a","file_b"]"#.into())),
            ("extra", Value::Blob(vec![1, 2])),
        ]);
        let listing: Listing = r.to().unwrap();
        assert_eq!(
            listing,
            Listing {
                id: "lst_1".into(),
                price: 250,
                ratio: 0.5,
                buyer_id: None,
                sold: true,
                status: Status::Sold,
                file_ids: vec!["file_a".into(), "file_b".into()],
            }
        );
        let wrong = row(vec![("id", Value::Integer(1))]);
        let error = wrong.to::<Listing>().unwrap_err();
        assert_eq!((error.status, error.code.as_str()), (500, "plugin_error"));
        let _ = Status::Active;
    }

    #[test]
    fn a_struct_names_its_columns() {
        assert_eq!(
            columns::<Listing>(),
            [
                "id", "price", "ratio", "buyer_id", "sold", "status", "file_ids"
            ]
        );
        assert!(columns::<String>().is_empty());
    }

    #[test]
    fn json_values_are_stored_as_columns_hold_them() {
        assert!(matches!(
            sql_value(&serde_json::json!(true)),
            Value::Integer(1)
        ));
        assert!(matches!(sql_value(&serde_json::json!(2.5)), Value::Real(f) if f == 2.5));
        assert!(matches!(sql_value(&serde_json::json!(["a"])), Value::Text(t) if t == r#"["a"]"#));
        assert!(matches!(sql_value(&serde_json::json!(null)), Value::Null));
    }
}

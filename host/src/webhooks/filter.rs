//! Per-endpoint delivery filters on payload fields: `{"data.post.author_id": "usr_…",
//! "type": ["post.created", "post.updated"]}`. Every entry must match (AND); an array value
//! matches any of its values (OR). Paths are dotted field names into the event as delivered.

use serde_json::{Map, Value};

pub const MAX_ENTRIES: usize = 20;

/// Checks a filter as given by a client; the message names what is wrong.
pub fn validate(filter: &Value) -> Result<(), String> {
    let Value::Object(entries) = filter else {
        return Err("must be an object of dotted field paths to values".into());
    };
    if entries.is_empty() || entries.len() > MAX_ENTRIES {
        return Err(format!("1 to {MAX_ENTRIES} entries"));
    }
    for (path, expected) in entries {
        let good_path = !path.is_empty()
            && path.len() <= 200
            && path.split('.').all(|p| {
                !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            });
        if !good_path {
            return Err(format!(
                "`{path}` is not a dotted field path like data.post.author_id"
            ));
        }
        let scalar = |v: &Value| {
            matches!(
                v,
                Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null
            )
        };
        let ok = match expected {
            Value::Array(options) => {
                !options.is_empty() && options.len() <= 100 && options.iter().all(scalar)
            }
            other => scalar(other),
        };
        if !ok {
            return Err(format!(
                "`{path}`: expected a string, number, boolean, null, or an array of them"
            ));
        }
    }
    Ok(())
}

/// Whether `event` (as delivered) passes `filter`.
pub fn matches(filter: &Map<String, Value>, event: &Value) -> bool {
    filter.iter().all(|(path, expected)| {
        let actual = path
            .split('.')
            .try_fold(event, |v, key| v.get(key))
            .unwrap_or(&Value::Null);
        match expected {
            Value::Array(options) => options.iter().any(|o| o == actual),
            one => one == actual,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters() {
        let event =
            json!({"type": "post.created", "data": {"post": {"author_id": "usr_1", "n": 3}}});
        let f = |v: Value| v.as_object().unwrap().clone();
        assert!(matches(&f(json!({"data.post.author_id": "usr_1"})), &event));
        assert!(!matches(
            &f(json!({"data.post.author_id": "usr_2"})),
            &event
        ));
        assert!(matches(
            &f(json!({"data.post.author_id": ["usr_2", "usr_1"], "type": "post.created"})),
            &event
        ));
        assert!(!matches(
            &f(json!({"data.post.author_id": "usr_1", "type": "post.updated"})),
            &event
        ));
        assert!(matches(&f(json!({"data.post.n": 3})), &event));
        assert!(matches(&f(json!({"data.post.missing": null})), &event));
        assert!(validate(&json!({"data.post.author_id": "usr_1"})).is_ok());
        for bad in [
            json!([]),
            json!({}),
            json!({"a..b": 1}),
            json!({"a": {"b": 1}}),
            json!({"a": []}),
        ] {
            assert!(validate(&bad).is_err(), "{bad}");
        }
    }
}

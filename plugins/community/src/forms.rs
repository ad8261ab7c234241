//! The forms of tiers and segments: a list of fields a submission answers, checked on submit.

use std::collections::BTreeMap;

use mobieus_sdk::json::Value;
use mobieus_sdk::garde;
use mobieus_sdk::prelude::*;

/// One field of a form.
#[derive(Serialize, Deserialize, JsonSchema, Validate, Clone)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// The key its answer is sent under: a-z, 0-9 and `_`, 1 to 64 characters.
    #[garde(length(min = 1, max = 64), custom(field_name))]
    pub name: String,
    #[garde(length(min = 1, max = 200), custom(mobieus_sdk::check::one_line))]
    pub label: String,
    #[garde(skip)]
    pub kind: FieldKind,
    #[serde(default)]
    #[garde(skip)]
    pub required: bool,
    /// A `select`'s choices (1 to 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(length(min = 1, max = 50), inner(length(min = 1, max = 200)))]
    pub options: Option<Vec<String>>,
}

fn field_name(name: &str, _: &()) -> garde::Result {
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase()) && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok { Ok(()) } else { Err(garde::Error::new("a-z, 0-9 and _, starting with a letter")) }
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum FieldKind {
    Text,
    Email,
    Number,
    Boolean,
    Select,
}

/// A form as given: at most 50 fields, names unique, a `select` with options and only it.
pub fn check(fields: &[Field]) -> Result<()> {
    if fields.len() > 50 {
        return Err(Error::validation("form", "at most 50 fields"));
    }
    for (i, f) in fields.iter().enumerate() {
        if fields[..i].iter().any(|g| g.name == f.name) {
            return Err(Error::validation("form", format!("the field name `{}` repeats", f.name)));
        }
        if (f.kind == FieldKind::Select) != f.options.is_some() {
            return Err(Error::validation("form", format!("`{}`: a select has options, and only a select", f.name)));
        }
    }
    Ok(())
}

/// Answers checked against the form: each required field answered, each answer of its field's
/// kind, no answer to a field the form does not have.
pub fn answer(fields: &[Field], answers: &BTreeMap<String, Value>) -> Result<()> {
    for name in answers.keys() {
        if !fields.iter().any(|f| &f.name == name) {
            return Err(Error::validation(&format!("answers.{name}"), "the form has no such field"));
        }
    }
    for f in fields {
        let at = format!("answers.{}", f.name);
        let Some(value) = answers.get(&f.name).filter(|v| !v.is_null()) else {
            if f.required {
                return Err(Error::validation(&at, "is required"));
            }
            continue;
        };
        let ok = match f.kind {
            FieldKind::Text => value.as_str().is_some_and(|s| s.chars().count() <= 2000),
            FieldKind::Email => value.as_str().is_some_and(|s| {
                let (local, domain) = s.split_once('@').unwrap_or(("", ""));
                !local.is_empty() && domain.contains('.') && !s.contains(char::is_whitespace) && s.len() <= 254
            }),
            FieldKind::Number => value.as_f64().is_some_and(f64::is_finite),
            FieldKind::Boolean => value.is_boolean(),
            FieldKind::Select => value.as_str().is_some_and(|s| f.options.iter().flatten().any(|o| o == s)),
        };
        if !ok {
            let want = match f.kind {
                FieldKind::Text => "text of at most 2,000 characters",
                FieldKind::Email => "an email address",
                FieldKind::Number => "a number",
                FieldKind::Boolean => "true or false",
                FieldKind::Select => "one of the field's options",
            };
            return Err(Error::validation(&at, format!("must be {want}")));
        }
    }
    Ok(())
}

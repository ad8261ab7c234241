//! SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2): parsed into a [`Filter`], then
//! evaluated against a resource's JSON with the case rules of its schema. Every error is a
//! `400 invalidFilter` (or `invalidPath`) that says where the text went wrong.

use std::cmp::Ordering;

use serde_json::Value;

use crate::scim::schema::{Kind, Resolved, ResourceType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

/// An attribute as written: `urn:…:attr.sub`, names as the client spelled them.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrPath {
    pub uri: Option<String>,
    pub attr: String,
    pub sub: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Present(AttrPath),
    Compare(AttrPath, Op, Value),
    /// `emails[type eq "work" and value co "@example.org"]`: one element matches it all.
    Elements(AttrPath, Box<Filter>),
}

/// A PATCH path: an attribute, optionally narrowed to elements and then to a sub-attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
    pub sub: Option<String>,
}

pub type ParseError = String;

/// The longest filter accepted, and how deep parentheses may nest.
const MAX_LEN: usize = 4_096;
const MAX_DEPTH: usize = 32;

pub fn parse(text: &str) -> Result<Filter, ParseError> {
    if text.len() > MAX_LEN {
        return Err(format!("a filter is at most {MAX_LEN} characters"));
    }
    let mut p = Parser {
        s: text,
        at: 0,
        depth: 0,
    };
    let filter = p.or()?;
    p.skip_ws();
    if p.at != text.len() {
        return Err(p.error("unexpected text"));
    }
    Ok(filter)
}

pub fn parse_path(text: &str) -> Result<PatchPath, ParseError> {
    let mut p = Parser {
        s: text,
        at: 0,
        depth: 0,
    };
    p.skip_ws();
    let attr = p.attr_path()?;
    let mut path = PatchPath {
        attr,
        filter: None,
        sub: None,
    };
    if p.eat("[") {
        if path.attr.sub.is_some() {
            return Err(p.error("a value filter follows an attribute, not a sub-attribute"));
        }
        path.filter = Some(p.or()?);
        p.skip_ws();
        if !p.eat("]") {
            return Err(p.error("expected `]`"));
        }
        if p.eat(".") {
            path.sub = Some(p.name()?);
        }
    }
    p.skip_ws();
    if p.at != text.len() {
        return Err(p.error("unexpected text"));
    }
    Ok(path)
}

struct Parser<'a> {
    s: &'a str,
    at: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.at..]
    }

    fn error(&self, what: &str) -> String {
        format!("{what} at character {}", self.at + 1)
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.at = self.s.len() - trimmed.len();
    }

    fn eat(&mut self, token: &str) -> bool {
        if self.rest().starts_with(token) {
            self.at += token.len();
            true
        } else {
            false
        }
    }

    /// A keyword (`and`, `pr`…) in any case, followed by a space, `(` or the end.
    fn keyword(&mut self, word: &str) -> bool {
        self.skip_ws();
        let rest = self.rest();
        let matches = rest.len() >= word.len()
            && rest[..word.len()].eq_ignore_ascii_case(word)
            && rest[word.len()..]
                .chars()
                .next()
                .is_none_or(|c| c.is_whitespace() || c == '(' || c == ')' || c == ']');
        if matches {
            self.at += word.len();
        }
        matches
    }

    fn or(&mut self) -> Result<Filter, ParseError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, ParseError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn nested(&mut self, close: &str) -> Result<Filter, ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        let inner = self.or()?;
        self.depth -= 1;
        self.skip_ws();
        if !self.eat(close) {
            return Err(self.error(&format!("expected `{close}`")));
        }
        Ok(inner)
    }

    fn unary(&mut self) -> Result<Filter, ParseError> {
        self.skip_ws();
        if self.keyword("not") {
            self.skip_ws();
            if !self.eat("(") {
                return Err(self.error("`not` takes a filter in parentheses"));
            }
            return Ok(Filter::Not(Box::new(self.nested(")")?)));
        }
        if self.eat("(") {
            return self.nested(")");
        }
        let path = self.attr_path()?;
        if self.eat("[") {
            if path.sub.is_some() {
                return Err(self.error("a value filter follows an attribute, not a sub-attribute"));
            }
            let inner = self.nested("]")?;
            return Ok(Filter::Elements(path, Box::new(inner)));
        }
        if self.keyword("pr") {
            return Ok(Filter::Present(path));
        }
        self.skip_ws();
        let op = self.op()?;
        self.skip_ws();
        let value = self.value()?;
        Ok(Filter::Compare(path, op, value))
    }

    fn op(&mut self) -> Result<Op, ParseError> {
        const OPS: [(&str, Op); 9] = [
            ("eq", Op::Eq),
            ("ne", Op::Ne),
            ("co", Op::Co),
            ("sw", Op::Sw),
            ("ew", Op::Ew),
            ("gt", Op::Gt),
            ("ge", Op::Ge),
            ("lt", Op::Lt),
            ("le", Op::Le),
        ];
        for (word, op) in OPS {
            if self.keyword(word) {
                return Ok(op);
            }
        }
        Err(self.error("expected an operator (eq ne co sw ew gt ge lt le pr)"))
    }

    fn value(&mut self) -> Result<Value, ParseError> {
        for (word, value) in [
            ("true", Value::Bool(true)),
            ("false", Value::Bool(false)),
            ("null", Value::Null),
        ] {
            if self.keyword(word) {
                return Ok(value);
            }
        }
        let rest = self.rest();
        if rest.starts_with('"') {
            // A JSON string: find its closing quote, then let serde_json read the escapes.
            let bytes = rest.as_bytes();
            let mut i = 1;
            while i < bytes.len() && bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            if i >= bytes.len() {
                return Err(self.error("unclosed string"));
            }
            let value: String =
                serde_json::from_str(&rest[..=i]).map_err(|_| self.error("a malformed string"))?;
            self.at += i + 1;
            return Ok(Value::String(value));
        }
        let end = rest
            .find(|c: char| c.is_whitespace() || c == ')' || c == ']')
            .unwrap_or(rest.len());
        let number: serde_json::Number = rest[..end].parse().map_err(|_| {
            self.error("expected a value: a \"string\", a number, true, false or null")
        })?;
        self.at += end;
        Ok(Value::Number(number))
    }

    fn name(&mut self) -> Result<String, ParseError> {
        let rest = &self.s[self.at..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$'))
            .unwrap_or(rest.len());
        if end == 0 || !rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '$') {
            return Err(self.error("expected an attribute name"));
        }
        self.at += end;
        Ok(rest[..end].to_owned())
    }

    /// `attr`, `attr.sub`, or either after a schema URN (`urn:…:User:attr.sub`).
    fn attr_path(&mut self) -> Result<AttrPath, ParseError> {
        self.skip_ws();
        let rest = &self.s[self.at..];
        let end = rest
            .find(|c: char| {
                !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '$' | ':' | '.'))
            })
            .unwrap_or(rest.len());
        let token = &rest[..end];
        let (uri, local) = if token.len() >= 4 && token[..4].eq_ignore_ascii_case("urn:") {
            // The URN's own dots (`…:2.0:User`) come before its last colon.
            match token.rfind(':') {
                Some(i) => (Some(token[..i].to_owned()), &token[i + 1..]),
                None => return Err(self.error("a malformed schema URN")),
            }
        } else {
            (None, token)
        };
        let mut parts = local.splitn(2, '.');
        let attr = parts.next().unwrap_or_default();
        let sub = parts.next();
        let shaped = |n: &str| {
            !n.is_empty()
                && n.starts_with(|c: char| c.is_ascii_alphabetic() || c == '$')
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '$'))
        };
        if !shaped(attr) || sub.is_some_and(|s| !shaped(s)) {
            return Err(self.error("expected an attribute name"));
        }
        self.at += end;
        Ok(AttrPath {
            uri,
            attr: attr.to_owned(),
            sub: sub.map(str::to_owned),
        })
    }
}

/// Checks every attribute a filter names exists on the type; a filter on an unknown attribute is
/// refused rather than silently matching nothing.
pub fn check(
    filter: &Filter,
    rt: &ResourceType,
    parent: Option<&AttrPath>,
) -> Result<(), ParseError> {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => {
            check(a, rt, parent)?;
            check(b, rt, parent)
        }
        Filter::Not(a) => check(a, rt, parent),
        Filter::Present(p) | Filter::Compare(p, _, _) => resolve(p, rt, parent).map(|_| ()),
        Filter::Elements(p, inner) => {
            let resolved = resolve(p, rt, None)?;
            if resolved.attr.kind != Kind::Complex {
                return Err(format!("`{}` has no sub-attributes to filter on", p.attr));
            }
            check(inner, rt, Some(p))
        }
    }
}

fn resolve(
    p: &AttrPath,
    rt: &ResourceType,
    parent: Option<&AttrPath>,
) -> Result<Resolved, ParseError> {
    let found = match parent {
        // Inside `attr[…]`, names are sub-attributes of `attr`.
        Some(parent) if p.uri.is_none() && p.sub.is_none() => {
            rt.resolve(parent.uri.as_deref(), &parent.attr, Some(&p.attr))
        }
        _ => rt.resolve(p.uri.as_deref(), &p.attr, p.sub.as_deref()),
    };
    found.ok_or_else(|| format!("no attribute `{}`", display(p)))
}

pub fn display(p: &AttrPath) -> String {
    let mut s = String::new();
    if let Some(uri) = &p.uri {
        s.push_str(uri);
        s.push(':');
    }
    s.push_str(&p.attr);
    if let Some(sub) = &p.sub {
        s.push('.');
        s.push_str(sub);
    }
    s
}

/// Whether `resource` matches `filter` (which [`check`] accepted).
pub fn matches(filter: &Filter, resource: &Value, rt: &ResourceType) -> bool {
    eval(filter, resource, rt, None)
}

fn eval(filter: &Filter, target: &Value, rt: &ResourceType, parent: Option<&AttrPath>) -> bool {
    match filter {
        Filter::And(a, b) => eval(a, target, rt, parent) && eval(b, target, rt, parent),
        Filter::Or(a, b) => eval(a, target, rt, parent) || eval(b, target, rt, parent),
        Filter::Not(a) => !eval(a, target, rt, parent),
        Filter::Present(p) => {
            let Ok(resolved) = resolve(p, rt, parent) else {
                return false;
            };
            values(target, p, &resolved, parent.is_some())
                .iter()
                .any(|v| {
                    !matches!(v, Value::Null)
                        && v.as_str() != Some("")
                        && v.as_array().is_none_or(|a| !a.is_empty())
                })
        }
        Filter::Compare(p, op, expected) => {
            let Ok(resolved) = resolve(p, rt, parent) else {
                return false;
            };
            let found = values(target, p, &resolved, parent.is_some());
            let any = |op: Op| found.iter().any(|v| compare(v, op, expected, &resolved));
            match op {
                Op::Ne => !any(Op::Eq),
                op => any(*op),
            }
        }
        Filter::Elements(p, inner) => {
            let Ok(resolved) = resolve(p, rt, None) else {
                return false;
            };
            let container = lookup(target, resolved.extension, resolved.attr.name);
            let elements: Vec<&Value> = match container {
                Some(Value::Array(items)) => items.iter().collect(),
                Some(v @ Value::Object(_)) => vec![v],
                _ => vec![],
            };
            elements.into_iter().any(|e| eval(inner, e, rt, Some(p)))
        }
    }
}

/// The value of `name` in `target` (an extension's object first, when named), without case.
fn lookup<'v>(target: &'v Value, extension: Option<&str>, name: &str) -> Option<&'v Value> {
    let object = match extension {
        Some(urn) => get_ci(target, urn)?,
        None => target,
    };
    get_ci(object, name)
}

pub fn get_ci<'v>(object: &'v Value, name: &str) -> Option<&'v Value> {
    let map = object.as_object()?;
    map.get(name).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// The values a path names: each element's sub-attribute for a multi-valued attribute, and a
/// multi-valued complex attribute without a sub-attribute compares by its elements' `value`.
fn values<'v>(
    target: &'v Value,
    p: &AttrPath,
    resolved: &Resolved,
    inside: bool,
) -> Vec<&'v Value> {
    if inside && p.uri.is_none() && p.sub.is_none() {
        return get_ci(target, &p.attr).into_iter().collect();
    }
    let Some(top) = lookup(target, resolved.extension, resolved.attr.name) else {
        return vec![];
    };
    let sub = resolved
        .sub
        .map(|s| s.name)
        .or((resolved.attr.kind == Kind::Complex && resolved.attr.multi).then_some("value"));
    let items: Vec<&Value> = match top {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    match sub {
        None => items,
        Some(sub) => items.into_iter().filter_map(|i| get_ci(i, sub)).collect(),
    }
}

fn compare(found: &Value, op: Op, expected: &Value, resolved: &Resolved) -> bool {
    match (found, expected) {
        (Value::String(a), Value::String(b)) => {
            let (a, b) = if resolved.case_exact() {
                (a.clone(), b.clone())
            } else {
                (a.to_lowercase(), b.to_lowercase())
            };
            let order = || {
                if resolved.kind() == Kind::DateTime {
                    match (
                        crate::time::parse_rfc3339(&a),
                        crate::time::parse_rfc3339(&b),
                    ) {
                        (Some(x), Some(y)) => x.cmp(&y),
                        _ => a.cmp(&b),
                    }
                } else {
                    a.cmp(&b)
                }
            };
            match op {
                Op::Eq => order() == Ordering::Equal,
                Op::Ne => order() != Ordering::Equal,
                Op::Co => a.contains(&b),
                Op::Sw => a.starts_with(&b),
                Op::Ew => a.ends_with(&b),
                Op::Gt => order() == Ordering::Greater,
                Op::Ge => order() != Ordering::Less,
                Op::Lt => order() == Ordering::Less,
                Op::Le => order() != Ordering::Greater,
            }
        }
        (Value::Bool(a), Value::Bool(b)) => match op {
            Op::Eq => a == b,
            Op::Ne => a != b,
            _ => false,
        },
        (Value::Number(a), Value::Number(b)) => {
            let (Some(a), Some(b)) = (a.as_f64(), b.as_f64()) else {
                return false;
            };
            match op {
                Op::Eq => a == b,
                Op::Ne => a != b,
                Op::Gt => a > b,
                Op::Ge => a >= b,
                Op::Lt => a < b,
                Op::Le => a <= b,
                _ => false,
            }
        }
        (_, Value::Null) => false,
        _ => false,
    }
}

/// An equality the whole filter requires on `attr` (found at the top or under `and`), for an
/// index lookup before the filter runs: `userName eq "ada"` and `… and …`.
pub fn required_eq<'f>(filter: &'f Filter, attr: &str) -> Option<&'f str> {
    match filter {
        Filter::Compare(p, Op::Eq, Value::String(v))
            if p.sub.is_none()
                && p.attr.eq_ignore_ascii_case(attr)
                && p.uri
                    .as_deref()
                    .is_none_or(|u| u.starts_with("urn:ietf:params:scim:schemas:core:")) =>
        {
            Some(v)
        }
        Filter::And(a, b) => required_eq(a, attr).or_else(|| required_eq(b, attr)),
        _ => None,
    }
}

/// Whether a filter names `attr` anywhere (to know whether a resource needs it computed).
pub fn mentions(filter: &Filter, attr: &str) -> bool {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => mentions(a, attr) || mentions(b, attr),
        Filter::Not(a) => mentions(a, attr),
        Filter::Present(p) | Filter::Compare(p, _, _) | Filter::Elements(p, _) => {
            p.attr.eq_ignore_ascii_case(attr)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::schema::USERS;

    fn ada() -> Value {
        json!({
            "id": "usr_1",
            "userName": "Ada@Example.org",
            "name": { "givenName": "Ada", "familyName": "Lovelace" },
            "active": true,
            "emails": [
                { "value": "ada@work.example", "type": "work", "primary": true },
                { "value": "ada@home.example", "type": "home" }
            ],
            "meta": { "created": "2026-01-02T03:04:05Z", "lastModified": "2026-06-01T00:00:00Z" },
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { "employeeNumber": "701" }
        })
    }

    fn check_one(text: &str) -> bool {
        let f = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        check(&f, &USERS, None).unwrap_or_else(|e| panic!("{text}: {e}"));
        matches(&f, &ada(), &USERS)
    }

    #[test]
    fn every_operator_with_the_schema_case_rules() {
        for (text, want) in [
            (r#"userName eq "ada@example.org""#, true),
            (r#"USERNAME Eq "ADA@EXAMPLE.ORG""#, true),
            (r#"userName ne "ada@example.org""#, false),
            (r#"userName co "example""#, true),
            (r#"userName sw "ada@""#, true),
            (r#"userName ew ".ORG""#, true),
            (r#"name.givenName eq "ada""#, true),
            (r#"name.familyName pr"#, true),
            (r#"title pr"#, false),
            (r#"title ne "x""#, true),
            (r#"active eq true"#, true),
            (r#"active eq false"#, false),
            (r#"emails co "home.example""#, true),
            (r#"emails.type eq "work""#, true),
            (r#"emails[type eq "work" and value co "@work"]"#, true),
            (r#"emails[type eq "home" and primary eq true]"#, false),
            (r#"meta.created gt "2026-01-01T00:00:00Z""#, true),
            (r#"meta.created ge "2026-01-02T03:04:05Z""#, true),
            (r#"meta.lastModified lt "2026-01-01T00:00:00Z""#, false),
            (r#"meta.lastModified le "2026-06-01T00:00:00+00:00""#, true),
            (r#"id eq "USR_1""#, false),
            (
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701""#,
                true,
            ),
            (
                r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "ada""#,
                true,
            ),
            (
                r#"not (active eq false) and (title pr or name.givenName sw "A")"#,
                true,
            ),
            (r#"title pr or not(userName eq "x")"#, true),
            (r#"userName eq "x" or userName eq "y""#, false),
        ] {
            assert_eq!(check_one(text), want, "{text}");
        }
    }

    #[test]
    fn malformed_filters_say_where() {
        for text in [
            "",
            "userName",
            r#"userName eq"#,
            r#"userName zz "a""#,
            r#"userName eq "unclosed"#,
            r#"(userName eq "a""#,
            r#"userName eq "a")"#,
            r#"not userName eq "a""#,
            r#"emails[type eq "work""#,
            r#"userName eq "a" and"#,
            r#"userName eq bare"#,
            "9lives eq 1",
        ] {
            assert!(parse(text).is_err(), "{text} should not parse");
        }
        let deep = format!("{}userName pr{}", "(".repeat(40), ")".repeat(40));
        assert!(parse(&deep).is_err());
        let unknown = parse(r#"shoeSize eq "9""#).unwrap();
        assert!(check(&unknown, &USERS, None).is_err());
        let no_sub = parse(r#"userName[value eq "a"]"#).unwrap();
        assert!(check(&no_sub, &USERS, None).is_err());
    }

    #[test]
    fn patch_paths_and_the_index_hint() {
        let p = parse_path(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(p.attr.attr, "emails");
        assert_eq!(p.sub.as_deref(), Some("value"));
        assert!(p.filter.is_some());
        let p =
            parse_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value")
                .unwrap();
        assert_eq!(
            p.attr.uri.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        );
        assert_eq!(
            (p.attr.attr.as_str(), p.attr.sub.as_deref()),
            ("manager", Some("value"))
        );
        assert!(parse_path("members[value eq \"x\"] junk").is_err());
        let f = parse(r#"active eq true and userName eq "Ada""#).unwrap();
        assert_eq!(required_eq(&f, "userName"), Some("Ada"));
        let f = parse(r#"active eq true or userName eq "Ada""#).unwrap();
        assert_eq!(required_eq(&f, "userName"), None);
    }
}

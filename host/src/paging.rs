//! Lists: `limit` (1..=100, default 20; anything else is an error, not silently clipped), opaque
//! signed cursors, `since`/`until` (RFC 3339), and the envelope
//! `{"data": [...], "has_more": bool, "next_cursor": "…"|null, "total_count": n}`.
//!
//! Every listed table has prefixed ULID ids minted in commit order, so "newest first" is
//! `ORDER BY id DESC`, the cursor is the last id seen (rows that commit later have greater ids and
//! never shift a page), and time filters are ranges on the primary key.

use std::collections::BTreeMap;

use axum::http::Uri;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rusqlite::Connection;
use rusqlite::types::Value;
use serde::Serialize;
use sha2::Sha256;
use ulid::Ulid;

use crate::error::{ApiError, Result};
use crate::time::parse_rfc3339;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub has_more: bool,
    pub next_cursor: Option<String>,
    pub total_count: i64,
}

/// Signs cursors so a forged or stale one (other resource, other filters) is refused.
#[derive(Clone)]
pub struct CursorKey([u8; 32]);

impl CursorKey {
    pub fn new(secret: [u8; 32]) -> Self {
        CursorKey(secret)
    }

    fn mac(&self, scope: &str, id: &str) -> [u8; 16] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("any key length");
        mac.update(scope.as_bytes());
        mac.update(b"\n");
        mac.update(id.as_bytes());
        let full = mac.finalize().into_bytes();
        full[..16].try_into().expect("16 of 32 bytes")
    }

    pub fn sign(&self, scope: &str, id: &str) -> String {
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(id),
            URL_SAFE_NO_PAD.encode(self.mac(scope, id))
        )
    }

    pub fn verify(&self, scope: &str, token: &str) -> Option<String> {
        let (id, mac) = token.split_once('.')?;
        let id = String::from_utf8(URL_SAFE_NO_PAD.decode(id).ok()?).ok()?;
        let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
        let mut check = Hmac::<Sha256>::new_from_slice(&self.0).expect("any key length");
        check.update(scope.as_bytes());
        check.update(b"\n");
        check.update(id.as_bytes());
        check.verify_truncated_left(&mac).ok()?;
        Some(id)
    }
}

/// A parsed list request.
#[derive(Debug)]
pub struct ListRequest {
    pub limit: u32,
    after: Option<String>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    /// Resource-specific filters that were given, by name.
    pub filters: BTreeMap<&'static str, String>,
    /// What a cursor is bound to: the resource and every filter.
    scope: String,
}

impl ListRequest {
    /// Parses `limit`, `cursor`, `since`, `until` and the resource's `filters` from the query;
    /// any other parameter is an error, so a typo is not silently ignored.
    pub fn parse(
        uri: &Uri,
        resource: &str,
        filters: &[&'static str],
        key: &CursorKey,
    ) -> Result<Self> {
        let pairs = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map_err(|e| ApiError::validation("query", e.body_text()))?
            .0;
        let mut limit = DEFAULT_LIMIT;
        let mut cursor = None;
        let mut since = None;
        let mut until = None;
        let mut given = BTreeMap::new();
        for (name, value) in pairs {
            match name.as_str() {
                "limit" => {
                    limit = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| {
                            ApiError::validation(
                                "limit",
                                format!("must be a whole number from 1 to {MAX_LIMIT}"),
                            )
                        })?;
                }
                "cursor" => cursor = Some(value),
                "since" => {
                    since = Some(parse_rfc3339(&value).ok_or_else(|| {
                        ApiError::bad_request(
                            "invalid_since",
                            "`since` must be an RFC 3339 time, e.g. 2026-05-29T00:00:00Z",
                        )
                        .with("field", "since")
                    })?)
                }
                "until" => {
                    until = Some(parse_rfc3339(&value).ok_or_else(|| {
                        ApiError::bad_request(
                            "invalid_until",
                            "`until` must be an RFC 3339 time, e.g. 2026-05-29T00:00:00Z",
                        )
                        .with("field", "until")
                    })?)
                }
                other => match filters.iter().find(|f| **f == other) {
                    Some(f) => {
                        given.insert(*f, value);
                    }
                    None => {
                        let mut known = vec!["limit", "cursor", "since", "until"];
                        known.extend(filters);
                        return Err(ApiError::validation(
                            other,
                            format!(
                                "unknown query parameter; this list takes {}",
                                known.join(", ")
                            ),
                        ));
                    }
                },
            }
        }
        if let (Some(s), Some(u)) = (since, until)
            && u < s
        {
            return Err(
                ApiError::bad_request("invalid_until", "`until` is before `since`")
                    .with("field", "until"),
            );
        }
        let scope = format!(
            "{resource}|{}|{}|{}",
            since.map(|t| t.timestamp_millis()).unwrap_or_default(),
            until.map(|t| t.timestamp_millis()).unwrap_or_default(),
            given
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        );
        let after = match cursor {
            None => None,
            Some(token) => Some(key.verify(&scope, &token).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_cursor",
                    "The cursor is not one this list issued (or the filters changed since). Start again without it.",
                )
            })?),
        };
        Ok(ListRequest {
            limit,
            after,
            since,
            until,
            filters: given,
            scope,
        })
    }

    fn has_time_range(&self) -> bool {
        self.since.is_some() || self.until.is_some()
    }
}

/// One list query over a table whose `id` column is `<prefix><ULID>`.
pub struct ListQuery<'a> {
    pub table: &'a str,
    pub id_prefix: &'a str,
    /// Selected columns; the first must be `id`.
    pub columns: &'a str,
    /// Extra `WHERE` terms with `?` placeholders, and their values in order.
    pub conditions: Vec<String>,
    pub params: Vec<Value>,
    /// Counter rows (kept by triggers) whose sum is the total when no time range is given; without
    /// them the total is counted.
    pub counters: Option<Vec<String>>,
}

impl ListQuery<'_> {
    pub fn fetch<T>(
        mut self,
        conn: &Connection,
        req: &ListRequest,
        key: &CursorKey,
        mut map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Page<T>> {
        let range = |t: &DateTime<Utc>, random: u128| {
            format!(
                "{}{}",
                self.id_prefix,
                Ulid::from_parts(t.timestamp_millis().max(0) as u64, random)
            )
        };
        if let Some(since) = &req.since {
            self.conditions.push("id >= ?".into());
            self.params.push(Value::Text(range(since, 0)));
        }
        if let Some(until) = &req.until {
            self.conditions.push("id <= ?".into());
            self.params.push(Value::Text(range(until, (1 << 80) - 1)));
        }
        let total_count = match (&self.counters, req.has_time_range()) {
            (Some(names), false) => {
                let marks = vec!["?"; names.len()].join(", ");
                conn.prepare_cached(&format!(
                    "SELECT COALESCE(SUM(n), 0) FROM counters WHERE name IN ({marks})"
                ))?
                .query_row(rusqlite::params_from_iter(names), |r| r.get(0))?
            }
            _ => conn
                .prepare_cached(&format!(
                    "SELECT COUNT(*) FROM {} {}",
                    self.table,
                    where_clause(&self.conditions)
                ))?
                .query_row(rusqlite::params_from_iter(&self.params), |r| r.get(0))?,
        };
        if let Some(after) = &req.after {
            self.conditions.push("id < ?".into());
            self.params.push(Value::Text(after.clone()));
        }
        // The limit is written into the SQL, not bound: SQLite plans `LIMIT ?` with the bound
        // value, so rebinding it expires the statement and every call would re-prepare it.
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {} FROM {} {} ORDER BY id DESC LIMIT {}",
            self.columns,
            self.table,
            where_clause(&self.conditions),
            req.limit + 1
        ))?;
        let mut rows = stmt.query(rusqlite::params_from_iter(&self.params))?;
        let mut data = Vec::with_capacity(req.limit as usize);
        let mut last_id = None;
        let mut has_more = false;
        while let Some(row) = rows.next()? {
            if data.len() == req.limit as usize {
                has_more = true;
                break;
            }
            last_id = Some(row.get::<_, String>(0)?);
            data.push(map(row)?);
        }
        let next_cursor = has_more
            .then(|| last_id.map(|id| key.sign(&req.scope, &id)))
            .flatten();
        Ok(Page {
            data,
            has_more,
            next_cursor,
            total_count,
        })
    }
}

fn where_clause(conditions: &[String]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CursorKey {
        CursorKey::new([7; 32])
    }

    fn parse(q: &str) -> Result<ListRequest> {
        let uri: Uri = format!("/x?{q}").parse().unwrap();
        ListRequest::parse(&uri, "events", &["type"], &key())
    }

    #[test]
    fn limits_and_times() {
        assert_eq!(parse("").unwrap().limit, 20);
        assert_eq!(parse("limit=100").unwrap().limit, 100);
        for bad in ["limit=0", "limit=101", "limit=x", "limit=-1"] {
            assert_eq!(parse(bad).unwrap_err().code, "validation_failed", "{bad}");
        }
        assert_eq!(parse("since=yesterday").unwrap_err().code, "invalid_since");
        assert_eq!(
            parse("until=2026-13-01T00:00:00Z").unwrap_err().code,
            "invalid_until"
        );
        assert!(parse("since=2026-05-29T00:00:00Z&until=2026-05-30T00:00:00%2B02:00").is_ok());
        assert_eq!(parse("colour=red").unwrap_err().code, "validation_failed");
    }

    #[test]
    fn cursors_are_bound_to_their_list() {
        let req = parse("type=post.created").unwrap();
        let token = key().sign(&req.scope, "evt_01");
        let ok = parse(&format!("type=post.created&cursor={token}")).unwrap();
        assert_eq!(ok.after.as_deref(), Some("evt_01"));
        for bad in [
            format!("type=user.left&cursor={token}"),
            format!("cursor={token}"),
            "cursor=garbage".to_owned(),
            format!("type=post.created&cursor={}x", token),
        ] {
            assert_eq!(parse(&bad).unwrap_err().code, "invalid_cursor", "{bad}");
        }
    }
}

use serde::Serialize;

use crate::ctx::rfc3339;
use crate::{Ctx, Db, Error, Result, Row, ToSql, Value};

/// A parsed list request: `limit` (1..=100, default 20), `cursor`, `since`/`until` (RFC 3339) and
/// the filters the list declares. Any other query parameter is `400 validation_failed`, so a typo
/// is not silently ignored; a bad time is `400 invalid_since` / `invalid_until`, as on the host's
/// own lists.
pub struct PageRequest {
    pub limit: u32,
    /// The id after which (in newest-first order) the page starts.
    pub after: Option<String>,
    /// `since`, normalised to `YYYY-MM-DDTHH:MM:SS.mmmZ` (the form [`Ctx::now`] writes).
    pub since: Option<String>,
    /// `until`, normalised like `since`.
    pub until: Option<String>,
    filters: Vec<(String, String)>,
}

impl PageRequest {
    /// A list that takes paging, time, and the filters its route declares with
    /// [`crate::Route::query`] (written once: they are in the API document too).
    pub fn from(cx: &Ctx) -> Result<PageRequest> {
        PageRequest::parse(cx, cx.declared_query())
    }

    /// A list that also takes the named filters (`?status=active`).
    pub fn parse(cx: &Ctx, filters: &[&str]) -> Result<PageRequest> {
        let mut page = PageRequest {
            limit: 20,
            after: None,
            since: None,
            until: None,
            filters: vec![],
        };
        for (name, value) in cx.query_pairs() {
            match name.as_str() {
                "limit" => {
                    page.limit = value
                        .parse::<u32>()
                        .ok()
                        .filter(|n| (1..=100).contains(n))
                        .ok_or_else(|| {
                            Error::validation("limit", "must be a whole number from 1 to 100")
                        })?
                }
                "cursor" => {
                    page.after = Some(decode_cursor(&value).ok_or_else(|| {
                        Error::bad_request(
                            "invalid_cursor",
                            "The cursor is not one this list issued.",
                        )
                    })?)
                }
                "since" | "until" => {
                    let ms = parse_rfc3339(&value).ok_or_else(|| {
                        Error::bad_request(
                            &format!("invalid_{name}"),
                            format!("`{name}` must be an RFC 3339 time, e.g. 2026-05-29T00:00:00Z"),
                        )
                        .with("field", name.as_str())
                    })?;
                    let slot = if name == "since" {
                        &mut page.since
                    } else {
                        &mut page.until
                    };
                    *slot = Some(rfc3339(ms));
                }
                other if filters.contains(&other) => page.filters.push((name, value)),
                other => {
                    let mut known = vec!["limit", "cursor", "since", "until"];
                    known.extend(filters);
                    return Err(Error::validation(
                        other,
                        format!(
                            "unknown query parameter; this list takes {}",
                            known.join(", ")
                        ),
                    ));
                }
            }
        }
        if let (Some(s), Some(u)) = (&page.since, &page.until)
            && u < s
        {
            return Err(
                Error::bad_request("invalid_until", "`until` is before `since`")
                    .with("field", "until"),
            );
        }
        Ok(page)
    }

    /// The value of a declared filter, if given.
    pub fn filter(&self, name: &str) -> Option<&str> {
        self.filters
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A declared filter whose value must be one of `allowed` (`?status=active`), if given; any
    /// other value is `400 validation_failed` naming the filter and the values it takes.
    pub fn filter_one_of(&self, name: &str, allowed: &[&str]) -> Result<Option<&str>> {
        match self.filter(name) {
            Some(value) if !allowed.contains(&value) => Err(Error::validation(
                name,
                format!("one of {}", allowed.join(", ")),
            )),
            value => Ok(value),
        }
    }

    /// A [`Filter`] holding `since`/`until` on the given time column; add the list's own
    /// conditions to it and hand it to [`PageRequest::fetch`].
    pub fn time_filter(&self, column: &str) -> Filter {
        let mut filter = Filter::new();
        if let Some(since) = &self.since {
            filter.and(&format!("{column} >= ?"), since.as_str());
        }
        if let Some(until) = &self.until {
            filter.and(&format!("{column} <= ?"), until.as_str());
        }
        filter
    }

    /// Runs the list: `SELECT {columns} FROM {table}` under `filter`, newest first by `id` (ids
    /// are `<prefix><ULID>`), one page of it, with the total that matches the filter.
    pub fn fetch<T>(
        &self,
        db: &Db,
        table: &str,
        columns: &str,
        filter: &Filter,
        map: impl Fn(&Row) -> Result<T>,
        id_of: impl Fn(&T) -> String,
    ) -> Result<Page<T>> {
        let total = db
            .query_one(
                &format!("SELECT COUNT(*) AS n FROM {table}{}", filter.sql()),
                &filter.params(),
            )?
            .map_or(Ok(0), |r| r.get::<i64>("n"))?;
        let mut page = filter.clone();
        if let Some(after) = &self.after {
            page.and("id < ?", after.as_str());
        }
        // The limit is written into the SQL, not bound: SQLite plans `LIMIT ?` with the bound
        // value, so a bound limit makes the host re-prepare the statement on every call.
        let rows = db.query(
            &format!(
                "SELECT {columns} FROM {table}{} ORDER BY id DESC LIMIT {}",
                page.sql(),
                self.limit + 1
            ),
            &page.params(),
        )?;
        let items = rows.iter().map(map).collect::<Result<Vec<T>>>()?;
        Ok(Page::new(items, self, total, id_of))
    }
}

/// `WHERE` conditions with their bound values, built up one at a time. Each condition carries
/// exactly one `?`, bound in order: values never enter the SQL text.
#[derive(Clone, Default)]
pub struct Filter {
    clauses: Vec<String>,
    values: Vec<Value>,
}

impl Filter {
    pub fn new() -> Filter {
        Filter::default()
    }

    /// Adds `condition` (with one `?`) bound to `value`.
    pub fn and(&mut self, condition: &str, value: impl ToSql) -> &mut Filter {
        self.clauses.push(format!("({condition})"));
        self.values.push(value.to_sql());
        self
    }

    /// Adds `condition` when `value` is given.
    pub fn and_opt(&mut self, condition: &str, value: Option<impl ToSql>) -> &mut Filter {
        if let Some(value) = value {
            self.and(condition, value);
        }
        self
    }

    /// ` WHERE a AND b`, or nothing.
    pub fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    pub fn params(&self) -> Vec<&dyn ToSql> {
        self.values.iter().map(|v| v as &dyn ToSql).collect()
    }
}

/// The JSON Schema of a [`Page`] of `item`, for a list route's [`crate::Route::response`].
pub fn page_schema(item: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "required": ["data", "has_more", "next_cursor", "total_count"],
        "properties": {
            "data": {"type": "array", "items": item},
            "has_more": {"type": "boolean"},
            "next_cursor": {"type": ["string", "null"]},
            "total_count": {"type": "integer"}
        }
    })
}

/// The standard list envelope: `{"data", "has_more", "next_cursor", "total_count"}`.
#[derive(Serialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub has_more: bool,
    pub next_cursor: Option<String>,
    pub total_count: i64,
}

impl<T> Page<T> {
    /// From up to `limit + 1` items fetched newest first (the extra one tells there is more).
    pub fn new(
        mut items: Vec<T>,
        request: &PageRequest,
        total_count: i64,
        id_of: impl Fn(&T) -> String,
    ) -> Page<T> {
        let has_more = items.len() > request.limit as usize;
        items.truncate(request.limit as usize);
        let next_cursor = has_more
            .then(|| items.last().map(|i| encode_cursor(&id_of(i))))
            .flatten();
        Page {
            data: items,
            has_more,
            next_cursor,
            total_count,
        }
    }
}

fn encode_cursor(id: &str) -> String {
    id.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_cursor(c: &str) -> Option<String> {
    if !c.len().is_multiple_of(2) || c.is_empty() {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..c.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(c.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// `YYYY-MM-DDTHH:MM:SS[.fff…](Z|±HH:MM)` to milliseconds since the epoch.
pub(crate) fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month[(month - 1) as usize]
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut ms = 0;
    if b.get(i) == Some(&b'.') {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let frac = &s[i + 1..i + 1 + digits.min(3)];
        ms = frac.parse::<i64>().ok()? * 10_i64.pow(3 - frac.len() as u32);
        i += 1 + digits;
    }
    let offset_min = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let (h, m) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            if *sign == b'+' {
                h * 60 + m
            } else {
                -(h * 60 + m)
            }
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset_min * 60) * 1000 + ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        for (text, normal) in [
            ("2026-05-29T00:00:00Z", "2026-05-29T00:00:00.000Z"),
            ("2026-05-29T10:11:12.5+02:00", "2026-05-29T08:11:12.500Z"),
            ("2024-02-29T23:59:59.123456Z", "2024-02-29T23:59:59.123Z"),
            ("1970-01-01T00:00:00-00:30", "1970-01-01T00:30:00.000Z"),
        ] {
            assert_eq!(rfc3339(parse_rfc3339(text).unwrap()), normal, "{text}");
        }
        for bad in [
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2026-05-29",
            "2026-05-29T00:00:00",
            "2026-05-29T00:00:00.Z",
        ] {
            assert!(parse_rfc3339(bad).is_none(), "{bad}");
        }
    }
}

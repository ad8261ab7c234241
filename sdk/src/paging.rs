use serde::Serialize;

use crate::{Ctx, Error, Result};

/// `limit` (1..=100, default 20) and `cursor` from the query.
pub struct PageRequest {
    pub limit: u32,
    /// The id after which (in newest-first order) the page starts.
    pub after: Option<String>,
}

impl PageRequest {
    pub fn from(cx: &Ctx) -> Result<PageRequest> {
        let limit = match cx.query("limit") {
            None => 20,
            Some(l) => l
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| Error::validation("limit", "must be a whole number from 1 to 100"))?,
        };
        let after = match cx.query("cursor") {
            None => None,
            Some(c) => Some(decode_cursor(&c).ok_or_else(|| {
                Error::bad_request("invalid_cursor", "The cursor is not one this list issued.")
            })?),
        };
        Ok(PageRequest { limit, after })
    }
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
    pub fn new(mut items: Vec<T>, request: &PageRequest, total_count: i64, id_of: impl Fn(&T) -> String) -> Page<T> {
        let has_more = items.len() > request.limit as usize;
        items.truncate(request.limit as usize);
        let next_cursor = has_more.then(|| items.last().map(|i| encode_cursor(&id_of(i)))).flatten();
        Page { data: items, has_more, next_cursor, total_count }
    }
}

fn encode_cursor(id: &str) -> String {
    id.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_cursor(c: &str) -> Option<String> {
    if c.len() % 2 != 0 || c.is_empty() {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..c.len()).step_by(2).map(|i| u8::from_str_radix(c.get(i..i + 2)?, 16).ok()).collect();
    String::from_utf8(bytes?).ok()
}

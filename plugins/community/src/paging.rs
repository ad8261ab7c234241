//! Seed 001's paging: `?limit=20&offset=0` (default 20, at most 100), answered with the total.

use mobieus_sdk::prelude::*;
use mobieus_sdk::ToSql;

/// A page of a list: its items, how many there are in all, and where the page starts.
#[derive(Serialize, JsonSchema)]
pub struct OffsetPage<T> {
    pub data: Vec<T>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

/// `limit` and `offset` as asked.
pub struct Window {
    pub limit: i64,
    pub offset: i64,
}

impl Window {
    /// From the query: `limit` 1 to 100 (more is taken as 100), `offset` 0 or more.
    pub fn of(cx: &Ctx) -> Result<Window> {
        let number = |name: &str, default: i64| -> Result<i64> {
            match cx.query(name) {
                None => Ok(default),
                Some(v) => v.parse::<i64>().map_err(|_| Error::validation(name, "must be a whole number")),
            }
        };
        let limit = number("limit", 20)?;
        let offset = number("offset", 0)?;
        if limit < 1 {
            return Err(Error::validation("limit", "must be at least 1"));
        }
        if offset < 0 {
            return Err(Error::validation("offset", "must be 0 or more"));
        }
        Ok(Window { limit: limit.min(100), offset })
    }

    /// The page of `select` (a query over `from_where`, without ORDER BY / LIMIT) in `order`,
    /// with the count of `from_where`.
    pub fn fetch<T>(
        &self,
        cx: &Ctx,
        columns: &str,
        from_where: &str,
        order: &str,
        params: &[&dyn ToSql],
        row: impl Fn(&mobieus_sdk::Row) -> Result<T>,
    ) -> Result<OffsetPage<T>> {
        let total: i64 = cx
            .db()
            .query_one(&format!("SELECT COUNT(*) AS n FROM {from_where}"), params)?
            .map(|r| r.get("n"))
            .transpose()?
            .unwrap_or(0);
        let mut all: Vec<&dyn ToSql> = params.to_vec();
        all.push(&self.limit);
        all.push(&self.offset);
        let n = params.len();
        let sql = format!("SELECT {columns} FROM {from_where} ORDER BY {order} LIMIT ?{} OFFSET ?{}", n + 1, n + 2);
        let data = cx.db().query(&sql, &all)?.iter().map(&row).collect::<Result<_>>()?;
        Ok(OffsetPage { data, total, limit: self.limit, offset: self.offset })
    }
}

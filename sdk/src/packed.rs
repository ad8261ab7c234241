//! The guest side of contract 1.1's lean path: the request `handle-packed` receives and the rows
//! `db.query-packed` returns, each one buffer. The layout is in `wit/since_v1.1.0/plugin.wit`;
//! the host's `host/src/plugins/packed.rs` writes it, and both test against the same bytes.

use crate::bindings::mobieus::plugin::types::{self as wit, SqlValue};

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u32(&mut self) -> Option<usize> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?) as usize)
    }

    fn bytes(&mut self) -> Option<Vec<u8>> {
        let n = self.u32()?;
        Some(self.take(n)?.to_vec())
    }

    fn string(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?).ok()
    }

    fn pairs(&mut self) -> Option<Vec<(String, String)>> {
        let n = self.u32()?;
        (0..n)
            .map(|_| Some((self.string()?, self.string()?)))
            .collect()
    }

    fn value(&mut self) -> Option<SqlValue> {
        let tag = self.take(1)?[0];
        Some(match tag {
            0 => SqlValue::Null,
            1 => SqlValue::Integer(i64::from_le_bytes(self.take(8)?.try_into().ok()?)),
            2 => SqlValue::Real(f64::from_le_bytes(self.take(8)?.try_into().ok()?)),
            3 => SqlValue::Text(self.string()?),
            4 => SqlValue::Blob(self.bytes()?),
            _ => return None,
        })
    }
}

/// The request `handle-packed` was given; `None` if the bytes are not one.
pub fn request(bytes: &[u8]) -> Option<wit::Request> {
    let mut r = Reader(bytes);
    let (method, path, route) = (r.string()?, r.string()?, r.string()?);
    let params = r.pairs()?;
    let query = r.string()?;
    let headers = r
        .pairs()?
        .into_iter()
        .map(|(name, value)| wit::Header { name, value })
        .collect();
    let body = r.bytes()?;
    let key_id = r.string()?;
    let scopes = (0..r.u32()?)
        .map(|_| r.string())
        .collect::<Option<Vec<_>>>()?;
    let (env, tenant, request_id) = (r.string()?, r.string()?, r.string()?);
    Some(wit::Request {
        method,
        path,
        route,
        params,
        query,
        headers,
        body,
        caller: wit::Caller {
            key_id,
            scopes,
            env,
            tenant,
        },
        request_id,
    })
}

/// Column names and rows from `db.query-packed`; `None` if the bytes are not that.
pub fn rows(bytes: &[u8]) -> Option<(Vec<String>, Vec<Vec<SqlValue>>)> {
    let mut r = Reader(bytes);
    let columns = (0..r.u32()?)
        .map(|_| r.string())
        .collect::<Option<Vec<_>>>()?;
    let n = r.u32()?;
    let mut rows = Vec::with_capacity(n);
    for _ in 0..n {
        rows.push(
            (0..columns.len())
                .map(|_| r.value())
                .collect::<Option<Vec<_>>>()?,
        );
    }
    Some((columns, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes the host's `packed::tests` writes: change both or neither.
    const GOLDEN_REQUEST: &str = "03000000474554060000002f782f616263060000002f782f7b697d010000000200000069640300000061626303000000713d310100000004000000686f73740100000068020000006869010000006b0100000001000000730400000074657374010000007400000000";

    #[test]
    fn the_hosts_request_bytes_read_back() {
        let bytes: Vec<u8> = (0..GOLDEN_REQUEST.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&GOLDEN_REQUEST[i..i + 2], 16).unwrap())
            .collect();
        let r = request(&bytes).expect("a packed request");
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.route.as_str()),
            ("GET", "/x/abc", "/x/{i}")
        );
        assert_eq!(r.params, vec![("id".to_owned(), "abc".to_owned())]);
        assert_eq!(r.query, "q=1");
        assert_eq!(
            (r.headers[0].name.as_str(), r.headers[0].value.as_str()),
            ("host", "h")
        );
        assert_eq!(r.body, b"hi");
        assert_eq!(r.caller.scopes, vec!["s".to_owned()]);
        assert_eq!(
            (
                r.caller.key_id.as_str(),
                r.caller.env.as_str(),
                r.caller.tenant.as_str()
            ),
            ("k", "test", "t")
        );
        assert!(request(&bytes[..bytes.len() - 1]).is_none());
    }

    #[test]
    fn rows_read_back() {
        let mut b = vec![];
        let s = |s: &[u8], b: &mut Vec<u8>| {
            b.extend_from_slice(&(s.len() as u32).to_le_bytes());
            b.extend_from_slice(s);
        };
        b.extend_from_slice(&2u32.to_le_bytes());
        s(b"id", &mut b);
        s(b"name", &mut b);
        b.extend_from_slice(&1u32.to_le_bytes());
        b.push(1);
        b.extend_from_slice(&7i64.to_le_bytes());
        b.push(3);
        s(b"Ada", &mut b);
        let (columns, rows) = rows(&b).unwrap();
        assert_eq!(columns, vec!["id", "name"]);
        assert!(matches!(rows[0][0], SqlValue::Integer(7)));
        assert!(matches!(&rows[0][1], SqlValue::Text(t) if t == "Ada"));
    }
}

//! Contract 1.1's lean path: a request lowered into the guest as one buffer (`handle-packed`)
//! and a query's rows lifted into it as one (`db.query-packed`), instead of one guest allocation
//! per string, each a call into the guest's allocator. The layout is written once, in
//! `wit/since_v1.1.0/plugin.wit`; the SDK's `sdk/src/packed.rs` is the other side, and both test
//! against the same bytes.

use crate::plugins::bindings::types::{Request, SqlValue};

/// A buffer being packed.
#[derive(Default)]
pub struct Packer(pub Vec<u8>);

impl Packer {
    pub fn with_capacity(n: usize) -> Packer {
        Packer(Vec::with_capacity(n))
    }

    pub fn u32(&mut self, n: usize) {
        self.0.extend_from_slice(&(n as u32).to_le_bytes());
    }

    pub fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len());
        self.0.extend_from_slice(b);
    }

    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    fn pairs<'a>(&mut self, pairs: impl ExactSizeIterator<Item = (&'a str, &'a str)>) {
        self.u32(pairs.len());
        for (k, v) in pairs {
            self.str(k);
            self.str(v);
        }
    }

    pub fn value(&mut self, v: &SqlValue) {
        match v {
            SqlValue::Null => self.0.push(0),
            SqlValue::Integer(i) => {
                self.0.push(1);
                self.0.extend_from_slice(&i.to_le_bytes());
            }
            SqlValue::Real(r) => {
                self.0.push(2);
                self.0.extend_from_slice(&r.to_le_bytes());
            }
            SqlValue::Text(t) => {
                self.0.push(3);
                self.str(t);
            }
            SqlValue::Blob(b) => {
                self.0.push(4);
                self.bytes(b);
            }
        }
    }
}

/// The request as `handle-packed` takes it.
pub fn request(r: &Request) -> Vec<u8> {
    let strings = r.method.len()
        + r.path.len()
        + r.route.len()
        + r.query.len()
        + r.body.len()
        + r.headers
            .iter()
            .map(|h| h.name.len() + h.value.len() + 8)
            .sum::<usize>()
        + 256;
    let mut p = Packer::with_capacity(strings);
    p.str(&r.method);
    p.str(&r.path);
    p.str(&r.route);
    p.pairs(r.params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    p.str(&r.query);
    p.pairs(
        r.headers
            .iter()
            .map(|h| (h.name.as_str(), h.value.as_str())),
    );
    p.bytes(&r.body);
    p.str(&r.caller.key_id);
    p.u32(r.caller.scopes.len());
    for scope in &r.caller.scopes {
        p.str(scope);
    }
    p.str(&r.caller.env);
    p.str(&r.caller.tenant);
    p.str(&r.request_id);
    p.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::bindings::types::{Caller, Header};

    /// The same bytes `sdk/src/packed.rs` reads in its test: change both or neither.
    pub const GOLDEN_REQUEST: &str = "03000000474554060000002f782f616263060000002f782f7b697d010000000200000069640300000061626303000000713d310100000004000000686f73740100000068020000006869010000006b0100000001000000730400000074657374010000007400000000";

    #[test]
    fn a_request_packs_as_the_sdk_reads_it() {
        let r = Request {
            method: "GET".into(),
            path: "/x/abc".into(),
            route: "/x/{i}".into(),
            params: vec![("id".into(), "abc".into())],
            query: "q=1".into(),
            headers: vec![Header {
                name: "host".into(),
                value: "h".into(),
            }],
            body: b"hi".to_vec(),
            caller: Caller {
                key_id: "k".into(),
                scopes: vec!["s".into()],
                env: "test".into(),
                tenant: "t".into(),
            },
            request_id: "".into(),
        };
        let hex: String = request(&r).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, GOLDEN_REQUEST);
    }
}

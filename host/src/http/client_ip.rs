//! The client's address: the peer's, unless the peer is a proxy the operator trusts
//! (`--trusted-proxy CIDR`). Then it is the nearest address in `Forwarded` (RFC 7239) or, without
//! that header, `X-Forwarded-For`, that is not itself a trusted proxy: read from the right, since
//! everything left of the last trusted hop was written by whoever sent the request. From any other
//! peer both headers are ignored, so a client cannot choose the address it is limited by.
//!
//! The address is the key's last-used IP, the rate-limit bucket of anonymous callers of public
//! routes, and the console's login throttle.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

/// The client's address, as resolved for this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The ranges of the proxies whose forwarding headers count.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<[IpNet]>);

impl TrustedProxies {
    pub fn new(ranges: Vec<IpNet>) -> Self {
        TrustedProxies(ranges.into())
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address for a request from `peer` with `headers`.
    pub fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let hops = forwarded_for(headers);
        match hops.iter().rev().find(|hop| !self.trusts(**hop)) {
            Some(client) => *client,
            // Every hop is a proxy of ours: the farthest one is as near the client as we know.
            None => hops.first().copied().unwrap_or(peer),
        }
    }
}

/// Puts [`ClientIp`] in the request's extensions.
pub async fn client_ip(
    State(trusted): State<TrustedProxies>,
    mut req: Request,
    next: Next,
) -> Response {
    if let Some(peer) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
        let ip = trusted.resolve(peer.0.ip(), req.headers());
        req.extensions_mut().insert(ClientIp(ip));
    }
    next.run(req).await
}

/// The request's client address as a string (empty when unknown: an in-process call).
pub fn of(extensions: &axum::http::Extensions) -> String {
    extensions
        .get::<ClientIp>()
        .map(|c| c.0.to_string())
        .unwrap_or_default()
}

/// The addresses the forwarding headers name, nearest the client first. `Forwarded` wins when
/// present; an element that is not an address (`unknown`, an obfuscated `_name`) ends the list
/// there, since what lies beyond it cannot be told apart.
fn forwarded_for(headers: &HeaderMap) -> Vec<IpAddr> {
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let hops: Vec<Option<IpAddr>> = if forwarded.is_empty() {
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|hop| parse_node(hop.trim()))
            .collect()
    } else {
        forwarded
            .iter()
            .flat_map(|v| v.split(','))
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.trim().split_once('='))
                    .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, node)| parse_node(node.trim().trim_matches('"')))
            })
            .collect()
    };
    // Read from the right: the hops after the last unreadable one.
    let readable = hops
        .iter()
        .rposition(Option::is_none)
        .map_or(&hops[..], |i| &hops[i + 1..]);
    readable.iter().flatten().copied().map(canonical).collect()
}

/// `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]:4711`, `2001:db8::1`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    node.strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|ip| ip.parse().ok())
}

/// An IPv4 address the dual-stack listener saw as `::ffff:a.b.c.d` is `a.b.c.d`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies_and_are_read_from_the_right() {
        let proxies = TrustedProxies::new(vec![
            "10.0.0.0/8".parse().unwrap(),
            "::1/128".parse().unwrap(),
        ]);
        let none = TrustedProxies::default();
        /// Trusted ranges, peer, headers, the client it resolves to.
        type Case<'a> = (
            &'a TrustedProxies,
            &'a str,
            &'a [(&'static str, &'a str)],
            &'a str,
        );
        let cases: &[Case] = &[
            // A stranger's headers are ignored.
            (
                &proxies,
                "203.0.113.9",
                &[("x-forwarded-for", "1.2.3.4")],
                "203.0.113.9",
            ),
            (
                &none,
                "10.0.0.1",
                &[("x-forwarded-for", "1.2.3.4")],
                "10.0.0.1",
            ),
            // One proxy of ours.
            (
                &proxies,
                "10.0.0.1",
                &[("x-forwarded-for", "198.51.100.7")],
                "198.51.100.7",
            ),
            // The client prepended a lie: the rightmost untrusted hop wins.
            (
                &proxies,
                "10.0.0.1",
                &[("x-forwarded-for", "1.2.3.4, 198.51.100.7")],
                "198.51.100.7",
            ),
            // Two proxies of ours, over two header lines.
            (
                &proxies,
                "10.0.0.1",
                &[
                    ("x-forwarded-for", "198.51.100.7"),
                    ("x-forwarded-for", "10.0.0.2"),
                ],
                "198.51.100.7",
            ),
            // RFC 7239, with a port and IPv6; it wins over X-Forwarded-For.
            (
                &proxies,
                "::1",
                &[
                    (
                        "forwarded",
                        r#"for="[2001:db8:cafe::17]:4711";proto=https, for=10.0.0.3"#,
                    ),
                    ("x-forwarded-for", "1.2.3.4"),
                ],
                "2001:db8:cafe::17",
            ),
            (
                &proxies,
                "10.0.0.1",
                &[("forwarded", "for=192.0.2.43:47011")],
                "192.0.2.43",
            ),
            // Beyond an unreadable hop nothing counts; all-trusted gives the farthest.
            (
                &proxies,
                "10.0.0.1",
                &[("forwarded", "for=1.2.3.4, for=unknown")],
                "10.0.0.1",
            ),
            (
                &proxies,
                "10.0.0.1",
                &[("x-forwarded-for", "10.0.0.9, 10.0.0.8")],
                "10.0.0.9",
            ),
            // No header from a proxy: the proxy.
            (&proxies, "10.0.0.1", &[], "10.0.0.1"),
            // A mapped IPv4 peer is its IPv4 address.
            (
                &proxies,
                "::ffff:10.0.0.1",
                &[("x-forwarded-for", "198.51.100.7")],
                "198.51.100.7",
            ),
        ];
        for (trusted, peer, pairs, expected) in cases {
            assert_eq!(
                trusted.resolve(ip(peer), &headers(pairs)),
                ip(expected),
                "{peer} {pairs:?}"
            );
        }
    }
}

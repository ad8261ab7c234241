//! Which tenant a request is for: the first label of the Host under the base domain
//! (`acme.localhost:8080` → `acme` with base domain `localhost`).

use axum::http::{HeaderMap, Uri, header};

/// The slug of the tenant a request is for, if its host is `<label>.<base_domain>` (any port):
/// the label, lowercased (hosts are case-insensitive, slugs are lowercase).
pub fn tenant_slug(headers: &HeaderMap, uri: &Uri, base_domain: &str) -> Option<String> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.host())?;
    label_of(host, base_domain).map(str::to_ascii_lowercase)
}

fn label_of<'a>(host: &'a str, base_domain: &str) -> Option<&'a str> {
    let host = strip_port(host);
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.len() <= base_domain.len() + 1 {
        return None;
    }
    let (label, rest) = host.split_at(host.len() - base_domain.len() - 1);
    let base_matches = rest.as_bytes()[0] == b'.' && rest[1..].eq_ignore_ascii_case(base_domain);
    (base_matches && !label.contains('.')).then_some(label)
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host; // an IPv6 literal is never a tenant
    }
    host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(label_of("acme.localhost:8080", "localhost"), Some("acme"));
        assert_eq!(label_of("acme.localhost", "localhost"), Some("acme"));
        assert_eq!(label_of("acme.localhost.", "localhost"), Some("acme"));
        assert_eq!(label_of("Acme.LOCALHOST", "localhost"), Some("Acme"));
        assert_eq!(label_of("acme.example.org", "example.org"), Some("acme"));
        assert_eq!(label_of("localhost:8080", "localhost"), None);
        assert_eq!(label_of("a.b.localhost", "localhost"), None);
        assert_eq!(label_of("acmelocalhost", "localhost"), None);
        assert_eq!(label_of("acme.evil.com", "localhost"), None);
        assert_eq!(label_of("127.0.0.1:8080", "localhost"), None);
        assert_eq!(label_of("[::1]:8080", "localhost"), None);
    }
}

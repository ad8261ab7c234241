//! Which tenant a request is for: the first label of the Host under the base domain
//! (`acme.localhost:8080` → `acme` with base domain `localhost`), or a host name of the tenant's
//! own (`mobieus tenant domain add acme community.example.org`). Under
//! `/api/v1/communities/{tag}/`, the Cobuntu-compatible surface, the path names it instead, on
//! any host, as that API's clients expect ([`community_of_path`]).

use axum::http::{HeaderMap, Uri, header};
use tenants::Registry;

/// The slug of the tenant a request is for: if its host is `<label>.<base_domain>` (any port),
/// the label, lowercased (hosts are case-insensitive, slugs are lowercase); otherwise the tenant
/// whose own domain it is. Blocking only for a host outside the base domain (the registry's
/// in-memory copy, revalidated with one pragma).
pub fn tenant_slug(
    headers: &HeaderMap,
    uri: &Uri,
    base_domain: &str,
    registry: &Registry,
) -> Option<String> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.host())?;
    if let Some(label) = label_of(host, base_domain) {
        return Some(label.to_ascii_lowercase());
    }
    let name = strip_port(host);
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    // Not a name a tenant can own: no lookup.
    if name.eq_ignore_ascii_case(base_domain)
        || name.starts_with('[')
        || !name.contains('.')
        || name.parse::<std::net::IpAddr>().is_ok()
    {
        return None;
    }
    let tenant = registry.get_by_domain(&name).ok().flatten()?;
    Some(tenant.slug.to_string())
}

/// The tenant a `/api/v1/communities/{tag}/…` path names: its `tag`, lowercased.
pub fn community_of_path(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/api/v1/communities/")?;
    let tag = rest.split('/').next().filter(|t| !t.is_empty())?;
    Some(tag.to_ascii_lowercase())
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
    fn a_community_path_names_its_tenant() {
        assert_eq!(
            community_of_path("/api/v1/communities/Acme/events").as_deref(),
            Some("acme")
        );
        assert_eq!(
            community_of_path("/api/v1/communities/acme").as_deref(),
            Some("acme")
        );
        assert_eq!(community_of_path("/api/v1/communities/"), None);
        assert_eq!(community_of_path("/api/v1/events"), None);
    }

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

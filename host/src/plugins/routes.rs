//! Path templates: `/api/v1/guestbook/entries/{id}`.

/// The namespace a path or template lies in: its first segment after `/api/v1/`. Manifest
/// validation and the route lookup both ask here, so they agree on who owns a path.
pub fn namespace(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/api/v1/")?;
    rest.split('/').next()
}

/// Matches `path` against `template`; the named parameters if it matches, percent-decoded (a
/// segment that does not decode to UTF-8 matches nothing).
pub fn matches(template: &str, path: &str) -> Option<Vec<(String, String)>> {
    let mut params = Vec::new();
    let mut t = template.split('/');
    let mut p = path.split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some(params),
            (Some(ts), Some(ps)) => {
                if let Some(name) = ts.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
                    if ps.is_empty() {
                        return None;
                    }
                    let value = percent_encoding::percent_decode_str(ps)
                        .decode_utf8()
                        .ok()?;
                    params.push((name.to_owned(), value.into_owned()));
                } else if ts != ps {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

/// Whether two templates can match the same path.
pub fn overlap(a: &str, b: &str) -> bool {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.split('/').collect(), b.split('/').collect());
    a.len() == b.len()
        && a.iter()
            .zip(&b)
            .all(|(x, y)| x == y || x.starts_with('{') || y.starts_with('{'))
}

/// A well-formed template: `/api/v1/` then segments of `a-z 0-9 _ -` or `{name}`.
pub fn valid(template: &str) -> bool {
    let Some(rest) = template.strip_prefix("/api/v1/") else {
        return false;
    };
    !rest.is_empty()
        && rest.split('/').all(|seg| {
            let param = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}'));
            let word = |s: &str| {
                !s.is_empty()
                    && s.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                    })
            };
            match param {
                Some(name) => word(name),
                None => word(seg),
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces() {
        assert_eq!(namespace("/api/v1/gb/entries/{id}"), Some("gb"));
        assert_eq!(namespace("/api/v1/gb"), Some("gb"));
        assert_eq!(namespace("/api/v1/"), Some(""));
        assert_eq!(namespace("/healthz"), None);
        assert_eq!(namespace("/api/v2/gb"), None);
    }

    #[test]
    fn templates() {
        assert_eq!(
            matches("/api/v1/gb/entries/{id}", "/api/v1/gb/entries/x1"),
            Some(vec![("id".into(), "x1".into())])
        );
        assert_eq!(
            matches("/api/v1/gb/entries", "/api/v1/gb/entries"),
            Some(vec![])
        );
        assert_eq!(
            matches("/api/v1/gb/entries/{id}", "/api/v1/gb/entries/"),
            None
        );
        assert_eq!(
            matches("/api/v1/gb/entries/{id}", "/api/v1/gb/entries/x/y"),
            None
        );
        // Decoded, as a client encodes them; an escape that is no UTF-8 matches nothing.
        assert_eq!(
            matches(
                "/api/v1/gb/entries/{id}",
                "/api/v1/gb/entries/MUG%2D1%2Fa%20b"
            ),
            Some(vec![("id".into(), "MUG-1/a b".into())])
        );
        assert_eq!(
            matches("/api/v1/gb/entries/{id}", "/api/v1/gb/entries/%FF"),
            None
        );
        assert!(overlap("/api/v1/a/{id}", "/api/v1/a/new"));
        assert!(!overlap("/api/v1/a/{id}", "/api/v1/a/b/c"));
        assert!(valid("/api/v1/gb/entries/{id}"));
        for bad in [
            "/api/v2/x",
            "/api/v1/",
            "/api/v1/X",
            "/api/v1/a//b",
            "/api/v1/{}",
        ] {
            assert!(!valid(bad), "{bad}");
        }
    }
}

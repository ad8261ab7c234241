//! Plugin list cursors, sealed by the host as its own are ([`crate::paging::CursorKey`]). A
//! plugin pages with whatever cursor it likes (the SDK's is the last id seen); a client only ever
//! sees it signed and bound to the plugin, the route and the list's other query parameters, and a
//! forged, altered or foreign cursor is 400 `invalid_cursor` before the plugin runs. It needs
//! nothing of the plugin, so plugins built against contract 1.0 get it too.

use std::borrow::Cow;

use serde::Deserialize;

use crate::error::{ApiError, Result};
use crate::paging::CursorKey;

/// What a cursor is bound to: the plugin, its route, and every query parameter but `cursor` and
/// `limit` (which may change from page to page).
pub fn binding(plugin: &str, route: &str, query: &str) -> String {
    let mut pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> =
        url::form_urlencoded::parse(query.as_bytes())
            .filter(|(name, _)| name != "cursor" && name != "limit")
            .collect();
    pairs.sort();
    let mut scope = format!("plugin:{plugin}:{route}");
    for (name, value) in pairs {
        scope.push('\n');
        scope.push_str(&name);
        scope.push('=');
        scope.push_str(&value);
    }
    scope
}

/// The query the plugin sees: `cursor` opened to the plugin's own value. `None` when the query
/// has no cursor (it passes as it is).
pub fn open(key: &CursorKey, plugin: &str, route: &str, query: &str) -> Result<Option<String>> {
    if !query.split('&').any(|pair| pair.starts_with("cursor=")) {
        return Ok(None);
    }
    let scope = binding(plugin, route, query);
    let mut opened = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if name == "cursor" {
            let inner = key.verify(&scope, &value).ok_or_else(invalid_cursor)?;
            opened.append_pair(&name, &inner);
        } else {
            opened.append_pair(&name, &value);
        }
    }
    Ok(Some(opened.finish()))
}

fn invalid_cursor() -> ApiError {
    ApiError::bad_request(
        "invalid_cursor",
        "The cursor is not one this list issued (or the filters changed).",
    )
    .with("field", "cursor")
}

const KEY: &[u8] = b"\"next_cursor\"";

/// Seals the top-level `next_cursor` of a JSON answer, if it has a string one. Most answers are
/// not pages with more to come and cost one substring search.
pub fn seal(key: &CursorKey, plugin: &str, route: &str, query: &str, body: Vec<u8>) -> Vec<u8> {
    if memchr::memmem::find(&body, KEY).is_none() {
        return body;
    }
    #[derive(Deserialize)]
    struct Top<'a> {
        #[serde(borrow, default)]
        next_cursor: Option<Cow<'a, str>>,
    }
    let Ok(Top {
        next_cursor: Some(inner),
    }) = serde_json::from_slice::<Top>(&body)
    else {
        return body;
    };
    let sealed = key.sign(&binding(plugin, route, query), &inner);
    // The SDK writes `"next_cursor":"<hex>"` once, at the top: splice it in place. Anything else
    // (whitespace, escapes, the key also inside an item) takes the slow, exact path.
    let exact = [KEY, b":\"", inner.as_bytes(), b"\""].concat();
    let mut found = memchr::memmem::find_iter(&body, &exact);
    if let (Some(at), None) = (found.next(), found.next()) {
        let mut out = Vec::with_capacity(body.len() + sealed.len());
        out.extend_from_slice(&body[..at + KEY.len() + 1]);
        out.extend_from_slice(
            serde_json::to_string(&sealed)
                .unwrap_or_default()
                .as_bytes(),
        );
        out.extend_from_slice(&body[at + exact.len()..]);
        return out;
    }
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return body;
    };
    value["next_cursor"] = sealed.into();
    serde_json::to_vec(&value).unwrap_or(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CursorKey {
        CursorKey::new([9; 32])
    }

    #[test]
    fn a_sealed_cursor_opens_for_its_own_list_only() {
        let page = br#"{"data":[{"id":"x","next_cursor":"y"}],"has_more":true,"next_cursor":"6c5f31","total_count":3}"#;
        let route = "/api/v1/listings";
        let body = seal(&key(), "market", route, "status=active", page.to_vec());
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let token = value["next_cursor"].as_str().unwrap().to_owned();
        assert_ne!(token, "6c5f31");
        assert_eq!(
            value["data"][0]["next_cursor"], "y",
            "an item's field is left alone"
        );
        let query = format!("status=active&limit=5&cursor={token}");
        let opened = open(&key(), "market", route, &query).unwrap().unwrap();
        assert_eq!(opened, "status=active&limit=5&cursor=6c5f31");
        for (plugin, route, query) in [
            ("market", route, format!("status=sold&cursor={token}")),
            (
                "market",
                "/api/v1/other",
                format!("status=active&cursor={token}"),
            ),
            ("moderation", route, format!("status=active&cursor={token}")),
            ("market", route, "status=active&cursor=6c5f31".to_owned()),
            ("market", route, format!("status=active&cursor={token}x")),
        ] {
            let refused = open(&key(), plugin, route, &query).unwrap_err();
            assert_eq!(refused.code, "invalid_cursor", "{plugin} {route} {query}");
        }
        assert_eq!(
            open(&key(), "market", route, "status=active").unwrap(),
            None
        );
    }

    #[test]
    fn answers_without_a_next_page_pass_as_they_are() {
        for body in [
            &br#"{"data":[],"has_more":false,"next_cursor":null,"total_count":0}"#[..],
            br#"{"id":"lst_1"}"#,
            b"not json \"next_cursor\":",
        ] {
            assert_eq!(seal(&key(), "market", "/x", "", body.to_vec()), body);
        }
        let spaced = br#"{ "next_cursor" : "ab", "has_more": true }"#;
        let sealed = seal(&key(), "market", "/x", "", spaced.to_vec());
        let value: serde_json::Value = serde_json::from_slice(&sealed).unwrap();
        assert_eq!(
            key().verify(
                &binding("market", "/x", ""),
                value["next_cursor"].as_str().unwrap()
            ),
            Some("ab".into())
        );
    }
}

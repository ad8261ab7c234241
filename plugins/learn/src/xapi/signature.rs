//! Signed statements (xAPI 1.0.3 Data 2.6): the signature is an attachment holding a JWS in
//! compact form, signed with RS256, RS384 or RS512, whose payload is the statement as it was
//! before the signature was attached. The LRS checks that shape and that payload; it cannot
//! check the signature itself without the signer's key, which 1.0.3 leaves optional (`x5c`).

use base64::Engine;
use mobieus_sdk::json::{self, Value};

pub const USAGE_TYPE: &str = "http://adlnet.gov/expapi/attachments/signature";

/// Whether `jws` is a well-formed RS-signed JWS whose payload is `statement` (set aside what
/// the LRS sets and the attachments).
pub fn verify(jws: &[u8], statement: &Value) -> Result<(), String> {
    let text = std::str::from_utf8(jws).map_err(|_| "The signature is not a JWS (not text).".to_owned())?;
    let parts: Vec<&str> = text.trim().split('.').collect();
    let [header, payload, signature] = parts.as_slice() else {
        return Err("The signature is not a JWS in compact form.".into());
    };
    let decode = |part: &str, what: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part.trim_end_matches('='))
            .map_err(|_| format!("The signature's {what} is not base64url."))
    };
    let header: Value = json::from_slice(&decode(header, "header")?).map_err(|_| "The signature's header is not JSON.".to_owned())?;
    match header.get("alg").and_then(Value::as_str) {
        Some("RS256" | "RS384" | "RS512") => {}
        _ => return Err("A statement signature's algorithm is RS256, RS384 or RS512.".into()),
    }
    if decode(signature, "signature")?.is_empty() {
        return Err("The signature is empty.".into());
    }
    let payload: Value = json::from_slice(&decode(payload, "payload")?).map_err(|_| "The signature's payload is not a JSON statement.".to_owned())?;
    if comparable(&payload, &payload) != comparable(statement, &payload) {
        return Err("The signature's payload is not this statement.".into());
    }
    Ok(())
}

/// A statement without what the signature does not cover; `id` only when the payload has one.
fn comparable(s: &Value, payload: &Value) -> Value {
    let mut s = s.clone();
    if let Some(o) = s.as_object_mut() {
        for key in ["attachments", "authority", "stored", "version"] {
            o.remove(key);
        }
        if payload.get("id").is_none() {
            o.remove("id");
        }
        if payload.get("timestamp").is_none() {
            o.remove("timestamp");
        }
    }
    s
}

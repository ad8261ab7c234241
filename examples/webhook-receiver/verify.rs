//! Verifying Mobieus webhook signatures. Self-contained: copy this file.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How old a delivery may be.
pub const TOLERANCE_SECS: i64 = 5 * 60;

#[derive(Debug, PartialEq, Eq)]
pub enum Invalid {
    Malformed,
    TooOld,
    NoMatch,
}

/// Checks `Mobieus-Signature` (`t=<unix>,v1=<hex>[,v1=<hex>...]`) against the raw body.
pub fn mobieus_signature(header: &str, body: &[u8], secret: &str, now: i64) -> Result<(), Invalid> {
    let mut timestamp = None;
    let mut signatures = vec![];
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", sig)) => signatures.push(sig),
            _ => {}
        }
    }
    let t = timestamp.ok_or(Invalid::Malformed)?;
    if signatures.is_empty() {
        return Err(Invalid::Malformed);
    }
    if (now - t).abs() > TOLERANCE_SECS {
        return Err(Invalid::TooOld);
    }
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| Invalid::Malformed)?;
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let matched = signatures
        .iter()
        .any(|sig| bool::from(sig.as_bytes().ct_eq(expected.as_bytes())));
    if matched {
        Ok(())
    } else {
        Err(Invalid::NoMatch)
    }
}

/// Checks the Standard Webhooks headers against the raw body.
pub fn standard_webhooks(
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    secret: &str,
    now: i64,
) -> Result<(), Invalid> {
    let t: i64 = timestamp.parse().map_err(|_| Invalid::Malformed)?;
    if (now - t).abs() > TOLERANCE_SECS {
        return Err(Invalid::TooOld);
    }
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|_| Invalid::Malformed)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| Invalid::Malformed)?;
    mac.update(format!("{id}.{t}.").as_bytes());
    mac.update(body);
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    let matched = signatures
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .any(|sig| bool::from(sig.as_bytes().ct_eq(expected.as_bytes())));
    if matched {
        Ok(())
    } else {
        Err(Invalid::NoMatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const T: i64 = 1614265330;

    #[test]
    fn mobieus_signature_vector() {
        let header =
            "t=1614265330,v1=2e37df5d4a028c51a7f3133d64ae1e300d2c2c900f1b1d49d4369ad2530f8964";
        assert_eq!(mobieus_signature(header, BODY, SECRET, T + 10), Ok(()));
        let rotated = format!(
            "t=1614265330,v1={},v1=2e37df5d4a028c51a7f3133d64ae1e300d2c2c900f1b1d49d4369ad2530f8964",
            "0".repeat(64)
        );
        assert_eq!(mobieus_signature(&rotated, BODY, SECRET, T), Ok(()));
        assert_eq!(
            mobieus_signature(header, b"{}", SECRET, T),
            Err(Invalid::NoMatch)
        );
        assert_eq!(
            mobieus_signature(header, BODY, SECRET, T + 301),
            Err(Invalid::TooOld)
        );
        assert_eq!(
            mobieus_signature("v1=abc", BODY, SECRET, T),
            Err(Invalid::Malformed)
        );
    }

    #[test]
    fn standard_webhooks_vector() {
        let sig = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert_eq!(
            standard_webhooks(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                "1614265330",
                sig,
                BODY,
                SECRET,
                T
            ),
            Ok(())
        );
        assert_eq!(
            standard_webhooks("msg_other", "1614265330", sig, BODY, SECRET, T),
            Err(Invalid::NoMatch)
        );
    }
}

//! Signing. Two schemes on every delivery, so receivers can use existing verifier libraries:
//!
//! - `Mobieus-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, keyed by the
//!   secret string exactly as shown (`whsec_…`): Stripe's scheme.
//! - Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64
//!   HMAC-SHA256(base64-decoded secret, "<id>.<t>.<body>")>`.
//!
//! During a rotation's grace window both secrets sign: two `v1` values in each header.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

pub const SECRET_PREFIX: &str = "whsec_";

/// `whsec_` + base64 of 32 random bytes.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub mobieus_signature: String,
    pub webhook_id: String,
    pub webhook_timestamp: String,
    pub webhook_signature: String,
}

/// Signs `body` (sent as message `message_id` at `timestamp`) with each of `secrets`.
pub fn sign(secrets: &[&str], message_id: &str, timestamp: i64, body: &[u8]) -> Signature {
    let stripe: Vec<String> = secrets
        .iter()
        .map(|s| format!("v1={}", stripe_v1(s, timestamp, body)))
        .collect();
    let standard: Vec<String> = secrets
        .iter()
        .filter_map(|s| standard_v1(s, message_id, timestamp, body))
        .map(|sig| format!("v1,{sig}"))
        .collect();
    Signature {
        mobieus_signature: format!("t={timestamp},{}", stripe.join(",")),
        webhook_id: message_id.to_owned(),
        webhook_timestamp: timestamp.to_string(),
        webhook_signature: standard.join(" "),
    }
}

fn stripe_v1(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn standard_v1(secret: &str, message_id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = STANDARD.decode(secret.strip_prefix(SECRET_PREFIX)?).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(message_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const BODY: &[u8] = br#"{"test": 2432232314}"#;

    #[test]
    fn standard_webhooks_published_vector() {
        let sig = sign(&[SECRET], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, BODY);
        assert_eq!(
            sig.webhook_signature,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert_eq!(sig.webhook_id, "msg_p5jXN8AQM9LWM0D4loKWxJek");
        assert_eq!(sig.webhook_timestamp, "1614265330");
    }

    #[test]
    fn stripe_scheme_vector() {
        // Computed independently: python3 hmac.new(b"whsec_…", b"1614265330.{body}", sha256).
        let sig = sign(&[SECRET], "m", 1614265330, BODY);
        assert_eq!(
            sig.mobieus_signature,
            "t=1614265330,v1=2e37df5d4a028c51a7f3133d64ae1e300d2c2c900f1b1d49d4369ad2530f8964"
        );
    }

    #[test]
    fn two_secrets_sign_during_rotation() {
        let other = new_secret();
        let sig = sign(&[&other, SECRET], "m", 1614265330, BODY);
        assert_eq!(sig.mobieus_signature.matches("v1=").count(), 2);
        assert!(
            sig.mobieus_signature
                .ends_with(",v1=2e37df5d4a028c51a7f3133d64ae1e300d2c2c900f1b1d49d4369ad2530f8964")
        );
        assert_eq!(sig.webhook_signature.split(' ').count(), 2);
    }

    #[test]
    fn secrets_have_the_documented_shape() {
        let s = new_secret();
        assert!(s.starts_with("whsec_"));
        assert_eq!(STANDARD.decode(&s[6..]).unwrap().len(), 32);
    }
}

//! Signed statements (xAPI 1.0.3 Data 2.6): the signature is an attachment holding a JWS in
//! compact form, signed with RS256, RS384 or RS512, whose payload is the statement as it was
//! before the signature was attached. The LRS checks that shape and that payload, and, when the
//! JWS header carries the signer's X.509 certificate (`x5c`), the signature against that
//! certificate's key, as 2.6 requires. Without `x5c` there is no key to check it with: 1.0.3
//! leaves the certificate optional. Whether the certificate is one to trust is not the LRS's
//! call (it holds no trust anchors); what it proves is that the holder of that certificate's
//! key signed this statement.

use base64::Engine;
use mobieus_sdk::json::{self, Value};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256, Sha384, Sha512};
use x509_cert::Certificate;
use x509_cert::der::oid::AssociatedOid;
use x509_cert::der::{Decode, Encode};

/// The largest RSA modulus checked, in bits: enough for any signer (NIST stops at 3072 for new
/// keys), and it bounds what a batch of a thousand signed statements costs to verify.
const MAX_KEY_BITS: usize = 4096;

pub const USAGE_TYPE: &str = "http://adlnet.gov/expapi/attachments/signature";

/// Most certificate-checked signatures one request verifies. A 4,096-bit check costs about
/// 2 ms inside the sandbox, so a thousand would spend the plugin's whole CPU deadline.
pub const MAX_CHECKED: usize = 250;

/// Why a signature was refused.
pub enum Refused {
    /// The signature is malformed, not this statement's, or does not verify (the message says which).
    Invalid(String),
    /// More distinct signatures with certificates than [`MAX_CHECKED`].
    TooMany,
}

impl From<String> for Refused {
    fn from(why: String) -> Self {
        Refused::Invalid(why)
    }
}

/// The signatures of one request. A signature several statements share (the same JWS over
/// identical statements) is verified once.
#[derive(Default)]
pub struct Signatures {
    /// The signing input and signature of each signature verified.
    checked: std::collections::HashSet<(String, Vec<u8>)>,
}

impl Signatures {
    /// Whether `jws` is a well-formed RS-signed JWS whose payload is `statement` (set aside what
    /// the LRS sets and the attachments), signed by the key of its `x5c` certificate if it has one.
    pub fn verify(&mut self, jws: &[u8], statement: &Value) -> Result<(), Refused> {
        let certified = verify_form(jws, statement)?;
        let Some(certified) = certified else {
            return Ok(());
        };
        let key = (certified.input.clone(), certified.signature.clone());
        if !self.checked.contains(&key) {
            if self.checked.len() == MAX_CHECKED {
                return Err(Refused::TooMany);
            }
            certified.check()?;
            self.checked.insert(key);
        }
        Ok(())
    }
}

/// A signature whose JWS carries its signer's certificate, still to be checked against it.
struct Certified {
    certificate: Certificate,
    alg: String,
    /// JWS (RFC 7515 5.2): the header and payload as sent, base64url, joined by a dot.
    input: String,
    signature: Vec<u8>,
}

/// The JWS's form, algorithm and payload; and what its certificate, if it has one, must verify.
fn verify_form(jws: &[u8], statement: &Value) -> Result<Option<Certified>, String> {
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
    let fields: Value = json::from_slice(&decode(header, "header")?).map_err(|_| "The signature's header is not JSON.".to_owned())?;
    let Some(alg @ ("RS256" | "RS384" | "RS512")) = fields.get("alg").and_then(Value::as_str) else {
        return Err("A statement signature's algorithm is RS256, RS384 or RS512.".into());
    };
    let signature_bytes = decode(signature, "signature")?;
    if signature_bytes.is_empty() {
        return Err("The signature is empty.".into());
    }
    let signed: Value = json::from_slice(&decode(payload, "payload")?).map_err(|_| "The signature's payload is not a JSON statement.".to_owned())?;
    if comparable(&signed, &signed) != comparable(statement, &signed) {
        return Err("The signature's payload is not this statement.".into());
    }
    let Some(chain) = fields.get("x5c") else {
        return Ok(None);
    };
    Ok(Some(Certified {
        certificate: signer_certificate(chain)?,
        alg: alg.to_owned(),
        input: format!("{header}.{payload}"),
        signature: signature_bytes,
    }))
}

/// The signer's certificate: the first of `x5c`, a list of base64 (not base64url) DER
/// certificates (RFC 7515 4.1.6).
fn signer_certificate(chain: &Value) -> Result<Certificate, String> {
    let first = match chain.as_array().map(Vec::as_slice) {
        Some([first, ..]) => first.as_str(),
        _ => None,
    };
    let der = first
        .and_then(|text| base64::engine::general_purpose::STANDARD.decode(text).ok())
        .ok_or("The signature's x5c is a list of base64 DER certificates, the signer's first.")?;
    Certificate::from_der(&der).map_err(|_| "The signature's x5c certificate is not an X.509 certificate.".into())
}

impl Certified {
    /// The signature checked with the certificate's RSA key, by the algorithm's hash.
    fn check(&self) -> Result<(), String> {
        let spki = self
            .certificate
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|_| "The signature's certificate has no readable public key.".to_owned())?;
        let signature = Signature::try_from(self.signature.as_slice()).map_err(|_| "The signature is not an RSA signature.".to_owned())?;
        let input = self.input.as_bytes();
        match self.alg.as_str() {
            "RS256" => verify_with::<Sha256>(&spki, input, &signature),
            "RS384" => verify_with::<Sha384>(&spki, input, &signature),
            _ => verify_with::<Sha512>(&spki, input, &signature),
        }
    }
}

fn verify_with<D: Digest + AssociatedOid>(spki: &[u8], input: &[u8], signature: &Signature) -> Result<(), String> {
    let key = VerifyingKey::<D>::from_public_key_der(spki)
        .map_err(|_| "The signature's certificate does not hold an RSA key, which RS256, RS384 and RS512 need.".to_owned())?;
    if key.as_ref().size() * 8 > MAX_KEY_BITS {
        return Err(format!("The signature's certificate holds an RSA key over {MAX_KEY_BITS} bits."));
    }
    key.verify(input, signature)
        .map_err(|_| "The signature does not verify with the key of the certificate in its x5c.".into())
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

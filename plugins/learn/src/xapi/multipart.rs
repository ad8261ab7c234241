//! `multipart/mixed` bodies (RFC 2046 §5.1.3) as xAPI sends statements with their attachments:
//! read with `mailparse` (a body is a MIME entity once its Content-Type is put in front), and
//! written by hand (the format is a few lines).

use sha2::Digest;

/// One part: its type, the attachment hash it claims, its transfer encoding, its bytes.
pub struct Part {
    pub content_type: String,
    pub hash: Option<String>,
    pub transfer_encoding: Option<String>,
    pub body: Vec<u8>,
}

impl Part {
    pub fn json(body: Vec<u8>) -> Part {
        Part { content_type: "application/json".into(), hash: None, transfer_encoding: None, body }
    }

    pub fn attachment(content_type: String, sha2: String, body: Vec<u8>) -> Part {
        Part { content_type, hash: Some(sha2), transfer_encoding: Some("binary".into()), body }
    }

    /// The media type without parameters, lowercased.
    pub fn essence(&self) -> String {
        self.content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
    }
}

/// The parts of a body sent with `content_type` (which names the boundary).
pub fn parse(content_type: &str, body: &[u8]) -> Result<Vec<Part>, String> {
    let mut entity = format!("Content-Type: {content_type}\r\n\r\n").into_bytes();
    entity.extend_from_slice(body);
    let parsed = mailparse::parse_mail(&entity).map_err(|e| format!("The multipart body does not parse: {e}"))?;
    if !parsed.ctype.params.contains_key("boundary") {
        return Err("A multipart/mixed body needs a boundary parameter.".into());
    }
    parsed
        .subparts
        .iter()
        .map(|p| {
            let header = |name: &str| p.headers.iter().find(|h| h.get_key().eq_ignore_ascii_case(name)).map(|h| h.get_value().trim().to_owned());
            Ok(Part {
                content_type: header("Content-Type").unwrap_or_default(),
                hash: header("X-Experience-API-Hash"),
                transfer_encoding: header("Content-Transfer-Encoding"),
                body: p.get_body_raw().map_err(|e| format!("A part's body does not read: {e}"))?,
            })
        })
        .collect()
}

/// The parts as a body with this boundary.
pub fn write(boundary: &str, parts: &[Part]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        out.extend_from_slice(format!("--{boundary}\r\nContent-Type: {}\r\n", part.content_type).as_bytes());
        if let Some(encoding) = &part.transfer_encoding {
            out.extend_from_slice(format!("Content-Transfer-Encoding: {encoding}\r\n").as_bytes());
        }
        if let Some(hash) = &part.hash {
            out.extend_from_slice(format!("X-Experience-API-Hash: {hash}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&part.body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

/// The SHA-2 of `content` in hex, of the size the claimed hash has (224, 256, 384 or 512 bits).
pub fn sha2_hex(claimed: &str, content: &[u8]) -> Option<String> {
    let digest = match claimed.len() {
        56 => sha2::Sha224::digest(content).to_vec(),
        64 => sha2::Sha256::digest(content).to_vec(),
        96 => sha2::Sha384::digest(content).to_vec(),
        128 => sha2::Sha512::digest(content).to_vec(),
        _ => return None,
    };
    Some(super::statements::hex(&digest))
}

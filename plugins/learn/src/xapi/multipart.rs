//! `multipart/mixed` bodies (RFC 2046 §5.1.3) as xAPI sends statements with their attachments:
//! split at the boundary here, each part's headers read with `mailparse`, and written by hand
//! (the format is a few lines).

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

/// The parts of a body sent with `content_type` (which names the boundary). Split at the
/// boundary here, one level only (xAPI's parts are never multipart themselves, and a nested one
/// must not recurse); each part's headers are read by `mailparse`.
pub fn parse(content_type: &str, body: &[u8]) -> Result<Vec<Part>, String> {
    let parsed = mailparse::parse_content_type(content_type);
    let boundary = parsed.params.get("boundary").filter(|b| !b.is_empty()).ok_or("A multipart/mixed body needs a boundary parameter.")?;
    let delimiter = format!("--{boundary}").into_bytes();
    // The first delimiter starts the body or a line of it; each next one starts a line.
    let mut at = if body.starts_with(&delimiter) {
        0
    } else {
        find_line_start(body, &delimiter, 0).ok_or("The multipart body has no boundary line.")?
    };
    let mut parts = Vec::new();
    loop {
        let after = at + delimiter.len();
        if body[after..].starts_with(b"--") {
            return Ok(parts);
        }
        let start = line_end(body, after).ok_or("A boundary line does not end.")?;
        let next = find_line_start(body, &delimiter, start).ok_or("The multipart body does not close with its boundary.")?;
        // The line break before the delimiter belongs to it (RFC 2046 §5.1.1).
        let mut end = next;
        if end > start && body[end - 1] == b'\n' {
            end -= 1;
            if end > start && body[end - 1] == b'\r' {
                end -= 1;
            }
        }
        parts.push(part(&body[start..end.max(start)])?);
        at = next;
    }
}

/// Where the next line that starts with `delimiter` starts, at or after `from`.
fn find_line_start(body: &[u8], delimiter: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < body.len() {
        let line = body[i..].iter().position(|b| *b == b'\n').map(|p| i + p + 1)?;
        if body[line..].starts_with(delimiter) {
            return Some(line);
        }
        i = line;
    }
    None
}

/// Just past the end of the line that `from` is in.
fn line_end(body: &[u8], from: usize) -> Option<usize> {
    body[from..].iter().position(|b| *b == b'\n').map(|p| from + p + 1)
}

fn part(raw: &[u8]) -> Result<Part, String> {
    let (headers, body_at) = mailparse::parse_headers(raw).map_err(|e| format!("A part's headers do not parse: {e}"))?;
    let header = |name: &str| headers.iter().find(|h| h.get_key().eq_ignore_ascii_case(name)).map(|h| h.get_value().trim().to_owned());
    Ok(Part {
        content_type: header("Content-Type").unwrap_or_default(),
        hash: header("X-Experience-API-Hash"),
        transfer_encoding: header("Content-Transfer-Encoding"),
        body: raw[body_at.min(raw.len())..].to_vec(),
    })
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

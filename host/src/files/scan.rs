//! The checks a file passes before anyone may download it:
//!
//! 1. its size on disk is the size recorded at upload;
//! 2. what the bytes look like (their magic number, via `infer`) agrees with the declared
//!    content type: an `.exe` declared `image/png` is rejected, and so is a "PNG" that has no PNG
//!    signature (`application/octet-stream` claims nothing, so it agrees with anything);
//! 3. it does not carry the EICAR test signature (anywhere in the file);
//! 4. when a `clamd` is configured, ClamAV finds nothing (its `INSTREAM` command).
//!
//! A check that cannot run (clamd down) is an error, not a verdict: the file stays in quarantine
//! and is scanned again later. Fail closed.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The EICAR anti-virus test file's 68 bytes.
pub const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

const CHUNK: usize = 64 << 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    Rejected(String),
}

#[derive(Debug)]
pub struct Report {
    pub sniffed: Option<String>,
    pub verdict: Verdict,
}

/// Where ClamAV's daemon listens: `HOST:PORT`, or `unix:/path/to/clamd.sock`.
#[derive(Debug, Clone)]
pub enum Clamd {
    Tcp(String),
    Unix(PathBuf),
}

impl std::str::FromStr for Clamd {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.strip_prefix("unix:") {
            Some(path) if !path.is_empty() => Ok(Clamd::Unix(path.into())),
            Some(_) => Err("unix: needs a socket path".into()),
            None if s
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok()) =>
            {
                Ok(Clamd::Tcp(s.to_owned()))
            }
            None => Err(format!(
                "`{s}`: expected HOST:PORT or unix:/path/to/clamd.sock"
            )),
        }
    }
}

/// Runs every check on the blob at `path`. Blocking.
pub fn check(path: &Path, size: u64, declared: &str, clamd: Option<&Clamd>) -> io::Result<Report> {
    let mut file = std::fs::File::open(path)?;
    let on_disk = file.metadata()?.len();
    let mut head = vec![0; 8192.min(on_disk as usize)];
    file.read_exact(&mut head)?;
    let sniffed = infer::get(&head).map(|t| t.mime_type().to_owned());
    let reject = |why: String| {
        Ok(Report {
            sniffed: sniffed.clone(),
            verdict: Verdict::Rejected(why),
        })
    };
    if on_disk != size {
        return reject(format!(
            "size_mismatch: {on_disk} bytes on disk, {size} uploaded"
        ));
    }
    if let Some(why) = type_mismatch(declared, sniffed.as_deref()) {
        return reject(why);
    }
    if contains_eicar(path)? {
        return reject("malware: EICAR test signature".into());
    }
    if let Some(clamd) = clamd
        && let Some(found) = clamd_scan(clamd, path)?
    {
        return reject(format!("malware: {found}"));
    }
    Ok(Report {
        sniffed,
        verdict: Verdict::Clean,
    })
}

/// The type without parameters, lowercased, with common aliases folded.
fn essence(mime: &str) -> String {
    let base = mime
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match base.as_str() {
        "image/jpg" | "image/pjpeg" => "image/jpeg".into(),
        "application/x-zip-compressed" => "application/zip".into(),
        "audio/mp3" => "audio/mpeg".into(),
        "application/x-pdf" => "application/pdf".into(),
        _ => base,
    }
}

fn type_mismatch(declared: &str, sniffed: Option<&str>) -> Option<String> {
    let declared = essence(declared);
    if declared == "application/octet-stream" {
        return None;
    }
    match sniffed {
        Some(s) if essence(s) != declared => Some(format!(
            "content_type_mismatch: declared {declared}, the content is {s}"
        )),
        None if infer::is_mime_supported(&declared) => Some(format!(
            "content_type_mismatch: declared {declared}, the content has no {declared} signature"
        )),
        _ => None,
    }
}

fn contains_eicar(path: &Path) -> io::Result<bool> {
    let finder = memchr::memmem::Finder::new(EICAR);
    let mut file = std::fs::File::open(path)?;
    // Each read keeps the last EICAR.len() - 1 bytes of the one before, so a signature across a
    // chunk boundary is still found.
    let keep = EICAR.len() - 1;
    let mut buf = vec![0; CHUNK + keep];
    let mut carried = 0;
    loop {
        let n = file.read(&mut buf[carried..])?;
        if n == 0 {
            return Ok(false);
        }
        let filled = carried + n;
        if finder.find(&buf[..filled]).is_some() {
            return Ok(true);
        }
        carried = keep.min(filled);
        buf.copy_within(filled - carried..filled, 0);
    }
}

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

/// Sends the file to clamd (`zINSTREAM`); `Some(signature)` when it found something.
fn clamd_scan(clamd: &Clamd, path: &Path) -> io::Result<Option<String>> {
    let timeout = Some(Duration::from_secs(30));
    let mut conn: Box<dyn Stream> = match clamd {
        Clamd::Tcp(addr) => {
            let stream = TcpStream::connect(addr)?;
            stream.set_read_timeout(timeout)?;
            stream.set_write_timeout(timeout)?;
            Box::new(stream)
        }
        Clamd::Unix(path) => {
            let stream = std::os::unix::net::UnixStream::connect(path)?;
            stream.set_read_timeout(timeout)?;
            stream.set_write_timeout(timeout)?;
            Box::new(stream)
        }
    };
    conn.write_all(b"zINSTREAM\0")?;
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0; CHUNK];
    loop {
        let n = file.read(&mut buf)?;
        conn.write_all(&(n as u32).to_be_bytes())?;
        if n == 0 {
            break;
        }
        conn.write_all(&buf[..n])?;
    }
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer)?;
    let answer = String::from_utf8_lossy(&answer);
    let answer = answer.trim_end_matches(['\0', '\n']).trim();
    // `stream: OK`, `stream: Eicar-Test-Signature FOUND`, or `... ERROR`.
    let verdict = answer.split_once(": ").map_or(answer, |(_, v)| v);
    if verdict == "OK" {
        Ok(None)
    } else if let Some(found) = verdict.strip_suffix(" FOUND") {
        Ok(Some(found.to_owned()))
    } else {
        Err(io::Error::other(format!("clamd answered `{answer}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] =
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

    fn scan(bytes: &[u8], declared: &str) -> Report {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        std::fs::write(&path, bytes).unwrap();
        check(&path, bytes.len() as u64, declared, None).unwrap()
    }

    #[test]
    fn declared_and_sniffed_types_must_agree() {
        assert_eq!(scan(PNG, "image/png").verdict, Verdict::Clean);
        assert_eq!(scan(PNG, "image/png").sniffed.as_deref(), Some("image/png"));
        assert_eq!(
            scan(PNG, "application/octet-stream").verdict,
            Verdict::Clean
        );
        assert_eq!(scan(b"plain words", "text/plain").verdict, Verdict::Clean);
        let Verdict::Rejected(why) = scan(PNG, "application/pdf").verdict else {
            panic!()
        };
        assert!(why.starts_with("content_type_mismatch"), "{why}");
        let Verdict::Rejected(why) = scan(b"not an image", "image/png").verdict else {
            panic!()
        };
        assert!(why.contains("no image/png signature"), "{why}");
        let exe = b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0";
        assert!(matches!(
            scan(exe, "image/jpeg").verdict,
            Verdict::Rejected(_)
        ));
    }

    #[test]
    fn eicar_is_found_anywhere_even_across_chunks() {
        let Verdict::Rejected(why) = scan(EICAR, "text/plain").verdict else {
            panic!()
        };
        assert_eq!(why, "malware: EICAR test signature");
        let mut big = vec![b'a'; CHUNK - 30];
        big.extend_from_slice(EICAR);
        big.extend_from_slice(&[b'b'; 1000]);
        assert!(matches!(
            scan(&big, "text/plain").verdict,
            Verdict::Rejected(_)
        ));
        big.truncate(CHUNK - 30);
        assert_eq!(scan(&big, "text/plain").verdict, Verdict::Clean);
    }

    #[test]
    fn clamd_addresses_parse() {
        assert!(matches!("127.0.0.1:3310".parse(), Ok(Clamd::Tcp(_))));
        assert!(matches!(
            "unix:/run/clamav/clamd.ctl".parse(),
            Ok(Clamd::Unix(_))
        ));
        assert!("clamd".parse::<Clamd>().is_err());
        assert!("unix:".parse::<Clamd>().is_err());
    }
}

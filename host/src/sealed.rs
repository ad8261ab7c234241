//! The server secret, and secrets at rest sealed with a key derived from it.
//!
//! `<data-dir>/server.secret` is 32 random bytes (mode 0600) made on first start, beside the
//! registry and outside every tenant's directory. It signs list cursors and, through a key
//! derived from it for this one purpose, seals the secrets tenant files keep (webhook signing
//! secrets), so a copied tenant file alone reveals none of them. Back it up with the data
//! directory: without it sealed values cannot be opened again.
//!
//! XChaCha20-Poly1305 with a random 192-bit nonce per value; the associated data names where the
//! value belongs (`webhook:<endpoint id>`), so a sealed value moved to another row does not open.

use std::path::Path;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

const PREFIX: &str = "sealed.v1.";
const NONCE: usize = 24;

pub struct ServerKey {
    cipher: XChaCha20Poly1305,
}

#[derive(Debug, thiserror::Error)]
#[error("a sealed value did not open: {0}")]
pub struct Unsealable(&'static str);

/// The server secret: read, or made on first start. A file that is there but not a secret is an
/// error, never replaced: that would lose every value sealed with it.
pub fn server_secret(data_dir: &Path) -> anyhow::Result<[u8; 32]> {
    let path = data_dir.join("server.secret");
    match std::fs::read(&path) {
        Ok(bytes) => <[u8; 32]>::try_from(bytes.as_slice())
            .ok()
            .with_context(|| format!("{} is not a server secret (32 bytes)", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut secret = [0u8; 32];
            rand::rng().fill_bytes(&mut secret);
            write_private(&path, &secret).with_context(|| format!("writing {}", path.display()))?;
            Ok(secret)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

impl ServerKey {
    /// The sealing key of a server secret (its HMAC of a label: the secret's other uses never
    /// see this key).
    pub fn from_secret(secret: &[u8; 32]) -> ServerKey {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret).expect("any key length");
        mac.update(b"mobieus sealed secrets v1");
        Self::from_bytes(&mac.finalize().into_bytes())
    }

    /// A key that lives as long as the process (tests).
    pub fn ephemeral() -> ServerKey {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8]) -> ServerKey {
        ServerKey {
            cipher: XChaCha20Poly1305::new_from_slice(bytes).expect("32 bytes"),
        }
    }

    /// `plaintext` sealed for the place `context` names.
    pub fn seal(&self, plaintext: &str, context: &str) -> String {
        self.seal_bytes(plaintext.as_bytes(), context)
    }

    /// Opens a value sealed for `context`.
    pub fn open(&self, stored: &str, context: &str) -> Result<String, Unsealable> {
        String::from_utf8(self.open_bytes(stored, context)?).map_err(|_| Unsealable("not text"))
    }

    /// Bytes sealed for the place `context` names, as text (a plugin's `secrets.seal`).
    pub fn seal_bytes(&self, plaintext: &[u8], context: &str) -> String {
        let mut nonce = [0u8; NONCE];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .expect("sealing cannot fail for a value in memory");
        let mut out = nonce.to_vec();
        out.extend(sealed);
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out))
    }

    /// Opens bytes sealed for `context`.
    pub fn open_bytes(&self, stored: &str, context: &str) -> Result<Vec<u8>, Unsealable> {
        let bytes = stored
            .strip_prefix(PREFIX)
            .and_then(|b| URL_SAFE_NO_PAD.decode(b).ok())
            .filter(|b| b.len() > NONCE)
            .ok_or(Unsealable("not a sealed value"))?;
        let (nonce, sealed) = bytes.split_at(NONCE);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| Unsealable("another key, another place, or altered"))
    }

    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }
}

/// Writes a file only the server's user can read, whole or not at all.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_key_and_in_their_place() {
        let dir = tempfile::tempdir().unwrap();
        let key = ServerKey::from_secret(&server_secret(dir.path()).unwrap());
        let sealed = key.seal("whsec_abc", "webhook:whk_1");
        assert!(ServerKey::is_sealed(&sealed) && !sealed.contains("abc"));
        assert_ne!(
            sealed,
            key.seal("whsec_abc", "webhook:whk_1"),
            "a fresh nonce each time"
        );
        assert_eq!(key.open(&sealed, "webhook:whk_1").unwrap(), "whsec_abc");
        assert!(key.open(&sealed, "webhook:whk_2").is_err());
        let again = ServerKey::from_secret(&server_secret(dir.path()).unwrap());
        assert_eq!(again.open(&sealed, "webhook:whk_1").unwrap(), "whsec_abc");
        assert!(
            ServerKey::ephemeral()
                .open(&sealed, "webhook:whk_1")
                .is_err()
        );
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 2;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert!(
            key.open(std::str::from_utf8(&altered).unwrap(), "webhook:whk_1")
                .is_err()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.path().join("server.secret");
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::write(&path, b"short").unwrap();
            assert!(
                server_secret(dir.path()).is_err(),
                "a bad secret is never replaced"
            );
        }
    }
}

//! Where a tenant's file bytes live: `<tenant dir>/files/<env>/<ab>/<sha256>`, one blob per
//! distinct content. An upload is streamed into a temporary file beside the blobs while it is
//! hashed, synced, then renamed into place: a blob is complete or absent, never half written. The
//! same bytes uploaded twice share one blob.

use std::io;
use std::path::{Path, PathBuf};

use axum::body::Body;
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use tenants::Env;
use tokio::io::AsyncWriteExt;

/// Past the cap, up to this much more is read and discarded before answering 413, so an ordinary
/// client finishes sending and reads the answer instead of a reset connection.
const DRAIN_LIMIT: u64 = 16 << 20;

#[derive(Debug, Clone)]
pub struct Blobs {
    root: PathBuf,
}

pub enum SpoolError {
    /// More than the cap.
    TooLarge,
    /// The client's body broke off.
    Read,
    Io(io::Error),
}

impl From<io::Error> for SpoolError {
    fn from(e: io::Error) -> Self {
        SpoolError::Io(e)
    }
}

/// An upload on disk, not yet in place. Dropped without [`Spooled::commit`], it is deleted.
pub struct Spooled {
    temp: tempfile::TempPath,
    pub sha256: String,
    pub size: u64,
}

impl Blobs {
    pub fn new(tenant_dir: &Path, env: Env) -> Blobs {
        Blobs {
            root: tenant_dir.join("files").join(env.as_str()),
        }
    }

    /// The blobs of one tenant file (live or sandbox).
    pub fn of(store: &tenants::Store, tenant: &tenants::Tenant, env: Env) -> Blobs {
        Blobs::new(&store.tenant_dir(tenant), env)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path(&self, sha256: &str) -> PathBuf {
        self.root.join(&sha256[..2]).join(sha256)
    }

    /// Streams `body` to a temporary file, hashing it; more than `cap` bytes is
    /// [`SpoolError::TooLarge`] (and nothing is kept).
    pub async fn spool(&self, body: Body, cap: u64) -> Result<Spooled, SpoolError> {
        let tmp_dir = self.root.join("tmp");
        tokio::fs::create_dir_all(&tmp_dir).await?;
        let (file, temp) = tokio::task::spawn_blocking(move || {
            tempfile::Builder::new()
                .prefix("upload-")
                .tempfile_in(tmp_dir)
        })
        .await
        .map_err(io::Error::other)??
        .into_parts();
        let mut file = tokio::fs::File::from_std(file);
        let mut hash = Sha256::new();
        let mut size = 0u64;
        let mut body = body;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else {
                return Err(SpoolError::Read);
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            size += data.len() as u64;
            if size > cap {
                drain(body, size, cap).await;
                return Err(SpoolError::TooLarge);
            }
            hash.update(&data);
            file.write_all(&data).await?;
        }
        file.sync_all().await?;
        Ok(Spooled {
            temp,
            sha256: hex::encode(hash.finalize()),
            size,
        })
    }
}

async fn drain(mut body: Body, mut seen: u64, cap: u64) {
    while seen <= cap + DRAIN_LIMIT {
        match body.frame().await {
            Some(Ok(frame)) => seen += frame.data_ref().map_or(0, |d| d.len() as u64),
            _ => return,
        }
    }
}

impl Spooled {
    /// Moves the bytes into place under their hash. Blocking. A blob already there holds the same
    /// bytes, so replacing it changes nothing a reader could see.
    pub fn commit(self, blobs: &Blobs) -> io::Result<PathBuf> {
        let target = blobs.path(&self.sha256);
        let dir = target.parent().expect("a blob path has a parent");
        std::fs::create_dir_all(dir)?;
        self.temp.persist(&target).map_err(|e| e.error)?;
        // The rename is durable once the directory is.
        std::fs::File::open(dir)?.sync_all()?;
        Ok(target)
    }
}

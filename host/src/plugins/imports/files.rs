//! `files`: the tenant's uploads, read only. Bytes come from the content-addressed blob on disk,
//! in bounded chunks; only a clean file's bytes can be read.

use std::io::{Read, Seek, SeekFrom};

use crate::files::{self as host, CLEAN};
use crate::plugins::bindings::files;
use crate::plugins::bindings::types::Error;
use crate::plugins::capabilities::Capability;
use crate::plugins::state::PluginState;

/// The most bytes one `read` returns.
pub const MAX_CHUNK: u32 = 1 << 20;

impl PluginState {
    fn file(&self, id: &str) -> Result<Option<host::File>, Error> {
        self.call.capabilities.require(Capability::Files)?;
        self.as_host(|conn| host::find(conn, id))
    }
}

impl files::Host for PluginState {
    fn get(&mut self, id: String) -> Result<Option<files::FileInfo>, Error> {
        Ok(self.file(&id)?.map(|f| files::FileInfo {
            id: f.id,
            filename: f.filename,
            content_type: f.content_type,
            size: f.size.max(0) as u64,
            sha256: f.sha256,
            status: f.status,
            created_at: f.created_at,
        }))
    }

    fn read(&mut self, id: String, offset: u64, len: u32) -> Result<Vec<u8>, Error> {
        let file = self
            .file(&id)?
            .ok_or_else(|| Error::Invalid(format!("no file `{id}`")))?;
        if file.status != CLEAN {
            return Err(Error::Denied(format!(
                "file `{id}` is {}: only clean files can be read",
                file.status
            )));
        }
        let blobs = self
            .call
            .blobs
            .as_ref()
            .ok_or_else(|| Error::Denied("no files in this call".into()))?;
        let size = file.size.max(0) as u64;
        let len = u64::from(len.min(MAX_CHUNK)).min(size.saturating_sub(offset));
        if len == 0 {
            return Ok(Vec::new());
        }
        let read = || -> std::io::Result<Vec<u8>> {
            let mut blob = std::fs::File::open(blobs.path(&file.sha256))?;
            blob.seek(SeekFrom::Start(offset))?;
            let mut bytes = Vec::with_capacity(len as usize);
            blob.take(len).read_to_end(&mut bytes)?;
            Ok(bytes)
        };
        read().map_err(|e| {
            tracing::error!(plugin = %self.call.plugin, file = %id, "reading a blob: {e}");
            Error::Failed(format!("the bytes of `{id}` could not be read"))
        })
    }
}

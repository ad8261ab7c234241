use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong in the tenant store. Callers map `NotFound`/`AlreadyExists`/`Invalid` to user
/// errors; the rest are ours.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("tenant `{0}` does not exist")]
    TenantNotFound(String),
    #[error("tenant `{0}` already exists")]
    TenantExists(String),
    #[error("{0}")]
    Invalid(String),
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("connection pool: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the write was not committed: the writer stopped or the job panicked")]
    WriteAborted,
    #[error("the write transaction failed: {0}")]
    Batch(String),
    #[error("migration {set}/{version:04} ({name}) failed: {source}")]
    Migration {
        set: String,
        version: u32,
        name: String,
        source: rusqlite::Error,
    },
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

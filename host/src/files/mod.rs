//! Files the host owns: uploads streamed to disk, content-addressed, held in quarantine until a
//! scan passes.
//!
//! - [`blobs`]: where the bytes live (`<tenant dir>/files/<env>/<ab>/<sha256>`), written atomically;
//! - [`scan`]: the checks a file must pass (declared vs sniffed type, the EICAR signature, clamd);
//! - [`scanner`]: the background worker that runs them and moves a file from `quarantined` to
//!   `clean` (appending `file.uploaded`) or `rejected` (with the reason).
//!
//! The HTTP side is `api::files`.

pub mod blobs;
pub mod scan;
pub mod scanner;

use serde::Serialize;

/// The signal a commit raises when it added a file to quarantine: it wakes the scanner.
pub const SIGNAL: &str = "files";

pub const QUARANTINED: &str = "quarantined";
pub const CLEAN: &str = "clean";
pub const REJECTED: &str = "rejected";

/// A file's metadata, as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct File {
    pub id: String,
    pub filename: String,
    /// As declared by the uploader; downloads are served with it.
    pub content_type: String,
    /// What the bytes look like, once scanned (`null` when no known signature matched).
    pub sniffed_type: Option<String>,
    pub size: i64,
    pub sha256: String,
    /// `quarantined`, `clean` or `rejected`.
    pub status: String,
    /// Why the scan rejected it.
    pub reason: Option<String>,
    pub created_at: String,
    pub scanned_at: Option<String>,
}

pub const COLUMNS: &str = "id, filename, content_type, sniffed_type, size, sha256, status, reason, created_at, scanned_at";

pub fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<File> {
    Ok(File {
        id: row.get(0)?,
        filename: row.get(1)?,
        content_type: row.get(2)?,
        sniffed_type: row.get(3)?,
        size: row.get(4)?,
        sha256: row.get(5)?,
        status: row.get(6)?,
        reason: row.get(7)?,
        created_at: row.get(8)?,
        scanned_at: row.get(9)?,
    })
}

pub fn find(conn: &rusqlite::Connection, id: &str) -> rusqlite::Result<Option<File>> {
    use rusqlite::OptionalExtension;
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM files WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()
}

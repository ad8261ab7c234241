-- Files the host keeps for the tenant. The bytes live on disk, content-addressed by SHA-256
-- (`files/<env>/<ab>/<sha256>` under the tenant's directory); this is their metadata.
-- A file is `quarantined` until the scan passes (`clean`) or fails (`rejected`, with `reason`).
CREATE TABLE files (
    id              TEXT PRIMARY KEY,          -- file_<ULID>
    filename        TEXT NOT NULL,
    content_type    TEXT NOT NULL,             -- as the uploader declared it
    sniffed_type    TEXT,                      -- from the bytes, once scanned
    size            INTEGER NOT NULL,
    sha256          TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('quarantined', 'clean', 'rejected')),
    reason          TEXT,
    uploaded_by_key TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    scanned_at      TEXT
) WITHOUT ROWID;
CREATE INDEX files_status ON files (status, id);

-- What plugins may read of files and posts (the SQL sandbox grants these views, read only).
CREATE VIEW host_files AS
    SELECT id, filename, content_type, size, status, created_at FROM files;
CREATE VIEW host_posts AS
    SELECT id, author_id, created_at FROM posts;

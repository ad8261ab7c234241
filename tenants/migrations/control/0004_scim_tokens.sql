-- SCIM bearer tokens: their own kind, never API keys. Only the SHA-256 of a token is stored.
CREATE TABLE scim_tokens (
    id           TEXT PRIMARY KEY,     -- scimtok_<ULID>
    prefix       TEXT NOT NULL,        -- first 12 characters, for display and lookup
    hash         BLOB NOT NULL UNIQUE,
    label        TEXT,
    created_at   TEXT NOT NULL,
    revoked_at   TEXT,
    last_used_at TEXT
) WITHOUT ROWID;
CREATE INDEX scim_tokens_prefix ON scim_tokens (prefix);

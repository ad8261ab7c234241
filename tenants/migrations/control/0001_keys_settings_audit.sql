-- Tenant control data, in live.db only: API keys (of both environments), settings, the audit log.

CREATE TABLE api_keys (
    id                    TEXT PRIMARY KEY,     -- key_<ULID>
    prefix                TEXT NOT NULL,        -- first 12 characters, for display and lookup
    hash                  BLOB NOT NULL UNIQUE, -- SHA-256 of the whole key; the key itself is never stored
    env                   TEXT NOT NULL CHECK (env IN ('live', 'test')),
    kind                  TEXT NOT NULL CHECK (kind IN ('secret', 'publishable')),
    scopes                TEXT NOT NULL,        -- space-separated
    label                 TEXT,
    rate_limit_per_minute INTEGER,              -- NULL: the tenant default applies
    created_at            TEXT NOT NULL,
    expires_at            TEXT,
    revoked_at            TEXT,
    last_used_at          TEXT,
    last_used_ip          TEXT
);
CREATE INDEX api_keys_prefix ON api_keys (prefix);

CREATE TABLE settings (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE audit_log (
    id      TEXT PRIMARY KEY,                   -- aud_<ULID>
    at      TEXT NOT NULL,
    actor   TEXT NOT NULL,                      -- who: `cli:<user>`, later `admin:<email>`
    action  TEXT NOT NULL,                      -- what: `api_key.created`, `settings.updated`, ...
    target  TEXT,
    details TEXT NOT NULL DEFAULT '{}'          -- JSON; never a secret
) WITHOUT ROWID;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

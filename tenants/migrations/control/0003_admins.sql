-- The tenant's admin console: its admins and their sessions, in live.db only.

CREATE TABLE admins (
    id                TEXT PRIMARY KEY,            -- adm_<ULID>
    email             TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash     TEXT,                        -- argon2id PHC string; NULL until set up
    setup_token_hash  BLOB UNIQUE,                 -- SHA-256 of the one-time setup token
    setup_expires_at  TEXT,
    created_at        TEXT NOT NULL,
    last_login_at     TEXT
);

CREATE TABLE admin_sessions (
    token_hash  BLOB PRIMARY KEY,                  -- SHA-256 of the cookie's token; the token is never stored
    admin_id    TEXT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    csrf_token  TEXT NOT NULL,                     -- sent in every form, compared in constant time
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    ip          TEXT
) WITHOUT ROWID;
CREATE INDEX admin_sessions_admin ON admin_sessions (admin_id);

-- Core community data. Present in both files of a tenant (live.db and sandbox.db).
-- Ids are prefixed ULIDs minted under the tenant's write lock, so they sort by creation time and
-- `since`/`until` filters become ranges on the primary key.

CREATE TABLE users (
    id           TEXT PRIMARY KEY,              -- usr_<ULID>
    username     TEXT NOT NULL,
    email        TEXT,
    display_name TEXT,
    created_at   TEXT NOT NULL,
    left_at      TEXT                           -- set by DELETE; the row stays for posts' authors
) WITHOUT ROWID;
CREATE UNIQUE INDEX users_active_username ON users (username) WHERE left_at IS NULL;

CREATE TABLE posts (
    id         TEXT PRIMARY KEY,                -- post_<ULID>
    author_id  TEXT NOT NULL REFERENCES users (id),
    title      TEXT,
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX posts_author ON posts (author_id, id);

-- The append-only event log. The triggers make "never updated or deleted" a property of the file.
CREATE TABLE events (
    id         TEXT PRIMARY KEY,                -- evt_<ULID>
    type       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    data       TEXT NOT NULL                    -- JSON
) WITHOUT ROWID;
CREATE INDEX events_type ON events (type, id);
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;

-- Row counts for `total_count`, kept by triggers so an unfiltered count is one lookup.
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    n    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TRIGGER events_count AFTER INSERT ON events
BEGIN
    INSERT INTO counters (name, n) VALUES ('events', 1) ON CONFLICT (name) DO UPDATE SET n = n + 1;
    INSERT INTO counters (name, n) VALUES ('events:' || NEW.type, 1)
        ON CONFLICT (name) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER users_count_insert AFTER INSERT ON users WHEN NEW.left_at IS NULL
BEGIN
    INSERT INTO counters (name, n) VALUES ('users', 1) ON CONFLICT (name) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER users_count_leave AFTER UPDATE OF left_at ON users
    WHEN OLD.left_at IS NULL AND NEW.left_at IS NOT NULL
BEGIN
    UPDATE counters SET n = n - 1 WHERE name = 'users';
END;
CREATE TRIGGER posts_count AFTER INSERT ON posts
BEGIN
    INSERT INTO counters (name, n) VALUES ('posts', 1) ON CONFLICT (name) DO UPDATE SET n = n + 1;
END;

-- Idempotency-Key records, written in the same transaction as the write they answer for.
CREATE TABLE idempotency_keys (
    api_key_id   TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    path         TEXT    NOT NULL,
    request_hash BLOB    NOT NULL,              -- SHA-256 of method, path, content type and body
    status       INTEGER NOT NULL,
    headers      TEXT    NOT NULL,              -- JSON object of replayed headers
    body         BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,              -- unix seconds; records expire after 24 h
    PRIMARY KEY (api_key_id, key, path)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

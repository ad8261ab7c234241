-- The mail outbox (contract 1.1 `mail`): a message is queued in the transaction of the call that
-- sent it, then delivered by the host's mail worker (over SMTP, or written as an .eml file when
-- no SMTP server is configured). Every attempt is logged.
CREATE TABLE mail_outbox (
    id              TEXT PRIMARY KEY,       -- mail_<ULID>
    plugin          TEXT NOT NULL,          -- who sent it
    recipients      TEXT NOT NULL,          -- JSON array of mailboxes ("Ada <ada@example.com>")
    subject         TEXT NOT NULL,
    text            TEXT NOT NULL,
    html            TEXT,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'written', 'failed')),
    attempt_count   INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,                -- unix ms while pending
    last_error      TEXT,
    eml_path        TEXT,                   -- where a written message is
    created_at      TEXT NOT NULL,
    sent_at         TEXT
) WITHOUT ROWID;
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE status = 'pending';

CREATE TABLE mail_attachments (
    mail_id      TEXT NOT NULL REFERENCES mail_outbox (id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    content      BLOB NOT NULL,
    PRIMARY KEY (mail_id, position)
) WITHOUT ROWID;

CREATE TABLE mail_attempts (
    id           TEXT PRIMARY KEY,          -- matt_<ULID>
    mail_id      TEXT NOT NULL REFERENCES mail_outbox (id) ON DELETE CASCADE,
    attempted_at TEXT NOT NULL,
    ok           INTEGER NOT NULL,
    error        TEXT
) WITHOUT ROWID;
CREATE INDEX mail_attempts_mail ON mail_attempts (mail_id, id);

-- Timers plugins set (contract 1.1 `timers`): one per plugin and key, in the transaction of the
-- call that set it. The timer worker asks each file for its earliest `due_at` (one index probe)
-- and sleeps until then; a failed `on-timer` pushes `due_at` back and counts an attempt.
CREATE TABLE plugin_timers (
    plugin      TEXT NOT NULL,
    key         TEXT NOT NULL,
    at_ms       INTEGER NOT NULL,   -- when the plugin asked for it, unix ms
    due_at      INTEGER NOT NULL,   -- when it is next tried, unix ms
    payload     TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    PRIMARY KEY (plugin, key)
) WITHOUT ROWID;
CREATE INDEX plugin_timers_due ON plugin_timers (due_at);

-- How far each plugin has read the event log for `on-event`. The log is the queue: a plugin's
-- handler runs in the same transaction that advances its cursor, so an event is handled at least
-- once and its effects commit exactly once.
CREATE TABLE plugin_cursors (
    plugin        TEXT PRIMARY KEY,
    last_event_id TEXT NOT NULL,
    failures      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT
) WITHOUT ROWID;

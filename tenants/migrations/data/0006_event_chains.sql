-- How deep in a chain of plugin reactions an event stands: 0 for an event a route or the host
-- appended, n + 1 for one an `on-event` handler emitted in reply to an event at depth n. The
-- host refuses emits past a fixed depth, so no chain of handlers can grow without end.
ALTER TABLE events ADD COLUMN chain_depth INTEGER NOT NULL DEFAULT 0;

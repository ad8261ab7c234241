-- Which plugins a tenant turned on or off. No row: first-party plugins are on, others off.
CREATE TABLE plugin_settings (
    name       TEXT PRIMARY KEY,
    enabled    INTEGER NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;

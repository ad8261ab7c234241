-- Host users a community barred (the Cobuntu-compatible surface's bans): a barred user's address
-- has no console access. Kept in both files, as users are; the console reads the live one.
CREATE TABLE user_bars (
    user_id    TEXT PRIMARY KEY REFERENCES users (id),
    barred_at  TEXT NOT NULL,
    reason     TEXT,
    plugin     TEXT NOT NULL                     -- the surface that barred them
) WITHOUT ROWID;

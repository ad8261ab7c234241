-- Host groups: made by the API (and, later, provisioned by SCIM: the same groups), read by
-- plugins through the users capability, granted courses by Learn.
CREATE TABLE groups (
    id           TEXT PRIMARY KEY,            -- grp_<ULID>
    display_name TEXT NOT NULL,
    description  TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
) WITHOUT ROWID;
-- One group per name, whatever its case.
CREATE UNIQUE INDEX groups_display_name ON groups (display_name COLLATE NOCASE);

CREATE TABLE group_members (
    id       TEXT PRIMARY KEY,                -- gm_<ULID>: the list order, newest first
    group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL REFERENCES users (id),
    added_at TEXT NOT NULL,
    UNIQUE (group_id, user_id)
) WITHOUT ROWID;
CREATE INDEX group_members_user ON group_members (user_id);

-- A member as the API lists it.
CREATE VIEW group_member_rows AS
    SELECT m.id, m.group_id, m.user_id, u.username, u.display_name, m.added_at
    FROM group_members m JOIN users u ON u.id = m.user_id;

-- A user who leaves leaves every group (`user.left` says so).
CREATE TRIGGER users_leave_groups AFTER UPDATE OF left_at ON users
WHEN NEW.left_at IS NOT NULL BEGIN
    DELETE FROM group_members WHERE user_id = NEW.id;
END;

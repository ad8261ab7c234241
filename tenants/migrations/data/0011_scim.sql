-- SCIM provisioning: what an identity provider keeps about a person beyond the columns the API
-- shows (name parts, emails, the enterprise extension… as the SCIM JSON it sent), whether they
-- are active, and a version per user and group for `ETag` / `If-Match`.
ALTER TABLE users ADD COLUMN external_id TEXT;
ALTER TABLE users ADD COLUMN active INTEGER;  -- 0: deactivated (never deleted); NULL: not said, active
ALTER TABLE users ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE users ADD COLUMN updated_at TEXT;                    -- NULL: never changed
ALTER TABLE users ADD COLUMN scim TEXT;                          -- JSON object, or NULL
-- `userName eq "…"` (compared without case) and `externalId eq "…"` are index lookups.
CREATE INDEX users_username_nocase ON users (username COLLATE NOCASE) WHERE left_at IS NULL;
CREATE INDEX users_external_id ON users (external_id) WHERE left_at IS NULL;
-- The console asks whether an admin's email is a deactivated user's on every page.
CREATE INDEX users_deactivated_email ON users (email COLLATE NOCASE) WHERE active = 0;

ALTER TABLE groups ADD COLUMN external_id TEXT;
ALTER TABLE groups ADD COLUMN version INTEGER NOT NULL DEFAULT 1;

-- A deactivated user is no longer someone plugins may act for (their rows stay).
DROP VIEW host_users;
CREATE VIEW host_users AS
    SELECT id, username, display_name, created_at FROM users WHERE left_at IS NULL AND active IS NOT 0;

-- A user who leaves leaves their groups (`users_leave_groups`): those groups' versions move, so
-- an `If-Match` with the version before it is stale. BEFORE, while the memberships still exist.
CREATE TRIGGER users_leave_bumps_groups BEFORE UPDATE OF left_at ON users
WHEN OLD.left_at IS NULL AND NEW.left_at IS NOT NULL BEGIN
    UPDATE groups SET version = version + 1
    WHERE id IN (SELECT group_id FROM group_members WHERE user_id = NEW.id);
END;

-- What plugins may read of the host's data: the SQL sandbox grants these views, read only.

CREATE VIEW host_users AS
    SELECT id, username, display_name, created_at FROM users WHERE left_at IS NULL;

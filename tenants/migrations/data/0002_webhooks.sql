-- Webhooks: endpoints, the delivery outbox (one row per event and endpoint, inserted in the
-- transaction that appends the event), and every attempt. In both files: a test key's webhooks
-- live in the sandbox with the events they carry.

CREATE TABLE webhook_endpoints (
    id                      TEXT PRIMARY KEY,      -- whk_<ULID>
    url                     TEXT NOT NULL,
    description             TEXT,
    events                  TEXT NOT NULL,         -- JSON array of types, or ["*"]
    filter                  TEXT,                  -- JSON object: dotted path -> value(s)
    enabled                 INTEGER NOT NULL DEFAULT 1,
    disabled_reason         TEXT,
    secret                  TEXT NOT NULL,         -- whsec_<base64 of 32 bytes>
    previous_secret         TEXT,                  -- still signing until previous_expires_at
    previous_expires_at     INTEGER,               -- unix seconds
    consecutive_failures    INTEGER NOT NULL DEFAULT 0,
    created_at              TEXT NOT NULL,
    updated_at              TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,             -- dlv_<ULID>
    endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id         TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    body             TEXT NOT NULL,                -- the event exactly as GET /api/v1/events shows it
    status           TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempt_count    INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER,                      -- unix ms while pending
    last_status_code INTEGER,
    last_error       TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
) WITHOUT ROWID;
-- The worker asks, per endpoint, for its next due deliveries: one range scan each.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint_id, next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);

CREATE TABLE webhook_attempts (
    id            TEXT PRIMARY KEY,                -- att_<ULID>
    delivery_id   TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at  TEXT NOT NULL,
    status_code   INTEGER,
    latency_ms    INTEGER NOT NULL,
    response_body TEXT,                            -- the first 2 KB
    error         TEXT
) WITHOUT ROWID;
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);

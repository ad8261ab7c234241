-- AI on the tenant's own key (contract 1.1 `ai`). Kept in the live file: the provider, model
-- and key are the tenant's whatever the calling key's environment, and so is the bill.

-- The provider: one row. The key is sealed with the server key (`sealed.v1.…`, associated data
-- `ai:<tenant id>`): a copied tenant file alone does not reveal it.
CREATE TABLE ai_provider (
    id                   INTEGER PRIMARY KEY CHECK (id = 1),
    provider             TEXT NOT NULL CHECK (provider IN ('anthropic', 'openai')),
    base_url             TEXT NOT NULL,
    model                TEXT NOT NULL,
    api_key              TEXT NOT NULL,          -- sealed; '' when the server needs none
    monthly_token_budget INTEGER,                -- input + output tokens per calendar month (UTC)
    updated_at           TEXT NOT NULL
);

-- A plugin's own model, instead of the tenant's.
CREATE TABLE ai_plugin_models (
    plugin     TEXT PRIMARY KEY,
    model      TEXT NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;

-- Every provider call, answered or not: the meter the tenant reads and the budget counts.
CREATE TABLE ai_usage (
    id            TEXT PRIMARY KEY,              -- aiu_<ULID>
    plugin        TEXT NOT NULL,
    feature       TEXT NOT NULL,
    provider      TEXT NOT NULL,
    model         TEXT NOT NULL,
    input_tokens  INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    latency_ms    INTEGER NOT NULL,
    outcome       TEXT NOT NULL,                 -- ok, or the error code
    request_id    TEXT NOT NULL,
    month         TEXT NOT NULL,                 -- YYYY-MM (UTC), for the budget
    created_at    TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX ai_usage_month ON ai_usage (month);

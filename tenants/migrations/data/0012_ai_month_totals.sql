-- The meter's running totals per month, kept with each metered call: the budget check before
-- every question reads one row instead of summing the month's calls (which grew with them).
CREATE TABLE ai_usage_months (
    month         TEXT PRIMARY KEY,              -- YYYY-MM (UTC)
    calls         INTEGER NOT NULL,
    input_tokens  INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO ai_usage_months (month, calls, input_tokens, output_tokens)
    SELECT month, COUNT(*), SUM(input_tokens), SUM(output_tokens) FROM ai_usage GROUP BY month;

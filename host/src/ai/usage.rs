//! The meter: one row per question a provider was asked (a repair included in it), in the
//! tenant's live file. The monthly budget counts its tokens; the tenant reads it through
//! `GET /api/v1/ai/usage`, `mobieus ai usage` and the console.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use serde::Serialize;
use tenants::db::Write;

use crate::time::to_rfc3339;

/// One question, as metered.
#[derive(Debug, Clone)]
pub struct Call {
    pub plugin: String,
    pub feature: String,
    pub provider: String,
    pub model: String,
    pub input_tokens: u32,
    pub output_tokens: u32,
    pub latency_ms: i64,
    /// `ok`, or the error code it ended with.
    pub outcome: &'static str,
    pub request_id: String,
}

/// `YYYY-MM` of an instant, in UTC: the budget's period.
pub fn month_of(at: DateTime<Utc>) -> String {
    at.format("%Y-%m").to_string()
}

pub fn record(w: &mut Write<'_>, call: &Call, now: DateTime<Utc>) -> tenants::Result<()> {
    let id = format!("aiu_{}", w.new_ulid());
    w.execute(
        "INSERT INTO ai_usage (id, plugin, feature, provider, model, input_tokens, output_tokens,
             latency_ms, outcome, request_id, month, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            id,
            call.plugin,
            call.feature,
            call.provider,
            call.model,
            call.input_tokens,
            call.output_tokens,
            call.latency_ms,
            call.outcome,
            call.request_id,
            month_of(now),
            to_rfc3339(&now),
        ],
    )?;
    w.execute(
        "INSERT INTO ai_usage_months (month, calls, input_tokens, output_tokens) VALUES (?1, 1, ?2, ?3)
         ON CONFLICT (month) DO UPDATE SET calls = calls + 1,
             input_tokens = input_tokens + ?2, output_tokens = output_tokens + ?3",
        params![month_of(now), call.input_tokens, call.output_tokens],
    )?;
    Ok(())
}

/// Tokens (in and out) metered in `month`: one row of the running totals.
pub fn month_total(conn: &Connection, month: &str) -> rusqlite::Result<u64> {
    conn.prepare_cached(
        "SELECT COALESCE(SUM(input_tokens + output_tokens), 0) FROM ai_usage_months WHERE month = ?1",
    )?
    .query_row([month], |r| r.get::<_, i64>(0))
    .map(|n| n.max(0) as u64)
}

/// A month of the meter, by plugin and model, with its latest calls.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MonthUsage {
    /// `YYYY-MM`, UTC.
    pub month: String,
    /// Input plus output tokens per month, if the tenant set a budget.
    pub monthly_token_budget: Option<u64>,
    pub calls: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub by_plugin: Vec<Total>,
    /// The month's latest calls, newest first (at most 50).
    pub recent: Vec<Metered>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Total {
    pub plugin: String,
    pub model: String,
    pub calls: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Metered {
    pub id: String,
    pub plugin: String,
    pub feature: String,
    pub provider: String,
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub latency_ms: u64,
    /// `ok`, or the error code the call ended with.
    pub outcome: String,
    pub request_id: String,
    pub created_at: String,
}

pub fn month(conn: &Connection, month: &str) -> rusqlite::Result<MonthUsage> {
    let budget: Option<i64> = conn
        .query_row(
            "SELECT monthly_token_budget FROM ai_provider WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?;
    let mut stmt = conn.prepare(
        "SELECT plugin, model, COUNT(*), SUM(input_tokens), SUM(output_tokens)
         FROM ai_usage WHERE month = ?1 GROUP BY plugin, model ORDER BY plugin, model",
    )?;
    let by_plugin: Vec<Total> = stmt
        .query_map([month], |r| {
            Ok(Total {
                plugin: r.get(0)?,
                model: r.get(1)?,
                calls: r.get::<_, i64>(2)? as u64,
                input_tokens: r.get::<_, i64>(3)? as u64,
                output_tokens: r.get::<_, i64>(4)? as u64,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = conn.prepare(
        "SELECT id, plugin, feature, provider, model, input_tokens, output_tokens, latency_ms,
             outcome, request_id, created_at
         FROM ai_usage WHERE month = ?1 ORDER BY id DESC LIMIT 50",
    )?;
    let recent = stmt
        .query_map([month], |r| {
            Ok(Metered {
                id: r.get(0)?,
                plugin: r.get(1)?,
                feature: r.get(2)?,
                provider: r.get(3)?,
                model: r.get(4)?,
                input_tokens: r.get::<_, i64>(5)? as u64,
                output_tokens: r.get::<_, i64>(6)? as u64,
                latency_ms: r.get::<_, i64>(7)?.max(0) as u64,
                outcome: r.get(8)?,
                request_id: r.get(9)?,
                created_at: r.get(10)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(MonthUsage {
        month: month.to_owned(),
        monthly_token_budget: budget.map(|b| b.max(0) as u64),
        calls: by_plugin.iter().map(|t| t.calls).sum(),
        input_tokens: by_plugin.iter().map(|t| t.input_tokens).sum(),
        output_tokens: by_plugin.iter().map(|t| t.output_tokens).sum(),
        by_plugin,
        recent,
    })
}

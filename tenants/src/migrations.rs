//! Versioned SQL, applied once per database file, in order, inside one transaction, and recorded in
//! `_migrations (set, version)`. A set is a named sequence: the host's `control` and `data` sets now,
//! one per plugin later.

use chrono::Utc;
use rusqlite::{Connection, TransactionBehavior, params};

use crate::{Error, Result};

#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub set: &'static str,
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Tables every tenant file has: users, posts, the event log, idempotency records, webhooks.
pub const DATA: &[Migration] = &[
    Migration {
        set: "data",
        version: 1,
        name: "core",
        sql: include_str!("../migrations/data/0001_core.sql"),
    },
    Migration {
        set: "data",
        version: 2,
        name: "webhooks",
        sql: include_str!("../migrations/data/0002_webhooks.sql"),
    },
    Migration {
        set: "data",
        version: 3,
        name: "plugin_support",
        sql: include_str!("../migrations/data/0003_plugin_support.sql"),
    },
    Migration {
        set: "data",
        version: 4,
        name: "plugin_cursors",
        sql: include_str!("../migrations/data/0004_plugin_cursors.sql"),
    },
    Migration {
        set: "data",
        version: 5,
        name: "files",
        sql: include_str!("../migrations/data/0005_files.sql"),
    },
    Migration {
        set: "data",
        version: 6,
        name: "event_chains",
        sql: include_str!("../migrations/data/0006_event_chains.sql"),
    },
    Migration {
        set: "data",
        version: 7,
        name: "plugin_timers",
        sql: include_str!("../migrations/data/0007_plugin_timers.sql"),
    },
    Migration {
        set: "data",
        version: 8,
        name: "mail_outbox",
        sql: include_str!("../migrations/data/0008_mail_outbox.sql"),
    },
    Migration {
        set: "data",
        version: 9,
        name: "ai",
        sql: include_str!("../migrations/data/0009_ai.sql"),
    },
    Migration {
        set: "data",
        version: 10,
        name: "groups",
        sql: include_str!("../migrations/data/0010_groups.sql"),
    },
    Migration {
        set: "data",
        version: 11,
        name: "scim",
        sql: include_str!("../migrations/data/0011_scim.sql"),
    },
    Migration {
        set: "data",
        version: 12,
        name: "ai_month_totals",
        sql: include_str!("../migrations/data/0012_ai_month_totals.sql"),
    },
    Migration {
        set: "data",
        version: 13,
        name: "user_bars",
        sql: include_str!("../migrations/data/0013_user_bars.sql"),
    },
];

/// Tables only the live file has: API keys, tenant settings, the audit log. Test keys are looked up
/// here too, so a tenant's keys live in one place, while their data goes to the sandbox file.
pub const CONTROL: &[Migration] = &[
    Migration {
        set: "control",
        version: 1,
        name: "keys_settings_audit",
        sql: include_str!("../migrations/control/0001_keys_settings_audit.sql"),
    },
    Migration {
        set: "control",
        version: 2,
        name: "plugins",
        sql: include_str!("../migrations/control/0002_plugins.sql"),
    },
    Migration {
        set: "control",
        version: 3,
        name: "admins",
        sql: include_str!("../migrations/control/0003_admins.sql"),
    },
    Migration {
        set: "control",
        version: 4,
        name: "scim_tokens",
        sql: include_str!("../migrations/control/0004_scim_tokens.sql"),
    },
];

const BOOKKEEPING: &str = "CREATE TABLE IF NOT EXISTS _migrations (
    set_name   TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    name       TEXT    NOT NULL,
    applied_at TEXT    NOT NULL,
    PRIMARY KEY (set_name, version)
)";

/// Applies what is missing of `migrations` (one set, sorted by version), in its own transaction. Safe to call from several
/// processes at once: the immediate transaction serialises them and the loser sees the work done.
/// Returns how many were applied.
pub fn apply(conn: &mut Connection, migrations: &[Migration]) -> Result<usize> {
    let Some(first) = migrations.first() else {
        return Ok(0);
    };
    debug_assert!(migrations.windows(2).all(|w| w[0].version < w[1].version));
    if current_version(conn, first.set)? >= migrations.last().map_or(0, |m| m.version) {
        return Ok(0);
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(BOOKKEEPING)?;
    let done: u32 = tx.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM _migrations WHERE set_name = ?1",
        [first.set],
        |r| r.get(0),
    )?;
    let mut applied = 0;
    for m in migrations.iter().filter(|m| m.version > done) {
        tx.execute_batch(m.sql).map_err(|source| Error::Migration {
            set: m.set.to_owned(),
            version: m.version,
            name: m.name.to_owned(),
            source,
        })?;
        tx.execute(
            "INSERT INTO _migrations (set_name, version, name, applied_at) VALUES (?1, ?2, ?3, ?4)",
            params![m.set, m.version, m.name, Utc::now().to_rfc3339()],
        )?;
        applied += 1;
    }
    tx.commit()?;
    Ok(applied)
}

fn current_version(conn: &Connection, set: &str) -> Result<u32> {
    let has_table: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations')",
        [],
        |r| r.get(0),
    )?;
    if !has_table {
        return Ok(0);
    }
    Ok(conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM _migrations WHERE set_name = ?1",
        [set],
        |r| r.get(0),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SET: &[Migration] = &[
        Migration {
            set: "t",
            version: 1,
            name: "a",
            sql: "CREATE TABLE a (x INTEGER);",
        },
        Migration {
            set: "t",
            version: 2,
            name: "b",
            sql: "CREATE TABLE b (x INTEGER);",
        },
    ];

    #[test]
    fn applies_once_in_order() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(apply(&mut conn, &SET[..1]).unwrap(), 1);
        assert_eq!(apply(&mut conn, SET).unwrap(), 1);
        assert_eq!(apply(&mut conn, SET).unwrap(), 0);
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM _migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
    }

    #[test]
    fn a_failing_migration_leaves_nothing_behind() {
        let mut conn = Connection::open_in_memory().unwrap();
        let broken = [
            SET[0],
            Migration {
                set: "t",
                version: 2,
                name: "broken",
                sql: "CREATE TABLE c (x INTEGER); NOT SQL;",
            },
        ];
        let err = apply(&mut conn, &broken).unwrap_err();
        assert!(err.to_string().contains("t/0002 (broken)"), "{err}");
        let tables: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('a', 'c')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0);
    }

    #[test]
    fn shipped_migrations_apply() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn, CONTROL).unwrap();
        apply(&mut conn, DATA).unwrap();
    }
}

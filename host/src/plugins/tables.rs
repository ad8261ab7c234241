//! Who owns a table in a tenant file: decided here, once, for the manifest check (which plugin
//! names may load) and the SQL sandbox (which tables a plugin's statements may touch).
//!
//! The rule: a plugin named `market` owns the tables and indexes whose names start with
//! `market_`, except a name the host uses itself or anything SQLite keeps (`sqlite_…`). A plugin
//! name is refused when the host already has a name inside that prefix (`api` would take
//! `api_keys`), when it is reserved, or when its prefix overlaps another plugin's (`market` and
//! `market_x` would share `market_x_…`). The host's names come from the host's own migrations,
//! applied once to an in-memory database, so a table the host adds is covered the day it lands.

use std::collections::BTreeSet;
use std::sync::LazyLock;

/// Names no plugin may take, whatever the host's tables are today: SQLite's own namespace,
/// the granted views' (`host_…`), the schemas SQLite names (`main`, `temp`), and the host's.
const RESERVED: &[&str] = &["sqlite", "host", "main", "temp", "mobieus", "pragma"];

/// Every table, index, view and trigger the host's migrations create in a tenant file.
static HOST_NAMES: LazyLock<BTreeSet<String>> = LazyLock::new(|| {
    let mut conn = rusqlite::Connection::open_in_memory().expect("an in-memory database");
    for set in [tenants::migrations::CONTROL, tenants::migrations::DATA] {
        tenants::migrations::apply(&mut conn, set).expect("the host's migrations apply");
    }
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master")
        .expect("sqlite_master");
    stmt.query_map([], |r| r.get::<_, String>(0))
        .expect("sqlite_master")
        .collect::<rusqlite::Result<_>>()
        .expect("sqlite_master")
});

/// The host's schema object names (for the sandbox's refusal messages and tests).
pub fn host_names() -> &'static BTreeSet<String> {
    &HOST_NAMES
}

/// The prefix of the tables `plugin` owns.
pub fn prefix(plugin: &str) -> String {
    format!("{plugin}_")
}

/// Whether the plugin whose prefix is `prefix` owns the table or index `name`.
pub fn owns(prefix: &str, name: &str) -> bool {
    name.len() > prefix.len()
        && name.starts_with(prefix)
        && !name.starts_with("sqlite_")
        && !HOST_NAMES.contains(name)
}

/// Why `name` cannot be a plugin's name, next to the plugins named `others`; `None` if it can.
pub fn refusal<'a>(name: &str, others: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let own = prefix(name);
    if RESERVED
        .iter()
        .any(|r| name == *r || name.starts_with(&prefix(r)))
        || name.starts_with("sqlite")
    {
        return Some(format!(
            "name `{name}` is reserved: the host keeps `{}` and `sqlite…` for itself",
            RESERVED.join("`, `")
        ));
    }
    if let Some(taken) = HOST_NAMES
        .iter()
        .find(|host| *host == name || host.starts_with(&own))
    {
        return Some(format!(
            "name `{name}` is taken: a plugin owns the tables named `{own}…`, and the host's `{taken}` is one of them"
        ));
    }
    for other in others {
        if other != name && (other.starts_with(&own) || name.starts_with(&prefix(other))) {
            return Some(format!(
                "name `{name}` overlaps plugin `{other}`: their tables (`{own}…`, `{other}_…`) would share names"
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_come_from_the_migrations() {
        for name in [
            "api_keys",
            "webhook_endpoints",
            "idempotency_keys",
            "audit_log",
            "host_users",
            "_migrations",
        ] {
            assert!(host_names().contains(name), "{name}");
        }
    }

    #[test]
    fn names_that_would_own_host_tables_are_refused() {
        for name in [
            "api",
            "plugin",
            "webhook",
            "admin",
            "idempotency",
            "audit",
            "users",
            "events",
            "posts",
            "files",
            "sqlite",
            "sqlitefoo",
            "host",
            "temp",
            "main",
            "mobieus",
            "webhook_endpoints",
            "counters",
            "settings",
            "host_x",
        ] {
            assert!(refusal(name, []).is_some(), "`{name}` was allowed");
        }
        for name in [
            "market",
            "moderation",
            "guestbook",
            "hostile",
            "know",
            "helpdesk",
            "learn",
            "apix",
        ] {
            assert_eq!(refusal(name, []), None, "`{name}`");
        }
    }

    #[test]
    fn overlapping_plugin_names_are_refused_both_ways() {
        assert!(refusal("market_x", ["market"]).is_some());
        assert!(refusal("market", ["market_x"]).is_some());
        assert_eq!(
            refusal("market", ["market"]),
            None,
            "an upgrade is not an overlap"
        );
        assert_eq!(refusal("marketplace", ["market"]), None);
    }

    #[test]
    fn a_prefix_never_reaches_a_host_or_sqlite_name() {
        assert!(owns("market_", "market_listings"));
        assert!(!owns("market_", "market_"));
        assert!(!owns("api_", "api_keys"));
        assert!(!owns("users_", "users_active_username"));
        assert!(!owns("sqlite_", "sqlite_sequence"));
    }
}

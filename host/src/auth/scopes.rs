//! The scope catalog. Host scopes guard host routes; surface scopes are the public names of the
//! seeds, claimed by the plugins that implement those surfaces.

pub struct Scope {
    pub name: &'static str,
    pub description: &'static str,
}

const fn s(name: &'static str, description: &'static str) -> Scope {
    Scope { name, description }
}

/// Scopes the host itself checks. The first-start demo key gets all of them.
pub const CORE: &[Scope] = &[
    s("events:read", "Read /api/v1/events."),
    s("users:read", "Read /api/v1/users and /api/v1/users/{id}."),
    s("users:write", "Create and delete users."),
    s("posts:read", "Read /api/v1/posts and /api/v1/posts/{id}."),
    s("posts:write", "Create and update posts."),
    s(
        "webhooks:read",
        "List webhook endpoints and delivery history.",
    ),
    s(
        "webhooks:manage",
        "Create, update and delete webhook endpoints.",
    ),
    s(
        "files:read",
        "Read /api/v1/files, /api/v1/files/{id} and their content.",
    ),
    s("files:write", "Upload files."),
    s(
        "groups:read",
        "Read /api/v1/groups, a group and its members.",
    ),
    s(
        "groups:write",
        "Create, rename and delete groups; add and remove members.",
    ),
    s(
        "ai:read",
        "Read the tenant's AI usage and budget (/api/v1/ai/usage).",
    ),
];

/// Scopes of the product surfaces named in the seeds; the surfaces' plugins check them.
pub const SURFACES: &[Scope] = &[
    s(
        "listings:read",
        "Read /api/v1/listings and /api/v1/listings/{id}.",
    ),
    s(
        "listings:write",
        "Create, update, sell and withdraw listings.",
    ),
    s(
        "reports:read",
        "Read reports and the moderation action log.",
    ),
    s("reports:write", "File reports."),
    s("reports:manage", "Dismiss or resolve reports."),
    s(
        "helpdesk:read",
        "Read helpdesk resources and the read-side AI hooks.",
    ),
    s(
        "helpdesk:write",
        "Create and update tickets and the write-side AI hooks.",
    ),
    s(
        "helpdesk:admin",
        "Helpdesk notification prefs, audit log and admin-only AI hooks.",
    ),
    s("learn:read", "Read every Learn resource."),
    s(
        "learn:write",
        "Create, update, publish and archive Learn resources.",
    ),
    s("learn:cohorts:grant", "Grant cohort access."),
    s("learn:xapi:read", "Query the xAPI statement store."),
    s("learn:xapi:write", "Store xAPI statements."),
    s(
        "know:read",
        "List pages, get a page or revision, run search.",
    ),
    s(
        "know:write",
        "Create, update and delete pages; approve and reject revisions.",
    ),
];

/// The scopes of seed 001 (the Cobuntu REST API), named as its clients name them and claimed by
/// the plugin serving `/api/v1/communities`. They grant nothing on the rest of `/api/v1`.
pub const COBUNTU: &[Scope] = &[
    s(
        "READ_PUBLIC",
        "List and get public resources: events, articles, products, members, atlas hotspots, segments.",
    ),
    s(
        "WRITE_MEMBERS",
        "Member-level writes: RSVPs, form submissions, rules, kicks, bans, applications.",
    ),
    s("WRITE_SALES", "RSVP to events and checkout flows."),
    s(
        "WRITE_BROADCASTS",
        "Send emails to segments (5 per community per 24 hours).",
    ),
    s(
        COBUNTU_ADMIN,
        "Everything above, and the community's own data: events, articles, products, hotspots, segments, applications.",
    ),
];

/// Seed 001's `ADMIN`, which satisfies its other scopes (and alone bans from the console,
/// [`crate::admin::bars`]).
pub const COBUNTU_ADMIN: &str = "ADMIN";

/// The namespace whose plugin claims [`COBUNTU`]'s scopes.
pub const COBUNTU_NAMESPACE: &str = "communities";

pub fn is_known(name: &str) -> bool {
    CORE.iter()
        .chain(SURFACES)
        .chain(COBUNTU)
        .any(|s| s.name == name)
}

/// Whether a key holding `held` passes a check for `required`: the same scope, or Cobuntu's
/// `ADMIN` for any of that surface's scopes (seed 001: "ADMIN satisfies every other scope's
/// check").
pub fn satisfies(held: &str, required: &str) -> bool {
    held == required || (held == COBUNTU_ADMIN && COBUNTU.iter().any(|s| s.name == required))
}

pub fn core_names() -> Vec<String> {
    CORE.iter().map(|s| s.name.to_owned()).collect()
}

/// A read scope is one a publishable (browser-safe) key may hold: `*:read`, and Cobuntu's
/// `READ_PUBLIC`.
pub fn is_read(name: &str) -> bool {
    name.ends_with(":read") || name == "READ_PUBLIC"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_satisfies_cobuntus_scopes_only() {
        assert!(satisfies("ADMIN", "WRITE_BROADCASTS"));
        assert!(satisfies("ADMIN", "READ_PUBLIC"));
        assert!(satisfies("READ_PUBLIC", "READ_PUBLIC"));
        assert!(!satisfies("ADMIN", "users:write"));
        assert!(!satisfies("WRITE_SALES", "WRITE_MEMBERS"));
        assert!(is_read("READ_PUBLIC") && !is_read("WRITE_MEMBERS"));
        assert!(
            COBUNTU
                .iter()
                .all(|s| s.name.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        );
    }

    #[test]
    fn names_are_unique_and_well_formed() {
        let all: Vec<_> = CORE.iter().chain(SURFACES).map(|s| s.name).collect();
        let mut sorted = all.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), all.len());
        assert!(
            all.iter()
                .all(|n| n.contains(':') && n.chars().all(|c| c.is_ascii_lowercase() || c == ':'))
        );
    }
}

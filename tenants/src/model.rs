use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Error;

/// A tenant's address: a lowercase DNS label (`acme` in `acme.localhost`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Slug(String);

impl Slug {
    pub fn parse(s: &str) -> Result<Self, Error> {
        let valid = !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if valid {
            Ok(Slug(s.to_owned()))
        } else {
            Err(Error::Invalid(format!(
                "invalid tenant slug `{s}`: use 1-63 characters of a-z, 0-9 and `-`, \
                 not starting or ending with `-` (a lowercase DNS label)"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The billing plan. The public API is open to every plan but `starter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Plan {
    Starter,
    Pro,
    CreatorPlus,
    Sovereign,
}

impl Plan {
    pub const ALL: [Plan; 4] = [Plan::Starter, Plan::Pro, Plan::CreatorPlus, Plan::Sovereign];
    /// Plans that may call the public API, in the order the seeds name them.
    pub const API_PLANS: [Plan; 3] = [Plan::Pro, Plan::CreatorPlus, Plan::Sovereign];

    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Starter => "starter",
            Plan::Pro => "pro",
            Plan::CreatorPlus => "creator-plus",
            Plan::Sovereign => "sovereign",
        }
    }

    pub fn has_api(self) -> bool {
        self != Plan::Starter
    }
}

impl FromStr for Plan {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Plan::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "unknown plan `{s}`: expected one of starter, pro, creator-plus, sovereign"
                ))
            })
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which data a key acts on: live keys on `live.db`, test keys on `sandbox.db`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Env {
    Live,
    Test,
}

impl Env {
    pub fn as_str(self) -> &'static str {
        match self {
            Env::Live => "live",
            Env::Test => "test",
        }
    }

    /// The database file of this environment in a tenant's directory.
    pub fn file_name(self) -> &'static str {
        match self {
            Env::Live => "live.db",
            Env::Test => "sandbox.db",
        }
    }
}

impl FromStr for Env {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "live" => Ok(Env::Live),
            "test" => Ok(Env::Test),
            _ => Err(Error::Invalid(format!(
                "unknown environment `{s}`: expected live or test"
            ))),
        }
    }
}

impl fmt::Display for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of the registry. `id` is never reused, so a tenant deleted and created again under the
/// same slug never meets a pool that still points at the old, unlinked files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tenant {
    pub id: String,
    pub slug: Slug,
    pub plan: Plan,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_dns_labels() {
        for ok in ["acme", "a", "acme-2", "0day", &"a".repeat(63)] {
            assert!(Slug::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Acme",
            "-acme",
            "acme-",
            "ac_me",
            "ac.me",
            "acmé",
            &"a".repeat(64),
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plans_round_trip() {
        for p in Plan::ALL {
            assert_eq!(p.as_str().parse::<Plan>().unwrap(), p);
        }
        assert!("enterprise".parse::<Plan>().is_err());
        assert!(!Plan::Starter.has_api() && Plan::Pro.has_api());
    }
}

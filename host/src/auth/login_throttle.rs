//! The console's login throttle: failed sign-ins counted per tenant and address and per tenant
//! and email, so neither guessing one account from many addresses nor many accounts from one
//! address gets far.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed logins per tenant and address, and per tenant and email: after `LIMIT` in `WINDOW`,
/// the next attempts are refused until the oldest failure ages out.
#[derive(Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<(String, String), Vec<Instant>>>,
}

impl LoginThrottle {
    pub const LIMIT: usize = 5;
    pub const WINDOW: Duration = Duration::from_secs(15 * 60);

    fn keys(tenant: &str, ip: &str, email: &str) -> [(String, String); 2] {
        let ip = ip
            .parse::<IpAddr>()
            .map_or(ip.to_owned(), |ip| ip.to_string());
        [
            (tenant.to_owned(), format!("ip:{ip}")),
            (
                tenant.to_owned(),
                format!("email:{}", email.to_ascii_lowercase()),
            ),
        ]
    }

    /// Seconds to wait, if this attempt must be refused.
    pub fn wait(&self, tenant: &str, ip: &str, email: &str) -> Option<u64> {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        Self::keys(tenant, ip, email)
            .iter()
            .filter_map(|key| {
                let list = failures.get_mut(key)?;
                list.retain(|t| now.duration_since(*t) < Self::WINDOW);
                (list.len() >= Self::LIMIT)
                    .then(|| (Self::WINDOW - now.duration_since(list[0])).as_secs() + 1)
            })
            .max()
    }

    pub fn failed(&self, tenant: &str, ip: &str, email: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() > 100_000 {
            failures.clear(); // a flood of distinct keys: forget rather than grow without bound
        }
        for key in Self::keys(tenant, ip, email) {
            failures.entry(key).or_default().push(Instant::now());
        }
    }

    pub fn succeeded(&self, tenant: &str, ip: &str, email: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for key in Self::keys(tenant, ip, email) {
            failures.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_throttle_refuses_after_five_failures_by_address_or_email() {
        let t = LoginThrottle::default();
        for _ in 0..LoginThrottle::LIMIT {
            assert!(t.wait("acme", "10.0.0.1", "a@x").is_none());
            t.failed("acme", "10.0.0.1", "a@x");
        }
        assert!(t.wait("acme", "10.0.0.1", "b@x").is_some(), "same address");
        assert!(t.wait("acme", "10.0.0.2", "A@x").is_some(), "same email");
        assert!(
            t.wait("globex", "10.0.0.1", "a@x").is_none(),
            "another tenant"
        );
        t.succeeded("acme", "10.0.0.1", "a@x");
        assert!(t.wait("acme", "10.0.0.1", "a@x").is_none());
    }
}

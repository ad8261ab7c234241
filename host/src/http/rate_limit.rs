//! Per-key rate limits: a 60-second window per key, starting at the key's first request in the
//! window. The ceiling is resolved per request (per-key override → tenant default → platform
//! default), so an edit applies to the next request. Cobuntu-format keys count per second, as
//! that API's clients expect ([`Ceiling::of`]).

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::{HeaderMap, HeaderValue};

pub const WINDOW_SECS: i64 = 60;

#[derive(Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, Window>>,
}

struct Window {
    started: i64,
    length: i64,
    used: u32,
}

/// How many requests a key may make, per how many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ceiling {
    pub limit: u32,
    pub window_secs: i64,
}

impl Ceiling {
    pub fn per_minute(limit: u32) -> Ceiling {
        Ceiling {
            limit,
            window_secs: WINDOW_SECS,
        }
    }

    /// A key's ceiling: its own per-minute limit if it has one; else, for a Cobuntu-format key,
    /// seed 001's per-second limit (publishable 100/s, secret 50/s); else `per_minute_default`
    /// (the tenant's, or the platform's).
    pub fn of(key: &crate::auth::ApiKey, per_minute_default: u32) -> Ceiling {
        use crate::auth::keys::{KeyFormat, KeyKind};
        match (key.rate_limit_per_minute, key.format()) {
            (Some(own), _) => Ceiling::per_minute(own),
            (None, KeyFormat::Cobuntu) => Ceiling {
                limit: if key.kind == KeyKind::Publishable {
                    100
                } else {
                    50
                },
                window_secs: 1,
            },
            (None, KeyFormat::Mobieus) => Ceiling::per_minute(per_minute_default),
        }
    }

    /// `100 requests per second`, `600 requests per minute`.
    pub fn describe(&self) -> String {
        match self.window_secs {
            1 => format!("{} requests per second", self.limit),
            60 => format!("{} requests per minute", self.limit),
            n => format!("{} requests per {n} seconds", self.limit),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Unix seconds at which the window resets.
    pub reset: i64,
}

impl Decision {
    pub fn retry_after(&self, now: i64) -> i64 {
        (self.reset - now).max(1)
    }

    pub fn write_headers(&self, headers: &mut HeaderMap) {
        headers.insert("x-ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(self.remaining));
        headers.insert("x-ratelimit-reset", HeaderValue::from(self.reset));
    }
}

impl RateLimiter {
    /// Counts one request by `key_id` at `now` (unix seconds) against `ceiling`. A refused request
    /// does not count.
    pub fn check(&self, key_id: &str, ceiling: Ceiling, now: i64) -> Decision {
        let Ceiling { limit, window_secs } = ceiling;
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let window = match windows.get_mut(key_id) {
            Some(w) => w,
            None => windows.entry(key_id.to_owned()).or_insert(Window {
                started: now,
                length: window_secs,
                used: 0,
            }),
        };
        if now >= window.started + window.length || window.length != window_secs {
            *window = Window {
                started: now,
                length: window_secs,
                used: 0,
            };
        }
        let allowed = window.used < limit;
        if allowed {
            window.used += 1;
        }
        Decision {
            allowed,
            limit,
            remaining: limit.saturating_sub(window.used),
            reset: window.started + window.length,
        }
    }

    /// Drops windows that have ended, so memory follows the keys in use.
    pub fn prune(&self, now: i64) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        windows.retain(|_, w| now < w.started + w.length);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_within_a_window_and_resets_after_it() {
        let limiter = RateLimiter::default();
        let d = limiter.check("k", Ceiling::per_minute(2), 1000);
        assert!(d.allowed && d.remaining == 1 && d.reset == 1060);
        assert!(limiter.check("k", Ceiling::per_minute(2), 1010).allowed);
        let refused = limiter.check("k", Ceiling::per_minute(2), 1059);
        assert!(!refused.allowed && refused.remaining == 0 && refused.retry_after(1059) == 1);
        assert!(limiter.check("other", Ceiling::per_minute(2), 1059).allowed);
        let fresh = limiter.check("k", Ceiling::per_minute(2), 1060);
        assert!(fresh.allowed && fresh.reset == 1120);
        // A raised limit applies to the current window at once.
        assert!(limiter.check("k", Ceiling::per_minute(2), 1061).allowed);
        assert!(!limiter.check("k", Ceiling::per_minute(2), 1062).allowed);
        assert!(limiter.check("k", Ceiling::per_minute(5), 1063).allowed);
        limiter.prune(2000);
        assert!(limiter.windows.lock().unwrap().is_empty());
    }

    #[test]
    fn a_per_second_ceiling_frees_the_next_second() {
        let limiter = RateLimiter::default();
        let ceiling = Ceiling {
            limit: 2,
            window_secs: 1,
        };
        assert!(limiter.check("k", ceiling, 1000).allowed);
        assert!(limiter.check("k", ceiling, 1000).allowed);
        let refused = limiter.check("k", ceiling, 1000);
        assert!(!refused.allowed && refused.retry_after(1000) == 1 && refused.reset == 1001);
        assert!(limiter.check("k", ceiling, 1001).allowed);
        assert_eq!(ceiling.describe(), "2 requests per second");
    }
}

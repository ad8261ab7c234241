//! When to try again. The production schedule is the seeds': 0, 1, 5, 30, 120, 360 and 1440
//! minutes after the event; a delivery that fails its last attempt has failed.

use std::time::Duration;

/// Delays before each attempt, counted from the previous one.
pub const SCHEDULE: [Duration; 7] = [
    Duration::from_secs(0),
    Duration::from_secs(60),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(120 * 60),
    Duration::from_secs(360 * 60),
    Duration::from_secs(1440 * 60),
];

/// An endpoint whose deliveries fail this many times in a row (each after all its retries) is
/// disabled.
pub const DISABLE_AFTER: u32 = 5;

/// Per-attempt timeout.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// The longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// The delay before attempt number `next` (1-based: attempt 1 is the first), or `None` when the
/// schedule is spent.
pub fn delay_before(schedule: &[Duration], next: u32) -> Option<Duration> {
    schedule.get(next.checked_sub(1)? as usize).copied()
}

/// Parses `250ms`, `2s`, `5m`, `1h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 500ms, 2s, 5m or 1h"))?;
    Ok(match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return Err(format!("`{s}` is not a duration like 500ms, 2s, 5m or 1h")),
    })
}

/// Parses a schedule like `0s,1s,2s`.
pub fn parse_schedule(s: &str) -> Result<Vec<Duration>, String> {
    let schedule: Vec<Duration> = s.split(',').map(parse_duration).collect::<Result<_, _>>()?;
    if schedule.is_empty() || schedule.len() > 50 {
        return Err("a schedule has 1 to 50 delays".into());
    }
    Ok(schedule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule() {
        assert_eq!(delay_before(&SCHEDULE, 1), Some(Duration::ZERO));
        assert_eq!(delay_before(&SCHEDULE, 2), Some(Duration::from_secs(60)));
        assert_eq!(
            delay_before(&SCHEDULE, 7),
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(delay_before(&SCHEDULE, 8), None);
        assert_eq!(
            parse_schedule("0s,1s,2s").unwrap(),
            vec![
                Duration::ZERO,
                Duration::from_secs(1),
                Duration::from_secs(2)
            ]
        );
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        for bad in ["", "s", "1d", "-1s", "1.5s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}

//! Times are RFC 3339 UTC strings with millisecond precision everywhere: in JSON and in the
//! database, so they sort as text.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serializer;

pub fn to_rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn parse_rfc3339(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

pub fn ser<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&to_rfc3339(t))
}

pub fn ser_opt<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => ser(t, s),
        None => s.serialize_none(),
    }
}

/// When a ULID was minted (its first 48 bits): ids are minted at commit, so this is a row's
/// creation time.
pub fn ulid_time(ulid: ulid::Ulid) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ulid.timestamp_ms() as i64).unwrap_or_default()
}

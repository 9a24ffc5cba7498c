//! The one text form of time (SPEC: RFC 3339 UTC with milliseconds), stored and shown alike.
//! Fixed width and always `Z`, so stored times sort as text in time order.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};

/// A source of the current time. The server reads time only through one, so tests can set it.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The real clock.
pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

pub fn format(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Reads a time written by `format` (or any RFC 3339 time).
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

/// For `#[serde(serialize_with)]` on a time field.
pub fn serialize<S: serde::Serializer>(
    time: &DateTime<Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(*time))
}

/// For `#[serde(serialize_with)]` on an optional time field.
pub fn serialize_optional<S: serde::Serializer>(
    time: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match time {
        Some(time) => serialize(time, serializer),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn formats_with_milliseconds_and_z() {
        let time = Utc.timestamp_millis_opt(1_795_370_645_123).unwrap();
        assert_eq!(format(time), "2026-11-22T18:04:05.123Z");
        assert_eq!(parse(&format(time)), Some(time));
    }
}

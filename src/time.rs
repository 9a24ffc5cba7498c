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

/// Reads a duration as people type it (SPEC §9): `90s`, `15m`, `4h`, `7d`, or a number of seconds.
pub fn parse_duration(text: &str) -> Result<chrono::Duration, String> {
    let invalid = || format!("`{text}` is not a duration; write it as 90s, 15m, 4h, 7d or seconds");
    let (number, unit_seconds) = match text.char_indices().last() {
        Some((at, 's')) => (&text[..at], 1),
        Some((at, 'm')) => (&text[..at], 60),
        Some((at, 'h')) => (&text[..at], 3600),
        Some((at, 'd')) => (&text[..at], 86_400),
        _ => (text, 1),
    };
    if number.is_empty() || !number.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(invalid());
    }
    number
        .parse::<i64>()
        .ok()
        .and_then(|count| count.checked_mul(unit_seconds))
        .and_then(chrono::Duration::try_seconds)
        .ok_or_else(invalid)
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

    #[test]
    fn durations_take_a_unit_or_plain_seconds() {
        for (text, seconds) in [
            ("1s", 1),
            ("90", 90),
            ("10m", 600),
            ("24h", 86_400),
            ("7d", 604_800),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(chrono::Duration::seconds(seconds)),
                "{text}"
            );
        }
        for bad in [
            "",
            "s",
            "-1s",
            "1.5h",
            "1w",
            "10 m",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}

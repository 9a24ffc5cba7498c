//! What one delivery may carry beyond its size in bytes: how deep its JSON nests and how many
//! events it holds. Both are settings (`--max-json-depth`, `--max-batch`), and ingest and dry
//! runs read bodies through the same `DeliveryLimits`, so a dry run refuses exactly what the
//! real request would.

use serde_json::Value;

use crate::formats::{Format, FormatError, ParsedEvent};

/// Real payloads nest a handful of levels (PagerDuty's `custom_details` a few more); 64 leaves
/// room for any sender while keeping a hostile body from costing a deep recursion.
pub const DEFAULT_MAX_JSON_DEPTH: u8 = 64;
/// serde_json refuses 128 levels on its own, so a higher setting could never take effect.
pub const MAX_JSON_DEPTH: u8 = 127;
/// SPEC §3: a batch holds up to 1,000 events.
pub const DEFAULT_MAX_BATCH: u16 = 1000;
/// The most `--max-batch` may allow: every event of a delivery is applied in one transaction,
/// and a larger one would hold the writer (and every other sender) for too long.
pub const MAX_BATCH: u16 = 10_000;

/// The two limits, checked when they are set (see `LimitArgs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryLimits {
    max_json_depth: usize,
    max_batch: usize,
}

impl Default for DeliveryLimits {
    fn default() -> DeliveryLimits {
        DeliveryLimits {
            max_json_depth: DEFAULT_MAX_JSON_DEPTH.into(),
            max_batch: DEFAULT_MAX_BATCH.into(),
        }
    }
}

/// `--max-json-depth` and `--max-batch`, shared by `serve` and `integration test`.
#[derive(Debug, Clone, clap::Args)]
pub struct LimitArgs {
    /// How deep a delivery's JSON may nest, in arrays and objects (deeper: 400 json_too_deep).
    #[arg(
        long,
        env = "ALERTGATE_MAX_JSON_DEPTH",
        default_value_t = DEFAULT_MAX_JSON_DEPTH,
        value_parser = clap::value_parser!(u8).range(1..=i64::from(MAX_JSON_DEPTH))
    )]
    pub max_json_depth: u8,
    /// The most events one delivery may carry (more: 422, nothing applied).
    #[arg(
        long,
        env = "ALERTGATE_MAX_BATCH",
        default_value_t = DEFAULT_MAX_BATCH,
        value_parser = clap::value_parser!(u16).range(1..=i64::from(MAX_BATCH))
    )]
    pub max_batch: u16,
}

impl From<&LimitArgs> for DeliveryLimits {
    fn from(args: &LimitArgs) -> DeliveryLimits {
        DeliveryLimits::new(args.max_json_depth, args.max_batch)
    }
}

/// Why a body is not JSON alertgate will read.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    #[error("the body is not valid JSON: {0}")]
    Invalid(#[from] serde_json::Error),
    #[error(
        "the body nests deeper than {limit} levels (at line {line} column {column}); \
         the limit is set by --max-json-depth"
    )]
    TooDeep {
        limit: usize,
        line: usize,
        column: usize,
    },
}

impl JsonError {
    /// The error code of SPEC §8 that names this failure.
    pub fn code(&self) -> &'static str {
        match self {
            JsonError::Invalid(_) => "invalid_json",
            JsonError::TooDeep { .. } => "json_too_deep",
        }
    }
}

impl DeliveryLimits {
    /// Limits within their ranges: depth 1–127, batch 1–10,000 (out-of-range values are
    /// clamped; the command line refuses them before they get here).
    pub fn new(max_json_depth: u8, max_batch: u16) -> DeliveryLimits {
        DeliveryLimits {
            max_json_depth: max_json_depth.clamp(1, MAX_JSON_DEPTH).into(),
            max_batch: max_batch.clamp(1, MAX_BATCH).into(),
        }
    }

    pub fn max_json_depth(&self) -> usize {
        self.max_json_depth
    }

    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// The body as JSON. The depth is checked on the bytes first, so a hostile body is refused
    /// before anything is built from it.
    pub fn parse_json(&self, body: &[u8]) -> Result<Value, JsonError> {
        if let Some((line, column)) = first_too_deep(body, self.max_json_depth) {
            return Err(JsonError::TooDeep {
                limit: self.max_json_depth,
                line,
                column,
            });
        }
        Ok(serde_json::from_slice(body)?)
    }

    /// Reads `body` with `format`, refusing more events than `--max-batch` allows. The error
    /// names the part of the body that holds the events.
    pub fn read_events(
        &self,
        format: &Format,
        body: &Value,
    ) -> Result<Vec<ParsedEvent>, FormatError> {
        let events = format.read(body)?;
        if events.len() > self.max_batch {
            let message = format!(
                "holds {} events; the most one request may carry is {} (--max-batch)",
                events.len(),
                self.max_batch
            );
            return Err(FormatError::new(format.batch_field(), message));
        }
        Ok(events)
    }
}

/// The line and column (1-based, in bytes) of the first `[` or `{` that opens level `limit + 1`,
/// outside strings. Unbalanced or malformed input is left to the JSON parser.
fn first_too_deep(body: &[u8], limit: usize) -> Option<(usize, usize)> {
    let (mut depth, mut line, mut line_start) = (0usize, 1usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for (offset, &byte) in body.iter().enumerate() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Some((line, offset - line_start + 1));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'\n' => {
                line += 1;
                line_start = offset + 1;
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nested(levels: usize) -> String {
        "[".repeat(levels) + &"]".repeat(levels)
    }

    #[test]
    fn the_depth_limit_is_exact() {
        let limits = DeliveryLimits::new(3, 10);
        assert!(limits.parse_json(nested(3).as_bytes()).is_ok());
        assert!(limits.parse_json(br#"{"a": [{"b": 1}]}"#).is_ok());
        let error = limits.parse_json(nested(4).as_bytes()).unwrap_err();
        assert!(matches!(
            error,
            JsonError::TooDeep {
                limit: 3,
                line: 1,
                column: 4
            }
        ));
        assert!(error.to_string().contains("--max-json-depth"));
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        let limits = DeliveryLimits::new(2, 10);
        let body = br#"{"title": "[[[{{{ \"[[[ \\", "tags": ["x"]}"#;
        assert!(limits.parse_json(body).is_ok());
    }

    #[test]
    fn the_position_counts_lines() {
        let limits = DeliveryLimits::new(1, 10);
        let error = limits.parse_json(b"{\n  \"a\":\n   [1]}").unwrap_err();
        assert!(matches!(
            error,
            JsonError::TooDeep {
                line: 3,
                column: 4,
                ..
            }
        ));
    }

    #[test]
    fn invalid_json_is_still_invalid_json() {
        let limits = DeliveryLimits::default();
        assert!(matches!(
            limits.parse_json(b"{\"a\": "),
            Err(JsonError::Invalid(_))
        ));
        assert!(matches!(
            limits.parse_json(b"]]]]"),
            Err(JsonError::Invalid(_))
        ));
    }

    #[test]
    fn the_highest_setting_is_just_below_serde_jsons_own_limit() {
        let limits = DeliveryLimits::new(u8::MAX, 10);
        assert_eq!(limits.max_json_depth(), usize::from(MAX_JSON_DEPTH));
        let deepest = nested(usize::from(MAX_JSON_DEPTH));
        assert!(limits.parse_json(deepest.as_bytes()).is_ok());
        let beyond = nested(usize::from(MAX_JSON_DEPTH) + 1);
        assert!(serde_json::from_str::<Value>(&beyond).is_err());
    }

    #[test]
    fn settings_are_clamped_to_their_ranges() {
        assert_eq!(DeliveryLimits::new(0, 0), DeliveryLimits::new(1, 1));
        assert_eq!(DeliveryLimits::new(1, u16::MAX).max_batch(), 10_000);
    }

    #[test]
    fn a_batch_over_the_limit_is_refused_and_named() {
        let limits = DeliveryLimits::new(8, 2);
        let two = json!([
            {"event_type": "create", "Id": "a", "Title": "x"},
            {"event_type": "resolve", "Id": "a"},
        ]);
        assert_eq!(
            limits.read_events(&Format::Pagertree, &two).unwrap().len(),
            2
        );
        let three = json!([
            {"event_type": "create", "Id": "a", "Title": "x"},
            {"event_type": "resolve", "Id": "a"},
            {"event_type": "resolve", "Id": "b"},
        ]);
        let error = limits.read_events(&Format::Pagertree, &three).unwrap_err();
        assert_eq!(error.field, "[]");
        assert!(error.message.contains("holds 3 events"), "{error}");
        assert!(error.message.contains("is 2 (--max-batch)"), "{error}");
    }

    #[test]
    fn alertmanager_groups_are_batches_too() {
        let alert = json!({"status": "firing", "fingerprint": "f", "labels": {"alertname": "A"},
                           "startsAt": "2026-01-01T00:00:00Z"});
        let body = json!({"version": "4", "alerts": [alert, alert, alert]});
        let error = DeliveryLimits::new(8, 2)
            .read_events(&Format::Alertmanager, &body)
            .unwrap_err();
        assert_eq!(error.field, "alerts");
    }
}

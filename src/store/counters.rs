//! The counters behind `GET /v1/stats` (tables `alert_counts` and `response_times`), gathered
//! by the writer for each group and added in the group's own transaction, whichever store keeps
//! them.
//!
//! A `Tally` holds what a group's events add: a group of a thousand creates is one update of one
//! counter row, not a thousand. What a rolled-back group or request gathered is thrown away with
//! it, and what was already written is undone by the database with the rest, so the counters
//! never count an event twice. Each store writes a tally in its own SQL.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::lifecycle::{Alert, Outcome};
use crate::model::State;

/// The widths of the `response_times` buckets in milliseconds, finest first; each divides the
/// next, so a range of time splits into whole buckets of each grain.
pub(super) const GRAINS: [i64; 5] = [1, 1_000, 60_000, 3_600_000, 86_400_000];

/// The sums of one `response_times` bucket, or what a group adds to them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct ResponseSums {
    pub acknowledged: i64,
    pub to_acknowledge: i64,
    pub resolved: i64,
    pub to_resolve: i64,
}

impl ResponseSums {
    /// Mean time to acknowledge, in seconds; `None` when no episode was acknowledged.
    pub(super) fn mean_to_acknowledge(&self) -> Option<f64> {
        mean_seconds(self.acknowledged, self.to_acknowledge)
    }

    /// Mean time to resolve, in seconds; `None` when no episode was resolved.
    pub(super) fn mean_to_resolve(&self) -> Option<f64> {
        mean_seconds(self.resolved, self.to_resolve)
    }
}

/// The mean of `count` durations summing to `total` milliseconds, in seconds.
fn mean_seconds(count: i64, total: i64) -> Option<f64> {
    // Counts and sums of milliseconds stay far below 2^52: exact as f64.
    #[allow(clippy::cast_precision_loss)]
    (count > 0).then(|| total as f64 / count as f64 / 1000.0)
}

/// What the events of a group (or of one request, when requests are kept apart) add to the
/// counters, not yet written.
#[derive(Debug, Default)]
pub(super) struct Tally {
    counts: HashMap<(String, State), i64>,
    /// By (grain, bucket start).
    times: HashMap<(i64, i64), ResponseSums>,
}

impl Tally {
    /// Counts an alert written as `alert` that was `previous` (`None`: it is new) after an event
    /// with `outcome`.
    pub(super) fn record(&mut self, previous: Option<&Alert>, alert: &Alert, outcome: Outcome) {
        let before = previous.map(|previous| previous.state);
        if before != Some(alert.state) {
            if let Some(state) = before {
                *self
                    .counts
                    .entry((alert.integration.clone(), state))
                    .or_default() -= 1;
            }
            *self
                .counts
                .entry((alert.integration.clone(), alert.state))
                .or_default() += 1;
        }
        // The lifecycle acknowledges and resolves an episode at most once each, so these are
        // its first acknowledge and its resolve.
        match (outcome, alert.acknowledged_at, alert.resolved_at) {
            (Outcome::Acknowledged, Some(at), _) => {
                let took = millis(at) - millis(alert.opened_at);
                self.add_time(alert.opened_at, |sums| {
                    sums.acknowledged += 1;
                    sums.to_acknowledge += took;
                });
            }
            (Outcome::Resolved, _, Some(at)) => {
                let took = millis(at) - millis(alert.opened_at);
                self.add_time(alert.opened_at, |sums| {
                    sums.resolved += 1;
                    sums.to_resolve += took;
                });
            }
            _ => {}
        }
    }

    fn add_time(&mut self, opened: DateTime<Utc>, add: impl Fn(&mut ResponseSums)) {
        let opened = millis(opened);
        for grain in GRAINS {
            add(self
                .times
                .entry((grain, bucket(opened, grain)))
                .or_default());
        }
    }

    /// Forgets what was gathered: its events were rolled back.
    pub(super) fn clear(&mut self) {
        self.counts.clear();
        self.times.clear();
    }

    /// What the gathered events add to `alert_counts`, by integration and state; zeros left out.
    pub(super) fn drain_counts(&mut self) -> impl Iterator<Item = ((String, State), i64)> + '_ {
        self.counts.drain().filter(|(_, count)| *count != 0)
    }

    /// What the gathered events add to `response_times`, by (grain, bucket start).
    pub(super) fn drain_times(&mut self) -> impl Iterator<Item = ((i64, i64), ResponseSums)> + '_ {
        self.times.drain()
    }
}

/// Milliseconds since 1970: the precision times are stored with (`time::format` drops the
/// rest, as this does).
fn millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

/// The start of the bucket of `grain` that holds `millis`, as schema step 5 computes it.
pub(super) fn bucket(millis: i64, grain: i64) -> i64 {
    millis - millis % grain
}

/// The first multiple of `grain` at or after `millis`.
pub(super) fn round_up(millis: i64, grain: i64) -> i64 {
    let start = millis.div_euclid(grain) * grain;
    if start == millis {
        start
    } else {
        start.saturating_add(grain)
    }
}

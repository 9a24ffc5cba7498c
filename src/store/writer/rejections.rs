//! What rejected deliveries may cost (SPEC §2). Anyone who can guess an integration's name can
//! send it requests that fail authentication, as fast as the network allows; each would be a row
//! in the delivery log and a job for the writer. So each integration has a token bucket: up to
//! `per_second` rejections a second (with a burst of as many) are recorded in full, and the rest
//! are only counted here and written as one tally per integration about once a second. The
//! writer's work for rejections, and the rows they add, are then bounded by the rate however
//! fast they come, and accepted deliveries never wait behind them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::store::UnrecordedRejections;

/// Buckets kept before the full (idle) ones are forgotten; integrations are few, but names of
/// removed ones would otherwise stay forever.
const MOST_BUCKETS: usize = 1024;

/// What becomes of one rejection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::store) enum Admission {
    /// Within the rate: record it in full.
    Record,
    /// Beyond it: counted. `first` when no count was waiting before, so the writer, which may
    /// be idle and waiting for work, must be woken to write the tally in a second.
    Counted { first: bool },
}

/// The per-integration rate of recorded rejections, and the counts of those not recorded.
pub(in crate::store) struct RejectionGate {
    per_second: f64,
    state: Mutex<GateState>,
}

#[derive(Default)]
struct GateState {
    buckets: HashMap<String, Bucket>,
    unrecorded: HashMap<String, UnrecordedRejections>,
}

struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl RejectionGate {
    /// Records at most `per_second` rejections a second per integration; 0 records none.
    pub(in crate::store) fn new(per_second: u32) -> RejectionGate {
        RejectionGate {
            per_second: f64::from(per_second),
            state: Mutex::default(),
        }
    }

    /// Whether a rejection of `integration` may be recorded in full now; when not, it is counted.
    pub(in crate::store) fn admit(
        &self,
        integration: &str,
        at: DateTime<Utc>,
        now: Instant,
    ) -> Admission {
        let mut state = self.state.lock().expect("rejection gate lock");
        let per_second = self.per_second;
        if state.buckets.len() >= MOST_BUCKETS && !state.buckets.contains_key(integration) {
            state
                .buckets
                .retain(|_, bucket| bucket.refill(per_second, now) < per_second);
        }
        let bucket = state
            .buckets
            .entry(integration.to_owned())
            .or_insert(Bucket {
                tokens: per_second,
                refilled: now,
            });
        if bucket.refill(per_second, now) >= 1.0 {
            bucket.tokens -= 1.0;
            return Admission::Record;
        }
        Admission::Counted {
            first: state.count(integration, 1, at),
        }
    }

    /// Counts a rejection that was admitted but could not be queued for the log; answers whether
    /// it is the first count waiting (see `Admission::Counted`).
    pub(in crate::store) fn count(&self, integration: &str, at: DateTime<Utc>) -> bool {
        let mut state = self.state.lock().expect("rejection gate lock");
        state.count(integration, 1, at)
    }

    /// Takes the counts gathered since the last call, to be written.
    pub(in crate::store) fn take_unrecorded(&self) -> Vec<UnrecordedRejections> {
        let mut state = self.state.lock().expect("rejection gate lock");
        state
            .unrecorded
            .drain()
            .map(|(_, counted)| counted)
            .collect()
    }

    /// Puts back counts that could not be written, so the next tally carries them.
    pub(in crate::store) fn restore(&self, tallies: Vec<UnrecordedRejections>) {
        let mut state = self.state.lock().expect("rejection gate lock");
        for tally in tallies {
            state.count(&tally.integration, tally.count, tally.last_at);
        }
    }

    /// Whether there are counts waiting to be written.
    pub(in crate::store) fn has_unrecorded(&self) -> bool {
        !self
            .state
            .lock()
            .expect("rejection gate lock")
            .unrecorded
            .is_empty()
    }
}

impl GateState {
    /// Adds `count` rejections of `integration`; answers whether none were waiting before.
    fn count(&mut self, integration: &str, count: u64, at: DateTime<Utc>) -> bool {
        let first = self.unrecorded.is_empty();
        if let Some(counted) = self.unrecorded.get_mut(integration) {
            counted.count += count;
            counted.last_at = counted.last_at.max(at);
        } else {
            self.unrecorded.insert(
                integration.to_owned(),
                UnrecordedRejections {
                    integration: integration.to_owned(),
                    count,
                    last_at: at,
                },
            );
        }
        first
    }
}

impl Bucket {
    /// Adds what has dripped in since the last refill (never above the burst); answers the level.
    fn refill(&mut self, per_second: f64, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * per_second).min(per_second);
        self.refilled = now;
        self.tokens
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn admitted(gate: &RejectionGate, integration: &str, at: DateTime<Utc>, now: Instant) -> bool {
        gate.admit(integration, at, now) == Admission::Record
    }

    fn total(tallies: &[UnrecordedRejections], integration: &str) -> u64 {
        tallies
            .iter()
            .filter(|tally| tally.integration == integration)
            .map(|tally| tally.count)
            .sum()
    }

    #[test]
    fn a_burst_of_the_rate_is_recorded_and_the_rest_counted() {
        let gate = RejectionGate::new(10);
        let start = Instant::now();
        let at = Utc::now();
        let admissions: Vec<Admission> = (0..100).map(|_| gate.admit("a", at, start)).collect();
        let admitted = admissions
            .iter()
            .filter(|a| **a == Admission::Record)
            .count();
        assert_eq!(admissions[10], Admission::Counted { first: true });
        assert_eq!(admissions[11], Admission::Counted { first: false });
        assert_eq!(admitted, 10);
        assert!(gate.has_unrecorded());
        let tallies = gate.take_unrecorded();
        assert_eq!(total(&tallies, "a"), 90);
        assert_eq!(tallies[0].last_at, at);
        assert!(!gate.has_unrecorded());
    }

    #[test]
    fn the_bucket_refills_at_the_rate_and_never_beyond_the_burst() {
        let gate = RejectionGate::new(10);
        let start = Instant::now();
        let at = Utc::now();
        while gate.admit("a", at, start) == Admission::Record {}
        let later = start + Duration::from_millis(500);
        assert_eq!(
            (0..20).filter(|_| admitted(&gate, "a", at, later)).count(),
            5
        );
        let much_later = later + Duration::from_hours(1);
        assert_eq!(
            (0..50)
                .filter(|_| admitted(&gate, "a", at, much_later))
                .count(),
            10
        );
    }

    #[test]
    fn integrations_have_buckets_of_their_own() {
        let gate = RejectionGate::new(2);
        let now = Instant::now();
        let at = Utc::now();
        assert_eq!((0..5).filter(|_| admitted(&gate, "a", at, now)).count(), 2);
        assert_eq!((0..5).filter(|_| admitted(&gate, "b", at, now)).count(), 2);
        let tallies = gate.take_unrecorded();
        assert_eq!((total(&tallies, "a"), total(&tallies, "b")), (3, 3));
    }

    #[test]
    fn a_rate_of_zero_records_nothing_and_counts_everything() {
        let gate = RejectionGate::new(0);
        let now = Instant::now();
        assert!(!(0..5).any(|_| admitted(&gate, "a", Utc::now(), now)));
        assert_eq!(total(&gate.take_unrecorded(), "a"), 5);
    }

    #[test]
    fn counts_put_back_are_carried_by_the_next_tally() {
        let gate = RejectionGate::new(0);
        let now = Instant::now();
        let at = Utc::now();
        gate.admit("a", at, now);
        let taken = gate.take_unrecorded();
        gate.count("a", at);
        gate.restore(taken);
        assert_eq!(total(&gate.take_unrecorded(), "a"), 2);
    }

    #[test]
    fn idle_buckets_are_forgotten_when_there_are_too_many() {
        let gate = RejectionGate::new(1);
        let now = Instant::now();
        let at = Utc::now();
        for n in 0..MOST_BUCKETS {
            gate.admit(&format!("i-{n}"), at, now);
        }
        let later = now + Duration::from_secs(2);
        gate.admit("new", at, later);
        let buckets = gate.state.lock().unwrap().buckets.len();
        assert_eq!(buckets, 1, "every other bucket had refilled");
    }
}

//! Property tests: random event sequences never panic and always keep the invariants; the
//! episode only grows; stale events change nothing.

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;

use super::*;

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 18, 0, 0).unwrap()
}

/// One random event: action, whether a person sent it, an optional sender time, a title or not.
fn event() -> impl Strategy<Value = Event> {
    (
        0..4usize,
        any::<bool>(),
        proptest::option::of(0..600i64),
        any::<bool>(),
    )
        .prop_map(|(action, manual, occurred, titled)| Event {
            integration: "p".into(),
            id: "a".into(),
            action: Action::ALL[action],
            fields: Fields {
                title: titled.then(|| "title".to_string()),
                ..Fields::default()
            },
            occurred_at: occurred.map(|seconds| base() + Duration::seconds(seconds)),
            source: if manual { Source::Api } else { Source::Hook },
            at: base(),
            by: None,
            note: None,
        })
}

proptest! {
    #[test]
    fn any_sequence_keeps_the_invariants(events in proptest::collection::vec(event(), 1..60)) {
        let mut current: Option<Alert> = None;
        for (step, mut event) in events.into_iter().enumerate() {
            // Time moves on between events, as it does in the writer.
            event.at = base() + Duration::seconds(i64::try_from(step).unwrap());
            let before = current.clone();
            let transition = apply(current.as_ref(), &event);
            if let Some(alert) = &transition.alert {
                prop_assert!(check_invariants(alert).is_ok(), "{:?}", check_invariants(alert));
            }
            if let (Some(before), Some(after)) = (&before, &transition.alert) {
                prop_assert!(after.episode >= before.episode, "the episode only grows");
                prop_assert!(after.last_occurred_at >= before.last_occurred_at, "the watermark only grows");
                if matches!(transition.outcome, Outcome::Ignored(_)) {
                    prop_assert_eq!(before, after, "an ignored event changes nothing");
                }
                if event.source == Source::Api {
                    prop_assert_eq!(&before.last_occurred_at, &after.last_occurred_at, "manual actions leave the watermark");
                }
            }
            prop_assert_eq!(transition.from, before.as_ref().map(|alert| alert.state));
            current = transition.alert.or(before);
        }
    }
}

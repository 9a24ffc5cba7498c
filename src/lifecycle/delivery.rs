//! A delivery's events through the state machine, in order: the one path that real ingest (the
//! writer, inside its transaction) and a dry run (against the alerts as they stand) both take,
//! so that a dry run can never disagree with ingest.
//!
//! Where the alerts come from and where the results go is the caller's `AlertBook`; what each
//! event does is decided here and in `apply` alone.

use chrono::{DateTime, Utc};

use super::{apply, Alert, Event, Fields, Outcome, Reason, Transition};
use crate::model::{Action, Source, State};

/// One event read from a body, before it is tied to an integration and a time of receipt.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedEvent {
    pub id: String,
    pub action: Action,
    pub fields: Fields,
    pub occurred_at: Option<DateTime<Utc>>,
    /// A notice that concerns no alert (a monitor paused …): answered as ignored
    /// `informational`, never stored.
    pub informational: bool,
}

/// What one event of a delivery did, as its answer lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventResult {
    pub id: String,
    pub action: Action,
    /// Created, deduplicated … or ignored with its reason.
    pub outcome: Outcome,
    /// The alert's state afterwards; `None` when no alert exists.
    pub state: Option<State>,
}

/// Where the alerts of one delivery stand while its events are applied: the writer's
/// transaction, or a dry run's scratch copies.
pub trait AlertBook {
    type Error;

    /// The alert as it stands now, with what earlier events of this delivery did to it.
    fn current(&mut self, integration: &str, id: &str) -> Result<Option<Alert>, Self::Error>;

    /// Keeps what `event` did to the alert that stood as `current`. Called for every event,
    /// ignored ones included; an informational one has no alert and no `current`.
    fn record(
        &mut self,
        event: &Event,
        current: Option<&Alert>,
        transition: &Transition,
    ) -> Result<(), Self::Error>;
}

/// Applies `events`, received at `at` for `integration`, one after the other: each sees what
/// the ones before it did. Answers one result per event, in order.
pub fn apply_delivery<B: AlertBook>(
    integration: &str,
    events: &[ParsedEvent],
    at: DateTime<Utc>,
    book: &mut B,
) -> Result<Vec<EventResult>, B::Error> {
    events
        .iter()
        .map(|parsed| {
            let event = Event {
                integration: integration.to_string(),
                id: parsed.id.clone(),
                action: parsed.action,
                fields: parsed.fields.clone(),
                occurred_at: parsed.occurred_at,
                source: Source::Hook,
                at,
                by: None,
                note: None,
            };
            let (current, transition) = if parsed.informational {
                (None, informational())
            } else {
                let current = book.current(integration, &parsed.id)?;
                let transition = apply(current.as_ref(), &event);
                (current, transition)
            };
            book.record(&event, current.as_ref(), &transition)?;
            Ok(EventResult {
                id: event.id,
                action: event.action,
                outcome: transition.outcome,
                state: transition.alert.as_ref().map(|alert| alert.state),
            })
        })
        .collect()
}

/// A sender's notice about no alert in particular: nothing is looked up or changed.
fn informational() -> Transition {
    Transition {
        alert: None,
        outcome: Outcome::Ignored(Reason::Informational),
        from: None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Alerts in memory, and every event recorded, for checking what the loop asks of a book.
    #[derive(Default)]
    struct Memory {
        alerts: HashMap<String, Alert>,
        recorded: Vec<(String, Outcome, bool)>,
    }

    impl AlertBook for Memory {
        type Error = std::convert::Infallible;

        fn current(&mut self, _: &str, id: &str) -> Result<Option<Alert>, Self::Error> {
            Ok(self.alerts.get(id).cloned())
        }

        fn record(
            &mut self,
            event: &Event,
            current: Option<&Alert>,
            transition: &Transition,
        ) -> Result<(), Self::Error> {
            let existed = current.is_some();
            self.recorded
                .push((event.id.clone(), transition.outcome, existed));
            if let Some(alert) = &transition.alert {
                self.alerts.insert(alert.id.clone(), alert.clone());
            }
            Ok(())
        }
    }

    fn parsed(id: &str, action: Action, informational: bool) -> ParsedEvent {
        ParsedEvent {
            id: id.into(),
            action,
            fields: Fields {
                title: Some("t".into()),
                ..Fields::default()
            },
            occurred_at: None,
            informational,
        }
    }

    #[test]
    fn each_event_sees_what_the_ones_before_it_did() {
        let events = [
            parsed("a", Action::Create, false),
            parsed("a", Action::Create, false),
            parsed("a", Action::Acknowledge, false),
            parsed("b", Action::Resolve, false),
            parsed("monitor:1", Action::Update, true),
        ];
        let mut book = Memory::default();
        let results = apply_delivery("i", &events, Utc::now(), &mut book).unwrap();
        let outcomes: Vec<_> = results.iter().map(|result| result.outcome).collect();
        assert_eq!(
            outcomes,
            [
                Outcome::Created,
                Outcome::Deduplicated,
                Outcome::Acknowledged,
                Outcome::Ignored(Reason::UnknownAlert),
                Outcome::Ignored(Reason::Informational),
            ]
        );
        assert_eq!(results[2].state, Some(State::Acknowledged));
        assert_eq!(results[3].state, None);
        let existed: Vec<bool> = book
            .recorded
            .iter()
            .map(|(_, _, existed)| *existed)
            .collect();
        assert_eq!(existed, [false, true, true, false, false]);
        assert!(
            !book.alerts.contains_key("monitor:1"),
            "informational stores nothing"
        );
    }
}

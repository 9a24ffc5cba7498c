//! How values are kept in either database, whichever store writes them: the text of states,
//! actions and outcomes, the delivery log's outcome counts, the receipt remembered with an
//! idempotency key, an integration's columns and secrets (`integration`), and the error for a
//! stored value that does not read back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod integration;

pub(super) use integration::{integration, mapping_json, secret, secret_columns, IntegrationRow};

use super::{Receipt, StoreError};
use crate::lifecycle::{EventResult, Outcome};
use crate::model::{Action, State};

/// SPEC §3: an idempotency key is remembered for 24 hours.
pub(super) const IDEMPOTENCY_WINDOW: chrono::Duration = chrono::Duration::hours(24);

/// A `StoreError` for a stored value that does not parse, naming the start of it: enough to find
/// the row, never a whole stored body in a log line.
pub(super) fn corrupt(what: &str, value: &str) -> StoreError {
    const SHOWN: usize = 64;
    let start: String = value.chars().take(SHOWN).collect();
    let more = if value.chars().nth(SHOWN).is_some() {
        "…"
    } else {
        ""
    };
    StoreError::Corrupt(format!("{what} `{start}{more}`"))
}

pub(super) fn state(text: &str) -> Result<State, StoreError> {
    State::parse(text).ok_or_else(|| corrupt("state", text))
}

pub(super) fn action(text: &str) -> Result<Action, StoreError> {
    Action::parse(text).ok_or_else(|| corrupt("action", text))
}

/// An outcome with its reason, when it was ignored.
pub(super) fn outcome(text: &str, reason: Option<&str>) -> Result<Outcome, StoreError> {
    Outcome::parse(text, reason).ok_or_else(|| corrupt("outcome", text))
}

/// The delivery log's `outcomes` column: outcome → count.
pub(super) fn outcomes(text: &str) -> Result<BTreeMap<String, u64>, StoreError> {
    serde_json::from_str(text).map_err(|_| corrupt("outcomes", text))
}

/// `{"created": 2, "ignored": 1}` for the delivery log.
pub(super) fn outcome_counts(receipt: &Receipt) -> String {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for result in &receipt.results {
        *counts.entry(result.outcome.as_str()).or_default() += 1;
    }
    serde_json::to_string(&counts).expect("counts serialize")
}

/// A receipt as `idempotency_keys.body` keeps it: JSON in the shape the `202` body had when
/// the column was made, so every row ever stored still reads. It is a storage format, not the
/// wire's: the routes serialize the receipt they are given, whatever shape they answer in.
#[derive(Serialize, Deserialize)]
struct StoredReceipt<'a> {
    #[serde(borrow)]
    delivery: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    results: Vec<StoredResult<'a>>,
}

#[derive(Serialize, Deserialize)]
struct StoredResult<'a> {
    #[serde(borrow)]
    id: std::borrow::Cow<'a, str>,
    action: &'a str,
    outcome: &'a str,
    state: Option<&'a str>,
    reason: Option<&'a str>,
}

/// `receipt` as `idempotency_keys.body` keeps it.
pub(super) fn write_receipt(receipt: &Receipt) -> String {
    StoredReceipt::write(receipt)
}

/// A receipt read back from `idempotency_keys.body`.
pub(super) fn read_receipt(text: &str) -> Result<Receipt, StoreError> {
    StoredReceipt::read(text)
}

impl StoredReceipt<'_> {
    fn write(receipt: &Receipt) -> String {
        let stored = StoredReceipt {
            delivery: receipt.delivery.as_str().into(),
            results: receipt
                .results
                .iter()
                .map(|result| StoredResult {
                    id: result.id.as_str().into(),
                    action: result.action.as_str(),
                    outcome: result.outcome.as_str(),
                    state: result.state.map(State::as_str),
                    reason: result
                        .outcome
                        .reason()
                        .map(crate::lifecycle::Reason::as_str),
                })
                .collect(),
        };
        serde_json::to_string(&stored).expect("a receipt serializes")
    }

    fn read(text: &str) -> Result<Receipt, StoreError> {
        let unreadable = || corrupt("remembered receipt", text);
        let stored: StoredReceipt<'_> = serde_json::from_str(text).map_err(|_| unreadable())?;
        let results = stored
            .results
            .into_iter()
            .map(|result| {
                Some(EventResult {
                    id: result.id.into_owned(),
                    action: Action::parse(result.action)?,
                    outcome: Outcome::parse(result.outcome, result.reason)?,
                    state: match result.state {
                        Some(state) => Some(State::parse(state)?),
                        None => None,
                    },
                })
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(unreadable)?;
        Ok(Receipt {
            delivery: stored.delivery.into_owned(),
            results,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key remembered before receipts were stored typed kept the `202` body itself; it reads
    /// back as the same receipt.
    #[test]
    fn a_receipt_stored_as_the_old_answer_body_still_reads() {
        let old = r#"{"delivery":"dlv_01J","results":[{"id":"x","action":"create","outcome":"created","state":"open","reason":null},{"id":"y","action":"resolve","outcome":"ignored","state":null,"reason":"unknown_alert"}]}"#;
        let receipt = StoredReceipt::read(old).unwrap();
        assert_eq!(receipt.results.len(), 2);
        assert_eq!(
            receipt.results[1].outcome,
            Outcome::Ignored(crate::lifecycle::Reason::UnknownAlert)
        );
        assert_eq!(StoredReceipt::write(&receipt), old);
        assert!(StoredReceipt::read(r#"{"delivery":"d","results":[{"id":"x","action":"shout","outcome":"created","state":null,"reason":null}]}"#).is_err());
    }
}

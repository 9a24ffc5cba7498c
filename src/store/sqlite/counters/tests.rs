//! The counters against a full recount (`recount`) after random sequences of events, manual
//! actions, failing requests and integration removals, applied through the writer's backend in
//! groups as the server applies them; and the reads they serve, which must not grow with the data.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;

use super::super::backend::SqliteBackend;
use super::super::{recount, schema, stats};
use crate::integration::IntegrationOptions;
use crate::lifecycle::{Fields, ParsedEvent};
use crate::model::Action;
use crate::store::writer::{commit_now, Work};
use crate::store::{IngestRequest, IntegrationChange, ManualAction, WriterSettings};

const INTEGRATIONS: [&str; 2] = ["a", "b"];
const IDS: [&str; 3] = ["x", "y", "z"];

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 23, 59, 58).unwrap()
}

/// A clock that moves on by the next of `steps` (milliseconds) each time it is read, then by 1.
fn stepping_clock(steps: Vec<i64>) -> crate::time::Clock {
    let state = Arc::new(Mutex::new((start(), VecDeque::from(steps))));
    Arc::new(move || {
        let mut state = state.lock().unwrap();
        let step = state.1.pop_front().unwrap_or(1);
        state.0 += chrono::Duration::milliseconds(step);
        state.0
    })
}

/// A backend on a new database where an event for the Id `poison` fails, as a full disk would:
/// after the events before it in its request were applied and counted.
fn backend(path: &Path, clock: crate::time::Clock) -> SqliteBackend {
    let connection = schema::open_for_writing(path).unwrap();
    connection
        .execute_batch(
            "CREATE TRIGGER poison BEFORE INSERT ON alert_events WHEN NEW.alert_id = 'poison'
             BEGIN SELECT RAISE(ABORT, 'poisoned'); END;",
        )
        .unwrap();
    SqliteBackend::new(connection, &WriterSettings::default(), clock)
}

fn add_integration(name: &str) -> Work {
    let new = IntegrationOptions {
        name: name.into(),
        auth: Some("none".into()),
        ..IntegrationOptions::default()
    }
    .validate()
    .unwrap();
    Work::Integration(IntegrationChange::Add(new))
}

fn events(integration: &str, events: &[(Action, &str)]) -> Work {
    Work::Ingest(Box::new(IngestRequest {
        integration: integration.into(),
        delivery_id: crate::ids::delivery_id(Utc::now()),
        events: events
            .iter()
            .map(|(action, id)| ParsedEvent {
                id: (*id).into(),
                action: *action,
                fields: Fields {
                    title: Some(format!("title of {id}")),
                    ..Fields::default()
                },
                occurred_at: None,
                informational: false,
            })
            .collect(),
        received_at: Utc::now(),
        idempotency_key: None,
        captured_body: None,
        remote_addr: None,
        status: 202,
    }))
}

fn manual(integration: &str, id: &str, action: Action) -> Work {
    Work::Manual(ManualAction {
        integration: integration.into(),
        id: id.into(),
        action,
        by: None,
        note: None,
    })
}

/// A request that fails inside the group after applying (and counting) events, so that the
/// group is rolled back and applied again with each request apart, where it rolls back alone.
fn failing(integration: &str) -> Work {
    events(
        integration,
        &[
            (Action::Create, "x"),
            (Action::Acknowledge, "x"),
            (Action::Resolve, "y"),
            (Action::Create, "poison"),
        ],
    )
}

/// Asserts that the counters say what a full recount does, for each of `sinces`.
fn assert_agree(path: &Path, sinces: &[DateTime<Utc>]) {
    let connection = schema::open_for_reading(path).unwrap();
    for since in sinces {
        let counted = stats::stats(&connection, *since).unwrap();
        let recounted = recount::recount(&connection, *since).unwrap();
        assert!(
            recount::agree(&counted, &recounted),
            "since {since}:\ncounted   {counted:?}\nrecounted {recounted:?}"
        );
    }
}

/// One step of a random history.
#[derive(Debug, Clone)]
enum Step {
    /// Events of one integration in one request.
    Events(usize, Vec<(Action, usize)>),
    Manual(usize, usize, Action),
    Failing(usize),
    /// Remove an integration with its alerts, and add it again.
    Purge(usize),
}

fn step() -> impl Strategy<Value = Step> {
    let action = prop_oneof![
        3 => Just(Action::Create),
        1 => Just(Action::Update),
        2 => Just(Action::Acknowledge),
        2 => Just(Action::Resolve),
    ];
    prop_oneof![
        8 => (0..INTEGRATIONS.len(), prop::collection::vec((action, 0..IDS.len()), 1..4))
            .prop_map(|(integration, events)| Step::Events(integration, events)),
        3 => (
            0..INTEGRATIONS.len(),
            0..IDS.len(),
            prop_oneof![Just(Action::Acknowledge), Just(Action::Resolve)]
        )
            .prop_map(|(integration, id, action)| Step::Manual(integration, id, action)),
        1 => (0..INTEGRATIONS.len()).prop_map(Step::Failing),
        1 => (0..INTEGRATIONS.len()).prop_map(Step::Purge),
    ]
}

fn work(step: &Step) -> Vec<Work> {
    match step {
        Step::Events(integration, list) => {
            let list: Vec<(Action, &str)> = list.iter().map(|(a, id)| (*a, IDS[*id])).collect();
            vec![events(INTEGRATIONS[*integration], &list)]
        }
        Step::Manual(integration, id, action) => {
            vec![manual(INTEGRATIONS[*integration], IDS[*id], *action)]
        }
        Step::Failing(integration) => vec![failing(INTEGRATIONS[*integration])],
        Step::Purge(integration) => vec![
            Work::Integration(IntegrationChange::Remove {
                name: INTEGRATIONS[*integration].into(),
                purge: true,
            }),
            add_integration(INTEGRATIONS[*integration]),
        ],
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever happened, in whatever groups, the counters equal a recount, for a `since`
    /// anywhere in the history: at the start, at random points, and at every millisecond around
    /// each bucket boundary the history crossed.
    #[test]
    fn the_counters_equal_a_recount(
        steps in prop::collection::vec(step(), 1..40),
        groups in prop::collection::vec(1..5usize, 40),
        clock_steps in prop::collection::vec(
            prop_oneof![
                6 => 0..1_500i64,
                2 => 1_500..90_000i64,
                1 => Just(3_600_000i64),
                1 => Just(86_400_000i64 - 1),
            ],
            200,
        ),
        since_offsets in prop::collection::vec(-1_000..200_000_000i64, 4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut backend = backend(&path, stepping_clock(clock_steps));
        commit_now(&mut backend, INTEGRATIONS.iter().map(|name| add_integration(name)).collect());
        let mut steps = steps.iter();
        for size in groups {
            let group: Vec<Work> = steps.by_ref().take(size).flat_map(work).collect();
            if group.is_empty() {
                break;
            }
            commit_now(&mut backend, group);
        }
        let mut sinces: Vec<DateTime<Utc>> = since_offsets
            .iter()
            .map(|offset| start() + chrono::Duration::milliseconds(*offset))
            .collect();
        sinces.push(start());
        assert_agree(&path, &sinces);
    }
}

#[test]
fn a_group_retried_apart_counts_each_request_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let mut backend = backend(&path, stepping_clock(vec![]));
    commit_now(&mut backend, vec![add_integration("a")]);
    commit_now(
        &mut backend,
        vec![
            events("a", &[(Action::Create, "x"), (Action::Create, "y")]),
            manual("a", "x", Action::Acknowledge),
            failing("a"),
            events("a", &[(Action::Resolve, "y")]),
        ],
    );
    let connection = schema::open_for_reading(&path).unwrap();
    let counted = stats::stats(&connection, start()).unwrap();
    assert_eq!(
        (
            counted.by_state.open,
            counted.by_state.acknowledged,
            counted.by_state.resolved
        ),
        (0, 1, 1)
    );
    assert!(counted.mtta_seconds.is_some() && counted.mttr_seconds.is_some());
    assert_agree(&path, &[start()]);
}

#[test]
fn a_purge_takes_the_integrations_share_out_and_leaves_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let mut backend = backend(&path, stepping_clock(vec![]));
    commit_now(
        &mut backend,
        vec![add_integration("a"), add_integration("b")],
    );
    for integration in INTEGRATIONS {
        commit_now(
            &mut backend,
            vec![
                events(integration, &[(Action::Create, "x"), (Action::Create, "y")]),
                events(integration, &[(Action::Acknowledge, "x")]),
                events(
                    integration,
                    &[(Action::Resolve, "y"), (Action::Create, "y")],
                ),
            ],
        );
    }
    // In one group: events of `a`, then its removal; the removal sees them.
    commit_now(
        &mut backend,
        vec![
            events("a", &[(Action::Resolve, "x"), (Action::Create, "z")]),
            Work::Integration(IntegrationChange::Remove {
                name: "a".into(),
                purge: true,
            }),
        ],
    );
    assert_agree(&path, &[start()]);
    let connection = schema::open_for_reading(&path).unwrap();
    let counted = stats::stats(&connection, start()).unwrap();
    assert!(!counted.by_integration.contains_key("a"));
    assert_eq!(counted.by_state.open + counted.by_state.acknowledged, 2);
}

/// Schema step 5 fills the counters from the rows a database already has.
#[test]
fn the_migration_counts_what_is_already_stored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let mut backend = backend(
        &path,
        stepping_clock(vec![400, 70_000, 3_000, 5, 86_400_000]),
    );
    commit_now(&mut backend, vec![add_integration("a")]);
    for round in 0..3 {
        commit_now(
            &mut backend,
            vec![
                events("a", &[(Action::Create, "x"), (Action::Create, "y")]),
                manual("a", "x", Action::Acknowledge),
                events("a", &[(Action::Resolve, "x")]),
                events(
                    "a",
                    &[(Action::Resolve, if round == 1 { "y" } else { "z" })],
                ),
            ],
        );
    }
    drop(backend);
    let connection = schema::open_for_writing(&path).unwrap();
    connection
        .execute_batch(
            "DROP TABLE alert_counts; DROP TABLE response_times; PRAGMA user_version = 4;",
        )
        .unwrap();
    drop(connection);
    drop(schema::open_for_writing(&path).unwrap());
    assert_agree(
        &path,
        &[start(), start() + chrono::Duration::milliseconds(401)],
    );
}

/// What the finding was about: reading the stats does as much work with 2,000 episodes as with
/// 200, where recounting them read every one (SQLite's virtual machine steps, counted by its
/// progress handler).
#[test]
fn reading_the_stats_does_not_grow_with_the_episodes() {
    let steps_for = |alerts: usize| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut backend = backend(&path, stepping_clock(vec![]));
        commit_now(&mut backend, vec![add_integration("a")]);
        for chunk in 0..alerts / 100 {
            let ids: Vec<String> = (0..100).map(|n| format!("{chunk}-{n}")).collect();
            for action in [Action::Create, Action::Acknowledge, Action::Resolve] {
                let list: Vec<(Action, &str)> =
                    ids.iter().map(|id| (action, id.as_str())).collect();
                commit_now(&mut backend, vec![events("a", &list)]);
            }
        }
        let mut connection = schema::open_for_reading(&path).unwrap();
        let counted = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = counted.clone();
        connection
            .progress_handler(
                100,
                Some(move || {
                    counter.fetch_add(100, std::sync::atomic::Ordering::Relaxed);
                    false
                }),
            )
            .unwrap();
        let stats = stats::stats(&connection, start()).unwrap();
        assert_eq!(stats.by_state.resolved, i64::try_from(alerts).unwrap());
        counted.load(std::sync::atomic::Ordering::Relaxed)
    };
    let (few, many) = (steps_for(200), steps_for(2_000));
    println!("virtual machine steps: {few} with 200 episodes, {many} with 2,000");
    assert!(many <= few * 2, "{few} -> {many}");
}

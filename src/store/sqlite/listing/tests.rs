//! The plans `list` chooses, and the pages they give, on a seeded database.

use chrono::TimeZone;

use chrono::{DateTime, Utc};

use super::*;
use crate::lifecycle::{self, Event, Fields};
use crate::model::{Action, Severity, Source, State};

/// A database with `count` alerts; every tenth carries the tag `rare`, all carry `common`.
fn seeded(count: i64) -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let connection = super::super::schema::open_for_writing(&dir.path().join("t.db")).unwrap();
    let at = Utc.with_ymd_and_hms(2026, 11, 22, 18, 0, 0).unwrap();
    for n in 0..count {
        let mut tags = vec!["common".to_string()];
        if n % 10 == 0 {
            tags.push("rare".into());
        }
        let event = Event {
            integration: if n % 2 == 0 { "prod" } else { "staging" }.into(),
            id: format!("alert-{n}"),
            action: Action::Create,
            fields: Fields {
                title: Some(format!("Disk almost full on node {n}")),
                severity: Some(Severity::ALL[usize::try_from(n % 4).unwrap()]),
                tags: Some(tags),
                ..Fields::default()
            },
            occurred_at: None,
            source: Source::Hook,
            at: at + chrono::Duration::seconds(n),
            by: None,
            note: None,
        };
        let mut alert = lifecycle::apply(None, &event).alert.unwrap();
        // Most alerts of a long-running install are resolved.
        alert.state = [
            State::Open,
            State::Acknowledged,
            State::Resolved,
            State::Resolved,
            State::Resolved,
        ][usize::try_from(n % 5).unwrap()];
        super::super::alerts::save(&connection, None, &alert, n + 1).unwrap();
    }
    connection.execute_batch("ANALYZE").unwrap();
    (dir, connection)
}

fn filter() -> AlertFilter {
    AlertFilter {
        limit: 50,
        ..AlertFilter::default()
    }
}

fn time(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

// One table of every filter and the index it must use reads best as one test.
#[allow(clippy::too_many_lines)]
#[test]
fn every_filter_is_served_by_an_index() {
    let (_dir, connection) = seeded(4_000);
    let only = |change: fn(&mut AlertFilter)| {
        let mut filter = filter();
        change(&mut filter);
        filter
    };
    // What each plan must search: the filter's own index where it is selective; any index
    // ("USING") where the planner may pick among several (a dense filter is best served by
    // walking alerts_by_change newest first and testing each row).
    let cases: Vec<(&str, AlertFilter, &str)> = vec![
        (
            "state",
            only(|f| f.states = vec![State::Open]),
            "alerts_by_state",
        ),
        (
            "states",
            only(|f| f.states = vec![State::Open, State::Acknowledged]),
            "USING",
        ),
        (
            "integration",
            only(|f| f.integration = Some("prod".into())),
            "USING",
        ),
        (
            "severity",
            only(|f| f.severities = vec![Severity::Critical]),
            "USING",
        ),
        (
            "rare tag",
            only(|f| f.tag = Some("absent".into())),
            "SEARCH t USING PRIMARY KEY (tag=?)",
        ),
        (
            "common tag",
            only(|f| f.tag = Some("common".into())),
            "SEARCH t EXISTS USING COVERING INDEX",
        ),
        (
            "q",
            only(|f| f.title_contains = Some("node 12".into())),
            "VIRTUAL TABLE INDEX",
        ),
        (
            "q in every title",
            only(|f| f.title_contains = Some("almost".into())),
            "SCAN a USING INDEX alerts_by_change",
        ),
        (
            "q in every title, rare tag",
            only(|f| {
                f.title_contains = Some("almost".into());
                f.tag = Some("absent".into());
            }),
            "SEARCH t USING PRIMARY KEY (tag=?)",
        ),
        (
            "since",
            only(|f| f.since = Some(time("2026-11-22T19:00:00Z"))),
            "USING",
        ),
        (
            "until",
            only(|f| f.until = Some(time("2026-11-22T18:10:00Z"))),
            "USING",
        ),
        (
            "cursor",
            only(|f| f.changed_before = Some(500)),
            "alerts_by_change",
        ),
        (
            "combined",
            only(|f| {
                f.states = vec![State::Open];
                f.tag = Some("rare".into());
                f.severities = vec![Severity::Critical];
            }),
            "USING",
        ),
        ("none", filter(), "alerts_by_change"),
    ];
    for (name, filter, index) in cases {
        let plan = plan(&connection, &filter).unwrap();
        println!("{name}: {}", plan.join(" | "));
        assert!(
            plan.iter().any(|step| step.contains(index)),
            "{name} uses {index}: {plan:?}"
        );
        let full_scan = plan
            .iter()
            .any(|step| step.starts_with("SCAN a") && !step.contains("INDEX"));
        assert!(!full_scan, "{name} scans the table: {plan:?}");
    }
}

#[test]
fn rare_and_common_tags_page_alike() {
    let (_dir, connection) = seeded(2_000);
    for (tag, count, newest) in [("rare", 200, "alert-1990"), ("common", 2_000, "alert-1999")] {
        let mut walked = Vec::new();
        let mut filter = AlertFilter {
            tag: Some(tag.into()),
            limit: 97,
            ..filter()
        };
        loop {
            let page = list(&connection, &filter).unwrap();
            walked.extend(page.alerts.into_iter().map(|alert| alert.id));
            match page.next {
                Some(next) => filter.changed_before = Some(next),
                None => break,
            }
        }
        assert_eq!(walked.len(), count, "{tag}");
        assert_eq!(walked[0], newest, "{tag}: newest change first");
    }
}

/// A title search matching every alert walks them newest first and stops at a page; one
/// matching few collects them from the trigram index; `node 12` fills its first page among
/// the newest thousand alerts and not its second. All page through the same alerts in the
/// same order as testing every title would.
#[test]
fn rare_and_common_title_searches_page_alike() {
    let (_dir, connection) = seeded(2_000);
    for (text, count, newest) in [
        ("ALMOST full", 2_000, "alert-1999"),
        ("node 12", 111, "alert-1299"),
        ("node 1999", 1, "alert-1999"),
    ] {
        let mut filter = AlertFilter {
            title_contains: Some(text.into()),
            limit: 97,
            ..filter()
        };
        let plan = plan(&connection, &filter).unwrap().join(" | ");
        assert_eq!(
            plan.contains("VIRTUAL TABLE"),
            count < COMMON_TITLE_FLOOR,
            "{text}: {plan}"
        );
        let mut walked = Vec::new();
        loop {
            let page = list(&connection, &filter).unwrap();
            walked.extend(page.alerts.into_iter().map(|alert| alert.id));
            match page.next {
                Some(next) => filter.changed_before = Some(next),
                None => break,
            }
        }
        assert_eq!(i64::try_from(walked.len()).unwrap(), count, "{text}");
        assert_eq!(walked[0], newest, "{text}: newest change first");
    }
}

/// A rare title search reads its matches' keys from the trigram index once, then looks each
/// alert up by key; a common one finds its page among the newest alerts.
#[test]
fn title_searches_take_their_shortcuts() {
    let (_dir, connection) = seeded(2_000);
    let explain = |filter: &AlertFilter, title: TitlePlan| {
        let tag = tag_plan(&connection, filter).unwrap();
        let (sql, values) = build(filter, &Plans { tag, title }, &prefixed_alert_columns());
        let mut statement = connection
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let lines = statement
            .query_map(params_from_iter(values), |row| row.get::<_, String>(3))
            .unwrap();
        lines.collect::<Result<Vec<_>, _>>().unwrap().join(" | ")
    };
    let rare = AlertFilter {
        title_contains: Some("node 12".into()),
        ..filter()
    };
    let keys = few_matches(&connection, "node 12").unwrap().unwrap();
    let plan = explain(&rare, TitlePlan::Keys(keys.clone()));
    assert!(
        plan.contains("SEARCH a USING INTEGER PRIMARY KEY"),
        "{plan}"
    );
    let tagged = AlertFilter {
        tag: Some("rare".into()),
        ..rare.clone()
    };
    let plan = explain(&tagged, TitlePlan::Keys(keys));
    assert!(
        plan.contains("SEARCH t USING PRIMARY KEY") && !plan.contains("SCAN a"),
        "{plan}"
    );
    assert_eq!(list(&connection, &tagged).unwrap().alerts.len(), 11);

    let common = AlertFilter {
        title_contains: Some("almost".into()),
        ..filter()
    };
    assert_eq!(few_matches(&connection, "almost").unwrap(), None);
    let plan = explain(&common, TitlePlan::Glance);
    assert!(plan.contains("alerts_by_change"), "{plan}");
    let page = list(&connection, &common).unwrap();
    assert_eq!(page.alerts.len(), 50);
    assert_eq!(page.alerts[0].id, "alert-1999");
}

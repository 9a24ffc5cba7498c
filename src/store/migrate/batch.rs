//! Rows on their way from SQLite to PostgreSQL: a batch of one table, column by column, as
//! PostgreSQL's `unnest` takes them (one array per column).

use chrono::{DateTime, Utc};

use super::tables::{Kind, Table};

/// One column's values.
#[derive(Debug)]
pub enum Values {
    Int(Vec<Option<i64>>),
    Bool(Vec<Option<bool>>),
    /// Text, JSON text and tags (a JSON array) alike.
    Text(Vec<Option<String>>),
    /// Times and minutes, parsed.
    Time(Vec<Option<DateTime<Utc>>>),
    Bytes(Vec<Option<Vec<u8>>>),
}

impl Values {
    fn of(kind: Kind, capacity: usize) -> Values {
        match kind {
            Kind::Int => Values::Int(Vec::with_capacity(capacity)),
            Kind::Bool => Values::Bool(Vec::with_capacity(capacity)),
            Kind::Text | Kind::Json | Kind::Tags => Values::Text(Vec::with_capacity(capacity)),
            Kind::Time | Kind::Minute => Values::Time(Vec::with_capacity(capacity)),
            Kind::Bytes => Values::Bytes(Vec::with_capacity(capacity)),
        }
    }
}

/// Up to `BATCH_ROWS` rows of one table.
#[derive(Debug)]
pub struct Batch {
    pub columns: Vec<Values>,
    pub rows: usize,
}

impl Batch {
    /// An empty batch with one column of values per column of `table`.
    pub fn new(table: &Table, capacity: usize) -> Batch {
        Batch {
            columns: table
                .columns
                .iter()
                .map(|column| Values::of(column.kind, capacity))
                .collect(),
            rows: 0,
        }
    }
}

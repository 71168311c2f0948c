//! Multi-row inserts with the rows as one JSON parameter, which the store
//! unpacks (`json_to_recordset` on PostgreSQL; `jsonb_each` on SQLite, which
//! hands each row over parsed rather than as text to parse again):
//! a statement binds one value however many rows it carries, so its text is
//! the same for every batch (PostgreSQL prepares it once) and neither side
//! builds or binds thousands of values.
//!
//! Each value is written as sqlx writes it, so a row stored this way is
//! byte for byte the row an ORM insert stores: timestamps as sqlx encodes
//! them ([`stamp`]), JSON columns as their serialized text.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, FromQueryResult, Statement};
use serde::Serialize;

use crate::error::{AppError, AppResult};

/// Rows per statement: the bound is only on the size of its JSON text.
const ROWS_PER_STATEMENT: usize = 2_000;

/// How a column's value is carried in the JSON and stored.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    /// A JSON number: `bigint`.
    BigInt,
    /// A JSON number: `integer`.
    Int,
    /// A JSON string.
    Text,
    /// A JSON string from [`stamp`]: `timestamp with time zone`.
    Stamp,
    /// The serialized JSON as a string ([`json_text`]): a `json` column.
    Json,
}

/// A table's columns as the JSON rows name them.
pub(super) struct Table {
    pub name: &'static str,
    pub columns: &'static [(&'static str, Kind)],
}

impl Table {
    fn sql(&self, backend: DatabaseBackend, returning: bool) -> String {
        let names: Vec<&str> = self.columns.iter().map(|(c, _)| *c).collect();
        let (values, from) = match backend {
            DatabaseBackend::Postgres => {
                let values: Vec<String> = self
                    .columns
                    .iter()
                    .map(|(c, kind)| match kind {
                        // As sqlx binds a JSON value: as `jsonb`, which the
                        // column stores as jsonb's text.
                        Kind::Json => format!("r.{c}::jsonb::json"),
                        _ => format!("r.{c}"),
                    })
                    .collect();
                let record: Vec<String> = self
                    .columns
                    .iter()
                    .map(|(c, kind)| {
                        let ty = match kind {
                            Kind::BigInt => "bigint",
                            Kind::Int => "integer",
                            Kind::Text | Kind::Json => "text",
                            Kind::Stamp => "timestamptz",
                        };
                        format!("{c} {ty}")
                    })
                    .collect();
                (
                    values,
                    format!("json_to_recordset($1::json) AS r({})", record.join(", ")),
                )
            }
            _ => {
                let values = names
                    .iter()
                    .map(|c| format!("e.value ->> '$.{c}'"))
                    .collect();
                (values, "jsonb_each(?1) AS e ORDER BY e.key".to_owned())
            }
        };
        let mut sql = format!(
            "INSERT INTO {} ({}) SELECT {} FROM {from}",
            self.name,
            names.join(", "),
            values.join(", ")
        );
        if returning {
            sql.push_str(" RETURNING *");
        }
        sql
    }
}

/// Inserts `rows` (each serialized as an object keyed by `table`'s
/// columns) in order.
pub(super) async fn insert<R: Serialize>(
    db: &impl ConnectionTrait,
    table: &Table,
    rows: &[R],
) -> AppResult<()> {
    let backend = db.get_database_backend();
    let sql = table.sql(backend, false);
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        db.execute_raw(statement(backend, &sql, chunk)?).await?;
    }
    Ok(())
}

/// Inserts `rows` in order; the rows as stored.
pub(super) async fn insert_returning<M: FromQueryResult, R: Serialize>(
    db: &impl ConnectionTrait,
    table: &Table,
    rows: &[R],
) -> AppResult<Vec<M>> {
    let backend = db.get_database_backend();
    let sql = table.sql(backend, true);
    let mut out = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        for row in db.query_all_raw(statement(backend, &sql, chunk)?).await? {
            out.push(M::from_query_result(&row, "")?);
        }
    }
    Ok(out)
}

fn statement<R: Serialize>(
    backend: DatabaseBackend,
    sql: &str,
    rows: &[R],
) -> AppResult<Statement> {
    let json = serde_json::to_string(rows)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("rows as JSON: {e}")))?;
    Ok(Statement::from_sql_and_values(backend, sql, [json.into()]))
}

/// `t` as sqlx binds it: on SQLite the RFC 3339 text it stores, on
/// PostgreSQL the microseconds it sends (truncated towards 2000-01-01, the
/// store's epoch), written out in full.
pub(super) fn stamp(backend: DatabaseBackend, t: DateTime<Utc>) -> String {
    let t = match backend {
        DatabaseBackend::Postgres => {
            let epoch = DateTime::<Utc>::from_timestamp(946_684_800, 0).unwrap_or_default();
            (t - epoch)
                .num_microseconds()
                .map_or(t, |us| epoch + TimeDelta::microseconds(us))
        }
        _ => t,
    };
    t.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// [`stamp`] of a timestamp that may be absent.
pub(super) fn stamp_opt(backend: DatabaseBackend, t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(|t| stamp(backend, t))
}

/// A JSON column's value: its serialized text, as sqlx writes it.
pub(super) fn json_text(v: &serde_json::Value) -> AppResult<String> {
    serde_json::to_string(v).map_err(|e| AppError::Internal(anyhow::anyhow!("JSON column: {e}")))
}

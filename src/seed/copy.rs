//! Bulk writing on PostgreSQL: `COPY ... FROM STDIN` in text format.
//!
//! The rows and their values are the very ones the INSERT path binds
//! ([`BulkRow::into_values`]); only the encoding differs. COPY skips the
//! per-statement parse and plan and the bind-parameter framing, and streams
//! a table's rows in a few large messages instead of one round trip per
//! statement.

use std::io::Write;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use sea_orm::sea_query::{OptionEnum, Value};
use sea_orm::sqlx::{PgConnection, PgPool};
use sea_orm::{DatabaseConnection, DbErr, EntityName, IdenStatic, RuntimeErr};

use super::insert::{id_tables, setval_sql};
use super::rows::{Batch, BulkRow};
use crate::error::{AppError, AppResult};

/// Bytes buffered before a `CopyData` message goes out: large enough that
/// the per-message cost vanishes, small enough to keep memory flat.
const SEND_BYTES: usize = 1 << 20;

/// Writes every table of `batch` in foreign-key order; returns the rows written.
pub async fn batch(conn: &mut PgConnection, batch: Batch) -> AppResult<u64> {
    let Batch {
        customers,
        tags,
        accounts,
        orders,
        lines,
        tickets,
        messages,
        reviews,
        referrals,
        ledger,
        nps,
    } = batch;
    let mut buf = Vec::with_capacity(SEND_BYTES + 4096);
    let mut rows = 0;
    rows += rows_of(conn, customers, &mut buf).await?;
    rows += rows_of(conn, tags, &mut buf).await?;
    rows += rows_of(conn, accounts, &mut buf).await?;
    rows += rows_of(conn, orders, &mut buf).await?;
    rows += rows_of(conn, lines, &mut buf).await?;
    rows += rows_of(conn, tickets, &mut buf).await?;
    rows += rows_of(conn, messages, &mut buf).await?;
    rows += rows_of(conn, reviews, &mut buf).await?;
    rows += rows_of(conn, referrals, &mut buf).await?;
    rows += rows_of(conn, ledger, &mut buf).await?;
    rows += rows_of(conn, nps, &mut buf).await?;
    Ok(rows)
}

/// The children of the last batch, still being written.
#[derive(Default)]
pub struct Children(Option<tokio::task::JoinHandle<AppResult<u64>>>);

impl Children {
    /// Waits for the children in flight; returns the rows they wrote.
    pub async fn finish(&mut self) -> AppResult<u64> {
        match self.0.take() {
            None => Ok(0),
            Some(task) => task
                .await
                .map_err(|e| AppError::Internal(anyhow::anyhow!("seed writer: {e}")))?,
        }
    }
}

/// Writes `batch` with the children of the previous batch still in flight.
///
/// A PostgreSQL backend runs one COPY on one core, and the time goes to
/// foreign-key checks and index upkeep. So the batch's parents are committed
/// first, while the previous batch's children are still being written; then
/// its own children go out on two more connections, order lines apart from
/// the rest. Children refer only to parents already committed (referrers are
/// earlier customers), so every foreign key holds.
pub async fn pipelined(
    db: &DatabaseConnection,
    batch: Batch,
    children: &mut Children,
) -> AppResult<u64> {
    let pool = db.get_postgres_connection_pool().clone();
    let [parents, lines, rest] = batch.split();
    let mut rows = write(&pool, parents).await?;
    rows += children.finish().await?;
    children.0 = Some(tokio::spawn(async move {
        let (lines, rest) = tokio::join!(write(&pool, lines), write(&pool, rest));
        Ok(lines? + rest?)
    }));
    Ok(rows)
}

/// Writes `batch` in a transaction of its own.
async fn write(pool: &PgPool, batch: Batch) -> AppResult<u64> {
    let mut txn = pool.begin().await.map_err(db_err)?;
    let rows = self::batch(&mut txn, batch).await?;
    txn.commit().await.map_err(db_err)?;
    Ok(rows)
}

/// Copies `rows` into their table; returns how many the server stored.
async fn rows_of<R: BulkRow>(
    conn: &mut PgConnection,
    rows: Vec<R>,
    buf: &mut Vec<u8>,
) -> AppResult<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    let statement = copy_statement::<R>();
    let mut copy = conn.copy_in_raw(&statement).await.map_err(db_err)?;
    buf.clear();
    for row in rows {
        if let Err(e) = encode_row(row.into_values(), buf) {
            // Leaves the connection usable; the transaction rolls back.
            copy.abort(e.to_string()).await.map_err(db_err)?;
            return Err(e);
        }
        if buf.len() >= SEND_BYTES {
            copy.send(buf.as_slice()).await.map_err(db_err)?;
            buf.clear();
        }
    }
    if !buf.is_empty() {
        copy.send(buf.as_slice()).await.map_err(db_err)?;
    }
    copy.finish().await.map_err(db_err)
}

/// `COPY "table" ("a", "b", ...) FROM STDIN`: text format, tab-separated,
/// `\N` for NULL. Names are compile-time constants from the entities.
fn copy_statement<R: BulkRow>() -> String {
    let columns: Vec<String> = R::columns()
        .iter()
        .map(|c| format!("\"{}\"", c.as_str()))
        .collect();
    format!(
        "COPY \"{}\" ({}) FROM STDIN",
        R::Entity::default().table_name(),
        columns.join(", ")
    )
}

/// Moves every seeded table's sequence past its ids, in one round trip.
pub async fn reset_sequences(conn: &mut PgConnection) -> AppResult<()> {
    let sql = id_tables().map(setval_sql).join("; ");
    sea_orm::sqlx::raw_sql(sea_orm::sqlx::AssertSqlSafe(sql))
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// sqlx errors as sea-orm reports them, so `AppError` classifies them alike.
pub fn db_err(err: sea_orm::sqlx::Error) -> AppError {
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(err))).into()
}

/// Appends one row: values separated by tabs, ended by a newline.
fn encode_row(values: Vec<Value>, out: &mut Vec<u8>) -> AppResult<()> {
    for (i, value) in values.into_iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        encode_value(value, out)?;
    }
    out.push(b'\n');
    Ok(())
}

/// Appends one value in PostgreSQL's text input syntax.
fn encode_value(value: Value, out: &mut Vec<u8>) -> AppResult<()> {
    // Writing into a Vec cannot fail: an error is a value with no encoding.
    write_value(value, out).map_err(|e| AppError::Internal(anyhow::anyhow!("seed copy: {e}")))
}

/// Instants are written in UTC with an explicit `+00` offset, so the
/// session's `TimeZone` cannot shift them, and truncated to microseconds as
/// sqlx's binary encoding does.
fn write_value(value: Value, out: &mut Vec<u8>) -> std::io::Result<()> {
    const NULL: &[u8] = b"\\N";
    match value {
        Value::Bool(Some(b)) => out.write_all(if b { b"t" } else { b"f" }),
        Value::TinyInt(Some(v)) => write!(out, "{v}"),
        Value::SmallInt(Some(v)) => write!(out, "{v}"),
        Value::Int(Some(v)) => write!(out, "{v}"),
        Value::BigInt(Some(v)) => write!(out, "{v}"),
        Value::TinyUnsigned(Some(v)) => write!(out, "{v}"),
        Value::SmallUnsigned(Some(v)) => write!(out, "{v}"),
        Value::Unsigned(Some(v)) => write!(out, "{v}"),
        Value::BigUnsigned(Some(v)) => write!(out, "{v}"),
        Value::Float(Some(v)) => float(f64::from(v), out),
        Value::Double(Some(v)) => float(v, out),
        Value::String(Some(s)) => {
            text(&s, out);
            Ok(())
        }
        Value::Char(Some(c)) => {
            text(c.encode_utf8(&mut [0; 4]), out);
            Ok(())
        }
        Value::Enum(OptionEnum::Some(e)) => {
            text(&e.value, out);
            Ok(())
        }
        Value::Bytes(Some(bytes)) => {
            // bytea hex format; its leading backslash is itself escaped.
            out.extend_from_slice(b"\\\\x");
            for b in bytes {
                let _ = write!(out, "{b:02x}");
            }
            Ok(())
        }
        Value::Json(Some(json)) => {
            text(&json.to_string(), out);
            Ok(())
        }
        Value::ChronoDate(Some(d)) => date(d, out),
        Value::ChronoDateTime(Some(t)) => date_time(t, out),
        Value::ChronoDateTimeUtc(Some(t)) => utc(t.naive_utc(), out),
        Value::ChronoDateTimeWithTimeZone(Some(t)) => utc(t.naive_utc(), out),
        Value::Bool(None)
        | Value::TinyInt(None)
        | Value::SmallInt(None)
        | Value::Int(None)
        | Value::BigInt(None)
        | Value::TinyUnsigned(None)
        | Value::SmallUnsigned(None)
        | Value::Unsigned(None)
        | Value::BigUnsigned(None)
        | Value::Float(None)
        | Value::Double(None)
        | Value::String(None)
        | Value::Char(None)
        | Value::Enum(OptionEnum::None(_))
        | Value::Bytes(None)
        | Value::Json(None)
        | Value::ChronoDate(None)
        | Value::ChronoDateTime(None)
        | Value::ChronoDateTimeUtc(None)
        | Value::ChronoDateTimeWithTimeZone(None) => out.write_all(NULL),
        other => Err(std::io::Error::other(format!(
            "no text encoding for {other:?}"
        ))),
    }
}

/// Text with COPY's escapes: backslash, tab, newline and carriage return
/// would otherwise end a value or a row.
fn text(s: &str, out: &mut Vec<u8>) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escaped);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Rust prints infinities as `inf`; PostgreSQL spells them out.
fn float(v: f64, out: &mut Vec<u8>) -> std::io::Result<()> {
    if v.is_nan() {
        out.write_all(b"NaN")
    } else if v.is_infinite() {
        out.write_all(if v > 0.0 { b"Infinity" } else { b"-Infinity" })
    } else {
        write!(out, "{v}")
    }
}

/// `YYYY-MM-DD`; years outside 1..=9999 would need PostgreSQL's `BC` and
/// wider-year syntax, which no generated row comes near.
fn date(d: NaiveDate, out: &mut Vec<u8>) -> std::io::Result<()> {
    if !(1..=9999).contains(&d.year()) {
        return Err(std::io::Error::other(format!("date out of range: {d}")));
    }
    write!(out, "{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
}

fn date_time(t: NaiveDateTime, out: &mut Vec<u8>) -> std::io::Result<()> {
    date(t.date(), out)?;
    write!(out, " {:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())?;
    let micros = t.nanosecond() / 1_000;
    if micros != 0 {
        write!(out, ".{micros:06}")?;
    }
    Ok(())
}

fn utc(t: NaiveDateTime, out: &mut Vec<u8>) -> std::io::Result<()> {
    date_time(t, out)?;
    out.write_all(b"+00")
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

    use super::*;

    fn encoded(values: Vec<Value>) -> String {
        let mut out = Vec::new();
        encode_row(values, &mut out).expect("encodable");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn text_escapes_what_would_end_a_value_or_a_row() {
        let s = "a\tb\nc\rd\\e \u{e9}";
        assert_eq!(
            encoded(vec![s.into(), "".into()]),
            "a\\tb\\nc\\rd\\\\e \u{e9}\t\n"
        );
    }

    #[test]
    fn nulls_booleans_and_numbers() {
        assert_eq!(
            encoded(vec![
                Option::<String>::None.into(),
                Option::<i64>::None.into(),
                Option::<DateTime<Utc>>::None.into(),
                true.into(),
                false.into(),
                (-42i64).into(),
                7i32.into(),
                1.5f64.into(),
                f64::INFINITY.into(),
            ]),
            "\\N\t\\N\t\\N\tt\tf\t-42\t7\t1.5\tInfinity\n"
        );
    }

    #[test]
    fn instants_are_utc_with_an_explicit_offset() {
        let t = DateTime::<Utc>::from_timestamp(1_700_000_000, 123_456_789).expect("instant");
        let paris = t.with_timezone(&FixedOffset::east_opt(3_600).expect("offset"));
        let whole = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("instant");
        let date = NaiveDate::from_ymd_opt(1990, 2, 3).expect("date");
        assert_eq!(
            encoded(vec![t.into(), paris.into(), whole.into(), date.into()]),
            "2023-11-14 22:13:20.123456+00\t2023-11-14 22:13:20.123456+00\t\
             2023-11-14 22:13:20+00\t1990-02-03\n"
        );
    }

    #[test]
    fn json_and_bytes_are_escaped_text() {
        let json = serde_json::json!({"note": "tab\there", "n": 1});
        assert_eq!(
            encoded(vec![json.into(), vec![0u8, 0xab].into()]),
            "{\"n\":1,\"note\":\"tab\\\\there\"}\t\\\\x00ab\n"
        );
    }

    #[test]
    fn unencodable_values_are_errors() {
        let far = NaiveDate::from_ymd_opt(12_000, 1, 1).expect("date");
        assert!(encode_row(vec![far.into()], &mut Vec::new()).is_err());
    }
}

//! `c360 import <kind> <file>`: loads customers, orders, tickets, reviews
//! or NPS answers from JSON Lines or CSV through the same rules as the API.
//!
//! Records are written in batches, one transaction per batch, each record
//! inside its own savepoint: a record that fails validation or a rule rolls
//! back to its savepoint alone and is reported with its line and reason,
//! so a bad line never aborts the good ones and never half-writes itself,
//! while a batch costs one commit (one fsync on SQLite) instead of one per
//! record. Every kind finds existing records by a natural key, so running a
//! file again changes nothing, and a run killed part-way and run again ends
//! where one whole run does.
//!
//! Orders, the bulk of most imports, are written a batch at a time instead
//! ([`bulk`]), with the same result; `--record-at-a-time` writes them one
//! by one like the other kinds.

mod bulk;
pub mod read;
pub mod records;

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use sea_orm::{DatabaseConnection, TransactionTrait};
use serde::Serialize;

use self::read::{BytesRead, Format, Numbered};
use self::records::{
    Context, CustomerRecord, NpsRecord, OrderCsvRow, OrderRecord, Record, ReviewRecord,
    TicketRecord,
};
use crate::auth::Role;
use crate::error::{AppError, AppResult};
use crate::service::Outcome;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Customers,
    Orders,
    Tickets,
    Reviews,
    Nps,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Customers => "customers",
            Kind::Orders => "orders",
            Kind::Tickets => "tickets",
            Kind::Reviews => "reviews",
            Kind::Nps => "nps",
        })
    }
}

/// Records per transaction unless `--batch-size` says otherwise. A batch
/// refreshes the figures and balances of every customer it touched from
/// their whole history, so fewer, larger batches repeat less of that work:
/// 2,000 imported orders about a fifth faster than 500 on both stores
/// (BENCHMARKS.md, "Import"), while a batch still holds its customers'
/// locks for well under a second.
pub const DEFAULT_BATCH_SIZE: u64 = 2_000;

#[derive(Debug, Clone)]
pub struct Options {
    pub format: Option<Format>,
    /// Records per transaction.
    pub batch_size: usize,
    pub progress: bool,
    /// Orders through the services one by one, as the other kinds, instead
    /// of a batch at a time ([`bulk`]); the result is the same.
    pub record_at_a_time: bool,
}

/// A line that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    pub line: u64,
    /// The API's error code: BAD_USER_INPUT, NOT_FOUND, CONFLICT, ...
    pub code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub reason: String,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.code)?;
        if let Some(field) = &self.field {
            write!(f, " {field}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: Vec<Rejection>,
    pub elapsed: Duration,
}

impl Report {
    /// Records read, imported or not.
    pub fn records(&self) -> u64 {
        self.created + self.updated + self.unchanged + self.rejected.len() as u64
    }

    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Created => self.created += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Unchanged => self.unchanged += 1,
        }
    }

    fn reject(&mut self, line: u64, err: AppError) {
        let field = match &err {
            AppError::BadUserInput { field, .. } => field.clone(),
            _ => None,
        };
        let reason = match &err {
            // An operator runs the import: the database's own words help.
            AppError::Database(e) => format!("database error: {e}"),
            AppError::Internal(e) => format!("{e:#}"),
            other => other.to_string(),
        };
        self.rejected.push(Rejection {
            line,
            code: err.code(),
            field,
            reason,
        });
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        write!(
            f,
            "{} records: {} created, {} updated, {} unchanged, {} rejected in {:.2} s ({:.0} records/s)",
            self.records(),
            self.created,
            self.updated,
            self.unchanged,
            self.rejected.len(),
            secs,
            self.records() as f64 / secs.max(1e-9),
        )
    }
}

/// Imports the records of `path` into the store.
pub async fn run(
    db: &DatabaseConnection,
    ctx: &Context,
    kind: Kind,
    path: &Path,
    options: &Options,
) -> AppResult<Report> {
    let format = match options.format {
        Some(f) => f,
        None => Format::of_path(path)?,
    };
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let (input, bytes) = read::open(path)?;
    let progress = Progress::new(options.progress, size, bytes);
    let started = Instant::now();
    let mut report = match kind {
        Kind::Customers => {
            load::<CustomerRecord>(db, ctx, records(format, input)?, options, &progress).await?
        }
        Kind::Orders => {
            let orders: Box<dyn Iterator<Item = Numbered<OrderRecord>>> = match format {
                Format::Jsonl => Box::new(read::jsonl(input)),
                Format::Csv => {
                    Box::new(records::group_order_rows(read::csv::<OrderCsvRow>(input)?))
                }
            };
            if options.record_at_a_time || ctx.principal.role == Role::Customer {
                load(db, ctx, orders, options, &progress).await?
            } else {
                bulk::load(db, ctx, orders, options, &progress).await?
            }
        }
        Kind::Tickets => {
            load::<TicketRecord>(db, ctx, records(format, input)?, options, &progress).await?
        }
        Kind::Reviews => {
            load::<ReviewRecord>(db, ctx, records(format, input)?, options, &progress).await?
        }
        Kind::Nps => {
            load::<NpsRecord>(db, ctx, records(format, input)?, options, &progress).await?
        }
    };
    progress.finish();
    report.elapsed = started.elapsed();
    Ok(report)
}

fn records<T: Record + 'static>(
    format: Format,
    input: impl Read + 'static,
) -> AppResult<Box<dyn Iterator<Item = Numbered<T>>>> {
    Ok(match format {
        Format::Jsonl => Box::new(read::jsonl(input)),
        Format::Csv => Box::new(read::csv(input)?),
    })
}

/// Writes `records` batch by batch; see the module documentation.
async fn load<T: Record>(
    db: &DatabaseConnection,
    ctx: &Context,
    records: Box<dyn Iterator<Item = Numbered<T>>>,
    options: &Options,
    progress: &Progress,
) -> AppResult<Report> {
    let mut report = Report::default();
    let mut records = records.peekable();
    while records.peek().is_some() {
        let batch = records.by_ref().take(options.batch_size.max(1)).collect();
        write_records(db, ctx, batch, &mut report).await?;
        progress.update(&report);
    }
    Ok(report)
}

/// Writes `batch` in one transaction, each record in its own savepoint.
async fn write_records<T: Record>(
    db: &DatabaseConnection,
    ctx: &Context,
    batch: Vec<Numbered<T>>,
    report: &mut Report,
) -> AppResult<()> {
    let txn = crate::db::begin_write(db).await?;
    for Numbered { line, record } in batch {
        let record = match record {
            Ok(record) => record,
            Err(reason) => {
                report.reject(
                    line,
                    AppError::BadUserInput {
                        message: reason,
                        field: None,
                    },
                );
                continue;
            }
        };
        let savepoint = txn.begin().await?;
        match record.write(&savepoint, ctx).await {
            Ok(outcome) => {
                savepoint.commit().await?;
                report.count(outcome);
            }
            Err(err) => {
                savepoint.rollback().await?;
                report.reject(line, err);
            }
        }
    }
    txn.commit().await?;
    Ok(())
}

/// A progress bar over the file's bytes, on a terminal only.
struct Progress {
    bar: Option<ProgressBar>,
    bytes: BytesRead,
}

impl Progress {
    fn new(show: bool, size: u64, bytes: BytesRead) -> Progress {
        let bar = show.then(|| {
            let bar = ProgressBar::new(size);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
                )
                .expect("a valid template"),
            );
            bar
        });
        Progress { bar, bytes }
    }

    fn update(&self, report: &Report) {
        if let Some(bar) = &self.bar {
            bar.set_position(self.bytes.get());
            bar.set_message(format!(
                "{} imported, {} rejected",
                report.created + report.updated + report.unchanged,
                report.rejected.len()
            ));
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

//! Reading an import file into numbered records: JSON Lines (one object per
//! line) or CSV (a header row naming the fields, one record per row).
//!
//! A line that cannot be read or does not fit the record's shape becomes an
//! `Err` with its reason; reading goes on, so one bad line costs only itself.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::de::DeserializeOwned;

use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line (`.jsonl`, `.ndjson`).
    Jsonl,
    /// A header row with the field names, then one record per row (`.csv`).
    Csv,
}

impl Format {
    /// The format a file's extension names.
    pub fn of_path(path: &Path) -> AppResult<Format> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("jsonl" | "ndjson") => Ok(Format::Jsonl),
            Some("csv") => Ok(Format::Csv),
            _ => Err(AppError::bad_input(
                "file",
                format!(
                    "cannot tell the format of {}: name it .jsonl or .csv, or pass --format",
                    path.display()
                ),
            )),
        }
    }
}

/// A record and the file line it starts on (1-based).
#[derive(Debug)]
pub struct Numbered<T> {
    pub line: u64,
    pub record: Result<T, String>,
}

/// Bytes read so far, for the progress bar.
#[derive(Debug, Clone, Default)]
pub struct BytesRead(Arc<AtomicU64>);

impl BytesRead {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

struct Counting<R> {
    inner: R,
    read: BytesRead,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.0.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Opens `path`; returns the reader and its byte counter.
pub fn open(path: &Path) -> AppResult<(impl Read + use<>, BytesRead)> {
    let file = File::open(path)
        .map_err(|e| AppError::bad_input("file", format!("cannot open {}: {e}", path.display())))?;
    let read = BytesRead::default();
    Ok((
        Counting {
            inner: file,
            read: read.clone(),
        },
        read,
    ))
}

/// The records of a JSON Lines stream; blank lines are skipped.
pub fn jsonl<T: DeserializeOwned>(input: impl Read) -> impl Iterator<Item = Numbered<T>> {
    let mut input = BufReader::with_capacity(1 << 16, input);
    let mut line = 0u64;
    let mut buf = Vec::new();
    std::iter::from_fn(move || {
        loop {
            buf.clear();
            line += 1;
            match input.read_until(b'\n', &mut buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => {
                    return Some(Numbered {
                        line,
                        record: Err(format!("cannot read the line: {e}")),
                    });
                }
            }
            let Ok(text) = std::str::from_utf8(&buf) else {
                return Some(Numbered {
                    line,
                    record: Err("the line is not valid UTF-8".into()),
                });
            };
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            let record = serde_json::from_str::<T>(text).map_err(json_reason);
            return Some(Numbered { line, record });
        }
    })
}

/// serde_json's message without its "at line 1 column N" suffix, which
/// counts within the line and would contradict the file line reported.
fn json_reason(err: serde_json::Error) -> String {
    let message = err.to_string();
    let message = match message.rfind(" at line ") {
        Some(at) => &message[..at],
        None => &message,
    };
    match err.classify() {
        serde_json::error::Category::Data => message.to_owned(),
        _ => format!("not a JSON object: {message}"),
    }
}

/// The records of a CSV stream with a header row. Cells are trimmed and an
/// empty cell is an absent value.
pub fn csv<T: DeserializeOwned>(input: impl Read) -> AppResult<impl Iterator<Item = Numbered<T>>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(input);
    let headers = reader
        .headers()
        .map_err(|e| AppError::bad_input("file", format!("cannot read the CSV header row: {e}")))?
        .clone();
    let mut rows = reader.into_records();
    Ok(std::iter::from_fn(move || {
        let row = rows.next()?;
        Some(match row {
            Ok(row) => Numbered {
                line: row.position().map_or(0, |p| p.line()),
                record: row
                    .deserialize::<T>(Some(&headers))
                    .map_err(|e| csv_reason(e, &headers)),
            },
            Err(e) => Numbered {
                line: e.position().map_or(0, |p| p.line()),
                record: Err(csv_reason(e, &headers)),
            },
        })
    }))
}

/// csv's message without its position prefix (the line is reported beside
/// it), naming the column by its header rather than its index.
fn csv_reason(err: csv::Error, headers: &csv::StringRecord) -> String {
    match err.kind() {
        csv::ErrorKind::Deserialize { err, .. } => {
            match err.field().and_then(|i| headers.get(i as usize)) {
                Some(name) => format!("{name}: {}", err.kind()),
                None => err.kind().to_string(),
            }
        }
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("the row has {len} fields where the header has {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "the row is not valid UTF-8".into(),
        _ => err.to_string(),
    }
}

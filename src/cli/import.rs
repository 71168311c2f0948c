//! `c360 import`: a JSON Lines or CSV file through the API's rules, with
//! the rejected lines written out.

use std::io::IsTerminal;
use std::process::ExitCode;

use super::maintenance_at;
use crate::auth::Role;
use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::import::{Kind as ImportKind, read::Format as ImportFormat};

/// How `c360 import` runs: orders one by one or a batch at a time, and
/// the instant it imports at (now, unless given).
pub(super) struct Run {
    pub record_at_a_time: bool,
    pub now: Option<chrono::DateTime<chrono::Utc>>,
}

/// Runs `c360 import`; exit status 3 when lines were rejected (2 is
/// clap's for a usage error).
#[allow(clippy::too_many_arguments)]
pub(super) async fn import(
    config: &Config,
    kind: ImportKind,
    file: &std::path::Path,
    format: Option<ImportFormat>,
    batch_size: u64,
    rejects: Option<&std::path::Path>,
    source: String,
    run: Run,
) -> AppResult<ExitCode> {
    use std::io::Write;
    let app = maintenance_at(config.clone(), run.now).await?;
    let store = &app.store;
    let ctx = crate::import::records::Context {
        rules: app.rules.clone(),
        principal: crate::auth::Principal {
            role: Role::Staff,
            subject: "c360-import".into(),
            scopes: Default::default(),
        },
        source,
        now: app.clock.now(),
    };
    let options = crate::import::Options {
        format,
        batch_size: usize::try_from(batch_size).unwrap_or(usize::MAX),
        progress: std::io::stderr().is_terminal(),
        record_at_a_time: run.record_at_a_time,
    };
    let report = crate::import::run(&store.conn, &ctx, kind, file, &options).await?;
    match rejects {
        Some(path) => {
            let write = || -> std::io::Result<()> {
                let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
                for r in &report.rejected {
                    serde_json::to_writer(&mut out, r)?;
                    out.write_all(b"\n")?;
                }
                out.flush()
            };
            write().map_err(|e| {
                AppError::Internal(anyhow::anyhow!("cannot write {}: {e}", path.display()))
            })?;
        }
        None => {
            for r in &report.rejected {
                eprintln!("{r}");
            }
        }
    }
    println!("{kind}: {report}");
    if report.rejected.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        if let Some(path) = rejects {
            eprintln!("rejected lines are listed in {}", path.display());
        }
        Ok(ExitCode::from(3))
    }
}

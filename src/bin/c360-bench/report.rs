//! The results as a Markdown table for BENCHMARKS.md.

use crate::StoreKind;
use crate::load::Measured;
use crate::scenario::Scenario;

pub struct Row {
    pub store: StoreKind,
    pub scenario: Scenario,
    pub concurrency: usize,
    pub gateway: Measured,
    pub floor: Option<Measured>,
}

const HEADER: &str = "| store | scenario | conc. | requests | req/s | p50 ms | p99 ms | SQL/req | peak RSS MB | failures | floor req/s | floor p50 ms | floor p99 ms | gateway ÷ floor req/s |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

impl Row {
    pub fn markdown(&self) -> String {
        let g = &self.gateway;
        let store = match self.store {
            StoreKind::Sqlite => "SQLite",
            StoreKind::Postgres => "PostgreSQL",
        };
        let opt =
            |v: Option<f64>, digits: usize| v.map_or("–".to_owned(), |v| format!("{v:.digits$}"));
        let (frps, fp50, fp99, ratio) = match &self.floor {
            Some(f) => (
                format!("{:.0}", f.rps),
                format!("{:.2}", f.p50_ms),
                format!("{:.2}", f.p99_ms),
                format!("{:.2}", g.rps / f.rps.max(f64::MIN_POSITIVE)),
            ),
            None => ("–".into(), "–".into(), "–".into(), "–".into()),
        };
        format!(
            "| {store} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {} | {} | {} | {frps} | {fp50} | {fp99} | {ratio} |",
            self.scenario.name(),
            self.concurrency,
            g.requests,
            g.rps,
            g.p50_ms,
            g.p99_ms,
            opt(g.statements, 1),
            opt(g.peak_rss.map(|b| b as f64 / 1_048_576.0), 0),
            g.failures,
        )
    }
}

pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(HEADER);
    for row in rows {
        out.push('\n');
        out.push_str(&row.markdown());
    }
    let shared: Vec<_> = rows
        .iter()
        .filter_map(|r| Some((r, r.gateway.replica_share?)))
        .collect();
    if !shared.is_empty() {
        out.push_str(
            "\n\n| store | scenario | conc. | statements on the replica |\n|---|---|---:|---:|",
        );
        for (row, share) in shared {
            out.push_str(&format!(
                "\n| PostgreSQL | {} | {} | {:.1}% |",
                row.scenario.name(),
                row.concurrency,
                share * 100.0
            ));
        }
    }
    out
}

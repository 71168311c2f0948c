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

/// The round a row reports when a measurement is repeated: the median by
/// req/s, the lower of the middle two for an even number of rounds.
pub fn median(rounds: &[Measured]) -> Option<&Measured> {
    let mut by_rps: Vec<&Measured> = rounds.iter().collect();
    by_rps.sort_by(|a, b| a.rps.total_cmp(&b.rps));
    by_rps.get(by_rps.len().saturating_sub(1) / 2).copied()
}

/// A c360 scenario and its PostGraphile counterpart at one concurrency,
/// measured back to back in each round.
pub struct Comparison {
    pub scenario: Scenario,
    pub counterpart: Scenario,
    pub concurrency: usize,
    /// c360's rounds and PostGraphile's, in the order they ran.
    pub c360: Vec<Measured>,
    pub postgraphile: Vec<Measured>,
    /// The floor of c360's scenario at this concurrency.
    pub floor: Option<Measured>,
}

const COMPARISON_HEADER: &str = "| conc. | c360 req/s | c360 p50 ms | c360 p99 ms | PostGraphile req/s | PostGraphile p50 ms | PostGraphile p99 ms | c360 ÷ PostGraphile req/s by round | floor req/s | c360 ÷ floor req/s | c360 peak RSS MB | PostGraphile peak RSS MB | failures c360 / PostGraphile |\n|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|";

impl Comparison {
    pub fn markdown(&self) -> String {
        let empty = Measured::default();
        let c = median(&self.c360).unwrap_or(&empty);
        let p = median(&self.postgraphile).unwrap_or(&empty);
        let ratios: Vec<String> = self
            .c360
            .iter()
            .zip(&self.postgraphile)
            .map(|(c, p)| format!("{:.2}", c.rps / p.rps.max(f64::MIN_POSITIVE)))
            .collect();
        let (floor, share) = match &self.floor {
            Some(f) => (
                format!("{:.0}", f.rps),
                format!("{:.2}", c.rps / f.rps.max(f64::MIN_POSITIVE)),
            ),
            None => ("–".into(), "–".into()),
        };
        // The peak over every round: memory a server reached once it keeps.
        let peak = |rounds: &[Measured]| {
            rounds
                .iter()
                .filter_map(|m| m.peak_rss)
                .max()
                .map_or("–".to_owned(), |b| {
                    format!("{:.0}", b as f64 / 1_048_576.0)
                })
        };
        let failures = |rounds: &[Measured]| rounds.iter().map(|m| m.failures).sum::<u64>();
        format!(
            "| {} | {:.0} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {} | {floor} | {share} | {} | {} | {} / {} |",
            self.concurrency,
            c.rps,
            c.p50_ms,
            c.p99_ms,
            p.rps,
            p.p50_ms,
            p.p99_ms,
            ratios.join(", "),
            peak(&self.c360),
            peak(&self.postgraphile),
            failures(&self.c360),
            failures(&self.postgraphile),
        )
    }
}

/// One table per scenario pair, a row per concurrency, in the order measured.
pub fn comparison_tables(comparisons: &[Comparison]) -> String {
    let mut out = String::new();
    let mut current = None;
    for c in comparisons {
        if current != Some(c.scenario) {
            current = Some(c.scenario);
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str(&format!(
                "{} ↔ {} on PostgreSQL: each side's median round by req/s of {}\n\n{COMPARISON_HEADER}",
                c.scenario.name(),
                c.counterpart.name(),
                c.c360.len(),
            ));
        }
        out.push('\n');
        out.push_str(&c.markdown());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(rps: f64, p50_ms: f64, peak_rss: u64, failures: u64) -> Measured {
        Measured {
            requests: rps as u64,
            failures,
            rps,
            p50_ms,
            p99_ms: p50_ms * 2.0,
            peak_rss: Some(peak_rss),
            ..Measured::default()
        }
    }

    #[test]
    fn median_is_the_middle_round_by_rps_and_the_lower_of_two() {
        let rounds = [
            measured(300.0, 1.0, 0, 0),
            measured(100.0, 2.0, 0, 0),
            measured(200.0, 3.0, 0, 0),
        ];
        assert_eq!(median(&rounds).map(|m| m.p50_ms), Some(3.0));
        assert_eq!(median(&rounds[..2]).map(|m| m.p50_ms), Some(2.0));
        assert_eq!(median(&rounds[..1]).map(|m| m.p50_ms), Some(1.0));
        assert!(median(&[]).is_none());
    }

    #[test]
    fn comparison_row_has_medians_ratios_by_round_floor_share_and_peaks() {
        const MB: u64 = 1_048_576;
        let comparison = Comparison {
            scenario: Scenario::List,
            counterpart: Scenario::PostgraphileList,
            concurrency: 16,
            c360: vec![
                measured(900.0, 10.0, 30 * MB, 0),
                measured(800.0, 11.0, 40 * MB, 1),
                measured(1000.0, 9.0, 35 * MB, 0),
            ],
            postgraphile: vec![
                measured(450.0, 20.0, 200 * MB, 0),
                measured(400.0, 21.0, 300 * MB, 0),
                measured(500.0, 19.0, 250 * MB, 0),
            ],
            floor: Some(measured(1800.0, 5.0, 0, 0)),
        };
        assert_eq!(
            comparison.markdown(),
            "| 16 | 900 | 10.00 | 20.00 | 450 | 20.00 | 40.00 | 2.00, 2.00, 2.00 | 1800 | 0.50 | 40 | 300 | 1 / 0 |"
        );
        let table = comparison_tables(&[comparison]);
        assert!(table.starts_with("list ↔ postgraphile-list on PostgreSQL"));
        assert_eq!(table.lines().count(), 5);
    }
}

//! `clv-fit`: the lifetime-value refresh over the data set, timed
//! in-process (`service::clv::refresh`, what `c360 insights refresh` and the
//! schedule run), no HTTP. Three refreshes; each phase's median is
//! reported: the one streamed read, the fit and predictions, and the
//! transaction that rewrites every customer's row. Beside them, how close
//! the fitted parameters come to the seed's generating processes
//! (`c360::seed::PURCHASES` and `SPEND`), which holds only for a data set
//! seeded by this version.

use std::fmt;
use std::time::Duration;

use c360::config::Config;
use c360::domain::Clock;
use c360::service::clv;

use crate::StoreKind;
use crate::store::Prepared;

const RUNS: usize = 3;

pub struct FitRow {
    pub store: StoreKind,
    pub customers: i64,
    pub repeat_customers: i64,
    pub read: Duration,
    pub fit: Duration,
    pub write: Duration,
    /// Fitted over generating, minus one, for r, α, a, b, p, q, γ.
    pub off: [f64; 7],
}

pub const HEADER: &str = "| store | customers fitted | read ms | fit ms | write ms | total ms | r | α | a | b | p | q | γ |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

impl fmt::Display for FitRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let store = match self.store {
            StoreKind::Sqlite => "SQLite",
            StoreKind::Postgres => "PostgreSQL",
        };
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        write!(
            f,
            "| {store} | {} ({} repeat) | {:.0} | {:.0} | {:.0} | {:.0} |",
            self.customers,
            self.repeat_customers,
            ms(self.read),
            ms(self.fit),
            ms(self.write),
            ms(self.read + self.fit + self.write)
        )?;
        for off in self.off {
            write!(f, " {:+.1} % |", 100.0 * off)?;
        }
        Ok(())
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

pub async fn run(prepared: &Prepared) -> anyhow::Result<FitRow> {
    let store = prepared.connect(2).await?;
    let config = Config::for_store(&prepared.url);
    let (mut reads, mut fits, mut writes) = (Vec::new(), Vec::new(), Vec::new());
    let mut last = None;
    for _ in 0..RUNS {
        let done = clv::refresh(&store.conn, &config.base_currency, Clock::system().now()).await?;
        eprintln!("{done}");
        reads.push(done.read);
        fits.push(done.fitted);
        writes.push(done.written);
        last = Some(done);
    }
    store.conn.close().await?;
    let done = last.ok_or_else(|| anyhow::anyhow!("no refresh ran"))?;
    let (p, s) = (c360::seed::PURCHASES, c360::seed::SPEND);
    let fit = &done.fit;
    let off = |got: Option<f64>, generated: f64| got.map_or(f64::NAN, |g| g / generated - 1.0);
    Ok(FitRow {
        store: prepared.kind,
        customers: fit.customers,
        repeat_customers: fit.repeat_customers,
        read: median(reads),
        fit: median(fits),
        write: median(writes),
        off: [
            off(fit.purchase_r, p.r),
            off(fit.purchase_alpha, p.alpha),
            off(fit.purchase_a, p.a),
            off(fit.purchase_b, p.b),
            off(fit.spend_p, s.p),
            off(fit.spend_q, s.q),
            off(fit.spend_gamma, s.gamma),
        ],
    })
}

//! `c360 insights fit-clv`: fits the lifetime-value models (`domain::clv`)
//! to a customer summary file and prints the parameters, and the
//! predictions for the customers asked for, as JSON. It reads no store:
//! it is for checking the models against published data sets (CDNOW) or
//! fitting another system's export with the same code the refresh runs.

use std::collections::HashMap;
use std::path::PathBuf;

use clap::Args;
use serde_json::{Map, Value, json};

use crate::domain::clv::{Fit, Observation, bgnbd, gamma_gamma};
use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, Args)]
pub struct FitClvArgs {
    /// A CSV file, one row per customer, with a header naming the columns:
    /// `frequency` or `x` (repeat purchases), `recency` or `t_x` (time from
    /// the first purchase to the last), `T` (time from the first purchase to
    /// the end of observation), all times in one unit; optionally
    /// `monetary_value` or `zbar` (mean value of the repeat purchases) for
    /// the spend model, and `ID`, `id` or `customer_id`. The `lifetimes`
    /// package's summaries read as they are.
    #[arg(long)]
    pub summary: PathBuf,
    /// Print the predictions for this customer (by its id column); repeat
    /// the flag for more.
    #[arg(long = "customer")]
    pub customers: Vec<String>,
    /// A horizon for the customers' expected purchases, in the file's unit
    /// of time; repeat the flag for more.
    #[arg(long = "horizon")]
    pub horizons: Vec<f64>,
}

/// One row of the file.
struct Row {
    id: String,
    observation: Observation,
    mean: Option<f64>,
}

fn bad(message: impl Into<String>) -> AppError {
    AppError::bad_input("summary", message)
}

fn read(path: &PathBuf) -> AppResult<Vec<Row>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| bad(format!("{}: {e}", path.display())))?;
    let headers = reader
        .headers()
        .map_err(|e| bad(format!("{}: {e}", path.display())))?
        .clone();
    let find = |names: &[&str]| {
        headers
            .iter()
            .position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
    };
    let need = |names: &[&str]| {
        find(names).ok_or_else(|| bad(format!("no column named {}", names.join(" or "))))
    };
    let x_col = need(&["frequency", "x"])?;
    let t_x_col = need(&["recency", "t_x"])?;
    let age_col = need(&["T"])?;
    let mean_col = find(&["monetary_value", "zbar"]);
    let id_col = find(&["id", "customer_id"]);
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| bad(format!("line {line}: {e}")))?;
        let number = |col: usize, name: &str| -> AppResult<f64> {
            let text = record.get(col).unwrap_or("");
            text.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| bad(format!("line {line}: {name} `{text}` is not a number")))
        };
        let x = number(x_col, "frequency")?;
        if x < 0.0 || x.fract() != 0.0 || x > f64::from(u32::MAX) {
            return Err(bad(format!(
                "line {line}: frequency {x} is not a whole number of repeat purchases"
            )));
        }
        let observation = Observation {
            x: x as u32,
            t_x: number(t_x_col, "recency")?,
            age: number(age_col, "T")?,
        };
        let mean = mean_col
            .map(|col| number(col, "monetary_value"))
            .transpose()?;
        let id = id_col
            .and_then(|col| record.get(col))
            .map_or_else(|| (line - 1).to_string(), str::to_owned);
        rows.push(Row {
            id,
            observation,
            mean,
        });
    }
    Ok(rows)
}

fn fit_json<P>(fit: &Fit<P>, params: Value) -> Value {
    let mut v = params;
    if let Value::Object(map) = &mut v {
        map.insert("customers".into(), json!(fit.customers));
        map.insert("logLikelihood".into(), json!(fit.log_likelihood));
        map.insert("converged".into(), json!(fit.converged));
        map.insert("evaluations".into(), json!(fit.evaluations));
    }
    v
}

/// Fits the file and prints the JSON answer.
pub fn run(args: &FitClvArgs) -> AppResult<()> {
    let rows = read(&args.summary)?;
    let purchases =
        bgnbd::Data::new(rows.iter().map(|r| r.observation)).map_err(|e| bad(e.to_string()))?;
    let purchase_fit = bgnbd::fit(&purchases);
    let p = purchase_fit.params;
    let mut out = Map::new();
    out.insert("customers".into(), json!(rows.len()));
    out.insert(
        "bgNbd".into(),
        fit_json(
            &purchase_fit,
            json!({ "r": p.r, "alpha": p.alpha, "a": p.a, "b": p.b }),
        ),
    );
    let spend_fit = if rows.iter().any(|r| r.mean.is_some()) {
        let spend =
            gamma_gamma::Data::new(rows.iter().filter_map(|r| Some((r.observation.x, r.mean?))))
                .map_err(bad)?;
        let fit = gamma_gamma::fit(&spend);
        let g = fit.params;
        out.insert(
            "gammaGamma".into(),
            fit_json(&fit, json!({ "p": g.p, "q": g.q, "gamma": g.gamma })),
        );
        Some(fit)
    } else {
        out.insert("gammaGamma".into(), Value::Null);
        None
    };
    if !args.customers.is_empty() {
        let by_id: HashMap<&str, &Row> = rows.iter().map(|r| (r.id.as_str(), r)).collect();
        let mut predictions = Vec::new();
        for id in &args.customers {
            let row = by_id
                .get(id.as_str())
                .ok_or_else(|| AppError::bad_input("customer", format!("no customer {id}")))?;
            let o = &row.observation;
            let mut expected = Map::new();
            for h in &args.horizons {
                expected.insert(h.to_string(), json!(p.expected(o, *h)));
            }
            let spend = match (&spend_fit, row.mean) {
                (Some(f), Some(mean)) => f.params.expected_spend(o.x, mean),
                _ => None,
            };
            predictions.push(json!({
                "id": id,
                "x": o.x,
                "tX": o.t_x,
                "T": o.age,
                "probabilityAlive": p.p_alive(o),
                "expectedPurchases": expected,
                "expectedSpend": spend,
            }));
        }
        out.insert("predictions".into(), Value::Array(predictions));
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&Value::Object(out))
            .map_err(|e| AppError::Internal(e.into()))?
    );
    Ok(())
}

//! `import`: `c360 import orders` timed on a fresh store of each kind. The
//! files are generated (a fixed seed): 200 customers, then 6,000 orders of
//! one to three lines over the last two years, mostly paid or fulfilled,
//! some pending, cancelled and (partly) refunded, in no particular order.
//! Three runs per store: the orders a batch at a time (the default), the
//! same file again (every order unchanged), and, on a second fresh store,
//! the orders `--record-at-a-time` for comparison. The rate is the one the
//! import reports (records over its own time, startup left out).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{ConnectionTrait, Database};
use serde_json::json;

use crate::{Args, StoreKind};

const CUSTOMERS: u64 = 200;
const ORDERS: u64 = 6_000;

pub const HEADER: &str = "| store | run | orders | created | unchanged | import s | orders/s | wall s |\n|---|---|---:|---:|---:|---:|---:|---:|";

pub struct ImportRow {
    pub store: StoreKind,
    pub run: &'static str,
    pub created: u64,
    pub unchanged: u64,
    pub seconds: f64,
    pub wall: f64,
}

impl fmt::Display for ImportRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let store = match self.store {
            StoreKind::Sqlite => "SQLite",
            StoreKind::Postgres => "PostgreSQL",
        };
        write!(
            f,
            "| {store} | {} | {ORDERS} | {} | {} | {:.2} | {:.0} | {:.2} |",
            self.run,
            self.created,
            self.unchanged,
            self.seconds,
            ORDERS as f64 / self.seconds.max(1e-9),
            self.wall
        )
    }
}

/// Writes the customers and orders files into `dir`.
fn generate(dir: &Path, seed: u64) -> anyhow::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let mut rng = StdRng::seed_from_u64(seed);
    let customers = dir.join("import-customers.jsonl");
    let mut out = String::new();
    for i in 0..CUSTOMERS {
        out.push_str(
            &json!({ "externalRef": format!("crm-{i}"), "email": format!("customer{i}@example.com"),
                     "firstName": format!("First{i}") })
            .to_string(),
        );
        out.push('\n');
    }
    std::fs::write(&customers, out)?;
    let orders = dir.join("import-orders.jsonl");
    let now = chrono::Utc::now();
    let mut out = String::new();
    for k in 0..ORDERS {
        let lines: Vec<serde_json::Value> = (0..rng.random_range(1..=3))
            .map(|_| {
                let sku = rng.random_range(0..200);
                json!({ "sku": format!("SKU-{sku:03}"), "productName": format!("Product {sku}"),
                        "quantity": rng.random_range(1..=3), "unitPrice": rng.random_range(500..20_000) })
            })
            .collect();
        let total: i64 = lines
            .iter()
            .map(|l| l["quantity"].as_i64().unwrap_or(0) * l["unitPrice"].as_i64().unwrap_or(0))
            .sum();
        let status = [
            "PAID",
            "PAID",
            "PAID",
            "FULFILLED",
            "FULFILLED",
            "FULFILLED",
            "PENDING",
            "CANCELLED",
            "REFUNDED",
            "PARTIALLY_REFUNDED",
        ][rng.random_range(0..10)];
        let placed = now - chrono::TimeDelta::minutes(rng.random_range(60..2 * 365 * 24 * 60));
        let mut order = json!({
            "externalRef": format!("pos-{k}"), "orderNumber": format!("POS-{k}"),
            "customerExternalRef": format!("crm-{}", rng.random_range(0..CUSTOMERS)),
            "status": status, "currency": "USD", "total": total,
            "placedAt": placed.to_rfc3339(), "lines": lines,
        });
        if status == "PARTIALLY_REFUNDED" {
            order["refunded"] = json!(total / 3);
        }
        out.push_str(&order.to_string());
        out.push('\n');
    }
    std::fs::write(&orders, out)?;
    Ok((customers, orders))
}

/// A fresh, empty store of `kind` named `name`: its URL.
async fn fresh(args: &Args, kind: StoreKind, name: &str) -> anyhow::Result<String> {
    Ok(match kind {
        StoreKind::Sqlite => {
            let path = args.data_dir.join(format!("{name}.db"));
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
            format!("sqlite://{}?mode=rwc", path.display())
        }
        StoreKind::Postgres => {
            let admin = Database::connect(&args.postgres_url).await?;
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}"))
                .await?;
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await?;
            admin.close().await?;
            crate::store::database_on(&args.postgres_url, name)
        }
    })
}

/// Runs `c360 import <kind> <file>` on `url`; the report's counts and
/// seconds, and the wall time of the process.
fn import(
    bin: &Path,
    url: &str,
    kind: &str,
    file: &Path,
    extra: &[&str],
) -> anyhow::Result<(u64, u64, f64, f64)> {
    let started = Instant::now();
    let out = std::process::Command::new(bin)
        .args(["import", kind])
        .arg(file)
        .args(["--database-url", url])
        .args(extra)
        .env_remove("DATABASE_URL")
        .output()?;
    let wall = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || stderr.contains("failed as a whole") {
        anyhow::bail!("c360 import {kind} failed: {stdout}\n{stderr}");
    }
    // "orders: N records: C created, U updated, K unchanged, R rejected in S s (...)"
    let number = |after: &str| -> Option<f64> {
        let at = stdout.find(after)?;
        stdout[..at].split_whitespace().last()?.parse().ok()
    };
    let created = number(" created").unwrap_or(0.0) as u64;
    let unchanged = number(" unchanged").unwrap_or(0.0) as u64;
    let seconds = number(" s (").unwrap_or(wall);
    Ok((created, unchanged, seconds, wall))
}

/// The three runs on each store of `args`.
pub async fn run(args: &Args) -> anyhow::Result<Vec<ImportRow>> {
    let bin = match &args.server_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()?.with_file_name("c360"),
    };
    let (customers, orders) = generate(&args.data_dir, args.seed)?;
    let mut rows = Vec::new();
    for &kind in &args.store {
        for (run, name, flags) in [
            ("batch at a time", "c360_bench_import", &[][..]),
            (
                "record at a time",
                "c360_bench_import_records",
                &["--record-at-a-time"][..],
            ),
        ] {
            let url = fresh(args, kind, name).await?;
            import(&bin, &url, "customers", &customers, &[])?;
            let (created, unchanged, seconds, wall) = import(&bin, &url, "orders", &orders, flags)?;
            let row = ImportRow {
                store: kind,
                run,
                created,
                unchanged,
                seconds,
                wall,
            };
            eprintln!("{row}");
            rows.push(row);
            if flags.is_empty() {
                let (created, unchanged, seconds, wall) =
                    import(&bin, &url, "orders", &orders, flags)?;
                let row = ImportRow {
                    store: kind,
                    run: "again (all unchanged)",
                    created,
                    unchanged,
                    seconds,
                    wall,
                };
                eprintln!("{row}");
                rows.push(row);
            }
        }
    }
    Ok(rows)
}

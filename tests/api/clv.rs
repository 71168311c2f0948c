//! Probabilistic lifetime value: the models against the published CDNOW
//! estimates (`c360 insights fit-clv`), and the refreshed predictions
//! through the API on both stores: consistent figures, the segment
//! attributes, `insights { lifetimeValueModel }`, and the reasons given
//! when nothing can be predicted.

use std::collections::{BTreeMap, BTreeSet};

use c360_entity::enums::{EmailMarketingState, OrderChannel, OrderStatus};
use c360_entity::{customer, order};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};

use crate::both_stores;
use crate::cli::c360;
use crate::helpers::TestApp;

fn fixture(name: &str) -> String {
    format!(
        "{}/tests/api/fixtures/cdnow/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn fit_clv(args: &[&str]) -> Value {
    let out = c360()
        .args(["insights", "fit-clv"])
        .args(args)
        .output()
        .expect("c360 insights fit-clv runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// `got` agrees with `published` to two significant figures: within half a
/// unit of the second.
fn two_figures(name: &str, got: f64, published: f64) {
    let unit = 10f64.powf(published.abs().log10().floor() - 1.0);
    assert!(
        (got - published).abs() <= unit / 2.0,
        "{name}: {got} does not agree with the published {published} to two significant figures"
    );
}

fn relative(name: &str, got: f64, want: f64, tolerance: f64) {
    assert!(
        (got / want - 1.0).abs() <= tolerance,
        "{name}: {got} vs {want}"
    );
}

#[test]
fn fit_clv_recovers_the_published_cdnow_estimates() {
    let out = fit_clv(&[
        "--summary",
        &fixture("cdnow_customers_summary_with_transactions.csv"),
        "--customer",
        "1",
        "--customer",
        "3",
        "--customer",
        "142",
        "--customer",
        "157",
        "--customer",
        "244",
        "--horizon",
        "39",
        "--horizon",
        "52",
    ]);
    assert_eq!(out["customers"], 2357);
    let bg = &out["bgNbd"];
    assert_eq!(bg["converged"], true, "{out}");
    // Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way".
    for (name, published) in [("r", 0.243), ("alpha", 4.414), ("a", 0.793), ("b", 2.426)] {
        two_figures(name, num(&bg[name]), published);
    }
    let gg = &out["gammaGamma"];
    assert_eq!(gg["converged"], true, "{out}");
    assert_eq!(gg["customers"], 946);
    // Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value".
    for (name, published) in [("p", 6.25), ("q", 3.74), ("gamma", 15.44)] {
        two_figures(name, num(&gg[name]), published);
    }
    // Closer: the maximum of the same likelihood found by SciPy
    // (fixtures/cdnow/reference.py, recorded in its README).
    for (name, want) in [
        ("r", 0.242_593),
        ("alpha", 4.413_532),
        ("a", 0.792_886),
        ("b", 2.425_754),
    ] {
        relative(name, num(&bg[name]), want, 1e-5);
    }
    relative(
        "BG/NBD log-likelihood",
        num(&bg["logLikelihood"]),
        -9_582.425_6,
        1e-7,
    );
    for (name, want) in [("p", 6.248_803), ("q", 3.744_588), ("gamma", 15.447_746)] {
        relative(name, num(&gg[name]), want, 1e-5);
    }
    relative(
        "Gamma-Gamma log-likelihood",
        num(&gg["logLikelihood"]),
        -4_055.923_2,
        1e-7,
    );

    // reference.py at its own fit: P(alive), E[Y(39)], E[Y(52)], E[spend]
    // (SciPy's hyp2f1; the `lifetimes` package prints the same to 6 decimals).
    let expected: BTreeMap<&str, (f64, f64, f64, Option<f64>)> = [
        ("1", (0.726_609, 1.225_911, 1.558_584, Some(24.658_616))),
        ("3", (1.0, 0.194_781, 0.251_666, None)),
        ("142", (0.007_736, 0.029_944, 0.037_742, Some(35.546_973))),
        ("157", (0.969_134, 20.053_665, 25.061_422, Some(26.392_948))),
        ("244", (0.003_563, 0.013_985, 0.017_617, Some(181.965_073))),
    ]
    .into_iter()
    .collect();
    let predictions = out["predictions"].as_array().expect("predictions");
    assert_eq!(predictions.len(), expected.len());
    for p in predictions {
        let id = p["id"].as_str().expect("id");
        let (alive, e39, e52, spend) = expected[id];
        // Both fits agree to 1e-5 and the figures move about as much; the
        // references are printed to six decimals.
        let near = |name: &str, got: f64, want: f64| {
            assert!(
                (got - want).abs() <= 1e-6 + 1e-4 * want.abs(),
                "{id} {name}: {got} vs {want}"
            );
        };
        near("P(alive)", num(&p["probabilityAlive"]), alive);
        near("E[Y(39)]", num(&p["expectedPurchases"]["39"]), e39);
        near("E[Y(52)]", num(&p["expectedPurchases"]["52"]), e52);
        match spend {
            Some(s) => near("spend", num(&p["expectedSpend"]), s),
            None => assert_eq!(p["expectedSpend"], Value::Null, "{p}"),
        }
    }
}

#[test]
fn fit_clv_reads_a_summary_without_spend_and_refuses_a_bad_one() {
    let out = fit_clv(&["--summary", &fixture("cdnow_customers_summary.csv")]);
    assert_eq!(out["gammaGamma"], Value::Null);
    two_figures("r", num(&out["bgNbd"]["r"]), 0.243);

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad.csv");
    std::fs::write(&path, "id,frequency,recency,T\n1,2,40,30\n").expect("write");
    let out = c360()
        .args(["insights", "fit-clv", "--summary"])
        .arg(&path)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("t_x = 40, T = 30"), "{stderr}");
}

const STATS: &str = "stats { ordersCount clvStatus clvRefreshedAt probabilityActive churnRisk
    expectedOrders90d expectedOrders365d expectedOrderValue { amount }
    predictedLifetimeValue { amount } expectedNextOrderDate }";

/// Every customer's id and stats, page by page.
async fn all_stats(app: &TestApp) -> BTreeMap<i64, Value> {
    let mut out = BTreeMap::new();
    let mut after: Option<String> = None;
    loop {
        let data = app
            .query(
                &format!(
                    "query($after: String) {{ customers(first: 100, after: $after) {{
                        pageInfo {{ hasNextPage endCursor }}
                        edges {{ node {{ id {STATS} }} }} }} }}"
                ),
                json!({ "after": after }),
            )
            .await;
        let page = &data["customers"];
        for edge in page["edges"].as_array().expect("edges") {
            let node = &edge["node"];
            let id = node["id"]
                .as_str()
                .and_then(|g| g.rsplit('/').next())
                .and_then(|n| n.parse().ok())
                .expect("a customer id");
            out.insert(id, node["stats"].clone());
        }
        if page["pageInfo"]["hasNextPage"] != true {
            return out;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
}

/// Members of a segment, all pages.
async fn members(app: &TestApp, query: &str) -> BTreeSet<i64> {
    let mut out = BTreeSet::new();
    let mut after: Option<String> = None;
    loop {
        let data = app
            .query(
                "query($q: String!, $after: String) { customers(query: $q, first: 100, after: $after) {
                    pageInfo { hasNextPage endCursor } edges { node { id } } } }",
                json!({ "q": query, "after": after }),
            )
            .await;
        let page = &data["customers"];
        for edge in page["edges"].as_array().expect("edges") {
            let id = edge["node"]["id"]
                .as_str()
                .and_then(|g| g.rsplit('/').next())
                .and_then(|n| n.parse().ok())
                .expect("a customer id");
            out.insert(id);
        }
        if page["pageInfo"]["hasNextPage"] != true {
            return out;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
}

fn money(v: &Value) -> Option<f64> {
    v["amount"]
        .as_str()
        .map(|a| a.parse().expect("a decimal amount"))
}

const MODEL: &str = "lifetimeValueModel { fittedAt status customers repeatCustomers refundShare
    purchaseModel { r alpha a b logLikelihood converged }
    spendModel { p q gamma logLikelihood converged }
    customersPredicted expectedOrders90d expectedOrders365d predictedValue { amount } }";

async fn model(app: &TestApp, segment: Option<&str>) -> Value {
    let data = app
        .query(
            &format!(
                "query($segment: String) {{ insights(from: \"2000-01-01T00:00:00Z\", to: \"2100-01-01T00:00:00Z\", segment: $segment) {{ {MODEL} }} }}"
            ),
            json!({ "segment": segment }),
        )
        .await;
    data["insights"]["lifetimeValueModel"].clone()
}

/// (x, t_x, T) of a customer from its counted orders, in whole days to `at`:
/// the definition `service::clv` documents, recomputed from the rows.
fn summary(placed: &[DateTime<Utc>], at: DateTime<Utc>) -> (f64, f64, f64) {
    let first = *placed.iter().min().expect("an order");
    let last = *placed.iter().max().expect("an order");
    let days = |d: Duration| (d.num_seconds() / 86_400) as f64;
    (
        (placed.len() - 1) as f64,
        days(last - first),
        days(at - first),
    )
}

both_stores! {
    async fn refreshed_predictions_are_consistent_and_filterable(app: TestApp) {
        // Seeding fits the models over its base, as `c360 insights refresh` would.
        app.seed(300).await;
        let stats = all_stats(&app).await;
        assert_eq!(stats.len(), 300);
        let m = model(&app, None).await;
        assert_eq!(m["status"], "PREDICTED", "{m}");
        assert_eq!(m["purchaseModel"]["converged"], true, "{m}");
        assert_eq!(m["spendModel"]["converged"], true, "{m}");
        let buyers = stats.values().filter(|s| num(&s["ordersCount"]) > 0.0).count();
        assert_eq!(m["customers"], buyers as i64, "{m}");
        assert_eq!(m["customersPredicted"], buyers as i64, "{m}");
        let refund_share = num(&m["refundShare"]);
        assert!((0.0..0.5).contains(&refund_share), "{m}");

        let (mut predicted, mut first_timers) = (0, 0);
        let (mut sum90, mut sum365, mut value) = (0.0, 0.0, 0.0);
        for (id, s) in &stats {
            let orders = num(&s["ordersCount"]);
            if orders == 0.0 {
                assert_eq!(s["clvStatus"], "NO_ORDERS", "{id}: {s}");
                for f in ["probabilityActive", "churnRisk", "expectedOrders90d", "predictedLifetimeValue", "expectedNextOrderDate"] {
                    assert_eq!(s[f], Value::Null, "{id}: {f} in {s}");
                }
                continue;
            }
            let alive = num(&s["probabilityActive"]);
            assert!((0.0..=1.0).contains(&alive), "{id}: {s}");
            let (e90, e365) = (num(&s["expectedOrders90d"]), num(&s["expectedOrders365d"]));
            assert!(0.0 <= e90 && e90 <= e365, "{id}: expected orders fall with the horizon: {s}");
            sum90 += e90;
            sum365 += e365;
            let churn = 1.0 - alive;
            let band = match churn {
                c if c < 0.25 => "LOW",
                c if c < 0.5 => "MEDIUM",
                c if c < 0.75 => "HIGH",
                _ => "VERY_HIGH",
            };
            assert_eq!(s["churnRisk"], band, "{id}: {s}");
            assert!(s["clvRefreshedAt"].is_string(), "{id}: {s}");
            if orders == 1.0 {
                // No repeat order: active for sure (the model lets customers
                // stop only after one), and no spend of their own to weigh.
                first_timers += 1;
                assert_eq!(s["clvStatus"], "NO_REPEAT_ORDER", "{id}: {s}");
                assert_eq!(alive, 1.0, "{id}: {s}");
                assert_eq!(s["predictedLifetimeValue"], Value::Null, "{id}: {s}");
                assert_eq!(s["expectedOrderValue"], Value::Null, "{id}: {s}");
            } else {
                predicted += 1;
                assert_eq!(s["clvStatus"], "PREDICTED", "{id}: {s}");
                let order_value = money(&s["expectedOrderValue"]).expect("an order value");
                let pv = money(&s["predictedLifetimeValue"]).expect("a predicted value");
                value += pv;
                // Orders × value per order × what is not refunded, each
                // figure rounded to the cent on its own.
                let recomputed = e365 * order_value * (1.0 - refund_share);
                assert!((pv - recomputed).abs() <= 0.01 * (e365 + 1.0), "{id}: {pv} vs {recomputed}: {s}");
            }
            if let Some(day) = s["expectedNextOrderDate"].as_str() {
                assert!(day >= app.clock.now().date_naive().to_string().as_str(), "{id}: {s}");
            }
        }
        assert!(predicted > 50 && first_timers > 10, "{predicted} predicted, {first_timers} first-timers");
        assert!((num(&m["expectedOrders90d"]) - sum90).abs() < 1e-6 * sum90, "{m} vs {sum90}");
        assert!((num(&m["expectedOrders365d"]) - sum365).abs() < 1e-6 * sum365, "{m} vs {sum365}");
        assert!((money(&m["predictedValue"]).unwrap_or(0.0) - value).abs() < 0.005, "{m} vs {value}");

        // P(alive) recomputed from the orders and the published parameters,
        // independently of the code under test: 1/(1 + a/(b+x−1)·((α+T)/(α+t_x))^(r+x)).
        let p = &m["purchaseModel"];
        let (r, alpha, a, b) = (num(&p["r"]), num(&p["alpha"]), num(&p["a"]), num(&p["b"]));
        let fitted_at: DateTime<Utc> = m["fittedAt"].as_str().and_then(|t| t.parse().ok()).expect("fittedAt");
        let mut placed: BTreeMap<i64, Vec<DateTime<Utc>>> = BTreeMap::new();
        for o in order::Entity::find()
            .filter(order::Column::Status.ne(OrderStatus::Cancelled))
            .all(&app.db)
            .await
            .expect("orders")
        {
            placed.entry(o.customer_id).or_default().push(o.placed_at);
        }
        for (id, times) in &placed {
            let (x, t_x, t) = summary(times, fitted_at);
            let expected = if x == 0.0 {
                1.0
            } else {
                1.0 / (1.0 + a / (b + x - 1.0) * ((alpha + t) / (alpha + t_x)).powf(r + x))
            };
            let got = num(&stats[id]["probabilityActive"]);
            assert!((got - expected).abs() < 1e-9, "{id}: P(alive) {got}, recomputed {expected}");
        }

        // The segment attributes select what the stats say.
        let select = |f: &dyn Fn(&Value) -> bool| -> BTreeSet<i64> {
            stats.iter().filter(|(_, s)| f(s)).map(|(id, _)| *id).collect()
        };
        let cases: Vec<(&str, BTreeSet<i64>)> = vec![
            ("predicted_clv >= 150", select(&|s| money(&s["predictedLifetimeValue"]).is_some_and(|v| v >= 150.0))),
            ("predicted_clv IS NULL", select(&|s| s["predictedLifetimeValue"].is_null())),
            ("churn_probability > 0.5", select(&|s| s["probabilityActive"].as_f64().is_some_and(|p| 1.0 - p > 0.5))),
            ("churn_probability BETWEEN 0.1 AND 0.6", select(&|s| s["probabilityActive"].as_f64().is_some_and(|p| (0.1..=0.6).contains(&(1.0 - p))))),
            ("expected_orders_90d >= 1", select(&|s| s["expectedOrders90d"].as_f64().is_some_and(|e| e >= 1.0))),
            ("churn_risk IN ('HIGH', 'VERY_HIGH')", select(&|s| matches!(s["churnRisk"].as_str(), Some("HIGH" | "VERY_HIGH")))),
            ("NOT churn_risk = 'LOW'", select(&|s| s["churnRisk"] != "LOW")),
        ];
        for (query, expected) in cases {
            assert!(!expected.is_empty() && expected.len() < stats.len(), "`{query}` should split the base");
            assert_eq!(members(&app, query).await, expected, "`{query}`");
        }

        // segmentFilters lists them with their types.
        let data = app.query("{ segmentFilters { name valueType operators values } }", json!({})).await;
        let filters: BTreeMap<String, Value> = data["segmentFilters"]
            .as_array()
            .expect("filters")
            .iter()
            .map(|f| (f["name"].as_str().expect("name").to_owned(), f.clone()))
            .collect();
        assert_eq!(filters["predicted_clv"]["valueType"], "MONEY");
        assert_eq!(filters["churn_probability"]["valueType"], "NUMBER");
        assert_eq!(filters["churn_probability"]["operators"], json!([">", ">=", "<", "<=", "BETWEEN", "IS NULL", "IS NOT NULL"]));
        assert_eq!(filters["expected_orders_90d"]["valueType"], "NUMBER");
        assert_eq!(filters["churn_risk"]["valueType"], "ENUM");
        assert_eq!(filters["churn_risk"]["values"], json!(["LOW", "MEDIUM", "HIGH", "VERY_HIGH"]));
        // A number is not an enum, and equality is not offered on estimates.
        let (_, body) = app
            .post("{ customers(query: \"churn_probability = 0.5\") { totalCount } }", json!({}), Some(&app.staff()))
            .await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");

        // A segment restricts the model's expectations to its members.
        let low = select(&|s| s["churnRisk"] == "LOW");
        let m = model(&app, Some("churn_risk = 'LOW'")).await;
        assert_eq!(m["customersPredicted"], low.len() as i64, "{m}");
        let low90: f64 = low.iter().map(|id| num(&stats[id]["expectedOrders90d"])).sum();
        assert!((num(&m["expectedOrders90d"]) - low90).abs() < 1e-6 * low90.max(1.0), "{m} vs {low90}");
        // The parameters are the base's whatever the segment.
        assert_eq!(num(&m["purchaseModel"]["r"]), r);
    }
}

/// A customer added 400 days ago with orders `days_ago` (all 80.00), the
/// way a partner's integration would have written them.
async fn customer_with_orders(app: &TestApp, email: &str, days_ago: &[i64]) -> i64 {
    let now = app.clock.now();
    let c = customer::ActiveModel {
        email: Set(email.into()),
        email_marketing_state: Set(EmailMarketingState::Subscribed),
        created_at: Set(now - Duration::days(400)),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .expect("customer");
    for (n, days) in days_ago.iter().enumerate() {
        order::ActiveModel {
            customer_id: Set(c.id),
            order_number: Set(format!("{email}-{n}")),
            status: Set(OrderStatus::Paid),
            channel: Set(OrderChannel::OnlineStore),
            currency: Set("USD".into()),
            subtotal: Set(8_000),
            discount: Set(0),
            tax: Set(0),
            total: Set(8_000),
            refunded: Set(0),
            placed_at: Set(now - Duration::days(*days)),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&app.db)
        .await
        .expect("order");
    }
    c.id
}

async fn stats_of(app: &TestApp, id: i64) -> Value {
    let data = app
        .query(
            &format!("query($id: ID!) {{ customer(id: $id) {{ {STATS} }} }}"),
            json!({ "id": format!("gid://c360/Customer/{id}") }),
        )
        .await;
    data["customer"]["stats"].clone()
}

fn refresh_cli(app: &TestApp) -> String {
    let out = c360()
        .args(["insights", "refresh", "--database-url", &app.db_url])
        .output()
        .expect("c360 insights refresh runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

both_stores! {
    async fn a_base_too_small_to_fit_gives_reasons_not_numbers(app: TestApp) {
        let regular = customer_with_orders(&app, "regular@example.com", &[300, 200, 100, 10]).await;
        let once = customer_with_orders(&app, "once@example.com", &[50]).await;
        let none = customer_with_orders(&app, "none@example.com", &[]).await;
        c360::service::metrics::refresh_all(&app.db, "USD", app.clock.now()).await.expect("metrics");

        // Before any refresh: nothing predicted, and the status says so.
        let s = stats_of(&app, regular).await;
        assert_eq!(s["clvStatus"], "NOT_REFRESHED", "{s}");
        assert_eq!(s["predictedLifetimeValue"], Value::Null, "{s}");
        assert_eq!(model(&app, None).await, Value::Null);

        let printed = refresh_cli(&app);
        assert!(printed.contains("CLV refreshed for 2 customers (BASE_TOO_SMALL)"), "{printed}");
        for id in [regular, once] {
            let s = stats_of(&app, id).await;
            assert_eq!(s["clvStatus"], "BASE_TOO_SMALL", "{s}");
            for f in ["probabilityActive", "churnRisk", "expectedOrders90d", "expectedOrders365d", "expectedOrderValue", "predictedLifetimeValue", "expectedNextOrderDate"] {
                assert_eq!(s[f], Value::Null, "{f} in {s}");
            }
            assert!(s["clvRefreshedAt"].is_string(), "{s}");
        }
        assert_eq!(stats_of(&app, none).await["clvStatus"], "NO_ORDERS");
        let m = model(&app, None).await;
        assert_eq!(m["status"], "BASE_TOO_SMALL", "{m}");
        assert_eq!(m["customers"], 2, "{m}");
        assert_eq!(m["purchaseModel"], Value::Null, "{m}");
        assert_eq!(m["spendModel"], Value::Null, "{m}");
        assert_eq!(m["customersPredicted"], 2, "{m}");
        assert_eq!(num(&m["expectedOrders90d"]), 0.0, "{m}");

        // The attributes are null for all of them.
        assert_eq!(members(&app, "churn_probability IS NULL").await.len(), 3);
        assert!(members(&app, "churn_risk IS NOT NULL OR predicted_clv >= 0").await.is_empty());

        // A first order after the refresh waits for the next.
        let later = customer_with_orders(&app, "later@example.com", &[1]).await;
        c360::service::metrics::refresh_all(&app.db, "USD", app.clock.now()).await.expect("metrics");
        let s = stats_of(&app, later).await;
        assert_eq!(s["clvStatus"], "NOT_REFRESHED", "{s}");
        let rows = c360_entity::customer_clv::Entity::find()
            .all(&app.db)
            .await
            .expect("rows");
        assert_eq!(rows.len(), 2, "one row per customer with orders at the refresh");
    }
}

both_stores! {
    async fn concurrent_refreshes_take_turns(app: TestApp) {
        app.seed(150).await;
        let buyers = app
            .scalar("SELECT COUNT(*) FROM customer_metrics WHERE orders_count > 0")
            .await;
        // Several instances' schedules firing together: each finishes, and
        // the rows are one refresh's, not a mix or a duplicate-key failure.
        let runs = (0..6).map(|_| c360::service::clv::refresh(&app.db, "USD", app.clock.now()));
        let done = futures_util::future::join_all(runs).await;
        let mut ids = Vec::new();
        for refreshed in done {
            ids.push(refreshed.expect("a refresh beside others").fit.id);
        }
        assert_eq!(app.scalar("SELECT COUNT(*) FROM customer_clv").await, buyers);
        assert_eq!(
            app.scalar("SELECT COUNT(DISTINCT fit_id) FROM customer_clv").await,
            1,
            "rows of {ids:?}"
        );
    }
}

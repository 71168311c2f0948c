//! RFM scores and groups against values computed by hand from customers the
//! test inserts, then through the segment language.

use c360_entity::enums::{EmailMarketingState, OrderChannel, OrderStatus};
use c360_entity::{customer, order};
use chrono::{Duration, Utc};
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{Value, json};

use crate::both_stores;
use crate::helpers::TestApp;

/// Inserts a customer with `orders` orders of 100.00 each, the latest
/// `last_days_ago` days ago, plus one cancelled order that must not count.
async fn customer_with_orders(app: &TestApp, email: &str, orders: i64, last_days_ago: i64) -> i64 {
    let now = Utc::now();
    let c = customer::ActiveModel {
        email: Set(email.into()),
        email_marketing_state: Set(EmailMarketingState::Subscribed),
        created_at: Set(now - Duration::days(900)),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .expect("customer");
    let cancelled = std::iter::once((OrderStatus::Cancelled, 0));
    let counted = (0..orders).map(|n| (OrderStatus::Paid, last_days_ago + 7 * n));
    for (n, (status, days_ago)) in cancelled.chain(counted).enumerate() {
        order::ActiveModel {
            customer_id: Set(c.id),
            order_number: Set(format!("{email}-{n}")),
            status: Set(status),
            channel: Set(OrderChannel::OnlineStore),
            currency: Set("USD".into()),
            subtotal: Set(10_000),
            discount: Set(0),
            tax: Set(0),
            total: Set(10_000),
            refunded: Set(0),
            // The cancelled order is the newest: it must not set recency.
            placed_at: Set(now - Duration::days(days_ago)),
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

async fn rfm_of(app: &TestApp, id: i64) -> Value {
    let data = app
        .query(
            "query($id: ID!) { customer(id: $id) { stats { rfm { recency frequency monetary group refreshedAt } } } }",
            json!({ "id": format!("gid://c360/Customer/{id}") }),
        )
        .await;
    data["customer"]["stats"]["rfm"].clone()
}

async fn members(app: &TestApp, query: &str) -> Vec<String> {
    let data = app
        .query(
            "query($q: String!) { customers(query: $q, first: 50) { edges { node { email } } } }",
            json!({ "q": query }),
        )
        .await;
    let mut emails: Vec<String> = data["customers"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["email"].as_str().expect("email").to_owned())
        .collect();
    emails.sort();
    emails
}

both_stores! {
    async fn rfm_scores_are_quintiles_and_groups_follow_the_rules(app: TestApp) {
        // Five buyers, one per quintile of each dimension (100.00 per order,
        // so monetary ranks as frequency does), and one without counted orders.
        let a = customer_with_orders(&app, "a@example.com", 5, 1).await;
        let b = customer_with_orders(&app, "b@example.com", 1, 2).await;
        let c = customer_with_orders(&app, "c@example.com", 4, 30).await;
        let d = customer_with_orders(&app, "d@example.com", 3, 100).await;
        let e = customer_with_orders(&app, "e@example.com", 2, 400).await;
        let none = customer_with_orders(&app, "f@example.com", 0, 0).await;
        c360::service::metrics::refresh_all(&app.db, "USD", app.clock.now()).await.expect("metrics");

        // Not refreshed yet: no scores.
        assert_eq!(rfm_of(&app, a).await, Value::Null);

        let written = c360::service::rfm::refresh(&app.db, app.clock.now()).await.expect("rfm refresh");
        assert_eq!(written, 5);

        let expected = [
            (a, 5, 5, 5, "CHAMPIONS"),
            (b, 4, 1, 1, "NEW"),
            (c, 3, 4, 4, "LOYAL"),
            (d, 2, 3, 3, "AT_RISK"),
            (e, 1, 2, 2, "DORMANT"),
        ];
        for (id, r, f, m, group) in expected {
            let rfm = rfm_of(&app, id).await;
            assert_eq!(rfm["recency"], r, "{id}: {rfm}");
            assert_eq!(rfm["frequency"], f, "{id}: {rfm}");
            assert_eq!(rfm["monetary"], m, "{id}: {rfm}");
            assert_eq!(rfm["group"], group, "{id}: {rfm}");
            // The SQL CASE and the documented rules agree.
            assert_eq!(c360::domain::rfm::Group::of(r, f, m).as_str(), group);
            assert!(rfm["refreshedAt"].is_string(), "{rfm}");
        }
        assert_eq!(rfm_of(&app, none).await, Value::Null);

        assert_eq!(members(&app, "rfm_group = 'CHAMPIONS'").await, ["a@example.com"]);
        assert_eq!(
            members(&app, "rfm_group IN ('NEW', 'LOYAL')").await,
            ["b@example.com", "c@example.com"]
        );
        assert_eq!(
            members(&app, "rfm_group != 'DORMANT'").await,
            ["a@example.com", "b@example.com", "c@example.com", "d@example.com"]
        );
        assert_eq!(members(&app, "rfm_group IS NULL").await, ["f@example.com"]);
        // Two-valued logic: NOT of a test on an absent group includes it.
        assert_eq!(
            members(&app, "NOT rfm_group = 'AT_RISK'").await,
            ["a@example.com", "b@example.com", "c@example.com", "e@example.com", "f@example.com"]
        );

        // An unknown group is refused with the allowed values.
        let (status, body) = app
            .post(
                "{ customers(query: \"rfm_group = 'GOLD'\") { totalCount } }",
                json!({}),
                Some(&app.staff()),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    }
}

both_stores! {
    async fn rfm_loads_in_one_statement_per_page(app: TestApp) {
        app.seed(30).await;
        // Seeding refreshes the scores: every customer with orders has a row.
        let buyers = app
            .scalar("SELECT COUNT(*) FROM customer_metrics WHERE orders_count > 0")
            .await;
        assert!(buyers > 0);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM customer_rfm").await, buyers);

        let q = "query($n: Int!) { customers(first: $n) { edges { node { stats { rfm { group } } } } } }";
        let before = app.sql_statements().await;
        app.query(q, json!({ "n": 2 })).await;
        let small = app.sql_statements().await - before;
        let before = app.sql_statements().await;
        let data = app.query(q, json!({ "n": 30 })).await;
        let large = app.sql_statements().await - before;
        assert_eq!(small, large, "statements grow with the page");
        let with_rfm = data["customers"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .filter(|e| !e["node"]["stats"]["rfm"].is_null())
            .count();
        assert_eq!(with_rfm as i64, buyers);
    }
}

crate::each_store! {
    async fn serve_refreshes_rfm_on_its_interval(store: StoreKind) {
        let app = TestApp::spawn(store, |c| {
            c.rfm_refresh_interval = std::time::Duration::from_millis(300);
        })
        .await;
        app.seed(10).await;
        let buyers = app
            .scalar("SELECT COUNT(*) FROM customer_metrics WHERE orders_count > 0")
            .await;
        assert!(buyers > 0);
        sea_orm::ConnectionTrait::execute_unprepared(&app.db, "DELETE FROM customer_rfm")
            .await
            .expect("delete");
        let mut rows = 0;
        for _ in 0..50 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            rows = app.scalar("SELECT COUNT(*) FROM customer_rfm").await;
            if rows == buyers {
                break;
            }
        }
        assert_eq!(rows, buyers, "the scheduled refresh rewrote the scores");
    }
}

both_stores! {
    async fn concurrent_refreshes_take_turns(app: TestApp) {
        app.seed(150).await;
        let buyers = app
            .scalar("SELECT COUNT(*) FROM customer_metrics WHERE orders_count > 0")
            .await;
        // Several instances' schedules firing together: each finishes, and
        // the rows are one refresh's, not a duplicate-key failure.
        let runs = (0..6).map(|_| c360::service::rfm::refresh(&app.db, app.clock.now()));
        for written in futures_util::future::join_all(runs).await {
            assert_eq!(written.expect("a refresh beside others") as i64, buyers);
        }
        assert_eq!(app.scalar("SELECT COUNT(*) FROM customer_rfm").await, buyers);
    }
}

//! Per-customer insights on `Customer.stats`, against values computed by hand
//! from a customer the test inserts.

use c360_entity::enums::{EmailMarketingState, OrderChannel, OrderStatus};
use c360_entity::{customer, order};
use chrono::{Datelike, Duration, NaiveDate, Utc};
use sea_orm::{ActiveModelTrait, Set};
use serde_json::json;

use crate::both_stores;

both_stores! {
    async fn stats_show_recency_tenure_prediction_and_next_dates(app: TestApp) {
        let now = Utc::now();
        let birthday = NaiveDate::from_ymd_opt(1992, 2, 29).expect("date");
        let c = customer::ActiveModel {
            email: Set("ada@example.com".into()),
            birthday: Set(Some(birthday)),
            email_marketing_state: Set(EmailMarketingState::Subscribed),
            created_at: Set(now - Duration::days(600)),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&app.db)
        .await
        .expect("customer");
        // 100.00 and 50.00 with 10.00 refunded: lifetime value 140.00 over two orders.
        for (n, (days_ago, total, refunded)) in [(500, 10_000, 0), (10, 5_000, 1_000)].into_iter().enumerate() {
            order::ActiveModel {
                customer_id: Set(c.id),
                order_number: Set(format!("T-{n}")),
                status: Set(OrderStatus::Paid),
                channel: Set(OrderChannel::OnlineStore),
                currency: Set("USD".into()),
                subtotal: Set(total),
                discount: Set(0),
                tax: Set(0),
                total: Set(total),
                refunded: Set(refunded),
                placed_at: Set(now - Duration::days(days_ago)),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(&app.db)
            .await
            .expect("order");
        }
        c360::service::metrics::refresh_all(&app.db, "USD", app.clock.now()).await.expect("metrics");

        let data = app
            .query(
                "query($id: ID!) { customer(id: $id) { stats {
                    lifetimeValue { amount } averageOrderValue { amount }
                    predictedLifetimeValue { amount } clvStatus
                    daysSinceLastOrder tenureDays nextBirthday nextSignupAnniversary } } }",
                json!({ "id": format!("gid://c360/Customer/{}", c.id) }),
            )
            .await;
        let s = &data["customer"]["stats"];
        assert_eq!(s["lifetimeValue"]["amount"], "140.00");
        assert_eq!(s["averageOrderValue"]["amount"], "70.00");
        // The models are fitted by a refresh over the whole base, and none has run.
        assert_eq!(s["predictedLifetimeValue"], serde_json::Value::Null);
        assert_eq!(s["clvStatus"], "NOT_REFRESHED");
        assert_eq!(s["daysSinceLastOrder"], 10);
        assert_eq!(s["tenureDays"], 600);
        // The next 29 February or, in common years, 28 February, on or after today.
        let today = now.date_naive();
        let expected_birthday = (today.year()..=today.year() + 1)
            .filter_map(|y| NaiveDate::from_ymd_opt(y, 2, 29).or(NaiveDate::from_ymd_opt(y, 2, 28)))
            .find(|d| *d >= today)
            .expect("a birthday");
        assert_eq!(s["nextBirthday"], expected_birthday.to_string());
        let added = (now - Duration::days(600)).date_naive();
        let expected_anniversary = (today.year()..=today.year() + 1)
            .filter_map(|y| added.with_year(y))
            .find(|d| *d >= today)
            .expect("an anniversary");
        assert_eq!(s["nextSignupAnniversary"], expected_anniversary.to_string());

        // A customer without orders or birthday has no recency, prediction or next birthday.
        customer::ActiveModel {
            email: Set("bob@example.com".into()),
            email_marketing_state: Set(EmailMarketingState::Pending),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&app.db)
        .await
        .expect("customer");
        c360::service::metrics::refresh_all(&app.db, "USD", app.clock.now()).await.expect("metrics");
        let data = app
            .query(
                "{ customers(query: \"number_of_orders = 0\") { edges { node { stats { daysSinceLastOrder predictedLifetimeValue { amount } clvStatus tenureDays nextBirthday } } } } }",
                json!({}),
            )
            .await;
        assert_eq!(
            data["customers"]["edges"],
            json!([{ "node": { "stats": { "daysSinceLastOrder": null, "predictedLifetimeValue": null, "clvStatus": "NO_ORDERS", "tenureDays": 0, "nextBirthday": null } } }])
        );
    }
}

//! Review and NPS writes through the API.

use c360::auth::Role;
use serde_json::json;

use crate::both_stores;
use crate::writes_orders::{
    INGEST, codes, field, first_customer, gid, order_of, partner, snapshot,
};

const SUBMIT: &str = r#"
mutation($c: ID!, $sku: String!, $r: Int!, $o: ID) {
  reviewSubmit(customerId: $c, sku: $sku, rating: $r, title: "Nice", body: "Works.", orderId: $o) {
    id productSku rating status verifiedPurchase } }"#;
const MODERATE: &str =
    r#"mutation($id: ID!, $s: ReviewStatus!) { reviewModerate(id: $id, status: $s) { status } }"#;
const NPS: &str = r#"
mutation($c: ID!, $s: Int!) { npsRecord(customerId: $c, score: $s, comment: " meh ") { score comment category } }"#;

both_stores! {
    async fn reviews_are_verified_by_paid_orders_unique_and_moderated_by_staff(app: TestApp) {
        app.seed(2).await;
        let id = first_customer(&app).await;
        let other = app.scalar("SELECT MAX(id) FROM customers").await;
        let own = app.token(Role::Customer, &id.to_string(), &[]);
        let (_, body) = app.post(INGEST, json!({ "input": order_of(id, "rev-paid", "PAID", 1_000) }), Some(&partner(&app))).await;
        let paid = body["data"]["orderIngest"]["id"].clone();
        let mut pending = order_of(id, "rev-pending", "PENDING", 1_000);
        pending["lines"][0]["sku"] = json!("UNPAID-1");
        let (_, body) = app.post(INGEST, json!({ "input": pending }), Some(&partner(&app))).await;
        assert!(body.get("errors").is_none(), "{body}");
        let reviews = app.scalar(&format!("SELECT reviews_count FROM customer_metrics WHERE customer_id = {id}")).await;

        let (_, body) = app.post(SUBMIT, json!({ "c": gid("Customer", id), "sku": "SKU-1", "r": 5, "o": paid }), Some(&own)).await;
        let review = &body["data"]["reviewSubmit"];
        assert_eq!(review["status"], "PENDING", "{body}");
        assert_eq!(review["verifiedPurchase"], true);
        let review_id = review["id"].clone();
        let (_, body) = app.post(SUBMIT, json!({ "c": gid("Customer", id), "sku": "UNPAID-1", "r": 2 }), Some(&own)).await;
        assert_eq!(body["data"]["reviewSubmit"]["verifiedPurchase"], false, "an unpaid order is no purchase: {body}");
        assert_eq!(app.scalar(&format!("SELECT reviews_count FROM customer_metrics WHERE customer_id = {id}")).await, reviews + 2);

        let before = snapshot(&app).await;
        let count = app.scalar("SELECT COUNT(*) FROM reviews").await;
        let (_, body) = app.post(SUBMIT, json!({ "c": gid("Customer", id), "sku": "SKU-1", "r": 4 }), Some(&own)).await;
        assert_eq!(codes(&body), ["CONFLICT"], "{body}");
        let (_, body) = app.post(SUBMIT, json!({ "c": gid("Customer", id), "sku": "X", "r": 0 }), Some(&own)).await;
        assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "rating"), "{body}");
        let (_, body) = app.post(SUBMIT, json!({ "c": gid("Customer", id), "sku": " ", "r": 3 }), Some(&own)).await;
        assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "sku"), "{body}");
        let (_, body) = app.post(SUBMIT, json!({ "c": gid("Customer", other), "sku": "X", "r": 3 }), Some(&own)).await;
        assert_eq!(codes(&body), ["NOT_FOUND"], "{body}");
        let (_, body) = app.post(SUBMIT, json!({ "c": gid("Customer", id), "sku": "X", "r": 3, "o": gid("Order", 999_999) }), Some(&own)).await;
        assert_eq!(codes(&body), ["NOT_FOUND"], "{body}");
        let (_, body) = app.post(MODERATE, json!({ "id": review_id, "s": "PUBLISHED" }), Some(&own)).await;
        assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");
        let (_, body) = app.post(MODERATE, json!({ "id": review_id, "s": "PENDING" }), Some(&app.staff())).await;
        assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "status"), "{body}");
        assert_eq!(snapshot(&app).await, before);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM reviews").await, count);

        for status in ["PUBLISHED", "REJECTED"] {
            let (_, body) = app.post(MODERATE, json!({ "id": review_id, "s": status }), Some(&app.staff())).await;
            assert_eq!(body["data"]["reviewModerate"]["status"], status, "{body}");
        }
    }
}

both_stores! {
    async fn nps_answers_are_recorded_and_become_the_last_score(app: TestApp) {
        app.seed(2).await;
        let id = first_customer(&app).await;
        let own = app.token(Role::Customer, &id.to_string(), &[]);
        let (_, body) = app.post(NPS, json!({ "c": gid("Customer", id), "s": 7 }), Some(&own)).await;
        assert_eq!(body["data"]["npsRecord"], json!({ "score": 7, "comment": "meh", "category": "PASSIVE" }), "{body}");
        assert_eq!(app.scalar(&format!("SELECT CAST(last_nps_score AS BIGINT) FROM customer_metrics WHERE customer_id = {id}")).await, 7);
        let before = app.scalar("SELECT COUNT(*) FROM nps_responses").await;
        for score in [-1, 11] {
            let (_, body) = app.post(NPS, json!({ "c": gid("Customer", id), "s": score }), Some(&own)).await;
            assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "score"), "{body}");
        }
        let reader = app.token(Role::Partner, "survey", &["customers:read"]);
        let (_, body) = app.post(NPS, json!({ "c": gid("Customer", id), "s": 9 }), Some(&reader)).await;
        assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");
        assert_eq!(app.scalar("SELECT COUNT(*) FROM nps_responses").await, before);
    }
}

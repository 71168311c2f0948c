//! Product review summaries: figures of PUBLISHED reviews only, the latest
//! with masked reviewer names, a fixed number of statements for any number
//! of skus, who may read them, and bad input.

use c360::auth::Role;
use serde_json::{Value, json};

use crate::both_stores;
use crate::helpers::TestApp;
use crate::writes_orders::{INGEST, codes, field, gid, order_of, partner};

const SUBMIT: &str = r#"
mutation($c: ID!, $sku: String!, $r: Int!, $t: String) {
  reviewSubmit(customerId: $c, sku: $sku, rating: $r, title: $t) { id verifiedPurchase } }"#;
const MODERATE: &str =
    r#"mutation($id: ID!, $s: ReviewStatus!) { reviewModerate(id: $id, status: $s) { status } }"#;

const SUMMARIES: &str = r#"
query($skus: [String!]!, $latest: Int) {
  productReviewSummaries(skus: $skus, latest: $latest) {
    sku count averageRating verifiedPurchaseShare
    distribution { rating count }
    latest { rating title verifiedPurchase reviewerName }
  } }"#;
const FIGURES_ONLY: &str = r#"
query($skus: [String!]!) {
  productReviewSummaries(skus: $skus) { sku count averageRating } }"#;
const ONE: &str = r#"
query($sku: String!, $latest: Int) {
  productReviewSummary(sku: $sku, latest: $latest) { sku count latest { rating } } }"#;

/// Submits a review by staff and moves it to `status` (PENDING stays).
async fn review(app: &TestApp, customer: i64, sku: &str, rating: i32, status: &str) {
    let (_, body) = app
        .post(
            SUBMIT,
            json!({ "c": gid("Customer", customer), "sku": sku, "r": rating, "t": format!("{rating} stars") }),
            Some(&app.staff()),
        )
        .await;
    let id = body["data"]["reviewSubmit"]["id"].clone();
    assert!(id.is_string(), "{body}");
    if status != "PENDING" {
        let (_, body) = app
            .post(
                MODERATE,
                json!({ "id": id, "s": status }),
                Some(&app.staff()),
            )
            .await;
        assert_eq!(body["data"]["reviewModerate"]["status"], status, "{body}");
    }
}

/// `First L.` of a customer, from the raw row.
async fn masked_name(app: &TestApp, customer: i64) -> String {
    let first = app
        .text(&format!(
            "SELECT first_name FROM customers WHERE id = {customer}"
        ))
        .await;
    let last = app
        .text(&format!(
            "SELECT last_name FROM customers WHERE id = {customer}"
        ))
        .await;
    format!("{first} {}.", last.chars().next().expect("a last name"))
}

both_stores! {
    async fn summaries_count_published_reviews_and_show_the_latest_masked(app: TestApp) {
        app.seed(6).await;
        let c = app
            .ids("SELECT id FROM customers WHERE first_name IS NOT NULL AND last_name IS NOT NULL ORDER BY id LIMIT 6")
            .await;
        assert_eq!(c.len(), 6);
        // c[0] bought PROOF-A: its review is a verified purchase.
        let mut paid = order_of(c[0], "proof-paid", "PAID", 2_500);
        paid["lines"][0]["sku"] = json!("PROOF-A");
        let (_, body) = app.post(INGEST, json!({ "input": paid }), Some(&partner(&app))).await;
        assert!(body.get("errors").is_none(), "{body}");

        // PROOF-A: published 5 (verified), 4, 4; a pending 2 and a rejected 1
        // do not count. PROOF-B: one published 3.
        review(&app, c[0], "PROOF-A", 5, "PUBLISHED").await;
        review(&app, c[1], "PROOF-A", 4, "PUBLISHED").await;
        review(&app, c[2], "PROOF-A", 4, "PUBLISHED").await;
        review(&app, c[3], "PROOF-A", 2, "PENDING").await;
        review(&app, c[4], "PROOF-A", 1, "REJECTED").await;
        review(&app, c[5], "PROOF-B", 3, "PUBLISHED").await;

        let shopper = app.token(Role::Customer, &c[3].to_string(), &[]);
        let (status, body) = app
            .post(SUMMARIES, json!({ "skus": ["PROOF-A", "NO-SUCH-SKU", "PROOF-B", "PROOF-A"], "latest": 2 }), Some(&shopper))
            .await;
        assert_eq!(status, 200, "{body}");
        let all = body["data"]["productReviewSummaries"].as_array().expect("a list").clone();
        let skus: Vec<&str> = all.iter().map(|s| s["sku"].as_str().unwrap_or_default()).collect();
        assert_eq!(skus, ["PROOF-A", "NO-SUCH-SKU", "PROOF-B"], "in the order asked, once each");

        let a = &all[0];
        assert_eq!(a["count"], 3);
        let average = a["averageRating"].as_f64().expect("an average");
        assert!((average - 13.0 / 3.0).abs() < 1e-9, "{a}");
        let share = a["verifiedPurchaseShare"].as_f64().expect("a share");
        assert!((share - 1.0 / 3.0).abs() < 1e-9, "{a}");
        let counts: Vec<i64> = (0..5).map(|i| a["distribution"][i]["count"].as_i64().unwrap_or(-1)).collect();
        let ratings: Vec<i64> = (0..5).map(|i| a["distribution"][i]["rating"].as_i64().unwrap_or(-1)).collect();
        assert_eq!((ratings, counts), (vec![1, 2, 3, 4, 5], vec![0, 0, 0, 2, 1]));
        // Newest first: the same second breaks ties by the later review.
        assert_eq!(
            a["latest"],
            json!([
                { "rating": 4, "title": "4 stars", "verifiedPurchase": false, "reviewerName": masked_name(&app, c[2]).await },
                { "rating": 4, "title": "4 stars", "verifiedPurchase": false, "reviewerName": masked_name(&app, c[1]).await },
            ])
        );

        assert_eq!(
            all[1],
            json!({
                "sku": "NO-SUCH-SKU", "count": 0, "averageRating": null, "verifiedPurchaseShare": null,
                "distribution": (1..=5).map(|r| json!({ "rating": r, "count": 0 })).collect::<Vec<Value>>(),
                "latest": [],
            }),
            "an unknown sku is an empty summary"
        );
        assert_eq!(all[2]["count"], 1);
        assert_eq!(all[2]["averageRating"], 3.0);
        assert_eq!(all[2]["verifiedPurchaseShare"], 0.0);
        assert_eq!(all[2]["latest"][0]["reviewerName"], masked_name(&app, c[5]).await);

        let reviews = app.token(Role::Partner, "reviews-widget", &["reviews:read"]);
        let (_, body) = app.post(ONE, json!({ "sku": "PROOF-A", "latest": 0 }), Some(&reviews)).await;
        assert_eq!(body["data"]["productReviewSummary"], json!({ "sku": "PROOF-A", "count": 3, "latest": [] }), "{body}");
        let (_, body) = app.post(ONE, json!({ "sku": "PROOF-A" }), Some(&app.staff())).await;
        assert_eq!(
            body["data"]["productReviewSummary"]["latest"],
            json!([{ "rating": 4 }, { "rating": 4 }, { "rating": 5 }]),
            "three latest by default: {body}"
        );
    }
}

both_stores! {
    async fn any_number_of_skus_costs_the_same_statements(app: TestApp) {
        app.seed(20).await;
        let staff = app.staff();
        let skus = |n: usize| -> Vec<String> { (0..n).map(|i| format!("SKU-{i:03}")).collect() };
        let mut costs = Vec::new();
        for (query, n) in [(SUMMARIES, 1), (SUMMARIES, 100), (FIGURES_ONLY, 1), (FIGURES_ONLY, 100)] {
            let before = app.sql_statements().await;
            let (_, body) = app.post(query, json!({ "skus": skus(n), "latest": 3 }), Some(&staff)).await;
            assert_eq!(body["data"]["productReviewSummaries"].as_array().map(Vec::len), Some(n), "{body}");
            costs.push(app.sql_statements().await - before);
        }
        assert_eq!(costs[0], costs[1], "latest reviews: {costs:?}");
        assert_eq!(costs[2], 1, "figures only: one statement: {costs:?}");
        assert_eq!(costs[3], 1, "figures only: one statement: {costs:?}");
        assert_eq!(costs[0], costs[2] + 1, "the latest reviews are one statement: {costs:?}");
    }
}

both_stores! {
    async fn summaries_need_a_reader_of_reviews_and_sane_input(app: TestApp) {
        app.seed(1).await;
        let (_, body) = app.post(FIGURES_ONLY, json!({ "skus": ["A"] }), None).await;
        assert_eq!(codes(&body), ["UNAUTHENTICATED"], "{body}");
        let crm = app.token(Role::Partner, "crm", &["customers:read"]);
        let (_, body) = app.post(FIGURES_ONLY, json!({ "skus": ["A"] }), Some(&crm)).await;
        assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");

        let staff = app.staff();
        let too_many: Vec<String> = (0..101).map(|i| format!("S{i}")).collect();
        let (_, body) = app.post(FIGURES_ONLY, json!({ "skus": too_many }), Some(&staff)).await;
        assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "skus"), "{body}");
        for latest in [-1, 11] {
            let (_, body) = app.post(ONE, json!({ "sku": "A", "latest": latest }), Some(&staff)).await;
            assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "latest"), "{body}");
        }
        for sku in [" ", &"X".repeat(65)] {
            let (_, body) = app.post(ONE, json!({ "sku": sku }), Some(&staff)).await;
            assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "sku"), "{body}");
        }
    }
}

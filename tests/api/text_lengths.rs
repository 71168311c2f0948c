//! Caller text limits count characters, not bytes: a field at its limit in
//! multi-byte characters is accepted, one character more is refused.

use c360::auth::Role;
use serde_json::{Value, json};

use crate::both_stores;
use crate::writes_orders::{INGEST, codes, field, first_customer, gid, order_of, partner};

const NPS: &str = r#"
mutation($c: ID!, $comment: String!) { npsRecord(customerId: $c, score: 9, comment: $comment) { comment } }"#;
const REVIEW: &str = r#"
mutation($c: ID!, $sku: String!, $title: String!) {
  reviewSubmit(customerId: $c, sku: $sku, rating: 5, title: $title) { productSku } }"#;
const SEGMENT: &str = r#"
mutation($input: SegmentCreateInput!) { segmentCreate(input: $input) { name } }"#;

/// The error code and field of a refused write.
fn refused(body: &Value) -> (Vec<String>, &str) {
    (codes(body), field(body))
}

fn bad(name: &str) -> (Vec<String>, &str) {
    (vec!["BAD_USER_INPUT".to_owned()], name)
}

both_stores! {
    async fn text_limits_count_characters_not_bytes(app: TestApp) {
        app.seed(1).await;
        let id = first_customer(&app).await;
        let customer = gid("Customer", id);
        let own = app.token(Role::Customer, &id.to_string(), &[]);

        // An NPS comment of 2,000 characters is 6,000 bytes of 日.
        let comment = "日".repeat(2_000);
        let (_, body) = app.post(NPS, json!({ "c": customer, "comment": comment }), Some(&own)).await;
        assert_eq!(body["data"]["npsRecord"]["comment"], comment.as_str(), "{body}");
        let (_, body) = app.post(NPS, json!({ "c": customer, "comment": format!("{comment}日") }), Some(&own)).await;
        assert_eq!(refused(&body), bad("comment"), "{body}");

        // A review's sku (64) and title (200) in two-byte é.
        let (sku, title) = ("é".repeat(64), "é".repeat(200));
        let (_, body) = app.post(REVIEW, json!({ "c": customer, "sku": format!("{sku}é"), "title": title }), Some(&own)).await;
        assert_eq!(refused(&body), bad("sku"), "{body}");
        let (_, body) = app.post(REVIEW, json!({ "c": customer, "sku": sku, "title": format!("{title}é") }), Some(&own)).await;
        assert_eq!(refused(&body), bad("title"), "{body}");
        let (_, body) = app.post(REVIEW, json!({ "c": customer, "sku": sku, "title": title }), Some(&own)).await;
        assert_eq!(body["data"]["reviewSubmit"]["productSku"], sku.as_str(), "{body}");

        // An order's externalRef and a line's productName (200 each).
        let token = partner(&app);
        let long = "é".repeat(200);
        let mut order = order_of(id, &format!("{long}é"), "PAID", 1_000);
        let (_, body) = app.post(INGEST, json!({ "input": order }), Some(&token)).await;
        assert_eq!(refused(&body), bad("externalRef"), "{body}");
        order["externalRef"] = json!(long);
        order["lines"][0]["productName"] = json!(format!("{long}é"));
        let (_, body) = app.post(INGEST, json!({ "input": order }), Some(&token)).await;
        assert_eq!(refused(&body), bad("lines[0].productName"), "{body}");
        order["lines"][0]["productName"] = json!(long);
        let (_, body) = app.post(INGEST, json!({ "input": order }), Some(&token)).await;
        assert_eq!(body["data"]["orderIngest"]["externalRef"], long.as_str(), "{body}");

        // A segment name (120).
        let name = "é".repeat(120);
        let input = |name: String| json!({ "input": { "name": name, "query": "number_of_orders >= 1" } });
        let (_, body) = app.post(SEGMENT, input(format!("{name}é")), Some(&app.staff())).await;
        assert_eq!(refused(&body), bad("input.name"), "{body}");
        let (_, body) = app.post(SEGMENT, input(name.clone()), Some(&app.staff())).await;
        assert_eq!(body["data"]["segmentCreate"]["name"], name.as_str(), "{body}");
    }
}

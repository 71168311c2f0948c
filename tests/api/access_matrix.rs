//! Each role and scope against each domain: a partner reads and writes only
//! what its scopes grant, a field outside them is FORBIDDEN while the rest of
//! the response stands, a customer reads its own record but no segments, and
//! staff reads everything.

use c360::auth::Role;
use serde_json::{Value, json};

use crate::both_stores;

/// Each customer field guarded by a domain, with the read scope it needs.
const FIELDS: [(&str, &str, &str); 5] = [
    ("orders", "orders:read", "orders(first: 1) { totalCount }"),
    (
        "tickets",
        "tickets:read",
        "tickets(first: 1) { totalCount }",
    ),
    (
        "reviews",
        "reviews:read",
        "reviews(first: 1) { totalCount }",
    ),
    (
        "referralsMade",
        "referrals:read",
        "referralsMade(first: 1) { totalCount }",
    ),
    ("loyalty", "loyalty:read", "loyalty { pointsAvailable }"),
];

fn profile_query() -> String {
    let fields: Vec<&str> = FIELDS.iter().map(|(_, _, f)| *f).collect();
    format!(
        "query($id: ID!) {{ customer(id: $id) {{ id {} }} }}",
        fields.join(" ")
    )
}

/// The top-level field each error is about, with its code.
fn errors_by_field(body: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = body["errors"]
        .as_array()
        .map(|errs| {
            errs.iter()
                .map(|e| {
                    let field = e["path"]
                        .as_array()
                        .and_then(|p| p.get(1).or_else(|| p.first()))
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned();
                    let code = e["extensions"]["code"].as_str().unwrap_or("").to_owned();
                    (field, code)
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

both_stores! {
    async fn each_read_scope_opens_its_domain_and_no_other(app: TestApp) {
        app.seed(10).await;
        let id = app
            .scalar("SELECT customer_id FROM customer_metrics ORDER BY orders_count DESC, customer_id LIMIT 1")
            .await;
        let vars = json!({ "id": format!("gid://c360/Customer/{id}") });
        for (granted, scope, _) in FIELDS {
            let token = app.token(Role::Partner, "partner-matrix", &["customers:read", scope]);
            let (status, body) = app.post(&profile_query(), vars.clone(), Some(&token)).await;
            assert_eq!(status, 200, "{scope}: {body}");
            let customer = &body["data"]["customer"];
            assert_eq!(customer["id"], vars["id"], "{scope}: the rest of the response stands");
            assert!(!customer[granted].is_null(), "{scope} opens {granted}: {body}");
            let expected: Vec<(String, String)> = FIELDS
                .iter()
                .filter(|(field, _, _)| *field != granted)
                .map(|(field, _, _)| (field.to_string(), "FORBIDDEN".to_owned()))
                .collect();
            let mut expected = expected;
            expected.sort();
            assert_eq!(errors_by_field(&body), expected, "{scope}: {body}");
            for (field, _, _) in FIELDS.iter().filter(|(f, _, _)| *f != granted) {
                assert!(customer[*field].is_null(), "{scope} must not open {field}");
            }
        }

        // Without customers:read the customer itself is closed.
        let token = app.token(Role::Partner, "partner-matrix", &["orders:read"]);
        let (_, body) = app.post(&profile_query(), vars.clone(), Some(&token)).await;
        assert_eq!(body["data"]["customer"], Value::Null);
        assert_eq!(errors_by_field(&body), vec![("customer".to_owned(), "FORBIDDEN".to_owned())]);

        // Staff and the customer itself see every domain.
        let me = app.token(Role::Customer, &id.to_string(), &[]);
        for token in [app.staff(), me] {
            let (_, body) = app.post(&profile_query(), vars.clone(), Some(&token)).await;
            assert!(body.get("errors").is_none(), "{body}");
            for (field, _, _) in FIELDS {
                assert!(!body["data"]["customer"][field].is_null(), "{field}: {body}");
            }
        }

        // Segments: staff and `segments:read`, never a customer or another scope.
        let segments = "{ segments(first: 1) { edges { cursor } } }";
        for (token, allowed) in [
            (app.staff(), true),
            (app.token(Role::Partner, "p", &["segments:read"]), true),
            (app.token(Role::Partner, "p", &["customers:read", "orders:read"]), false),
            (app.token(Role::Customer, &id.to_string(), &[]), false),
        ] {
            let (_, body) = app.post(segments, json!({}), Some(&token)).await;
            if allowed {
                assert!(body.get("errors").is_none(), "{body}");
            } else {
                assert_eq!(errors_by_field(&body), vec![("segments".to_owned(), "FORBIDDEN".to_owned())], "{body}");
            }
        }
    }
}

both_stores! {
    async fn each_write_scope_opens_its_mutations_and_no_other(app: TestApp) {
        app.seed(3).await;
        let missing_customer = "gid://c360/Customer/999999";
        // Each mutation names an object that does not exist: with the scope the
        // caller gets past access and is told NOT_FOUND; without it, FORBIDDEN.
        let cases = [
            ("orders:write", "orderUpdateStatus", r#"mutation { orderUpdateStatus(id: "gid://c360/Order/999999", status: PAID) { id } }"#.to_owned()),
            ("loyalty:write", "redeemPoints", format!(r#"mutation {{ redeemPoints(customerId: "{missing_customer}", points: 1, idempotencyKey: "k-1") {{ pointsAvailable }} }}"#)),
            ("customers:write", "customerTagsAdd", format!(r#"mutation {{ customerTagsAdd(id: "{missing_customer}", tags: ["vip"]) {{ id }} }}"#)),
            ("tickets:write", "ticketUpdateStatus", r#"mutation { ticketUpdateStatus(id: "gid://c360/Ticket/999999", status: OPEN) { id } }"#.to_owned()),
            ("reviews:write", "reviewSubmit", format!(r#"mutation {{ reviewSubmit(customerId: "{missing_customer}", sku: "LIP-001", rating: 5) {{ id }} }}"#)),
            ("referrals:write", "referralInvite", format!(r#"mutation {{ referralInvite(customerId: "{missing_customer}", email: "friend@example.com") {{ id }} }}"#)),
            ("segments:write", "segmentDelete", r#"mutation { segmentDelete(id: "gid://c360/Segment/999999") }"#.to_owned()),
        ];
        for (scope, field, mutation) in &cases {
            let with = app.token(Role::Partner, "partner-matrix", &[scope]);
            let (_, body) = app.post(mutation, json!({}), Some(&with)).await;
            assert_eq!(errors_by_field(&body), vec![(field.to_string(), "NOT_FOUND".to_owned())], "{scope}: {body}");
            // Every other write scope, and the matching read scope, are not enough.
            let mut others: Vec<&str> = cases.iter().map(|(s, _, _)| *s).filter(|s| s != scope).collect();
            let read = scope.replace(":write", ":read");
            others.push(&read);
            let without = app.token(Role::Partner, "partner-matrix", &others);
            let (_, body) = app.post(mutation, json!({}), Some(&without)).await;
            assert_eq!(errors_by_field(&body), vec![(field.to_string(), "FORBIDDEN".to_owned())], "{scope} missing: {body}");
        }
        // Anonymous callers write nothing.
        let (_, body) = app.post(&cases[0].2, json!({}), None).await;
        assert_eq!(errors_by_field(&body), vec![("orderUpdateStatus".to_owned(), "UNAUTHENTICATED".to_owned())]);
    }
}

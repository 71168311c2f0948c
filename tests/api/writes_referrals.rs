//! Referrals through the API: invitations, blocked ones with their reason,
//! sign-up by code, and both sides rewarded once on the first paid order.

use c360::auth::Role;
use serde_json::json;

use crate::both_stores;
use crate::writes_orders::{INGEST, STATUS, codes, field, first_customer, gid, order_of, partner};

const INVITE: &str = r#"
mutation($c: ID!, $e: String!) { referralInvite(customerId: $c, email: $e) { id status rejectionReason refereeEmail code } }"#;
const SIGN_UP: &str = r#"
mutation($input: CustomerCreateInput!) { customerCreate(input: $input) { id referredBy { code referrer { id } } } }"#;

both_stores! {
    async fn a_referral_is_rewarded_once_on_the_first_paid_order(app: TestApp) {
        app.seed(3).await;
        let referrer = first_customer(&app).await;
        let own = app.token(Role::Customer, &referrer.to_string(), &[]);
        let email = app.text(&format!("SELECT email FROM customers WHERE id = {referrer}")).await;
        let existing = app.text(&format!("SELECT email FROM customers WHERE id <> {referrer} ORDER BY id LIMIT 1")).await;
        let code = app.text(&format!("SELECT referral_code FROM loyalty_accounts WHERE customer_id = {referrer}")).await;

        let (_, body) = app.post(INVITE, json!({ "c": gid("Customer", referrer), "e": " Friend@Example.com" }), Some(&own)).await;
        let invite = &body["data"]["referralInvite"];
        assert_eq!(invite["status"], "INVITED", "{body}");
        assert_eq!(invite["refereeEmail"], "friend@example.com");
        assert_eq!(invite["code"], code.as_str());
        for (e, reason) in [(email.as_str(), "SELF_REFERRAL"), (existing.as_str(), "ALREADY_CUSTOMER"), ("friend@example.com", "ALREADY_REFERRED")] {
            let (_, body) = app.post(INVITE, json!({ "c": gid("Customer", referrer), "e": e }), Some(&own)).await;
            assert_eq!(body["data"]["referralInvite"]["status"], "REJECTED", "{body}");
            assert_eq!(body["data"]["referralInvite"]["rejectionReason"], reason, "{body}");
        }
        let (_, body) = app.post(INVITE, json!({ "c": gid("Customer", referrer), "e": "nope" }), Some(&own)).await;
        assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "email"), "{body}");

        let crm = app.token(Role::Partner, "shop", &["customers:write", "customers:read", "referrals:read"]);
        let (_, body) = app.post(SIGN_UP, json!({ "input": { "profile": { "email": "x@example.com" }, "referralCode": "REF-NOPE" } }), Some(&crm)).await;
        assert_eq!((codes(&body), field(&body)), (vec!["BAD_USER_INPUT".to_owned()], "referralCode"), "{body}");
        let (_, body) = app.post(SIGN_UP, json!({ "input": { "profile": { "email": "friend@example.com" }, "referralCode": code } }), Some(&crm)).await;
        let created = &body["data"]["customerCreate"];
        assert_eq!(created["referredBy"]["referrer"]["id"], gid("Customer", referrer), "{body}");
        let referee: i64 = created["id"].as_str().expect("id").rsplit('/').next().expect("n").parse().expect("int");
        let referral = app.scalar(&format!("SELECT id FROM referrals WHERE referee_customer_id = {referee}")).await;
        assert_eq!(app.text(&format!("SELECT status FROM referrals WHERE id = {referral}")).await, "SIGNED_UP");

        let points = |id: i64| format!("SELECT points_available FROM loyalty_accounts WHERE customer_id = {id}");
        let before = app.scalar(&points(referrer)).await;
        let (_, body) = app.post(INGEST, json!({ "input": order_of(referee, "ref-1", "PENDING", 3_000) }), Some(&partner(&app))).await;
        let order = body["data"]["orderIngest"]["id"].clone();
        assert_eq!(app.scalar(&points(referrer)).await, before, "a pending order rewards nothing");
        let (_, body) = app.post(STATUS, json!({ "id": order, "status": "PAID" }), Some(&partner(&app))).await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(app.scalar(&points(referrer)).await, before + 1_000);
        assert_eq!(app.scalar(&points(referee)).await, 500);
        assert_eq!(app.text(&format!("SELECT status FROM referrals WHERE id = {referral}")).await, "REWARDED");
        // A second paid order rewards nothing more.
        let (_, body) = app.post(INGEST, json!({ "input": order_of(referee, "ref-2", "PAID", 9_000) }), Some(&partner(&app))).await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(app.scalar(&points(referrer)).await, before + 1_000);
        assert_eq!(app.scalar(&format!("SELECT COUNT(*) FROM loyalty_transactions WHERE kind = 'REFERRAL_BONUS' AND idempotency_key LIKE 'referral:{referral}:%'")).await, 2);
    }
}

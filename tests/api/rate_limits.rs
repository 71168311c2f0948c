//! Rate limits per caller: over the quota a request gets 429 with
//! `Retry-After` and a RATE_LIMITED error, counted in /metrics.

use c360::auth::Role;
use serde_json::{Value, json};

use crate::each_store;
use crate::helpers::{TestApp, metric};

async fn send(app: &TestApp, body: Value, token: Option<&str>) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/graphql"))
        .header("accept", "application/graphql-response+json")
        .json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("sent")
}

async fn assert_limited(r: reqwest::Response, retry_after: u64) {
    assert_eq!(r.status(), 429);
    let header = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert_eq!(header.as_deref(), Some(retry_after.to_string().as_str()));
    let body: Value = r.json().await.expect("json");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "RATE_LIMITED",
        "{body}"
    );
    assert_eq!(
        body["errors"][0]["extensions"]["retryAfter"], retry_after,
        "{body}"
    );
    assert_eq!(
        body["errors"][0]["message"],
        format!("rate limit exceeded; retry after {retry_after} s")
    );
    assert!(body.get("data").is_none());
}

async fn rate_limited_total(app: &TestApp) -> f64 {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    metric(&text, "c360_rate_limited_total").expect("c360_rate_limited_total")
}

each_store! {
    async fn callers_over_their_quota_get_429_with_retry_after(store: StoreKind) {
        let app = TestApp::spawn(store, |c| {
            c.rate_limit_partner = 2;
            c.rate_limit_anonymous = 1;
            c.rate_limit_staff = 0;
        })
        .await;
        let q = json!({ "query": "{ __typename }" });
        let pos = app.token(Role::Partner, "pos", &["customers:read"]);
        for _ in 0..2 {
            assert_eq!(send(&app, q.clone(), Some(&pos)).await.status(), 200);
        }
        // Two a minute: the next slot is 30 s away.
        assert_limited(send(&app, q.clone(), Some(&pos)).await, 30).await;

        // Quotas are per subject and per role.
        let helpdesk = app.token(Role::Partner, "helpdesk", &["tickets:read"]);
        assert_eq!(send(&app, q.clone(), Some(&helpdesk)).await.status(), 200);
        // A batch counts each operation: two fit, a third does not.
        let r = send(&app, json!([q.clone()]), Some(&helpdesk)).await;
        assert_eq!(r.status(), 200);
        assert_limited(send(&app, json!([q.clone()]), Some(&helpdesk)).await, 30).await;
        let big = app.token(Role::Partner, "bulk", &[]);
        let r = send(&app, json!([q.clone(), q.clone(), q.clone()]), Some(&big)).await;
        assert_eq!(r.status(), 429);

        // Anonymous callers are counted by address: one a minute.
        assert_eq!(send(&app, q.clone(), None).await.status(), 200);
        assert_limited(send(&app, q.clone(), None).await, 60).await;

        // A quota of 0 is no limit.
        for _ in 0..5 {
            assert_eq!(send(&app, q.clone(), Some(&app.staff())).await.status(), 200);
        }
        assert_eq!(rate_limited_total(&app).await, 4.0);
    }
}

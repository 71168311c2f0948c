//! What the schema shows to whom (introspection, field suggestions) and
//! which browser origins may call the API.

use c360::auth::Role;
use c360::config::DEV_JWT_SECRET;
use secrecy::SecretString;
use serde_json::json;

use crate::each_store;
use crate::helpers::{StoreKind, TestApp};

const INTROSPECT: &str = "{ __schema { queryType { name } } }";
const TYPO: &str = "{ customerz(first: 1) { totalCount } }";

/// A production-mode gateway (no `--dev`) whose secret the test can sign with.
async fn production(store: StoreKind) -> TestApp {
    TestApp::spawn(store, |c| {
        c.dev = false;
        c.jwt_secret = Some(SecretString::from(DEV_JWT_SECRET));
        c.cors_allow_origins = vec!["https://app.example.com".into()];
    })
    .await
}

each_store! {
    async fn production_hides_the_schema_from_anonymous_callers_and_partners(store: StoreKind) {
        let app = production(store).await;
        let partner = app.token(Role::Partner, "pos", &["customers:read"]);
        let customer = app.token(Role::Customer, "1", &[]);
        for token in [None, Some(partner.as_str())] {
            let (_, body) = app.post(INTROSPECT, json!({}), token).await;
            assert!(body.get("data").is_none(), "{body}");
            assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
            assert!(body["errors"][0]["message"].as_str().expect("message").starts_with("introspection is not available"));
            // Hidden behind a fragment, too.
            let (_, body) = app.post("query { ...F } fragment F on Query { __type(name: \"Customer\") { name } }", json!({}), token).await;
            assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
            // And through the federation's schema field.
            let (_, body) = app.post("{ _service { sdl } }", json!({}), token).await;
            assert!(body.get("data").is_none(), "{body}");
            assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
            let (_, body) = app.post(TYPO, json!({}), token).await;
            let message = body["errors"][0]["message"].as_str().expect("message");
            assert!(message.contains("customerz"), "{message}");
            assert!(!message.contains("Did you mean"), "suggestion leaked: {message}");
        }
        for token in [app.staff(), customer] {
            let (status, body) = app.post(INTROSPECT, json!({}), Some(&token)).await;
            assert_eq!(status, 200);
            assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query", "{body}");
            let (_, body) = app.post("{ _service { sdl } }", json!({}), Some(&token)).await;
            assert!(body["data"]["_service"]["sdl"].as_str().is_some_and(|s| s.contains("@key")), "{body}");
            let (_, body) = app.post(TYPO, json!({}), Some(&token)).await;
            let message = body["errors"][0]["message"].as_str().expect("message");
            assert!(message.contains("Did you mean \"customer\", \"customers\"?"), "{message}");
        }
    }
}

#[tokio::test]
async fn dev_mode_and_configuration_decide_who_introspects() {
    let dev = TestApp::spawn_sqlite().await;
    let (_, body) = dev.post(INTROSPECT, json!({}), None).await;
    assert_eq!(
        body["data"]["__schema"]["queryType"]["name"], "Query",
        "{body}"
    );

    let closed = TestApp::spawn(StoreKind::Sqlite, |c| {
        c.introspection_for = Some(vec![c360::config::Audience::None]);
    })
    .await;
    let (_, body) = closed
        .post(INTROSPECT, json!({}), Some(&closed.staff()))
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );
}

#[tokio::test]
async fn cors_answers_only_the_allowed_origins() {
    let app = production(StoreKind::Sqlite).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/graphql"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let r = preflight("https://app.example.com").await.expect("sent");
    assert!(r.status().is_success());
    assert_eq!(
        r.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://app.example.com")
    );
    let allowed = r
        .headers()
        .get("access-control-allow-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_lowercase();
    assert!(allowed.contains("authorization"), "{allowed}");

    let r = preflight("https://evil.example.net").await.expect("sent");
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let r = app
        .client
        .post(app.url("/graphql"))
        .header("origin", "https://evil.example.net")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .expect("sent");
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

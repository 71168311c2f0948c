//! Reads keep their PostgreSQL connections between statements rather than
//! handing each back to the pool (`db::held`): what they keep must never
//! be a connection the database dropped or one a cancelled read left
//! half-read, the pool must report the kept ones as idle, and what they
//! keep must leave the pool enough for the writes waiting there.

use serde_json::{Value, json};

use crate::helpers::{TestApp, codes, metric};

/// The profile's reads in one combined statement, as in production.
fn combined(c: &mut c360::config::Config) {
    c.combine_pages = c360::config::CombinePages::Always;
}

const PROFILE: &str = "query P($id: ID!) { customer(id: $id) { email stats { ordersCount } \
    orders(first: 5) { edges { node { orderNumber total { amount } } } } } }";

async fn first_customer(app: &TestApp) -> Value {
    let id = app
        .ids("SELECT id FROM customers ORDER BY id LIMIT 1")
        .await[0];
    json!({ "id": format!("gid://c360/Customer/{id}") })
}

async fn pool_gauge(app: &TestApp, state: &str) -> Option<f64> {
    let text = app.metrics_text().await;
    metric(
        &text,
        &format!("c360_db_pool_connections{{state=\"{state}\"}}"),
    )
}

/// Sends `PROFILE` until it answers without errors, at most `attempts`
/// times; the failed answers, then the good one.
async fn until_answered(app: &TestApp, vars: &Value, attempts: usize) -> (Vec<Value>, Value) {
    let staff = app.staff();
    let mut failed = Vec::new();
    for _ in 0..attempts {
        let (_, body) = app.post(PROFILE, vars.clone(), Some(&staff)).await;
        if body.get("errors").is_none() {
            return (failed, body);
        }
        failed.push(body);
    }
    panic!("no answer in {attempts} attempts: {failed:?}");
}

/// The database drops every connection (a restart, a failover): requests
/// fail with INTERNAL and nothing of the cause while it is away, and answer
/// again once it is back, without a restart of the gateway and with only a
/// few failures on connections the drop left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_recover_once_the_database_drops_every_connection() {
    let Some(app) = TestApp::spawn_postgres_with(combined).await else {
        return;
    };
    app.seed(3).await;
    let vars = first_customer(&app).await;
    let staff = app.staff();
    // Concurrent reads, so that more than one connection is kept.
    let answers = futures_util::future::join_all(
        (0..4).map(|_| app.post(PROFILE, vars.clone(), Some(&staff))),
    )
    .await;
    let (_, expected) = &answers[0];
    assert!(expected.get("errors").is_none(), "{expected}");
    assert!(
        expected["data"]["customer"]["orders"]["edges"]
            .as_array()
            .is_some_and(|edges| !edges.is_empty()),
        "{expected}"
    );
    for (_, answer) in &answers {
        assert_eq!(answer, expected);
    }
    // Kept connections wait for a statement: idle, not in use. Those not
    // kept are in use until sqlx's ping hands them back, a moment later.
    let mut in_use = None;
    for _ in 0..100 {
        in_use = pool_gauge(&app, "in_use").await;
        if in_use == Some(0.0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(in_use, Some(0.0));
    assert!(pool_gauge(&app, "idle").await.is_some_and(|n| n >= 1.0));

    app.set_database_reachable(false).await;
    let (status, away) = app.post(PROFILE, vars.clone(), Some(&staff)).await;
    assert_eq!(status, 200, "{away}");
    assert!(codes(&away).iter().all(|c| c == "INTERNAL"), "{away}");
    assert!(!codes(&away).is_empty(), "{away}");
    assert!(!away.to_string().contains("SELECT"), "{away}");

    app.set_database_reachable(true).await;
    // The pool holds at most 4 connections (the tests' `Config`); each
    // dropped one may fail one request before it is found out.
    let (failed, back) = until_answered(&app, &vars, 6).await;
    assert!(failed.len() <= 4, "{failed:?}");
    assert_eq!(&back, expected);
    for _ in 0..6 {
        let (_, again) = app.post(PROFILE, vars.clone(), Some(&staff)).await;
        assert_eq!(&again, expected);
    }
}

/// A read whose statement waits past the request's deadline gives its
/// connection up half-read (the request is cancelled) or failed (the
/// server's statement timeout, set to the same deadline, answered first):
/// no later request may read what that statement leaves behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_cancelled_mid_statement_leaves_nothing_for_the_next() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let Some(app) = TestApp::spawn_postgres_with(|c| {
        combined(c);
        c.request_timeout = std::time::Duration::from_millis(300);
    })
    .await
    else {
        return;
    };
    app.seed(3).await;
    let vars = first_customer(&app).await;
    let (_, expected) = in_time(&app, &vars).await;

    let holder = app.db.begin().await.expect("begin");
    holder
        .execute_unprepared("LOCK TABLE customer_metrics IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    let (status, cancelled) = app.post(PROFILE, vars.clone(), Some(&app.staff())).await;
    match codes(&cancelled).as_slice() {
        [code] if code == "TIMEOUT" => assert_eq!(status, 504, "{cancelled}"),
        [code] if code == "INTERNAL" => assert!(cancelled["data"]["customer"].is_null()),
        _ => panic!("neither cancelled nor failed: {status} {cancelled}"),
    }
    holder.commit().await.expect("release");

    // More requests than the pool has connections, each on whichever
    // connection is kept or idle: every one answers its own statement.
    let other = app
        .ids("SELECT id FROM customers ORDER BY id DESC LIMIT 1")
        .await[0];
    let other_vars = json!({ "id": format!("gid://c360/Customer/{other}") });
    let (_, other_expected) = in_time(&app, &other_vars).await;
    assert_ne!(other_expected, expected);
    for round in 0..8 {
        let (vars, expected) = if round % 2 == 0 {
            (&vars, &expected)
        } else {
            (&other_vars, &other_expected)
        };
        let (_, body) = in_time(&app, vars).await;
        assert_eq!(&body, expected, "round {round}");
    }
}

/// [`until_answered`] for a gateway with a short deadline on a busy
/// machine: a request may run out of time (`TIMEOUT`) and is sent again,
/// at most three times; any other error fails at once.
async fn in_time(app: &TestApp, vars: &Value) -> (Vec<Value>, Value) {
    let (late, body) = until_answered(app, vars, 3).await;
    for failed in &late {
        assert_eq!(codes(failed), ["TIMEOUT"], "{failed}");
    }
    (late, body)
}

/// Reads under a steady load keep connections between them, but never the
/// whole pool: a write waiting on the pool is served while the reads go on,
/// not once they stop or after its acquire timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_served_while_reads_keep_connections() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let Some(app) = TestApp::spawn_postgres_with(combined).await else {
        return;
    };
    app.seed(3).await;
    let vars = first_customer(&app).await;
    let (_, expected) = until_answered(&app, &vars, 1).await;
    let staff = app.staff();
    let writing = AtomicBool::new(true);
    // Three times as many readers as the pool has connections.
    let readers = (0..12).map(|_| async {
        let mut reads = 0;
        while writing.load(Ordering::Relaxed) {
            let (_, body) = app.post(PROFILE, vars.clone(), Some(&staff)).await;
            assert_eq!(body, expected);
            reads += 1;
        }
        reads
    });
    let writer = async {
        let mut added = Vec::new();
        for i in 0..20 {
            let (_, body) = app
                .post(
                    "mutation($id: ID!, $tags: [String!]!) { customerTagsAdd(id: $id, tags: $tags) { tags } }",
                    json!({ "id": vars["id"], "tags": [format!("w{i}")] }),
                    Some(&staff),
                )
                .await;
            added.push(body);
        }
        writing.store(false, Ordering::Relaxed);
        added
    };
    let (reads, added) =
        futures_util::future::join(futures_util::future::join_all(readers), writer).await;
    for (i, body) in added.iter().enumerate() {
        assert!(body.get("errors").is_none(), "write {i}: {body}");
        let tags = &body["data"]["customerTagsAdd"]["tags"];
        assert!(
            tags.as_array()
                .is_some_and(|t| t.contains(&json!(format!("w{i}")))),
            "write {i}: {body}"
        );
    }
    // The writes were served among the reads, not after them.
    assert!(reads.iter().all(|&n| n >= 1), "{reads:?}");
}

//! The binary's own commands.

use std::process::Command;

use c360::auth::Role;
use chrono::TimeDelta;
use serde_json::json;

use crate::helpers::TestApp;

/// The binary under test, with none of the tests' environment.
pub fn c360() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_c360"));
    // The tests' environment must not leak into the commands under test.
    for var in [
        "DATABASE_URL",
        "C360_JWT_SECRET",
        "C360_JWT_ISSUER",
        "C360_JWT_AUDIENCE",
        "C360_DEV",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// What `c360 loyalty settle` on `db_url` with `args` says of tier reviews
/// (its second line), once it has run successfully.
pub fn tier_reviews_settled(db_url: &str, args: &[&str]) -> String {
    let out = c360()
        .args(["loyalty", "settle", "--database-url", db_url])
        .args(args)
        .output()
        .expect("c360 loyalty settle runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout.lines().nth(1).unwrap_or_default().to_owned()
}

#[test]
fn schema_command_prints_the_checked_in_schema() {
    let out = c360().arg("schema").output().expect("c360 schema runs");
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).expect("utf-8");
    let checked_in =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
            .expect("schema.graphql exists");
    assert!(
        printed == checked_in,
        "schema.graphql is stale: run `cargo run -- schema > schema.graphql`"
    );
}

#[tokio::test]
async fn token_command_mints_a_token_the_server_accepts() {
    let app = TestApp::spawn_sqlite().await;
    app.seed(3).await;
    let out = c360()
        .args(["token", "--dev", "--role", "STAFF", "--ttl", "5m"])
        .output()
        .expect("c360 token runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned();
    let (status, body) = app
        .post(
            "{ customers(first: 2) { edges { cursor } } }",
            json!({}),
            Some(&token),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["data"]["customers"]["edges"].as_array().map(Vec::len),
        Some(2),
        "{body}"
    );
}

#[test]
fn token_command_refuses_without_a_secret_or_a_customer_id() {
    let out = c360()
        .args(["token", "--role", "STAFF"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("C360_JWT_SECRET"));
    let out = c360()
        .args(["token", "--dev", "--role", "CUSTOMER"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--sub"));
}

#[test]
fn migrate_runs_up_status_down_and_fresh_on_a_new_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
    for action in ["up", "status", "down", "fresh", "status"] {
        let out = c360()
            .args(["migrate", action, "--database-url", &url])
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "migrate {action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if action == "status" {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                text.contains("Applied") && text.contains("create_tables"),
                "{text}"
            );
        }
    }
}

#[tokio::test]
async fn serve_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut child = tokio::process::Command::from(c360())
        .args([
            "serve",
            "--dev",
            "--database-url",
            &url,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("serve starts");
    let client = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..100 {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
        {
            ready = r.status() == 200;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "the server answers /readyz");
    let pid = child.id().expect("pid").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = tokio::time::timeout(std::time::Duration::from_secs(10), child.wait())
        .await
        .expect("exits within 10 s")
        .expect("exit status");
    assert!(
        status.success(),
        "SIGTERM is a clean stop, not a crash: {status}"
    );
    let mut stderr = String::new();
    use tokio::io::AsyncReadExt;
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .await
        .expect("read stderr");
    assert!(stderr.contains("finishing in-flight requests"), "{stderr}");
}

#[tokio::test]
async fn loyalty_settle_makes_due_pending_points_available() {
    use sea_orm::{ConnectionTrait, Statement};
    let app = TestApp::spawn_sqlite().await;
    // The store is seeded, and one more order paid, 60 days ago: every
    // 14-day return window has ended on the real clock the CLI runs on.
    app.clock.advance(TimeDelta::days(-60));
    app.seed(20).await;
    let customer = app.scalar("SELECT MIN(id) FROM customers").await;
    let token = app.token(Role::Partner, "pos-1", &["orders:write", "orders:read"]);
    let order = json!({
        "customerId": format!("gid://c360/Customer/{customer}"),
        "externalRef": "settle-cli",
        "status": "PAID",
        "currencyCode": "USD",
        "total": 25_000,
        "lines": [{ "sku": "SKU-1", "productName": "Thing", "quantity": 1, "unitPrice": 25_000 }]
    });
    let (_, body) = app
        .post(
            "mutation($input: OrderIngestInput!) { orderIngest(input: $input) { id } }",
            json!({ "input": order }),
            Some(&token),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    app.clock.reset();
    let db = &app.db;
    let count = |sql: &'static str| async move {
        db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
            .await
            .expect("query")
            .expect("row")
            .try_get_by_index::<i64>(0)
            .expect("int")
    };
    let due = count("SELECT COUNT(*) FROM loyalty_transactions WHERE state = 'PENDING'").await;
    assert!(due > 0, "the order's points are pending");
    let out = c360()
        .args(["loyalty", "settle", "--database-url", &app.db_url])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().next(),
        Some(
            format!("settled {due} loyalty transactions; expired 0 points of 0 accounts").as_str()
        ),
        "{stdout}"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM loyalty_transactions WHERE state = 'PENDING'").await,
        0
    );
    assert_eq!(
        count("SELECT COALESCE(SUM(points_pending), 0) FROM loyalty_accounts").await,
        0
    );
    assert_eq!(
        count("SELECT COALESCE(SUM(points_available), 0) FROM loyalty_accounts").await,
        count(
            "SELECT COALESCE(SUM(points), 0) FROM loyalty_transactions WHERE state = 'AVAILABLE'"
        )
        .await
    );
}

#[tokio::test]
async fn insights_refresh_recomputes_rfm_scores() {
    use sea_orm::{ConnectionTrait, Database, Statement};
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("r.db").display());
    let out = c360()
        .args(["seed", "--customers", "20", "--database-url", &url])
        .output()
        .expect("seed runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let db = Database::connect(&url).await.expect("store");
    let count = |sql: &'static str| {
        let db = db.clone();
        async move {
            db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
                .await
                .expect("query")
                .expect("row")
                .try_get_by_index::<i64>(0)
                .expect("count")
        }
    };
    let buyers = count("SELECT COUNT(*) FROM customer_metrics WHERE orders_count > 0").await;
    assert!(buyers > 0);
    db.execute_unprepared("DELETE FROM customer_rfm")
        .await
        .expect("delete");
    let out = c360()
        .args(["insights", "refresh", "--database-url", &url])
        .output()
        .expect("insights refresh runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("for {buyers} customers")),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(count("SELECT COUNT(*) FROM customer_rfm").await, buyers);
}

#[test]
fn serve_refuses_a_concurrency_limit_of_zero() {
    let out = c360()
        .args(["serve", "--max-concurrent-requests", "0"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--max-concurrent-requests") && stderr.contains("0 is not in 1.."),
        "{stderr}"
    );
}

//! Reads on replicas (`--database-read-url`), against a real streaming
//! standby of the test's PostgreSQL: `pg_basebackup -R` into a temporary
//! directory, started on a free port, stopped and removed when the test
//! ends. `.ci/run` lets the primary accept replication from 127.0.0.1.
//! Which pool ran a request's statements is read from `/metrics`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use c360::auth::Role;
use c360::config::Config;
use c360::startup::Application;
use sea_orm::sqlx::{Connection, PgConnection};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};

use crate::helpers::{StoreKind, TestApp, metric, postgres_not_run};

/// The longest a condition may take to come true on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(120);

const LIST: &str = "{ customers(first: 50) { edges { node { id } } } }";
const CREATE: &str =
    "mutation($input: CustomerCreateInput!) { customerCreate(input: $input) { id } }";
const ONE: &str = "query($id: ID!) { customer(id: $id) { id } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_read_the_replica_writes_and_a_writers_next_reads_the_primary_and_reads_outlive_the_replica()
 {
    let Ok(admin_url) = std::env::var("C360_TEST_POSTGRES_URL") else {
        postgres_not_run();
        return;
    };
    let standby = Standby::start(&admin_url).await;
    let port = standby.port;
    let app = TestApp::spawn(StoreKind::Postgres, |config| {
        config.database_read_urls = vec![on_port(&config.database_url, port)];
        // Generous, so a busy machine's replay delay never skips the replica.
        config.replica_max_lag = Duration::from_secs(60);
        config.replica_check_interval = Duration::from_millis(200);
    })
    .await;
    app.seed(3).await;
    let customers = app.scalar("SELECT count(*) FROM customers").await;
    let replica_url = on_port(&app.db_url, port);
    eventually(
        "the replica has the test database, its tables and rows",
        || async {
            let count = count_on(&replica_url, "SELECT count(*) FROM customers").await;
            (count == Some(customers)).then_some(())
        },
    )
    .await;
    eventually("/readyz reports the replica in use", || async {
        let (_, body) = readiness(&app).await;
        (body["replicas"][0]["used"] == true).then_some(())
    })
    .await;
    let reader = app.token(Role::Staff, "staff-reader", &[]);
    let writer = app.token(Role::Staff, "staff-writer", &[]);

    let before = pools(&app).await;
    let listed = graphql(&app, LIST, json!({}), &reader).await;
    assert_eq!(edges(&listed), customers);
    let after = pools(&app).await;
    assert!(
        after.replica > before.replica,
        "the query ran on the replica: {before:?} {after:?}"
    );
    assert_eq!(
        after.primary, before.primary,
        "the query ran nothing on the primary"
    );

    let before = pools(&app).await;
    let input = json!({ "input": { "profile": { "email": "replica-writer@example.com" } } });
    let created = graphql(&app, CREATE, input, &writer).await;
    let id = created["customerCreate"]["id"].clone();
    let after = pools(&app).await;
    assert!(
        after.primary > before.primary,
        "the mutation ran on the primary: {before:?} {after:?}"
    );
    assert_eq!(
        after.replica, before.replica,
        "the mutation ran nothing on the replica"
    );

    let before = after;
    let read = graphql(&app, ONE, json!({ "id": id }), &writer).await;
    assert_eq!(read["customer"]["id"], id, "the writer reads its own write");
    let after = pools(&app).await;
    assert!(
        after.primary > before.primary,
        "a read right after the caller's write goes to the primary"
    );
    assert_eq!(
        after.replica, before.replica,
        "and not to the replica: {before:?} {after:?}"
    );

    standby.stop().await;
    let (status, body) = eventually("/readyz reports the replica down", || async {
        let (status, body) = readiness(&app).await;
        (body["replicas"][0]["up"] == false).then_some((status, body))
    })
    .await;
    assert_eq!(
        status, 200,
        "a replica down leaves the gateway ready: {body}"
    );
    assert_eq!(body["replicas"][0]["state"], "unreachable", "{body}");
    assert_eq!(body["replicas"][0]["used"], false);
    let before = pools(&app).await;
    let listed = graphql(&app, LIST, json!({}), &reader).await;
    assert_eq!(
        edges(&listed),
        customers + 1,
        "reads still succeed, on the primary"
    );
    let after = pools(&app).await;
    assert!(
        after.primary > before.primary,
        "served by the primary: {before:?} {after:?}"
    );
    assert_eq!(after.replica, before.replica);
    let text = app.metrics_text().await;
    assert_eq!(
        metric(&text, "c360_db_replica_up{pool=\"replica-0\"}"),
        Some(0.0),
        "{text}"
    );

    standby.start_server().await;
    eventually("/readyz reports the replica in use again", || async {
        let (_, body) = readiness(&app).await;
        (body["replicas"][0]["used"] == true).then_some(())
    })
    .await;
    let before = pools(&app).await;
    graphql(&app, LIST, json!({}), &reader).await;
    let after = pools(&app).await;
    assert!(
        after.replica > before.replica,
        "the replica serves queries again: {before:?} {after:?}"
    );
    assert_eq!(after.primary, before.primary);
    let text = app.metrics_text().await;
    assert_eq!(
        metric(&text, "c360_db_replica_up{pool=\"replica-0\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "c360_db_replica_in_use{pool=\"replica-0\"}"),
        Some(1.0),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_down_at_start_is_reported_and_skipped_without_delaying_start() {
    if std::env::var("C360_TEST_POSTGRES_URL").is_err() {
        postgres_not_run();
        return;
    }
    // Nothing listens on a port just released.
    let closed = free_port();
    let app = tokio::time::timeout(
        Duration::from_secs(60),
        TestApp::spawn(StoreKind::Postgres, |config| {
            config.database_read_urls = vec![on_port(&config.database_url, closed)];
            config.replica_check_interval = Duration::from_millis(200);
        }),
    )
    .await
    .expect("start does not wait for a replica");
    let (status, body) = eventually("/readyz reports the replica unreachable", || async {
        let (status, body) = readiness(&app).await;
        (body["replicas"][0]["state"] == "unreachable").then_some((status, body))
    })
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["primary"]["up"], true, "{body}");
    let replica = &body["replicas"][0];
    assert_eq!(replica["name"], "replica-0");
    assert_eq!(replica["up"], false);
    assert_eq!(replica["used"], false);
    assert!(
        replica["url"]
            .as_str()
            .is_some_and(|u| u.contains(&format!(":{closed}/"))),
        "{body}"
    );
    let before = pools(&app).await;
    app.query(LIST, json!({})).await;
    let after = pools(&app).await;
    assert!(
        after.primary > before.primary,
        "queries use the primary: {before:?} {after:?}"
    );
    assert_eq!(after.replica, 0);
}

#[tokio::test]
async fn replicas_are_refused_on_sqlite_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("c360.db").display());
    let mut config = Config::for_store(url);
    config.database_read_urls = vec!["postgres://postgres@127.0.0.1:5432/replica".into()];
    let refused = Application::build(config).await.err().expect("refused");
    let message = refused.to_string();
    assert!(message.contains("need a PostgreSQL primary"), "{message}");
}

/// Statements run so far on each pool.
#[derive(Debug, Clone, Copy)]
struct Pools {
    primary: u64,
    replica: u64,
}

async fn pools(app: &TestApp) -> Pools {
    Pools {
        primary: app.pool_statements("primary").await,
        replica: app.pool_statements("replica-0").await,
    }
}

/// `/readyz`'s status and JSON body.
async fn readiness(app: &TestApp) -> (u16, Value) {
    let response = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

/// `data` of a request that must succeed.
async fn graphql(app: &TestApp, query: &str, variables: Value, token: &str) -> Value {
    let (status, body) = app.post(query, variables, Some(token)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    body["data"].clone()
}

fn edges(data: &Value) -> i64 {
    data["customers"]["edges"]
        .as_array()
        .map_or(0, |e| e.len() as i64)
}

/// Polls `check` until it gives a value; fails after `PATIENCE`.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited {PATIENCE:?} in vain until {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One number from the server at `url`, on a connection of its own (no
/// pool outlives the test); `None` while it cannot answer.
async fn count_on(url: &str, sql: &str) -> Option<i64> {
    let mut conn = PgConnection::connect(url).await.ok()?;
    let count = sea_orm::sqlx::query_scalar::<_, i64>(sea_orm::sqlx::AssertSqlSafe(sql))
        .fetch_one(&mut conn)
        .await
        .ok();
    let _ = conn.close().await;
    count
}

/// The URL with its host and port replaced by the standby's.
fn on_port(url: &str, port: u16) -> String {
    let mut url = reqwest::Url::parse(url).expect("a database URL");
    url.set_host(Some("127.0.0.1")).expect("a host");
    url.set_port(Some(port)).expect("a port");
    url.to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A streaming standby of the test's PostgreSQL in a temporary directory,
/// with a replication slot so the primary keeps the WAL it needs while it
/// is stopped. Dropped, also when the test fails, it is stopped, its slot
/// dropped and its directory removed.
struct Standby {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    slot: String,
    admin_url: String,
}

impl Standby {
    async fn start(admin_url: &str) -> Standby {
        let admin = Database::connect(admin_url)
            .await
            .unwrap_or_else(|e| panic!("C360_TEST_POSTGRES_URL is set but unreachable: {e}"));
        let major = one(
            &admin,
            "SELECT current_setting('server_version_num')::int / 10000",
        )
        .await;
        drop_stale_slots(&admin).await;
        // A hot standby refuses to start with less of these than its primary.
        let mut settings = String::new();
        for name in [
            "max_connections",
            "max_worker_processes",
            "max_wal_senders",
            "max_prepared_transactions",
            "max_locks_per_transaction",
        ] {
            let value = one(&admin, &format!("SELECT current_setting('{name}')::int")).await;
            settings.push_str(&format!("{name} = {value}\n"));
        }
        admin.close().await.ok();

        let primary = reqwest::Url::parse(admin_url).expect("C360_TEST_POSTGRES_URL is a URL");
        let dir = tempfile::tempdir().expect("temp dir");
        let standby = Standby {
            bin: PathBuf::from(format!("/usr/lib/postgresql/{major}/bin")),
            port: free_port(),
            slot: format!("c360_test_replica_{}", std::process::id()),
            admin_url: admin_url.to_owned(),
            dir,
        };
        own_for_postgres(standby.dir.path());
        let data = standby.data();
        let user = match primary.username() {
            "" => "postgres",
            user => user,
        };
        let copied = run(as_postgres(&standby.bin.join("pg_basebackup")).args([
            "-h",
            primary.host_str().unwrap_or("127.0.0.1"),
            "-p",
            &primary.port().unwrap_or(5432).to_string(),
            "-U",
            user,
            "-D",
            &data.display().to_string(),
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            "-C",
            "-S",
            &standby.slot,
            "--no-sync",
        ]));
        assert!(
            copied.status.success(),
            "pg_basebackup could not copy the primary: {}\n\
             The primary must accept replication connections from 127.0.0.1: .ci/run appends \
             `host replication all 127.0.0.1/32 trust` to its pg_hba.conf and reloads it.",
            String::from_utf8_lossy(&copied.stderr)
        );
        // Debian keeps the configuration outside the data directory, so the
        // copy has none of its own.
        let conf = format!(
            "{settings}listen_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\n\
             hot_standby = on\nfsync = off\n",
            standby.port,
            standby.dir.path().display()
        );
        append(&data.join("postgresql.conf"), &conf);
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhost all all 127.0.0.1/32 trust\n",
        )
        .expect("pg_hba.conf");
        append(&data.join("pg_ident.conf"), "");
        own_for_postgres(standby.dir.path());
        standby.start_server().await;
        standby
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn pg_ctl(&self, args: &[&str]) -> Command {
        let mut command = as_postgres(&self.bin.join("pg_ctl"));
        command.arg("-D").arg(self.data()).args(args);
        command
    }

    /// Starts the standby and waits until it accepts connections.
    async fn start_server(&self) {
        let log = self.dir.path().join("server.log");
        let mut command =
            self.pg_ctl(&["-w", "-t", "120", "-l", &log.display().to_string(), "start"]);
        let started = tokio::task::spawn_blocking(move || run(&mut command))
            .await
            .expect("pg_ctl start");
        assert!(
            started.status.success(),
            "the standby did not start: {}\n{}",
            String::from_utf8_lossy(&started.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    async fn stop(&self) {
        let mut command = self.pg_ctl(&["-m", "fast", "-w", "-t", "60", "stop"]);
        let stopped = tokio::task::spawn_blocking(move || run(&mut command))
            .await
            .expect("pg_ctl stop");
        assert!(
            stopped.status.success(),
            "the standby did not stop: {}",
            String::from_utf8_lossy(&stopped.stderr)
        );
    }
}

impl Drop for Standby {
    fn drop(&mut self) {
        let _ = self
            .pg_ctl(&["-m", "immediate", "-w", "-t", "60", "stop"])
            .output();
        let drop_slot = format!(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
             WHERE slot_name = '{}'",
            self.slot
        );
        let _ = Command::new(self.bin.join("psql"))
            .args([self.admin_url.as_str(), "-Atqc", &drop_slot])
            .output();
        // The directory goes with `self.dir`.
    }
}

/// Drops the slots of standbys whose test process died before cleaning up,
/// so the primary stops keeping WAL for them.
async fn drop_stale_slots(admin: &DatabaseConnection) {
    let rows = admin
        .query_all_raw(Statement::from_string(
            admin.get_database_backend(),
            "SELECT slot_name FROM pg_replication_slots \
             WHERE slot_name LIKE 'c360\\_test\\_replica\\_%' AND NOT active"
                .to_owned(),
        ))
        .await
        .expect("replication slots");
    for row in rows {
        let Ok(slot) = row.try_get_by_index::<String>(0) else {
            continue;
        };
        let pid = slot.rsplit('_').next().unwrap_or_default();
        if !Path::new("/proc").join(pid).exists() {
            let _ = admin
                .execute_unprepared(&format!("SELECT pg_drop_replication_slot('{slot}')"))
                .await;
        }
    }
}

async fn one(db: &DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(Statement::from_string(
        db.get_database_backend(),
        sql.to_owned(),
    ))
    .await
    .expect("query")
    .expect("a row")
    .try_get_by_index::<i32>(0)
    .map(i64::from)
    .expect("an integer")
}

/// PostgreSQL refuses to run as root: as root, commands run as `postgres`.
fn as_postgres(program: &Path) -> Command {
    if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn own_for_postgres(dir: &Path) {
    if running_as_root() {
        let owned = run(Command::new("chown")
            .arg("-R")
            .arg("postgres:postgres")
            .arg(dir));
        assert!(
            owned.status.success(),
            "chown: {}",
            String::from_utf8_lossy(&owned.stderr)
        );
    }
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    file.write_all(text.as_bytes()).expect("written");
}

fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

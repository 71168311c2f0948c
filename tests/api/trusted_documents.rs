//! Trusted documents: automatic persisted queries as Apollo Client sends
//! them, a manifest named by `documentId` or hash, the per-role switch that
//! lets only manifest documents run, and the manifest's reload and errors.

use c360::auth::Role;
use c360::config::Audience;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::cli::c360;
use crate::helpers::{TestApp, codes};

const GQL: &str = "application/graphql-response+json";
const COUNT: &str = "query Count { customers(first: 1) { totalCount } }";
const ME: &str = "query Me { me { id email } }";

fn sha256(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

/// POSTs a raw body with a token; the status and the JSON answer.
async fn post(app: &TestApp, accept: &str, body: Value, token: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(app.url("/graphql"))
        .header("accept", accept)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("sent");
    (r.status().as_u16(), r.json().await.expect("JSON body"))
}

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

/// A manifest file of the flat format (graphql-codegen, Relay) with
/// `COUNT` under its hash and `ME` under a Relay-style id.
fn manifest(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("persisted-documents.json");
    let body = json!({ sha256(COUNT): COUNT, "relay-me-1": ME });
    std::fs::write(&path, body.to_string()).expect("manifest written");
    path
}

#[tokio::test]
async fn automatic_persisted_queries_go_as_apollo_client_sends_them() {
    let app = TestApp::spawn_sqlite().await;
    app.seed(3).await;
    let staff = app.staff();
    let hash = sha256(COUNT);
    // The hash alone: not known yet. 200 under both types, so Apollo Client
    // retries with the text instead of turning persisted queries off.
    for accept in [GQL, "application/json"] {
        let (status, body) = post(
            &app,
            accept,
            json!({ "extensions": persisted(&hash) }),
            &staff,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(codes(&body), ["PERSISTED_QUERY_NOT_FOUND"]);
        assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");
    }
    let (status, body) = post(
        &app,
        GQL,
        json!({ "query": COUNT, "extensions": persisted(&hash) }),
        &staff,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["customers"]["totalCount"], 3);
    // Now the hash is enough, by POST and by GET.
    let (status, body) = post(&app, GQL, json!({ "extensions": persisted(&hash) }), &staff).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["customers"]["totalCount"], 3);
    let r = reqwest::Client::new()
        .get(app.url("/graphql"))
        .query(&[("extensions", persisted(&hash).to_string())])
        .header("accept", GQL)
        .bearer_auth(&staff)
        .send()
        .await
        .expect("sent");
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["data"]["customers"]["totalCount"], 3, "{body}");

    // A hash that is not the text's, and malformed extensions.
    let (status, body) = post(
        &app,
        GQL,
        json!({ "query": "{ __typename }", "extensions": persisted(&hash) }),
        &staff,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(codes(&body), ["BAD_USER_INPUT"]);
    assert_eq!(
        body["errors"][0]["extensions"]["field"],
        "extensions.persistedQuery.sha256Hash"
    );
    for extensions in [
        json!({ "persistedQuery": { "version": 2, "sha256Hash": hash } }),
        json!({ "persistedQuery": { "version": 1, "sha256Hash": "abc" } }),
        json!({ "persistedQuery": "yes" }),
    ] {
        let (status, body) = post(&app, GQL, json!({ "extensions": extensions }), &staff).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(codes(&body), ["BAD_USER_INPUT"], "{extensions}");
    }
}

#[tokio::test]
async fn manifest_documents_run_by_document_id_or_hash() {
    let dir = tempfile::tempdir().expect("dir");
    let path = manifest(dir.path());
    let app = TestApp::spawn_sqlite_with(|c| c.trusted_documents = Some(path)).await;
    app.seed(4).await;
    let staff = app.staff();
    let hash = sha256(COUNT);
    for request in [
        json!({ "documentId": format!("sha256:{hash}") }),
        json!({ "documentId": hash }),
        json!({ "extensions": persisted(&hash) }),
        json!({ "query": COUNT }),
    ] {
        // Twice: the second run skips full validation and answers the same.
        for _ in 0..2 {
            let (status, body) = post(&app, GQL, request.clone(), &staff).await;
            assert_eq!(status, 200, "{request}: {body}");
            assert_eq!(body["data"]["customers"]["totalCount"], 4, "{request}");
        }
    }
    let (status, body) = post(&app, GQL, json!({ "documentId": "nope" }), &staff).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(codes(&body), ["PERSISTED_QUERY_NOT_FOUND"]);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("`nope`")),
        "{body}"
    );
    let (status, body) = post(
        &app,
        GQL,
        json!({ "documentId": "relay-me-1", "query": ME }),
        &staff,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "documentId");
}

/// A trusted document that has passed full validation once is validated
/// after that only for what depends on its variables, and that result is
/// kept by the variables' shape as any other: each shape answers the same
/// the first time it runs on the lighter validation and when it runs again,
/// and a page past the cost is refused every time.
#[tokio::test]
async fn a_trusted_document_keeps_its_lighter_validation_by_the_variables_shape() {
    const PAGE: &str = "query Page($n: Int) { customers(first: $n) { edges { node { id } } } }";
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("persisted-documents.json");
    std::fs::write(&path, json!({ sha256(PAGE): PAGE }).to_string()).expect("manifest");
    // The page of n costs 3n + 1 (see limits.rs).
    let app = TestApp::spawn_sqlite_with(|c| {
        c.trusted_documents = Some(path);
        c.max_complexity = 31;
    })
    .await;
    app.seed(12).await;
    let staff = app.staff();
    let page = |n: i64| json!({ "documentId": format!("sha256:{}", sha256(PAGE)), "variables": { "n": n } });
    for (what, n, edges) in [
        ("in full, the first time", 3, Some(3)),
        ("the same shape", 3, Some(3)),
        ("another page size", 10, Some(10)),
        ("a page past the cost", 11, None),
        ("a page within it again", 2, Some(2)),
    ] {
        let first = post(&app, GQL, page(n), &staff).await;
        let again = post(&app, GQL, page(n), &staff).await;
        assert_eq!(first, again, "{what}");
        let (status, body) = first;
        match edges {
            Some(edges) => {
                assert_eq!(status, 200, "{what}: {body}");
                assert_eq!(
                    body["data"]["customers"]["edges"].as_array().map(Vec::len),
                    Some(edges),
                    "{what}"
                );
            }
            None => {
                assert_eq!(status, 400, "{what}: {body}");
                assert_eq!(codes(&body), ["QUERY_TOO_COMPLEX"], "{what}");
            }
        }
    }
}

#[tokio::test]
async fn a_role_restricted_to_trusted_documents_runs_nothing_else() {
    let dir = tempfile::tempdir().expect("dir");
    let path = manifest(dir.path());
    let app = TestApp::spawn_sqlite_with(|c| {
        c.trusted_documents = Some(path);
        c.trusted_documents_only = vec![Audience::Customer];
    })
    .await;
    app.seed(3).await;
    let id = app.scalar("SELECT MIN(id) FROM customers").await;
    let customer = app.token(Role::Customer, &id.to_string(), &[]);

    let (status, body) = post(&app, GQL, json!({ "documentId": "relay-me-1" }), &customer).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["me"]["id"],
        format!("gid://c360/Customer/{id}")
    );

    // Its own text, even one valid and harmless, and APQ registration of it.
    let other = "query Mine { me { id } }";
    for request in [
        json!({ "query": other }),
        json!({ "query": other, "extensions": persisted(&sha256(other)) }),
    ] {
        for accept in [GQL, "application/json"] {
            let (status, body) = post(&app, accept, request.clone(), &customer).await;
            assert_eq!(status, 400, "{body}");
            assert_eq!(codes(&body), ["PERSISTED_QUERY_NOT_IN_LIST"], "{request}");
            assert!(body.get("data").is_none());
        }
    }
    // The registration did not happen: the hash alone is still unknown.
    let (_, body) = post(
        &app,
        GQL,
        json!({ "extensions": persisted(&sha256(other)) }),
        &customer,
    )
    .await;
    assert_eq!(codes(&body), ["PERSISTED_QUERY_NOT_FOUND"]);
    // The manifest's text sent in full is the manifest's document.
    let (status, body) = post(&app, GQL, json!({ "query": ME }), &customer).await;
    assert_eq!(
        status, 400,
        "ME is listed under a Relay id, not its hash: {body}"
    );
    let (status, body) = post(&app, GQL, json!({ "query": COUNT }), &customer).await;
    assert_eq!(status, 200, "{body}");
    // Other roles are not restricted.
    let (status, body) = post(&app, GQL, json!({ "query": other }), &app.staff()).await;
    assert_eq!(status, 200, "{body}");
}

/// `serve` with a manifest: a malformed one stops it with a message naming
/// the entry; SIGHUP reloads it without a restart.
#[tokio::test]
async fn serve_loads_the_manifest_refuses_a_bad_one_and_reloads_on_sighup() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, json!({ "q1": "query {" }).to_string()).expect("written");
    let out = c360()
        .args([
            "serve",
            "--dev",
            "--database-url",
            &url,
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--trusted-documents")
        .arg(&bad)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.json") && stderr.contains("entry `q1` is not a GraphQL document"),
        "{stderr}"
    );

    let path = manifest(dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut child = tokio::process::Command::from(c360())
        .args(["serve", "--dev", "--database-url", &url])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--trusted-documents")
        .arg(&path)
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("serve starts");
    // The server's log, line by line, to see when a reload has happened.
    let (log_tx, mut log) = tokio::sync::mpsc::unbounded_channel::<String>();
    let stderr = child.stderr.take().expect("stderr");
    tokio::spawn(async move {
        use tokio::io::AsyncBufReadExt;
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = log_tx.send(line);
        }
    });
    let mut wait_for_log = async move |needle: &str| {
        let found = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            while let Some(line) = log.recv().await {
                if line.contains(needle) {
                    return true;
                }
            }
            false
        });
        assert!(found.await.unwrap_or(false), "the log says `{needle}`");
    };
    let token = c360()
        .args(["token", "--dev", "--role", "STAFF", "--sub", "ops"])
        .output()
        .expect("token");
    let token = String::from_utf8_lossy(&token.stdout).trim().to_owned();
    let client = reqwest::Client::new();
    let ask = |id: &'static str| {
        let client = client.clone();
        let token = token.clone();
        async move {
            let r = client
                .post(format!("http://127.0.0.1:{port}/graphql"))
                .bearer_auth(token)
                .json(&json!({ "documentId": id }))
                .send()
                .await?;
            r.json::<Value>().await
        }
    };
    let mut first = None;
    for _ in 0..100 {
        if let Ok(body) = ask("relay-me-2").await {
            first = Some(body);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let first = first.expect("the server answers");
    assert_eq!(codes(&first), ["PERSISTED_QUERY_NOT_FOUND"]);

    let added = json!({ sha256(COUNT): COUNT, "relay-me-2": "query Two { __typename }" });
    std::fs::write(&path, added.to_string()).expect("manifest rewritten");
    let pid = child.id().expect("pid").to_string();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill runs");
    assert!(hup.success());
    wait_for_log("trusted-document manifest reloaded: 2 documents").await;
    let reloaded = ask("relay-me-2").await.expect("answer");
    assert_eq!(reloaded["data"]["__typename"], "Query", "{reloaded}");
    // A broken manifest on reload leaves the loaded one serving.
    std::fs::write(&path, "{").expect("broken");
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill runs");
    assert!(hup.success());
    wait_for_log("trusted-document manifest not reloaded, the loaded one stays").await;
    let still = ask("relay-me-2").await.expect("answer");
    assert_eq!(still["data"]["__typename"], "Query", "{still}");
    assert!(child.try_wait().expect("status").is_none(), "still serving");
    let _ = child.kill().await;
}

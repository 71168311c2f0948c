//! GraphiQL served from the binary: a page that loads only this server's
//! files, each cached for a year, under a CSP; the demo token and profile
//! query only in a `serve --seed-demo --dev` session; the README's first
//! query as that session's default document.

use std::time::Duration;

use c360::http::graphiql::PROFILE_QUERY;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::cli::c360;
use crate::helpers::TestApp;

/// What a browser sends for a page.
const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// The files the page must load, by name, with their content type.
const ASSETS: [(&str, &str); 6] = [
    ("react.production.min.js", "text/javascript"),
    ("react-dom.production.min.js", "text/javascript"),
    ("graphiql.min.js", "text/javascript"),
    ("graphiql.min.css", "text/css"),
    ("graphql-ws.min.js", "text/javascript"),
    ("init.js", "text/javascript"),
];

fn header(headers: &reqwest::header::HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// The page as a browser asks for it: status, headers, HTML.
async fn get_page(
    client: &reqwest::Client,
    url: &str,
) -> (u16, reqwest::header::HeaderMap, String) {
    let r = client
        .get(url)
        .header("accept", BROWSER_ACCEPT)
        .send()
        .await
        .expect("page requested");
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, headers, r.text().await.expect("page body"))
}

/// Every value of `attr="…"` in `html`.
fn attribute_values(html: &str, attr: &str) -> Vec<String> {
    let marker = format!(" {attr}=\"");
    html.split(marker.as_str())
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap_or("").to_owned())
        .collect()
}

/// The defaults the server embedded for GraphiQL.
fn embedded_defaults(html: &str) -> Value {
    let start = r#"<script type="application/json" id="c360-graphiql-defaults">"#;
    let json = html
        .split_once(start)
        .and_then(|(_, rest)| rest.split_once("</script>"))
        .map(|(json, _)| json)
        .unwrap_or_else(|| panic!("no defaults block in {html}"));
    serde_json::from_str(json).expect("the defaults are JSON")
}

/// The JSON a GraphiQL editor holds (its text).
fn editor_json(defaults: &Value, editor: &str) -> Value {
    let text = defaults[editor]
        .as_str()
        .unwrap_or_else(|| panic!("no {editor} in {defaults}"));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{editor} is not JSON ({e}): {text}"))
}

#[tokio::test]
async fn the_page_loads_only_same_origin_files_cached_for_a_year() {
    let app = TestApp::spawn_sqlite().await;
    let (status, page, html) = get_page(&app.client, &app.url("/graphql")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&page, "cache-control"), "no-store");

    let csp = header(&page, "content-security-policy");
    let directive = |name: &str| {
        csp.split(';')
            .map(str::trim)
            .find(|d| d.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} in the CSP {csp:?}"))
            .to_owned()
    };
    assert_eq!(directive("default-src"), "default-src 'none'");
    assert_eq!(directive("script-src"), "script-src 'self'");
    assert_eq!(directive("connect-src"), "connect-src 'self'");
    assert_eq!(directive("style-src"), "style-src 'self' 'unsafe-inline'");
    assert!(!csp.contains("http"), "the CSP names another origin: {csp}");

    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains("//cdn"),
        "the page names another origin: {html}"
    );
    let scripts = attribute_values(&html, "src");
    let links: Vec<String> = attribute_values(&html, "href")
        .into_iter()
        .filter(|href| href != "data:,")
        .collect();
    assert_eq!(scripts.len(), 5, "{scripts:?}");
    // init.js uses the globals of the others (GraphiQL, graphqlWs): last.
    assert!(scripts[4].ends_with("/init.js"), "{scripts:?}");
    assert_eq!(links.len(), 1, "{links:?}");
    let referenced: Vec<String> = scripts.into_iter().chain(links).collect();
    for (name, content_type) in ASSETS {
        let path = referenced
            .iter()
            .find(|p| p.ends_with(&format!("/{name}")))
            .unwrap_or_else(|| panic!("the page does not load {name}: {referenced:?}"));
        assert!(
            path.starts_with("/graphiql/") && !path.starts_with("//"),
            "{path} is not a path on this server"
        );
        let r = app.client.get(app.url(path)).send().await.expect("asset");
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(
            header(r.headers(), "content-type"),
            format!("{content_type}; charset=utf-8"),
            "{path}"
        );
        assert_eq!(
            header(r.headers(), "cache-control"),
            "public, max-age=31536000, immutable",
            "{path}"
        );
        assert_eq!(header(r.headers(), "x-content-type-options"), "nosniff");
        let served = r.bytes().await.expect("asset body");
        let vendored = std::fs::read(format!(
            "{}/assets/graphiql/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("the file in assets/graphiql");
        assert!(served == vendored, "{path} is not assets/graphiql/{name}");

        // Another fingerprint is another version: not served as this one.
        let fingerprint = path.split('/').nth(2).expect("fingerprint");
        let stale = path.replace(fingerprint, "0123456789abcdef");
        let r = app.client.get(app.url(&stale)).send().await.expect("sent");
        assert_eq!(r.status(), 404, "{stale}");
    }
    let r = app
        .client
        .get(app.url(&referenced[0].replace("react.production.min.js", "secret.txt")))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn without_a_demo_session_the_page_has_no_token() {
    // Dev mode, but no `--seed-demo`: nothing was minted for the page.
    let app = TestApp::spawn_sqlite().await;
    let (_, _, html) = get_page(&app.client, &app.url("/graphql")).await;
    let defaults = embedded_defaults(&html);
    let object = defaults.as_object().expect("an object");
    assert_eq!(object.keys().collect::<Vec<_>>(), ["query"]);
    let query = defaults["query"].as_str().expect("a document");
    assert!(
        query.lines().all(|l| l.starts_with('#')),
        "only a comment: {query}"
    );
    // A JWT's header always starts with `eyJ` (`{"` in base64url).
    assert!(!html.contains("eyJ"), "a token in the page: {html}");
}

#[test]
fn the_readmes_first_query_is_the_default_document() {
    let readme = std::fs::read_to_string(format!("{}/README.md", env!("CARGO_MANIFEST_DIR")))
        .expect("README.md");
    let (_, section) = readme
        .split_once("\n## A first query\n")
        .expect("README has the section \"A first query\"");
    let (_, block) = section
        .split_once("```graphql\n")
        .expect("the section has a graphql block");
    let (block, _) = block.split_once("\n```").expect("the block ends");
    assert_eq!(format!("{block}\n"), PROFILE_QUERY);
    assert!(PROFILE_QUERY.starts_with("query Profile($id: ID!) {"));
}

/// A `c360 serve --seed-demo` on `db_url` with `args`, and what it printed:
/// the GraphiQL address, the token, the showcase customer.
struct Served {
    child: tokio::process::Child,
    graphiql: String,
    token: String,
    customer: Option<String>,
}

async fn serve_demo(db_url: &str, args: &[&str], envs: &[(&str, &str)]) -> Served {
    let mut cmd = tokio::process::Command::from(c360());
    cmd.args(["serve", "--seed-demo", "--listen", "127.0.0.1:0"])
        .args(["--database-url", db_url])
        .args(args)
        .envs(envs.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("serve starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let read = async {
        let (mut graphiql, mut token, mut customer) = (None, None, None);
        while let Some(line) = lines.next_line().await.expect("stdout") {
            let line = line.trim();
            let value = |prefix: &str| line.strip_prefix(prefix).map(|v| v.trim().to_owned());
            graphiql = graphiql.or_else(|| value("GraphiQL:"));
            token = token.or_else(|| value("Staff token:"));
            customer = customer.or_else(|| value("A customer with every kind of record:"));
            // The last line `serve` prints before serving.
            if line.starts_with("GraphiQL opens with") || line.starts_with("In GraphiQL, add") {
                return (graphiql, token, customer);
            }
        }
        panic!("serve exited before it was ready");
    };
    let (graphiql, token, customer) = tokio::time::timeout(Duration::from_secs(120), read)
        .await
        .expect("serve is ready within 2 minutes");
    Served {
        child,
        graphiql: graphiql.expect("the GraphiQL address"),
        token: token.expect("the staff token"),
        customer,
    }
}

#[tokio::test]
async fn serve_seed_demo_dev_opens_with_the_token_the_profile_query_and_a_customer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_url = format!("sqlite://{}?mode=rwc", dir.path().join("d.db").display());
    // A small store up front: `--seed-demo` keeps it instead of seeding
    // 1000. 150 customers hold one with every kind of record (orders,
    // tickets, reviews, NPS, referrals both ways), whom the page shows.
    let seeded = c360()
        .args([
            "seed",
            "--customers",
            "150",
            "--dev",
            "--database-url",
            &db_url,
        ])
        .output()
        .expect("seed runs");
    assert!(seeded.status.success(), "{seeded:?}");
    let client = reqwest::Client::new();

    let mut dev = serve_demo(&db_url, &["--dev"], &[]).await;
    let customer = dev.customer.clone().expect("a showcase customer");
    let (status, _, html) = get_page(&client, &dev.graphiql).await;
    assert_eq!(status, 200);
    let defaults = embedded_defaults(&html);
    assert_eq!(defaults["query"], PROFILE_QUERY);
    assert_eq!(
        editor_json(&defaults, "headers"),
        json!({ "Authorization": format!("Bearer {}", dev.token) })
    );
    assert_eq!(
        editor_json(&defaults, "variables"),
        json!({ "id": customer })
    );

    // What GraphiQL will send works: the token is accepted, the customer found.
    let r = client
        .post(&dev.graphiql)
        .header("accept", "application/graphql-response+json")
        .bearer_auth(&dev.token)
        .json(&json!({ "query": PROFILE_QUERY, "variables": editor_json(&defaults, "variables") }))
        .send()
        .await
        .expect("query sent");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["customer"]["id"], json!(customer));
    let orders = body["data"]["customer"]["orders"]["edges"]
        .as_array()
        .expect("orders");
    assert!(
        !orders.is_empty(),
        "the showcase customer has orders: {body}"
    );
    dev.child.kill().await.expect("serve stopped");

    // The same demo without --dev: the token is printed, never put in the page.
    let mut production = serve_demo(
        &db_url,
        &[],
        &[("C360_JWT_SECRET", "a-test-secret-of-thirty-two-bytes!")],
    )
    .await;
    let (status, _, html) = get_page(&client, &production.graphiql).await;
    assert_eq!(status, 200);
    assert!(
        !html.contains(&production.token),
        "the token is in the page"
    );
    assert!(!html.contains("eyJ"), "a token is in the page: {html}");
    let defaults = embedded_defaults(&html);
    assert!(defaults.get("headers").is_none(), "{defaults}");
    assert_ne!(defaults["query"], PROFILE_QUERY);
    production.child.kill().await.expect("serve stopped");
}

//! `c360 serve` as a child process, so its memory is measured alone.

use std::net::{SocketAddr, TcpListener};
use std::process::Stdio;
use std::time::Duration;

use c360::auth::{Role, TokenIssuer};
use secrecy::SecretString;
use tokio::process::{Child, Command};

use crate::Args;
use crate::load::Target;
use crate::scenario::Caller;
use crate::store::Prepared;

const SECRET: &str = "c360-bench-secret";

/// What a POS integration holds: it writes orders and redeems points, and
/// reads back what those mutations return. No `pii:read`.
const PARTNER_SCOPES: &[&str] = &[
    "customers:read",
    "orders:read",
    "orders:write",
    "loyalty:read",
    "loyalty:write",
];

pub struct Server {
    child: Child,
    manifest: std::path::PathBuf,
    pub addr: SocketAddr,
    pub token: String,
    /// A POS integration's token, for the writes.
    pub partner_token: String,
    pub client: reqwest::Client,
    /// Whether it reads from a streaming replica.
    pub reads_replica: bool,
}

impl Server {
    pub async fn start(args: &Args, store: &Prepared) -> anyhow::Result<Server> {
        let bin = match &args.server_bin {
            Some(b) => b.clone(),
            None => std::env::current_exe()?.with_file_name("c360"),
        };
        // Reserve a free port, then hand it to the server.
        let addr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        // The manifest of `profile-trusted`, named after the port it serves on.
        let manifest =
            std::env::temp_dir().join(format!("c360-bench-manifest-{}.json", addr.port()));
        std::fs::write(&manifest, crate::scenario::manifest().to_string())?;
        let mut command = Command::new(&bin);
        if let Some(read_url) = &store.read_url {
            command.env("C360_DATABASE_READ_URLS", read_url);
        }
        let child = command
            .arg("serve")
            .env("DATABASE_URL", &store.url)
            .env("C360_LISTEN", addr.to_string())
            .env("C360_JWT_SECRET", SECRET)
            .env("C360_TRUSTED_DOCUMENTS", &manifest)
            .env("C360_DB_MAX_CONNECTIONS", "16")
            .env("C360_LOG", "warn")
            // The load generator is one staff caller (and one partner)
            // sending as fast as it can.
            .env("C360_RATE_LIMIT_STAFF", "0")
            .env("C360_RATE_LIMIT_PARTNER", "0")
            // `webhooks-burst` registers a receiver on loopback.
            .env("C360_WEBHOOKS_ALLOW_PRIVATE", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start {}: {e}", bin.display()))?;
        let issuer = TokenIssuer::hs256(&SecretString::from(SECRET), None, None);
        let day = Duration::from_secs(24 * 3600);
        let token = issuer.mint(Role::Staff, "bench", &[], day)?;
        let scopes: Vec<String> = PARTNER_SCOPES.iter().map(|s| (*s).to_owned()).collect();
        let partner_token = issuer.mint(Role::Partner, "bench-pos", &scopes, day)?;
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()?;
        let server = Server {
            child,
            manifest,
            addr,
            token,
            partner_token,
            client,
            reads_replica: store.read_url.is_some(),
        };
        for _ in 0..300 {
            if let Ok(r) = server.client.get(server.url("/readyz")).send().await
                && r.status().is_success()
            {
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("the server did not become ready")
    }

    /// `/graphql` with the token of `caller`.
    pub fn target(&self, caller: Caller) -> Target<'_> {
        let token = match caller {
            Caller::Staff => Some(self.token.clone()),
            Caller::Partner => Some(self.partner_token.clone()),
            Caller::Anonymous => None,
        };
        Target {
            client: self.client.clone(),
            url: self.url("/graphql"),
            token,
            pid: self.pid(),
            server: Some(self),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Sum and count of the statements-per-request histogram in `/metrics`,
    /// and the statements run on read replicas since start.
    pub async fn statement_totals(&self) -> anyhow::Result<(f64, f64, f64)> {
        let text = self
            .client
            .get(self.url("/metrics"))
            .send()
            .await?
            .text()
            .await?;
        let read = |name: &str| {
            text.lines()
                .find_map(|l| {
                    l.strip_prefix(name)?
                        .strip_prefix(' ')?
                        .trim()
                        .parse::<f64>()
                        .ok()
                })
                .unwrap_or(0.0)
        };
        let on_replicas = text
            .lines()
            .filter(|l| l.starts_with("c360_sql_statements_total{pool=\"replica"))
            .filter_map(|l| l.rsplit_once(' ')?.1.trim().parse::<f64>().ok())
            .sum();
        Ok((
            read("c360_graphql_sql_statements_sum"),
            read("c360_graphql_sql_statements_count"),
            on_replicas,
        ))
    }

    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.manifest);
    }
}

//! `c360 serve` as a process of its own, for what only a process shows:
//! its logs, its exported traces, several instances on one store, a kill.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cli::c360;

pub struct Served {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// Every line it wrote to stderr so far.
    lines: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl Served {
    /// `c360 serve --dev --log-format json` on `db` (a fresh SQLite file
    /// when `None`) with `args` and `envs` added, once it answers /readyz.
    /// The scheduler and webhook polling are off unless `args` turn them on.
    pub async fn start(db: Option<&str>, args: &[&str], envs: &[(&str, &str)]) -> Served {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = db.map_or_else(
            || format!("sqlite://{}?mode=rwc", dir.path().join("c360.db").display()),
            str::to_owned,
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut cmd = c360();
        cmd.args([
            "serve",
            "--dev",
            "--log-format",
            "json",
            "--database-url",
            &db,
        ])
        .args(["--listen", &format!("127.0.0.1:{port}")]);
        for (flag, default) in [
            ("--scheduler-interval", "0s"),
            ("--webhooks-poll-interval", "0s"),
            ("--rfm-refresh-interval", "0s"),
        ] {
            if !args.contains(&flag) {
                cmd.args([flag, default]);
            }
        }
        let mut child = cmd
            .args(args)
            .envs(envs.iter().copied())
            .env_remove("C360_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("c360 serve starts");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("lines").push(line);
            }
        });
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !reqwest::get(format!("{url}/readyz"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("c360 serve exited ({status}): {:?}", lines.lock());
            }
            assert!(Instant::now() < deadline, "not ready: {:?}", lines.lock());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Served {
            child,
            url,
            lines,
            _dir: dir,
        }
    }

    /// Everything logged so far, one line each.
    pub fn log(&self) -> String {
        self.lines.lock().expect("lines").join("\n")
    }

    /// The access-log line of `request_id`, once written.
    pub async fn access(&self, request_id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = self.lines.lock().expect("lines").iter().find_map(|l| {
                let v: Value = serde_json::from_str(l).ok()?;
                (v["target"] == "c360::access" && v["request_id"] == request_id).then_some(v)
            });
            if let Some(line) = found {
                return line;
            }
            assert!(Instant::now() < deadline, "{}", self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no shutdown, nothing flushed.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A token from `c360 token --dev`.
pub fn token(role: &str, sub: &str, scopes: &[&str]) -> String {
    let mut cmd = c360();
    cmd.args(["token", "--dev", "--role", role, "--sub", sub]);
    for s in scopes {
        cmd.args(["--scope", s]);
    }
    let out = cmd.output().expect("c360 token");
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

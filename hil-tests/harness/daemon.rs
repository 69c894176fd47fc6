//! The real `dockgate` binary under test: config in a tempdir, stderr captured to a file,
//! admin API on a free port, and the operator's ways of stopping it (SIGKILL, SIGTERM).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use super::setup::Setup;
use super::tmpfs::mount_tmpfs;

/// The binary built by cargo for this test target.
pub const BIN: &str = env!("CARGO_BIN_EXE_dockgate");

/// Site id of every test daemon.
pub const SITE: &str = "wh-hil";

/// Time a daemon gets to answer `/ready` after it was spawned.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// The environment variables reqwest takes a proxy from.
const PROXY_VARIABLES: [&str; 8] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// Time a daemon gets to exit after SIGTERM (its own grace period is 20 s).
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// An answer of the admin API.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// `Retry-After`, if any.
    pub retry_after: Option<String>,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The body as JSON (a JSON string holding the text if it is not JSON).
    pub json: Value,
}

impl Answer {
    /// The `ids` of a 202, in body order; panics on anything else.
    pub fn ids(&self) -> Vec<String> {
        assert_eq!(self.status, 202, "expected 202 with ids, got {self:?}");
        self.json["ids"]
            .as_array()
            .unwrap_or_else(|| panic!("202 without an ids array: {self:?}"))
            .iter()
            .map(|v| v.as_str().expect("id is a string").to_owned())
            .collect()
    }

    /// Panics unless this is a JSON `{"error": "<non-empty text>"}` answer with `status`.
    pub fn assert_error(&self, status: u16) {
        assert_eq!(self.status, status, "unexpected answer {self:?}");
        assert!(
            self.content_type
                .as_deref()
                .is_some_and(|ct| ct.starts_with("application/json")),
            "error answer is not JSON: {self:?}"
        );
        assert!(
            self.json["error"].as_str().is_some_and(|e| !e.is_empty()),
            "error answer without an \"error\" text: {self:?}"
        );
    }
}

/// What a CLI invocation printed.
#[derive(Debug)]
pub struct CliOutput {
    /// Exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl CliOutput {
    /// Panics unless the command exited 0.
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(self.code, Some(0), "command failed: {self:#?}");
        self
    }
}

/// Runs the binary with `args` and waits for it (bounded).
pub async fn dockgate(args: &[&str]) -> CliOutput {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(args)
        .env_remove("DOCKGATE_CONFIG")
        .env_remove("DOCKGATE_ADMIN")
        .env_remove("JOURNAL_STREAM")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("dockgate {args:?} did not finish within 60 s"))
        .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"));
    CliOutput {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A free TCP port on loopback (bound once, then released for the daemon).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("finding a free port")
        .port()
}

/// A running (or stopped) daemon on its own data directory.
pub struct Daemon {
    /// Holds config, data and log; removed when the daemon is dropped, unless the test failed.
    dir: TempDir,
    config_path: PathBuf,
    log_path: PathBuf,
    admin: String,
    child: Option<Child>,
    http: reqwest::Client,
    /// The data directory is a tmpfs this harness mounted.
    data_tmpfs: bool,
    /// `site.data_dir`.
    data_dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Daemon {
    /// Writes the config, starts the daemon and waits until it is ready.
    pub async fn start(setup: Setup) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("dockgate-hil-")
            .tempdir()
            .expect("creating a tempdir");
        let admin = format!("127.0.0.1:{}", free_port());
        let data_dir = setup
            .data_at
            .clone()
            .unwrap_or_else(|| dir.path().join("data"));
        let mut toml = format!(
            "version = 1\n[site]\nid = \"{SITE}\"\ndata_dir = {data:?}\n[admin]\nlisten = \"{admin}\"\n",
            data = data_dir.display().to_string(),
        );
        if let Some(max_body) = &setup.max_body {
            toml.push_str(&format!("max_body = {max_body:?}\n"));
        }
        if let Some(public) = &setup.public_listen {
            toml.push_str(&format!("public_listen = {public:?}\n"));
        }
        for sink in &setup.sinks {
            toml.push_str(&sink.toml());
        }
        toml.push_str("[buffer]\n");
        if let Some(sync) = setup.sync {
            toml.push_str(&format!("sync = {sync:?}\n"));
        }
        if let Some(max_disk) = &setup.max_disk {
            toml.push_str(&format!("max_disk = {max_disk:?}\n"));
        }
        toml.push_str(&setup.extra);
        let config_path = dir.path().join("dockgate.toml");
        std::fs::write(&config_path, toml).expect("writing the config");
        let log_path = dir.path().join("dockgate.log");
        if let Some(size) = &setup.data_tmpfs {
            std::fs::create_dir(&data_dir).expect("creating the data directory");
            mount_tmpfs(&data_dir, size).expect("mounting a tmpfs on the data directory");
        }
        if let Some(buffer) = &setup.buffer {
            std::fs::create_dir_all(&data_dir).expect("creating the data directory");
            std::fs::copy(buffer, data_dir.join("buffer.sqlite")).expect("copying the buffer");
        }
        let mut daemon = Daemon {
            dir,
            config_path,
            log_path,
            admin,
            child: None,
            env: setup.env.clone(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("building an HTTP client"),
            data_tmpfs: setup.data_tmpfs.is_some(),
            data_dir,
        };
        daemon.spawn();
        daemon.wait_ready().await;
        daemon
    }

    /// Base URL of the admin API.
    pub fn base(&self) -> String {
        format!("http://{}", self.admin)
    }

    /// The config file.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The data directory (`site.data_dir`), where the buffer lives.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone()
    }

    /// Process id of the running daemon.
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .map(Child::id)
            .expect("pid: the daemon is not running")
    }

    /// Sends SIGHUP, as `systemctl reload dockgate` does.
    pub fn reload(&self) {
        let status = std::process::Command::new("kill")
            .args(["-HUP", &self.pid().to_string()])
            .status()
            .expect("kill -HUP");
        assert!(status.success(), "kill -HUP: {status}");
    }

    /// Everything the daemon wrote to stderr so far (all runs).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "the daemon is already running");
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("opening the daemon log");
        let _ = writeln!(log, "===== hil: starting dockgate =====");
        let err = log.try_clone().expect("cloning the log file handle");
        let mut command = Command::new(BIN);
        // A proxy of the machine running the tests must not come between dockgate and the
        // stand-ins; a test that wants one sets it.
        for name in PROXY_VARIABLES {
            command.env_remove(name);
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        let child = command
            .arg("--config")
            .arg(&self.config_path)
            .arg("run")
            .env_remove("DOCKGATE_CONFIG")
            .env_remove("DOCKGATE_ADMIN")
            .env_remove("JOURNAL_STREAM")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {BIN}: {e}"));
        self.child = Some(child);
    }

    async fn wait_ready(&mut self) {
        let start = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    panic!("dockgate exited before it was ready ({status})");
                }
            }
            let ready = self
                .http
                .get(format!("{}/ready", self.base()))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ready {
                return;
            }
            assert!(
                start.elapsed() < READY_TIMEOUT,
                "dockgate did not answer /ready within {READY_TIMEOUT:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: the daemon gets no chance to finish anything.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("kill9: the daemon is not running");
        child.kill().expect("sending SIGKILL");
        child.wait().expect("reaping the killed daemon");
    }

    /// SIGTERM, then waits (bounded) for the exit; returns the exit status.
    pub async fn terminate(&mut self) -> ExitStatus {
        let mut child = self
            .child
            .take()
            .expect("terminate: the daemon is not running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("running kill -TERM");
        assert!(status.success(), "kill -TERM failed: {status}");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("waiting for the daemon") {
                return status;
            }
            if start.elapsed() > STOP_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                panic!("dockgate did not exit within {STOP_TIMEOUT:?} of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts the daemon again on the same config and data directory.
    pub async fn restart(&mut self) {
        self.spawn();
        self.wait_ready().await;
    }

    /// A client for the ingest API that can live in another task.
    pub fn ingest_client(&self) -> IngestClient {
        IngestClient {
            http: self.http.clone(),
            base: self.base(),
        }
    }

    /// POSTs raw bytes to `/api/v1/events`.
    pub async fn post_raw(&self, body: Vec<u8>, key: Option<&str>) -> Answer {
        self.ingest_client().post_raw(body, key).await
    }

    /// POSTs events (a JSON object or array) to `/api/v1/events`.
    pub async fn post_events(&self, body: &Value, key: Option<&str>) -> Answer {
        self.post_raw(body.to_string().into_bytes(), key).await
    }

    async fn get_json(&self, path: &str) -> Value {
        let url = format!("{}{path}", self.base());
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url} failed: {e}"));
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert!(status.is_success(), "GET {url} answered {status}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {url}: not JSON ({e}): {text}"))
    }

    /// `GET /api/v1/status`.
    pub async fn status(&self) -> Value {
        self.get_json("/api/v1/status").await
    }

    /// The status entry of one device (`/api/v1/status` `devices[]`).
    pub async fn device(&self, id: &str) -> Value {
        let st = self.status().await;
        st["devices"]
            .as_array()
            .and_then(|a| a.iter().find(|d| d["id"] == id).cloned())
            .unwrap_or_else(|| panic!("no device {id} in status: {st}"))
    }

    /// Waits until sink `name` shows `state`; returns its status entry.
    pub async fn wait_sink_state(&self, name: &str, state: &str) -> Value {
        super::wait_for(
            super::secs(30),
            &format!("sink {name} is {state}"),
            async || {
                let s = self.sink(name).await;
                if s["state"] == state {
                    Ok(s)
                } else {
                    Err(s.to_string())
                }
            },
        )
        .await
    }

    /// The status entry of one sink (`/api/v1/status` `sinks[]`).
    pub async fn sink(&self, name: &str) -> Value {
        let st = self.status().await;
        st["sinks"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["name"] == name).cloned())
            .unwrap_or_else(|| panic!("no sink {name} in status: {st}"))
    }

    /// Quarantined device inputs (`GET /api/v1/events?state=rejected`), oldest first.
    pub async fn rejected(&self) -> Vec<Value> {
        let v = self
            .get_json("/api/v1/events?state=rejected&limit=10000")
            .await;
        v.as_array()
            .cloned()
            .unwrap_or_else(|| panic!("rejected: not an array: {v}"))
    }

    /// `GET /api/v1/events` for a sink and state (up to 10 000 rows).
    pub async fn events(&self, sink: &str, state: &str) -> Vec<Value> {
        let v = self
            .get_json(&format!(
                "/api/v1/events?sink={sink}&state={state}&limit=10000"
            ))
            .await;
        v.as_array()
            .cloned()
            .unwrap_or_else(|| panic!("events: not an array: {v}"))
    }

    /// `POST /api/v1/replay` with `body`; returns the JSON answer (panics unless 200).
    pub async fn replay(&self, body: &Value) -> Value {
        let url = format!("{}/api/v1/replay", self.base());
        let resp = self
            .http
            .post(&url)
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url} failed: {e}"));
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert_eq!(status, 200, "POST {url} {body} answered {status}: {text}");
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("replay answer not JSON ({e}): {text}"))
    }

    /// `GET <path>` as text, with the status.
    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let url = format!("{}{path}", self.base());
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url} failed: {e}"));
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    /// `GET /metrics` as text.
    pub async fn metrics(&self) -> String {
        let (status, text) = self.get_text("/metrics").await;
        assert_eq!(status, 200, "GET /metrics: {text}");
        text
    }

    /// Sum of every sample of metric `name` (all label sets); 0 when absent.
    pub async fn metric_total(&self, name: &str) -> f64 {
        metric_total(&self.metrics().await, name)
    }

    /// Runs a CLI command against this daemon's admin API (`--admin URL ARGS...`).
    pub async fn run_cli(&self, args: &[&str]) -> CliOutput {
        let base = self.base();
        let mut all = vec!["--admin", base.as_str()];
        all.extend_from_slice(args);
        dockgate(&all).await
    }
}

/// `POST /api/v1/events` without a borrow of the [`Daemon`] (for a poster task that keeps
/// going while the test kills and restarts the daemon).
#[derive(Clone)]
pub struct IngestClient {
    http: reqwest::Client,
    base: String,
}

impl IngestClient {
    /// POSTs a body to `/api/v1/events`; transport errors are returned, not panicked on.
    pub async fn try_post(&self, body: Vec<u8>, key: Option<&str>) -> Result<Answer, String> {
        self.try_post_to("/api/v1/events", body, key).await
    }

    /// POSTs one raw input of HTTP device `device` to `/api/v1/ingest/<device>`.
    pub async fn post_device(&self, device: &str, body: Vec<u8>) -> Answer {
        let path = format!("/api/v1/ingest/{device}");
        self.try_post_to(&path, body, None)
            .await
            .unwrap_or_else(|e| panic!("POST {path} failed: {e}"))
    }

    async fn try_post_to(
        &self,
        path: &str,
        body: Vec<u8>,
        key: Option<&str>,
    ) -> Result<Answer, String> {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(key) = key {
            req = req.header("Idempotency-Key", key);
        }
        let resp = req.send().await.map_err(|e| format!("{e:?}"))?;
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let retry_after = header("retry-after");
        let content_type = header("content-type");
        let text = resp.text().await.map_err(|e| format!("{e:?}"))?;
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Answer {
            status,
            retry_after,
            content_type,
            json,
        })
    }

    /// POSTs raw bytes to `/api/v1/events`.
    pub async fn post_raw(&self, body: Vec<u8>, key: Option<&str>) -> Answer {
        self.try_post(body, key)
            .await
            .unwrap_or_else(|e| panic!("POST /api/v1/events failed: {e}"))
    }
}

/// Sum of every sample of metric `name` in Prometheus text; 0 when absent.
pub fn metric_total(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            if !(rest.starts_with('{') || rest.starts_with(' ')) {
                return None;
            }
            l.rsplit(' ').next()?.parse::<f64>().ok()
        })
        .sum()
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // A tmpfs data directory goes with the daemon; a post-mortem keeps the log.
        if self.data_tmpfs {
            let _ = Command::new("umount").arg(self.data_dir()).status();
        }
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let skip = lines.len().saturating_sub(300);
            let mut out = String::new();
            if skip > 0 {
                out.push_str(&format!("... ({skip} earlier lines omitted)\n"));
            }
            for l in &lines[skip..] {
                out.push_str(l);
                out.push('\n');
            }
            eprintln!(
                "----- dockgate log ({}) -----\n{out}----- end of dockgate log -----",
                self.log_path.display()
            );
            // Keep config and buffer for a post-mortem.
            if let Ok(spare) = TempDir::new() {
                let kept = std::mem::replace(&mut self.dir, spare).keep();
                eprintln!("(config and buffer kept in {})", kept.display());
            }
        }
    }
}

/// Creates `path` holding `text` (a helper for config files of CLI tests).
pub fn write_file(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

//! The daemon under test as a child process: its config in a fresh tempdir, readiness, an
//! optional `perf record` of it, and a clean stop.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::figures::bench_tempdir;
use crate::load::{client, SITE};
use crate::Sync;

/// The daemon under test, built by cargo with the bench (release) profile.
const DOCKGATE: &str = env!("CARGO_BIN_EXE_dockgate");

/// The daemon binary: this build's, or `DOCKGATE_BENCH_BIN` (to compare two builds under the
/// same load generator).
pub(crate) fn daemon_binary() -> String {
    std::env::var("DOCKGATE_BENCH_BIN").unwrap_or_else(|_| DOCKGATE.to_owned())
}

pub(crate) struct SinkSpec<'a> {
    pub(crate) url: &'a str,
    pub(crate) batch: usize,
    pub(crate) concurrency: usize,
    /// A template file: the sink sends what it renders (`format = "template"`).
    pub(crate) template: Option<&'a str>,
    /// A JetStream stream: the sink is `type = "nats"` and `url` names the server.
    pub(crate) nats_stream: Option<&'a str>,
}

impl<'a> SinkSpec<'a> {
    /// The bench's sink `erp` at `url`, CloudEvents as they are.
    pub(crate) fn new(url: &'a str, batch: usize, concurrency: usize) -> Self {
        Self {
            url,
            batch,
            concurrency,
            template: None,
            nats_stream: None,
        }
    }
}

pub(crate) struct Daemon {
    child: Child,
    pub(crate) pid: u32,
    pub(crate) admin: String,
    config: PathBuf,
    log: PathBuf,
    dir: tempfile::TempDir,
    perf: Option<Child>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Daemon {
    pub(crate) async fn start(sync: Sync, sink: Option<SinkSpec<'_>>) -> Self {
        let dir = bench_tempdir();
        let port = free_port();
        let mut config = format!(
            "version = 1\n[site]\nid = \"{SITE}\"\ndata_dir = \"{}\"\n\
             [admin]\nlisten = \"127.0.0.1:{port}\"\n\
             [buffer]\nmax_disk = \"16GiB\"\nretention = \"7d\"\nsync = \"{}\"\n",
            dir.path().join("data").display(),
            sync.name()
        );
        if let Some(s) = sink {
            let _ = write!(
                config,
                "[sinks.erp]\nurl = \"{}\"\nbatch_max_events = {}\nconcurrency = {}\n\
                 timeout = \"10s\"\nretry_initial = \"50ms\"\nretry_max = \"200ms\"\n",
                s.url, s.batch, s.concurrency
            );
            if let Some(stream) = s.nats_stream {
                let _ = write!(config, "type = \"nats\"\nstream = \"{stream}\"\n");
            }
            if let Some(t) = s.template {
                let _ = write!(
                    config,
                    "format = \"template\"\ntemplate_file = {t:?}\ncontent_type = \"application/json\"\n"
                );
            }
        }
        let config_path = dir.path().join("dockgate.toml");
        std::fs::write(&config_path, config).expect("write config");
        let log = dir.path().join("daemon.log");
        let child = spawn(&config_path, &log);
        let pid = child.id();
        let mut daemon = Self {
            child,
            pid,
            admin: format!("http://127.0.0.1:{port}"),
            config: config_path,
            log,
            dir,
            perf: None,
        };
        daemon.wait_ready().await;
        daemon
    }

    /// Stops the daemon (SIGTERM) and starts it again on the same data directory; returns how
    /// long the new process took from its start to `/ready`.
    pub(crate) async fn restart(&mut self) -> Duration {
        self.terminate();
        let started = Instant::now();
        self.child = spawn(&self.config, &self.log);
        self.pid = self.child.id();
        self.wait_ready().await;
        started.elapsed()
    }

    /// The data directory.
    pub(crate) fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    async fn wait_ready(&mut self) {
        let client = client();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "dockgate exited ({status}) before ready:\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if let Ok(r) = client.get(format!("{}/ready", self.admin)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "dockgate not ready in 30 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(crate) fn perf_start(&mut self, dir: Option<&Path>, label: &str) {
        let Some(dir) = dir else { return };
        let _ = std::fs::create_dir_all(dir);
        let call_graph = std::env::var("DOCKGATE_BENCH_PERF_CG").unwrap_or_else(|_| "fp".into());
        self.perf = Command::new("perf")
            .args([
                "record",
                "-F",
                "499",
                "--call-graph",
                &call_graph,
                "-q",
                "-o",
            ])
            .arg(dir.join(format!("{label}.data")))
            .args(["-p", &self.pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok();
    }

    pub(crate) fn perf_stop(&mut self) {
        if let Some(mut p) = self.perf.take() {
            let _ = Command::new("kill")
                .args(["-INT", &p.id().to_string()])
                .status();
            let _ = p.wait();
        }
    }

    /// SIGTERM, then wait (a clean stop checkpoints the WAL). The wait is on a blocking
    /// thread: the sink stand-in shares the bench's one runtime thread, and a daemon stopping
    /// with requests in flight (after a TIMEOUT) waits for their answers.
    pub(crate) async fn stop(mut self) {
        let _ = tokio::task::spawn_blocking(move || self.terminate()).await;
    }

    fn terminate(&mut self) {
        self.perf_stop();
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!(
            "dockgate did not stop in 30 s; killing it (data dir {})",
            self.dir.path().display()
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(config: &Path, log: &Path) -> Child {
    Command::new(daemon_binary())
        .arg("--config")
        .arg(config)
        .arg("run")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("start dockgate")
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

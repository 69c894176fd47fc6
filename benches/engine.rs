//! End-to-end benchmark of the real dockgate daemon (see docs/benchmarks.md).
//!
//! `cargo bench --bench engine` builds the release binary, starts it as a child process with a
//! config in a tempdir (fresh data dir per run), runs an HTTP sink in this process, drives
//! `POST /api/v1/events` with a fixed load shape and prints a table. No assertions.
//!
//! Load shape: 200,000 events of ~310 rendered CloudEvent bytes, 5,000 subjects (orders),
//! JSON arrays of 100 per POST, over 2 and then 16 keep-alive connections.
//!
//! Knobs (environment):
//! - `DOCKGATE_BENCH_QUICK=1` (or `-- --quick`): 20,000 events, short latency run.
//! - `DOCKGATE_BENCH_ONLY=ingest,e2e,drain,latency`: run only these scenarios.
//! - `DOCKGATE_BENCH_SYNC=full|normal`: only this buffer sync mode.
//! - `DOCKGATE_BENCH_EVENTS=N`: override the event count.
//! - `DOCKGATE_BENCH_PERF=DIR`: `perf record` the daemon during each measured window
//!   (`DOCKGATE_BENCH_PERF_CG=dwarf` for call graphs of a binary without frame pointers).
//! - `DOCKGATE_BENCH_BIN=PATH`: run that daemon binary instead of this build's.
//! - `DOCKGATE_BENCH_CONCURRENCY=N`: the sink's `concurrency` (default 4, the daemon's default).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use tokio::sync::watch;

/// The daemon under test, built by cargo with the bench (release) profile.
const DOCKGATE: &str = env!("CARGO_BIN_EXE_dockgate");

/// The daemon binary: this build's, or `DOCKGATE_BENCH_BIN` (to compare two builds under the
/// same load generator).
fn daemon_binary() -> String {
    std::env::var("DOCKGATE_BENCH_BIN").unwrap_or_else(|_| DOCKGATE.to_owned())
}
/// Events per POST body.
const PER_REQUEST: usize = 100;
/// Distinct subjects (order numbers).
const ORDERS: usize = 5_000;
/// Target size of one rendered CloudEvent, as the sink receives it.
const EVENT_BYTES: usize = 310;
/// Site id in the config (it appears in every CloudEvent `source`).
const SITE: &str = "wh-bench";
/// Longest wait for a sink to receive everything.
const SINK_WAIT: Duration = Duration::from_secs(180);

// ---------------------------------------------------------------------------------------------
// Settings

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Sync {
    Full,
    Normal,
}

impl Sync {
    fn name(self) -> &'static str {
        match self {
            Sync::Full => "full",
            Sync::Normal => "normal",
        }
    }
}

struct Settings {
    quick: bool,
    events: usize,
    batch1_events: usize,
    latency_secs: u64,
    only: Option<Vec<String>>,
    syncs: Vec<Sync>,
    perf_dir: Option<PathBuf>,
    /// The sink's `concurrency` (the daemon's default, 4, unless set).
    concurrency: usize,
}

impl Settings {
    fn from_env() -> Self {
        let quick = std::env::args().any(|a| a == "--quick")
            || std::env::var("DOCKGATE_BENCH_QUICK").is_ok_and(|v| v == "1");
        let events = std::env::var("DOCKGATE_BENCH_EVENTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(if quick { 20_000 } else { 200_000 });
        let only = std::env::var("DOCKGATE_BENCH_ONLY")
            .ok()
            .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect());
        let syncs = match std::env::var("DOCKGATE_BENCH_SYNC").as_deref() {
            Ok("full") => vec![Sync::Full],
            Ok("normal") => vec![Sync::Normal],
            _ => vec![Sync::Full, Sync::Normal],
        };
        Self {
            quick,
            events,
            batch1_events: (events / 10).max(PER_REQUEST),
            latency_secs: if quick { 5 } else { 20 },
            only,
            syncs,
            perf_dir: std::env::var_os("DOCKGATE_BENCH_PERF").map(PathBuf::from),
            concurrency: std::env::var("DOCKGATE_BENCH_CONCURRENCY")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(4),
        }
    }

    fn wants(&self, scenario: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|s| s == scenario))
    }
}

// ---------------------------------------------------------------------------------------------
// Load: events and POST bodies

/// Length of a rendered CloudEvent without its `data` (as `model::write_cloudevent` renders it,
/// with a 36-character id and a 6-digit sequence).
fn envelope_len(event_type: &str, subject: &str) -> usize {
    format!(
        "{{\"specversion\":\"1.0\",\"id\":\"{}\",\"source\":\"dockgate://{SITE}/api\",\"type\":\"{event_type}\",\
         \"subject\":\"{subject}\",\"time\":\"2025-01-01T00:00:00.000Z\",\"datacontenttype\":\"application/json\",\
         \"sequence\":\"100000\",\"data\":}}",
        "0".repeat(36)
    )
    .len()
}

/// The i-th event as posted: `{"type","subject","data"}`, with `data` padded so the CloudEvent
/// the sink receives is about [`EVENT_BYTES`] long. `sent_us` marks latency probes.
fn event_json(i: usize, sent_us: Option<u64>) -> String {
    let order = i % ORDERS;
    let subject = format!("SO-{order:06}");
    let event_type = match i % 20 {
        0 => "pack.completed",
        1 => "shipment.loaded",
        _ => "pick.confirmed",
    };
    // The CloudEvent envelope takes ~245 of the 310 bytes; `data` gets the rest.
    let mut data = format!(
        "{{\"order\":\"{subject}\",\"gtin\":\"0401234{:07}\",\"qty\":{}",
        i % 9_999_999,
        1 + i % 7
    );
    if let Some(t) = sent_us {
        let _ = write!(data, ",\"sent_us\":{t}");
    }
    let closing = ",\"note\":\"\"}";
    let used = envelope_len(event_type, &subject) + data.len() + closing.len();
    data.push_str(",\"note\":\"");
    data.push_str(&"x".repeat(EVENT_BYTES.saturating_sub(used)));
    data.push_str("\"}");
    format!("{{\"type\":\"{event_type}\",\"subject\":\"{subject}\",\"data\":{data}}}")
}

fn body_of(range: std::ops::Range<usize>, sent_us: Option<u64>) -> Bytes {
    let mut body = String::with_capacity(range.len() * 300 + 2);
    body.push('[');
    for (k, i) in range.enumerate() {
        if k > 0 {
            body.push(',');
        }
        body.push_str(&event_json(i, sent_us));
    }
    body.push(']');
    Bytes::from(body)
}

/// All POST bodies for `n` events, built before any clock starts.
fn bodies(n: usize) -> Arc<Vec<Bytes>> {
    Arc::new(
        (0..n)
            .step_by(PER_REQUEST)
            .map(|start| body_of(start..(start + PER_REQUEST).min(n), None))
            .collect(),
    )
}

// ---------------------------------------------------------------------------------------------
// The sink: an axum server in this process

struct Seen {
    bits: Vec<bool>,
    unique: u64,
}

struct Sink {
    epoch: Instant,
    up: AtomicBool,
    seen: Mutex<Seen>,
    unique_tx: watch::Sender<u64>,
    total: AtomicU64,
    refused: AtomicU64,
    requests: AtomicU64,
    /// Receive time (µs since `epoch`) of the request that brought the last new event.
    last_new_us: AtomicU64,
    latencies_us: Mutex<Vec<u64>>,
}

struct SinkServer {
    state: Arc<Sink>,
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl SinkServer {
    async fn start(epoch: Instant, up: bool) -> Self {
        let (unique_tx, _) = watch::channel(0);
        let state = Arc::new(Sink {
            epoch,
            up: AtomicBool::new(up),
            seen: Mutex::new(Seen {
                bits: Vec::new(),
                unique: 0,
            }),
            unique_tx,
            total: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            last_new_us: AtomicU64::new(0),
            latencies_us: Mutex::new(Vec::new()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind sink");
        let url = format!(
            "http://{}/events",
            listener.local_addr().expect("sink addr")
        );
        let app = Router::new()
            .route("/events", post(sink_handler))
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { state, url, task }
    }

    /// Waits until `n` distinct events arrived; returns their last receive time (µs since
    /// epoch), or None on timeout.
    async fn wait_for(&self, n: u64, limit: Duration) -> Option<u64> {
        let mut rx = self.state.unique_tx.subscribe();
        let reached = matches!(
            tokio::time::timeout(limit, rx.wait_for(|&u| u >= n)).await,
            Ok(Ok(_))
        );
        reached.then(|| self.state.last_new_us.load(Ordering::Acquire))
    }

    fn unique(&self) -> u64 {
        *self.state.unique_tx.borrow()
    }
}

impl Drop for SinkServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Decimal numbers that follow each occurrence of `pat` in `body`.
fn numbers_after<'a>(body: &'a [u8], pat: &'a [u8]) -> impl Iterator<Item = u64> + 'a {
    let mut pos = 0;
    std::iter::from_fn(move || {
        while pos + pat.len() <= body.len() {
            let at = body[pos..]
                .iter()
                .position(|&b| b == pat[0])
                .map(|p| p + pos)?;
            if body[at..].starts_with(pat) {
                let mut n = 0u64;
                let mut i = at + pat.len();
                while i < body.len() && body[i].is_ascii_digit() {
                    n = n * 10 + u64::from(body[i] - b'0');
                    i += 1;
                }
                pos = i;
                return Some(n);
            }
            pos = at + 1;
        }
        None
    })
}

async fn sink_handler(State(s): State<Arc<Sink>>, body: Bytes) -> StatusCode {
    s.requests.fetch_add(1, Ordering::Relaxed);
    if !s.up.load(Ordering::Acquire) {
        s.refused.fetch_add(1, Ordering::Relaxed);
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let now_us = s.epoch.elapsed().as_micros() as u64;
    let mut lat: Vec<u64> = numbers_after(&body, b"\"sent_us\":")
        .map(|sent| now_us.saturating_sub(sent))
        .collect();
    if !lat.is_empty() {
        s.latencies_us
            .lock()
            .expect("latency lock")
            .append(&mut lat);
    }
    let mut n = 0;
    let mut guard = s.seen.lock().expect("seen lock");
    let seen = &mut *guard;
    let before = seen.unique;
    for seq in numbers_after(&body, b"\"sequence\":\"") {
        n += 1;
        let seq = seq as usize;
        if seq >= seen.bits.len() {
            let len = (seq + 1).max(seen.bits.len() * 2);
            seen.bits.resize(len, false);
        }
        if !seen.bits[seq] {
            seen.bits[seq] = true;
            seen.unique += 1;
        }
    }
    s.total.fetch_add(n, Ordering::Relaxed);
    if seen.unique > before {
        s.last_new_us.store(now_us, Ordering::Release);
        s.unique_tx.send_replace(seen.unique);
    }
    StatusCode::OK
}

// ---------------------------------------------------------------------------------------------
// /proc

fn clk_tck() -> f64 {
    static TCK: OnceLock<f64> = OnceLock::new();
    *TCK.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// utime + stime in seconds of a process (`"self"` or a pid) or one of its threads.
fn cpu_seconds(stat_path: &str) -> f64 {
    let Ok(text) = std::fs::read_to_string(stat_path) else {
        return 0.0;
    };
    let Some(rest) = text.rfind(')').map(|i| &text[i + 2..]) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / clk_tck()
}

fn process_cpu(pid: &str) -> f64 {
    cpu_seconds(&format!("/proc/{pid}/stat"))
}

/// Busy CPU seconds of the whole machine (all processes, all CPUs) from /proc/stat.
fn system_busy() -> f64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    // user nice system idle iowait irq softirq steal ...
    let f: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    let busy: f64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .map(|&i| f.get(i).copied().unwrap_or(0.0))
        .sum();
    busy / clk_tck()
}

/// Bytes a process caused to be written to storage (`write_bytes` of /proc/<pid>/io).
fn write_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("write_bytes:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// VmHWM (peak RSS) in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU seconds of the live threads of `pid`, summed by thread name.
fn thread_cpu(pid: u32) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for entry in dir.flatten() {
        let base = entry.path();
        let name = std::fs::read_to_string(base.join("comm"))
            .unwrap_or_default()
            .trim()
            .to_owned();
        let cpu = cpu_seconds(&base.join("stat").to_string_lossy());
        *out.entry(name).or_insert(0.0) += cpu;
    }
    out
}

/// CPU seconds per thread name between two readings, busiest first.
fn diff_threads(a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>) -> Vec<(String, f64)> {
    let mut parts: Vec<(String, f64)> = b
        .iter()
        .map(|(k, v)| (k.clone(), v - a.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, v)| *v > 0.005)
        .collect();
    parts.sort_by(|x, y| y.1.total_cmp(&x.1));
    parts
}

fn threads_text(parts: &[(String, f64)]) -> String {
    parts
        .iter()
        .map(|(k, v)| format!("{k} {v:.2}s"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Filesystem type and device of a directory (longest matching mount point in /proc/mounts).
fn fs_type(dir: &Path) -> String {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 3 && dir.starts_with(f[1]))
                .then(|| (f[1].len(), format!("{} on {}", f[2], f[0])))
        })
        .max_by_key(|(len, _)| *len)
        .map_or_else(|| "?".into(), |(_, t)| t)
}

// ---------------------------------------------------------------------------------------------
// The daemon

struct SinkSpec<'a> {
    url: &'a str,
    batch: usize,
    concurrency: usize,
}

struct Daemon {
    child: Child,
    pid: u32,
    admin: String,
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

fn bench_tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("dockgate-bench-")
        .tempdir()
        .expect("tempdir")
}

impl Daemon {
    async fn start(sync: Sync, sink: Option<SinkSpec<'_>>) -> Self {
        let dir = bench_tempdir();
        let port = free_port();
        let mut config = format!(
            "version = 1\n[site]\nid = \"{SITE}\"\ndata_dir = \"{}\"\n\
             [admin]\nlisten = \"127.0.0.1:{port}\"\n\
             [buffer]\nmax_disk = \"2GiB\"\nretention = \"7d\"\nsync = \"{}\"\n",
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
        }
        let config_path = dir.path().join("dockgate.toml");
        std::fs::write(&config_path, config).expect("write config");
        let log = dir.path().join("daemon.log");
        let child = Command::new(daemon_binary())
            .arg("--config")
            .arg(&config_path)
            .arg("run")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start dockgate");
        let pid = child.id();
        let mut daemon = Self {
            child,
            pid,
            admin: format!("http://127.0.0.1:{port}"),
            log,
            dir,
            perf: None,
        };
        daemon.wait_ready().await;
        daemon
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

    fn cpu(&self) -> f64 {
        process_cpu(&self.pid.to_string())
    }

    fn perf_start(&mut self, dir: Option<&Path>, label: &str) {
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

    fn perf_stop(&mut self) {
        if let Some(mut p) = self.perf.take() {
            let _ = Command::new("kill")
                .args(["-INT", &p.id().to_string()])
                .status();
            let _ = p.wait();
        }
    }

    /// SIGTERM, then wait (a clean stop checkpoints the WAL).
    fn stop(mut self) {
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

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Load generator

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client")
}

/// One keep-alive connection per task: a client with a pool of one.
fn connection() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client")
}

struct Posted {
    first_send: Instant,
    last_ack: Instant,
    ack_ms: Vec<f64>,
    retries: u64,
}

/// POSTs every body over `conns` connections, each sending its next body once the previous
/// one was answered 202.
async fn post_all(admin: &str, bodies: Arc<Vec<Bytes>>, conns: usize) -> Posted {
    let url = Arc::new(format!("{admin}/api/v1/events"));
    let next = Arc::new(AtomicUsize::new(0));
    let retries = Arc::new(AtomicU64::new(0));
    // Open the connections before the clock starts.
    let clients: Vec<reqwest::Client> = (0..conns).map(|_| connection()).collect();
    for c in &clients {
        let _ = c.get(format!("{admin}/health")).send().await;
    }
    let first_send = Instant::now();
    let mut tasks = Vec::new();
    for c in clients {
        let (url, next, bodies, retries) =
            (url.clone(), next.clone(), bodies.clone(), retries.clone());
        tasks.push(tokio::spawn(async move {
            let mut acks = Vec::new();
            let mut last = Instant::now();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                loop {
                    let t = Instant::now();
                    let r = c
                        .post(url.as_str())
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status() == StatusCode::ACCEPTED => {
                            let _ = r.bytes().await;
                            last = Instant::now();
                            acks.push((last - t).as_secs_f64() * 1e3);
                            break;
                        }
                        Ok(r) => {
                            let status = r.status();
                            let text = r.text().await.unwrap_or_default();
                            eprintln!("  POST answered {status}: {text}; retrying");
                        }
                        Err(e) => eprintln!("  POST failed: {e}; retrying"),
                    }
                    retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            (acks, last)
        }));
    }
    let mut ack_ms = Vec::new();
    let mut last_ack = first_send;
    for t in tasks {
        let (acks, last) = t.await.expect("load task");
        ack_ms.extend(acks);
        last_ack = last_ack.max(last);
    }
    Posted {
        first_send,
        last_ack,
        ack_ms,
        retries: retries.load(Ordering::Relaxed),
    }
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

// ---------------------------------------------------------------------------------------------
// Measuring

/// CPU of the daemon and of this process (load generator + sink) over a window.
struct Meter {
    t0: Instant,
    daemon0: f64,
    bench0: f64,
    system0: f64,
    written0: u64,
    threads0: BTreeMap<String, f64>,
    pid: u32,
}

struct Usage {
    wall: f64,
    daemon_cpu: f64,
    bench_cpu: f64,
    /// CPU used by everything else on the machine (other processes, kernel threads).
    other_cpu: f64,
    /// Bytes the daemon wrote to storage.
    written: u64,
    threads: String,
    /// CPU of the ledger's writer thread, the one part of the daemon that cannot spread over
    /// cores.
    writer_cpu: f64,
}

impl Meter {
    fn start(d: &Daemon) -> Self {
        Self {
            t0: Instant::now(),
            daemon0: d.cpu(),
            bench0: process_cpu("self"),
            system0: system_busy(),
            written0: write_bytes(d.pid),
            threads0: thread_cpu(d.pid),
            pid: d.pid,
        }
    }

    fn stop(&self, d: &Daemon) -> Usage {
        let daemon_cpu = d.cpu() - self.daemon0;
        let bench_cpu = process_cpu("self") - self.bench0;
        let system = system_busy() - self.system0;
        let threads = diff_threads(&self.threads0, &thread_cpu(self.pid));
        Usage {
            wall: self.t0.elapsed().as_secs_f64(),
            daemon_cpu,
            bench_cpu,
            other_cpu: (system - daemon_cpu - bench_cpu).max(0.0),
            written: write_bytes(self.pid).saturating_sub(self.written0),
            threads: threads_text(&threads),
            writer_cpu: threads
                .iter()
                .find(|(name, _)| name == "store-writer")
                .map_or(0.0, |(_, cpu)| *cpu),
        }
    }
}

struct Row {
    scenario: String,
    sync: Sync,
    events: usize,
    secs: f64,
    rate: f64,
    usage: Usage,
    rss_mib: f64,
    note: String,
}

/// CPU µs per event of one run, split where it can run in parallel and where it cannot.
#[derive(Clone, Copy)]
struct CpuPerEvent {
    /// The daemon's writer thread.
    writer: f64,
    /// The rest of the daemon: HTTP in and out, reads, rendering.
    rest: f64,
    /// This process: the load generator, or the sink stand-in once the load has been posted.
    bench: f64,
}

#[derive(Default)]
struct Report {
    rows: Vec<Row>,
    figures: BTreeMap<(&'static str, Sync), String>,
    cpu: BTreeMap<(&'static str, Sync), CpuPerEvent>,
    rates: BTreeMap<(&'static str, Sync), f64>,
    rss: BTreeMap<Sync, f64>,
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        key: &'static str,
        scenario: String,
        sync: Sync,
        events: usize,
        secs: f64,
        usage: Usage,
        rss_kib: u64,
        note: String,
    ) {
        let rate = events as f64 / secs;
        let rss_mib = rss_kib as f64 / 1024.0;
        eprintln!(
            "  {scenario} [{}]: {events} events in {secs:.2} s = {rate:.0} ev/s; daemon CPU {:.2} s, \
             bench CPU {:.2} s, other CPU {:.2} s, wall {:.2} s, disk writes {:.0} B/event, peak RSS {rss_mib:.1} MiB {note}",
            sync.name(),
            usage.daemon_cpu,
            usage.bench_cpu,
            usage.other_cpu,
            usage.wall,
            usage.written as f64 / events as f64
        );
        eprintln!("    daemon threads: {}", usage.threads);
        self.figures.insert((key, sync), format!("{rate:.0}"));
        self.rates.insert((key, sync), rate);
        let us = |cpu: f64| cpu * 1e6 / events as f64;
        self.cpu.insert(
            (key, sync),
            CpuPerEvent {
                writer: us(usage.writer_cpu),
                rest: us(usage.daemon_cpu - usage.writer_cpu),
                bench: us(usage.bench_cpu),
            },
        );
        let r = self.rss.entry(sync).or_insert(0.0);
        *r = r.max(rss_mib);
        self.rows.push(Row {
            scenario,
            sync,
            events,
            secs,
            rate,
            usage,
            rss_mib,
            note,
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/// Figure 1: ingest into the committed buffer, no sink configured.
async fn ingest(rep: &mut Report, set: &Settings, sync: Sync, load: &Arc<Vec<Bytes>>) {
    for (key, conns) in [("ingest 2", 2), ("ingest 16", 16)] {
        let mut d = Daemon::start(sync, None).await;
        d.perf_start(
            set.perf_dir.as_deref(),
            &format!("ingest{conns}-{}", sync.name()),
        );
        let m = Meter::start(&d);
        let mut p = post_all(&d.admin, load.clone(), conns).await;
        let usage = m.stop(&d);
        d.perf_stop();
        let secs = (p.last_ack - p.first_send).as_secs_f64();
        let note = format!(
            "(POST->202 p50 {:.1} ms, p99 {:.1} ms{})",
            percentile(&mut p.ack_ms, 0.5),
            percentile(&mut p.ack_ms, 0.99),
            retries_note(p.retries)
        );
        let rss = peak_rss_kib(d.pid);
        rep.add(
            key,
            format!("ingest, no sink, {conns} conns"),
            sync,
            set.events,
            secs,
            usage,
            rss,
            note,
        );
        d.stop();
    }
}

fn retries_note(n: u64) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(", {n} POSTs retried")
    }
}

/// Figure 2: healthy end to end, sink up, batches of 100.
async fn end_to_end(rep: &mut Report, set: &Settings, sync: Sync, load: &Arc<Vec<Bytes>>) {
    for (key, conns) in [("e2e 2", 2), ("e2e 16", 16)] {
        let epoch = Instant::now();
        let sink = SinkServer::start(epoch, true).await;
        let mut d = Daemon::start(
            sync,
            Some(SinkSpec {
                url: &sink.url,
                batch: 100,
                concurrency: set.concurrency,
            }),
        )
        .await;
        d.perf_start(
            set.perf_dir.as_deref(),
            &format!("e2e{conns}-{}", sync.name()),
        );
        let m = Meter::start(&d);
        let p = post_all(&d.admin, load.clone(), conns).await;
        let ingest_secs = (p.last_ack - p.first_send).as_secs_f64();
        let backlog_at_last_ack = set.events as u64 - sink.unique();
        let done = sink.wait_for(set.events as u64, SINK_WAIT).await;
        let usage = m.stop(&d);
        d.perf_stop();
        let (secs, mut note) = match done {
            Some(us) => {
                let end = epoch + Duration::from_micros(us);
                ((end - p.first_send).as_secs_f64(), String::new())
            }
            None => (f64::NAN, format!("(TIMEOUT: {} received)", sink.unique())),
        };
        let _ = write!(
            note,
            "(ingest alone {:.0} ev/s; {backlog_at_last_ack} not yet at the sink at the last 202; \
             {} sink requests, {} duplicates{})",
            set.events as f64 / ingest_secs,
            sink.state.requests.load(Ordering::Relaxed),
            sink.state.total.load(Ordering::Relaxed) - sink.unique(),
            retries_note(p.retries)
        );
        let rss = peak_rss_kib(d.pid);
        rep.add(
            key,
            format!("end to end, batch 100, {conns} conns"),
            sync,
            set.events,
            secs,
            usage,
            rss,
            note,
        );
        d.stop();
    }
}

/// Figure 3: ingest with the sink down (503), then bring it up and time the drain.
async fn drain(rep: &mut Report, set: &Settings, sync: Sync, load: &Arc<Vec<Bytes>>) {
    for (key, batch, events) in [
        ("drain 100", 100, set.events),
        ("drain 1", 1, set.batch1_events),
    ] {
        let load = if events == set.events {
            load.clone()
        } else {
            bodies(events)
        };
        let epoch = Instant::now();
        let sink = SinkServer::start(epoch, false).await;
        let mut d = Daemon::start(
            sync,
            Some(SinkSpec {
                url: &sink.url,
                batch,
                concurrency: set.concurrency,
            }),
        )
        .await;
        let m = Meter::start(&d);
        let p = post_all(&d.admin, load, 16).await;
        let usage = m.stop(&d);
        let secs = (p.last_ack - p.first_send).as_secs_f64();
        if batch == 100 {
            let rss = peak_rss_kib(d.pid);
            rep.add(
                "ingest 16 sink down",
                "ingest, 1 sink down (503), 16 conns".into(),
                sync,
                events,
                secs,
                usage,
                rss,
                format!(
                    "({} refused sink requests meanwhile{})",
                    sink.state.refused.load(Ordering::Relaxed),
                    retries_note(p.retries)
                ),
            );
        }

        d.perf_start(
            set.perf_dir.as_deref(),
            &format!("drain{batch}-{}", sync.name()),
        );
        let m = Meter::start(&d);
        let up_at = Instant::now();
        sink.state.up.store(true, Ordering::Release);
        let done = sink.wait_for(events as u64, SINK_WAIT).await;
        let usage = m.stop(&d);
        d.perf_stop();
        let (secs, mut note) = match done {
            Some(us) => (
                (epoch + Duration::from_micros(us) - up_at).as_secs_f64(),
                String::new(),
            ),
            None => (f64::NAN, format!("(TIMEOUT: {} received)", sink.unique())),
        };
        let _ = write!(
            note,
            "({} sink requests, {} duplicates)",
            sink.state.requests.load(Ordering::Relaxed)
                - sink.state.refused.load(Ordering::Relaxed),
            sink.state.total.load(Ordering::Relaxed) - sink.unique()
        );
        let rss = peak_rss_kib(d.pid);
        rep.add(
            key,
            format!("drain after outage, batch {batch}"),
            sync,
            events,
            secs,
            usage,
            rss,
            note,
        );
        d.stop();
    }
}

/// Figure 4: ingest-to-sink latency at a steady 1,000 events/s (10 events every 10 ms).
async fn latency(rep: &mut Report, set: &Settings, sync: Sync) {
    let epoch = Instant::now();
    let sink = SinkServer::start(epoch, true).await;
    let d = Daemon::start(
        sync,
        Some(SinkSpec {
            url: &sink.url,
            batch: 100,
            concurrency: set.concurrency,
        }),
    )
    .await;
    let url = Arc::new(format!("{}/api/v1/events", d.admin));
    let c = client();
    let _ = c.get(format!("{}/health", d.admin)).send().await;
    let ticks = set.latency_secs * 100;
    let total = ticks as usize * 10;
    let m = Meter::start(&d);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut posts = Vec::with_capacity(ticks as usize);
    for k in 0..ticks as usize {
        tick.tick().await;
        let (c, url) = (c.clone(), url.clone());
        posts.push(tokio::spawn(async move {
            let t = Instant::now();
            let sent = epoch.elapsed().as_micros() as u64;
            let body = body_of(k * 10..k * 10 + 10, Some(sent));
            match c.post(url.as_str()).body(body).send().await {
                Ok(r) if r.status() == StatusCode::ACCEPTED => {
                    let _ = r.bytes().await;
                    Some(t.elapsed().as_secs_f64() * 1e3)
                }
                _ => None,
            }
        }));
    }
    let mut acks = Vec::new();
    let mut failed = 0;
    for p in posts {
        match p.await.ok().flatten() {
            Some(ms) => acks.push(ms),
            None => failed += 1,
        }
    }
    let done = sink.wait_for(total as u64, Duration::from_secs(30)).await;
    let usage = m.stop(&d);
    let mut lat: Vec<f64> = sink
        .state
        .latencies_us
        .lock()
        .expect("latency lock")
        .iter()
        .map(|&us| us as f64 / 1e3)
        .collect();
    let (p50, p99, max) = (
        percentile(&mut lat, 0.5),
        percentile(&mut lat, 0.99),
        percentile(&mut lat, 1.0),
    );
    let note = format!(
        "(ingest-to-sink p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms; POST->202 p50 {:.1} ms, \
         p99 {:.1} ms; {} sink requests{}{})",
        percentile(&mut acks, 0.5),
        percentile(&mut acks, 0.99),
        sink.state.requests.load(Ordering::Relaxed),
        if failed > 0 {
            format!(", {failed} POSTs failed")
        } else {
            String::new()
        },
        if done.is_none() { ", TIMEOUT" } else { "" }
    );
    rep.figures
        .insert(("latency", sync), format!("{p50:.1} / {p99:.1} ms"));
    rep.rates.insert(("latency p50", sync), p50);
    rep.rates.insert(("latency p99", sync), p99);
    let rss = peak_rss_kib(d.pid);
    let secs = set.latency_secs as f64;
    rep.add(
        "steady 1000/s",
        "steady 1,000 ev/s, batch 100".into(),
        sync,
        total,
        secs,
        usage,
        rss,
        note,
    );
    d.stop();
}

/// Figure 6: one SQLite commit (WAL, synchronous=FULL, one row) on the data dir's filesystem.
fn commit_time(sync: &str, n: usize) -> (f64, f64) {
    let dir = bench_tempdir();
    let conn = rusqlite::Connection::open(dir.path().join("probe.sqlite")).expect("open probe");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", sync).expect("sync");
    conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        .expect("table");
    let row = "x".repeat(300);
    let mut times = Vec::with_capacity(n);
    for i in 0..(n + 20) {
        let t = Instant::now();
        conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
        conn.execute("INSERT INTO t (v) VALUES (?1)", [&row])
            .expect("insert");
        conn.execute_batch("COMMIT").expect("commit");
        if i >= 20 {
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    (percentile(&mut times, 0.5), mean)
}

// ---------------------------------------------------------------------------------------------

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "?".into());
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let dir = bench_tempdir();
    format!(
        "{nproc} CPUs ({cpu}), data dir under {} ({}), CLK_TCK {}",
        dir.path().parent().unwrap_or(Path::new("/")).display(),
        fs_type(dir.path()),
        clk_tck()
    )
}

#[tokio::main]
async fn main() {
    let set = Settings::from_env();
    let started = Instant::now();
    println!(
        "dockgate engine bench{}: {} events x ~{EVENT_BYTES} B, {PER_REQUEST}/POST, {ORDERS} subjects, \
         sink concurrency {}",
        if set.quick { " (quick)" } else { "" },
        set.events,
        set.concurrency
    );
    println!("binary: {}", daemon_binary());
    println!("machine: {}", machine());
    println!(
        "load average before: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let sample = event_json(12_345, None);
    println!(
        "event as posted: {} B; rendered CloudEvent ~{} B",
        sample.len(),
        sample.len() - "{\"type\":\"pick.confirmed\",\"subject\":\"SO-002345\",\"data\":}".len()
            + envelope_len("pick.confirmed", "SO-002345")
    );

    let (start_p50, start_mean) = commit_time("FULL", 500);
    let (normal_p50, _) = commit_time("NORMAL", 500);
    eprintln!(
        "commit time (WAL, 1 row): FULL p50 {start_p50:.3} ms, mean {start_mean:.3} ms; NORMAL p50 {normal_p50:.3} ms"
    );

    let load = bodies(set.events);
    let mut rep = Report::default();
    for &sync in &set.syncs {
        eprintln!("== sync = {}", sync.name());
        if set.wants("ingest") {
            ingest(&mut rep, &set, sync, &load).await;
        }
        if set.wants("e2e") {
            end_to_end(&mut rep, &set, sync, &load).await;
        }
        if set.wants("drain") {
            drain(&mut rep, &set, sync, &load).await;
        }
        if set.wants("latency") {
            latency(&mut rep, &set, sync).await;
        }
    }

    println!();
    println!(
        "| run | sync | events | s | events/s | daemon CPU s | bench CPU s | other CPU s | \
         daemon disk writes B/event | daemon peak RSS MiB | notes |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for r in &rep.rows {
        println!(
            "| {} | {} | {} | {:.2} | {:.0} | {:.2} | {:.2} | {:.2} | {:.0} | {:.1} | {} |",
            r.scenario,
            r.sync.name(),
            r.events,
            r.secs,
            r.rate,
            r.usage.daemon_cpu,
            r.usage.bench_cpu,
            r.usage.other_cpu,
            r.usage.written as f64 / r.events as f64,
            r.rss_mib,
            r.note
        );
    }
    println!();
    println!("daemon CPU by thread (measured window):");
    for r in &rep.rows {
        println!("  {} [{}]: {}", r.scenario, r.sync.name(), r.usage.threads);
    }

    println!();
    println!("| figure | FULL | NORMAL |");
    println!("|---|---:|---:|");
    let get = |k: &'static str, s: Sync| {
        rep.figures
            .get(&(k, s))
            .cloned()
            .unwrap_or_else(|| "-".into())
    };
    for (k, label) in [
        ("ingest 2", "ingest ev/s, 2 conns (no sink)"),
        ("ingest 16", "ingest ev/s, 16 conns (no sink)"),
        (
            "ingest 16 sink down",
            "ingest ev/s, 16 conns (1 sink, down)",
        ),
        ("e2e 2", "end to end ev/s, 2 conns"),
        ("e2e 16", "end to end ev/s, 16 conns"),
        ("drain 100", "drain ev/s, batch 100"),
        ("drain 1", "drain ev/s, batch 1"),
        ("latency", "ingest-to-sink p50 / p99 at 1,000 ev/s"),
    ] {
        let label = if k == "drain 1" {
            format!("{label} ({} events)", set.batch1_events)
        } else {
            label.to_owned()
        };
        println!(
            "| {label} | {} | {} |",
            get(k, Sync::Full),
            get(k, Sync::Normal)
        );
    }
    let rss = |s: Sync| {
        rep.rss
            .get(&s)
            .map_or_else(|| "-".into(), |v| format!("{v:.1}"))
    };
    println!(
        "| peak RSS MiB (max over runs) | {} | {} |",
        rss(Sync::Full),
        rss(Sync::Normal)
    );

    // The disk's commit time drifts (shared virtual disk): measure again and use both.
    let (end_p50, end_mean) = commit_time("FULL", 500);
    let commit_mean = (start_mean + end_mean) / 2.0;
    println!();
    println!(
        "one commit (WAL, synchronous=FULL, 1 row, 500 commits): before the runs p50 {start_p50:.3} ms, \
         mean {start_mean:.3} ms; after p50 {end_p50:.3} ms, mean {end_mean:.3} ms; \
         used {commit_mean:.3} ms (NORMAL: p50 {normal_p50:.3} ms)"
    );
    for (conns, key) in [(2usize, "ingest 2"), (16, "ingest 16")] {
        let bound = (conns * PER_REQUEST) as f64 / (commit_mean / 1e3);
        let reached = rep
            .rates
            .get(&(key, Sync::Full))
            .map_or_else(|| "-".into(), |r| format!("{:.0}%", 100.0 * r / bound));
        println!(
            "fsync bound, {conns} conns = {conns} in flight x {PER_REQUEST} events / {commit_mean:.3} ms \
             = {bound:.0} ev/s; FULL ingest reached {reached}"
        );
    }
    print_ceilings(&rep);
    println!("total bench time: {:.0} s", started.elapsed().as_secs_f64());
}

/// CPU per event of each run, and what the measured parts allow on this machine's cores: the
/// daemon, the load generator and the sink share them, so no layout of the ledger can go faster
/// than the work that stays once delivery records cost nothing.
fn print_ceilings(rep: &Report) {
    println!();
    println!("CPU per event, µs (writer thread / rest of the daemon / bench process):");
    for ((key, sync), c) in &rep.cpu {
        println!(
            "  {key} [{}]: {:.1} / {:.1} / {:.1}",
            sync.name(),
            c.writer,
            c.rest,
            c.bench
        );
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    for sync in [Sync::Full, Sync::Normal] {
        let (Some(ingest), Some(drain)) = (
            rep.cpu.get(&("ingest 2", sync)),
            rep.cpu.get(&("drain 100", sync)),
        ) else {
            continue;
        };
        // Taking an event in and committing it (ingest without a sink, generator included),
        // plus reading, rendering and sending it and the sink taking it (drain, writer left out).
        let take_in = ingest.writer + ingest.rest + ingest.bench;
        let send_on = drain.rest + drain.bench;
        println!(
            "ceiling on {cores} cores [{}], delivery records free: end to end {:.0} ev/s \
             (take in {take_in:.1} µs + send on {send_on:.1} µs per event); drain {:.0} ev/s \
             (send on {send_on:.1} µs)",
            sync.name(),
            cores * 1e6 / (take_in + send_on),
            cores * 1e6 / send_on
        );
    }
}

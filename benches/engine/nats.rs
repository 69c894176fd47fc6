//! The NATS sink beside the HTTP one: the same load end to end and drained after an outage,
//! through a real `nats-server` with JetStream (a child process on a free port, its store in
//! a tempdir). The stream's message count is what arrived (the stream drops duplicates by
//! `Nats-Msg-Id`); the server's own CPU is noted beside the daemon's.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;

use crate::daemon::{Daemon, SinkSpec};
use crate::figures::{bench_tempdir, peak_rss_kib, process_cpu, Meter};
use crate::load::post_all;
use crate::report::Report;
use crate::{Settings, Sync};

const STREAM: &str = "DOCKGATE";
/// Longest wait for the stream to hold everything.
const WAIT: Duration = Duration::from_secs(180);

/// A JetStream server of the bench's own.
struct Server {
    child: Option<Child>,
    port: u16,
    store: tempfile::TempDir,
}

impl Server {
    /// Starts the server and creates the stream; `None` (with a note) without nats-server.
    async fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .ok()?;
        let mut s = Self {
            child: None,
            port,
            store: bench_tempdir(),
        };
        s.spawn()?;
        let js = s.connect().await?;
        js.create_stream(async_nats::jetstream::stream::Config {
            name: STREAM.into(),
            subjects: vec!["dockgate.>".into()],
            ..Default::default()
        })
        .await
        .expect("create the bench stream");
        Some(s)
    }

    fn spawn(&mut self) -> Option<()> {
        let child = Command::new(binary()?)
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(self.store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        Some(())
    }

    async fn connect(&self) -> Option<async_nats::jetstream::Context> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match async_nats::connect(self.url()).await {
                Ok(c) => return Some(async_nats::jetstream::new(c)),
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Err(e) => panic!("nats-server on {} did not come up: {e}", self.url()),
            }
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits until the stream holds `n` messages; returns when it did, or `None`.
    async fn wait_for(&self, js: &async_nats::jetstream::Context, n: u64) -> Option<Instant> {
        let deadline = Instant::now() + WAIT;
        let mut stream = js.get_stream(STREAM).await.ok()?;
        while Instant::now() < deadline {
            if let Ok(info) = stream.info().await {
                if info.state.messages >= n {
                    return Some(Instant::now());
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        None
    }

    async fn messages(&self, js: &async_nats::jetstream::Context) -> u64 {
        match js.get_stream(STREAM).await {
            Ok(mut s) => s.info().await.map_or(0, |i| i.state.messages),
            Err(_) => 0,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn binary() -> Option<PathBuf> {
    ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// End to end through a NATS sink (batch 100, 2 conns), then ingest with the server down and
/// the drain once it is back: the figures `nats e2e 2` and `nats drain 100`.
pub(crate) async fn nats(rep: &mut Report, set: &Settings, sync: Sync, load: &Arc<Vec<Bytes>>) {
    let Some(mut server) = Server::start().await else {
        eprintln!("nats: SKIPPED, no nats-server (apt-get install nats-server)");
        return;
    };
    let url = server.url();
    let spec = || SinkSpec {
        nats_stream: Some(STREAM),
        ..SinkSpec::new(&url, 100, set.concurrency)
    };

    // End to end.
    let mut d = Daemon::start(sync, Some(spec())).await;
    let Some(js) = server.connect().await else {
        return;
    };
    d.perf_start(
        set.perf_dir.as_deref(),
        &format!("nats-e2e2-{}", sync.name()),
    );
    let m = Meter::start(d.pid);
    let server_cpu0 = process_cpu(&server.pid().to_string());
    let p = post_all(&d.admin, load.clone(), 2).await;
    let window = Window {
        key: "nats e2e 2",
        scenario: "end to end, NATS sink, batch 100, 2 conns",
        from: p.first_send,
        note: "",
    };
    window
        .measure(rep, set, sync, &server, &js, &mut d, &m, server_cpu0)
        .await;
    d.stop().await;
    drop(js);

    // Drain after an outage: a fresh server and stream, stopped while the load is ingested.
    server.stop();
    let Some(mut server) = Server::start().await else {
        return;
    };
    let url = server.url();
    let spec = SinkSpec {
        nats_stream: Some(STREAM),
        ..SinkSpec::new(&url, 100, set.concurrency)
    };
    let mut d = Daemon::start(sync, Some(spec)).await;
    server.stop();
    let _ = post_all(&d.admin, load.clone(), 16).await;
    d.perf_start(
        set.perf_dir.as_deref(),
        &format!("nats-drain100-{}", sync.name()),
    );
    if server.spawn().is_none() {
        return;
    }
    let server_cpu0 = process_cpu(&server.pid().to_string());
    let Some(js) = server.connect().await else {
        return;
    };
    // From when the server takes connections again (its JetStream recovery is its own).
    let m = Meter::start(d.pid);
    let window = Window {
        key: "nats drain 100",
        scenario: "drain after outage, NATS sink, batch 100",
        from: Instant::now(),
        note: "from the server's return; ",
    };
    window
        .measure(rep, set, sync, &server, &js, &mut d, &m, server_cpu0)
        .await;
    d.stop().await;
}

/// One measured window: from `from` until the stream holds the whole load.
struct Window {
    key: &'static str,
    scenario: &'static str,
    from: Instant,
    /// Put before the server's CPU in the row's note.
    note: &'static str,
}

impl Window {
    /// Waits for the stream to hold the load and adds the row, with the server's CPU per event
    /// since `server_cpu0`.
    #[allow(clippy::too_many_arguments)]
    async fn measure(
        &self,
        rep: &mut Report,
        set: &Settings,
        sync: Sync,
        server: &Server,
        js: &async_nats::jetstream::Context,
        d: &mut Daemon,
        m: &Meter,
        server_cpu0: f64,
    ) {
        let done = server.wait_for(js, set.events as u64).await;
        let usage = m.stop();
        let server_cpu = process_cpu(&server.pid().to_string()) - server_cpu0;
        d.perf_stop();
        let secs = done.map_or(f64::NAN, |t| (t - self.from).as_secs_f64());
        let note = match done {
            Some(_) => format!(
                "({}nats-server CPU {:.1} µs/ev)",
                self.note,
                server_cpu * 1e6 / set.events as f64
            ),
            None => format!("(TIMEOUT: {} in the stream)", server.messages(js).await),
        };
        rep.add(
            self.key,
            self.scenario.into(),
            sync,
            set.events,
            secs,
            usage,
            peak_rss_kib(d.pid),
            note,
        );
    }
}

//! The daemon under the demo: `dockgate run`'s own startup and wiring ([`crate::app`]) on the
//! demo's configuration, in this process, stopped when the demo says; and what the demo reads
//! of it, through its admin API as any client would.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::app::{self, Stop};

/// Most rows one `GET /api/v1/events` returns (the admin API's own cap).
pub const MAX_LIST: usize = 10_000;

/// How long the daemon may take to open its buffer and listen.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// The parts of `/api/v1/status` the demo shows.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StatusView {
    /// The buffer.
    pub buffer: BufferView,
    /// Each sink.
    pub sinks: Vec<SinkView>,
    /// Each device.
    #[serde(default)]
    pub devices: Vec<DeviceView>,
}

/// The buffer part of [`StatusView`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct BufferView {
    /// Last sequence number handed out.
    pub last_sequence: i64,
}

/// One sink of [`StatusView`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SinkView {
    /// Sink name.
    pub name: String,
    /// Pending events.
    pub pending: u64,
    /// Held behind a dead letter.
    pub held: u64,
    /// Dead letters.
    pub dead: u64,
    /// `ok`, `retrying` or `paused`.
    pub state: String,
}

impl SinkView {
    /// Events waiting for the sink.
    pub fn backlog(&self) -> u64 {
        self.pending + self.held
    }
}

/// One device of [`StatusView`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeviceView {
    /// Device id.
    pub id: String,
    /// Connected.
    pub up: bool,
    /// Inputs read.
    pub inputs: u64,
}

/// One row of `GET /api/v1/events`.
#[derive(Debug, Clone, Deserialize)]
pub struct EventView {
    /// Event id.
    pub id: String,
    /// Event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Delivery state on the sink.
    pub state: String,
}

/// One quarantined input.
#[derive(Debug, Clone, Deserialize)]
pub struct RejectedView {
    /// Device id.
    pub device: String,
    /// Machine reason.
    pub reason: String,
}

/// The running daemon.
pub struct Daemon {
    base: String,
    client: reqwest::Client,
    stop: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Daemon {
    /// Starts the daemon on `config` and waits until its buffer is open and its admin API
    /// answers at `base` (`http://host:port`).
    pub async fn start(config: &Path, base: String) -> anyhow::Result<Daemon> {
        let path = config.to_owned();
        let (startup, local_problem) =
            tokio::task::spawn_blocking(move || crate::control::config_push::startup(&path))
                .await?
                .map_err(|e| anyhow::anyhow!("the demo's configuration: {e}"))?;
        let stop = CancellationToken::new();
        let task = tokio::spawn(app::run_until(
            startup,
            local_problem,
            config.to_owned(),
            Stop::Token(stop.clone()),
        ));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let mut daemon = Daemon {
            base,
            client,
            stop,
            task,
        };
        let deadline = tokio::time::Instant::now() + READY_WITHIN;
        loop {
            if daemon.task.is_finished() {
                return match (&mut daemon.task).await {
                    Ok(Ok(())) => bail!("the daemon stopped before it was ready"),
                    Ok(Err(e)) => Err(e.context("starting the daemon")),
                    Err(e) => Err(anyhow::Error::new(e).context("starting the daemon")),
                };
            }
            let ready = daemon
                .client
                .get(format!("{}/ready", daemon.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Ok(daemon);
            }
            if tokio::time::Instant::now() > deadline {
                bail!("the daemon was not ready within {READY_WITHIN:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .client
            .get(&url)
            .send()
            .await
            .with_context(|| format!("asking the daemon GET {path}"))?;
        let status = resp.status();
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            bail!("GET {path} answered {status}: {text}");
        }
        resp.json()
            .await
            .with_context(|| format!("reading the answer to GET {path}"))
    }

    /// `/api/v1/status`.
    pub async fn status(&self) -> anyhow::Result<StatusView> {
        self.get("/api/v1/status").await
    }

    /// Every event the ledger committed for `sink`, in every state.
    pub async fn events(&self, sink: &str) -> anyhow::Result<Vec<EventView>> {
        let rows: Vec<EventView> = self
            .get(&format!("/api/v1/events?sink={sink}&limit={MAX_LIST}"))
            .await?;
        if rows.len() >= MAX_LIST {
            bail!("sink {sink} has {MAX_LIST} events or more: too many to compare one by one");
        }
        Ok(rows)
    }

    /// The quarantined inputs.
    pub async fn rejected(&self) -> anyhow::Result<Vec<RejectedView>> {
        self.get(&format!("/api/v1/events?state=rejected&limit={MAX_LIST}"))
            .await
    }

    /// Sends one input of an HTTP device, as local software does; `Ok` once committed.
    pub async fn ingest(&self, device: &str, body: Vec<u8>) -> anyhow::Result<()> {
        let resp = self
            .client
            .post(format!("{}/api/v1/ingest/{device}", self.base))
            .body(body)
            .send()
            .await
            .with_context(|| format!("posting an input of {device}"))?;
        let status = resp.status();
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            bail!("the input of {device} was answered {status}: {text}");
        }
        Ok(())
    }

    /// Stops the daemon in order (sources, commits, requests in flight, the ledger) and waits.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.task.await.context("the daemon's task")?
    }
}

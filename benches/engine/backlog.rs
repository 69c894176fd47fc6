//! Figure 5 (only with `DOCKGATE_BENCH_ONLY=backlog`; minutes long): a large backlog. With the
//! sink down, `DOCKGATE_BENCH_BACKLOG` events (default 10,000,000) are posted; then the buffer's
//! bytes per event, the time a restart takes to `/ready`, the cost of one status read, and the
//! peak RSS while the backlog waits and through the first seconds of its drain.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::daemon::{Daemon, SinkSpec};
use crate::figures::peak_rss_kib;
use crate::load::{bodies, client, post_all, PER_REQUEST};
use crate::sink::SinkServer;
use crate::{Settings, Sync};

/// Events posted per round; the round's bodies are posted again until the backlog is reached
/// (the daemon gives every event its own id and sequence number all the same).
const ROUND: usize = 200_000;

/// How long the drain is watched.
const DRAIN_WATCH: Duration = Duration::from_secs(10);

pub(crate) async fn backlog(set: &Settings, sync: Sync) {
    let total: usize = std::env::var("DOCKGATE_BENCH_BACKLOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let sink = SinkServer::start(Instant::now(), false).await;
    let mut d = Daemon::start(sync, Some(SinkSpec::new(&sink.url, 100, set.concurrency))).await;
    let load = bodies(ROUND.min(total));
    let started = Instant::now();
    let mut posted = 0;
    while posted < total {
        let n = (total - posted).div_ceil(PER_REQUEST);
        let round = Arc::new(load.iter().take(n).cloned().collect::<Vec<_>>());
        post_all(&d.admin, round, 16).await;
        posted += (n * PER_REQUEST).min(ROUND);
    }
    let ingest = started.elapsed().as_secs_f64();
    let rss_ingest = peak_rss_kib(d.pid);
    let ready = d.restart().await;
    let bytes = dir_bytes(&d.data_dir());
    let client = client();
    let t = Instant::now();
    let status = client
        .get(format!("{}/api/v1/status", d.admin))
        .send()
        .await
        .expect("status");
    let status_ms = t.elapsed().as_secs_f64() * 1000.0;
    assert!(status.status().is_success(), "status: {}", status.status());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_waiting = peak_rss_kib(d.pid);
    let before = sink.state.total.load(Ordering::Acquire);
    sink.state.up.store(true, Ordering::Release);
    tokio::time::sleep(DRAIN_WATCH).await;
    let drained = sink.state.total.load(Ordering::Acquire) - before;
    let rss_drain = peak_rss_kib(d.pid);
    println!(
        "\nbacklog ({}): {posted} events posted in {ingest:.0} s with the sink down \
         (peak RSS {:.1} MB)",
        sync.name(),
        rss_ingest as f64 / 1024.0
    );
    println!(
        "  on disk: {:.0} MB, {:.0} B per event",
        bytes as f64 / 1e6,
        bytes as f64 / posted as f64
    );
    println!(
        "  restart to /ready: {:.0} ms; one status read: {status_ms:.0} ms",
        ready.as_secs_f64() * 1000.0
    );
    println!(
        "  peak RSS after the restart, backlog waiting: {:.1} MB; after {} s of drain \
         ({drained} events sent, {:.0} ev/s): {:.1} MB",
        rss_waiting as f64 / 1024.0,
        DRAIN_WATCH.as_secs(),
        drained as f64 / DRAIN_WATCH.as_secs_f64(),
        rss_drain as f64 / 1024.0
    );
    d.stop().await;
}

/// Bytes of the files in `dir` (the buffer, its WAL and shared memory).
fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

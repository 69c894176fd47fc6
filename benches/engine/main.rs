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
//! - `DOCKGATE_BENCH_ONLY=ingest,e2e,template,drain,nats,latency`: run only these scenarios
//!   (`template`: end to end through a template sink, `flat-batch.json.j2`; `nats`: end to
//!   end and drain through a NATS JetStream sink, a `nats-server` of its own). `backlog` (never
//!   run by default, minutes long): a restart and the memory with a large backlog waiting,
//!   `DOCKGATE_BENCH_BACKLOG=N` events (default 10,000,000).
//! - `DOCKGATE_BENCH_SYNC=full|normal`: only this buffer sync mode.
//! - `DOCKGATE_BENCH_EVENTS=N`: override the event count.
//! - `DOCKGATE_BENCH_PERF=DIR`: `perf record` the daemon during each measured window
//!   (`DOCKGATE_BENCH_PERF_CG=dwarf` for call graphs of a binary without frame pointers).
//! - `DOCKGATE_BENCH_BIN=PATH`: run that daemon binary instead of this build's.
//! - `DOCKGATE_BENCH_CONCURRENCY=N`: the sink's `concurrency` (default 4, the daemon's default).

mod backlog;
mod daemon;
mod figures;
mod load;
mod nats;
mod report;
mod scenarios;
mod sink;

use std::path::PathBuf;
use std::time::Instant;

use daemon::daemon_binary;
use figures::{commit_time, machine};
use load::{bodies, envelope_len, event_json, EVENT_BYTES, ORDERS, PER_REQUEST};
use report::{print_ceilings, Report};
use scenarios::{drain, end_to_end, ingest, latency};

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

// One thread: the load generator and the sink stand-in cost the least CPU per event that way
// (no wake-ups across threads), and what the bench costs counts against the machine's two cores.
#[tokio::main(flavor = "current_thread")]
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
            end_to_end(&mut rep, &set, sync, &load, false).await;
        }
        if set.wants("template") {
            end_to_end(&mut rep, &set, sync, &load, true).await;
        }
        if set.wants("drain") {
            drain(&mut rep, &set, sync, &load).await;
        }
        if set.wants("nats") {
            nats::nats(&mut rep, &set, sync, &load).await;
        }
        if set.wants("latency") {
            latency(&mut rep, &set, sync).await;
        }
        if set
            .only
            .as_ref()
            .is_some_and(|o| o.iter().any(|s| s == "backlog"))
        {
            backlog::backlog(&set, sync).await;
        }
    }

    rep.print_runs();
    rep.print_figures(set.batch1_events);

    // The disk's commit time drifts (shared virtual disk): measure again and use both.
    let full_after = commit_time("FULL", 500);
    rep.print_fsync_bounds((start_p50, start_mean), full_after, normal_p50);
    print_ceilings(&rep);
    println!("total bench time: {:.0} s", started.elapsed().as_secs_f64());
}

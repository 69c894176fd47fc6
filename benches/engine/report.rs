//! The results: one row per run, the figures by sync mode, and the printed tables.

use std::collections::BTreeMap;

use crate::figures::{CpuPerEvent, Usage};
use crate::load::PER_REQUEST;
use crate::Sync;

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

#[derive(Default)]
pub(crate) struct Report {
    rows: Vec<Row>,
    pub(crate) figures: BTreeMap<(&'static str, Sync), String>,
    cpu: BTreeMap<(&'static str, Sync), CpuPerEvent>,
    pub(crate) rates: BTreeMap<(&'static str, Sync), f64>,
    rss: BTreeMap<Sync, f64>,
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add(
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

    /// One row per run, then where the daemon's CPU went in each.
    pub(crate) fn print_runs(&self) {
        println!();
        println!(
            "| run | sync | events | s | events/s | daemon CPU s | bench CPU s | other CPU s | \
             daemon disk writes B/event | daemon peak RSS MiB | notes |"
        );
        println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        for r in &self.rows {
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
        for r in &self.rows {
            println!("  {} [{}]: {}", r.scenario, r.sync.name(), r.usage.threads);
        }
    }

    /// The figures as docs/benchmarks.md lists them, FULL beside NORMAL.
    pub(crate) fn print_figures(&self, batch1_events: usize) {
        println!();
        println!("| figure | FULL | NORMAL |");
        println!("|---|---:|---:|");
        let get = |k: &'static str, s: Sync| {
            self.figures
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
            ("e2e 2 template", "end to end ev/s, 2 conns, template sink"),
            ("drain 100", "drain ev/s, batch 100"),
            ("drain 1", "drain ev/s, batch 1"),
            ("nats e2e 2", "end to end ev/s, 2 conns, NATS sink"),
            ("nats drain 100", "drain ev/s, batch 100, NATS sink"),
            ("latency", "ingest-to-sink p50 / p99 at 1,000 ev/s"),
        ] {
            let label = if k == "drain 1" {
                format!("{label} ({batch1_events} events)")
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
            self.rss
                .get(&s)
                .map_or_else(|| "-".into(), |v| format!("{v:.1}"))
        };
        println!(
            "| peak RSS MiB (max over runs) | {} | {} |",
            rss(Sync::Full),
            rss(Sync::Normal)
        );
    }

    /// One commit's time (p50, mean) before and after the runs, and the ingest rate it allows
    /// with one commit per POST in flight.
    pub(crate) fn print_fsync_bounds(
        &self,
        full_before: (f64, f64),
        full_after: (f64, f64),
        normal_p50: f64,
    ) {
        let ((start_p50, start_mean), (end_p50, end_mean)) = (full_before, full_after);
        let commit_mean = (start_mean + end_mean) / 2.0;
        println!();
        println!(
            "one commit (WAL, synchronous=FULL, 1 row, 500 commits): before the runs p50 {start_p50:.3} ms, \
             mean {start_mean:.3} ms; after p50 {end_p50:.3} ms, mean {end_mean:.3} ms; \
             used {commit_mean:.3} ms (NORMAL: p50 {normal_p50:.3} ms)"
        );
        for (conns, key) in [(2usize, "ingest 2"), (16, "ingest 16")] {
            let bound = (conns * PER_REQUEST) as f64 / (commit_mean / 1e3);
            let reached = self
                .rates
                .get(&(key, Sync::Full))
                .map_or_else(|| "-".into(), |r| format!("{:.0}%", 100.0 * r / bound));
            println!(
                "fsync bound, {conns} conns = {conns} in flight x {PER_REQUEST} events / {commit_mean:.3} ms \
                 = {bound:.0} ev/s; FULL ingest reached {reached}"
            );
        }
    }
}

/// CPU per event of each run, and what the measured parts allow on this machine's cores: the
/// daemon, the load generator and the sink share them, so no layout of the ledger can go faster
/// than the work that stays once delivery records cost nothing.
pub(crate) fn print_ceilings(rep: &Report) {
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

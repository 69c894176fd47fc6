//! The measured scenarios, one per figure of docs/benchmarks.md: ingest, end to end, drain
//! after an outage, and latency at a steady rate.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::StatusCode;

use crate::daemon::{Daemon, SinkSpec};
use crate::figures::{peak_rss_kib, percentile, Meter};
use crate::load::{bodies, body_of, client, post_all};
use crate::report::Report;
use crate::sink::SinkServer;
use crate::{Settings, Sync};

/// Longest wait for a sink to receive everything.
const SINK_WAIT: Duration = Duration::from_secs(180);

/// Figure 1: ingest into the committed buffer, no sink configured.
pub(crate) async fn ingest(rep: &mut Report, set: &Settings, sync: Sync, load: &Arc<Vec<Bytes>>) {
    for (key, conns) in [("ingest 2", 2), ("ingest 16", 16)] {
        let mut d = Daemon::start(sync, None).await;
        d.perf_start(
            set.perf_dir.as_deref(),
            &format!("ingest{conns}-{}", sync.name()),
        );
        let m = Meter::start(d.pid);
        let mut p = post_all(&d.admin, load.clone(), conns).await;
        let usage = m.stop();
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
        d.stop().await;
    }
}

fn retries_note(n: u64) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(", {n} POSTs retried")
    }
}

/// The engine bench's template: what a template sink costs end to end.
const TEMPLATE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/benches/engine/flat-batch.json.j2"
);

/// Figure 2: healthy end to end, sink up, batches of 100 (CloudEvents, and the same through
/// a template).
pub(crate) async fn end_to_end(
    rep: &mut Report,
    set: &Settings,
    sync: Sync,
    load: &Arc<Vec<Bytes>>,
    with_template: bool,
) {
    let cases: &[(&'static str, usize, Option<&str>)] = if with_template {
        &[("e2e 2 template", 2, Some(TEMPLATE))]
    } else {
        &[("e2e 2", 2, None), ("e2e 16", 16, None)]
    };
    for &(key, conns, template) in cases {
        let epoch = Instant::now();
        let sink = SinkServer::start(epoch, true).await;
        let mut d = Daemon::start(
            sync,
            Some(SinkSpec {
                template,
                ..SinkSpec::new(&sink.url, 100, set.concurrency)
            }),
        )
        .await;
        d.perf_start(
            set.perf_dir.as_deref(),
            &format!(
                "e2e{conns}{}-{}",
                if template.is_some() { "-template" } else { "" },
                sync.name()
            ),
        );
        let m = Meter::start(d.pid);
        let p = post_all(&d.admin, load.clone(), conns).await;
        let ingest_secs = (p.last_ack - p.first_send).as_secs_f64();
        let backlog_at_last_ack = set.events as u64 - sink.unique();
        let done = sink.wait_for(set.events as u64, SINK_WAIT).await;
        let usage = m.stop();
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
            format!(
                "end to end, batch 100, {conns} conns{}",
                if template.is_some() { ", template" } else { "" }
            ),
            sync,
            set.events,
            secs,
            usage,
            rss,
            note,
        );
        d.stop().await;
    }
}

/// Figure 3: ingest with the sink down (503), then bring it up and time the drain.
pub(crate) async fn drain(rep: &mut Report, set: &Settings, sync: Sync, load: &Arc<Vec<Bytes>>) {
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
        let mut d =
            Daemon::start(sync, Some(SinkSpec::new(&sink.url, batch, set.concurrency))).await;
        let m = Meter::start(d.pid);
        let p = post_all(&d.admin, load, 16).await;
        let usage = m.stop();
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
        let m = Meter::start(d.pid);
        let up_at = Instant::now();
        sink.state.up.store(true, Ordering::Release);
        let done = sink.wait_for(events as u64, SINK_WAIT).await;
        let usage = m.stop();
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
        d.stop().await;
    }
}

/// Figure 4: ingest-to-sink latency at a steady 1,000 events/s (10 events every 10 ms).
pub(crate) async fn latency(rep: &mut Report, set: &Settings, sync: Sync) {
    let epoch = Instant::now();
    let sink = SinkServer::start(epoch, true).await;
    let d = Daemon::start(sync, Some(SinkSpec::new(&sink.url, 100, set.concurrency))).await;
    let url = Arc::new(format!("{}/api/v1/events", d.admin));
    let c = client();
    let _ = c.get(format!("{}/health", d.admin)).send().await;
    let ticks = set.latency_secs * 100;
    let total = ticks as usize * 10;
    let m = Meter::start(d.pid);
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
    let usage = m.stop();
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
    d.stop().await;
}

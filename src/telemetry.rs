//! Logging: journald (structured fields) when started by systemd, stderr otherwise (a file
//! for `dockgate demo`); and the Prometheus recorder behind `/metrics`.

use std::io::IsTerminal;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// The filter when `DOCKGATE_LOG` does not set one. The NATS client's own lines are left out:
/// the NATS sink logs each connection event and failure once, with the sink's name.
const DEFAULT_FILTER: &str = "info,async_nats=off";

/// The filter from `DOCKGATE_LOG` (e.g. `debug`, `dockgate=trace`), or [`DEFAULT_FILTER`].
fn filter() -> EnvFilter {
    EnvFilter::try_from_env("DOCKGATE_LOG").unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER))
}

/// Starts logging, filtered by [`filter`].
pub fn init_logging() {
    let filter = filter();
    let registry = tracing_subscriber::registry().with(filter);
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        if let Ok(journald) = tracing_journald::layer() {
            let _ = registry
                .with(
                    journald
                        .with_syslog_identifier("dockgate".into())
                        // Fields become SINK, EVENT_ID, ... as DESIGN §8 names them.
                        .with_field_prefix(None),
                )
                .try_init();
            return;
        }
    }
    let _ = registry
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .with_target(false),
        )
        .try_init();
}

/// How bad a line written straight to stderr is, when that is read by the journal.
#[derive(Clone, Copy)]
pub enum Severity {
    Error,
    Warning,
}

/// Writes `text` to stderr; when stderr is the journal (a systemd service), each line carries
/// the syslog priority prefix journald reads (`<3>` error, `<4>` warning), so that why the
/// daemon did not start shows in `journalctl -p err` and not at info level.
pub fn print_stderr(severity: Severity, text: impl std::fmt::Display) {
    let text = text.to_string();
    if !stderr_is_journal() {
        eprintln!("{text}");
        return;
    }
    let prefix = match severity {
        Severity::Error => "<3>",
        Severity::Warning => "<4>",
    };
    for line in text.lines() {
        eprintln!("{prefix}{line}");
    }
}

/// Whether stderr is the stream systemd connected to the journal: `JOURNAL_STREAM` names its
/// device and inode (a child whose stderr was redirected elsewhere inherits the variable).
fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    match std::fs::metadata("/proc/self/fd/2") {
        Ok(m) => dev.parse() == Ok(m.dev()) && ino.parse() == Ok(m.ino()),
        Err(_) => false,
    }
}

/// Starts logging to `file` instead (`dockgate demo`, which draws on the terminal): the same
/// filter, plain text, written by a thread of its own so no task waits on the disk. Logging
/// lasts while the returned guard lives; dropping it writes what is left.
pub fn init_logging_to(file: std::fs::File) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = filter();
    let (writer, guard) = tracing_appender::non_blocking(file);
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_ansi(false)
                .with_target(false),
        )
        .try_init();
    guard
}

/// Installs the metrics recorder, and its upkeep on the runtime; returns the handle `/metrics`
/// renders. Call it inside the runtime.
pub fn init_metrics() -> anyhow::Result<PrometheusHandle> {
    const LATENCY: &[f64] = &[
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0,
        3600.0,
    ];
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("dockgate_delivery_latency_seconds".into()),
            LATENCY,
        )?
        .install_recorder()?;
    // A recorder installed this way keeps every histogram sample until its upkeep folds them
    // into the buckets; without it, each delivered event grew memory by its latency sample
    // (29 MB over a drain of 1.9 million events).
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

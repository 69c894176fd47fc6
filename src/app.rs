//! Wiring of `dockgate run`: opens the ledger, starts a worker per sink, the admin API and the
//! systemd supervisor, then waits for SIGTERM/SIGINT and shuts down in order.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn, Instrument};

use crate::config::Config;
use crate::control::{admin, systemd};
use crate::forward::SinkWorker;
use crate::store::{self, read::ReadPool};
use crate::telemetry;

/// Time given to requests in flight and the final commits on shutdown; below systemd's
/// default `TimeoutStopSec` (90 s) and the unit's own.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// How often retention and capacity are checked.
const MAINTAIN_EVERY: Duration = Duration::from_secs(60);

/// Runs the daemon until a termination signal.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let started = Instant::now();
    let prometheus = telemetry::init_metrics().context("starting metrics")?;
    let config = Arc::new(config);
    info!(site = %config.site.id, version = config.version, "dockgate starting.");

    // Bind before opening the buffer, so a port clash fails fast and touches nothing.
    let listener = tokio::net::TcpListener::bind(config.admin_addr())
        .await
        .with_context(|| format!("binding admin API on {}", config.admin.listen))?;

    let open_config = config.clone();
    let (store, writer) = tokio::task::spawn_blocking(move || store::open(&open_config))
        .await?
        .with_context(|| format!("opening buffer in {}", config.site.data_dir.display()))?;
    let reads = ReadPool::new(store.path());

    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    let mut sink_views = Vec::new();
    for (name, sink) in &config.sinks {
        let (worker, view) = SinkWorker::build(name, sink, store.clone(), reads.clone())
            .with_context(|| format!("setting up sink {name}"))?;
        sink_views.push((name.clone(), view));
        tracker.spawn(worker.run(cancel.child_token()));
    }
    let sink_views = Arc::new(sink_views);

    let ready = Arc::new(AtomicBool::new(false));
    let state = admin::AdminState {
        store: store.clone(),
        reads: reads.clone(),
        config: config.clone(),
        sinks: sink_views.clone(),
        ready: ready.clone(),
        prometheus,
        started,
    };
    let admin_cancel = cancel.clone();
    tracker.spawn(
        async move {
            let server = axum::serve(listener, admin::router(state))
                .with_graceful_shutdown(async move { admin_cancel.cancelled().await });
            if let Err(error) = server.await {
                tracing::error!(error = %error, "Admin API stopped.");
            }
        }
        .instrument(tracing::info_span!("admin")),
    );

    let maint_store = store.clone();
    let maint_cancel = cancel.clone();
    tracker.spawn(async move {
        let mut tick = tokio::time::interval(MAINTAIN_EVERY);
        loop {
            tokio::select! {
                _ = maint_cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(error) = maint_store.maintain().await {
                warn!(error = %error, "Buffer maintenance failed.");
            }
        }
    });
    tracker.spawn(systemd::supervise(
        store.clone(),
        reads.clone(),
        config.clone(),
        sink_views.clone(),
        started,
        cancel.clone(),
    ));

    ready.store(true, Ordering::Release);
    systemd::notify_ready();
    info!(admin = %config.admin.listen, sinks = config.sinks.len(), "dockgate ready.");

    wait_for_signal().await?;
    info!("Shutting down.");
    systemd::notify_stopping();
    cancel.cancel();
    tracker.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait())
        .await
        .is_err()
    {
        // Everything committed is safe on disk; what was in flight is resent on the next start.
        warn!(
            "Shutdown grace period expired; unfinished requests will be resent on the next start."
        );
        return Ok(());
    }
    // The writer stops once the last handle is gone and its queue is drained.
    drop(store);
    drop(reads);
    let _ = tokio::task::spawn_blocking(move || writer.join()).await;
    info!("dockgate stopped.");
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

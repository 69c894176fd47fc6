//! Wiring of `dockgate run`: opens the ledger, starts a worker per sink, the admin API and the
//! systemd supervisor, then waits for SIGTERM/SIGINT and shuts down in order.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn, Instrument};

use crate::config::{Config, SourceKind};
use crate::control::{admin, systemd};
use crate::devices::{self, DeviceStatus};
use crate::forward::SinkWorker;
use crate::store::{self, read::ReadPool};
use crate::telemetry;

/// Time given to requests in flight and the final commits on shutdown; below systemd's
/// default `TimeoutStopSec` (90 s) and the unit's own.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// How often retention and capacity are checked.
const MAINTAIN_EVERY: Duration = Duration::from_secs(60);

/// How often the station workflow's timers run (dock debounce, idle sessions).
const TICK_EVERY: Duration = Duration::from_millis(500);

/// Frames read from serial ports waiting for the ledger; when full, port reading pauses.
const FRAME_QUEUE: usize = 1024;

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

    let device_views: Vec<(Arc<str>, DeviceStatus)> = config
        .devices
        .keys()
        .map(|id| (Arc::from(id.as_str()), DeviceStatus::default()))
        .collect();
    let view_of = |kind: SourceKind| -> std::collections::HashMap<Arc<str>, DeviceStatus> {
        device_views
            .iter()
            .filter(|(id, _)| config.devices.get(&**id).is_some_and(|d| d.source == kind))
            .map(|(id, s)| (id.clone(), s.clone()))
            .collect()
    };
    let mut feedback = None;
    if let Some((input, client, eventloop)) =
        devices::mqtt_in::MqttInput::build(&config, store.clone(), view_of(SourceKind::Mqtt))
            .context("setting up the site broker connection")?
    {
        feedback = Some(input.feedback(&client));
        tracker.spawn(input.run(client, eventloop, cancel.child_token()));
    }
    let (frames_tx, frames_rx) = tokio::sync::mpsc::channel(FRAME_QUEUE);
    for (id, status) in view_of(SourceKind::Serial) {
        if let Some(device) = config.devices.get(&*id) {
            tracker.spawn(devices::serial::run(
                id.clone(),
                device.clone(),
                frames_tx.clone(),
                status,
                cancel.child_token(),
            ));
        }
    }
    drop(frames_tx);
    let feedback_devices = config
        .devices
        .iter()
        .filter(|(_, d)| d.feedback)
        .map(|(id, _)| Arc::from(id.as_str()))
        .collect();
    // Not cancelled directly: it ends once every serial task has stopped and what they read
    // is committed.
    tracker.spawn(devices::intake::run(
        frames_rx,
        store.clone(),
        feedback.clone(),
        feedback_devices,
        cancel.clone(),
    ));
    let device_views = Arc::new(device_views);

    let ready = Arc::new(AtomicBool::new(false));
    let state = admin::AdminState {
        store: store.clone(),
        reads: reads.clone(),
        config: config.clone(),
        sinks: sink_views.clone(),
        devices: device_views.clone(),
        feedback: feedback.clone(),
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
    let tick_store = store.clone();
    let tick_cancel = cancel.clone();
    tracker.spawn(async move {
        let mut tick = tokio::time::interval(TICK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick_cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(error) = tick_store.tick().await {
                warn!(error = %error, "Workflow timers failed.");
            }
        }
    });
    tracker.spawn(systemd::supervise(
        store.clone(),
        reads.clone(),
        config.clone(),
        sink_views.clone(),
        device_views.clone(),
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

//! Wiring of `dockgate run`: loads the configuration, opens the ledger, starts the devices and
//! their intake, a worker per sink, the admin API and the systemd supervisor, then waits for
//! SIGTERM/SIGINT and shuts down in order: sources stop, what they read is committed, requests
//! in flight finish, the ledger closes.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn, Instrument};

use crate::config::{Config, ConfigError, SourceKind};
use crate::control::{admin, systemd};
use crate::devices::{self, intake, DeviceStatus};
use crate::forward::SinkWorker;
use crate::ledger::{self, LedgerSettings};
use crate::model::Chain;
use crate::telemetry;

/// Time given to requests in flight and the final commits on shutdown; below systemd's
/// default `TimeoutStopSec` (90 s) and the unit's own.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// How often the ledger's timers run: the workflow's (dock debounce, idle sessions), and
/// retention and capacity, which the ledger runs once a minute of these.
const TICK_EVERY: Duration = Duration::from_millis(500);

/// Reads and checks a configuration file as the daemon would run it: the file itself, then
/// what the stages check of it (the site broker's certificates and password).
pub fn load_config(path: &Path) -> Result<Config, ConfigError> {
    Config::load_with(path, &devices::check)
}

/// Runs the daemon until a termination signal.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let started = Instant::now();
    let prometheus = telemetry::init_metrics().context("starting metrics")?;
    let config = Arc::new(config);
    info!(site = %config.site.id, version = config.version, "dockgate starting.");

    // The data directory first: a second dockgate (started by hand beside the service, say)
    // is told who holds it, before anything else can clash.
    let data_dir = config.site.data_dir.clone();
    let lock = tokio::task::spawn_blocking(move || ledger::lock(&data_dir))
        .await?
        .map_err(anyhow::Error::new)?;
    // Bind before opening the buffer, so a port clash fails fast and touches nothing.
    let listener = tokio::net::TcpListener::bind(config.admin_addr())
        .await
        .with_context(|| format!("binding admin API on {}", config.admin.listen))?;

    let settings = LedgerSettings::from_config(&config);
    let (ledger, writer) = tokio::task::spawn_blocking(move || ledger::open(settings, lock))
        .await?
        .map_err(anyhow::Error::new)?;

    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    let mut sink_views = Vec::new();
    for (name, sink) in &config.sinks {
        let (worker, view) = SinkWorker::build(sink, ledger.sink(name))
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
    let view_of = |kind: SourceKind| -> HashMap<Arc<str>, DeviceStatus> {
        device_views
            .iter()
            .filter(|(id, _)| config.devices.get(&**id).is_some_and(|d| d.source == kind))
            .map(|(id, s)| (id.clone(), s.clone()))
            .collect()
    };
    let mqtt = devices::mqtt::MqttInput::build(&config, view_of(SourceKind::Mqtt))
        .context("setting up the site broker connection")?;
    let feedback = intake::FeedbackRoute {
        out: mqtt
            .as_ref()
            .map(|m| Arc::new(m.feedback()) as Arc<dyn intake::FeedbackOut>),
        devices: config
            .devices
            .iter()
            .filter(|(_, d)| d.feedback)
            .map(|(id, _)| Arc::from(id.as_str()))
            .collect(),
    };
    let (_feedback_tx, feedback_rx) = tokio::sync::watch::channel(Arc::new(feedback));
    let (intake, intake_handle) = intake::channel(ledger.clone(), feedback_rx);
    if let Some(mqtt) = mqtt {
        tracker.spawn(mqtt.run(intake_handle.clone(), cancel.child_token()));
    }
    for (id, status) in view_of(SourceKind::Serial) {
        if let Some(device) = config.devices.get(&*id) {
            tracker.spawn(devices::serial::run(
                id.clone(),
                device.clone(),
                intake_handle.clone(),
                status,
                cancel.child_token(),
            ));
        }
    }
    let http_devices =
        devices::http::HttpDevices::new(&config, view_of(SourceKind::Http), intake_handle);
    // Not cancelled directly: it ends once every source has stopped and what they read is
    // committed.
    tracker.spawn(
        intake
            .run(cancel.clone())
            .instrument(tracing::info_span!("intake")),
    );
    let device_views = Arc::new(device_views);

    let ready = Arc::new(AtomicBool::new(false));
    let state = admin::AdminState {
        ledger: ledger.clone(),
        config: config.clone(),
        sinks: sink_views.clone(),
        devices: device_views.clone(),
        ready: ready.clone(),
        prometheus,
        started,
    };
    let admin_cancel = cancel.clone();
    tracker.spawn(
        async move {
            let router = admin::router(state, http_devices.router());
            let server = axum::serve(listener, router)
                .with_graceful_shutdown(async move { admin_cancel.cancelled().await });
            if let Err(error) = server.await {
                tracing::error!(error = %error, "Admin API stopped.");
            }
        }
        .instrument(tracing::info_span!("admin")),
    );

    let tick_ledger = ledger.clone();
    let tick_cancel = cancel.clone();
    tracker.spawn(async move {
        let mut tick = tokio::time::interval(TICK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick_cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(error) = tick_ledger.tick().await {
                warn!(error = %Chain(&error), "Ledger timers failed.");
            }
        }
    });
    tracker.spawn(systemd::supervise(
        ledger.clone(),
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
    drop(ledger);
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

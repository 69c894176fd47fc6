//! Wiring of `dockgate run`: locks the data directory, opens the ledger, starts what the
//! configuration asks for ([`running`]), takes configuration changes (pushes, SIGHUP, rollback)
//! and applies them without a restart, then on SIGTERM/SIGINT (or when `dockgate demo` says)
//! shuts down in order: sources stop, what they read is committed, requests in flight finish,
//! the ledger closes.

mod running;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use self::running::{AdminParts, Listeners, Running, Wiring};
use crate::config::ConfigError;
use crate::control::config_push::{ConfigChanges, Startup, Trigger};
use crate::control::systemd;
use crate::ledger::{self, LedgerSettings};
use crate::model::Chain;
use crate::telemetry;

/// Time given to requests in flight and the final commits on shutdown; below systemd's
/// default `TimeoutStopSec` (90 s) and the unit's own.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// How often the ledger's timers run: the workflow's (dock debounce, idle sessions), and
/// retention and capacity, which the ledger runs once a minute of these.
const TICK_EVERY: Duration = Duration::from_millis(500);

/// What ends the daemon.
pub enum Stop {
    /// SIGTERM or SIGINT: `dockgate run`.
    Signals,
    /// The token being cancelled: `dockgate demo`, which takes Ctrl-C itself (to drain and
    /// count before it stops the daemon). No signal is handled, SIGHUP included: a closed
    /// terminal ends the demo as it ends any program.
    Token(CancellationToken),
}

/// The next delivery of `signal`; never, without one.
async fn next_signal(signal: &mut Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// Runs the daemon on `startup` (from [`crate::control::config_push::startup`]) until a
/// termination signal. `local_problem` is why the local file at `local_path` could not be used,
/// if it could not; SIGHUP reads that file again.
pub async fn run(
    startup: Startup,
    local_problem: Option<ConfigError>,
    local_path: PathBuf,
) -> anyhow::Result<()> {
    run_until(startup, local_problem, local_path, Stop::Signals).await
}

/// [`run`], ended by `stop`.
pub async fn run_until(
    startup: Startup,
    local_problem: Option<ConfigError>,
    local_path: PathBuf,
    stop: Stop,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let prometheus = telemetry::init_metrics().context("starting metrics")?;
    let config = Arc::new(startup.config);
    info!(site = %config.site.id, version = config.version, origin = %startup.origin, "dockgate starting.");
    if let Some(problem) = local_problem {
        error!(error = %problem, "The local configuration file is unusable; running the configuration applied last.");
    }

    // The data directory first: a second dockgate (started by hand beside the service, say)
    // is told who holds it, before anything else can clash.
    let data_dir = config.site.data_dir.clone();
    let lock = tokio::task::spawn_blocking(move || ledger::lock(&data_dir))
        .await?
        .map_err(anyhow::Error::new)?;
    // Bind before opening the buffer, so a port clash fails fast and touches nothing.
    let admin = tokio::net::TcpListener::bind(config.admin_addr())
        .await
        .with_context(|| format!("binding admin API on {}", config.admin.listen))?;
    let public = match config.public_addr() {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the read-only status listener on {addr}"))?,
        ),
        None => None,
    };
    let listeners = Listeners { admin, public };
    let settings = LedgerSettings::from_config(&config);
    let (ledger, writer) = tokio::task::spawn_blocking(move || ledger::open(settings, lock))
        .await?
        .map_err(anyhow::Error::new)?;

    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    let ready = Arc::new(AtomicBool::new(false));
    let (changes_tx, changes_rx) = mpsc::channel::<Trigger>(16);
    let (pushes_tx, pushes_rx) = mpsc::channel(16);
    let (apply_tx, mut apply_rx) = mpsc::channel(1);
    let (status_out, status_rx) = watch::channel(None);
    let changes = ConfigChanges::new(
        config.clone(),
        startup.text,
        local_path,
        startup.from_local,
        apply_tx,
        status_rx,
    )
    .map_err(anyhow::Error::new)?;
    let wiring = Wiring {
        ledger: ledger.clone(),
        tracker: tracker.clone(),
        cancel: cancel.clone(),
        admin: AdminParts {
            prometheus,
            started,
            ready: ready.clone(),
            changes: changes_tx.clone(),
        },
        pushes: config.config_push.is_some().then(|| pushes_tx.clone()),
        status_out,
    };
    drop(pushes_tx);
    let mut running = Running::start(config.clone(), startup.origin, wiring, listeners).await?;
    tracker.spawn(changes.run(changes_rx, pushes_rx));

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
        running.live(),
        started,
        cancel.clone(),
    ));

    ready.store(true, Ordering::Release);
    systemd::notify_ready();
    info!(admin = %config.admin.listen, sinks = config.sinks.len(), devices = config.devices.len(), "dockgate ready.");
    if let Some(public) = &config.admin.public_listen {
        info!(public = %public, "Read-only status page and metrics served.");
    }

    use tokio::signal::unix::{signal, SignalKind};
    let (stop, mut hup) = match stop {
        Stop::Token(token) => (token, None),
        Stop::Signals => {
            let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
            let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
            let token = CancellationToken::new();
            let fire = token.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                fire.cancel();
            });
            let hup = signal(SignalKind::hangup()).context("installing SIGHUP handler")?;
            (token, Some(hup))
        }
    };
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            // A reload never stops the daemon: the file is read, checked and applied like a
            // push, or refused with the reason in the log.
            _ = next_signal(&mut hup) => {
                if changes_tx.try_send(Trigger::Reload).is_err() {
                    warn!("SIGHUP ignored: configuration changes are busy or stopping.");
                }
            }
            Some(request) = apply_rx.recv() => {
                // A stop request is not kept waiting for a change: the change is left where
                // it is (its push is not acknowledged, so the broker sends it to the next start).
                let applied = tokio::select! {
                    applied = running.apply(request.config, request.origin) => Some(applied),
                    _ = stop.cancelled() => None,
                };
                match applied {
                    Some(applied) => {
                        let _ = request.reply.send(applied);
                    }
                    None => break,
                }
            }
        }
    }
    info!("Shutting down.");
    systemd::notify_stopping();
    cancel.cancel();
    drop(changes_tx);
    drop(apply_rx);
    tracker.close();
    let stopped = tokio::time::timeout(SHUTDOWN_GRACE, async {
        running.stop().await;
        tracker.wait().await;
    })
    .await;
    if stopped.is_err() {
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

//! systemd notifications: READY=1 once the buffer is recovered, STATUS= with a one-line
//! summary, WATCHDOG=1 only while the ledger answers and every sink worker's loop is turning,
//! STOPPING=1 on shutdown. Outside systemd (no `$NOTIFY_SOCKET`) every call is a no-op.

use std::time::{Duration, Instant};

use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::live::LiveView;
use super::status;
use crate::ledger::LedgerHandle;
use crate::model::now_ms;

/// A sink loop that has not turned for this long is considered stuck.
const SINK_STALE: Duration = Duration::from_secs(30);

fn send(state: &[NotifyState]) {
    if let Err(error) = sd_notify::notify(false, state) {
        debug!(error = %error, "sd_notify failed.");
    }
}

/// Tells systemd the daemon is ready.
pub fn notify_ready() {
    send(&[NotifyState::Ready]);
}

/// Tells systemd the daemon is stopping.
pub fn notify_stopping() {
    send(&[NotifyState::Stopping]);
}

/// Sends watchdog pings (when `WatchdogSec=` is set) and keeps STATUS= current.
pub async fn supervise(
    ledger: LedgerHandle,
    live: LiveView,
    started: Instant,
    cancel: CancellationToken,
) {
    let mut usec = 0;
    let watchdog =
        sd_notify::watchdog_enabled(false, &mut usec).then(|| Duration::from_micros(usec));
    let period = watchdog.map(|w| w / 3).unwrap_or(Duration::from_secs(10));
    let mut tick = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let ledger_alive = tokio::time::timeout(period, ledger.ping())
            .await
            .is_ok_and(|r| r.is_ok());
        let now = now_ms();
        let live = live.borrow().clone();
        let stuck: Vec<&str> = live
            .sinks
            .iter()
            .filter(|(_, s)| {
                s.lock()
                    .map(|s| now - s.heartbeat_ms > SINK_STALE.as_millis() as i64)
                    .unwrap_or(true)
            })
            .map(|(n, _)| n.as_str())
            .collect();
        if watchdog.is_some() {
            if ledger_alive && stuck.is_empty() {
                send(&[NotifyState::Watchdog]);
            } else {
                warn!(ledger_alive, stuck_sinks = ?stuck, "Withholding watchdog ping: the pipeline is not moving.");
            }
        }
        if let Ok(st) = status::collect(&ledger, &live, started).await {
            send(&[NotifyState::Status(&status::one_line(&st))]);
        }
    }
}

//! A serial scanner: open the port, frame its bytes into [`Input`]s for the intake, survive
//! unplug and replug.
//!
//! Unplug handling follows reliability.md §4. A hung-up tty (USB adapter pulled, socat pty
//! closed) gives one `EIO` and then `Ok(0)` on every read, forever; `tokio-serial` 5.5 shows
//! exactly that. So `Ok(0)` and every read error mean "gone": the port is dropped at once
//! (closing the fd frees the device name), the partial line is thrown away, the device is
//! shown down and the port is reopened with backoff (0.5 s doubling to 5 s, ±20 % jitter).
//! While waiting, the configured path (often a `/dev/serial/by-id/...` or socat `link=`
//! symlink) is checked every 200 ms: when it appears again or points somewhere new, the next
//! open is tried at once instead of at the end of the backoff. Nothing spins while the device
//! is gone: the task sleeps between those checks.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio_serial::{SerialPortBuilderExt, SerialStream};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::framing::{FramedLine, Framer};
use super::intake::{IntakeClosed, IntakeHandle};
use super::{DeviceSnapshot, DeviceStatus};
use crate::backoff::Backoff;
use crate::config::devices::{FlowControl, Parity};
use crate::config::DeviceConfig;
use crate::model::{now_ms, rfc3339_ms, Input};

/// How often the device path is checked while waiting to reopen.
pub const PATH_POLL: Duration = Duration::from_millis(200);
/// How long a cancelled reader may still wait for room for lines it has framed.
const STOP_BACKSTOP: Duration = Duration::from_millis(500);
/// Rejected lines are logged at WARN at most this often (the others at DEBUG).
const REJECT_WARN_EVERY: Duration = Duration::from_secs(10);
/// Size of one read from the port.
const READ_BUFFER: usize = 4096;

/// Reads the serial device `id` until `cancel`, handing every scan and rejection to `intake`.
///
/// Never returns an error: an open failure (at startup too) or an unplug shows the device down
/// in `status` and the port is retried with backoff. Returns when `cancel` fires or the intake
/// is gone; the device is then shown down.
pub async fn run(
    id: Arc<str>,
    config: DeviceConfig,
    intake: IntakeHandle,
    status: DeviceStatus,
    cancel: CancellationToken,
) {
    let span = tracing::info_span!("device", device = %id);
    let up = metrics::gauge!("dockgate_device_up", "device" => id.to_string());
    let task = Reader::new(id, config, intake, status.clone(), cancel.clone());
    async {
        tokio::select! {
            biased;
            // The reader stops by itself at its next read once cancelled, after handing over
            // the lines it framed; this is the backstop for lines still waiting for room.
            _ = async {
                cancel.cancelled().await;
                tokio::time::sleep(STOP_BACKSTOP).await;
            } => tracing::debug!("serial reader stopped"),
            _ = task.run() => tracing::debug!("serial reader stopped"),
        }
    }
    .instrument(span)
    .await;
    // The port (if open) was dropped with the task's future.
    update(&status, |s| s.up = false);
    up.set(0.0);
}

/// Why a connected port was given up.
enum Lost {
    /// Unplugged or broken: reopen.
    Device(String),
    /// The intake is gone: stop.
    Intake,
    /// Cancelled: stop.
    Stopped,
}

struct Reader {
    id: Arc<str>,
    config: DeviceConfig,
    intake: IntakeHandle,
    status: DeviceStatus,
    cancel: CancellationToken,
    framer: Framer,
    up: metrics::Gauge,
    inputs: metrics::Counter,
    reconnects: metrics::Counter,
    last_reject_warn: Option<tokio::time::Instant>,
}

impl Reader {
    fn new(
        id: Arc<str>,
        config: DeviceConfig,
        intake: IntakeHandle,
        status: DeviceStatus,
        cancel: CancellationToken,
    ) -> Self {
        let device = id.to_string();
        Self {
            framer: Framer::from_config(&config),
            up: metrics::gauge!("dockgate_device_up", "device" => device.clone()),
            inputs: metrics::counter!("dockgate_device_inputs_total", "device" => device.clone()),
            reconnects: metrics::counter!("dockgate_device_reconnects_total", "device" => device),
            last_reject_warn: None,
            id,
            config,
            intake,
            status,
            cancel,
        }
    }

    async fn run(mut self) {
        self.up.set(0.0);
        let Some(path) = self.config.path.clone() else {
            // Config validation refuses this; stay down rather than fail.
            let error = "no path configured for this serial device".to_string();
            tracing::error!("{error}");
            update(&self.status, |s| s.note_down(error));
            return std::future::pending().await;
        };
        let mut backoff = Backoff::devices();
        let mut opened_before = false;
        // A WARN is logged once per outage (the loss, or the first failed open at startup),
        // not per retry; a successful open ends the outage.
        let mut warned = false;
        loop {
            match open(&path, &self.config) {
                Ok(port) => {
                    backoff.reset();
                    if opened_before {
                        self.reconnects.increment(1);
                        tracing::info!(path = %path.display(), "serial device reconnected");
                    } else {
                        tracing::info!(path = %path.display(), baud = self.config.baud, "serial device opened");
                    }
                    let reconnect = opened_before;
                    update(&self.status, |s| {
                        s.up = true;
                        if reconnect {
                            s.reconnects += 1;
                        }
                    });
                    self.up.set(1.0);
                    opened_before = true;
                    let lost = self.read_port(port).await;
                    // The port is dropped by now: its fd is closed before anything else.
                    let dropped = self.framer.discard_partial();
                    self.up.set(0.0);
                    match lost {
                        Lost::Intake | Lost::Stopped => {
                            update(&self.status, |s| s.up = false);
                            return;
                        }
                        Lost::Device(why) => {
                            tracing::warn!(
                                path = %path.display(),
                                error = %why,
                                partial_bytes_dropped = dropped,
                                "serial device lost; reopening with backoff"
                            );
                            warned = true;
                            update(&self.status, |s| {
                                s.note_down(format!("device lost: {why}"));
                            });
                        }
                    }
                }
                Err(error) => {
                    let error = format!("cannot open {}: {error}", path.display());
                    if warned {
                        tracing::debug!("{error}");
                    } else {
                        tracing::warn!("{error}; retrying with backoff");
                        warned = true;
                    }
                    update(&self.status, |s| s.note_down(error));
                }
            }
            tokio::select! {
                _ = wait_to_reopen(&path, backoff.next_delay()) => {}
                _ = self.cancel.cancelled() => return,
            }
        }
    }

    /// Reads until the device is lost or the intake is gone; drops the port on return.
    async fn read_port(&mut self, mut port: SerialStream) -> Lost {
        let mut buf = vec![0u8; READ_BUFFER];
        let mut lines = Vec::new();
        loop {
            let read = tokio::select! {
                read = port.read(&mut buf) => read,
                _ = self.cancel.cancelled() => return Lost::Stopped,
            };
            let n = match read {
                // A hung-up tty reads as end of file, again and again: never read it twice.
                Ok(0) => return Lost::Device("end of file (device hung up)".into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Lost::Device(describe(&e)),
            };
            self.framer.push(&buf[..n], &mut lines);
            for line in lines.drain(..) {
                if self.send(line).await.is_err() {
                    return Lost::Intake;
                }
            }
        }
    }

    /// Counts and hands over one framed line; waiting for room in the intake is the
    /// backpressure.
    async fn send(&mut self, line: FramedLine) -> Result<(), IntakeClosed> {
        let received_ms = now_ms();
        let (bytes, rejected) = match line {
            FramedLine::Scan(bytes) => (bytes, None),
            FramedLine::Rejected { reason, mut bytes } => {
                bytes.truncate(self.config.max_line);
                (bytes, Some(reason))
            }
        };
        self.inputs.increment(1);
        // Counted (metric and status) by the ledger and the intake, with the workflow's own
        // refusals; the reader only logs what it refused.
        if let Some(reason) = rejected {
            let start = bytes[..bytes.len().min(64)].escape_ascii().to_string();
            // A flood of bad lines must not flood the log: one WARN per 10 s, DEBUG otherwise.
            let now = tokio::time::Instant::now();
            if self
                .last_reject_warn
                .is_none_or(|at| now.duration_since(at) >= REJECT_WARN_EVERY)
            {
                self.last_reject_warn = Some(now);
                tracing::warn!(reason, %start, "serial input rejected");
            } else {
                tracing::debug!(reason, %start, "serial input rejected");
            }
        } else {
            tracing::trace!(len = bytes.len(), "scan");
        }
        update(&self.status, |s| {
            s.inputs += 1;
            s.last_input_at = Some(rfc3339_ms(received_ms));
        });
        self.intake
            .push(Input {
                device: self.id.clone(),
                bytes,
                received_ms,
                rejected,
                redelivery: None,
            })
            .await
    }
}

/// Opens the port with the configured line settings (also `dockgate doctor`'s check that
/// it opens).
pub fn open(path: &Path, config: &DeviceConfig) -> Result<SerialStream, tokio_serial::Error> {
    let data_bits = match config.data_bits {
        5 => tokio_serial::DataBits::Five,
        6 => tokio_serial::DataBits::Six,
        7 => tokio_serial::DataBits::Seven,
        _ => tokio_serial::DataBits::Eight,
    };
    let parity = match config.parity {
        Parity::None => tokio_serial::Parity::None,
        Parity::Odd => tokio_serial::Parity::Odd,
        Parity::Even => tokio_serial::Parity::Even,
    };
    let stop_bits = match config.stop_bits {
        2 => tokio_serial::StopBits::Two,
        _ => tokio_serial::StopBits::One,
    };
    let flow_control = match config.flow_control {
        FlowControl::None => tokio_serial::FlowControl::None,
        FlowControl::Software => tokio_serial::FlowControl::Software,
        FlowControl::Hardware => tokio_serial::FlowControl::Hardware,
    };
    tokio_serial::new(path.to_string_lossy(), config.baud)
        .data_bits(data_bits)
        .parity(parity)
        .stop_bits(stop_bits)
        .flow_control(flow_control)
        .open_native_async()
}

/// An I/O error with its errno name where it is one of the unplug signatures.
fn describe(e: &io::Error) -> String {
    let name = match e.raw_os_error() {
        Some(5) => "EIO: ",
        Some(6) => "ENXIO: ",
        Some(9) => "EBADF: ",
        Some(19) => "ENODEV: ",
        _ => "",
    };
    format!("{name}{e}")
}

/// Sleeps `delay`, cut short when `path` (re)appears or starts pointing somewhere else.
async fn wait_to_reopen(path: &Path, delay: Duration) {
    let mut seen = resolve(path);
    let deadline = tokio::time::Instant::now() + delay;
    loop {
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return;
        }
        tokio::time::sleep(PATH_POLL.min(deadline - now)).await;
        let current = resolve(path);
        if current.is_some() && current != seen {
            tracing::debug!(path = %path.display(), "device path appeared; reopening now");
            return;
        }
        // A node that vanishes after this wait began (udev is slower than the hang-up) and
        // comes back under the same name counts as appearing.
        seen = current;
    }
}

/// Where `path` leads, following symlinks; `None` while it (or its target) is missing.
fn resolve(path: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(path).ok()
}

/// Applies `f` to the shared snapshot (a poisoned lock still holds a usable snapshot).
fn update(status: &DeviceStatus, f: impl FnOnce(&mut DeviceSnapshot)) {
    let mut guard = match status.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    f(&mut guard);
}

#[cfg(test)]
mod tests;

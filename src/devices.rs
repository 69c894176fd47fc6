//! Devices: what scanners and sensors send, in through one door. Each source kind has its
//! transport and framing here: serial ports ([`serial`], framed by [`framing`]), the site
//! broker ([`mqtt`]) and HTTP ingest ([`http`]). All of them turn what arrives into
//! [`crate::model::Input`]s and hand them to the [`intake`], which commits them through the
//! ledger, acknowledges them to their source after the commit, and sends the operator feedback
//! (nothing else in dockgate talks to a device).

pub mod framing;
pub mod http;
pub mod intake;
pub mod mqtt;
pub mod serial;

use std::sync::{Arc, Mutex};

use serde::Serialize;

/// What the admin API shows about a device; updated by its task.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeviceSnapshot {
    /// Whether the device is connected (port open, broker connected).
    pub up: bool,
    /// Last problem (open failure, unplug, rejected input).
    pub last_error: Option<String>,
    /// RFC 3339 time the last problem began (a repeat while down keeps it).
    pub last_error_at: Option<String>,
    /// RFC 3339 time of the last input.
    pub last_input_at: Option<String>,
    /// Inputs received.
    pub inputs: u64,
    /// Inputs rejected.
    pub rejected: u64,
    /// Times the device was reopened after a loss.
    pub reconnects: u64,
}

/// Shared view of a device task.
pub type DeviceStatus = Arc<Mutex<DeviceSnapshot>>;

/// A [`DeviceSnapshot`] as the status API shows it (same fields, readable from JSON too).
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct DeviceSnapshotReport {
    /// Whether the device is connected.
    pub up: bool,
    /// Last problem.
    pub last_error: Option<String>,
    /// When the last problem happened (RFC 3339).
    #[serde(default)]
    pub last_error_at: Option<String>,
    /// Last input time.
    pub last_input_at: Option<String>,
    /// Inputs received.
    pub inputs: u64,
    /// Inputs rejected.
    pub rejected: u64,
    /// Reconnections.
    pub reconnects: u64,
}

impl DeviceSnapshot {
    /// Records a problem, with the time it happened.
    pub fn note_error(&mut self, error: String) {
        self.last_error = Some(error);
        self.last_error_at = Some(crate::model::rfc3339_ms(crate::model::now_ms()));
    }

    /// The device is down because of `error`. A problem that repeats while the device stays
    /// down (a port still missing at every reopen) keeps the time it began, so its age says
    /// how long the device has been down for it.
    pub fn note_down(&mut self, error: String) {
        let ongoing = !self.up && self.last_error.as_deref() == Some(error.as_str());
        self.up = false;
        if !ongoing {
            self.note_error(error);
        }
    }

    /// The status API's copy.
    pub fn report(&self) -> DeviceSnapshotReport {
        DeviceSnapshotReport {
            up: self.up,
            last_error: self.last_error.clone(),
            last_error_at: self.last_error_at.clone(),
            last_input_at: self.last_input_at.clone(),
            inputs: self.inputs,
            rejected: self.rejected,
            reconnects: self.reconnects,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_that_repeats_while_down_keeps_the_time_it_began() {
        let mut s = DeviceSnapshot::default();
        s.note_down("cannot open /dev/ttyX".into());
        assert!(!s.up && s.last_error_at.is_some());
        s.last_error_at = Some("2020-01-01T00:00:00.000Z".into());
        s.note_down("cannot open /dev/ttyX".into());
        assert_eq!(
            s.last_error_at.as_deref(),
            Some("2020-01-01T00:00:00.000Z"),
            "the same problem again, still down: its time stays"
        );
        s.note_down("cannot open /dev/ttyX: permission denied".into());
        assert_ne!(s.last_error_at.as_deref(), Some("2020-01-01T00:00:00.000Z"));

        s.up = true;
        s.last_error_at = Some("2020-01-01T00:00:00.000Z".into());
        s.note_down("cannot open /dev/ttyX: permission denied".into());
        assert!(!s.up);
        assert_ne!(
            s.last_error_at.as_deref(),
            Some("2020-01-01T00:00:00.000Z"),
            "up in between: the same text is a new problem"
        );
    }
}

//! Devices: one task per configured scanner or sensor, each turning what the device sends into
//! [`Frame`]s for the ledger. Serial ports are read here; MQTT messages arrive through the site
//! broker connection; HTTP devices post to the admin API.

pub mod framing;
pub mod intake;
pub mod mqtt_in;
pub mod serial;

use std::sync::{Arc, Mutex};

use serde::Serialize;

/// One input from a device: a scanned line, an MQTT payload, an HTTP body.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Device id from the configuration.
    pub device: Arc<str>,
    /// The bytes as received (terminator, prefix and suffix removed).
    pub bytes: Vec<u8>,
    /// When it arrived, ms since the epoch.
    pub received_ms: i64,
    /// Set when the input was rejected before decoding (e.g. an overlong line): the reason,
    /// which sends it to quarantine.
    pub rejected: Option<&'static str>,
}

/// What the admin API shows about a device; updated by its task.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeviceSnapshot {
    /// Whether the device is connected (port open, broker connected).
    pub up: bool,
    /// Last problem (open failure, unplug, rejected input).
    pub last_error: Option<String>,
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
    /// The status API's copy.
    pub fn report(&self) -> DeviceSnapshotReport {
        DeviceSnapshotReport {
            up: self.up,
            last_error: self.last_error.clone(),
            last_input_at: self.last_input_at.clone(),
            inputs: self.inputs,
            rejected: self.rejected,
            reconnects: self.reconnects,
        }
    }
}

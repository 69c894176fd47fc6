//! Configuration of the inbound side: the site MQTT broker, barcode classification rules and
//! the devices (serial scanners, MQTT scanners and dock sensors, HTTP inputs).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{de_duration, de_size, is_name};
use crate::decode::{self, BarcodeRules, BarcodeRulesError, TextPatterns};
use crate::model::Station;

/// `[mqtt]`: the site broker that scanners and sensors publish to.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// `mqtt://host:port` or `mqtts://host:port` (TLS).
    pub url: String,
    /// Client id; stable across restarts so the broker keeps the persistent session.
    /// Default `dockgate-<site.id>`.
    pub client_id: Option<String>,
    /// User name, if the broker wants one (with `password_file`).
    pub username: Option<String>,
    /// File holding the password.
    pub password_file: Option<PathBuf>,
    /// CA certificate(s) (PEM) to verify an `mqtts://` broker; required for `mqtts://`.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS (with `client_key_file`).
    pub client_cert_file: Option<PathBuf>,
    /// Client private key (PEM).
    pub client_key_file: Option<PathBuf>,
    /// Keep-alive interval.
    #[serde(default = "default_keep_alive", deserialize_with = "de_duration")]
    pub keep_alive: Duration,
    /// Largest MQTT packet accepted; larger messages are rejected into quarantine.
    #[serde(default = "default_max_packet", deserialize_with = "de_size")]
    pub max_packet_size: u64,
}

fn default_keep_alive() -> Duration {
    Duration::from_secs(30)
}
fn default_max_packet() -> u64 {
    256 * 1024
}

/// `[barcodes]`: how plain-text scans are classified (GS1, Digital Link and EAN/UPC are
/// recognised without configuration).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BarcodesConfig {
    /// Regular expression of an order number; empty switches it off.
    #[serde(default = "d_order")]
    pub order: String,
    /// Regular expression of a location label.
    #[serde(default = "d_location")]
    pub location: String,
    /// Regular expression of a tote label.
    #[serde(default = "d_tote")]
    pub tote: String,
    /// Regular expression of a return authorisation (RMA) number.
    #[serde(default = "d_rma")]
    pub rma: String,
    /// Regular expression of a condition code for returned goods.
    #[serde(default = "d_condition")]
    pub condition: String,
    /// Exact text of the "done" command barcode.
    #[serde(default = "d_done")]
    pub done: String,
    /// Exact text of the "cancel" command barcode.
    #[serde(default = "d_cancel")]
    pub cancel: String,
    /// Strings keyboard-mode scanners type instead of the GS separator, e.g. `["^]", "<GS>"]`.
    #[serde(default)]
    pub gs_substitutes: Vec<String>,
}

fn d_order() -> String {
    decode::DEFAULT_ORDER.into()
}
fn d_location() -> String {
    decode::DEFAULT_LOCATION.into()
}
fn d_tote() -> String {
    decode::DEFAULT_TOTE.into()
}
fn d_rma() -> String {
    decode::DEFAULT_RMA.into()
}
fn d_condition() -> String {
    decode::DEFAULT_CONDITION.into()
}
fn d_done() -> String {
    decode::DEFAULT_DONE.into()
}
fn d_cancel() -> String {
    decode::DEFAULT_CANCEL.into()
}

impl Default for BarcodesConfig {
    fn default() -> Self {
        Self {
            order: d_order(),
            location: d_location(),
            tote: d_tote(),
            rma: d_rma(),
            condition: d_condition(),
            done: d_done(),
            cancel: d_cancel(),
            gs_substitutes: Vec::new(),
        }
    }
}

impl BarcodesConfig {
    /// The decoder's rules.
    pub fn rules(&self) -> Result<BarcodeRules, BarcodeRulesError> {
        BarcodeRules::new(&TextPatterns {
            order: &self.order,
            location: &self.location,
            tote: &self.tote,
            rma: &self.rma,
            condition: &self.condition,
            done: &self.done,
            cancel: &self.cancel,
        })?
        .with_gs_substitutes(self.gs_substitutes.iter().cloned())
    }
}

/// Where a device's input comes from.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// A serial port (RS-232, USB-CDC).
    Serial,
    /// A topic on the site broker.
    Mqtt,
    /// `POST /api/v1/ingest/<device>`.
    Http,
}

/// Serial parity.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Parity {
    /// No parity bit.
    #[default]
    None,
    /// Odd parity.
    Odd,
    /// Even parity.
    Even,
}

/// Serial flow control.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FlowControl {
    /// None.
    #[default]
    None,
    /// XON/XOFF.
    Software,
    /// RTS/CTS.
    Hardware,
}

/// `[devices.<id>]`: one scanner, sensor or HTTP input.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    /// `serial`, `mqtt` or `http`.
    pub source: SourceKind,
    /// `pick`, `pack`, `ship`, `receive`, `return`, `count` or `dock`.
    pub station: Station,
    /// Dock door this device belongs to (events carry it as `door`).
    pub door: Option<String>,
    /// Serial: device path; prefer the stable `/dev/serial/by-id/...` link.
    pub path: Option<PathBuf>,
    /// Serial: baud rate.
    #[serde(default = "d_baud")]
    pub baud: u32,
    /// Serial: data bits (5 to 8).
    #[serde(default = "d_data_bits")]
    pub data_bits: u8,
    /// Serial: `none`, `odd` or `even`.
    #[serde(default)]
    pub parity: Parity,
    /// Serial: 1 or 2.
    #[serde(default = "d_stop_bits")]
    pub stop_bits: u8,
    /// Serial: `none`, `software` or `hardware`.
    #[serde(default)]
    pub flow_control: FlowControl,
    /// Serial: what ends a scan: `cr`, `lf`, `crlf`, `any` (CR, LF or CRLF) or a custom string.
    #[serde(default = "d_terminator")]
    pub terminator: String,
    /// Serial: text the scanner puts before every scan, removed.
    pub prefix: Option<String>,
    /// Serial: text the scanner puts after every scan (before the terminator), removed.
    pub suffix: Option<String>,
    /// Serial: longest scan in bytes; longer lines are rejected (and quarantined).
    #[serde(default = "d_max_line")]
    pub max_line: usize,
    /// MQTT: topic the device publishes to.
    pub topic: Option<String>,
    /// MQTT: publish operator feedback to `dockgate/<site>/devices/<id>/feedback`.
    #[serde(default = "d_true")]
    pub feedback: bool,
    /// Dock: a state must hold this long before it counts as a change.
    #[serde(default = "d_debounce", deserialize_with = "de_duration")]
    pub debounce: Duration,
    /// An open session (order) with no input for this long is closed.
    #[serde(default = "d_session_idle", deserialize_with = "de_duration")]
    pub session_idle: Duration,
}

fn d_baud() -> u32 {
    9600
}
fn d_data_bits() -> u8 {
    8
}
fn d_stop_bits() -> u8 {
    1
}
fn d_terminator() -> String {
    "any".into()
}
fn d_max_line() -> usize {
    4096
}
fn d_true() -> bool {
    true
}
fn d_debounce() -> Duration {
    Duration::from_secs(2)
}
fn d_session_idle() -> Duration {
    Duration::from_secs(30 * 60)
}

/// Checks the inbound sections; `bad(key, message)` records a problem.
pub(super) fn validate(
    mqtt: Option<&MqttConfig>,
    barcodes: &BarcodesConfig,
    devices: &std::collections::BTreeMap<String, DeviceConfig>,
    bad: &mut dyn FnMut(String, String),
) {
    if let Some(m) = mqtt {
        match reqwest::Url::parse(&m.url) {
            Ok(u) if u.scheme() == "mqtts" && m.ca_file.is_none() => bad(
                "mqtt.ca_file".into(),
                "mqtts:// needs ca_file, the CA certificate (PEM) that signed the broker's certificate".into(),
            ),
            Ok(u) if matches!(u.scheme(), "mqtt" | "mqtts") && u.host_str().is_some() => {}
            _ => bad(
                "mqtt.url".into(),
                format!("expected mqtt://host:port or mqtts://host:port, got {:?}", m.url),
            ),
        }
        if m.username.is_some() != m.password_file.is_some() {
            bad(
                "mqtt.username".into(),
                "username and password_file go together".into(),
            );
        }
        if m.client_cert_file.is_some() != m.client_key_file.is_some() {
            bad(
                "mqtt.client_cert_file".into(),
                "client_cert_file and client_key_file go together".into(),
            );
        }
        if !(1024..=256 * 1024 * 1024).contains(&m.max_packet_size) {
            bad(
                "mqtt.max_packet_size".into(),
                "expected 1KiB to 256MiB".into(),
            );
        }
    }
    if let Err(error) = barcodes.rules() {
        let key = match &error {
            BarcodeRulesError::Pattern { rule, .. } => format!("barcodes.{rule}"),
            BarcodeRulesError::EmptySubstitute => "barcodes.gs_substitutes".into(),
        };
        let detail = match &error {
            BarcodeRulesError::Pattern { source, .. } => format!("{error}: {source}"),
            other => other.to_string(),
        };
        bad(key, detail);
    }
    let mut topics = std::collections::BTreeMap::new();
    for (id, d) in devices {
        let key = |field: &str| format!("devices.{id}.{field}");
        if !is_name(id) {
            bad(
                format!("devices.{id}"),
                "device ids use letters, digits, '-', '_' or '.'".into(),
            );
        }
        let serial_only = [
            ("path", d.path.is_some()),
            ("prefix", d.prefix.is_some()),
            ("suffix", d.suffix.is_some()),
        ];
        match d.source {
            SourceKind::Serial => {
                if d.path.is_none() {
                    bad(
                        key("path"),
                        "a serial device needs path, e.g. \"/dev/serial/by-id/usb-...\"".into(),
                    );
                }
                if !(5..=8).contains(&d.data_bits) {
                    bad(key("data_bits"), "expected 5, 6, 7 or 8".into());
                }
                if !matches!(d.stop_bits, 1 | 2) {
                    bad(key("stop_bits"), "expected 1 or 2".into());
                }
                if d.baud == 0 {
                    bad(key("baud"), "expected a baud rate such as 9600".into());
                }
                if d.terminator.is_empty() {
                    bad(
                        key("terminator"),
                        "expected cr, lf, crlf, any or a non-empty string".into(),
                    );
                }
                if !(16..=1024 * 1024).contains(&d.max_line) {
                    bad(key("max_line"), "expected 16 to 1048576 bytes".into());
                }
                if d.topic.is_some() {
                    bad(key("topic"), "topic is for source = \"mqtt\"".into());
                }
            }
            SourceKind::Mqtt => {
                match &d.topic {
                    None => bad(key("topic"), "an MQTT device needs topic".into()),
                    Some(t) if t.is_empty() || t.contains(['+', '#']) => {
                        bad(key("topic"), "expected one topic without wildcards".into())
                    }
                    Some(t) if t.starts_with("dockgate/") => bad(
                        key("topic"),
                        "topics under dockgate/ are dockgate's own (feedback, configuration)"
                            .into(),
                    ),
                    Some(t) => {
                        if let Some(other) = topics.insert(t.clone(), id.clone()) {
                            bad(
                                key("topic"),
                                format!("topic {t:?} is already used by device {other}"),
                            );
                        }
                    }
                }
                if mqtt.is_none() {
                    bad(key("source"), "MQTT devices need an [mqtt] section".into());
                }
                for (field, set) in serial_only {
                    if set {
                        bad(key(field), format!("{field} is for source = \"serial\""));
                    }
                }
            }
            SourceKind::Http => {
                for (field, set) in serial_only
                    .into_iter()
                    .chain([("topic", d.topic.is_some())])
                {
                    if set {
                        bad(
                            key(field),
                            format!("{field} does not apply to source = \"http\""),
                        );
                    }
                }
            }
        }
        if d.station == Station::Dock && d.door.is_none() {
            bad(key("door"), "a dock device needs door, e.g. \"D07\"".into());
        }
        if d.session_idle < Duration::from_secs(1) {
            bad(key("session_idle"), "expected at least 1s".into());
        }
    }
}

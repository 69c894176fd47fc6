//! From the bytes a device sent to a [`Step`]: read the input as the device's station expects
//! it (a dock message at a dock station, a scan elsewhere: plain text or a JSON scan object),
//! decode it, apply it. What cannot be read is refused with a reason, for the quarantine.

use serde::Deserialize;

use super::{apply_dock, apply_scan, parse_dock, DeviceContext, Session, Step};
use crate::decode::{self, BarcodeRules};
use crate::model::Station;

/// What became of one input.
#[derive(Debug, Clone, PartialEq)]
pub enum Fold {
    /// Applied: the events and feedback it produced (possibly no event, e.g. an order scan
    /// opening a session).
    Applied(Step),
    /// Not readable; the session is unchanged.
    Rejected {
        /// Machine reason: `invalid_utf8`, `control_bytes`, `empty`, `invalid_json` or
        /// `invalid_dock_message`.
        reason: &'static str,
        /// What is wrong, for people.
        detail: String,
    },
}

/// A scanner payload sent as JSON over MQTT or HTTP.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScanJson {
    data: String,
    #[serde(default)]
    symbology: Option<String>,
}

/// The scanned text of a scan object: `symbology` in front of `data`, unless `data` starts
/// with an AIM identifier already (some readers send it in both fields).
fn joined(j: ScanJson) -> String {
    match j.symbology {
        Some(symbology) if decode::Aim::split(&j.data).0.is_none() => {
            format!("{symbology}{}", j.data)
        }
        _ => j.data,
    }
}

/// Reads, decodes and applies one input of device `dev`, which arrived at `received_ms`.
pub fn fold(
    session: &mut Session,
    dev: &DeviceContext,
    bytes: &[u8],
    rules: &BarcodeRules,
    received_ms: i64,
) -> Fold {
    let rejected = |reason, detail| Fold::Rejected { reason, detail };
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => return rejected("invalid_utf8", format!("not UTF-8 text ({e})")),
    };
    // GS (the GS1 separator), tab and line ends are what scanners legitimately send.
    if let Some(bad) = text
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\u{1d}' | '\t' | '\r' | '\n'))
    {
        return rejected(
            "control_bytes",
            format!("control character U+{:04X} in input", bad as u32),
        );
    }
    let text = text.trim_matches(|c| c == '\r' || c == '\n');
    if text.trim().is_empty() {
        return rejected("empty", "empty input".into());
    }
    if dev.station == Station::Dock {
        return match parse_dock(text) {
            Ok(signal) => Fold::Applied(apply_dock(session, dev, text, signal, received_ms)),
            Err(why) => rejected("invalid_dock_message", why),
        };
    }
    let scanned = if text.starts_with('{') {
        match serde_json::from_str::<ScanJson>(text) {
            Ok(j) => joined(j),
            Err(e) => return rejected("invalid_json", format!("not a scan object: {e}")),
        }
    } else {
        text.to_owned()
    };
    let today = decode::civil_from_unix_days(received_ms.div_euclid(86_400_000));
    let reading = decode::decode(&scanned, rules, today);
    Fold::Applied(apply_scan(session, dev, &scanned, &reading, received_ms))
}

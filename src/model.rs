//! Types that cross module lines: what a device sent ([`Input`]), the station roles, events on
//! their way into the ledger, delivery states, and the CloudEvents envelope a sink receives.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// One thing a device sent: a scanned line, an MQTT message, an HTTP POST body. Every source
/// (serial, MQTT, HTTP) produces this one type, and the ledger takes nothing else from devices.
#[derive(Debug, Clone)]
pub struct Input {
    /// Device id from the configuration (`topic:<name>` for a message on a topic no device has).
    pub device: Arc<str>,
    /// The bytes as received (a serial line without its terminator, prefix and suffix).
    pub bytes: Vec<u8>,
    /// When it arrived, ms since the epoch.
    pub received_ms: i64,
    /// Refused by the device reader before decoding (e.g. an overlong line): the reason, which
    /// sends the input to quarantine.
    pub rejected: Option<&'static str>,
    /// Set for MQTT messages, so a redelivery of one already committed is recognised.
    pub redelivery: Option<Redelivery>,
}

/// What identifies an MQTT message across a redelivery by the broker.
#[derive(Debug, Clone)]
pub struct Redelivery {
    /// Packet id in dockgate's broker session.
    pub pkid: u16,
    /// DUP flag: the broker says it may have sent this before.
    pub dup: bool,
    /// SHA-256 of topic and payload.
    pub hash: [u8; 32],
}

/// What a device's input means (DESIGN §3).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Station {
    /// Order picking.
    Pick,
    /// Packing into logistic units.
    Pack,
    /// Loading and dispatch.
    Ship,
    /// Goods receipt.
    Receive,
    /// Customer returns, by RMA.
    Return,
    /// Cycle counts, by location.
    Count,
    /// Door and trailer sensors.
    Dock,
}

impl Station {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pick => "pick",
            Self::Pack => "pack",
            Self::Ship => "ship",
            Self::Receive => "receive",
            Self::Return => "return",
            Self::Count => "count",
            Self::Dock => "dock",
        }
    }
}

/// A business event before the ledger gives it an id and a sequence number.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// CloudEvents `type`, e.g. `pick.confirmed`.
    pub event_type: String,
    /// Business key that orders events (order number, SSCC, door).
    pub subject: String,
    /// CloudEvents `source`, e.g. `dockgate://wh-berlin-01/api`; shared by the events of one
    /// input or POST.
    pub source: Arc<str>,
    /// When the input arrived, in milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// The event body, kept as the client wrote it.
    pub data: Box<RawValue>,
}

/// Where one event stands on one sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Waiting to be sent (or being sent).
    Pending,
    /// Waiting behind a dead-lettered event of the same subject.
    Held,
    /// Refused by the receiver; kept with its status and response excerpt until replayed.
    Dead,
    /// Acknowledged with a 2xx; kept as a receipt until retention.
    Delivered,
}

impl DeliveryState {
    /// The state's name, as the CLI and the API spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Held => "held",
            Self::Dead => "dead",
            Self::Delivered => "delivered",
        }
    }

    /// Parses a state name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "held" => Self::Held,
            "dead" => Self::Dead,
            "delivered" => Self::Delivered,
            _ => return None,
        })
    }
}

impl fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Draining order of a backlog (DESIGN §4): lower drains first. It only reorders across
/// subjects; within a subject, sequence order always wins.
pub fn priority_of(event_type: &str) -> i64 {
    if event_type.starts_with("shipment.") || event_type.ends_with(".exception") {
        0
    } else if is_telemetry(event_type) {
        2
    } else {
        1
    }
}

/// Telemetry may be dropped when the buffer is full; business events never are.
pub fn is_telemetry(event_type: &str) -> bool {
    event_type.starts_with("dock.") || event_type == "scan.unmatched"
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// RFC 3339 UTC with exactly three fractional digits and `Z`, as CloudEvents `time` requires here.
pub fn rfc3339_ms(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

/// Appends the CloudEvents 1.0 structured-mode JSON of one event to `out`.
///
/// Built by hand from the event's attributes (the `data` text is already JSON) so sending a
/// backlog does not re-parse every body.
#[allow(clippy::too_many_arguments)]
pub fn write_cloudevent(
    out: &mut String,
    id: &str,
    source: &str,
    event_type: &str,
    subject: &str,
    time: &str,
    seq: i64,
    data: &str,
) {
    use std::fmt::Write;
    out.push_str("{\"specversion\":\"1.0\",\"id\":");
    push_json_str(out, id);
    out.push_str(",\"source\":");
    push_json_str(out, source);
    out.push_str(",\"type\":");
    push_json_str(out, event_type);
    out.push_str(",\"subject\":");
    push_json_str(out, subject);
    out.push_str(",\"time\":");
    push_json_str(out, time);
    let _ = write!(
        out,
        ",\"datacontenttype\":\"application/json\",\"sequence\":\"{seq}\",\"data\":"
    );
    out.push_str(data);
    out.push('}');
}

/// `s` as a JSON string, escaped as JSON requires (quote, backslash, control characters),
/// written straight into `out`.
fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            use std::fmt::Write;
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// An error and its causes on one line, `outer: inner: root`.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    Chain(error).to_string()
}

/// Displays an error with its causes, `outer: inner: root`, for log fields:
/// `warn!(error = %Chain(&error), ...)`.
pub struct Chain<'a>(pub &'a dyn std::error::Error);

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_follow_design() {
        assert_eq!(priority_of("shipment.loaded"), 0);
        for text in [
            "plain",
            "a \"quote\" and \\",
            "tab\there\nline",
            "\u{1}\u{1f}é✓",
            "",
        ] {
            let mut out = String::new();
            push_json_str(&mut out, text);
            assert_eq!(serde_json::from_str::<String>(&out).unwrap(), text, "{out}");
        }
        assert_eq!(priority_of("pick.exception"), 0);
        assert_eq!(priority_of("pick.confirmed"), 1);
        assert_eq!(priority_of("dock.door.opened"), 2);
        assert_eq!(priority_of("scan.unmatched"), 2);
        assert!(is_telemetry("dock.trailer.arrived"));
        assert!(!is_telemetry("receipt.confirmed"));
    }

    #[test]
    fn time_has_three_fraction_digits_and_z() {
        assert_eq!(rfc3339_ms(1_700_000_000_000), "2023-11-14T22:13:20.000Z");
        assert_eq!(rfc3339_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn cloudevent_is_valid_json_with_string_sequence() {
        let mut out = String::new();
        write_cloudevent(
            &mut out,
            "0190-x",
            "dockgate://wh/api",
            "pick.confirmed",
            "SO-\"1\"",
            "2023-11-14T22:13:20.000Z",
            42,
            "{\"a\":1}",
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["sequence"], "42");
        assert_eq!(v["subject"], "SO-\"1\"");
        assert_eq!(v["data"]["a"], 1);
    }
}

//! The status of a running daemon, as `/api/v1/status`, `dockgate status`, the `/` page
//! ([`super::page`]), `/metrics` gauges and the systemd STATUS line all show it, and the words
//! and ages those share.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::live::Live;
use crate::forward::SinkSnapshot;
use crate::ledger::{Backlog, EventFilter, LedgerError, LedgerHandle};
use crate::model::{now_ms, rfc3339_ms, DeliveryState};

/// Most dead letters a status lists; each sink's `dead` counts them all.
pub const DEAD_LETTERS_SHOWN: usize = 20;

/// Everything `dockgate status` prints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    /// `site.id`.
    pub site: String,
    /// Running configuration version.
    pub config_version: u64,
    /// Where the running configuration came from (`local file ...`, `push signed by key ...`,
    /// `rollback`).
    #[serde(default)]
    pub config_origin: String,
    /// dockgate version.
    pub version: String,
    /// Seconds since start.
    pub uptime_seconds: u64,
    /// When this status was read (RFC 3339): the ages shown are counted up to it, so they
    /// do not depend on the clock of whoever reads them.
    #[serde(default)]
    pub generated_at: String,
    /// Buffer fill and forecast.
    pub buffer: BufferStatus,
    /// One entry per sink.
    pub sinks: Vec<SinkReport>,
    /// One entry per device.
    #[serde(default)]
    pub devices: Vec<DeviceReport>,
    /// The oldest dead letters of all sinks, at most [`DEAD_LETTERS_SHOWN`] (read only where
    /// they are shown: `/api/v1/status` and the page, not `/metrics`).
    #[serde(default)]
    pub dead_letters: Vec<DeadLetter>,
}

/// A dead letter as status shows it: what it is and why it was refused, never its data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Event id.
    pub id: String,
    /// The sink that refused it.
    pub sink: String,
    /// Its subject (an order, a shipment), whose later events wait behind it.
    pub subject: String,
    /// Event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Event time (RFC 3339).
    pub time: String,
    /// Attempts made.
    pub attempts: i64,
    /// HTTP status of the refusal.
    pub last_status: Option<i64>,
    /// Why it was refused.
    pub last_error: Option<String>,
}

impl DeadLetter {
    /// Why it was refused, for people.
    pub fn why(&self) -> String {
        let mut why = match (self.last_status, &self.last_error) {
            (_, Some(e)) => e.clone(),
            (Some(code), None) => format!("HTTP {code}"),
            (None, None) => "refused".to_owned(),
        };
        if self.attempts > 1 {
            why.push_str(&format!(" (after {} attempts)", self.attempts));
        }
        why
    }

    /// The command that delivers it again, once the cause is fixed.
    pub fn replay_command(&self) -> String {
        format!(
            "dockgate replay --sink {} --event {}",
            shell_word(&self.sink),
            shell_word(&self.id)
        )
    }
}

/// The commands for all dead letters of `sink`: the one that delivers them again, and the one
/// that lists them.
pub fn dead_letter_commands(sink: &str) -> (String, String) {
    let sink = shell_word(sink);
    (
        format!("dockgate replay --sink {sink} --dead"),
        format!("dockgate events --sink {sink} --state dead"),
    )
}

/// `word` as a POSIX shell reads it back: as is when it is plain, else single-quoted.
pub fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_.:/=@%+,".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// Device part of [`Status`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceReport {
    /// Device id.
    pub id: String,
    /// `serial`, `mqtt` or `http`.
    pub source: String,
    /// Station role.
    pub station: String,
    /// The device task's view.
    #[serde(flatten)]
    pub snapshot: crate::devices::DeviceSnapshotReport,
}

impl DeviceReport {
    /// `up` or `down`, the word the CLI and the page use.
    pub fn word(&self) -> &'static str {
        if self.snapshot.up {
            "up"
        } else {
            "down"
        }
    }

    /// Whether the last error still holds: the device is down. A device that is up has got
    /// over it (reconnected), or it was about one input, since followed by others.
    pub fn error_is_current(&self) -> bool {
        self.snapshot.last_error.is_some() && !self.snapshot.up
    }
}

/// Buffer part of [`Status`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BufferStatus {
    /// Bytes in use.
    pub used_bytes: u64,
    /// `buffer.max_disk`.
    pub max_bytes: u64,
    /// Percent full.
    pub percent_full: f64,
    /// Events stored.
    pub events: u64,
    /// Events committed in the last hour.
    pub events_last_hour: u64,
    /// Hours of input the free space holds at the last hour's rate; absent without input.
    pub hours_left: Option<f64>,
    /// One line for people: fill level, forecast and warning.
    pub summary: String,
    /// Last sequence number handed out.
    pub last_sequence: i64,
    /// Damaged buffer files set aside in the data directory and not removed yet.
    #[serde(default)]
    pub set_aside: Vec<String>,
}

/// Sink part of [`Status`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SinkReport {
    /// Sink name.
    pub name: String,
    /// Sink URL.
    pub url: String,
    /// Pending events.
    pub pending: u64,
    /// Held events (behind a dead letter).
    pub held: u64,
    /// Dead letters.
    pub dead: u64,
    /// Age of the oldest pending event, in seconds.
    pub oldest_pending_age_seconds: Option<f64>,
    /// `ok`, `retrying` or `paused`; `removed` for a sink no longer configured that still has
    /// events waiting (listed and replayable, sent again once the sink is added back).
    pub state: String,
    /// Why paused.
    pub paused_reason: Option<String>,
    /// Last failure.
    pub last_error: Option<String>,
    /// When it happened.
    pub last_error_at: Option<String>,
    /// Last delivery.
    pub last_delivery_at: Option<String>,
    /// Requests in flight.
    pub in_flight: usize,
    /// Current ramp-up limit.
    pub concurrency_limit: usize,
}

impl SinkReport {
    /// Whether the last error still holds: no delivery succeeded after it. One older than the
    /// last delivery is past (the receiver has taken events since).
    pub fn error_is_current(&self) -> bool {
        match (
            &self.last_error,
            &self.last_error_at,
            &self.last_delivery_at,
        ) {
            (None, _, _) => false,
            (Some(_), Some(error_at), Some(delivered)) => {
                seconds_between(error_at, delivered).is_none_or(|s| s < 0.0)
            }
            // Without both times there is nothing to say it is over.
            (Some(_), _, _) => true,
        }
    }
}

/// Reads the ledger and the sink workers' and devices' views of what runs now.
pub async fn collect(
    ledger: &LedgerHandle,
    live: &Live,
    started: Instant,
) -> Result<Status, LedgerError> {
    let config = &live.config;
    let sinks = &live.sinks;
    let devices = &live.devices;
    let names: Vec<String> = config.sinks.keys().cloned().collect();
    let figures = ledger.status(names).await?;
    let used = figures.used_bytes;
    let set_aside = figures.set_aside.clone();
    let max = config.buffer.max_disk;
    let percent = used as f64 * 100.0 / max.max(1) as f64;
    // Bytes one hour of input takes, scaled from event data to what the buffer really uses.
    let hours_left = if figures.data_bytes_last_hour > 0 && figures.data_bytes > 0 {
        let per_hour =
            used as f64 * figures.data_bytes_last_hour as f64 / figures.data_bytes as f64;
        Some(max.saturating_sub(used) as f64 / per_hour.max(1.0))
    } else {
        None
    };
    let mut summary = format!("{percent:.1} % of {} used", bytesize::ByteSize(max));
    match hours_left {
        Some(h) => summary.push_str(&format!(
            "; holds about {} at the last hour's input rate",
            human_hours(h)
        )),
        None => summary.push_str("; no input in the last hour"),
    }
    if let Some(last) = set_aside.last() {
        summary.push_str(&format!(
            "; ALERT: a damaged buffer was set aside as {last}, events waiting in it were not forwarded"
        ));
    }
    if percent >= 80.0 {
        summary.push_str("; WARNING: over 80 % full");
    } else if percent >= 50.0 {
        summary.push_str("; warning: over 50 % full");
    }
    let sinks = figures
        .sinks
        .into_iter()
        .map(|b: Backlog| {
            let configured = config.sinks.contains_key(&b.sink);
            let snap: SinkSnapshot = sinks
                .iter()
                .find(|(n, _)| *n == b.sink)
                .and_then(|(_, s)| s.lock().ok().map(|s| s.clone()))
                .unwrap_or_default();
            SinkReport {
                url: config
                    .sinks
                    .get(&b.sink)
                    .map(|s| s.url.clone())
                    .unwrap_or_default(),
                name: b.sink,
                pending: b.pending,
                held: b.held,
                dead: b.dead,
                oldest_pending_age_seconds: b.oldest_pending_age_seconds,
                state: if !configured {
                    "removed".into()
                } else if snap.state.is_empty() {
                    "ok".into()
                } else {
                    snap.state.into()
                },
                paused_reason: snap.paused_reason,
                last_error: snap.last_error,
                last_error_at: snap.last_error_at,
                last_delivery_at: snap
                    .last_delivery_at
                    .or(b.removed_last_delivery_ms.map(rfc3339_ms)),
                in_flight: snap.in_flight,
                concurrency_limit: snap.concurrency_limit,
            }
        })
        .collect();
    Ok(Status {
        generated_at: rfc3339_ms(now_ms()),
        dead_letters: Vec::new(),
        site: config.site.id.clone(),
        config_version: config.version,
        config_origin: live.origin.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        // Rounded like the ages beside it, so a problem from the first second is not older
        // than the daemon.
        uptime_seconds: started.elapsed().as_secs_f64().round() as u64,
        buffer: BufferStatus {
            used_bytes: used,
            max_bytes: max,
            percent_full: (percent * 10.0).round() / 10.0,
            events: figures.events,
            events_last_hour: figures.events_last_hour,
            hours_left: hours_left.map(|h| (h * 10.0).round() / 10.0),
            summary,
            last_sequence: figures.last_sequence,
            set_aside,
        },
        sinks,
        devices: devices
            .iter()
            .map(|(id, st)| {
                let d = config.devices.get(&**id);
                DeviceReport {
                    id: id.to_string(),
                    source: d
                        .map(|d| format!("{:?}", d.source).to_lowercase())
                        .unwrap_or_default(),
                    station: d.map(|d| d.station.as_str().to_owned()).unwrap_or_default(),
                    snapshot: st.lock().map(|s| s.report()).unwrap_or_default(),
                }
            })
            .collect(),
    })
}

/// Reads the oldest dead letters into `st` (skipped when no sink has one).
pub async fn add_dead_letters(ledger: &LedgerHandle, st: &mut Status) -> Result<(), LedgerError> {
    if st.sinks.iter().all(|s| s.dead == 0) {
        return Ok(());
    }
    let filter = EventFilter {
        sink: None,
        state: Some(DeliveryState::Dead),
        limit: DEAD_LETTERS_SHOWN,
    };
    st.dead_letters = ledger
        .events(filter)
        .await?
        .into_iter()
        .map(|e| DeadLetter {
            id: e.id,
            sink: e.sink,
            subject: e.subject,
            event_type: e.event_type,
            time: e.time,
            attempts: e.attempts,
            last_status: e.last_status,
            last_error: e.last_error,
        })
        .collect();
    Ok(())
}

impl Status {
    /// Seconds from `at` (RFC 3339) to when this status was read; none without a time.
    pub fn age_of(&self, at: Option<&str>) -> Option<f64> {
        seconds_between(at?, &self.generated_at).map(|s| s.max(0.0))
    }

    /// Dead letters of all sinks.
    pub fn dead_total(&self) -> u64 {
        self.sinks.iter().map(|s| s.dead).sum()
    }
}

/// Seconds from `earlier` to `later`, both RFC 3339 (negative when `later` is earlier); none
/// when either does not parse.
pub fn seconds_between(earlier: &str, later: &str) -> Option<f64> {
    let parse = |t: &str| {
        let t = humantime::parse_rfc3339_weak(t).ok()?;
        let ms = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis();
        Some(ms as f64 / 1000.0)
    };
    Some(parse(later)? - parse(earlier)?)
}

/// An age for people: "12 s", "4 min", "5 h", "6 days".
pub fn human_age(secs: f64) -> String {
    if secs < 120.0 {
        format!("{:.0} s", secs.max(0.0))
    } else {
        human_hours(secs / 3600.0)
    }
}

/// "31 h", "2.5 d", "40 min".
pub fn human_hours(h: f64) -> String {
    if h >= 72.0 {
        format!("{:.0} days", h / 24.0)
    } else if h >= 1.0 {
        format!("{h:.0} h")
    } else {
        format!("{:.0} min", h * 60.0)
    }
}

/// Sets the buffer gauges of `/metrics` from a fresh status.
pub fn publish_gauges(st: &Status) {
    metrics::gauge!("dockgate_buffer_bytes").set(st.buffer.used_bytes as f64);
    metrics::gauge!("dockgate_buffer_max_bytes").set(st.buffer.max_bytes as f64);
    metrics::gauge!("dockgate_buffer_events").set(st.buffer.events as f64);
    metrics::gauge!("dockgate_config_version").set(st.config_version as f64);
    metrics::gauge!("dockgate_buffer_set_aside_files").set(st.buffer.set_aside.len() as f64);
    for s in &st.sinks {
        for (state, n) in [("pending", s.pending), ("held", s.held), ("dead", s.dead)] {
            metrics::gauge!("dockgate_backlog_events", "sink" => s.name.clone(), "state" => state)
                .set(n as f64);
        }
        metrics::gauge!("dockgate_oldest_pending_age_seconds", "sink" => s.name.clone())
            .set(s.oldest_pending_age_seconds.unwrap_or(0.0));
    }
}

/// The one-line summary for systemd's STATUS=.
pub fn one_line(st: &Status) -> String {
    let mut parts = Vec::new();
    for s in &st.sinks {
        let mut p = format!("{}: {} pending", s.name, s.pending);
        if s.dead > 0 {
            p.push_str(&format!(", {} dead", s.dead));
        }
        if s.state != "ok" {
            p.push_str(&format!(" ({})", s.state));
        }
        parts.push(p);
    }
    parts.push(format!("buffer {:.0} %", st.buffer.percent_full));
    if !st.buffer.set_aside.is_empty() {
        parts.push("damaged buffer set aside".into());
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_read_naturally() {
        assert_eq!(human_hours(31.2), "31 h");
        assert_eq!(human_hours(0.5), "30 min");
        assert_eq!(human_hours(240.0), "10 days");
    }

    #[test]
    fn ages_count_between_two_times() {
        let at = "2026-03-02T10:00:00.000Z";
        assert_eq!(seconds_between("2026-03-02T09:59:30.500Z", at), Some(29.5));
        assert_eq!(seconds_between(at, "2026-03-02T09:59:00Z"), Some(-60.0));
        assert_eq!(seconds_between("not a time", at), None);
        assert_eq!(human_age(42.4), "42 s");
        assert_eq!(human_age(600.0), "10 min");
        assert_eq!(human_age(5.0 * 3600.0), "5 h");
    }

    #[test]
    fn shell_words_survive_a_paste() {
        assert_eq!(shell_word("erp-legacy.v2"), "erp-legacy.v2");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("$(rm -rf /)"), "'$(rm -rf /)'");
    }
}

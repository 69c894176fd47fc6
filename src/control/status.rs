//! The status of a running daemon, as `/api/v1/status`, the `/` page, `/metrics` gauges and the
//! systemd STATUS line all show it.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::live::Live;
use crate::forward::SinkSnapshot;
use crate::ledger::{Backlog, LedgerError, LedgerHandle};

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
    /// Buffer fill and forecast.
    pub buffer: BufferStatus,
    /// One entry per sink.
    pub sinks: Vec<SinkReport>,
    /// One entry per device.
    #[serde(default)]
    pub devices: Vec<DeviceReport>,
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
                last_delivery_at: snap.last_delivery_at,
                in_flight: snap.in_flight,
                concurrency_limit: snap.concurrency_limit,
            }
        })
        .collect();
    Ok(Status {
        site: config.site.id.clone(),
        config_version: config.version,
        config_origin: live.origin.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        uptime_seconds: started.elapsed().as_secs(),
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

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn age(secs: Option<f64>) -> String {
    match secs {
        None => "-".into(),
        Some(s) if s < 120.0 => format!("{s:.0} s"),
        Some(s) if s < 7200.0 => format!("{:.0} min", s / 60.0),
        Some(s) => format!("{:.1} h", s / 3600.0),
    }
}

/// The `/` page: one glance tells a supervisor whether shipments reach the ERP.
pub fn render_page(st: &Status) -> String {
    let mut rows = String::new();
    for s in &st.sinks {
        let (color, word) = match (s.state.as_str(), s.dead) {
            ("paused", _) => ("#c62828", "STOPPED: needs IT"),
            ("removed", _) => ("#6d6d6d", "removed from the configuration"),
            ("retrying", _) => ("#ef6c00", "not reachable, retrying"),
            (_, d) if d > 0 => ("#ef6c00", "some events refused"),
            _ if s.oldest_pending_age_seconds.unwrap_or(0.0) > 300.0 => ("#ef6c00", "behind"),
            _ => ("#2e7d32", "up to date"),
        };
        rows.push_str(&format!(
            "<tr><td><b>{}</b></td><td style=\"background:{color};color:#fff\">{word}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&s.name),
            s.pending,
            age(s.oldest_pending_age_seconds),
            s.held,
            s.dead,
            esc(s.last_error.as_deref().unwrap_or("-")),
        ));
    }
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"10\">\
         <title>dockgate {site}</title><style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.4em .8em;border-bottom:1px solid #ddd;text-align:left}}</style></head>\
         <body><h1>dockgate — {site}</h1><table><tr><th>destination</th><th>state</th><th>waiting</th><th>oldest waiting</th><th>held</th><th>refused</th><th>last error</th></tr>{rows}</table>\
         <p>Buffer: {buffer}</p><p><small>config version {cv} ({origin}) · dockgate {v} · up {up}</small></p></body></html>",
        site = esc(&st.site),
        buffer = esc(&st.buffer.summary),
        cv = st.config_version,
        origin = esc(&st.config_origin),
        v = esc(&st.version),
        up = age(Some(st.uptime_seconds as f64)),
    )
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
}

//! Device inputs on the writer thread: recognise MQTT redeliveries, quarantine what cannot be
//! read, decode, fold the station workflow, insert the resulting events, journal the input and
//! persist the session, all in the group's transaction (DESIGN §1).

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Deserialize;
use tracing::{debug, warn};

use super::writer::{Tally, Writer};
use super::IngestError;
use crate::config::{Config, SourceKind, Station};
use crate::decode::{self, BarcodeRules};
use crate::model::{now_ms, NewEvent};
use crate::workflow::{self, DeviceContext, Emitted, Feedback, Session};

/// What the ledger needs to know about one device.
#[derive(Debug, Clone)]
pub struct DeviceSettings {
    /// Where input comes from.
    pub source: SourceKind,
    /// Station role.
    pub station: Station,
    /// Dock door.
    pub door: Option<String>,
    /// Dock debounce, ms.
    pub debounce_ms: i64,
    /// Session idle expiry, ms.
    pub session_idle_ms: i64,
}

/// Devices and decoding rules of a configuration.
pub fn device_settings(config: &Config) -> (HashMap<String, DeviceSettings>, BarcodeRules) {
    let devices = config
        .devices
        .iter()
        .map(|(id, d)| {
            (
                id.clone(),
                DeviceSettings {
                    source: d.source,
                    station: d.station,
                    door: d.door.clone(),
                    debounce_ms: d.debounce.as_millis() as i64,
                    session_idle_ms: d.session_idle.as_millis() as i64,
                },
            )
        })
        .collect();
    // The configuration was validated, which builds these rules; defaults are a fallback only.
    let rules = config.barcodes.rules().unwrap_or_default();
    (devices, rules)
}

/// Marks of an MQTT message, for recognising a redelivery.
#[derive(Debug, Clone)]
pub struct MqttMark {
    /// Packet id in dockgate's broker session.
    pub pkid: u16,
    /// DUP flag: the broker says it may have sent this before.
    pub dup: bool,
    /// SHA-256 of topic and payload.
    pub hash: [u8; 32],
}

/// One raw input for the ledger.
#[derive(Debug, Clone)]
pub struct InputFrame {
    /// Device id.
    pub device: Arc<str>,
    /// Bytes as received.
    pub bytes: Vec<u8>,
    /// Arrival time, ms since the epoch.
    pub received_ms: i64,
    /// Rejected before the ledger (e.g. an overlong serial line): the reason.
    pub rejected: Option<&'static str>,
    /// MQTT packet marks.
    pub mqtt: Option<MqttMark>,
}

/// What became of one input.
#[derive(Debug, Clone)]
pub enum InputOutcome {
    /// Committed; these events came of it (possibly none, e.g. an order scan opening a session).
    Committed {
        /// Event ids.
        ids: Vec<String>,
        /// What to show the operator.
        feedback: Option<Feedback>,
    },
    /// A redelivered MQTT message that was already committed: acknowledge, nothing new.
    Duplicate,
    /// Quarantined.
    Rejected {
        /// Machine reason.
        reason: &'static str,
        /// Human detail.
        detail: String,
        /// What to show the operator.
        feedback: Option<Feedback>,
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

/// Loads every persisted session.
pub fn load_sessions(conn: &Connection) -> rusqlite::Result<HashMap<String, Session>> {
    let mut stmt = conn.prepare("SELECT device, state FROM sessions")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = HashMap::new();
    for row in rows {
        let (device, json) = row?;
        match serde_json::from_str(&json) {
            Ok(session) => {
                out.insert(device, session);
            }
            Err(error) => {
                warn!(device = %device, error = %error, "Stored session unreadable; starting a fresh one.")
            }
        }
    }
    Ok(out)
}

impl Writer {
    /// Applies a group of device inputs.
    pub(super) fn inputs(
        &mut self,
        frames: Vec<InputFrame>,
        tally: &mut Tally,
    ) -> rusqlite::Result<Result<Vec<InputOutcome>, IngestError>> {
        let needed: u64 = frames.iter().map(|f| 600 + 2 * f.bytes.len() as u64).sum();
        if let Err(full) = self.make_room(needed, frames.len(), tally)? {
            return Ok(Err(full));
        }
        let mut out = Vec::with_capacity(frames.len());
        for frame in frames {
            out.push(self.input(frame, tally)?);
        }
        Ok(Ok(out))
    }

    fn input(&mut self, frame: InputFrame, tally: &mut Tally) -> rusqlite::Result<InputOutcome> {
        let now = now_ms();
        if let Some(mark) = &frame.mqtt {
            let known: Option<Vec<u8>> = self
                .conn
                .prepare_cached("SELECT hash FROM mqtt_unacked WHERE pkid = ?1")?
                .query_row([mark.pkid], |r| r.get(0))
                .optional()?;
            if mark.dup && known.as_deref() == Some(&mark.hash[..]) {
                debug!(device = %frame.device, pkid = mark.pkid, "Redelivered MQTT message recognised.");
                metrics::counter!("dockgate_inputs_redelivered_total", "device" => frame.device.to_string())
                    .increment(1);
                return Ok(InputOutcome::Duplicate);
            }
            self.conn
                .prepare_cached(
                    "INSERT OR REPLACE INTO mqtt_unacked (pkid, device, hash, committed_ms) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![mark.pkid, &*frame.device, &mark.hash[..], now])?;
        }
        let Some(dev) = self.settings.devices.get(&*frame.device).cloned() else {
            return self.quarantine(
                &frame,
                "unknown_device",
                "no device with this id is configured".into(),
            );
        };
        if let Some(reason) = frame.rejected {
            return self.quarantine(&frame, reason, "refused by the device reader".into());
        }
        let text = match std::str::from_utf8(&frame.bytes) {
            Ok(t) => t,
            Err(e) => {
                return self.quarantine(&frame, "invalid_utf8", format!("not UTF-8 text ({e})"))
            }
        };
        if let Some(bad) = text
            .chars()
            .find(|c| c.is_control() && !matches!(c, '\u{1d}' | '\t' | '\r' | '\n'))
        {
            return self.quarantine(
                &frame,
                "control_bytes",
                format!("control character U+{:04X} in input", bad as u32),
            );
        }
        let text = text.trim_matches(|c| c == '\r' || c == '\n');
        if text.trim().is_empty() {
            return self.quarantine(&frame, "empty", "empty input".into());
        }
        let ctx = DeviceContext {
            site: &self.settings.site,
            device: &frame.device,
            station: dev.station,
            door: dev.door.as_deref(),
            debounce_ms: dev.debounce_ms,
            session_idle_ms: dev.session_idle_ms,
        };
        let mut session = self.sessions.remove(&*frame.device).unwrap_or_default();
        let before = session.clone();
        let step = if dev.station == Station::Dock {
            match workflow::parse_dock(text) {
                Ok(signal) => {
                    workflow::apply_dock(&mut session, &ctx, text, signal, frame.received_ms)
                }
                Err(why) => {
                    self.sessions.insert(frame.device.to_string(), session);
                    return self.quarantine(&frame, "invalid_dock_message", why);
                }
            }
        } else {
            let scanned = if text.starts_with('{') {
                match serde_json::from_str::<ScanJson>(text) {
                    Ok(j) => format!("{}{}", j.symbology.unwrap_or_default(), j.data),
                    Err(e) => {
                        self.sessions.insert(frame.device.to_string(), session);
                        return self.quarantine(
                            &frame,
                            "invalid_json",
                            format!("not a scan object: {e}"),
                        );
                    }
                }
            } else {
                text.to_owned()
            };
            let today = decode::civil_from_unix_days(frame.received_ms.div_euclid(86_400_000));
            let reading = decode::decode(&scanned, &self.rules, today);
            workflow::apply_scan(&mut session, &ctx, &scanned, &reading, frame.received_ms)
        };
        let ids = self.commit_emitted(&frame.device, step.events, frame.received_ms, now, tally)?;
        self.conn
            .prepare_cached(
                "INSERT INTO inputs (device, received_ms, raw, events) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                &*frame.device,
                frame.received_ms,
                frame.bytes,
                ids.len() as i64
            ])?;
        // Most scans at receive stations and repeated sensor states leave the session as it
        // was: skip the row rewrite then.
        if session != before {
            self.save_session(&frame.device, &session, now)?;
        }
        self.sessions.insert(frame.device.to_string(), session);
        metrics::counter!("dockgate_device_inputs_committed_total", "device" => frame.device.to_string())
            .increment(1);
        Ok(InputOutcome::Committed {
            ids,
            feedback: step.feedback,
        })
    }

    /// Runs the workflow's timers (dock debounce, idle sessions) for every device.
    pub(super) fn tick(&mut self, tally: &mut Tally) -> rusqlite::Result<()> {
        let now = now_ms();
        let ids: Vec<String> = self.settings.devices.keys().cloned().collect();
        for id in ids {
            let Some(dev) = self.settings.devices.get(&id).cloned() else {
                continue;
            };
            let mut session = self.sessions.remove(&id).unwrap_or_default();
            let before = session.clone();
            let ctx = DeviceContext {
                site: &self.settings.site,
                device: &id,
                station: dev.station,
                door: dev.door.as_deref(),
                debounce_ms: dev.debounce_ms,
                session_idle_ms: dev.session_idle_ms,
            };
            let emitted = workflow::tick(&mut session, &ctx, now);
            if !emitted.is_empty() {
                self.commit_emitted(&id, emitted, now, now, tally)?;
            }
            if session != before {
                self.save_session(&id, &session, now)?;
            }
            self.sessions.insert(id, session);
        }
        Ok(())
    }

    fn commit_emitted(
        &mut self,
        device: &str,
        emitted: Vec<Emitted>,
        time_ms: i64,
        now: i64,
        tally: &mut Tally,
    ) -> rusqlite::Result<Vec<String>> {
        let source = format!("dockgate://{}/devices/{device}", self.settings.site);
        let mut ids = Vec::with_capacity(emitted.len());
        for e in emitted {
            let data = serde_json::value::to_raw_value(&e.data)
                .map_err(|err| rusqlite::Error::ToSqlConversionFailure(Box::new(err)))?;
            let event = NewEvent {
                event_type: e.event_type.to_owned(),
                subject: e.subject,
                source: source.clone(),
                // A debounced dock change happened when its state began, not when it was confirmed.
                time_ms: e.time_ms.unwrap_or(time_ms),
                data,
            };
            ids.push(self.insert_event(&event, now, tally)?);
        }
        Ok(ids)
    }

    fn save_session(&mut self, device: &str, session: &Session, now: i64) -> rusqlite::Result<()> {
        let json = serde_json::to_string(session)
            .map_err(|err| rusqlite::Error::ToSqlConversionFailure(Box::new(err)))?;
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO sessions (device, state, updated_ms) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![device, json, now])?;
        Ok(())
    }

    fn quarantine(
        &mut self,
        frame: &InputFrame,
        reason: &'static str,
        detail: String,
    ) -> rusqlite::Result<InputOutcome> {
        self.conn
            .prepare_cached(
                "INSERT INTO rejected (device, received_ms, reason, detail, raw) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![&*frame.device, frame.received_ms, reason, detail, frame.bytes])?;
        metrics::counter!("dockgate_inputs_rejected_total", "device" => frame.device.to_string(), "reason" => reason)
            .increment(1);
        debug!(device = %frame.device, reason, detail = %detail, "Input quarantined.");
        Ok(InputOutcome::Rejected {
            reason,
            feedback: Some(Feedback {
                ok: false,
                event: None,
                message: format!("Input not accepted: {detail}"),
            }),
            detail,
        })
    }
}

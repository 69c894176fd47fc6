//! Device inputs on the writer thread, in the group's transaction (DESIGN §1): recognise an
//! MQTT redelivery, fold the input through its device's station workflow, append the events
//! that come of it, journal the input and save the session; or quarantine what the workflow
//! (or the device reader) refused, with its raw bytes.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension};
use tracing::{debug, warn};

use super::events::{Core, Tally};
use crate::ledger::{IngestError, InputOutcome};
use crate::model::{now_ms, Input, NewEvent};
use crate::workflow::{self, DeviceContext, Emitted, Fold, Session};

/// Station sessions by device id, mirrored in the `sessions` table.
#[derive(Default)]
pub(super) struct Sessions(HashMap<Arc<str>, Session>);

impl Sessions {
    /// Loads every persisted session.
    pub fn load(conn: &Connection) -> rusqlite::Result<Self> {
        let mut stmt = conn.prepare("SELECT device, state FROM sessions")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = HashMap::new();
        for row in rows {
            let (device, json) = row?;
            match serde_json::from_str(&json) {
                Ok(session) => {
                    out.insert(Arc::from(device), session);
                }
                Err(error) => {
                    warn!(device = %device, error = %error, "Stored session unreadable; starting a fresh one.")
                }
            }
        }
        Ok(Self(out))
    }
}

/// Applies a group of device inputs; the outcomes are in input order.
pub(super) fn apply(
    core: &mut Core,
    sessions: &mut Sessions,
    inputs: Vec<Input>,
    tally: &mut Tally,
) -> rusqlite::Result<Result<Vec<InputOutcome>, IngestError>> {
    let needed: u64 = inputs.iter().map(|f| 600 + 2 * f.bytes.len() as u64).sum();
    if let Err(full) = core.make_room(needed, inputs.len(), tally)? {
        return Ok(Err(full));
    }
    let mut out = Vec::with_capacity(inputs.len());
    for input in inputs {
        out.push(apply_one(core, sessions, input, tally)?);
    }
    Ok(Ok(out))
}

fn apply_one(
    core: &mut Core,
    sessions: &mut Sessions,
    input: Input,
    tally: &mut Tally,
) -> rusqlite::Result<InputOutcome> {
    let now = now_ms();
    if let Some(mark) = &input.redelivery {
        let known: Option<Vec<u8>> = core
            .conn
            .prepare_cached("SELECT hash FROM mqtt_unacked WHERE pkid = ?1")?
            .query_row([mark.pkid], |r| r.get(0))
            .optional()?;
        if mark.dup && known.as_deref() == Some(&mark.hash[..]) {
            debug!(device = %input.device, pkid = mark.pkid, "Redelivered MQTT message recognised.");
            metrics::counter!("dockgate_inputs_redelivered_total", "device" => input.device.to_string())
                .increment(1);
            return Ok(InputOutcome::Duplicate);
        }
        // Kept after the PUBACK is queued: a PUBACK can still be lost on the wire, and the
        // broker then resends with DUP set. A new message reusing the packet id replaces it.
        core.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO mqtt_unacked (pkid, device, hash, committed_ms) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![mark.pkid, &*input.device, &mark.hash[..], now])?;
    }
    let Some(dev) = core.settings.devices.get(&*input.device) else {
        return quarantine(
            &core.conn,
            &input,
            "unknown_device",
            "no device with this id is configured".into(),
        );
    };
    if let Some(reason) = input.rejected {
        return quarantine(
            &core.conn,
            &input,
            reason,
            "refused by the device reader".into(),
        );
    }
    let ctx = DeviceContext::new(&core.settings.site, &input.device, dev);
    let session = sessions.0.entry(input.device.clone()).or_default();
    let before = session.clone();
    let step = match workflow::fold(
        session,
        &ctx,
        &input.bytes,
        &core.settings.rules,
        input.received_ms,
    ) {
        Fold::Applied(step) => step,
        Fold::Rejected { reason, detail } => {
            return quarantine(&core.conn, &input, reason, detail);
        }
    };
    let ids = commit_emitted(
        core,
        &input.device,
        step.events,
        input.received_ms,
        now,
        tally,
    )?;
    core.conn
        .prepare_cached(
            "INSERT INTO inputs (device, received_ms, raw, events) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![
            &*input.device,
            input.received_ms,
            input.bytes,
            ids.len() as i64
        ])?;
    // Most scans at receive stations and repeated sensor states leave the session as it
    // was: skip the row rewrite then.
    if *session != before {
        save_session(&core.conn, &input.device, session, now)?;
    }
    metrics::counter!("dockgate_device_inputs_committed_total", "device" => input.device.to_string())
        .increment(1);
    Ok(InputOutcome::Committed {
        ids,
        feedback: step.feedback,
    })
}

/// Runs the workflow's timers (dock debounce, idle sessions) for every device.
pub(super) fn tick(
    core: &mut Core,
    sessions: &mut Sessions,
    tally: &mut Tally,
) -> rusqlite::Result<()> {
    let now = now_ms();
    let ids: Vec<String> = core.settings.devices.keys().cloned().collect();
    for id in ids {
        let Some(dev) = core.settings.devices.get(&id) else {
            continue;
        };
        let session = sessions.0.entry(Arc::from(id.as_str())).or_default();
        let before = session.clone();
        let ctx = DeviceContext::new(&core.settings.site, &id, dev);
        let emitted = workflow::tick(session, &ctx, now);
        if !emitted.is_empty() {
            commit_emitted(core, &id, emitted, now, now, tally)?;
        }
        if *session != before {
            save_session(&core.conn, &id, session, now)?;
        }
    }
    Ok(())
}

fn commit_emitted(
    core: &mut Core,
    device: &str,
    emitted: Vec<Emitted>,
    time_ms: i64,
    now: i64,
    tally: &mut Tally,
) -> rusqlite::Result<Vec<String>> {
    let source: Arc<str> = format!("dockgate://{}/devices/{device}", core.settings.site).into();
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
        ids.push(core.insert_event(&event, now, tally)?.to_string());
    }
    Ok(ids)
}

fn save_session(
    conn: &Connection,
    device: &str,
    session: &Session,
    now: i64,
) -> rusqlite::Result<()> {
    let json = serde_json::to_string(session)
        .map_err(|err| rusqlite::Error::ToSqlConversionFailure(Box::new(err)))?;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO sessions (device, state, updated_ms) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![device, json, now])?;
    Ok(())
}

fn quarantine(
    conn: &Connection,
    input: &Input,
    reason: &'static str,
    detail: String,
) -> rusqlite::Result<InputOutcome> {
    conn.prepare_cached(
        "INSERT INTO rejected (device, received_ms, reason, detail, raw) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![&*input.device, input.received_ms, reason, detail, input.bytes])?;
    metrics::counter!("dockgate_inputs_rejected_total", "device" => input.device.to_string(), "reason" => reason)
        .increment(1);
    debug!(device = %input.device, reason, detail = %detail, "Input quarantined.");
    Ok(InputOutcome::Rejected { reason, detail })
}

//! What sinks report, on the writer thread inside its transaction: planned requests, outcomes
//! (delivered, failed, dead) and replays. A delivered request leaves one receipt and moves the
//! sink's cursor; a dead letter leaves an exception row and holds its subject.

use std::collections::BTreeSet;
use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension};
use tracing::info;

use super::events::Core;
use super::exceptions::{hold_behind, recompute_subject};
use super::log::{self, encode_seqs, first_seq_since, seq_of_id};
use super::window::Progress;
use crate::ledger::{Outcome, Plan, ReplaySelector};
use crate::model::now_ms;

/// Records requests before their first attempt: a request of several events as one row, and
/// the plan it replaces (a split batch, a batch that lost a subject) removed.
pub(super) fn plan(core: &mut Core, sink: &str, plans: Vec<Plan>) -> rusqlite::Result<()> {
    for plan in plans {
        if let Some(old) = plan.replaces {
            forget_plan(&core.conn, sink, &old)?;
        }
        // A single event needs no row: its id is its key.
        if plan.seqs.len() > 1 {
            let json = serde_json::to_string(&plan.seqs).unwrap_or_else(|_| "[]".into());
            core.conn
                .prepare_cached(
                    "INSERT OR REPLACE INTO requests (sink, key, seqs, created_ms)
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![sink, plan.key, json, now_ms()])?;
        }
    }
    Ok(())
}

/// Records what happened to a request; `progress` is what the sink's read-ahead knows is
/// settled once this outcome is. Returns the replays counted so far.
pub(super) fn record(
    core: &mut Core,
    sink: &Arc<str>,
    outcome: Outcome,
    progress: Option<Progress>,
) -> rusqlite::Result<u64> {
    core.flush_record()?;
    let now = now_ms();
    match outcome {
        Outcome::Delivered {
            key,
            events,
            status,
        } => {
            let failed = forget_plan(&core.conn, sink, &key)?;
            core.room_refused = false;
            let mut seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
            seqs.sort_unstable();
            let receipt = Receipt {
                key: &key,
                seqs: &seqs,
                status: i64::from(status),
                attempts: failed + 1,
                at: now,
            };
            insert_receipt(&core.conn, sink, &receipt)?;
        }
        Outcome::Failed {
            key,
            events,
            status,
            error,
        } => {
            let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
            let json = serde_json::to_string(&seqs).unwrap_or_else(|_| "[]".into());
            core.conn
                .prepare_cached(
                    "INSERT INTO requests (sink, key, seqs, created_ms, attempts, last_status, last_error)
                     VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6)
                     ON CONFLICT (sink, key) DO UPDATE SET attempts = attempts + 1,
                         last_status = excluded.last_status, last_error = excluded.last_error",
                )?
                .execute(params![&**sink, key, json, now, status, error])?;
        }
        Outcome::Dead {
            event,
            status,
            error,
            excerpt,
        } => {
            // No answer, no evidence: NULL rather than an empty excerpt.
            let excerpt = Some(excerpt).filter(|e| !e.is_empty());
            core.conn
                .prepare_cached(
                    "INSERT INTO exceptions (sink, seq, subject, state, attempts, last_status,
                         last_error, excerpt, updated_ms)
                     VALUES (?1, ?2, ?3, 'dead', 1, ?4, ?5, ?6, ?7)
                     ON CONFLICT (sink, seq) DO UPDATE SET state = 'dead',
                         attempts = attempts + 1, last_status = excluded.last_status,
                         last_error = excluded.last_error, excerpt = excluded.excerpt,
                         updated_ms = excluded.updated_ms",
                )?
                .execute(params![
                    &**sink,
                    event.seq,
                    event.subject,
                    status,
                    error,
                    excerpt,
                    now
                ])?;
            metrics::counter!("dockgate_dead_letters_total", "sink" => sink.to_string())
                .increment(1);
            hold_behind(
                &core.conn,
                &mut core.blocked,
                sink,
                &event.subject,
                event.seq,
            )?;
        }
    }
    if let Some(p) = progress {
        if !p.replayed.is_empty() {
            let mut settle = core.conn.prepare_cached(
                "DELETE FROM exceptions WHERE sink = ?1 AND seq = ?2 AND state = 'pending'",
            )?;
            for seq in &p.replayed {
                settle.execute(params![&**sink, seq])?;
            }
        }
        // A read-ahead from before a replay may count as settled what the replay put back.
        if p.resets == core.resets {
            core.conn
                .prepare_cached("UPDATE cursors SET settled = ?2 WHERE sink = ?1 AND settled < ?2")?
                .execute(params![&**sink, p.cursor])?;
        }
    }
    Ok(core.resets)
}

/// The receipt of a delivered request.
struct Receipt<'a> {
    key: &'a str,
    /// Its events, ascending.
    seqs: &'a [i64],
    status: i64,
    /// Attempts it took, the delivered one included.
    attempts: i64,
    at: i64,
}

fn insert_receipt(conn: &Connection, sink: &str, r: &Receipt<'_>) -> rusqlite::Result<()> {
    let (Some(first), Some(last)) = (r.seqs.first(), r.seqs.last()) else {
        return Ok(());
    };
    conn.prepare_cached(
        "INSERT INTO receipts (sink, key, first_seq, last_seq, seqs, status, delivered_ms, attempts)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        sink,
        r.key,
        first,
        last,
        encode_seqs(r.seqs),
        r.status,
        r.at,
        r.attempts
    ])?;
    Ok(())
}

/// Puts the selected events of `sink` back to pending with their attempts reset; returns how
/// many.
pub(super) fn replay(
    core: &mut Core,
    sink: &str,
    selector: &ReplaySelector,
) -> rusqlite::Result<usize> {
    core.flush_record()?;
    let n = match selector {
        ReplaySelector::Dead => {
            let subjects: BTreeSet<String> = {
                let mut stmt = core.conn.prepare_cached(
                    "SELECT subject FROM exceptions WHERE sink = ?1 AND state = 'dead'",
                )?;
                let rows = stmt.query_map([sink], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let n = reset_rows(&core.conn, "state = 'dead'", params![sink])?;
            for subject in &subjects {
                recompute_subject(&core.conn, &mut core.blocked, sink, subject)?;
            }
            n
        }
        ReplaySelector::Event(id) => match seq_of_id(&core.conn, id)? {
            Some(seq) => replay_one(core, sink, seq)?,
            None => 0,
        },
        ReplaySelector::Since(ms) => replay_since(core, sink, first_seq_since(&core.conn, *ms)?)?,
    };
    if n > 0 {
        core.resets += 1;
        info!(sink = %sink, count = n, selector = ?selector, "Events put back for delivery.");
    }
    Ok(n)
}

/// Replays one event: a dead letter of `sink`, or one delivered there.
fn replay_one(core: &mut Core, sink: &str, seq: i64) -> rusqlite::Result<usize> {
    let row: Option<(String, String)> = {
        let mut stmt = core
            .conn
            .prepare_cached("SELECT state, subject FROM exceptions WHERE sink = ?1 AND seq = ?2")?;
        let mut rows = stmt.query(params![sink, seq])?;
        match rows.next()? {
            Some(r) => Some((r.get(0)?, r.get(1)?)),
            None => None,
        }
    };
    match row {
        Some((state, subject)) if state == "dead" => {
            reset_rows(&core.conn, "seq = ?2", params![sink, seq])?;
            recompute_subject(&core.conn, &mut core.blocked, sink, &subject)?;
            Ok(1)
        }
        Some(_) => Ok(0),
        None => {
            let Some(record) = log::record_of(&core.conn, seq)? else {
                return Ok(0);
            };
            let (Some(bit), Some(event)) = (record.bit(sink), record.get(seq)) else {
                return Ok(0);
            };
            if event.mask & bit == 0 || !is_delivered(&core.conn, sink, seq)? {
                return Ok(0);
            }
            core.conn
                .prepare_cached(
                    "INSERT INTO exceptions (sink, seq, subject, state, updated_ms)
                     VALUES (?1, ?2, ?3, 'pending', ?4)",
                )?
                .execute(params![sink, seq, event.subject, now_ms()])?;
            if core.blocked.contains(sink, &event.subject) {
                recompute_subject(&core.conn, &mut core.blocked, sink, &event.subject)?;
            }
            Ok(1)
        }
    }
}

/// Whether an event of `sink` without an exception row is delivered: below the cursor, or in
/// a receipt above it.
fn is_delivered(conn: &Connection, sink: &str, seq: i64) -> rusqlite::Result<bool> {
    let cursor = log::cursor(conn, sink)?;
    Ok(seq <= cursor || log::delivered_above(conn, sink, seq - 1)?.contains(&seq))
}

/// Replays every event of `sink` from `from` on, delivered or dead: the cursor goes back to
/// `from`, receipts from there on stop counting, and exception rows from there on go, except
/// the held ones of subjects still behind an earlier dead letter.
fn replay_since(core: &mut Core, sink: &str, from: i64) -> rusqlite::Result<usize> {
    let conn = &core.conn;
    let cursor = log::cursor(conn, sink)?;
    let exceptions: std::collections::HashMap<i64, String> = {
        let mut stmt =
            conn.prepare_cached("SELECT seq, state FROM exceptions WHERE sink = ?1 AND seq >= ?2")?;
        let rows = stmt.query_map(params![sink, from], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let delivered = log::delivered_above(conn, sink, cursor)?;
    let blocked_before: BTreeSet<String> = {
        let mut stmt = conn.prepare_cached(
            "SELECT DISTINCT subject FROM exceptions WHERE sink = ?1 AND seq < ?2 AND state = 'dead'",
        )?;
        let rows = stmt.query_map(params![sink, from], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    // Events from `from` on that come back behind a dead letter before it: held.
    let mut to_hold: Vec<(i64, String)> = Vec::new();
    let mut n = 0;
    log::scan(conn, from, Some(sink), |record| {
        let Some(bit) = record.bit(sink) else {
            return Ok(true);
        };
        for e in record
            .events
            .iter()
            .filter(|e| e.seq >= from && e.mask & bit != 0)
        {
            n += match exceptions.get(&e.seq).map(String::as_str) {
                Some("dead") => 1,
                Some(_) => 0,
                None => usize::from(e.seq <= cursor || delivered.contains(&e.seq)),
            };
            if !exceptions.contains_key(&e.seq) && blocked_before.contains(&*e.subject) {
                to_hold.push((e.seq, e.subject.to_string()));
            }
        }
        Ok(true)
    })?;
    // Subjects still blocked by a dead letter before `from` keep their later events held.
    conn.prepare_cached(
        "UPDATE exceptions SET state = 'held', attempts = 0, updated_ms = ?3
         WHERE sink = ?1 AND seq >= ?2 AND subject IN (
             SELECT subject FROM exceptions WHERE sink = ?1 AND seq < ?2 AND state = 'dead')",
    )?
    .execute(params![sink, from, now_ms()])?;
    conn.prepare_cached(
        "DELETE FROM exceptions WHERE sink = ?1 AND seq >= ?2 AND subject NOT IN (
             SELECT subject FROM exceptions WHERE sink = ?1 AND seq < ?2 AND state = 'dead')",
    )?
    .execute(params![sink, from])?;
    conn.prepare_cached(
        "UPDATE receipts SET void_from = MIN(COALESCE(void_from, ?2), ?2)
         WHERE sink = ?1 AND last_seq >= ?2",
    )?
    .execute(params![sink, from])?;
    conn.prepare_cached("UPDATE cursors SET settled = ?2 WHERE sink = ?1 AND settled > ?2")?
        .execute(params![sink, from - 1])?;
    let mut hold = conn.prepare_cached(
        "INSERT OR IGNORE INTO exceptions (sink, seq, subject, state, updated_ms)
         VALUES (?1, ?2, ?3, 'held', ?4)",
    )?;
    let now = now_ms();
    for (seq, subject) in &to_hold {
        hold.execute(params![sink, seq, subject, now])?;
    }
    core.blocked = super::exceptions::Blocked::load(conn)?;
    Ok(n)
}

/// Puts exception rows of the sink `?1` matching `filter` back to pending; returns how many.
fn reset_rows(
    conn: &Connection,
    filter: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<usize> {
    let sql = format!(
        "UPDATE exceptions SET state = 'pending', attempts = 0, last_status = NULL,
             last_error = NULL, excerpt = NULL, updated_ms = {}
         WHERE sink = ?1 AND {filter}",
        now_ms()
    );
    conn.execute(&sql, params)
}

/// Removes a planned request (no-op when there is none, as for a single event never
/// refused); returns how many of its attempts had failed.
fn forget_plan(conn: &Connection, sink: &str, key: &str) -> rusqlite::Result<i64> {
    let failed = conn
        .prepare_cached("DELETE FROM requests WHERE sink = ?1 AND key = ?2 RETURNING attempts")?
        .query_row(params![sink, key], |r| r.get(0))
        .optional()?;
    Ok(failed.unwrap_or(0))
}

//! What sinks report, on the writer thread inside its transaction: planned requests, outcomes
//! (delivered, failed, dead) and replays. Each keeps the per-subject invariants of
//! `deliveries`: the first open row of a subject is its head (`ready`), rows behind a dead one
//! are held.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension};
use tracing::info;

use super::events::Core;
use super::read::{first_seq_since, seq_of_id};
use super::subjects::recompute_subject;
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
                    "INSERT OR REPLACE INTO batches (sink, key, seqs, created_ms)
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![sink, plan.key, json, now_ms()])?;
        }
    }
    Ok(())
}

/// Records what happened to a request.
pub(super) fn record(core: &mut Core, sink: &Arc<str>, outcome: Outcome) -> rusqlite::Result<()> {
    let now = now_ms();
    match outcome {
        Outcome::Delivered {
            key,
            events,
            status,
        } => {
            forget_plan(&core.conn, sink, &key)?;
            // One prepared single-row UPDATE per event, without RETURNING: measured faster
            // than one statement over json_each (whose IN list builds a temporary table) and
            // than RETURNING (which does too). Subjects come from the sink.
            let mut mark = core.conn.prepare_cached(
                "UPDATE deliveries SET state = 'delivered', ready = 0, attempts = attempts + 1,
                     last_status = ?1, last_error = NULL, delivered_ms = ?2, updated_ms = ?2
                 WHERE seq = ?3 AND sink = ?4 AND state = 'pending'",
            )?;
            let mut settled: HashMap<&str, u32> = HashMap::new();
            for event in &events {
                if mark.execute(params![status, now, event.seq, &**sink])? > 0 {
                    *settled.entry(event.subject.as_str()).or_default() += 1;
                }
            }
            let mut promote = core.conn.prepare_cached(
                "UPDATE deliveries SET ready = 1
                 WHERE sink = ?1 AND state = 'pending' AND ready = 0 AND seq = (
                     SELECT seq FROM deliveries WHERE sink = ?1 AND subject = ?2
                         AND state != 'delivered' ORDER BY seq LIMIT 1)",
            )?;
            for (subject, n) in settled {
                // Most subjects have nothing behind the delivered event: no statement.
                if core.subjects.settled(sink, subject, n) {
                    promote.execute(params![&**sink, subject])?;
                }
            }
        }
        Outcome::Failed {
            events,
            status,
            error,
        } => {
            let mut stmt = core.conn.prepare_cached(
                "UPDATE deliveries SET attempts = attempts + 1, last_status = ?1, last_error = ?2,
                     updated_ms = ?3 WHERE seq = ?4 AND sink = ?5 AND state = 'pending'",
            )?;
            for event in events {
                stmt.execute(params![status, error, now, event.seq, &**sink])?;
            }
        }
        Outcome::Dead {
            event,
            status,
            error,
            excerpt,
        } => {
            // No answer, no evidence: NULL rather than an empty excerpt.
            let excerpt = Some(excerpt).filter(|e| !e.is_empty());
            let subject: Option<String> = core
                .conn
                .prepare_cached(
                    "UPDATE deliveries SET state = 'dead', ready = 0, attempts = attempts + 1,
                         last_status = ?1, last_error = ?2, excerpt = ?3, updated_ms = ?4
                     WHERE seq = ?5 AND sink = ?6 AND state = 'pending' RETURNING subject",
                )?
                .query_row(
                    params![status, error, excerpt, now, event.seq, &**sink],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(subject) = subject {
                metrics::counter!("dockgate_dead_letters_total", "sink" => sink.to_string())
                    .increment(1);
                recompute_subject(&core.conn, sink, &subject)?;
                core.subjects.reload(&core.conn, sink, &subject)?;
            }
        }
    }
    Ok(())
}

/// Puts the selected events of `sink` back to pending with their attempts reset; returns how
/// many.
pub(super) fn replay(
    core: &mut Core,
    sink: &str,
    selector: &ReplaySelector,
) -> rusqlite::Result<usize> {
    let conn = &core.conn;
    let rows: Vec<(i64, String)> = match selector {
        ReplaySelector::Dead => collect(
            conn,
            "SELECT seq, subject FROM deliveries
             WHERE sink = ?1 AND state = 'dead' AND state != 'delivered'",
            params![sink],
        )?,
        ReplaySelector::Event(id) => match seq_of_id(conn, id)? {
            Some(seq) => collect(
                conn,
                "SELECT seq, subject FROM deliveries
                 WHERE seq = ?1 AND sink = ?2 AND state IN ('dead', 'delivered')",
                params![seq, sink],
            )?,
            None => Vec::new(),
        },
        ReplaySelector::Since(ms) => collect(
            conn,
            "SELECT seq, subject FROM deliveries
             WHERE seq >= ?2 AND sink = ?1 AND state IN ('dead', 'delivered')",
            params![sink, first_seq_since(conn, *ms)?],
        )?,
    };
    let now = now_ms();
    let mut reset = conn.prepare_cached(
        "UPDATE deliveries SET state = 'pending', ready = 0, attempts = 0,
             last_error = NULL, excerpt = NULL, delivered_ms = NULL, updated_ms = ?1
         WHERE seq = ?2 AND sink = ?3",
    )?;
    let mut subjects = BTreeSet::new();
    for (seq, subject) in &rows {
        reset.execute(params![now, seq, sink])?;
        subjects.insert(subject.as_str());
    }
    let sink: Arc<str> = Arc::from(sink);
    for subject in subjects {
        recompute_subject(&core.conn, &sink, subject)?;
        core.subjects.reload(&core.conn, &sink, subject)?;
    }
    if !rows.is_empty() {
        info!(sink = %sink, count = rows.len(), selector = ?selector, "Events put back for delivery.");
    }
    Ok(rows.len())
}

/// Removes a planned request (no-op when there is none, as for a single event).
fn forget_plan(conn: &Connection, sink: &str, key: &str) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM batches WHERE sink = ?1 AND key = ?2")?
        .execute(params![sink, key])?;
    Ok(())
}

fn collect(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<Vec<(i64, String)>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

//! Retention and capacity: what leaves the buffer, in the order DESIGN §4 gives.
//!
//! Runs on the writer thread inside the writer's transaction, and removes whole records of the
//! log. Every removal of an event that did not reach all its sinks is counted and logged;
//! business events are never removed before delivery (the writer refuses new input instead).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use rusqlite::{params, Connection};
use tracing::{error, info, warn};

use super::exceptions::{recompute_subject, Blocked};
use super::read::used_bytes;
use super::record::parse_sink_counts;
use crate::model::now_ms;

/// Records removed per step before the buffer is measured again.
const CHUNK: i64 = 64;

/// What [`make_room`] removed.
#[derive(Debug, Default)]
pub(super) struct Freed {
    /// One description per step that removed events.
    pub steps: Vec<String>,
    /// Whether events not yet delivered everywhere were dropped.
    pub dropped_undelivered: bool,
}

/// How full the buffer is, measured from SQLite's own page counts.
#[derive(Debug, Clone)]
pub(super) struct Capacity {
    /// Bytes in use: pages that hold data (the free list is reusable and not counted).
    pub used: u64,
    /// `buffer.max_disk`.
    pub max: u64,
    /// Last warning level logged: 0 below 50 %, 1 from 50 %, 2 from 80 %.
    level: u8,
}

impl Capacity {
    /// Measures an open buffer.
    pub fn measure(conn: &Connection, max: u64) -> rusqlite::Result<Self> {
        let mut c = Self {
            used: 0,
            max,
            level: 0,
        };
        c.refresh(conn)?;
        Ok(c)
    }

    /// Re-reads the page counts and logs when a 50 % / 80 % threshold is crossed.
    pub fn refresh(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        self.used = used_bytes(conn)?;
        let level = match self.used.saturating_mul(100) / self.max.max(1) {
            0..=49 => 0,
            50..=79 => 1,
            _ => 2,
        };
        if level != self.level {
            let percent = self.used.saturating_mul(100) / self.max.max(1);
            match level {
                2 => error!(
                    used = self.used,
                    max = self.max,
                    percent,
                    "Buffer is over 80 % full."
                ),
                1 if self.level < 1 => warn!(
                    used = self.used,
                    max = self.max,
                    percent,
                    "Buffer is over 50 % full."
                ),
                _ => info!(
                    used = self.used,
                    max = self.max,
                    percent,
                    "Buffer fill level went down."
                ),
            }
            self.level = level;
        }
        metrics::gauge!("dockgate_buffer_bytes").set(self.used as f64);
        metrics::gauge!("dockgate_buffer_max_bytes").set(self.max as f64);
        Ok(())
    }

    /// Whether `more` bytes fit under `max_disk`.
    pub fn fits(&self, more: u64) -> bool {
        self.used.saturating_add(more) <= self.max
    }
}

/// A record as retention and capacity see it.
struct Span {
    first: i64,
    last: i64,
    sinks: String,
}

/// The cursors of every sink.
fn cursors(conn: &Connection) -> rusqlite::Result<HashMap<String, i64>> {
    let mut stmt = conn.prepare_cached("SELECT sink, settled FROM cursors")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// Whether every event of the record is settled on each of its sinks with no exception row
/// left: delivered everywhere it goes (or routed nowhere).
fn settled(
    conn: &Connection,
    cursors: &HashMap<String, i64>,
    span: &Span,
) -> rusqlite::Result<bool> {
    let mut exception = conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM exceptions WHERE sink = ?1 AND seq BETWEEN ?2 AND ?3)",
    )?;
    for (sink, _) in parse_sink_counts(&span.sinks) {
        if cursors.get(sink).is_none_or(|c| *c < span.last)
            || exception.query_row(params![sink, span.first, span.last], |r| {
                r.get::<_, bool>(0)
            })?
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Records matching `filter` in log order, from `after` on, at most `limit`.
fn spans(
    conn: &Connection,
    filter: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<Vec<Span>> {
    let sql = format!(
        "SELECT first_seq, last_seq, sinks FROM records WHERE first_seq > ?1 AND {filter}
         ORDER BY first_seq LIMIT {CHUNK}"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params, |r| {
        Ok(Span {
            first: r.get(0)?,
            last: r.get(1)?,
            sinks: r.get(2)?,
        })
    })?;
    rows.collect()
}

/// Removes a record from the log, with its exception rows; returns its events. A dead letter
/// among them no longer holds its subject: what was held behind it is pending again.
fn delete_record(conn: &Connection, span: &Span) -> rusqlite::Result<usize> {
    let mut dead = conn.prepare_cached(
        "SELECT DISTINCT subject FROM exceptions
         WHERE sink = ?1 AND seq BETWEEN ?2 AND ?3 AND state = 'dead'",
    )?;
    let mut delete =
        conn.prepare_cached("DELETE FROM exceptions WHERE sink = ?1 AND seq BETWEEN ?2 AND ?3")?;
    for (sink, _) in parse_sink_counts(&span.sinks) {
        let subjects: Vec<String> = dead
            .query_map(params![sink, span.first, span.last], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        delete.execute(params![sink, span.first, span.last])?;
        // The writer reloads the dead subjects it holds after any drop.
        let mut scratch = Blocked::default();
        for subject in subjects {
            recompute_subject(conn, &mut scratch, sink, &subject)?;
        }
    }
    conn.prepare_cached("DELETE FROM record_bodies WHERE first_seq = ?1")?
        .execute([span.first])?;
    conn.prepare_cached("DELETE FROM records WHERE first_seq = ?1")?
        .execute([span.first])?;
    Ok((span.last - span.first + 1) as usize)
}

/// Removes what retention no longer keeps: records committed before the retention window whose
/// events are delivered to every sink (or routed to none), receipts and planned requests below
/// the cursors, and idempotency keys, journalled inputs and quarantined inputs of the same age.
pub(super) fn expired(conn: &Connection, retention: Duration) -> rusqlite::Result<usize> {
    let cutoff = now_ms() - retention.as_millis() as i64;
    let cursors = cursors(conn)?;
    let mut total = 0;
    // Walks forward from where the last chunk ended, so records kept (not yet delivered) are
    // looked at once.
    let mut after = i64::MIN;
    loop {
        let chunk = spans(conn, "created_ms < ?2", params![after, cutoff])?;
        let Some(last) = chunk.last() else {
            break;
        };
        after = last.first;
        for span in &chunk {
            if settled(conn, &cursors, span)? {
                total += delete_record(conn, span)?;
            }
        }
    }
    conn.prepare_cached(
        "DELETE FROM receipts WHERE delivered_ms < ?1
             AND last_seq <= COALESCE((SELECT settled FROM cursors c WHERE c.sink = receipts.sink), 0)",
    )?
    .execute([cutoff])?;
    // A planned request all of whose events are settled (delivered under other requests, let
    // go after a dead letter, dropped) is read afresh if they ever come back.
    conn.prepare_cached(
        "DELETE FROM requests WHERE (SELECT MAX(value) FROM json_each(requests.seqs))
             <= COALESCE((SELECT settled FROM cursors c WHERE c.sink = requests.sink), 0)",
    )?
    .execute([])?;
    conn.prepare_cached("DELETE FROM idempotency_keys WHERE created_ms < ?1")?
        .execute([cutoff])?;
    conn.prepare_cached("DELETE FROM inputs WHERE received_ms < ?1")?
        .execute([cutoff])?;
    conn.prepare_cached("DELETE FROM rejected WHERE received_ms < ?1")?
        .execute([cutoff])?;
    if total > 0 {
        info!(count = total, "Delivered events past retention pruned.");
        metrics::counter!("dockgate_events_pruned_total", "reason" => "retention")
            .increment(total as u64);
    }
    Ok(total)
}

/// Frees room for `needed` bytes, in the DESIGN §4 order: delivered events past retention,
/// then the oldest telemetry records (`dock.*`, `scan.unmatched`), then (beyond the design, so
/// a full disk of receipts never stops business input) the oldest records delivered
/// everywhere though still within retention.
pub(super) fn make_room(
    conn: &Connection,
    retention: Duration,
    capacity: &mut Capacity,
    needed: u64,
) -> rusqlite::Result<Freed> {
    let mut steps = Vec::new();
    let n = expired(conn, retention)?;
    capacity.refresh(conn)?;
    if n > 0 {
        steps.push(format!("{n} expired"));
    }
    let cursors = cursors(conn)?;
    let mut dropped = 0;
    let mut records = 0;
    while !capacity.fits(needed) {
        let chunk = spans(conn, "telemetry = 1", params![i64::MIN])?;
        if chunk.is_empty() {
            break;
        }
        for span in &chunk {
            dropped += count_undelivered(conn, &cursors, span)?;
            delete_record(conn, span)?;
            records += 1;
        }
        capacity.refresh(conn)?;
    }
    if dropped > 0 {
        error!(
            count = dropped,
            "Buffer full: oldest undelivered telemetry events dropped."
        );
        steps.push(format!("{dropped} telemetry dropped"));
    }
    let mut receipts = 0;
    let mut after = i64::MIN;
    while !capacity.fits(needed) {
        let chunk = spans(conn, "1", params![after])?;
        let Some(last) = chunk.last() else {
            break;
        };
        after = last.first;
        for span in &chunk {
            if settled(conn, &cursors, span)? {
                receipts += delete_record(conn, span)?;
            }
        }
        conn.prepare_cached(
            "DELETE FROM receipts WHERE last_seq <= ?1 AND last_seq
                 <= COALESCE((SELECT settled FROM cursors c WHERE c.sink = receipts.sink), 0)",
        )?
        .execute([last.last])?;
        capacity.refresh(conn)?;
    }
    if receipts > 0 {
        warn!(
            count = receipts,
            "Buffer full: delivery receipts pruned before their retention ended."
        );
        metrics::counter!("dockgate_events_pruned_total", "reason" => "buffer_full")
            .increment(receipts as u64);
        steps.push(format!("{receipts} receipts pruned early"));
    }
    Ok(Freed {
        steps,
        // Also when all it dropped was settled: a dead letter among it no longer holds its
        // subject, which the writer and the sinks' read-ahead must see.
        dropped_undelivered: records > 0,
    })
}

/// Events of a telemetry record about to be dropped that some sink has not settled, counted by
/// type in `dockgate_events_dropped_total`.
fn count_undelivered(
    conn: &Connection,
    cursors: &HashMap<String, i64>,
    span: &Span,
) -> rusqlite::Result<usize> {
    let Some(record) = super::log::record_of(conn, span.first)? else {
        return Ok(0);
    };
    let open: Vec<u64> = record
        .sinks
        .iter()
        .enumerate()
        .filter(|(_, s)| cursors.get(s.as_str()).is_none_or(|c| *c < span.last))
        .map(|(i, _)| 1u64 << i)
        .collect();
    let mut counts = BTreeMap::<&str, u64>::new();
    for e in &record.events {
        if open.iter().any(|bit| e.mask & bit != 0) {
            *counts.entry(&*e.event_type).or_default() += 1;
        }
    }
    let mut n = 0;
    for (t, c) in counts {
        metrics::counter!("dockgate_events_dropped_total", "type" => t.to_owned(), "reason" => "buffer_full")
            .increment(c);
        n += c as usize;
    }
    Ok(n)
}

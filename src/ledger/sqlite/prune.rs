//! Retention and capacity: what leaves the buffer, in the order DESIGN §4 gives.
//!
//! Runs on the writer thread inside the writer's transaction. Every removal of an event that
//! did not reach all its sinks is counted and logged; business events are never removed before
//! delivery (the writer refuses new input instead).

use std::collections::BTreeSet;
use std::time::Duration;

use rusqlite::{params, Connection};
use tracing::{error, info, warn};

use super::read::{first_seq_since, used_bytes};
use super::subjects::recompute_subject;
use crate::model::now_ms;

/// Rows removed per statement, so one step never builds a huge transaction.
const CHUNK: i64 = 500;

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

/// Removes what retention no longer keeps: events delivered to every sink (or routed to none)
/// whose last delivery is older than `retention`, and idempotency keys of the same age.
pub(super) fn expired(conn: &Connection, retention: Duration) -> rusqlite::Result<usize> {
    let cutoff = now_ms() - retention.as_millis() as i64;
    let below = first_seq_since(conn, cutoff)?;
    let mut total = 0;
    // Walks forward from where the last chunk ended, so events kept (not yet delivered) are
    // looked at once.
    let mut after = 0;
    loop {
        let seqs = select_seqs(
            conn,
            "SELECT e.seq FROM events e WHERE e.seq > ?1 AND e.seq < ?2 AND NOT EXISTS (
                 SELECT 1 FROM deliveries d WHERE d.seq = e.seq
                     AND (d.state != 'delivered' OR d.delivered_ms >= ?3))
             ORDER BY e.seq LIMIT ?4",
            params![after, below, cutoff, CHUNK],
        )?;
        let Some(&last) = seqs.last() else {
            break;
        };
        after = last;
        total += delete_events(conn, &seqs)?;
    }
    conn.prepare_cached("DELETE FROM idempotency_keys WHERE created_ms < ?1")?
        .execute([cutoff])?;
    conn.prepare_cached("DELETE FROM inputs WHERE received_ms < ?1")?
        .execute([cutoff])?;
    conn.prepare_cached("DELETE FROM rejected WHERE received_ms < ?1")?
        .execute([cutoff])?;
    // A planned request none of whose events is pending any more (they were let go after a
    // dead letter, or dropped) is read afresh if they ever come back.
    conn.prepare_cached(
        "DELETE FROM batches WHERE NOT EXISTS (
             SELECT 1 FROM json_each(batches.seqs) j JOIN deliveries d
             ON d.seq = j.value AND d.sink = batches.sink AND d.state = 'pending')",
    )?
    .execute([])?;
    if total > 0 {
        info!(count = total, "Delivered events past retention pruned.");
        metrics::counter!("dockgate_events_pruned_total", "reason" => "retention")
            .increment(total as u64);
    }
    Ok(total)
}

/// Frees room for `needed` bytes, in the DESIGN §4 order: delivered events past retention,
/// then the oldest undelivered telemetry (`dock.*`, `scan.unmatched`), then (beyond the
/// design, so a full disk of receipts never stops business input) the oldest delivered
/// receipts still within retention.
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
    let mut dropped = 0;
    while !capacity.fits(needed) {
        let victims: Vec<(i64, String)> = {
            let mut stmt = conn.prepare_cached(
                "SELECT e.seq, e.type FROM events e WHERE e.telemetry = 1 AND EXISTS (
                     SELECT 1 FROM deliveries d WHERE d.seq = e.seq AND d.state != 'delivered')
                 ORDER BY e.seq LIMIT ?1",
            )?;
            let rows = stmt.query_map([CHUNK], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        if victims.is_empty() {
            break;
        }
        let seqs: Vec<i64> = victims.iter().map(|(s, _)| *s).collect();
        let mut counts = std::collections::BTreeMap::<&str, u64>::new();
        for (_, t) in &victims {
            *counts.entry(t.as_str()).or_default() += 1;
        }
        for (t, n) in counts {
            metrics::counter!("dockgate_events_dropped_total", "type" => t.to_owned(), "reason" => "buffer_full")
                .increment(n);
        }
        dropped += delete_events(conn, &seqs)?;
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
    while !capacity.fits(needed) {
        let seqs = select_seqs(
            conn,
            "SELECT e.seq FROM events e WHERE NOT EXISTS (
                 SELECT 1 FROM deliveries d WHERE d.seq = e.seq AND d.state != 'delivered')
             ORDER BY e.seq LIMIT ?1",
            params![CHUNK],
        )?;
        if seqs.is_empty() {
            break;
        }
        receipts += delete_events(conn, &seqs)?;
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
        dropped_undelivered: dropped > 0,
    })
}

fn select_seqs(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |r| r.get(0))?;
    rows.collect()
}

/// Deletes events with their deliveries, then re-derives the heads of the subjects whose open
/// rows were removed.
fn delete_events(conn: &Connection, seqs: &[i64]) -> rusqlite::Result<usize> {
    let mut open = conn.prepare_cached(
        "SELECT sink, subject FROM deliveries WHERE seq = ?1 AND state != 'delivered'",
    )?;
    let mut del_deliveries = conn.prepare_cached("DELETE FROM deliveries WHERE seq = ?1")?;
    let mut del_event = conn.prepare_cached("DELETE FROM events WHERE seq = ?1")?;
    let mut touched = BTreeSet::new();
    let mut n = 0;
    for seq in seqs {
        let rows = open.query_map([seq], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        for row in rows {
            touched.insert(row?);
        }
        del_deliveries.execute([seq])?;
        n += del_event.execute([seq])?;
    }
    for (sink, subject) in touched {
        recompute_subject(conn, &sink, &subject)?;
    }
    Ok(n)
}

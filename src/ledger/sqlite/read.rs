//! Queries of the read side: backlog and figures for status, and the listings of `dockgate
//! events`. Each runs on a read-only connection of [`super::Reads`], in one snapshot.
//!
//! A sink's events are pending when they are above its cursor and neither delivered (a
//! receipt) nor an exception, or when a replay put them back (a `pending` exception row);
//! held and dead are exception rows.

use std::collections::{HashMap, HashSet};

use rusqlite::{params, Connection, OptionalExtension};

use super::log::{self, decode_seqs};
use super::record::{self, parse_sink_counts, Record};
use crate::ledger::{Backlog, EventFilter, EventRow, LedgerStatus, RejectedRow};
use crate::model::{now_ms, rfc3339_ms, DeliveryState};

/// Where a sink stands: its cursor, and the events above it that are not pending by the
/// cursor's rule (delivered, or with an exception row).
struct Above {
    cursor: i64,
    skip: HashSet<i64>,
}

impl Above {
    fn read(conn: &Connection, sink: &str) -> rusqlite::Result<Self> {
        let cursor = log::cursor(conn, sink)?;
        let mut skip = log::exception_seqs(conn, sink, cursor)?;
        skip.extend(log::delivered_above(conn, sink, cursor)?);
        Ok(Self { cursor, skip })
    }

    /// Calls `f` with each event of `sink` pending by the cursor's rule, in order, until it
    /// returns false.
    fn pending(
        &self,
        conn: &Connection,
        sink: &str,
        mut f: impl FnMut(&Record, &record::StoredEvent) -> bool,
    ) -> rusqlite::Result<()> {
        log::scan(conn, self.cursor + 1, Some(sink), |r| {
            let Some(bit) = r.bit(sink) else {
                return Ok(true);
            };
            for e in &r.events {
                if e.seq > self.cursor
                    && e.mask & bit != 0
                    && !self.skip.contains(&e.seq)
                    && !f(&r, e)
                {
                    return Ok(false);
                }
            }
            Ok(true)
        })
    }
}

/// Events of the log above `cursor` routed to `sink`: counted from the records' sink counts,
/// decoding only the record the cursor falls in.
fn routed_above(conn: &Connection, sink: &str, cursor: i64) -> rusqlite::Result<u64> {
    let mut stmt = conn.prepare_cached(
        "SELECT first_seq, sinks FROM records
         WHERE last_seq > ?1 AND instr(' ' || sinks, ' ' || ?2 || '=') > 0",
    )?;
    let mut rows = stmt.query(params![cursor, sink])?;
    let mut n = 0;
    while let Some(r) = rows.next()? {
        let first: i64 = r.get(0)?;
        if first > cursor {
            let counts = r.get_ref(1)?.as_str()?;
            n += parse_sink_counts(counts)
                .find(|(s, _)| *s == sink)
                .map_or(0, |(_, c)| c);
        } else if let Some(record) = log::record_of(conn, first)? {
            if let Some(bit) = record.bit(sink) {
                n += record
                    .events
                    .iter()
                    .filter(|e| e.seq > cursor && e.mask & bit != 0)
                    .count() as u64;
            }
        }
    }
    Ok(n)
}

/// When the event `seq` was committed, if the log still has it.
fn committed_ms(conn: &Connection, seq: i64) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached(
        "SELECT created_ms FROM records WHERE first_seq <= ?1 AND last_seq >= ?1
         ORDER BY first_seq DESC LIMIT 1",
    )?
    .query_row([seq], |r| r.get(0))
    .optional()
}

/// Backlog of one sink.
pub(super) fn backlog(conn: &Connection, sink: &str, now: i64) -> rusqlite::Result<Backlog> {
    let above = Above::read(conn, sink)?;
    let mut backlog = Backlog {
        sink: sink.to_owned(),
        ..Backlog::default()
    };
    let mut oldest_replayed = None;
    {
        let mut stmt = conn.prepare_cached(
            "SELECT state, COUNT(*), MIN(seq) FROM exceptions WHERE sink = ?1 GROUP BY state",
        )?;
        let mut rows = stmt.query([sink])?;
        while let Some(r) = rows.next()? {
            let n = r.get::<_, i64>(1)? as u64;
            match r.get_ref(0)?.as_str()? {
                "pending" => {
                    backlog.pending += n;
                    oldest_replayed = r.get::<_, Option<i64>>(2)?;
                }
                "held" => backlog.held = n,
                "dead" => backlog.dead = n,
                _ => {}
            }
        }
    }
    let routed = routed_above(conn, sink, above.cursor)?;
    // Receipts or exceptions of events a full buffer dropped since may outnumber what is left.
    backlog.pending += routed.saturating_sub(above.skip.len() as u64);
    let mut oldest = None;
    above.pending(conn, sink, |r, _| {
        oldest = Some(r.created_ms);
        false
    })?;
    if let Some(seq) = oldest_replayed {
        if let Some(ms) = committed_ms(conn, seq)? {
            oldest = Some(oldest.map_or(ms, |o: i64| o.min(ms)));
        }
    }
    backlog.oldest_pending_age_seconds = oldest.map(|m| ((now - m).max(0)) as f64 / 1000.0);
    Ok(backlog)
}

/// Sinks the log has routed events to, by name.
fn known_sinks(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT sink FROM cursors ORDER BY sink")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    rows.collect()
}

/// Sinks with events not delivered yet, by name: the configured ones and any that was removed
/// from the configuration while events still waited for it.
pub(super) fn open_sinks(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let snapshot = conn.unchecked_transaction()?;
    let now = now_ms();
    let mut out = Vec::new();
    for sink in known_sinks(conn)? {
        let b = backlog(conn, &sink, now)?;
        if b.pending + b.held + b.dead > 0 {
            out.push(sink);
        }
    }
    snapshot.commit()?;
    Ok(out)
}

/// Backlog of each of `sinks` and of any other sink with events waiting, and buffer-wide
/// figures (the data directory's set-aside files are the caller's to add).
pub(super) fn status(conn: &Connection, sinks: &[String]) -> rusqlite::Result<LedgerStatus> {
    // One snapshot, so the backlog and the figures agree.
    let snapshot = conn.unchecked_transaction()?;
    let now = now_ms();
    let mut backlogs = Vec::new();
    for sink in sinks {
        backlogs.push(backlog(conn, sink, now)?);
    }
    for other in known_sinks(conn)? {
        if !sinks.contains(&other) {
            let mut b = backlog(conn, &other, now)?;
            if b.pending + b.held + b.dead > 0 {
                b.removed_last_delivery_ms = last_delivery(conn, &other)?;
                backlogs.push(b);
            }
        }
    }
    let figures = |since: i64| -> rusqlite::Result<(i64, i64)> {
        conn.prepare_cached(
            "SELECT COALESCE(SUM(last_seq - first_seq + 1), 0), COALESCE(SUM(bytes), 0)
             FROM records WHERE created_ms >= ?1",
        )?
        .query_row([since], |r| Ok((r.get(0)?, r.get(1)?)))
    };
    let (events, data_bytes) = figures(i64::MIN)?;
    let (recent, recent_bytes) = figures(now - 3_600_000)?;
    let last_sequence: i64 = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'last_sequence'",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0);
    let status = LedgerStatus {
        sinks: backlogs,
        events: events as u64,
        events_last_hour: recent as u64,
        data_bytes_last_hour: recent_bytes as u64,
        data_bytes: data_bytes as u64,
        last_sequence,
        used_bytes: used_bytes(conn)?,
        set_aside: Vec::new(),
    };
    snapshot.commit()?;
    Ok(status)
}

/// When `sink` last had a request delivered (ms since the epoch), from its receipts: what a
/// new worker shows as its last delivery until it delivers one itself. Taken from the receipts
/// of its highest sequences, by the index: over all of them it took 210 ms for 700,000 (a week
/// of batch-1 deliveries at a busy site). As many receipts as one read holds (at batch 1, one
/// per event): priority reorders within a read, and a low-priority event kept in the window
/// across many reads, or a replay of old events, delivered last may fall outside them; then
/// the time shown is of an earlier delivery, never a later one.
pub(super) fn last_delivery(conn: &Connection, sink: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached(
        "SELECT max(delivered_ms) FROM
           (SELECT delivered_ms FROM receipts WHERE sink = ?1 ORDER BY last_seq DESC LIMIT ?2)",
    )?
    .query_row(params![sink, super::window::MAX_EVENTS as i64], |r| {
        r.get(0)
    })
}

/// Bytes held by live pages of the database file.
pub(super) fn used_bytes(conn: &Connection) -> rusqlite::Result<u64> {
    // Runs in every commit: cached statements, not three fresh parses.
    let pragma = |sql: &str| -> rusqlite::Result<i64> {
        conn.prepare_cached(sql)?.query_row([], |r| r.get(0))
    };
    let page_size = pragma("PRAGMA page_size")?;
    let pages = pragma("PRAGMA page_count")?;
    let free = pragma("PRAGMA freelist_count")?;
    Ok(((pages - free).max(0) * page_size) as u64)
}

/// One line of a listing before the event's own fields are read from the log.
struct Found {
    seq: i64,
    sink: String,
    state: DeliveryState,
    attempts: i64,
    last_status: Option<i64>,
    last_error: Option<String>,
    excerpt: Option<String>,
    delivered_ms: Option<i64>,
}

impl Found {
    fn new(seq: i64, sink: &str, state: DeliveryState) -> Self {
        Self {
            seq,
            sink: sink.to_owned(),
            state,
            attempts: 0,
            last_status: None,
            last_error: None,
            excerpt: None,
            delivered_ms: None,
        }
    }
}

/// Events matching `filter`, oldest first (by sequence, then sink).
pub(super) fn list_events(
    conn: &Connection,
    filter: &EventFilter,
) -> rusqlite::Result<Vec<EventRow>> {
    let snapshot = conn.unchecked_transaction()?;
    let sinks = match &filter.sink {
        Some(s) => vec![s.clone()],
        None => known_sinks(conn)?,
    };
    let wants = |s: DeliveryState| filter.state.is_none_or(|f| f == s);
    let limit = filter.limit;
    let mut found = Vec::new();
    for sink in &sinks {
        exceptions_of(conn, sink, filter.state, limit, &mut found)?;
        if wants(DeliveryState::Pending) {
            let attempts = attempts_of(conn, sink)?;
            let above = Above::read(conn, sink)?;
            let mut n = 0;
            above.pending(conn, sink, |_, e| {
                let mut f = Found::new(e.seq, sink, DeliveryState::Pending);
                if let Some((a, status, error)) = attempts.get(&e.seq) {
                    f.attempts = *a;
                    f.last_status = *status;
                    f.last_error.clone_from(error);
                }
                found.push(f);
                n += 1;
                n < limit
            })?;
        }
        if wants(DeliveryState::Delivered) {
            delivered_of(conn, sink, limit, &mut found)?;
        }
    }
    found.sort_by(|a, b| (a.seq, &a.sink).cmp(&(b.seq, &b.sink)));
    found.truncate(limit);
    let mut out = Vec::with_capacity(found.len());
    let mut record: Option<Record> = None;
    for f in found {
        if record.as_ref().is_none_or(|r| r.get(f.seq).is_none()) {
            record = log::record_of(conn, f.seq)?;
        }
        let Some(e) = record.as_ref().and_then(|r| r.get(f.seq)) else {
            continue;
        };
        out.push(EventRow {
            id: e.id.to_string(),
            sequence: f.seq,
            subject: e.subject.to_string(),
            event_type: e.event_type.to_string(),
            sink: f.sink,
            state: f.state,
            attempts: f.attempts,
            last_status: f.last_status,
            last_error: f.last_error,
            excerpt: f.excerpt,
            time: event_time(&e.body),
            delivered_at: f.delivered_ms.map(rfc3339_ms),
        });
    }
    snapshot.commit()?;
    Ok(out)
}

/// The `time` attribute of a stored CloudEvents body.
fn event_time(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Time<'a> {
        #[serde(borrow)]
        time: std::borrow::Cow<'a, str>,
    }
    serde_json::from_str::<Time<'_>>(body)
        .map(|t| t.time.into_owned())
        .unwrap_or_default()
}

/// Exception rows of `sink` in `state` (any when `None`; never delivered), lowest first.
fn exceptions_of(
    conn: &Connection,
    sink: &str,
    state: Option<DeliveryState>,
    limit: usize,
    out: &mut Vec<Found>,
) -> rusqlite::Result<()> {
    if state == Some(DeliveryState::Delivered) {
        return Ok(());
    }
    let mut stmt = conn.prepare_cached(
        "SELECT seq, state, attempts, last_status, last_error, excerpt FROM exceptions
         WHERE sink = ?1 AND (?2 IS NULL OR state = ?2) ORDER BY seq LIMIT ?3",
    )?;
    let mut rows = stmt.query(params![sink, state.map(|s| s.as_str()), limit as i64])?;
    while let Some(r) = rows.next()? {
        let state = DeliveryState::parse(r.get_ref(1)?.as_str()?).unwrap_or(DeliveryState::Pending);
        let mut f = Found::new(r.get(0)?, sink, state);
        f.attempts = r.get(2)?;
        f.last_status = r.get(3)?;
        f.last_error = r.get(4)?;
        f.excerpt = r.get(5)?;
        out.push(f);
    }
    Ok(())
}

/// Failed attempts of a request: how many, the last status and error.
type Attempts = (i64, Option<i64>, Option<String>);

/// Failed attempts of the requests `sink` has planned, by member event.
fn attempts_of(conn: &Connection, sink: &str) -> rusqlite::Result<HashMap<i64, Attempts>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seqs, attempts, last_status, last_error FROM requests
         WHERE sink = ?1 AND attempts > 0",
    )?;
    let mut rows = stmt.query([sink])?;
    let mut out = HashMap::new();
    while let Some(r) = rows.next()? {
        let seqs: Vec<i64> = serde_json::from_str(r.get_ref(0)?.as_str()?).unwrap_or_default();
        let entry = (r.get(1)?, r.get(2)?, r.get(3)?);
        for seq in seqs {
            out.insert(seq, entry.clone());
        }
    }
    Ok(out)
}

/// The lowest `limit` events of `sink` that receipts say were delivered.
fn delivered_of(
    conn: &Connection,
    sink: &str,
    limit: usize,
    out: &mut Vec<Found>,
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT first_seq, seqs, void_from, delivered_ms, status, attempts FROM receipts
         WHERE sink = ?1 ORDER BY first_seq",
    )?;
    let mut rows = stmt.query([sink])?;
    let mut mine: Vec<Found> = Vec::new();
    // Receipts overlap in sequence (requests of different subjects), so one starting above
    // the highest member kept can still hold lower ones only if it starts below it.
    let mut highest = i64::MIN;
    while let Some(r) = rows.next()? {
        let first: i64 = r.get(0)?;
        if mine.len() >= limit && first > highest {
            break;
        }
        let void_from: Option<i64> = r.get(2)?;
        let at: i64 = r.get(3)?;
        let status: i64 = r.get(4)?;
        // Receipts from before layout 9 did not count attempts: at least the delivered one.
        let attempts: i64 = r.get::<_, Option<i64>>(5)?.unwrap_or(1);
        for seq in decode_seqs(first, r.get_ref(1)?.as_blob()?) {
            if void_from.is_some_and(|v| seq >= v) {
                continue;
            }
            let mut f = Found::new(seq, sink, DeliveryState::Delivered);
            f.delivered_ms = Some(at);
            f.last_status = Some(status);
            f.attempts = attempts;
            mine.push(f);
            if mine.len() <= limit {
                highest = highest.max(seq);
            }
        }
    }
    mine.sort_by_key(|f| f.seq);
    mine.truncate(limit);
    out.extend(mine);
    Ok(())
}

/// Most raw bytes shown per quarantined input (the buffer keeps them all).
const RAW_SHOWN: usize = 1024;

/// Quarantined inputs, oldest first, optionally of one device.
pub(super) fn list_rejected(
    conn: &Connection,
    device: Option<&str>,
    limit: usize,
) -> rusqlite::Result<Vec<RejectedRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, device, received_ms, reason, detail, raw FROM rejected
         WHERE (?1 IS NULL OR device = ?1) ORDER BY seq LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![device, limit as i64], |r| {
        let raw: Vec<u8> = r.get(5)?;
        Ok(RejectedRow {
            id: r.get(0)?,
            device: r.get(1)?,
            received_at: rfc3339_ms(r.get(2)?),
            reason: r.get(3)?,
            detail: r.get(4)?,
            raw: printable(&raw[..raw.len().min(RAW_SHOWN)]),
            bytes: raw.len(),
        })
    })?;
    rows.collect()
}

/// ASCII as is, everything else as `\xNN`.
fn printable(bytes: &[u8]) -> String {
    bytes
        .iter()
        .flat_map(|b| std::ascii::escape_default(*b))
        .map(char::from)
        .collect()
}

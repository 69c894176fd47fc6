//! Queries of the read side: what a sink sends next, backlog and figures for status, listings.
//! Each runs on a read-only connection of [`super::Reads`]; the writer uses the time and id
//! lookups at the end too.

use std::collections::HashSet;

use rusqlite::{params, Connection, OptionalExtension};

use crate::ledger::{Backlog, EventFilter, EventRow, LedgerStatus, Ready, RejectedRow, Sendable};
use crate::model::{now_ms, rfc3339_ms, write_cloudevent, DeliveryState};

/// A subject's head: the one event of the subject a worker may send next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Head {
    /// Sequence number.
    pub seq: i64,
    /// Subject.
    pub subject: String,
}

/// Heads of subjects that are pending on `sink`, in draining order, skipping the subjects in
/// `busy` (an event of theirs is already queued or in flight in the worker). Not rendered: a
/// worker may take fewer heads than it asked for, when they bring runs (see [`run_from`]).
fn ready_heads(
    conn: &Connection,
    sink: &str,
    limit: usize,
    busy: &std::collections::HashSet<String>,
) -> rusqlite::Result<Vec<Head>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, subject FROM deliveries
         WHERE sink = ?1 AND state = 'pending' AND ready = 1
         ORDER BY priority, seq LIMIT ?2",
    )?;
    let mut rows = stmt.query(params![sink, (limit + busy.len()) as i64])?;
    let mut out = Vec::with_capacity(limit);
    while out.len() < limit {
        let Some(r) = rows.next()? else { break };
        let subject = r.get_ref(1)?.as_str()?;
        if !busy.contains(subject) {
            out.push(Head {
                seq: r.get(0)?,
                subject: subject.to_owned(),
            });
        }
    }
    Ok(out)
}

/// A delivery row as a worker sends it; columns as selected by [`run_from`] and
/// [`planned_items`].
fn rendered(r: &rusqlite::Row<'_>) -> rusqlite::Result<Sendable> {
    let seq: i64 = r.get(0)?;
    let id: String = r.get(1)?;
    let subject = r.get_ref(5)?.as_str()?;
    let mut json = String::with_capacity(256);
    write_cloudevent(
        &mut json,
        &id,
        r.get_ref(3)?.as_str()?,
        r.get_ref(4)?.as_str()?,
        subject,
        r.get_ref(6)?.as_str()?,
        seq,
        r.get_ref(7)?.as_str()?,
    );
    Ok(Sendable {
        seq,
        id,
        subject: subject.to_owned(),
        created_ms: r.get(2)?,
        body: json,
    })
}

/// The head and up to `max - 1` pending events queued behind it in its subject on `sink`, in
/// order and rendered: the run a batch carries. It stops at the first event that is not
/// plainly pending (held, dead). A planned request that can go is read first and takes its
/// subjects out of the read; one that has to wait (see [`planned_items`]) has not been
/// sent yet, and should its events go out here first, its plan no longer matches and is
/// resent under a new key or cleared.
fn run_from(
    conn: &Connection,
    sink: &str,
    head: &Head,
    max: usize,
) -> rusqlite::Result<Vec<Sendable>> {
    let mut stmt = conn.prepare_cached(
        "SELECT d.seq, e.id, e.created_ms, e.source, e.type, e.subject, e.time, e.data,
                d.state = 'pending'
         FROM deliveries d JOIN events e ON e.seq = d.seq
         WHERE d.sink = ?1 AND d.subject = ?2 AND d.seq >= ?3 AND d.state != 'delivered'
         ORDER BY d.seq LIMIT ?4",
    )?;
    let mut rows = stmt.query(params![sink, head.subject, head.seq, max as i64])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        if !r.get::<_, bool>(8)? {
            break;
        }
        out.push(rendered(r)?);
    }
    Ok(out)
}

/// Requests planned for `sink` (key and members, ascending), oldest first.
pub(super) fn planned(conn: &Connection, sink: &str) -> rusqlite::Result<Vec<(String, Vec<i64>)>> {
    let mut stmt = conn
        .prepare_cached("SELECT key, seqs FROM batches WHERE sink = ?1 ORDER BY created_ms, key")?;
    let rows = stmt.query_map([sink], |r| {
        let key: String = r.get(0)?;
        let seqs: String = r.get(1)?;
        Ok((key, seqs))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (key, seqs) = row?;
        // Written by the writer from a Vec<i64>; an unreadable plan is left for the
        // members to be read again one by one.
        if let Ok(seqs) = serde_json::from_str::<Vec<i64>>(&seqs) {
            out.push((key, seqs));
        }
    }
    Ok(out)
}

/// The events of a planned request that are still pending on `sink`, rendered, in the order
/// planned; `None` while the request may not go yet: for some subject in it, an earlier event
/// is still open elsewhere (say the first half of a split, not yet delivered), which must reach
/// the receiver first.
fn planned_items(
    conn: &Connection,
    sink: &str,
    seqs: &[i64],
) -> rusqlite::Result<Option<Vec<Sendable>>> {
    let mut stmt = conn.prepare_cached(
        "SELECT e.seq, e.id, e.created_ms, e.source, e.type, e.subject, e.time, e.data, d.ready
         FROM deliveries d JOIN events e ON e.seq = d.seq
         WHERE d.seq = ?1 AND d.sink = ?2 AND d.state = 'pending'",
    )?;
    let mut out: Vec<Sendable> = Vec::with_capacity(seqs.len());
    for seq in seqs {
        let mut rows = stmt.query(params![seq, sink])?;
        if let Some(r) = rows.next()? {
            let item = rendered(r)?;
            // The first event of each subject in the batch must be that subject's head.
            let first_of_subject = !out.iter().any(|d| d.subject == item.subject);
            if first_of_subject && !r.get::<_, bool>(8)? {
                return Ok(None);
            }
            out.push(item);
        }
    }
    Ok(Some(out))
}

/// What `sink` sends next (see [`crate::ledger::SinkReader::next`]): planned requests not in
/// hand whose turn has come, then heads of subjects in draining order with their runs, in
/// chunks of at most `batch_max`.
pub(super) fn next_for_sink(
    conn: &Connection,
    sink: &str,
    want: usize,
    batch_max: usize,
    mut busy: HashSet<String>,
    in_hand: &HashSet<i64>,
) -> rusqlite::Result<Vec<Ready>> {
    // One snapshot for the whole read, so heads and runs agree.
    let snapshot = conn.unchecked_transaction()?;
    let mut out = Vec::new();
    let mut count = 0;
    if batch_max > 1 {
        for (key, seqs) in planned(conn, sink)? {
            if count >= want || seqs.iter().any(|s| in_hand.contains(s)) {
                continue;
            }
            let Some(events) = planned_items(conn, sink, &seqs)? else {
                continue;
            };
            if events.is_empty() || events.iter().any(|d| busy.contains(&d.subject)) {
                continue;
            }
            count += events.len();
            busy.extend(events.iter().map(|d| d.subject.clone()));
            out.push(Ready::Planned { key, events });
        }
    }
    // Each head brings the events waiting behind it in its subject, as many as the request has
    // room for: a busy subject (a receiving dock, a long pick, a backlog after an outage) moves
    // a run per request, and the delivered mark lets go of the subject once instead of once
    // per event.
    let heads = match want.saturating_sub(count) {
        0 => Vec::new(),
        room => ready_heads(conn, sink, room, &busy)?,
    };
    let mut chunk: Vec<Sendable> = Vec::with_capacity(batch_max);
    for head in heads {
        if count >= want {
            break;
        }
        let run = run_from(conn, sink, &head, batch_max - chunk.len())?;
        count += run.len();
        chunk.extend(run);
        if chunk.len() == batch_max {
            out.push(Ready::Fresh(std::mem::take(&mut chunk)));
        }
    }
    if !chunk.is_empty() {
        out.push(Ready::Fresh(chunk));
    }
    snapshot.commit()?;
    Ok(out)
}

/// Backlog of each named sink.
fn backlog(conn: &Connection, sinks: &[String]) -> rusqlite::Result<Vec<Backlog>> {
    // One pass over the sink's open rows, in the index alone.
    let mut count = conn.prepare_cached(
        "SELECT state, COUNT(*) FROM deliveries WHERE sink = ?1 AND state != 'delivered'
         GROUP BY state",
    )?;
    // The oldest pending row of a sink is always a subject head: anything pending behind it
    // in its subject is younger. So the ready index answers this.
    let mut oldest = conn.prepare_cached(
        "SELECT MIN(e.created_ms) FROM deliveries d JOIN events e ON e.seq = d.seq
         WHERE d.sink = ?1 AND d.state = 'pending' AND d.ready = 1",
    )?;
    let now = now_ms();
    let mut out = Vec::with_capacity(sinks.len());
    for sink in sinks {
        let (mut pending, mut held, mut dead) = (0, 0, 0);
        let mut rows = count.query([sink])?;
        while let Some(r) = rows.next()? {
            let n = r.get::<_, i64>(1)? as u64;
            match r.get_ref(0)?.as_str()? {
                "pending" => pending = n,
                "held" => held = n,
                "dead" => dead = n,
                _ => {}
            }
        }
        let min: Option<i64> = oldest.query_row([sink], |r| r.get(0))?;
        out.push(Backlog {
            sink: sink.clone(),
            pending,
            held,
            dead,
            oldest_pending_age_seconds: min.map(|m| ((now - m).max(0)) as f64 / 1000.0),
        });
    }
    Ok(out)
}

/// The lowest sequence number committed at or after `ms`: every event below it was committed
/// before `ms`. The commit time grows with the sequence number, so a binary search over `seq`
/// finds it in about 20 lookups, with no index on the time. Past the newest event when none is
/// that recent.
pub(super) fn first_seq_since(conn: &Connection, ms: i64) -> rusqlite::Result<i64> {
    let (min, max): (Option<i64>, Option<i64>) =
        conn.query_row("SELECT MIN(seq), MAX(seq) FROM events", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let (Some(min), Some(max)) = (min, max) else {
        return Ok(1);
    };
    let mut first_at = conn.prepare_cached(
        "SELECT seq, created_ms FROM events WHERE seq >= ?1 ORDER BY seq LIMIT 1",
    )?;
    // Smallest x whose first event at or after it is that recent (or does not exist).
    let (mut lo, mut hi) = (min, max + 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let row: Option<(i64, i64)> = first_at
            .query_row([mid], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        match row {
            Some((seq, created)) if created < ms => lo = seq + 1,
            _ => hi = mid,
        }
    }
    Ok(lo)
}

/// The sequence number of the event with this id, if the buffer holds it.
///
/// Ids are UUIDv7 whose first 48 bits are the millisecond the writer minted them, just after
/// the event's commit time was taken; so the event is among the few committed within a minute
/// before that millisecond, found by [`first_seq_since`] with no index on `id`. Anything else
/// (not a UUIDv7, a clock stepped meanwhile) falls back to reading the whole table.
pub(super) fn seq_of_id(conn: &Connection, id: &str) -> rusqlite::Result<Option<i64>> {
    let mut in_range = conn.prepare_cached(
        "SELECT seq FROM events WHERE seq >= ?1 AND seq < ?2 AND id = ?3 LIMIT 1",
    )?;
    if let Some(minted) = uuid::Uuid::parse_str(id)
        .ok()
        .filter(|u| u.get_version_num() == 7)
        .map(|u| (u.as_u128() >> 80) as i64)
    {
        let from = first_seq_since(conn, minted - 60_000)?;
        let to = first_seq_since(conn, minted + 1)?;
        let found = in_range
            .query_row(params![from, to, id], |r| r.get(0))
            .optional()?;
        if found.is_some() {
            return Ok(found);
        }
    }
    in_range
        .query_row(params![i64::MIN, i64::MAX, id], |r| r.get(0))
        .optional()
}

/// Sinks with events not delivered yet, by name: the configured ones and any that was removed
/// from the configuration while events still waited for it.
pub(super) fn open_sinks(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    // Through the index of open rows, one step per sink (a skip-scan), not per row.
    let mut next = conn.prepare_cached(
        "SELECT MIN(sink) FROM deliveries WHERE state != 'delivered' AND sink > ?1",
    )?;
    let mut out = Vec::new();
    let mut after = String::new();
    while let Some(sink) = next.query_row([&after], |r| r.get::<_, Option<String>>(0))? {
        after.clone_from(&sink);
        out.push(sink);
    }
    Ok(out)
}

/// Backlog of each of `sinks` and of any other sink with events waiting, and buffer-wide
/// figures (the data directory's set-aside files are the caller's to add).
pub(super) fn status(conn: &Connection, sinks: &[String]) -> rusqlite::Result<LedgerStatus> {
    // One snapshot, so the backlog and the figures agree.
    let snapshot = conn.unchecked_transaction()?;
    let mut sinks = sinks.to_vec();
    for other in open_sinks(conn)? {
        if !sinks.contains(&other) {
            sinks.push(other);
        }
    }
    let hour_ago = now_ms() - 3_600_000;
    let (events, data_bytes): (i64, i64) = conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(length(data) + length(subject) + length(type)), 0) FROM events",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let (recent, recent_bytes): (i64, i64) = conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(length(data) + length(subject) + length(type)), 0)
         FROM events WHERE seq >= ?1",
        [first_seq_since(conn, hour_ago)?],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let last_sequence: i64 = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'last_sequence'",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0);
    let status = LedgerStatus {
        sinks: backlog(conn, &sinks)?,
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

/// Bytes held by live pages of the database file.
pub(super) fn used_bytes(conn: &Connection) -> rusqlite::Result<u64> {
    // Runs after every commit: cached statements, not three fresh parses.
    let pragma = |sql: &str| -> rusqlite::Result<i64> {
        conn.prepare_cached(sql)?.query_row([], |r| r.get(0))
    };
    let page_size = pragma("PRAGMA page_size")?;
    let pages = pragma("PRAGMA page_count")?;
    let free = pragma("PRAGMA freelist_count")?;
    Ok(((pages - free).max(0) * page_size) as u64)
}

/// Deliveries matching `filter`, oldest first.
pub(super) fn list_events(
    conn: &Connection,
    filter: &EventFilter,
) -> rusqlite::Result<Vec<EventRow>> {
    let state = filter.state.map(|s| s.as_str());
    let open_of_one_sink = filter.sink.is_some() && state.is_some_and(|s| s != "delivered");
    let mut stmt = conn.prepare_cached(if open_of_one_sink {
        // Pending, held or dead rows of one sink: found through the index of open rows
        // rather than by walking every receipt before them.
        "SELECT e.id, e.seq, e.subject, e.type, d.sink, d.state, d.attempts, d.last_status,
                d.last_error, d.excerpt, e.time, d.delivered_ms
         FROM deliveries d JOIN events e ON e.seq = d.seq
         WHERE d.sink = ?1 AND d.state = ?2 AND d.state != 'delivered'
         ORDER BY d.seq LIMIT ?3"
    } else {
        "SELECT e.id, e.seq, e.subject, e.type, d.sink, d.state, d.attempts, d.last_status,
                d.last_error, d.excerpt, e.time, d.delivered_ms
         FROM deliveries d JOIN events e ON e.seq = d.seq
         WHERE (?1 IS NULL OR d.sink = ?1) AND (?2 IS NULL OR d.state = ?2)
         ORDER BY d.seq, d.sink LIMIT ?3"
    })?;
    let rows = stmt.query_map(params![filter.sink, state, filter.limit as i64], |r| {
        let state: String = r.get(5)?;
        Ok(EventRow {
            id: r.get(0)?,
            sequence: r.get(1)?,
            subject: r.get(2)?,
            event_type: r.get(3)?,
            sink: r.get(4)?,
            state: DeliveryState::parse(&state).unwrap_or(DeliveryState::Pending),
            attempts: r.get(6)?,
            last_status: r.get(7)?,
            last_error: r.get(8)?,
            excerpt: r.get(9)?,
            time: r.get(10)?,
            delivered_at: r.get::<_, Option<i64>>(11)?.map(rfc3339_ms),
        })
    })?;
    rows.collect()
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

//! Reading the log and what lies beside it: records in sequence order, an event by sequence
//! number, time or id, a sink's cursor, and the members of receipts. Shared by the writer
//! (inside its transaction) and the readers (on their snapshots).

use std::collections::HashSet;

use rusqlite::{params, Connection, OptionalExtension};

use super::record::{self, Record, MAX_EVENTS};

/// Records read per query while scanning.
const PAGE: i64 = 64;

/// The cursor of `sink`: every event up to it is settled there (0 before its first event).
pub(super) fn cursor(conn: &Connection, sink: &str) -> rusqlite::Result<i64> {
    Ok(conn
        .prepare_cached("SELECT settled FROM cursors WHERE sink = ?1")?
        .query_row([sink], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

/// Calls `f` with each record holding events at or after `from`, in order, until it returns
/// false; with `sink`, only records with events for that sink, and in each only the events
/// from `from` on that go to `sink` (without, every event from `from` on).
pub(super) fn scan(
    conn: &Connection,
    from: i64,
    sink: Option<&str>,
    mut f: impl FnMut(Record) -> rusqlite::Result<bool>,
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.first_seq, r.created_ms, b.body FROM records r
         JOIN record_bodies b ON b.first_seq = r.first_seq
         WHERE r.first_seq > ?1 AND r.last_seq >= ?2
           AND (?3 IS NULL OR instr(' ' || r.sinks, ' ' || ?3 || '=') > 0)
         ORDER BY r.first_seq LIMIT ?4",
    )?;
    // A record holding `from` starts at most MAX_EVENTS before it.
    let mut after = from - MAX_EVENTS as i64 - 1;
    loop {
        let mut rows = stmt.query(params![after, from, sink, PAGE])?;
        let mut any = false;
        while let Some(r) = rows.next()? {
            any = true;
            let first: i64 = r.get(0)?;
            after = first;
            let record =
                record::decode_part(first, r.get(1)?, r.get_ref(2)?.as_blob()?, from, sink)
                    .map_err(record::Unreadable::into_sqlite)?;
            if !f(record)? {
                return Ok(());
            }
        }
        if !any {
            return Ok(());
        }
    }
}

/// Calls `f` with each record from `from` on that may hold events of `subject` for `sink` (by
/// its subject filter), decoded to that sink's events from `from` on; the others are not read.
pub(super) fn scan_subject(
    conn: &Connection,
    from: i64,
    sink: &str,
    subject: &str,
    mut f: impl FnMut(Record) -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    let mut rows = conn.prepare_cached(
        "SELECT first_seq, created_ms, subjects FROM records
         WHERE first_seq > ?1 AND last_seq >= ?2 AND instr(' ' || sinks, ' ' || ?3 || '=') > 0
         ORDER BY first_seq LIMIT ?4",
    )?;
    let mut body = conn.prepare_cached("SELECT body FROM record_bodies WHERE first_seq = ?1")?;
    let mut after = from - MAX_EVENTS as i64 - 1;
    loop {
        let page: Vec<(i64, i64, bool)> = rows
            .query_map(params![after, from, sink, PAGE], |r| {
                let filter = record::Subjects::from_bytes(r.get_ref(2)?.as_blob()?);
                // An unreadable filter may hold anything.
                let may = filter.is_none_or(|s| s.may_hold(subject));
                Ok((r.get(0)?, r.get(1)?, may))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let Some(&(last, _, _)) = page.last() else {
            return Ok(());
        };
        after = last;
        for (first, created, _) in page.into_iter().filter(|p| p.2) {
            let blob: Vec<u8> = body.query_row([first], |r| r.get(0))?;
            let record = record::decode_part(first, created, &blob, from, Some(sink))
                .map_err(record::Unreadable::into_sqlite)?;
            f(record)?;
        }
    }
}

/// The highest sequence number in the log (0 when it is empty), from the newest record: the
/// table has no index on `last_seq`, and `MAX(last_seq)` would read all of it.
pub(super) fn newest(conn: &Connection) -> rusqlite::Result<i64> {
    Ok(conn
        .prepare_cached("SELECT last_seq FROM records ORDER BY first_seq DESC LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

/// The record holding `seq`, if the log still has it.
pub(super) fn record_of(conn: &Connection, seq: i64) -> rusqlite::Result<Option<Record>> {
    let row: Option<(i64, i64, Vec<u8>)> = conn
        .prepare_cached(
            "SELECT r.first_seq, r.created_ms, b.body FROM records r
             JOIN record_bodies b ON b.first_seq = r.first_seq
             WHERE r.first_seq <= ?1 AND r.last_seq >= ?1
             ORDER BY r.first_seq DESC LIMIT 1",
        )?
        .query_row([seq], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    match row {
        None => Ok(None),
        Some((first, created, body)) => record::decode(first, created, &body)
            .map(Some)
            .map_err(record::Unreadable::into_sqlite),
    }
}

/// The lowest sequence number committed at or after `ms`; past the newest event when none is
/// that recent. The commit time grows with the sequence number.
pub(super) fn first_seq_since(conn: &Connection, ms: i64) -> rusqlite::Result<i64> {
    let found: Option<i64> = conn
        .prepare_cached("SELECT MIN(first_seq) FROM records WHERE created_ms >= ?1")?
        .query_row([ms], |r| r.get(0))?;
    match found {
        Some(seq) => Ok(seq),
        None => Ok(newest(conn)? + 1),
    }
}

/// The sequence number of the event with this id, if the log holds it.
///
/// Ids are UUIDv7 whose first 48 bits are the millisecond the writer minted them, just after
/// the record's commit time was taken; so the event is in a record committed within a minute
/// before that millisecond. Anything else (not a UUIDv7, a clock stepped meanwhile) falls back
/// to reading the whole log.
pub(super) fn seq_of_id(conn: &Connection, id: &str) -> rusqlite::Result<Option<i64>> {
    let find = |from: i64, to: i64| -> rusqlite::Result<Option<i64>> {
        let mut found = None;
        scan(conn, from, None, |record| {
            if record.first_seq >= to {
                return Ok(false);
            }
            found = record.events.iter().find(|e| &*e.id == id).map(|e| e.seq);
            Ok(found.is_none())
        })?;
        Ok(found)
    };
    if let Some(minted) = uuid::Uuid::parse_str(id)
        .ok()
        .filter(|u| u.get_version_num() == 7)
        .map(|u| (u.as_u128() >> 80) as i64)
    {
        let from = first_seq_since(conn, minted - 60_000)?;
        let to = first_seq_since(conn, minted + 1)?;
        if let Some(seq) = find(from, to)? {
            return Ok(Some(seq));
        }
    }
    find(i64::MIN + MAX_EVENTS as i64 + 2, i64::MAX)
}

/// Sequence numbers of `sink` above `after` that have an exception row.
pub(super) fn exception_seqs(
    conn: &Connection,
    sink: &str,
    after: i64,
) -> rusqlite::Result<HashSet<i64>> {
    let mut stmt =
        conn.prepare_cached("SELECT seq FROM exceptions WHERE sink = ?1 AND seq > ?2")?;
    let rows = stmt.query_map(params![sink, after], |r| r.get(0))?;
    rows.collect()
}

/// Events of `sink` above `after` that receipts say were delivered (and no replay put back).
pub(super) fn delivered_above(
    conn: &Connection,
    sink: &str,
    after: i64,
) -> rusqlite::Result<HashSet<i64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT first_seq, seqs, void_from FROM receipts WHERE sink = ?1 AND last_seq > ?2",
    )?;
    let mut rows = stmt.query(params![sink, after])?;
    let mut out = HashSet::new();
    while let Some(r) = rows.next()? {
        let void_from: Option<i64> = r.get(2)?;
        for seq in decode_seqs(r.get(0)?, r.get_ref(1)?.as_blob()?) {
            if seq > after && void_from.is_none_or(|v| seq < v) {
                out.insert(seq);
            }
        }
    }
    Ok(out)
}

/// Ascending sequence numbers as LEB128 deltas from the first.
pub(super) fn encode_seqs(seqs: &[i64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(seqs.len() + 4);
    let mut prev = seqs.first().copied().unwrap_or(0);
    for &s in seqs {
        let mut d = (s - prev).max(0) as u64;
        while d >= 0x80 {
            out.push((d as u8) | 0x80);
            d >>= 7;
        }
        out.push(d as u8);
        prev = s;
    }
    out
}

/// The members of a receipt, as written by [`encode_seqs`].
pub(super) fn decode_seqs(first: i64, blob: &[u8]) -> Vec<i64> {
    let mut out = Vec::with_capacity(blob.len());
    let mut prev = first;
    let mut d: u64 = 0;
    let mut shift = 0;
    for &b in blob {
        d |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            prev += d as i64;
            out.push(prev);
            d = 0;
            shift = 0;
        } else {
            shift = (shift + 7).min(63);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_members_read_back() {
        let seqs = vec![5, 6, 7, 300, 100_000];
        assert_eq!(decode_seqs(5, &encode_seqs(&seqs)), seqs);
        assert!(decode_seqs(1, &encode_seqs(&[])).is_empty());
    }
}

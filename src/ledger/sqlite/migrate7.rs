//! Layout 6 to 7: one row per event and one per delivery become the log, cursors, exceptions
//! and receipts. Runs once, inside the migration's transaction: every event keeps its id,
//! sequence number, subject and route; pending, held and dead deliveries stay so; delivered
//! ones become receipts; planned batches become planned requests. Events and their deliveries
//! are read side by side in sequence order, so memory stays small however large the buffer.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rusqlite::{params, Row, Transaction};

use super::record::{RecordBuilder, MAX_EVENTS, MAX_SINKS};
use super::schema::LAYOUT_7;
use crate::model::{is_telemetry, write_cloudevent};

/// A delivery row of layout 6.
struct Delivery {
    seq: i64,
    sink: String,
    subject: String,
    state: String,
    attempts: i64,
    last_status: Option<i64>,
    last_error: Option<String>,
    excerpt: Option<String>,
    updated_ms: i64,
    delivered_ms: Option<i64>,
}

impl Delivery {
    fn read(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            seq: r.get(0)?,
            sink: r.get(1)?,
            subject: r.get(2)?,
            state: r.get(3)?,
            attempts: r.get(4)?,
            last_status: r.get(5)?,
            last_error: r.get(6)?,
            excerpt: r.get(7)?,
            updated_ms: r.get(8)?,
            delivered_ms: r.get(9)?,
        })
    }
}

/// What is gathered per sink along the way.
#[derive(Default)]
struct PerSink {
    /// Lowest pending event: the cursor goes just below it.
    first_pending: Option<i64>,
    /// Highest event routed to the sink: the cursor when nothing is pending.
    last: i64,
    /// Delivered events not yet written as a receipt: (seq, status, delivered_ms).
    delivered: Vec<(i64, i64, i64)>,
}

pub(super) fn run(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(LAYOUT_7)?;
    let mut sinks: BTreeMap<String, PerSink> = BTreeMap::new();
    let mut names: HashMap<String, Arc<str>> = HashMap::new();
    let mut exception = tx.prepare(
        "INSERT INTO exceptions (sink, seq, subject, state, attempts, last_status, last_error,
             excerpt, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    let mut deliveries = tx.prepare(
        "SELECT seq, sink, subject, state, attempts, last_status, last_error, excerpt,
                updated_ms, delivered_ms FROM deliveries ORDER BY seq, sink",
    )?;
    let mut deliveries = deliveries.query([])?;
    let mut next = deliveries.next()?.map(Delivery::read).transpose()?;
    let mut events = tx.prepare(
        "SELECT seq, id, type, subject, source, time, created_ms, data FROM events ORDER BY seq",
    )?;
    let mut rows = events.query([])?;
    let mut record: Option<RecordBuilder> = None;
    let mut body = String::new();
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        let event_type: String = r.get(2)?;
        let telemetry = is_telemetry(&event_type);
        let fits = record
            .as_ref()
            .is_some_and(|b| b.takes(telemetry) && b.last_seq() + 1 == seq);
        if !fits {
            if let Some(done) = record.take() {
                super::events::write_record(tx, &done)?;
            }
        }
        let created_ms: i64 = r.get(6)?;
        let builder = record.get_or_insert_with(|| RecordBuilder::new(seq, telemetry, created_ms));
        let mut mask = 0;
        // Deliveries without their event (none should exist) are passed over.
        while let Some(d) = next.take_if(|d| d.seq <= seq) {
            if d.seq == seq {
                let sink = names
                    .entry(d.sink.clone())
                    .or_insert_with(|| Arc::from(d.sink.as_str()))
                    .clone();
                mask |= builder.bit(&sink).ok_or_else(|| {
                    rusqlite::Error::ToSqlConversionFailure(
                        format!("event {seq} goes to more than {MAX_SINKS} sinks").into(),
                    )
                })?;
                carry(&mut sinks, &mut exception, tx, d)?;
            }
            next = deliveries.next()?.map(Delivery::read).transpose()?;
        }
        let id: String = r.get(1)?;
        let subject: String = r.get(3)?;
        body.clear();
        write_cloudevent(
            &mut body,
            &id,
            r.get_ref(4)?.as_str()?,
            &event_type,
            &subject,
            r.get_ref(5)?.as_str()?,
            seq,
            r.get_ref(7)?.as_str()?,
        );
        // Ids of layout 6 are UUIDs minted by dockgate; anything else would not fit the record.
        let uuid = uuid::Uuid::parse_str(&id).unwrap_or_default();
        builder.push(mask, &subject, &event_type, &uuid, &body);
    }
    if let Some(done) = record.take() {
        super::events::write_record(tx, &done)?;
    }
    for (sink, per) in &mut sinks {
        write_receipt(tx, sink, &mut per.delivered)?;
        let cursor = per.first_pending.map_or(per.last, |p| p - 1);
        tx.execute(
            "INSERT INTO cursors (sink, settled) VALUES (?1, ?2)",
            params![sink, cursor],
        )?;
    }
    drop(rows);
    drop(events);
    drop(deliveries);
    drop(exception);
    tx.execute_batch(
        "INSERT INTO requests (sink, key, seqs, created_ms)
             SELECT sink, key, seqs, created_ms FROM batches;
         DROP TABLE batches;
         DROP TABLE deliveries;
         DROP TABLE events;",
    )
}

/// Carries one delivery over: into the sink's cursor, an exception row, or a receipt.
fn carry(
    sinks: &mut BTreeMap<String, PerSink>,
    exception: &mut rusqlite::Statement<'_>,
    tx: &Transaction<'_>,
    d: Delivery,
) -> rusqlite::Result<()> {
    let per = sinks.entry(d.sink.clone()).or_default();
    per.last = per.last.max(d.seq);
    match d.state.as_str() {
        "pending" => {
            per.first_pending.get_or_insert(d.seq);
        }
        "dead" | "held" => {
            exception.execute(params![
                d.sink,
                d.seq,
                d.subject,
                d.state,
                d.attempts,
                d.last_status,
                d.last_error,
                d.excerpt,
                d.updated_ms
            ])?;
        }
        "delivered" => {
            let status = d.last_status.unwrap_or(200);
            per.delivered
                .push((d.seq, status, d.delivered_ms.unwrap_or(0)));
            if per.delivered.len() == MAX_EVENTS {
                write_receipt(tx, &d.sink, &mut per.delivered)?;
            }
        }
        // A state no dockgate wrote: left out, as `dockgate check` of layout 6 reports it.
        _ => {}
    }
    Ok(())
}

/// Writes the delivered events gathered for `sink` as one receipt (key "migrated").
fn write_receipt(
    tx: &Transaction<'_>,
    sink: &str,
    delivered: &mut Vec<(i64, i64, i64)>,
) -> rusqlite::Result<()> {
    if delivered.is_empty() {
        return Ok(());
    }
    let seqs: Vec<i64> = delivered.iter().map(|d| d.0).collect();
    let status = delivered[0].1;
    let at = delivered.iter().map(|d| d.2).max().unwrap_or(0);
    // Layout 7's receipts, which had no attempts yet.
    tx.prepare_cached(
        "INSERT INTO receipts (sink, key, first_seq, last_seq, seqs, status, delivered_ms)
         VALUES (?1, 'migrated', ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        sink,
        seqs[0],
        seqs[seqs.len() - 1],
        super::log::encode_seqs(&seqs),
        status,
        at
    ])?;
    delivered.clear();
    Ok(())
}

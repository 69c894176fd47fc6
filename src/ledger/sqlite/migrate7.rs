//! Layout 6 to 7: one row per event and one per delivery become the log, cursors, exceptions
//! and receipts. Runs once, inside the migration's transaction: every event keeps its id,
//! sequence number, subject and route; pending, held and dead deliveries stay so; delivered
//! ones become receipts; planned batches become planned requests.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rusqlite::{params, Transaction};

use super::record::{RecordBuilder, MAX_EVENTS};
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

pub(super) fn run(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(LAYOUT_7)?;
    let deliveries = read_deliveries(tx)?;
    let mut by_seq: HashMap<i64, Vec<usize>> = HashMap::new();
    for (i, d) in deliveries.iter().enumerate() {
        by_seq.entry(d.seq).or_default().push(i);
    }
    write_records(tx, &deliveries, &by_seq)?;

    // Per sink, the cursor sits just below its lowest pending event (or at its highest event).
    let mut cursors: BTreeMap<&str, i64> = BTreeMap::new();
    for d in &deliveries {
        let c = cursors.entry(d.sink.as_str()).or_insert(i64::MAX);
        if d.state == "pending" {
            *c = (*c).min(d.seq - 1);
        }
    }
    for (sink, c) in cursors.iter_mut() {
        if *c == i64::MAX {
            *c = deliveries
                .iter()
                .filter(|d| d.sink == *sink)
                .map(|d| d.seq)
                .max()
                .unwrap_or(0);
        }
        tx.execute(
            "INSERT INTO cursors (sink, settled) VALUES (?1, ?2)",
            params![sink, *c],
        )?;
    }

    let mut exception = tx.prepare(
        "INSERT INTO exceptions (sink, seq, subject, state, attempts, last_status, last_error,
             excerpt, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    // Delivered rows of a sink, grouped into receipts of consecutive deliveries.
    let mut delivered: BTreeMap<&str, Vec<&Delivery>> = BTreeMap::new();
    for d in &deliveries {
        match d.state.as_str() {
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
            "delivered" => delivered.entry(d.sink.as_str()).or_default().push(d),
            _ => {}
        }
    }
    for (sink, rows) in delivered {
        for chunk in rows.chunks(MAX_EVENTS) {
            let seqs: Vec<i64> = chunk.iter().map(|d| d.seq).collect();
            let status = chunk.iter().find_map(|d| d.last_status).unwrap_or(200);
            let at = chunk
                .iter()
                .filter_map(|d| d.delivered_ms)
                .max()
                .unwrap_or(0);
            super::outcomes::insert_receipt(tx, sink, "migrated", &seqs, status, at)?;
        }
    }

    tx.execute_batch(
        "INSERT INTO requests (sink, key, seqs, created_ms)
             SELECT sink, key, seqs, created_ms FROM batches;
         DROP TABLE batches;
         DROP TABLE deliveries;
         DROP TABLE events;",
    )
}

fn read_deliveries(tx: &Transaction<'_>) -> rusqlite::Result<Vec<Delivery>> {
    let mut stmt = tx.prepare(
        "SELECT seq, sink, subject, state, attempts, last_status, last_error, excerpt,
                updated_ms, delivered_ms FROM deliveries ORDER BY seq, sink",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Delivery {
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
    })?;
    rows.collect()
}

/// Appends every event of the old table to the log, in sequence order; a gap in the numbers
/// (pruned events) or a change between telemetry and business events starts a new record.
fn write_records(
    tx: &Transaction<'_>,
    deliveries: &[Delivery],
    by_seq: &HashMap<i64, Vec<usize>>,
) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare(
        "SELECT seq, id, type, subject, source, time, created_ms, data FROM events ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    let mut record: Option<RecordBuilder> = None;
    let mut sinks: HashMap<String, Arc<str>> = HashMap::new();
    let mut body = String::new();
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        let id: String = r.get(1)?;
        let event_type: String = r.get(2)?;
        let subject: String = r.get(3)?;
        let telemetry = is_telemetry(&event_type);
        let fits = record
            .as_ref()
            .is_some_and(|b| b.takes(telemetry) && b.last_seq() + 1 == seq);
        if !fits {
            if let Some(done) = record.take() {
                super::events::write_record(tx, &done)?;
            }
            record = Some(RecordBuilder::new(seq, telemetry, r.get(6)?));
        }
        let Some(builder) = record.as_mut() else {
            continue;
        };
        let mut mask = 0;
        for &i in by_seq.get(&seq).map(Vec::as_slice).unwrap_or(&[]) {
            let name = &deliveries[i].sink;
            let sink = sinks
                .entry(name.clone())
                .or_insert_with(|| Arc::from(name.as_str()))
                .clone();
            mask |= builder.bit(&sink);
        }
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
    Ok(())
}

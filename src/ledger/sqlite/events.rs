//! Appending events, on the writer thread inside its transaction: an id and a sequence number
//! each, the CloudEvents body rendered once, the sinks whose routes take the type, all into the
//! record of the current commit ([`super::record`]); an exception row only for an event that
//! goes behind a dead letter of its subject; idempotency keys of posted events; and room made
//! first when the buffer is full ([`Core::make_room`], in the order of DESIGN §4).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OptionalExtension};
use tracing::warn;
use uuid::Uuid;

use super::exceptions::Blocked;
use super::prune::{self, Capacity};
use super::record::RecordBuilder;
use crate::ledger::{IdempotencyKey, IngestError, LedgerSettings};
use crate::model::{is_telemetry, now_ms, rfc3339_ms, write_cloudevent, NewEvent};

/// What every writer operation works on: the write connection and what the writer keeps in
/// memory beside the tables.
pub(super) struct Core {
    pub conn: Connection,
    pub settings: LedgerSettings,
    /// How full the buffer is.
    pub capacity: Capacity,
    /// Subjects behind a dead letter, per sink, mirrored from `exceptions`.
    pub blocked: Blocked,
    /// Sinks that have a cursor row.
    pub sinks: HashSet<Arc<str>>,
    /// The record being filled in this transaction.
    pub record: Option<RecordBuilder>,
    /// Highest sequence number handed out; stored in `meta` with each commit that used more.
    pub last_seq: i64,
    /// `last_seq` as of the last commit.
    pub committed_seq: i64,
    /// Set when the current group removed undelivered events.
    pub dropped_in_group: bool,
    /// Bumped by every replay: a sink's read-ahead from before it no longer holds.
    pub resets: u64,
    /// Input was refused for room, and nothing was delivered or expired since.
    pub room_refused: bool,
    body: String,
    /// The last `time` rendered, by its milliseconds: the events of one POST share it.
    stamp: (i64, String),
}

impl Core {
    /// The writer's state for an open, migrated connection.
    pub fn load(conn: Connection, settings: LedgerSettings) -> rusqlite::Result<Self> {
        let capacity = Capacity::measure(&conn, settings.max_disk)?;
        let blocked = Blocked::load(&conn)?;
        let sinks = known_sinks(&conn)?;
        let last_seq = last_sequence(&conn)?;
        Ok(Self {
            conn,
            settings,
            capacity,
            blocked,
            sinks,
            record: None,
            last_seq,
            committed_seq: last_seq,
            dropped_in_group: false,
            resets: 0,
            room_refused: false,
            body: String::with_capacity(1024),
            stamp: (i64::MIN, rfc3339_ms(i64::MIN)),
        })
    }

    /// After a rollback: what the writer keeps in memory goes back to what the tables hold.
    pub fn forget_uncommitted(&mut self) -> rusqlite::Result<()> {
        self.record = None;
        self.room_refused = false;
        self.last_seq = self.committed_seq;
        self.blocked = Blocked::load(&self.conn)?;
        self.sinks = known_sinks(&self.conn)?;
        Ok(())
    }

    /// Commits business events (all or none) under an optional Idempotency-Key.
    pub fn ingest(
        &mut self,
        events: Vec<NewEvent>,
        key: Option<IdempotencyKey>,
        tally: &mut Tally,
    ) -> rusqlite::Result<Result<Vec<String>, IngestError>> {
        if let Some(k) = &key {
            let known: Option<(Vec<u8>, Vec<String>)> = self
                .conn
                .prepare_cached("SELECT body_hash, ids FROM idempotency_keys WHERE key = ?1")?
                .query_row([&k.key], |r| Ok((r.get(0)?, stored_ids(r.get_ref(1)?))))
                .optional()?;
            if let Some((hash, ids)) = known {
                if !k.same_body(&hash) {
                    return Ok(Err(IngestError::KeyConflict));
                }
                return Ok(Ok(ids));
            }
        }
        let needed: u64 = events.iter().map(estimate_bytes).sum();
        if let Err(full) = self.make_room(needed, events.len(), tally)? {
            return Ok(Err(full));
        }
        let now = now_ms();
        let mut ids = Vec::with_capacity(events.len());
        for event in &events {
            ids.push(self.insert_event(event, now, tally)?);
        }
        if let Some(k) = key {
            let packed: Vec<u8> = ids.iter().flat_map(|id| *id.as_bytes()).collect();
            self.conn
                .prepare_cached(
                    "INSERT INTO idempotency_keys (key, body_hash, ids, created_ms) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![k.key, &k.body_hash()[..], packed, now])?;
        }
        Ok(Ok(ids.iter().map(Uuid::to_string).collect()))
    }

    /// Makes room for `needed` bytes of input (DESIGN §4 order); `Err` when nothing more may go.
    pub fn make_room(
        &mut self,
        needed: u64,
        inputs: usize,
        tally: &mut Tally,
    ) -> rusqlite::Result<Result<(), IngestError>> {
        if self.capacity.fits(needed) {
            return Ok(Ok(()));
        }
        // Nothing frees room but a delivery or retention: while neither happened since the last
        // refusal, refuse at once instead of walking the log again for every request.
        if self.room_refused {
            return Ok(Err(self.refuse(inputs, tally)));
        }
        self.flush_record()?;
        let freed = prune::make_room(
            &self.conn,
            self.settings.retention,
            &mut self.capacity,
            needed,
        )?;
        self.dropped_in_group |= freed.dropped_undelivered;
        if freed.dropped_undelivered {
            self.blocked = Blocked::load(&self.conn)?;
        }
        if self.capacity.fits(needed) {
            return Ok(Ok(()));
        }
        self.room_refused = true;
        if freed.steps.is_empty() {
            warn!(
                used = self.capacity.used,
                max = self.settings.max_disk,
                "Buffer full: input refused."
            );
        }
        Ok(Err(self.refuse(inputs, tally)))
    }

    /// Counts `inputs` refused for room and says why.
    fn refuse(&self, inputs: usize, tally: &mut Tally) -> IngestError {
        tally.refused += inputs as u64;
        IngestError::BufferFull {
            used: self.capacity.used,
            max: self.settings.max_disk,
        }
    }

    /// Appends one event to the current record, routed to every sink that takes its type;
    /// returns its id.
    pub fn insert_event(
        &mut self,
        event: &NewEvent,
        now: i64,
        tally: &mut Tally,
    ) -> rusqlite::Result<Uuid> {
        let telemetry = is_telemetry(&event.event_type);
        if !self.record.as_ref().is_some_and(|r| r.takes(telemetry)) {
            self.flush_record()?;
        }
        let seq = self.last_seq + 1;
        let record = self
            .record
            .get_or_insert_with(|| RecordBuilder::new(seq, telemetry, now));
        let uuid = Uuid::now_v7();
        let mut text = Uuid::encode_buffer();
        let id: &str = uuid.hyphenated().encode_lower(&mut text);
        if self.stamp.0 != event.time_ms {
            self.stamp = (event.time_ms, rfc3339_ms(event.time_ms));
        }
        self.body.clear();
        write_cloudevent(
            &mut self.body,
            id,
            &event.source,
            &event.event_type,
            &event.subject,
            &self.stamp.1,
            seq,
            event.data.get(),
        );
        let mut mask = 0;
        for route in &self.settings.routes {
            if !route.accepts(&event.event_type) {
                continue;
            }
            // Configuration validation allows no more sinks than a record holds.
            mask |= record.bit(&route.sink).unwrap_or(0);
            if !self.sinks.contains(&route.sink) {
                // A sink's first event: everything before it is not the sink's to send.
                self.conn
                    .prepare_cached(
                        "INSERT OR IGNORE INTO cursors (sink, settled) VALUES (?1, ?2)",
                    )?
                    .execute(params![&*route.sink, seq - 1])?;
                self.sinks.insert(route.sink.clone());
            }
            if self.blocked.contains(&route.sink, &event.subject) {
                self.conn
                    .prepare_cached(
                        "INSERT INTO exceptions (sink, seq, subject, state, updated_ms)
                         VALUES (?1, ?2, ?3, 'held', ?4)",
                    )?
                    .execute(params![&*route.sink, seq, event.subject, now])?;
            }
        }
        record.push(mask, &event.subject, &event.event_type, &uuid, &self.body);
        self.last_seq = seq;
        tally.ingested(&event.source, &event.event_type);
        Ok(uuid)
    }

    /// Writes the record being filled, if any; before the commit, and before anything in the
    /// transaction reads the log.
    pub fn flush_record(&mut self) -> rusqlite::Result<()> {
        if let Some(record) = self.record.take() {
            write_record(&self.conn, &record)?;
        }
        Ok(())
    }

    /// Stores the highest sequence number handed out, if this group used more; called just
    /// before the commit.
    pub fn save_last_sequence(&mut self) -> rusqlite::Result<()> {
        if self.last_seq != self.committed_seq {
            self.conn
                .prepare_cached("UPDATE meta SET value = ?1 WHERE key = 'last_sequence'")?
                .execute([self.last_seq])?;
        }
        Ok(())
    }
}

/// Inserts a finished record into the log.
pub(super) fn write_record(conn: &Connection, record: &RecordBuilder) -> rusqlite::Result<()> {
    if record.count == 0 {
        return Ok(());
    }
    conn.prepare_cached(
        "INSERT INTO records (first_seq, last_seq, created_ms, telemetry, bytes, sinks, subjects)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        record.first_seq,
        record.last_seq(),
        record.created_ms,
        record.telemetry,
        record.bytes as i64,
        record.sink_counts(),
        record.subjects.to_bytes()
    ])?;
    conn.prepare_cached("INSERT INTO record_bodies (first_seq, body) VALUES (?1, ?2)")?
        .execute(params![record.first_seq, record.encode()])?;
    Ok(())
}

/// Sinks with a cursor.
fn known_sinks(conn: &Connection) -> rusqlite::Result<HashSet<Arc<str>>> {
    let mut stmt = conn.prepare("SELECT sink FROM cursors")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    rows.map(|r| r.map(|s| Arc::from(s.as_str()))).collect()
}

/// Highest sequence number ever handed out.
fn last_sequence(conn: &Connection) -> rusqlite::Result<i64> {
    let counter: i64 = conn.query_row(
        "SELECT COALESCE((SELECT value FROM meta WHERE key = 'last_sequence'), 0)",
        [],
        |r| r.get(0),
    )?;
    Ok(counter.max(super::log::newest(conn)?))
}

/// Rough bytes an event takes in the buffer: its CloudEvents body, compressed with the rest of
/// its record, and its share of the record's row.
pub(super) fn estimate_bytes(event: &NewEvent) -> u64 {
    let body = 250 + event.data.get().len() + event.subject.len() + event.event_type.len();
    (body / 2 + 16) as u64
}

/// Per-group counters, emitted after the commit (so a rolled-back group counts nothing).
#[derive(Default)]
pub(super) struct Tally {
    by_type: HashMap<(String, String), u64>,
    refused: u64,
}

impl Tally {
    fn ingested(&mut self, source: &str, event_type: &str) {
        // Most groups carry few distinct (source, type) pairs: look up before allocating.
        if let Some(n) = self
            .by_type
            .iter_mut()
            .find(|((s, t), _)| s == source && t == event_type)
            .map(|(_, n)| n)
        {
            *n += 1;
        } else {
            self.by_type
                .insert((source.to_owned(), event_type.to_owned()), 1);
        }
    }

    /// Publishes the counters of a committed group.
    pub fn emit(self) {
        for ((source, event_type), n) in self.by_type {
            metrics::counter!("dockgate_events_ingested_total", "source" => source, "type" => event_type)
                .increment(n);
        }
        if self.refused > 0 {
            metrics::counter!("dockgate_ingest_refused_total", "reason" => "buffer_full")
                .increment(self.refused);
        }
    }
}

/// The event ids kept under an idempotency key: 16 bytes each, or a JSON array of strings in
/// rows from before layout 8.
fn stored_ids(value: ValueRef<'_>) -> Vec<String> {
    match value {
        ValueRef::Blob(packed) => packed
            .chunks_exact(16)
            .filter_map(|b| Uuid::from_slice(b).ok())
            .map(|u| u.to_string())
            .collect(),
        ValueRef::Text(json) => serde_json::from_slice(json).unwrap_or_default(),
        _ => Vec::new(),
    }
}

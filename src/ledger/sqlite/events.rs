//! Appending events, on the writer thread inside its transaction: an id and a sequence number
//! each, one delivery row per sink whose route takes the type (pending, or held behind a dead
//! letter of its subject), idempotency keys of posted events, and room made first when the
//! buffer is full ([`Core::make_room`], in the order of DESIGN §4).

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension};
use tracing::warn;

use super::prune::{self, Capacity};
use super::subjects::OpenSubjects;
use crate::ledger::{IdempotencyKey, IngestError, LedgerSettings};
use crate::model::{is_telemetry, now_ms, priority_of, rfc3339_ms, NewEvent};

/// What every writer operation works on: the write connection and what the writer keeps in
/// memory beside the tables.
pub(super) struct Core {
    pub conn: Connection,
    pub settings: LedgerSettings,
    /// How full the buffer is.
    pub capacity: Capacity,
    /// Subjects with undelivered rows, mirrored from `deliveries`.
    pub subjects: OpenSubjects,
    /// Highest sequence number handed out; stored in `meta` with each commit that used more.
    pub last_seq: i64,
    /// `last_seq` as of the last commit.
    pub committed_seq: i64,
    /// Set when the current group removed undelivered events.
    pub dropped_in_group: bool,
}

impl Core {
    /// The writer's state for an open, migrated connection.
    pub fn load(conn: Connection, settings: LedgerSettings) -> rusqlite::Result<Self> {
        let capacity = Capacity::measure(&conn, settings.max_disk)?;
        let subjects = OpenSubjects::load(&conn)?;
        let last_seq = last_sequence(&conn)?;
        Ok(Self {
            conn,
            settings,
            capacity,
            subjects,
            last_seq,
            committed_seq: last_seq,
            dropped_in_group: false,
        })
    }

    /// Commits business events (all or none) under an optional Idempotency-Key.
    pub fn ingest(
        &mut self,
        events: Vec<NewEvent>,
        key: Option<IdempotencyKey>,
        tally: &mut Tally,
    ) -> rusqlite::Result<Result<Vec<String>, IngestError>> {
        if let Some(k) = &key {
            let known: Option<(Vec<u8>, String)> = self
                .conn
                .prepare_cached("SELECT body_hash, ids FROM idempotency_keys WHERE key = ?1")?
                .query_row([&k.key], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            if let Some((hash, ids)) = known {
                if hash != k.body_hash {
                    return Ok(Err(IngestError::KeyConflict));
                }
                let ids: Vec<String> = serde_json::from_str(&ids).unwrap_or_default();
                return Ok(Ok(ids));
            }
        }
        let needed: u64 = events
            .iter()
            .map(|e| estimate_bytes(e, self.settings.routes.len()))
            .sum();
        if let Err(full) = self.make_room(needed, events.len(), tally)? {
            return Ok(Err(full));
        }
        let now = now_ms();
        let mut ids = Vec::with_capacity(events.len());
        for event in &events {
            ids.push(self.insert_event(event, now, tally)?);
        }
        if let Some(k) = key {
            let json = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
            self.conn
                .prepare_cached(
                    "INSERT INTO idempotency_keys (key, body_hash, ids, created_ms) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![k.key, &k.body_hash[..], json, now])?;
        }
        Ok(Ok(ids))
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
        let freed = prune::make_room(
            &self.conn,
            self.settings.retention,
            &mut self.capacity,
            needed,
        )?;
        self.dropped_in_group |= freed.dropped_undelivered;
        if freed.dropped_undelivered {
            self.subjects = OpenSubjects::load(&self.conn)?;
        }
        if self.capacity.fits(needed) {
            return Ok(Ok(()));
        }
        tally.refused += inputs as u64;
        if freed.steps.is_empty() {
            warn!(
                used = self.capacity.used,
                max = self.settings.max_disk,
                "Buffer full: input refused."
            );
        }
        Ok(Err(IngestError::BufferFull {
            used: self.capacity.used,
            max: self.settings.max_disk,
        }))
    }

    /// Inserts one event and a delivery per sink that takes its type; returns its id.
    pub fn insert_event(
        &mut self,
        event: &NewEvent,
        now: i64,
        tally: &mut Tally,
    ) -> rusqlite::Result<String> {
        let mut insert_event = self.conn.prepare_cached(
            "INSERT INTO events (seq, id, type, subject, source, time, created_ms, telemetry, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        let mut insert_delivery = self.conn.prepare_cached(
            "INSERT INTO deliveries (seq, sink, subject, priority, state, ready, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        let id = uuid::Uuid::now_v7().to_string();
        let seq = self.last_seq + 1;
        insert_event.execute(params![
            seq,
            id,
            event.event_type,
            event.subject,
            event.source,
            rfc3339_ms(event.time_ms),
            now,
            is_telemetry(&event.event_type),
            event.data.get(),
        ])?;
        self.last_seq = seq;
        let priority = priority_of(&event.event_type);
        for route in &self.settings.routes {
            if !route.accepts(&event.event_type) {
                continue;
            }
            let (state, ready) =
                match self
                    .subjects
                    .tail(&self.conn, &route.sink, &event.subject)?
                {
                    None => ("pending", true),
                    Some(tail) if tail.blocked => ("held", false),
                    Some(_) => ("pending", false),
                };
            insert_delivery.execute(params![
                seq,
                &*route.sink,
                event.subject,
                priority,
                state,
                ready,
                now
            ])?;
            self.subjects
                .pushed(&self.conn, &route.sink, &event.subject, state == "held")?;
        }
        tally.ingested(&event.source, &event.event_type);
        Ok(id)
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

/// Highest sequence number ever handed out.
fn last_sequence(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT MAX(COALESCE((SELECT value FROM meta WHERE key = 'last_sequence'), 0),
                    COALESCE((SELECT MAX(seq) FROM events), 0))",
        [],
        |r| r.get(0),
    )
}

/// Rough bytes an event takes in the buffer (row, indexes, one delivery row per sink).
pub(super) fn estimate_bytes(event: &NewEvent, sinks: usize) -> u64 {
    let row = 200
        + event.data.get().len()
        + event.subject.len() * 2
        + event.event_type.len()
        + event.source.len();
    (row + sinks * (120 + event.subject.len() * 2)) as u64
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

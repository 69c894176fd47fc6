//! The `store-writer` thread: owns the write connection, applies commands in groups, one
//! transaction (one fsync) per group, and answers each command only after its group committed.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{error, info, warn};

use super::checkpoint::Checkpointer;
use super::inputs::InputOutcome;
use super::prune::{self, Capacity};
use super::subjects::OpenSubjects;
use super::{
    Command, Commits, IdempotencyKey, IngestError, LedgerSettings, Outcome, ReplaySelector,
    StoreError,
};
use crate::model::{is_telemetry, now_ms, priority_of, rfc3339_ms, NewEvent};

/// Most commands applied in one transaction; bounds the latency a large group adds.
const MAX_GROUP: usize = 512;

/// How often retention pruning runs even without a request.
const MAINTAIN_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// The writer's state; lives on its own thread.
pub struct Writer {
    pub(super) conn: Connection,
    pub(super) settings: LedgerSettings,
    /// Bumped after every commit so sink workers look for new work.
    committed: watch::Sender<Commits>,
    announced: Commits,
    /// Set when this group removed undelivered events.
    dropped_in_group: bool,
    capacity: Capacity,
    last_maintain: Instant,
    /// Station sessions by device id, mirrored in the `sessions` table.
    pub(super) sessions: HashMap<String, crate::workflow::Session>,
    /// Plain-text barcode rules.
    pub(super) rules: crate::decode::BarcodeRules,
    checkpointer: Checkpointer,
    /// Subjects with undelivered rows, mirrored from `deliveries`.
    subjects: OpenSubjects,
    /// Highest sequence number handed out; stored in `meta` with each commit that used more.
    last_seq: i64,
    /// `last_seq` as of the last commit.
    committed_seq: i64,
}

/// A reply held back until the group's commit is known.
enum Reply {
    Ingest(
        oneshot::Sender<Result<Vec<String>, IngestError>>,
        Result<Vec<String>, IngestError>,
    ),
    Unit(oneshot::Sender<Result<(), StoreError>>),
    Count(oneshot::Sender<Result<usize, StoreError>>, usize),
    Inputs(
        oneshot::Sender<Result<Vec<InputOutcome>, IngestError>>,
        Result<Vec<InputOutcome>, IngestError>,
    ),
}

impl Reply {
    fn send(self) {
        // A dropped receiver means the caller gave up (e.g. the HTTP client went away); the
        // commit stands either way.
        match self {
            Reply::Ingest(tx, result) => drop(tx.send(result)),
            Reply::Unit(tx) => drop(tx.send(Ok(()))),
            Reply::Count(tx, n) => drop(tx.send(Ok(n))),
            Reply::Inputs(tx, result) => drop(tx.send(result)),
        }
    }

    fn fail(self, error: &rusqlite::Error) {
        match self {
            Reply::Ingest(tx, Ok(_)) => drop(tx.send(Err(IngestError::Storage(error.to_string())))),
            Reply::Ingest(tx, Err(e)) => drop(tx.send(Err(e))),
            Reply::Unit(tx) => drop(tx.send(Err(StoreError::Sql(clone_sql_error(error))))),
            Reply::Count(tx, _) => drop(tx.send(Err(StoreError::Sql(clone_sql_error(error))))),
            Reply::Inputs(tx, Ok(_)) => drop(tx.send(Err(IngestError::Storage(error.to_string())))),
            Reply::Inputs(tx, Err(e)) => drop(tx.send(Err(e))),
        }
    }
}

fn clone_sql_error(e: &rusqlite::Error) -> rusqlite::Error {
    match e {
        rusqlite::Error::SqliteFailure(code, msg) => {
            rusqlite::Error::SqliteFailure(*code, msg.clone())
        }
        other => rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(other.to_string()),
        ),
    }
}

impl Writer {
    /// Prepares the writer for an open, migrated connection.
    pub(super) fn new(
        conn: Connection,
        settings: LedgerSettings,
        rules: crate::decode::BarcodeRules,
        committed: watch::Sender<Commits>,
        checkpointer: Checkpointer,
    ) -> Result<Self, StoreError> {
        let capacity = Capacity::measure(&conn, settings.max_disk)?;
        let sessions = super::inputs::load_sessions(&conn)?;
        let subjects = OpenSubjects::load(&conn)?;
        let last_seq = last_sequence(&conn)?;
        Ok(Self {
            conn,
            settings,
            committed,
            announced: Commits::default(),
            dropped_in_group: false,
            capacity,
            last_maintain: Instant::now(),
            sessions,
            rules,
            checkpointer,
            subjects,
            last_seq,
            committed_seq: last_seq,
        })
    }

    /// Runs until every sender is dropped, then checkpoints the WAL.
    pub(crate) fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut group = Vec::with_capacity(MAX_GROUP);
        while let Some(first) = rx.blocking_recv() {
            group.push(first);
            while group.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(cmd) => group.push(cmd),
                    Err(_) => break,
                }
            }
            if self.last_maintain.elapsed() >= MAINTAIN_EVERY {
                let (reply, _ignored) = oneshot::channel();
                group.push(Command::Maintain { reply });
            }
            self.apply_group(&mut group);
        }
        self.checkpointer.stop();
        if let Err(error) = self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);") {
            warn!(error = %error, "Final buffer checkpoint failed.");
        }
        info!("Buffer writer stopped.");
    }

    fn apply_group(&mut self, group: &mut Vec<Command>) {
        let mut replies = Vec::with_capacity(group.len());
        let mut tally = Tally::default();
        self.dropped_in_group = false;
        let result = (|| -> rusqlite::Result<()> {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            for cmd in group.drain(..) {
                replies.push(self.apply(cmd, &mut tally)?);
            }
            if self.last_seq != self.committed_seq {
                self.conn
                    .prepare_cached("UPDATE meta SET value = ?1 WHERE key = 'last_sequence'")?
                    .execute([self.last_seq])?;
            }
            self.conn.execute_batch("COMMIT")
        })();
        if let Err(error) = result {
            error!(error = %error, "Buffer commit failed; the inputs of this group were not stored.");
            // Leftover commands (after the failing one) also get an answer.
            let _ = self.conn.execute_batch("ROLLBACK");
            self.last_seq = self.committed_seq;
            // What the group changed in the subject map was rolled back in the table.
            match OpenSubjects::load(&self.conn) {
                Ok(subjects) => self.subjects = subjects,
                Err(error) => error!(error = %error, "Reloading open subjects failed."),
            }
            for cmd in group.drain(..) {
                fail_command(cmd, &error);
            }
            for reply in replies {
                reply.fail(&error);
            }
            metrics::counter!("dockgate_buffer_commit_failures_total").increment(1);
            return;
        }
        self.committed_seq = self.last_seq;
        if let Err(error) = self.capacity.refresh(&self.conn) {
            warn!(error = %error, "Measuring buffer size failed.");
        }
        self.checkpointer.committed();
        self.checkpointer.bound_wal(&self.conn);
        for reply in replies {
            reply.send();
        }
        tally.emit();
        self.announced.generation += 1;
        if self.dropped_in_group {
            self.announced.drops += 1;
        }
        self.committed.send_replace(self.announced);
    }

    fn apply(&mut self, cmd: Command, tally: &mut Tally) -> rusqlite::Result<Reply> {
        Ok(match cmd {
            Command::Ingest { events, key, reply } => {
                let result = self.ingest(events, key, tally)?;
                Reply::Ingest(reply, result)
            }
            Command::AssignBatches {
                sink,
                batches,
                reply,
            } => {
                for batch in batches {
                    if let Some(old) = batch.replaces {
                        forget_batch(&self.conn, &sink, &old)?;
                    }
                    if batch.seqs.len() > 1 {
                        let json =
                            serde_json::to_string(&batch.seqs).unwrap_or_else(|_| "[]".into());
                        self.conn
                            .prepare_cached(
                                "INSERT OR REPLACE INTO batches (sink, key, seqs, created_ms)
                                 VALUES (?1, ?2, ?3, ?4)",
                            )?
                            .execute(params![&*sink, batch.key, json, now_ms()])?;
                    }
                }
                Reply::Unit(reply)
            }
            Command::Outcome {
                sink,
                outcome,
                reply,
            } => {
                self.record(&sink, outcome)?;
                Reply::Unit(reply)
            }
            Command::Replay {
                sink,
                selector,
                reply,
            } => {
                let n = self.replay(&sink, selector)?;
                Reply::Count(reply, n)
            }
            Command::Ping { reply } => Reply::Unit(reply),
            Command::Inputs { frames, reply } => {
                let result = self.inputs(frames, tally)?;
                Reply::Inputs(reply, result)
            }
            Command::Tick { reply } => {
                self.tick(tally)?;
                Reply::Unit(reply)
            }
            Command::Maintain { reply } => {
                self.last_maintain = Instant::now();
                prune::expired(&self.conn, &self.settings)?;
                self.capacity.refresh(&self.conn)?;
                Reply::Unit(reply)
            }
        })
    }

    fn ingest(
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
    pub(super) fn make_room(
        &mut self,
        needed: u64,
        inputs: usize,
        tally: &mut Tally,
    ) -> rusqlite::Result<Result<(), IngestError>> {
        if self.capacity.fits(needed) {
            return Ok(Ok(()));
        }
        let freed = prune::make_room(&self.conn, &self.settings, &mut self.capacity, needed)?;
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
    pub(super) fn insert_event(
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

    fn record(&mut self, sink: &Arc<str>, outcome: Outcome) -> rusqlite::Result<()> {
        let now = now_ms();
        match outcome {
            Outcome::Delivered {
                key,
                seqs,
                subjects,
                status,
            } => {
                forget_batch(&self.conn, sink, &key)?;
                // One prepared single-row UPDATE per event, without RETURNING: measured faster
                // than one statement over json_each (whose IN list builds a temporary table)
                // and than RETURNING (which does too). Subjects come from the worker.
                let mut mark = self.conn.prepare_cached(
                    "UPDATE deliveries SET state = 'delivered', ready = 0, attempts = attempts + 1,
                         last_status = ?1, last_error = NULL, delivered_ms = ?2, updated_ms = ?2
                     WHERE seq = ?3 AND sink = ?4 AND state = 'pending'",
                )?;
                let mut settled: HashMap<&str, u32> = HashMap::new();
                let aligned = seqs.len() == subjects.len();
                for (i, seq) in seqs.iter().enumerate() {
                    let changed = mark.execute(params![status, now, seq, &**sink])? > 0;
                    if changed && aligned {
                        *settled.entry(subjects[i].as_str()).or_default() += 1;
                    }
                }
                if !aligned {
                    // Not one subject per event: count from the table instead.
                    error!(
                        events = seqs.len(),
                        subjects = subjects.len(),
                        "Delivery outcome with unmatched subjects."
                    );
                    for subject in &subjects {
                        self.subjects.reload(&self.conn, sink, subject)?;
                        settled.entry(subject.as_str()).or_default();
                    }
                }
                let mut promote = self.conn.prepare_cached(
                    "UPDATE deliveries SET ready = 1
                     WHERE sink = ?1 AND state = 'pending' AND ready = 0 AND seq = (
                         SELECT seq FROM deliveries WHERE sink = ?1 AND subject = ?2
                             AND state != 'delivered' ORDER BY seq LIMIT 1)",
                )?;
                for (subject, n) in settled {
                    // Most subjects have nothing behind the delivered event: no statement.
                    if self.subjects.settled(sink, subject, n) {
                        promote.execute(params![&**sink, subject])?;
                    }
                }
            }
            Outcome::Failed {
                seqs,
                status,
                error,
            } => {
                let mut stmt = self.conn.prepare_cached(
                    "UPDATE deliveries SET attempts = attempts + 1, last_status = ?1, last_error = ?2,
                         updated_ms = ?3 WHERE seq = ?4 AND sink = ?5 AND state = 'pending'",
                )?;
                for seq in seqs {
                    stmt.execute(params![status, error, now, seq, &**sink])?;
                }
            }
            Outcome::Dead {
                seq,
                status,
                error,
                excerpt,
            } => {
                let subject: Option<String> = self
                    .conn
                    .prepare_cached(
                        "UPDATE deliveries SET state = 'dead', ready = 0, attempts = attempts + 1,
                             last_status = ?1, last_error = ?2, excerpt = ?3, updated_ms = ?4
                         WHERE seq = ?5 AND sink = ?6 AND state = 'pending' RETURNING subject",
                    )?
                    .query_row(params![status, error, excerpt, now, seq, &**sink], |r| {
                        r.get(0)
                    })
                    .optional()?;
                if let Some(subject) = subject {
                    metrics::counter!("dockgate_dead_letters_total", "sink" => sink.to_string())
                        .increment(1);
                    recompute_subject(&self.conn, sink, &subject)?;
                    self.subjects.reload(&self.conn, sink, &subject)?;
                }
            }
        }
        Ok(())
    }

    fn replay(&mut self, sink: &str, selector: ReplaySelector) -> rusqlite::Result<usize> {
        let rows: Vec<(i64, String)> = match &selector {
            ReplaySelector::Dead => collect(
                &self.conn,
                "SELECT seq, subject FROM deliveries
                 WHERE sink = ?1 AND state = 'dead' AND state != 'delivered'",
                params![sink],
            )?,
            ReplaySelector::Event(id) => match super::read::seq_of_id(&self.conn, id)? {
                Some(seq) => collect(
                    &self.conn,
                    "SELECT seq, subject FROM deliveries
                     WHERE seq = ?1 AND sink = ?2 AND state IN ('dead', 'delivered')",
                    params![seq, sink],
                )?,
                None => Vec::new(),
            },
            ReplaySelector::Since(ms) => collect(
                &self.conn,
                "SELECT seq, subject FROM deliveries
                 WHERE seq >= ?2 AND sink = ?1 AND state IN ('dead', 'delivered')",
                params![sink, super::read::first_seq_since(&self.conn, *ms)?],
            )?,
        };
        let now = now_ms();
        let mut reset = self.conn.prepare_cached(
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
            recompute_subject(&self.conn, &sink, subject)?;
            self.subjects.reload(&self.conn, &sink, subject)?;
        }
        if !rows.is_empty() {
            info!(sink = %sink, count = rows.len(), selector = ?selector, "Events put back for delivery.");
        }
        Ok(rows.len())
    }
}

fn fail_command(cmd: Command, error: &rusqlite::Error) {
    let reply = match cmd {
        Command::Ingest { reply, .. } => Reply::Ingest(reply, Ok(Vec::new())),
        Command::AssignBatches { reply, .. }
        | Command::Outcome { reply, .. }
        | Command::Maintain { reply }
        | Command::Ping { reply }
        | Command::Tick { reply } => Reply::Unit(reply),
        Command::Inputs { reply, .. } => Reply::Inputs(reply, Ok(Vec::new())),
        Command::Replay { reply, .. } => Reply::Count(reply, 0),
    };
    reply.fail(error);
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

/// Removes the record of a batch (no-op when there is none, as for a single event).
fn forget_batch(conn: &Connection, sink: &str, key: &str) -> rusqlite::Result<()> {
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

/// Re-derives the ready/held flags of one subject on one sink after its open rows changed
/// (a dead letter, a replay, a dropped event): the first open row is the head and may be sent
/// unless it is dead; pending rows behind a dead one are held, held rows with no dead row
/// before them are pending again.
pub(crate) fn recompute_subject(
    conn: &Connection,
    sink: &str,
    subject: &str,
) -> rusqlite::Result<()> {
    let rows = collect_state(conn, sink, subject)?;
    let mut update = conn.prepare_cached(
        "UPDATE deliveries SET state = ?1, ready = ?2 WHERE seq = ?3 AND sink = ?4",
    )?;
    let mut blocked = false;
    for (i, (seq, state)) in rows.iter().enumerate() {
        if state == "dead" {
            blocked = true;
            continue;
        }
        let want = if blocked { "held" } else { "pending" };
        let ready = i == 0;
        update.execute(params![want, ready, seq, sink])?;
    }
    Ok(())
}

fn collect_state(
    conn: &Connection,
    sink: &str,
    subject: &str,
) -> rusqlite::Result<Vec<(i64, String)>> {
    collect(
        conn,
        "SELECT seq, state FROM deliveries WHERE sink = ?1 AND subject = ?2 AND state != 'delivered'
         ORDER BY seq",
        params![sink, subject],
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

    fn emit(self) {
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

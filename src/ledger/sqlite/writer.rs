//! The `ledger-writer` thread: owns the write connection, applies commands in groups, one
//! transaction (one fsync) per group, and answers each command only after its group committed.

use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{error, info, warn};

use super::checkpoint::Checkpointer;
use super::events::{Core, Tally};
use super::inputs::{self, Sessions};
use super::{outcomes, prune};
use crate::ledger::data_dir::DataDirLock;
use crate::ledger::{Command, Commits, IngestError, InputOutcome, LedgerError, LedgerSettings};
use crate::model::Chain;

/// Most commands applied in one transaction; bounds the latency a large group adds.
const MAX_GROUP: usize = 512;

/// How often retention and the capacity checks run: at the first tick after this long.
const MAINTAIN_EVERY: Duration = Duration::from_secs(60);

/// The writer's state; lives on its own thread.
pub(super) struct Writer {
    core: Core,
    sessions: Sessions,
    /// Bumped after every commit so sink workers look for new work.
    committed: watch::Sender<Commits>,
    announced: Commits,
    last_maintain: Instant,
    checkpointer: Checkpointer,
    /// The data directory stays ours until the thread ends.
    _lock: DataDirLock,
}

/// A reply held back until the group's commit is known.
enum Reply {
    Events(
        oneshot::Sender<Result<Vec<String>, IngestError>>,
        Result<Vec<String>, IngestError>,
    ),
    Inputs(
        oneshot::Sender<Result<Vec<InputOutcome>, IngestError>>,
        Result<Vec<InputOutcome>, IngestError>,
    ),
    Unit(oneshot::Sender<Result<(), LedgerError>>),
    Count(oneshot::Sender<Result<usize, LedgerError>>, usize),
    Resets(oneshot::Sender<Result<u64, LedgerError>>, u64),
}

impl Reply {
    fn send(self) {
        // A dropped receiver means the caller gave up (e.g. the HTTP client went away); the
        // commit stands either way.
        match self {
            Reply::Events(tx, result) => drop(tx.send(result)),
            Reply::Inputs(tx, result) => drop(tx.send(result)),
            Reply::Unit(tx) => drop(tx.send(Ok(()))),
            Reply::Count(tx, n) => drop(tx.send(Ok(n))),
            Reply::Resets(tx, n) => drop(tx.send(Ok(n))),
        }
    }

    /// The group did not commit: `error` says why (a refusal decided before, such as a full
    /// buffer, stands).
    fn fail(self, error: &LedgerError) {
        match self {
            Reply::Events(tx, Err(refused)) => drop(tx.send(Err(refused))),
            Reply::Events(tx, Ok(_)) => drop(tx.send(Err(error.clone().into()))),
            Reply::Inputs(tx, Err(refused)) => drop(tx.send(Err(refused))),
            Reply::Inputs(tx, Ok(_)) => drop(tx.send(Err(error.clone().into()))),
            Reply::Unit(tx) => drop(tx.send(Err(error.clone()))),
            Reply::Count(tx, _) => drop(tx.send(Err(error.clone()))),
            Reply::Resets(tx, _) => drop(tx.send(Err(error.clone()))),
        }
    }
}

/// Files the reply of a command: with its result when the command's statements succeeded, or
/// with a placeholder that the group's failure will replace when they did not.
fn keep<T>(
    replies: &mut Vec<Reply>,
    result: rusqlite::Result<T>,
    reply: impl FnOnce(Option<T>) -> Reply,
) -> rusqlite::Result<()> {
    match result {
        Ok(value) => {
            replies.push(reply(Some(value)));
            Ok(())
        }
        Err(error) => {
            replies.push(reply(None));
            Err(error)
        }
    }
}

impl Command {
    /// The reply of a command the group did not get to.
    fn unanswered(self) -> Reply {
        match self {
            Command::Events { reply, .. } => Reply::Events(reply, Ok(Vec::new())),
            Command::Inputs { reply, .. } => Reply::Inputs(reply, Ok(Vec::new())),
            Command::Outcome { reply, .. } => Reply::Resets(reply, 0),
            Command::Plan { reply, .. }
            | Command::Reconfigure { reply, .. }
            | Command::Tick { reply }
            | Command::Maintain { reply }
            | Command::Ping { reply } => Reply::Unit(reply),
            Command::Replay { reply, .. } => Reply::Count(reply, 0),
        }
    }
}

impl Writer {
    /// Prepares the writer for an open, migrated connection.
    pub fn new(
        conn: Connection,
        settings: LedgerSettings,
        committed: watch::Sender<Commits>,
        checkpointer: Checkpointer,
        lock: DataDirLock,
    ) -> rusqlite::Result<Self> {
        let sessions = Sessions::load(&conn)?;
        let core = Core::load(conn, settings)?;
        let announced = Commits {
            last_seq: core.last_seq,
            ..Commits::default()
        };
        committed.send_replace(announced);
        Ok(Self {
            core,
            sessions,
            committed,
            announced,
            last_maintain: Instant::now(),
            checkpointer,
            _lock: lock,
        })
    }

    /// Runs until every sender is dropped, then checkpoints the WAL.
    pub fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut group = Vec::with_capacity(MAX_GROUP);
        while let Some(first) = rx.blocking_recv() {
            group.push(first);
            while group.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(cmd) => group.push(cmd),
                    Err(_) => break,
                }
            }
            self.apply_group(&mut group);
        }
        self.checkpointer.stop();
        if let Err(error) = self
            .core
            .conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        {
            warn!(error = %error, "Final buffer checkpoint failed.");
        }
        info!("Ledger writer stopped.");
    }

    fn apply_group(&mut self, group: &mut Vec<Command>) {
        let mut replies = Vec::with_capacity(group.len());
        let mut tally = Tally::default();
        self.core.dropped_in_group = false;
        let result = (|| -> rusqlite::Result<()> {
            self.core.conn.execute_batch("BEGIN IMMEDIATE")?;
            for cmd in group.drain(..) {
                self.apply(cmd, &mut tally, &mut replies)?;
            }
            self.core.flush_record()?;
            self.core.save_last_sequence()?;
            // Measured inside the transaction, where the pages it wrote already count: three
            // PRAGMAs after the commit would each open a read transaction of their own.
            if let Err(error) = self.core.capacity.refresh(&self.core.conn) {
                warn!(error = %error, "Measuring buffer size failed.");
            }
            self.core.conn.execute_batch("COMMIT")
        })();
        if let Err(error) = result {
            let error = LedgerError::Storage {
                action: "commit",
                source: super::sqlite_said(&error),
            };
            error!(error = %Chain(&error), "Ledger commit failed; the inputs of this group were not stored.");
            let _ = self.core.conn.execute_batch("ROLLBACK");
            self.forget_uncommitted();
            // Leftover commands (after the failing one) also get an answer.
            for cmd in group.drain(..) {
                cmd.unanswered().fail(&error);
            }
            for reply in replies {
                reply.fail(&error);
            }
            metrics::counter!("dockgate_buffer_commit_failures_total").increment(1);
            return;
        }
        self.core.committed_seq = self.core.last_seq;
        // A WAL restart, when one is due (the WAL past `RESTART_PAGES`), goes before the
        // announcement: the sink reads it wakes would hold the old WAL and make the restart
        // wait for them. The callers wait for it meanwhile, as they did before the replies
        // moved ahead of the checkpointer's nudge.
        self.checkpointer.bound_wal(&self.core.conn);
        // Announced before the replies go, so whoever hears of the commit from a reply reads
        // at least this generation (a replay's caller reading what it put back, say).
        self.announced.generation += 1;
        if self.core.dropped_in_group {
            self.announced.drops += 1;
        }
        self.announced.resets = self.core.resets;
        self.announced.last_seq = self.core.committed_seq;
        self.committed.send_replace(self.announced);
        for reply in replies {
            reply.send();
        }
        // After the replies: waking the checkpointer is nothing the callers wait for.
        self.checkpointer.committed();
        tally.emit();
    }

    /// After a rollback: what the writer keeps in memory goes back to what the tables hold.
    fn forget_uncommitted(&mut self) {
        if let Err(error) = self.core.forget_uncommitted() {
            error!(error = %error, "Reloading the writer's state after a rollback failed.");
        }
        // The size measured inside the transaction counted the pages it rolled back.
        if let Err(error) = self.core.capacity.refresh(&self.core.conn) {
            warn!(error = %error, "Measuring buffer size failed.");
        }
        match Sessions::load(&self.core.conn) {
            Ok(sessions) => self.sessions = sessions,
            Err(error) => error!(error = %error, "Reloading device sessions failed."),
        }
    }

    /// Applies one command in the open transaction. Its reply goes to `replies` whatever
    /// happens, so a command whose statement fails is answered with the group's failure like
    /// every other (dropping the reply would tell the caller the ledger had stopped).
    fn apply(
        &mut self,
        cmd: Command,
        tally: &mut Tally,
        replies: &mut Vec<Reply>,
    ) -> rusqlite::Result<()> {
        let core = &mut self.core;
        match cmd {
            Command::Events { events, key, reply } => {
                let result = core.ingest(events, key, tally);
                keep(replies, result, |r| {
                    Reply::Events(reply, r.unwrap_or(Ok(Vec::new())))
                })
            }
            Command::Inputs {
                inputs: batch,
                reply,
            } => {
                let result = inputs::apply(core, &mut self.sessions, batch, tally);
                keep(replies, result, |r| {
                    Reply::Inputs(reply, r.unwrap_or(Ok(Vec::new())))
                })
            }
            Command::Plan { sink, plans, reply } => {
                let result = outcomes::plan(core, &sink, plans);
                keep(replies, result, |_| Reply::Unit(reply))
            }
            Command::Outcome {
                sink,
                outcome,
                progress,
                reply,
            } => {
                let result = outcomes::record(core, &sink, outcome, progress);
                keep(replies, result, |r| Reply::Resets(reply, r.unwrap_or(0)))
            }
            Command::Replay {
                sink,
                selector,
                reply,
            } => {
                let result = outcomes::replay(core, &sink, &selector);
                keep(replies, result, |n| Reply::Count(reply, n.unwrap_or(0)))
            }
            Command::Tick { reply } => {
                let result = inputs::tick(core, &mut self.sessions, tally)
                    .and_then(|()| self.maintain_when_due());
                keep(replies, result, |_| Reply::Unit(reply))
            }
            Command::Maintain { reply } => {
                let result = self.maintain();
                keep(replies, result, |_| Reply::Unit(reply))
            }
            Command::Reconfigure { settings, reply } => {
                let result = self.reconfigure(*settings);
                keep(replies, result, |_| Reply::Unit(reply))
            }
            Command::Ping { reply } => keep(replies, Ok(()), |_| Reply::Unit(reply)),
        }
    }

    fn maintain_when_due(&mut self) -> rusqlite::Result<()> {
        if self.last_maintain.elapsed() >= MAINTAIN_EVERY {
            self.maintain()?;
        }
        Ok(())
    }

    /// New settings for what follows in this group and after. The data directory cannot move.
    fn reconfigure(&mut self, settings: LedgerSettings) -> rusqlite::Result<()> {
        if settings.sync != self.core.settings.sync {
            // Takes effect at this transaction's commit.
            self.core
                .conn
                .pragma_update(None, "synchronous", super::sync_pragma(settings.sync))?;
        }
        self.core.capacity.max = settings.max_disk;
        self.core.room_refused = false;
        let data_dir = std::mem::take(&mut self.core.settings.data_dir);
        self.core.settings = LedgerSettings {
            data_dir,
            ..settings
        };
        tracing::debug!(
            sinks = self.core.settings.routes.len(),
            devices = self.core.settings.devices.len(),
            "The ledger routes and folds with the new settings."
        );
        Ok(())
    }

    /// Retention pruning and a fresh measure of the buffer.
    fn maintain(&mut self) -> rusqlite::Result<()> {
        self.last_maintain = Instant::now();
        self.core.flush_record()?;
        self.core.room_refused = false;
        prune::expired(&self.core.conn, self.core.settings.retention)?;
        self.core.capacity.refresh(&self.core.conn)
    }
}

//! The ledger: the only way into the SQLite buffer.
//!
//! One writer thread (`store-writer`, see [`writer`]) owns the write connection and commits
//! groups of commands in one transaction each, so one fsync covers many events. Async code
//! talks to it through [`StoreHandle`], a bounded channel whose commands carry a oneshot reply
//! that fires only after the commit. Readers ([`read::ReadPool`]) use their own connections on
//! blocking threads; WAL lets them run beside the writer.

mod checkpoint;
pub mod inputs;
pub mod prune;
pub mod read;
pub mod schema;
pub mod set_aside;
mod subjects;
pub mod writer;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc, oneshot, watch};

use crate::config::{Config, SyncMode};
use crate::model::NewEvent;
use crate::route::Route;

pub use self::inputs::{InputFrame, InputOutcome, MqttMark};

/// Commands queued to the writer. When the queue is full, senders wait: ingest slows down
/// instead of growing memory.
const COMMAND_QUEUE: usize = 1024;

/// Errors opening or using the buffer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory could not be created or secured.
    #[error("preparing data directory {path}")]
    DataDir {
        /// Directory.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// SQLite refused to open or configure the file.
    #[error("opening buffer {path}")]
    Open {
        /// File.
        path: PathBuf,
        /// Cause.
        #[source]
        source: rusqlite::Error,
    },
    /// The schema could not be brought up to date.
    #[error(transparent)]
    Schema(#[from] schema::SchemaError),
    /// A statement failed.
    #[error("buffer query failed")]
    Sql(#[from] rusqlite::Error),
    /// The writer thread has stopped (shutdown or a fatal error).
    #[error("buffer writer has stopped")]
    Closed,
    /// A blocking read task could not run.
    #[error("buffer read task failed")]
    Join(#[from] tokio::task::JoinError),
}

/// Why input was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The buffer is at `max_disk` and nothing more may be dropped to make room.
    #[error("buffer is full ({used} of {max} bytes used); business events are never dropped, so new input is refused")]
    BufferFull {
        /// Bytes in use.
        used: u64,
        /// `buffer.max_disk`.
        max: u64,
    },
    /// The Idempotency-Key was used before with a different body.
    #[error("Idempotency-Key was already used with a different body")]
    KeyConflict,
    /// The commit failed; nothing of this input was stored.
    #[error("storing input failed: {0}")]
    Storage(String),
}

/// A client's Idempotency-Key and the hash of the body it came with.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    /// The key as sent.
    pub key: String,
    /// SHA-256 of the request body.
    pub body_hash: [u8; 32],
}

/// What a sink worker reports about a request.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// 2xx: these events reached the sink.
    Delivered {
        /// Idempotency-Key of the request: its batch record, if any, goes.
        key: String,
        /// Sequence numbers delivered.
        seqs: Vec<i64>,
        /// The subject of each of `seqs`, in the same order.
        subjects: Vec<String>,
        /// HTTP status of the acknowledgement.
        status: u16,
    },
    /// A retriable failure (or a paused sink's probe): count the attempt, keep the events pending.
    Failed {
        /// Sequence numbers of the request.
        seqs: Vec<i64>,
        /// HTTP status, when there was an answer.
        status: Option<u16>,
        /// What went wrong.
        error: String,
    },
    /// The receiver refused this event for good (400/413/422): dead-letter it and hold what
    /// follows in its subject.
    Dead {
        /// The refused event.
        seq: i64,
        /// HTTP status.
        status: u16,
        /// Our summary of the refusal.
        error: String,
        /// Start of the receiver's answer, as evidence.
        excerpt: String,
    },
}

/// Which events `replay` puts back to pending.
#[derive(Debug, Clone)]
pub enum ReplaySelector {
    /// Every dead letter of the sink.
    Dead,
    /// One event by id.
    Event(String),
    /// Every event of the sink that arrived at or after this time (ms since the epoch),
    /// delivered ones included.
    Since(i64),
}

/// Settings the writer needs; rebuilt from [`Config`].
#[derive(Debug, Clone)]
pub struct LedgerSettings {
    /// `site.id`.
    pub site: String,
    /// Routes from event types to sinks.
    pub routes: Vec<Route>,
    /// `buffer.max_disk`.
    pub max_disk: u64,
    /// `buffer.retention`.
    pub retention: Duration,
    /// Configured devices.
    pub devices: std::collections::HashMap<String, inputs::DeviceSettings>,
}

impl LedgerSettings {
    /// Ledger settings of a configuration.
    pub fn from_config(config: &Config) -> Self {
        Self {
            site: config.site.id.clone(),
            routes: config
                .sinks
                .iter()
                .map(|(name, sink)| Route::new(name, &sink.events))
                .collect(),
            max_disk: config.buffer.max_disk,
            retention: config.buffer.retention,
            devices: inputs::device_settings(config).0,
        }
    }
}

/// The membership of one request, recorded before it is first sent.
#[derive(Debug, Clone)]
pub struct BatchRecord {
    /// Idempotency-Key of the request.
    pub key: String,
    /// Its events, ascending. A single event needs no record (its id is its key).
    pub seqs: Vec<i64>,
    /// The recorded batch these events came from (a refused batch split in two, a batch that
    /// lost a subject to a dead letter): its record goes.
    pub replaces: Option<String>,
}

/// A command for the writer thread.
pub(crate) enum Command {
    Ingest {
        events: Vec<NewEvent>,
        key: Option<IdempotencyKey>,
        reply: oneshot::Sender<Result<Vec<String>, IngestError>>,
    },
    AssignBatches {
        sink: Arc<str>,
        batches: Vec<BatchRecord>,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    Outcome {
        sink: Arc<str>,
        outcome: Outcome,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    Replay {
        sink: String,
        selector: ReplaySelector,
        reply: oneshot::Sender<Result<usize, StoreError>>,
    },
    Maintain {
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    Ping {
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    Inputs {
        frames: Vec<InputFrame>,
        reply: oneshot::Sender<Result<Vec<InputOutcome>, IngestError>>,
    },
    Tick {
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
}

/// What the writer announces after each commit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Commits {
    /// Increases with every commit: new work may be ready.
    pub generation: u64,
    /// Increases whenever undelivered events were removed to make room: sink workers must
    /// forget what they queued, since some of it may no longer exist.
    pub drops: u64,
}

/// Cloneable front door of the ledger.
#[derive(Clone)]
pub struct StoreHandle {
    tx: mpsc::Sender<Command>,
    committed: watch::Receiver<Commits>,
    path: Arc<Path>,
}

impl StoreHandle {
    /// Commits events (all or none) and returns their ids, in order.
    pub async fn ingest(
        &self,
        events: Vec<NewEvent>,
        key: Option<IdempotencyKey>,
    ) -> Result<Vec<String>, IngestError> {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Ingest { events, key, reply };
        if self.tx.send(cmd).await.is_err() {
            return Err(IngestError::Storage("buffer writer has stopped".into()));
        }
        rx.await
            .unwrap_or_else(|_| Err(IngestError::Storage("buffer writer has stopped".into())))
    }

    /// Records batch membership before each batch's first attempt, so a retry (even after a
    /// restart) sends the same events under the same key. Several batches go in one command,
    /// so a worker pays one commit for all it has queued.
    pub async fn assign_batches(
        &self,
        sink: Arc<str>,
        batches: Vec<BatchRecord>,
    ) -> Result<(), StoreError> {
        self.call(|reply| Command::AssignBatches {
            sink,
            batches,
            reply,
        })
        .await?
    }

    /// Records what happened to a request.
    pub async fn record(&self, sink: Arc<str>, outcome: Outcome) -> Result<(), StoreError> {
        self.call(|reply| Command::Outcome {
            sink,
            outcome,
            reply,
        })
        .await?
    }

    /// Puts events back to pending; returns how many.
    pub async fn replay(
        &self,
        sink: String,
        selector: ReplaySelector,
    ) -> Result<usize, StoreError> {
        self.call(|reply| Command::Replay {
            sink,
            selector,
            reply,
        })
        .await?
    }

    /// Runs retention pruning and the capacity checks now.
    pub async fn maintain(&self) -> Result<(), StoreError> {
        self.call(|reply| Command::Maintain { reply }).await?
    }

    /// Commits device inputs (decoded and folded through the station workflow); the outcomes
    /// come back in input order, only after the commit.
    pub async fn inputs(&self, frames: Vec<InputFrame>) -> Result<Vec<InputOutcome>, IngestError> {
        let (reply, rx) = oneshot::channel();
        if self
            .tx
            .send(Command::Inputs { frames, reply })
            .await
            .is_err()
        {
            return Err(IngestError::Storage("buffer writer has stopped".into()));
        }
        rx.await
            .unwrap_or_else(|_| Err(IngestError::Storage("buffer writer has stopped".into())))
    }

    /// Runs the workflow timers (dock debounce, idle sessions).
    pub async fn tick(&self) -> Result<(), StoreError> {
        self.call(|reply| Command::Tick { reply }).await?
    }

    /// Answers once the writer has worked through the commands queued before it: proof the
    /// ledger is alive, for the systemd watchdog.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.call(|reply| Command::Ping { reply }).await?
    }

    /// A receiver that changes after every commit; sink workers wait on it for new work.
    pub fn commits(&self) -> watch::Receiver<Commits> {
        self.committed.clone()
    }

    /// Path of the buffer file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)
    }
}

/// Opens (creating if needed) the buffer, migrates it and starts the writer thread.
///
/// Returns the handle and the writer thread; the thread ends once every handle is dropped and
/// the queue is drained, after a final checkpoint.
pub fn open(config: &Config) -> Result<(StoreHandle, std::thread::JoinHandle<()>), StoreError> {
    let dir = &config.site.data_dir;
    prepare_data_dir(dir)?;
    let path = config.buffer_path();
    let conn = match open_connection(&path, config.buffer.sync) {
        Err(error) if set_aside::is_damage(&error) => {
            let moved = set_aside::set_aside(&path).map_err(|source| StoreError::DataDir {
                path: dir.clone(),
                source,
            })?;
            tracing::error!(
                path = %path.display(),
                moved_to = %moved.display(),
                error = %crate::model::error_chain(&error),
                "The buffer file is damaged and was set aside; starting with an empty buffer. \
                 Events still waiting in it are not forwarded: keep the moved file for recovery."
            );
            metrics::counter!("dockgate_buffer_set_aside_total").increment(1);
            open_connection(&path, config.buffer.sync)?
        }
        other => other?,
    };
    checkpoint::watch_wal(&conn);
    let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
    let (committed_tx, committed) = watch::channel(Commits::default());
    let settings = LedgerSettings::from_config(config);
    let (_, rules) = inputs::device_settings(config);
    let checkpointer =
        checkpoint::Checkpointer::start(&path).map_err(|source| StoreError::DataDir {
            path: dir.clone(),
            source,
        })?;
    let writer = writer::Writer::new(conn, settings, rules, committed_tx, checkpointer)?;
    let thread = std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || writer.run(rx))
        .map_err(|source| StoreError::DataDir {
            path: dir.clone(),
            source,
        })?;
    Ok((
        StoreHandle {
            tx,
            committed,
            path: path.into(),
        },
        thread,
    ))
}

fn prepare_data_dir(dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let wrap = |source| StoreError::DataDir {
        path: dir.to_owned(),
        source,
    };
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(wrap)?;
    }
    let meta = std::fs::metadata(dir).map_err(wrap)?;
    if meta.permissions().mode() & 0o077 != 0 {
        // The buffer holds business data; keep it private even if the directory pre-existed.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(wrap)?;
    }
    Ok(())
}

/// Opens the write connection: WAL, the configured `synchronous`, schema up to date.
fn open_connection(path: &Path, sync: SyncMode) -> Result<Connection, StoreError> {
    let wrap = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    let mut conn = Connection::open(path).map_err(wrap)?;
    // The WAL and shared-memory files inherit this mode, so set it before WAL mode creates them.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
            |source| StoreError::DataDir {
                path: path.to_owned(),
                source,
            },
        )?;
    }
    conn.busy_timeout(Duration::from_secs(5)).map_err(wrap)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(wrap)?;
    let sync = match sync {
        SyncMode::Full => "FULL",
        SyncMode::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", sync)
        .map_err(wrap)?;
    // The `store-checkpoint` thread copies the WAL back, so no commit waits for it.
    conn.pragma_update(None, "wal_autocheckpoint", 0)
        .map_err(wrap)?;
    // After a burst made it long, the WAL file is cut back when it starts over.
    conn.pragma_update(None, "journal_size_limit", 16 << 20)
        .map_err(wrap)?;
    conn.set_prepared_statement_cache_capacity(64);
    schema::migrate(&mut conn)?;
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(wrap)?;
    if check != "ok" {
        return Err(StoreError::Open {
            path: path.to_owned(),
            source: rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
                Some(format!("quick_check: {check}")),
            ),
        });
    }
    Ok(conn)
}

/// Opens a read-only connection for readers beside the writer.
pub fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let wrap = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(wrap)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(wrap)?;
    // A bound LIMIT otherwise makes SQLite re-plan a cached statement at every new value,
    // which the sink workers' reads paid on every fetch.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map_err(wrap)?;
    Ok(conn)
}

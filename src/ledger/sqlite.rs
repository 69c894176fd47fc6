//! The ledger kept in one SQLite file, `buffer.sqlite` in the data directory.
//!
//! One writer thread (`ledger-writer`, see [`writer`]) owns the write connection and commits
//! groups of commands in one transaction each, so one fsync covers many events; every reply
//! leaves only after its group committed. Readers ([`Reads`]) use their own read-only
//! connections on blocking threads; WAL lets them run beside the writer. A `ledger-checkpoint`
//! thread copies the WAL back into the file so no commit waits for that.
//!
//! Events are kept as a log ([`record`], [`log`]): many consecutive events per row, each with
//! its CloudEvents body rendered at commit. Per sink a cursor says up to where everything is
//! settled, a receipt per delivered request says what was delivered above it, and rows per
//! event exist only for exceptions ([`exceptions`]: dead, held behind a dead one, put back by
//! a replay). A sink reads ahead of its cursor into memory ([`window`]). Beside the log:
//! `requests` (planned requests and failed attempts), `idempotency_keys`, `inputs` (the
//! journal), `rejected` (the quarantine), `sessions`, `mqtt_unacked` and `meta`; see
//! [`schema`].

mod check;
mod checkpoint;
mod events;
mod exceptions;
mod inputs;
mod log;
mod migrate7;
mod outcomes;
mod prune;
mod read;
mod record;
mod schema;
mod set_aside;
mod window;
mod writer;

pub(super) use self::window::{Progress, Window};

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc, watch};

use self::set_aside::set_aside_files;
use super::data_dir::DataDirLock;
use super::{
    BufferCheck, Command, Commits, EventFilter, EventRow, LedgerError, LedgerSettings,
    LedgerStatus, RejectedRow, StorageError,
};
use crate::config::SyncMode;
use crate::model::Chain;

/// The buffer file's name in the data directory.
const BUFFER_FILE: &str = "buffer.sqlite";

/// Idle read connections kept for reuse.
const POOL_SIZE: usize = 8;

/// Why the buffer file could not be opened.
#[derive(Debug)]
enum OpenFailure {
    /// SQLite refused the file or a statement on it.
    Sqlite(rusqlite::Error),
    /// The layout could not be brought up to date.
    Schema(schema::SchemaError),
    /// Setting the file's permissions failed.
    Io(std::io::Error),
}

impl From<rusqlite::Error> for OpenFailure {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(e)
    }
}

/// What SQLite said: its message, without the error code's generic text that rusqlite gives
/// as the message's cause.
fn sqlite_said(e: &rusqlite::Error) -> StorageError {
    StorageError::new(e.to_string())
}

impl OpenFailure {
    fn into_ledger_error(self, path: &Path) -> LedgerError {
        let path = path.to_owned();
        match self {
            Self::Sqlite(e) => LedgerError::Open {
                path,
                source: sqlite_said(&e),
            },
            Self::Schema(schema::SchemaError::TooNew { found }) => LedgerError::TooNew {
                path,
                found,
                known: schema::CURRENT_VERSION,
            },
            Self::Schema(e) => LedgerError::Open {
                path,
                source: StorageError::new(match std::error::Error::source(&e) {
                    Some(cause) => format!("{e}: {cause}"),
                    None => e.to_string(),
                }),
            },
            Self::Io(e) => LedgerError::DataDir {
                path,
                source: Arc::new(e),
            },
        }
    }
}

/// A storage failure while doing `action`.
fn failed(action: &'static str) -> impl Fn(rusqlite::Error) -> LedgerError {
    move |e| LedgerError::Storage {
        action,
        source: sqlite_said(&e),
    }
}

/// Opens the buffer in the data directory (setting a damaged file aside) and starts the writer
/// thread on it; returns the readers and the thread.
pub(super) fn start(
    settings: LedgerSettings,
    rx: mpsc::Receiver<Command>,
    committed: watch::Sender<Commits>,
    lock: DataDirLock,
) -> Result<(Reads, std::thread::JoinHandle<()>), LedgerError> {
    let dir = settings.data_dir.clone();
    let io_failure = |source| LedgerError::DataDir {
        path: dir.clone(),
        source: Arc::new(source),
    };
    let path = dir.join(BUFFER_FILE);
    let conn = match open_connection(&path, settings.sync) {
        Err(failure) if set_aside::is_damage(&failure) => {
            let moved = set_aside::set_aside(&path).map_err(io_failure)?;
            let error = failure.into_ledger_error(&path);
            tracing::error!(
                path = %path.display(),
                moved_to = %moved.display(),
                error = %Chain(&error),
                "The buffer file is damaged and was set aside; starting with an empty buffer. \
                 Events still waiting in it are not forwarded: keep the moved file for recovery."
            );
            metrics::counter!("dockgate_buffer_set_aside_total").increment(1);
            open_connection(&path, settings.sync).map_err(|f| f.into_ledger_error(&path))?
        }
        other => other.map_err(|f| f.into_ledger_error(&path))?,
    };
    checkpoint::watch_wal(&conn);
    let checkpointer = checkpoint::Checkpointer::start(&path).map_err(io_failure)?;
    let writer = writer::Writer::new(conn, settings, committed, checkpointer, lock)
        .map_err(failed("load its state at start"))?;
    let thread = std::thread::Builder::new()
        .name("ledger-writer".into())
        .spawn(move || writer.run(rx))
        .map_err(io_failure)?;
    Ok((Reads::new(&path), thread))
}

/// Opens the write connection: WAL, the configured `synchronous`, schema up to date, and a
/// quick integrity check.
fn open_connection(path: &Path, sync: SyncMode) -> Result<Connection, OpenFailure> {
    let mut conn = Connection::open(path)?;
    // The WAL and shared-memory files inherit this mode, so set it before WAL mode creates them.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(OpenFailure::Io)?;
    }
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", sync_pragma(sync))?;
    // The `ledger-checkpoint` thread copies the WAL back, so no commit waits for it.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    // After a burst made it long, the WAL file is cut back when it starts over.
    conn.pragma_update(None, "journal_size_limit", 16 << 20)?;
    conn.set_prepared_statement_cache_capacity(64);
    schema::migrate(&mut conn).map_err(OpenFailure::Schema)?;
    let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if check != "ok" {
        return Err(OpenFailure::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
            Some(format!("quick_check: {check}")),
        )));
    }
    Ok(conn)
}

/// Times `n` commits of one small row each on a scratch buffer in `dir` (removed after), with
/// the WAL and `synchronous` setting of the buffer: the cost of a durable commit on that
/// filesystem. The first 20 are warm-up and not returned.
pub(super) fn commit_times(
    dir: &Path,
    sync: SyncMode,
    n: usize,
) -> Result<Vec<Duration>, LedgerError> {
    let path = dir.join(".commit-probe.sqlite");
    let fail = failed("time a commit");
    let measure = || -> rusqlite::Result<Vec<Duration>> {
        let conn = Connection::open(&path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", sync_pragma(sync))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)",
        )?;
        let row = "x".repeat(300);
        let mut times = Vec::with_capacity(n);
        for i in 0..(n + 20) {
            let t = std::time::Instant::now();
            conn.execute_batch("BEGIN IMMEDIATE")?;
            conn.execute("INSERT INTO t (v) VALUES (?1)", [&row])?;
            conn.execute_batch("COMMIT")?;
            if i >= 20 {
                times.push(t.elapsed());
            }
        }
        Ok(times)
    };
    let result = measure().map_err(fail);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    result
}

/// See [`crate::ledger::check`].
pub(super) fn check(dir: &Path) -> Result<BufferCheck, LedgerError> {
    let path = dir.join(BUFFER_FILE);
    if !path.exists() {
        return Err(LedgerError::Open {
            path,
            source: StorageError::new(
                "no buffer file here: is this the data directory (`site.data_dir`)?".to_owned(),
            ),
        });
    }
    check::check(&path).map_err(|e| LedgerError::Open {
        path,
        source: sqlite_said(&e),
    })
}

/// SQLite's `synchronous` for a `buffer.sync` mode.
fn sync_pragma(sync: SyncMode) -> &'static str {
    match sync {
        SyncMode::Full => "FULL",
        SyncMode::Normal => "NORMAL",
    }
}

/// Opens a read-only connection for readers beside the writer.
fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // Readers go through the log once, front to back, and the kernel's page cache serves what
    // is read again: a small page cache each (SQLite's default is 2 MB) keeps a pool of them
    // from adding to the daemon's memory.
    conn.pragma_update(None, "cache_size", -512)?;
    // A bound LIMIT otherwise makes SQLite re-plan a cached statement at every new value,
    // which the sink workers' reads paid on every fetch.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(conn)
}

/// The read side: a pool of read-only connections, each query run on a blocking thread, never
/// on a tokio worker.
#[derive(Clone)]
pub(super) struct Reads {
    path: Arc<PathBuf>,
    idle: Arc<Mutex<Vec<Connection>>>,
}

impl Reads {
    /// Readers of the buffer at `path`; connections open lazily.
    fn new(path: &Path) -> Self {
        Self {
            path: Arc::new(path.to_owned()),
            idle: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Runs `f` with a read connection on a blocking thread; `action` names it in errors.
    async fn run<T, F>(&self, action: &'static str, f: F) -> Result<T, LedgerError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let pool = self.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let conn = match pool.idle.lock().ok().and_then(|mut idle| idle.pop()) {
                Some(conn) => conn,
                None => open_reader(&pool.path)?,
            };
            let result = f(&conn);
            if let Ok(mut idle) = pool.idle.lock() {
                if idle.len() < POOL_SIZE {
                    idle.push(conn);
                }
            }
            result
        })
        .await;
        match joined {
            Ok(result) => result.map_err(failed(action)),
            // The blocking pool is shutting down, or the read panicked.
            Err(_) => Err(LedgerError::Closed),
        }
    }

    pub(super) async fn status(
        &self,
        sinks: Vec<String>,
        data_dir: Arc<Path>,
    ) -> Result<LedgerStatus, LedgerError> {
        self.run("read its status", move |c| {
            let mut status = read::status(c, &sinks)?;
            status.set_aside = set_aside_files(&data_dir);
            Ok(status)
        })
        .await
    }

    pub(super) async fn has_event(&self, id: String) -> Result<bool, LedgerError> {
        self.run("look an event up", move |c| {
            Ok(log::seq_of_id(c, &id)?.is_some())
        })
        .await
    }

    pub(super) async fn open_sinks(&self) -> Result<Vec<String>, LedgerError> {
        self.run("list its sinks", read::open_sinks).await
    }

    pub(super) async fn events(&self, filter: EventFilter) -> Result<Vec<EventRow>, LedgerError> {
        self.run("list events", move |c| read::list_events(c, &filter))
            .await
    }

    pub(super) async fn rejected(
        &self,
        device: Option<String>,
        limit: usize,
    ) -> Result<Vec<RejectedRow>, LedgerError> {
        self.run("list quarantined input", move |c| {
            read::list_rejected(c, device.as_deref(), limit)
        })
        .await
    }

    pub(super) async fn last_delivery(&self, sink: Arc<str>) -> Result<Option<i64>, LedgerError> {
        self.run("read the last delivery", move |c| {
            read::last_delivery(c, &sink)
        })
        .await
    }

    /// Reads what a sink's window asks for.
    pub(super) async fn fill(
        &self,
        sink: Arc<str>,
        ask: window::FillAsk,
    ) -> Result<window::Filled, LedgerError> {
        self.run("read what to send next", move |c| {
            window::fill(c, &sink, ask)
        })
        .await
    }
}

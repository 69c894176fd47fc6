//! What can go wrong in the ledger, said so an operator can act on it; each error keeps its
//! cause (down to SQLite's own message) as its source.

use std::path::PathBuf;
use std::sync::Arc;

/// What the storage said when it refused, in its own words (SQLite's, e.g. "database or disk
/// is full"): the end of a [`LedgerError`]'s chain of causes.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct StorageError(Arc<str>);

impl StorageError {
    /// The storage's message.
    pub(super) fn new(message: impl Into<Arc<str>>) -> Self {
        Self(message.into())
    }
}

/// Errors opening or using the ledger.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LedgerError {
    /// The data directory could not be created, secured or locked.
    #[error("cannot use data directory {path}")]
    DataDir {
        /// Directory.
        path: PathBuf,
        /// Cause.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// Another process holds the data directory.
    #[error(
        "data directory {path} is in use by another dockgate{}; stop it, or give this one its own site.data_dir",
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    Locked {
        /// Directory.
        path: PathBuf,
        /// Process id the lock file names, when it names one.
        pid: Option<u32>,
    },
    /// The buffer file could not be opened or brought to this dockgate's layout.
    #[error("cannot open the buffer {path}")]
    Open {
        /// File.
        path: PathBuf,
        /// Cause.
        #[source]
        source: StorageError,
    },
    /// The buffer file was written by a newer dockgate.
    #[error("the buffer {path} was written by a newer dockgate (layout {found}, this one knows up to {known}); refusing to touch it")]
    TooNew {
        /// File.
        path: PathBuf,
        /// Layout version found.
        found: i64,
        /// Newest layout this build knows.
        known: i64,
    },
    /// A read or write of the buffer failed; `action` says what was being done.
    #[error("the buffer could not {action}")]
    Storage {
        /// What was being done, e.g. "commit device input".
        action: &'static str,
        /// What the storage said.
        #[source]
        source: StorageError,
    },
    /// The writer thread has stopped (shutdown, or a fatal error logged before).
    #[error("the ledger has stopped")]
    Closed,
}

/// Why input was not accepted.
#[derive(Debug, Clone, thiserror::Error)]
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
    #[error("the input was not stored")]
    Ledger(#[from] LedgerError),
}

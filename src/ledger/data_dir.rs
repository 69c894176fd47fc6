//! The data directory: created private (mode 0700) and locked for one dockgate at a time.
//!
//! Two daemons on one buffer would both read the same pending events and both deliver them
//! (seen when a second instance was started by hand beside the systemd one). The lock is an
//! exclusive advisory lock (`flock`) on `dockgate.lock`, which holds the owner's process id so
//! that the second one can say who has it. The kernel drops the lock with the process, however
//! it ends, so a `kill -9` or a power cut never leaves a stale lock behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::LedgerError;

/// The lock file's name in the data directory.
const LOCK_FILE: &str = "dockgate.lock";

/// The data directory's lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct DataDirLock {
    dir: PathBuf,
    _file: File,
}

impl DataDirLock {
    /// The directory it locks.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Creates the directory if needed, makes it private and takes its lock.
pub(super) fn prepare_and_lock(dir: &Path) -> Result<DataDirLock, LedgerError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let wrap = |source| LedgerError::DataDir {
        path: dir.to_owned(),
        source: Arc::new(source),
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
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(LOCK_FILE))
        .map_err(wrap)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(LedgerError::Locked {
                path: dir.to_owned(),
                pid: text.trim().parse().ok(),
            });
        }
        Err(TryLockError::Error(error)) => return Err(wrap(error)),
    }
    // Ours now: say who holds it.
    file.set_len(0).map_err(wrap)?;
    file.rewind().map_err(wrap)?;
    writeln!(file, "{}", std::process::id()).map_err(wrap)?;
    Ok(DataDirLock {
        dir: dir.to_owned(),
        _file: file,
    })
}

/// The process id of a dockgate holding the lock of `dir`, as far as can be told without
/// taking it (so a daemon starting meanwhile is never refused): the lock file names its last
/// holder, and that process still runs as dockgate.
pub(super) fn holder(dir: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(dir.join(LOCK_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    (comm.trim() == "dockgate" && pid != std::process::id()).then_some(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_and_freed_with_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let first = prepare_and_lock(dir.path()).unwrap();
        match prepare_and_lock(dir.path()) {
            Err(LedgerError::Locked { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("a second lock was not refused: {other:?}"),
        }
        let message = prepare_and_lock(dir.path()).unwrap_err().to_string();
        assert!(
            message.contains(&format!(
                "in use by another dockgate (pid {})",
                std::process::id()
            )),
            "{message}"
        );
        drop(first);
        prepare_and_lock(dir.path()).expect("free again once the first is gone");
    }

    #[test]
    fn the_directory_is_created_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a/b");
        let _lock = prepare_and_lock(&data).unwrap();
        let mode = std::fs::metadata(&data).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}

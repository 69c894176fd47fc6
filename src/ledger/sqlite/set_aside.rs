//! A buffer file SQLite cannot read (not a database, or failing its integrity check) is moved
//! aside, with its WAL, and dockgate starts on an empty buffer. Refusing to start would stop
//! every scanner and dock door of the warehouse until somebody repairs the file by hand, and a
//! restart loop would not repair it either. The moved file keeps whatever was in it for that
//! somebody; status and metrics say it is there until it is removed.

use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

use super::schema::SchemaError;
use super::OpenFailure;
use crate::model::{now_ms, rfc3339_ms};

/// What a set-aside buffer file is renamed to: `buffer.sqlite.corrupt-<UTC time>`.
const MARK: &str = ".corrupt-";

/// Whether opening the buffer failed because the file is damaged (as opposed to permissions,
/// a full disk or a newer schema, which moving the file would not fix or would hide).
pub(super) fn is_damage(error: &OpenFailure) -> bool {
    let source = match error {
        OpenFailure::Sqlite(source)
        | OpenFailure::Schema(SchemaError::Migration { source, .. })
        | OpenFailure::Schema(SchemaError::Version(source)) => source,
        _ => return false,
    };
    matches!(
        source.sqlite_error_code(),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
    )
}

/// Renames the buffer at `path` and its `-wal` and `-shm` files, where SQLite left them, to
/// `<name>.corrupt-<time>[-wal|-shm]` (so SQLite still pairs them when someone opens the moved
/// file) and makes the renames durable. The WAL goes first: a WAL left behind without its
/// database would be read into the new, empty one. (Usually there is none: the failed
/// connection's close copies what it can into the file and deletes the WAL.)
pub(super) fn set_aside(path: &Path) -> std::io::Result<PathBuf> {
    let stamp = rfc3339_ms(now_ms()).replace(':', "");
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let target = path.with_file_name(format!("{name}{MARK}{stamp}"));
    for suffix in ["-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", path.display()));
        if from.exists() {
            std::fs::rename(&from, format!("{}{suffix}", target.display()))?;
        }
    }
    std::fs::rename(path, &target)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(target)
}

/// Buffer files set aside in `dir` and not removed yet (not their WAL companions), by name.
pub(in crate::ledger) fn set_aside_files(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(MARK) && !n.ends_with("-wal") && !n.ends_with("-shm"))
        .collect();
    names.sort();
    names
}

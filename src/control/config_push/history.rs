//! The configurations this box has applied, kept in `<data_dir>/config/`: one file per change
//! (a push, a reload of the local file, a rollback), numbered in the order they were applied,
//! the last [`KEEP`] of them, and the digests of the last [`KEEP_REFUSED`] pushes refused for
//! good. Each file is written whole or not at all: written to a temporary name, fsynced,
//! renamed, and the directory fsynced, so a power cut leaves the old set or the new one. All
//! calls block: run them on a blocking thread.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tracing::warn;

/// How many applied configurations are kept.
pub const KEEP: usize = 8;

/// How many refused pushes are remembered.
pub const KEEP_REFUSED: usize = 16;

/// The history's directory inside the data directory.
const DIR: &str = "config";
/// The refused pushes' digests, one per line, oldest first.
const REFUSED: &str = "refused.txt";

/// Where an applied configuration came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Pushed by central IT, signed.
    Push,
    /// The local file, re-read on SIGHUP.
    Local,
    /// `dockgate config rollback`: an earlier entry applied again.
    Rollback,
}

impl Source {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Push => "push",
            Self::Local => "local",
            Self::Rollback => "rollback",
        }
    }
}

/// One applied configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Its place in the order of application.
    pub seq: u64,
    /// The configuration's `version`.
    pub version: u64,
    /// Where it came from.
    pub source: Source,
    /// When it was applied, RFC 3339.
    pub at: String,
    /// The key id that signed it (pushes).
    pub signed_by: Option<String>,
    /// The highest version this box had applied by then (pushes must go above it).
    pub highest: u64,
    /// The configuration, exactly as applied.
    pub config: String,
}

/// The kept entries, oldest first.
pub struct History {
    dir: PathBuf,
    entries: Vec<Entry>,
    refused: Vec<String>,
}

impl History {
    /// Reads the history of the data directory `data_dir`; empty when there is none yet
    /// (nothing is created until something is recorded). An entry that cannot be read is
    /// skipped, with a warning.
    pub fn open(data_dir: &Path) -> std::io::Result<Self> {
        let dir = data_dir.join(DIR);
        let listing = match fs::read_dir(&dir) {
            Ok(listing) => listing,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self {
                    dir,
                    entries: Vec::new(),
                    refused: Vec::new(),
                })
            }
            Err(e) => return Err(e),
        };
        let mut entries = Vec::new();
        for item in listing {
            let path = item?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let read = fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<Entry>(&b).map_err(|e| e.to_string()));
            match read {
                Ok(entry) => entries.push(entry),
                Err(error) => {
                    warn!(path = %path.display(), error = %error, "Applied configuration unreadable; skipped.")
                }
            }
        }
        entries.sort_by_key(|e| e.seq);
        let refused = match fs::read_to_string(dir.join(REFUSED)) {
            Ok(text) => text.lines().map(str::to_owned).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(Self {
            dir,
            entries,
            refused,
        })
    }

    /// Whether a push with this digest was refused for good before.
    pub fn refused_before(&self, digest: &str) -> bool {
        self.refused.iter().any(|d| d == digest)
    }

    /// Remembers, durably, that a push with this digest was refused for good.
    pub fn record_refused(&mut self, digest: &str) -> std::io::Result<()> {
        if self.refused_before(digest) {
            return Ok(());
        }
        self.refused.push(digest.to_owned());
        let extra = self.refused.len().saturating_sub(KEEP_REFUSED);
        self.refused.drain(..extra);
        let text: String = self.refused.iter().map(|d| format!("{d}\n")).collect();
        self.write_whole(REFUSED, text.as_bytes())
    }

    /// Writes `name` in the history's directory whole or not at all.
    fn write_whole(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        {
            use std::os::unix::fs::DirBuilderExt;
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.dir)?;
        }
        let tmp = self.dir.join(format!(".{name}.tmp"));
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
        }
        fs::rename(&tmp, self.dir.join(name))?;
        fs::File::open(&self.dir)?.sync_all()
    }

    /// The configuration applied last.
    pub fn newest(&self) -> Option<&Entry> {
        self.entries.last()
    }

    /// The highest version this box has applied (0 when it has applied nothing yet).
    pub fn highest(&self) -> u64 {
        self.entries
            .iter()
            .map(|e| e.highest.max(e.version))
            .max()
            .unwrap_or(0)
    }

    /// Whether `config` is the exact text of a kept entry.
    pub fn has_applied(&self, config: &str) -> bool {
        self.entries.iter().any(|e| e.config == config)
    }

    /// What `rollback` returns to from `version`: the newest entry of a lower version.
    pub fn before(&self, version: u64) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| e.version < version)
    }

    /// Records an applied configuration, durably, and forgets all but the last [`KEEP`].
    pub fn record(
        &mut self,
        version: u64,
        source: Source,
        signed_by: Option<String>,
        config: &str,
        at: String,
    ) -> std::io::Result<Entry> {
        let entry = Entry {
            seq: self.entries.last().map_or(1, |e| e.seq + 1),
            version,
            source,
            at,
            signed_by,
            highest: self.highest().max(version),
            config: config.to_owned(),
        };
        let name = format!("{:06}.json", entry.seq);
        let bytes = serde_json::to_vec_pretty(&entry).map_err(std::io::Error::other)?;
        self.write_whole(&name, &bytes)?;
        self.entries.push(entry.clone());
        while self.entries.len() > KEEP {
            let old = self.entries.remove(0);
            let path = self.dir.join(format!("{:06}.json", old.seq));
            if let Err(error) = fs::remove_file(&path) {
                warn!(path = %path.display(), error = %error, "Old applied configuration not removed.");
            }
        }
        Ok(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(h: &mut History, version: u64, source: Source) -> Entry {
        let text = format!("version = {version}\n");
        h.record(version, source, None, &text, "t".into()).unwrap()
    }

    #[test]
    fn entries_survive_a_reopen_in_order_and_only_the_last_few_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = History::open(dir.path()).unwrap();
        assert_eq!((h.newest(), h.highest()), (None, 0));
        for v in 1..=(KEEP as u64 + 3) {
            record(&mut h, v, Source::Push);
        }
        let h = History::open(dir.path()).unwrap();
        assert_eq!(h.entries.len(), KEEP);
        assert_eq!(h.newest().map(|e| e.version), Some(KEEP as u64 + 3));
        assert_eq!(h.entries[0].version, 4);
        let files = fs::read_dir(dir.path().join(DIR)).unwrap().count();
        assert_eq!(files, KEEP, "no temporary file is left behind");
    }

    #[test]
    fn a_rollback_goes_below_but_the_highest_version_stays() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = History::open(dir.path()).unwrap();
        record(&mut h, 5, Source::Local);
        record(&mut h, 6, Source::Push);
        record(&mut h, 9, Source::Push);
        assert_eq!(h.before(9).map(|e| e.version), Some(6));
        record(&mut h, 6, Source::Rollback);
        assert_eq!(h.newest().map(|e| e.version), Some(6));
        assert_eq!(h.highest(), 9, "a replay of 9 stays refused");
        // A second rollback goes below 6, past the first entry of 6.
        assert_eq!(h.before(6).map(|e| e.version), Some(5));
        // Even once 9's own entry is gone, its height is remembered.
        for _ in 0..KEEP {
            record(&mut h, 6, Source::Rollback);
        }
        assert_eq!(h.highest(), 9);
    }

    #[test]
    fn refused_pushes_are_remembered_across_a_reopen_the_last_few() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = History::open(dir.path()).unwrap();
        for n in 0..=KEEP_REFUSED {
            h.record_refused(&format!("d{n}")).unwrap();
        }
        h.record_refused("d3").unwrap();
        let h = History::open(dir.path()).unwrap();
        assert!(
            !h.refused_before("d0"),
            "only the last {KEEP_REFUSED} are kept"
        );
        assert!(h.refused_before("d1") && h.refused_before(&format!("d{KEEP_REFUSED}")));
        assert_eq!(h.refused.len(), KEEP_REFUSED);
        assert_eq!(h.newest(), None, "no applied entry came of it");
    }

    #[test]
    fn an_unreadable_entry_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = History::open(dir.path()).unwrap();
        record(&mut h, 3, Source::Push);
        fs::write(dir.path().join(DIR).join("000002.json"), b"{not json").unwrap();
        let h = History::open(dir.path()).unwrap();
        assert_eq!(h.newest().map(|e| e.version), Some(3));
    }
}

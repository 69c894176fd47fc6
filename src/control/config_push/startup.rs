//! What runs at start: the local file or the change applied last.

use std::path::{Path, PathBuf};

use tracing::{info, warn};

use super::history::{Entry, History, Source};
use super::one_line;
use crate::config::{Config, ConfigError, Problem};

/// The configuration to start with, and where it came from.
pub struct Startup {
    /// The configuration.
    pub config: Config,
    /// Its text.
    pub text: String,
    /// Where it came from, for people.
    pub origin: String,
    /// It is the local file's.
    pub from_local: bool,
}

/// Picks what to run at start: the local file when its `version` is above every version this
/// box has applied (an edit made while the daemon was stopped), else the configuration applied
/// last (a push, a reload or a rollback recorded in the data directory). When the local file
/// is unusable but a last applied configuration is kept, that one runs (last known good); the
/// local file's problems are returned beside it, to be logged.
pub fn startup(local_path: &Path) -> Result<(Startup, Option<ConfigError>), ConfigError> {
    let local = Config::load(local_path).and_then(|c| {
        let text = std::fs::read_to_string(local_path).map_err(|e| ConfigError {
            path: local_path.to_owned(),
            problems: vec![Problem {
                key: String::new(),
                line: None,
                message: format!("cannot read: {e}"),
            }],
        })?;
        Ok((c, text))
    });
    let data_dir = match &local {
        Ok((c, _)) => c.site.data_dir.clone(),
        Err(_) => data_dir_of(local_path),
    };
    let history = History::open(&data_dir)
        .map_err(|e| warn!(error = %e, "Applied configurations unreadable; using the local file."))
        .ok();
    let highest = history.as_ref().map_or(0, History::highest);
    let last = history.and_then(|h| h.newest().cloned());
    let last = last.and_then(|entry| match Config::parse(&entry.config) {
        Ok(config) => Some((config, entry)),
        Err(problems) => {
            warn!(version = entry.version, problems = %one_line(&problems),
                "The configuration applied last no longer validates; using the local file.");
            None
        }
    });
    let local_origin = format!("local file {}", local_path.display());
    // The local file wins when a reload would take it: a version above every version applied.
    // Otherwise the change applied last runs (a push, a reload, a rollback), so a restart
    // never undoes what central IT or a rollback did.
    let last = match (&local, last) {
        (Ok((config, _)), Some((applied, entry))) => {
            let fixed = config.fixed_changes(&applied);
            if config.version > highest {
                None
            } else if !fixed.is_empty() {
                warn!(version = entry.version, changed = %fixed.join(", "),
                    "The configuration applied last has another {}: running the local file instead.",
                    fixed.join(", "));
                None
            } else {
                if config.version > entry.version || !same_text(&local, &entry) {
                    info!(local = config.version, highest, running = entry.version,
                        "The local file's version is not above the highest applied; running the change applied last (raise version to run the file).");
                }
                Some((applied, entry))
            }
        }
        (_, last) => last,
    };
    match (local, last) {
        (Ok(_), Some((applied, entry))) => Ok((
            Startup {
                config: applied,
                origin: describe(&entry),
                text: entry.config,
                from_local: false,
            },
            None,
        )),
        (Ok((config, text)), None) => Ok((
            Startup {
                config,
                text,
                origin: local_origin,
                from_local: true,
            },
            None,
        )),
        (Err(problem), Some((applied, entry))) => Ok((
            Startup {
                config: applied,
                origin: format!("{} (the local file is unusable)", describe(&entry)),
                text: entry.config,
                from_local: false,
            },
            Some(problem),
        )),
        (Err(problem), None) => Err(problem),
    }
}

/// Whether the local file's text is the entry's.
fn same_text(local: &Result<(Config, String), ConfigError>, entry: &Entry) -> bool {
    matches!(local, Ok((_, text)) if *text == entry.config)
}

/// `site.data_dir` of a file that does not validate, if it says; else the default.
fn data_dir_of(path: &Path) -> PathBuf {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .and_then(|t| t.get("site")?.get("data_dir")?.as_str().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/var/lib/dockgate"))
}

fn describe(entry: &Entry) -> String {
    match (&entry.source, &entry.signed_by) {
        (Source::Push, Some(key)) => format!("push signed by key {key}"),
        (Source::Local, _) => "local file, as last reloaded".into(),
        (source, _) => source.as_str().into(),
    }
}

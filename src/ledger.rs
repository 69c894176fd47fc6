//! The ledger: the one durable record of dockgate, kept in the buffer file of the data directory.
//!
//! Everything that must survive a restart goes through here: device inputs (journalled, folded
//! through the station workflow, their events appended and the device session saved, all in one
//! commit), business events posted by local software, what each sink has sent and what became
//! of it, and the queries behind status, listings, replay, retention and capacity.
//!
//! The rest of the program sees three things:
//! - [`LedgerHandle`] (cloneable, async): submit inputs or events and get them acknowledged only
//!   after the commit; replay, timers, liveness, and the read-only queries;
//! - [`SinkReader`], one per sink: what to send next ([`Ready`]), and the outcomes it reports;
//! - the domain types those calls take and give.
//!
//! How it is stored is the business of [`sqlite`] alone (one writer thread, WAL readers beside
//! it); nothing outside this module names a table, a column or an SQL statement, so another
//! representation can replace that sub-module without touching the callers.

mod data_dir;
mod error;
mod sqlite;
#[cfg(test)]
pub(crate) mod tests;
mod types;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

pub use self::data_dir::DataDirLock;
pub use self::error::{IngestError, LedgerError, StorageError};
pub use self::types::{
    Backlog, BufferCheck, CheckFinding, Commits, EventFilter, EventRef, EventRow, IdempotencyKey,
    InHand, InputOutcome, LedgerStatus, Outcome, Plan, Ready, RejectedRow, ReplaySelector,
    Sendable, SinkCounts,
};
use crate::config::{Config, SyncMode};
use crate::decode::BarcodeRules;
use crate::model::{Input, NewEvent};
use crate::route::Route;
use crate::workflow::DeviceSettings;

/// Commands queued to the writer. When the queue is full, senders wait: ingest slows down
/// instead of growing memory.
const COMMAND_QUEUE: usize = 1024;

/// What the ledger needs to know, built from the configuration.
#[derive(Debug, Clone)]
pub struct LedgerSettings {
    /// Where the buffer file lives (`site.data_dir`).
    pub data_dir: PathBuf,
    /// `buffer.sync`.
    pub sync: SyncMode,
    /// `site.id`.
    pub site: String,
    /// Routes from event types to sinks.
    pub routes: Vec<Route>,
    /// `buffer.max_disk`.
    pub max_disk: u64,
    /// `buffer.retention`.
    pub retention: Duration,
    /// Configured devices, by id.
    pub devices: HashMap<String, DeviceSettings>,
    /// Plain-text barcode rules.
    pub rules: BarcodeRules,
}

impl LedgerSettings {
    /// The ledger settings of a (validated) configuration.
    pub fn from_config(config: &Config) -> Self {
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Self {
            data_dir: config.site.data_dir.clone(),
            sync: config.buffer.sync,
            site: config.site.id.clone(),
            routes: config
                .sinks
                .iter()
                .map(|(name, sink)| Route::new(name, &sink.events))
                .collect(),
            max_disk: config.buffer.max_disk,
            retention: config.buffer.retention,
            devices: config
                .devices
                .iter()
                .map(|(id, d)| {
                    let settings = DeviceSettings {
                        station: d.station,
                        door: d.door.clone(),
                        debounce_ms: ms(d.debounce),
                        session_idle_ms: ms(d.session_idle),
                    };
                    (id.clone(), settings)
                })
                .collect(),
            // Validation built these rules already; the defaults are a fallback only.
            rules: config.barcodes.rules().unwrap_or_default(),
        }
    }
}

/// A command for the writer thread; every reply is sent only after the command's commit.
enum Command {
    Events {
        events: Vec<NewEvent>,
        key: Option<IdempotencyKey>,
        reply: oneshot::Sender<Result<Vec<String>, IngestError>>,
    },
    Inputs {
        inputs: Vec<Input>,
        reply: oneshot::Sender<Result<Vec<InputOutcome>, IngestError>>,
    },
    Plan {
        sink: Arc<str>,
        plans: Vec<Plan>,
        reply: oneshot::Sender<Result<(), LedgerError>>,
    },
    Outcome {
        sink: Arc<str>,
        outcome: Outcome,
        progress: Option<sqlite::Progress>,
        /// The replays counted when it was committed.
        reply: oneshot::Sender<Result<u64, LedgerError>>,
    },
    Replay {
        sink: String,
        selector: ReplaySelector,
        reply: oneshot::Sender<Result<usize, LedgerError>>,
    },
    Tick {
        reply: oneshot::Sender<Result<(), LedgerError>>,
    },
    Reconfigure {
        settings: Box<LedgerSettings>,
        reply: oneshot::Sender<Result<(), LedgerError>>,
    },
    Maintain {
        reply: oneshot::Sender<Result<(), LedgerError>>,
    },
    Ping {
        reply: oneshot::Sender<Result<(), LedgerError>>,
    },
}

/// Cloneable front door of the ledger.
#[derive(Clone)]
pub struct LedgerHandle {
    tx: mpsc::Sender<Command>,
    committed: watch::Receiver<Commits>,
    reads: sqlite::Reads,
    data_dir: Arc<Path>,
    /// Each sink's read-ahead, shared by the readers of that sink while any exists (a sink
    /// removed from the configuration lets go of its own).
    windows: Arc<Mutex<HashMap<Arc<str>, Weak<WindowLock>>>>,
}

type WindowLock = Mutex<sqlite::Window>;
type SharedWindow = Arc<WindowLock>;

/// The writer thread; joined after the last handle is gone.
pub struct LedgerThread(std::thread::JoinHandle<()>);

impl LedgerThread {
    /// Waits until the writer has drained its queue and closed the buffer.
    pub fn join(self) {
        if self.0.join().is_err() {
            tracing::error!("The ledger writer thread panicked.");
        }
    }
}

/// Creates the data directory if needed, makes it private and takes its lock, which the ledger
/// then holds for as long as it is open: a second dockgate on the same directory is refused
/// here, naming the process that has it.
pub fn lock(data_dir: &Path) -> Result<DataDirLock, LedgerError> {
    data_dir::prepare_and_lock(data_dir)
}

/// Opens (creating if needed) the buffer in `settings.data_dir`, whose lock `lock` is (see
/// [`lock`]), brings the file to this dockgate's layout and starts the writer thread.
/// Blocking: call it from a blocking thread.
pub fn open(
    settings: LedgerSettings,
    lock: DataDirLock,
) -> Result<(LedgerHandle, LedgerThread), LedgerError> {
    if lock.dir() != settings.data_dir {
        // A programming error, but one that would let two ledgers share a buffer.
        return Err(LedgerError::Locked {
            path: settings.data_dir.clone(),
            pid: None,
        });
    }
    let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
    let (committed_tx, committed) = watch::channel(Commits::default());
    let data_dir: Arc<Path> = Arc::from(settings.data_dir.as_path());
    let (reads, thread) = sqlite::start(settings, rx, committed_tx, lock)?;
    Ok((
        LedgerHandle {
            tx,
            committed,
            reads,
            data_dir,
            windows: Arc::default(),
        },
        LedgerThread(thread),
    ))
}

/// How long a durable commit of the ledger takes on the filesystem of `dir`: `n` commits of one
/// small record each, on a scratch file there that is removed after. What bounds acknowledged
/// input with `buffer.sync = "full"`; benchmarks and day-one checks of a box use it.
pub fn commit_times(dir: &Path, sync: SyncMode, n: usize) -> Result<Vec<Duration>, LedgerError> {
    sqlite::commit_times(dir, sync, n)
}

/// The process id of the dockgate that seems to be running on `data_dir`, if any; read
/// without taking the lock.
pub fn lock_holder(data_dir: &Path) -> Option<u32> {
    data_dir::holder(data_dir)
}

/// Verifies the buffer in `data_dir` without opening it for writing, migrating or locking it
/// (`dockgate check`): SQLite's integrity, the layout, and the rows against each other.
/// Blocking. `Ok` says what was found, sound or not; `Err` only when the file cannot be read.
pub fn check(data_dir: &Path) -> Result<BufferCheck, LedgerError> {
    sqlite::check(data_dir)
}

impl LedgerHandle {
    /// Commits business events (all or none) and returns their ids, in order.
    pub async fn submit_events(
        &self,
        events: Vec<NewEvent>,
        key: Option<IdempotencyKey>,
    ) -> Result<Vec<String>, IngestError> {
        let reply = self.call(|reply| Command::Events { events, key, reply });
        reply.await.map_err(IngestError::from)?
    }

    /// Commits device inputs, each journalled and folded through its station workflow; the
    /// outcomes come back in input order, only after the commit.
    pub async fn submit_inputs(
        &self,
        inputs: Vec<Input>,
    ) -> Result<Vec<InputOutcome>, IngestError> {
        let reply = self.call(|reply| Command::Inputs { inputs, reply });
        reply.await.map_err(IngestError::from)?
    }

    /// Puts events of `sink` back to pending; returns how many.
    pub async fn replay(
        &self,
        sink: String,
        selector: ReplaySelector,
    ) -> Result<usize, LedgerError> {
        let reply = self.call(|reply| Command::Replay {
            sink,
            selector,
            reply,
        });
        reply.await?
    }

    /// Runs the workflow's timers (dock debounce, idle sessions) and, when due, retention and
    /// the capacity checks. The daemon calls it twice a second.
    pub async fn tick(&self) -> Result<(), LedgerError> {
        self.call(|reply| Command::Tick { reply }).await?
    }

    /// Takes new settings (routes, devices, barcode rules, retention, `max_disk`, `sync`) from
    /// the next commit on: what is committed before keeps the routes it was committed with. The
    /// data directory stays the one the ledger was opened in.
    pub async fn reconfigure(&self, settings: LedgerSettings) -> Result<(), LedgerError> {
        let settings = Box::new(settings);
        self.call(|reply| Command::Reconfigure { settings, reply })
            .await?
    }

    /// Runs retention and the capacity checks now.
    pub async fn maintain(&self) -> Result<(), LedgerError> {
        self.call(|reply| Command::Maintain { reply }).await?
    }

    /// Answers once the writer has worked through the commands queued before it: proof the
    /// ledger is alive, for the systemd watchdog.
    pub async fn ping(&self) -> Result<(), LedgerError> {
        self.call(|reply| Command::Ping { reply }).await?
    }

    /// A receiver that changes after every commit.
    pub fn commits(&self) -> watch::Receiver<Commits> {
        self.committed.clone()
    }

    /// The reader of sink `sink`.
    pub fn sink(&self, sink: &str) -> SinkReader {
        let sink: Arc<str> = Arc::from(sink);
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        windows.retain(|_, w| w.strong_count() > 0);
        let window = match windows.get(&sink).and_then(Weak::upgrade) {
            Some(window) => window,
            None => {
                let window = SharedWindow::default();
                windows.insert(sink.clone(), Arc::downgrade(&window));
                window
            }
        };
        drop(windows);
        // A new reader (a sink worker started again) reads from the tables: what an aborted
        // worker had in flight and recorded is not in the window's memory.
        window
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .invalidate();
        SinkReader {
            sink,
            window,
            ledger: self.clone(),
        }
    }

    /// Sinks with events not delivered yet: the configured ones that have any, and sinks removed
    /// from the configuration while events still waited for them (they stay listed and
    /// replayable until those are delivered, or the sink is added back).
    pub async fn open_sinks(&self) -> Result<Vec<String>, LedgerError> {
        self.reads.open_sinks().await
    }

    /// Backlog of each of `sinks` and of any other sink with events waiting, and buffer-wide
    /// figures.
    pub async fn status(&self, sinks: Vec<String>) -> Result<LedgerStatus, LedgerError> {
        self.reads.status(sinks, self.data_dir.clone()).await
    }

    /// Whether the buffer holds an event with this id (not pruned yet).
    pub async fn has_event(&self, id: String) -> Result<bool, LedgerError> {
        self.reads.has_event(id).await
    }

    /// Events matching `filter`, oldest first.
    pub async fn events(&self, filter: EventFilter) -> Result<Vec<EventRow>, LedgerError> {
        self.reads.events(filter).await
    }

    /// Quarantined inputs, oldest first, optionally of one device.
    pub async fn rejected(
        &self,
        device: Option<String>,
        limit: usize,
    ) -> Result<Vec<RejectedRow>, LedgerError> {
        self.reads.rejected(device, limit).await
    }

    /// Sends a command and waits for its reply (after its commit).
    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, LedgerError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| LedgerError::Closed)?;
        rx.await.map_err(|_| LedgerError::Closed)
    }
}

/// One sink's view of the ledger: what to send next, and what became of it.
#[derive(Clone)]
pub struct SinkReader {
    sink: Arc<str>,
    /// What the sink has read ahead of its cursor (memory only; never locked across an await).
    window: SharedWindow,
    ledger: LedgerHandle,
}

impl SinkReader {
    /// The sink's name.
    pub fn name(&self) -> &Arc<str> {
        &self.sink
    }

    /// Up to about `want` events to send next, skipping the subjects and events `in_hand`
    /// (already with the worker): first requests planned earlier and not in
    /// hand (after a restart, or let go), then heads of subjects in draining order, each with
    /// the run behind it, `batch_max` events at most per [`Ready::Fresh`].
    pub async fn next(
        &self,
        want: usize,
        batch_max: usize,
        in_hand: InHand<'_>,
    ) -> Result<Vec<Ready>, LedgerError> {
        self.fill().await?;
        Ok(self.lock_window().ready(want, batch_max, in_hand))
    }

    /// Brings the window up to the latest commit.
    async fn fill(&self) -> Result<(), LedgerError> {
        // A read is merged only into the window it was asked for; one that changed meanwhile
        // (a dead letter recorded) is read again.
        for _ in 0..3 {
            let commits = *self.ledger.committed.borrow();
            let Some(ask) = self.lock_window().ask(commits) else {
                break;
            };
            let filled = self.ledger.reads.fill(self.sink.clone(), ask).await?;
            if self.lock_window().merge(filled) {
                break;
            }
        }
        Ok(())
    }

    fn lock_window(&self) -> std::sync::MutexGuard<'_, sqlite::Window> {
        // The window holds no invariant a panic elsewhere could break half-way that a reload
        // would not repair; a poisoned lock is taken as is.
        self.window.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records requests before their first attempt. Several go in one command, so a worker
    /// pays one commit for all it has queued.
    pub async fn plan(&self, plans: Vec<Plan>) -> Result<(), LedgerError> {
        let sink = self.sink.clone();
        let recorded = plans.clone();
        let reply = self
            .ledger
            .call(|reply| Command::Plan { sink, plans, reply });
        reply.await??;
        self.lock_window().planned(&recorded);
        Ok(())
    }

    /// Records what happened to a request.
    pub async fn record(&self, outcome: Outcome) -> Result<(), LedgerError> {
        let sink = self.sink.clone();
        // What the outcome settles, and what the window drops once it is committed: the
        // request's events by its key, or a dead letter with what follows in its subject.
        let (settled, delivered, dead) = match &outcome {
            Outcome::Delivered { key, events, .. } => {
                let seqs = events.iter().map(|e| e.seq).collect();
                (seqs, Some(key.clone()), None)
            }
            Outcome::Dead { event, .. } => (vec![event.seq], None, Some(event.clone())),
            Outcome::Failed { .. } => (Vec::new(), None, None),
        };
        if !self.lock_window().is_loaded() {
            // An outcome for events this reader never read (a test, a tool): the cursor moves
            // by what the log says.
            self.fill().await?;
        }
        let progress = match settled.is_empty() {
            true => None,
            false => self.lock_window().progress(&settled),
        };
        let kept = progress.clone();
        let reply = self.ledger.call(|reply| Command::Outcome {
            sink,
            outcome,
            progress,
            reply,
        });
        let resets = reply.await??;
        let mut window = self.lock_window();
        if let Some(key) = delivered {
            window.delivered(&key, &settled, kept.as_ref(), resets);
        } else if let Some(event) = dead {
            window.dead(event.seq, &event.subject);
        }
        Ok(())
    }

    /// A receiver that changes after every commit (new events, outcomes, replays) and counts
    /// drops of undelivered events.
    pub fn commits(&self) -> watch::Receiver<Commits> {
        self.ledger.commits()
    }

    /// When the sink last had a request delivered (ms since the epoch), by its receipts; None
    /// when it never had, or the receipts are past retention.
    pub async fn last_delivery(&self) -> Result<Option<i64>, LedgerError> {
        self.ledger.reads.last_delivery(self.sink.clone()).await
    }
}

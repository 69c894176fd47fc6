//! The `ledger-checkpoint` thread: copies committed WAL pages back into the database file beside
//! the writer, on its own connection. Left to SQLite's automatic checkpoint, that copy and its
//! fsyncs ran inside the commit that crossed the threshold, and the writer (with every input
//! waiting on it) stood still for tens of milliseconds each time.

use std::cell::Cell;
use std::ffi::c_int;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::hooks::Wal;
use rusqlite::Connection;
use tracing::warn;

/// Least time between two checkpoints while commits keep coming: a page written by many commits
/// in that time reaches the database file once.
const SPACING: Duration = Duration::from_millis(250);

/// WAL length (pages) past which the writer itself runs a RESTART checkpoint between two groups.
/// A passive checkpoint never lets the WAL start over while commits keep coming, and one from
/// this thread loses the race for the write lock to a busy writer, so under sustained input the
/// WAL would otherwise grow for as long as the burst lasts (95 MB seen in a 200,000-event run).
/// Small in unit tests, so a test can cross it quickly.
const RESTART_PAGES: i64 = if cfg!(test) { 256 } else { 8192 };

thread_local! {
    /// The WAL's length in pages after the last commit on this thread, as SQLite reports it to
    /// the WAL hook of the write connection (which commits on the writer thread only).
    static WAL_PAGES: Cell<i64> = const { Cell::new(0) };
}

fn note_wal_length(_wal: &Wal, pages: c_int) -> rusqlite::Result<()> {
    WAL_PAGES.with(|p| p.set(i64::from(pages)));
    Ok(())
}

/// Makes every commit on `conn` report the WAL's length, so the writer sees it cross
/// `RESTART_PAGES` at the commit that does it rather than at the next passive checkpoint (a
/// burst wrote tens of megabytes in between).
pub(super) fn watch_wal(conn: &Connection) {
    conn.wal_hook(Some(note_wal_length));
}

/// The writer's end: tells the checkpointer that something was committed.
pub(super) struct Checkpointer {
    nudge: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread on its own connection to `path`.
    pub fn start(path: &Path) -> std::io::Result<Self> {
        let (nudge, rx) = sync_channel(1);
        let path = path.to_owned();
        let thread = std::thread::Builder::new()
            .name("ledger-checkpoint".into())
            .spawn(move || run(path, rx))?;
        Ok(Self {
            nudge: Some(nudge),
            thread: Some(thread),
        })
    }

    /// After a commit on `conn` (the write connection, watched by `watch_wal`): when the WAL
    /// has grown past `RESTART_PAGES`, copies the rest back and makes the next commit start it
    /// over. The copy is mostly done already by this thread's passive checkpoints.
    pub fn bound_wal(&self, conn: &Connection) {
        if WAL_PAGES.with(Cell::get) <= RESTART_PAGES {
            return;
        }
        // The restart waits for readers still on the old WAL; inputs wait meanwhile, so give
        // up soon (the next commit tries again) rather than after the usual 5 s.
        let _ = conn.busy_timeout(Duration::from_millis(200));
        match checkpoint(conn, "RESTART") {
            Ok(pages) => {
                WAL_PAGES.with(|p| p.set(0));
                tracing::debug!(wal_pages = pages, "WAL restarted.");
            }
            Err(error) => warn!(error = %error, "Buffer checkpoint (restart) failed."),
        }
        if let Err(error) = conn.busy_timeout(Duration::from_secs(5)) {
            warn!(error = %error, "Resetting the buffer busy timeout failed.");
        }
    }

    /// Called after each commit; never blocks.
    pub fn committed(&self) {
        if let Some(nudge) = &self.nudge {
            // Full: a nudge is already waiting. Gone: the thread could not open its
            // connection, which it logged.
            let _ = nudge.try_send(());
        }
    }

    /// Stops the thread after its current checkpoint, or the rest of its spacing (at most
    /// `SPACING`).
    pub fn stop(&mut self) {
        self.nudge.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(path: PathBuf, rx: Receiver<()>) {
    let conn = match Connection::open(&path) {
        Ok(conn) => conn,
        Err(error) => {
            // Without this thread the WAL is not copied back until the writer stops; say so.
            warn!(path = %path.display(), error = %error, "Buffer checkpoint connection failed; the WAL will grow until dockgate stops.");
            return;
        }
    };
    if let Err(error) = conn.busy_timeout(Duration::from_secs(5)) {
        warn!(error = %error, "Setting the checkpoint busy timeout failed.");
    }
    // A checkpoint copies frames without the page cache; do not let it hold the default 2 MB.
    if let Err(error) = conn.pragma_update(None, "cache_size", -64) {
        warn!(error = %error, "Setting the checkpoint cache size failed.");
    }
    let mut last = Instant::now() - SPACING;
    loop {
        // Idle until a commit.
        if rx.recv().is_err() {
            return;
        }
        // Then asleep until the spacing is over, not woken by the commits meanwhile: the
        // channel holds one nudge, so theirs fail at once in the writer and wake no one
        // (before, every commit woke this thread to find it was too early).
        std::thread::sleep(SPACING.saturating_sub(last.elapsed()));
        if let Err(TryRecvError::Disconnected) = rx.try_recv() {
            return;
        }
        last = Instant::now();
        if let Err(error) = checkpoint(&conn, "PASSIVE") {
            warn!(error = %error, "Buffer checkpoint failed.");
        }
    }
}

/// Runs one checkpoint; returns the WAL's length in pages.
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<i64> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        r.get::<_, i64>(1)
    })
}

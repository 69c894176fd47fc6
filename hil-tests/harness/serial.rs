//! A serial scanner stand-in: `socat` joins two pseudo-terminals, one for the "scanner"
//! (the test writes scans into it) and one for dockgate (its `path`), each reached through a
//! symlink in a tempdir, as a USB adapter is through `/dev/serial/by-id/...`. Killing socat
//! is an unplug: dockgate's port hangs up and both links vanish; starting it again on the same
//! links is a replug (the links then point to new `/dev/pts/N`).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Time socat gets to create both links.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Time a write gets (the pty buffers fill when nobody reads dockgate's end).
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// A socat pty pair; socat is killed when this is dropped.
pub struct SerialLink {
    dir: TempDir,
    child: Option<Child>,
    /// The scanner end, opened once per plug (socat keeps running when it is closed, but a
    /// held descriptor keeps the pair's state simple).
    scanner: Option<File>,
    log_path: PathBuf,
}

impl SerialLink {
    /// Starts socat and waits until both links exist.
    pub async fn start() -> SerialLink {
        let dir = tempfile::Builder::new()
            .prefix("dockgate-hil-serial-")
            .tempdir()
            .expect("creating the serial tempdir");
        let log_path = dir.path().join("socat.log");
        let mut link = SerialLink {
            dir,
            child: None,
            scanner: None,
            log_path,
        };
        link.plug().await;
        link
    }

    /// The link dockgate opens (`path` of the serial device).
    pub fn device_path(&self) -> PathBuf {
        self.dir.path().join("dockgate")
    }

    /// The link the scanner end is reached through.
    pub fn scanner_path(&self) -> PathBuf {
        self.dir.path().join("scanner")
    }

    /// What socat logged (all runs).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    async fn plug(&mut self) {
        assert!(self.child.is_none(), "socat is already running");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("opening the socat log");
        let scanner = format!("pty,raw,echo=0,link={}", self.scanner_path().display());
        let device = format!("pty,raw,echo=0,link={}", self.device_path().display());
        let child = Command::new("socat")
            .args(["-d", "-d", &scanner, &device])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start socat (see hil-tests/run.sh): {e}"));
        self.child = Some(child);
        let start = Instant::now();
        while !(self.scanner_path().exists() && self.device_path().exists()) {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                self.child = None;
                panic!("socat exited at start ({status}); its log:\n{}", self.log());
            }
            assert!(
                start.elapsed() < START_TIMEOUT,
                "socat did not create its links within {START_TIMEOUT:?}; its log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let scanner = OpenOptions::new()
            .write(true)
            .open(self.scanner_path())
            .unwrap_or_else(|e| panic!("opening {}: {e}", self.scanner_path().display()));
        self.scanner = Some(scanner);
    }

    /// Writes raw bytes to the scanner end (on a blocking thread: a large write waits for
    /// dockgate to read).
    pub async fn write(&mut self, bytes: &[u8]) {
        let mut file = self
            .scanner
            .take()
            .expect("write: the scanner is unplugged");
        let bytes = bytes.to_vec();
        let n = bytes.len();
        let writing = tokio::task::spawn_blocking(move || {
            let result = file.write_all(&bytes).and_then(|()| file.flush());
            (file, result)
        });
        let (file, result) = tokio::time::timeout(WRITE_TIMEOUT, writing)
            .await
            .unwrap_or_else(|_| {
                panic!("writing {n} bytes to the scanner pty took over {WRITE_TIMEOUT:?}")
            })
            .expect("the pty writer thread panicked");
        result.unwrap_or_else(|e| panic!("writing {n} bytes to the scanner pty: {e}"));
        self.scanner = Some(file);
    }

    /// Writes one scan and a CR LF terminator.
    pub async fn write_line(&mut self, line: impl AsRef<[u8]>) {
        let mut bytes = line.as_ref().to_vec();
        bytes.extend_from_slice(b"\r\n");
        self.write(&bytes).await;
    }

    /// Unplugs: SIGTERM to socat (it closes both ptys and removes the links) and waits.
    pub async fn unplug(&mut self) {
        self.scanner = None;
        let mut child = self.child.take().expect("unplug: socat is not running");
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let start = Instant::now();
        while child.try_wait().expect("waiting for socat").is_none() {
            if start.elapsed() > Duration::from_secs(5) {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Replugs: starts socat again on the same links.
    pub async fn replug(&mut self) {
        self.plug().await;
    }
}

impl Drop for SerialLink {
    fn drop(&mut self) {
        self.scanner = None;
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "----- socat log -----\n{}----- end of socat log -----",
                self.log()
            );
        }
    }
}

//! What a test daemon is started with: its sinks and the rest of its configuration.

use std::path::{Path, PathBuf};

use super::standin::StandIn;

/// One `[sinks.<name>]` section. Defaults suit tests: short retries and timeouts.
#[derive(Debug, Clone)]
pub struct SinkSpec {
    name: String,
    url: String,
    events: Vec<String>,
    batch_max_events: usize,
    concurrency: usize,
    timeout: String,
    retry_initial: String,
    retry_max: String,
    /// More of the sink's table: keys, then its sub-tables.
    extra: String,
}

impl SinkSpec {
    /// A sink named `name` posting to `standin`, taking every event type.
    pub fn new(name: &str, standin: &StandIn) -> Self {
        Self {
            name: name.to_owned(),
            url: standin.url(),
            events: vec!["*".to_owned()],
            batch_max_events: 1,
            concurrency: 4,
            timeout: "1s".to_owned(),
            retry_initial: "50ms".to_owned(),
            retry_max: "1s".to_owned(),
            extra: String::new(),
        }
    }

    /// Posts to `url` instead (an HTTPS front, say).
    pub fn url(mut self, url: &str) -> Self {
        self.url = url.to_owned();
        self
    }

    /// Appends to the sink's table: `key = value` lines, then `[sinks.<name>.x]` tables.
    pub fn with(mut self, toml: &str) -> Self {
        self.extra.push_str(toml);
        if !self.extra.ends_with('\n') {
            self.extra.push('\n');
        }
        self
    }

    /// Routes only these event type globs to the sink.
    pub fn events(mut self, globs: &[&str]) -> Self {
        self.events = globs.iter().map(|g| g.to_string()).collect();
        self
    }

    /// Sends CloudEvents batches of up to `n` events.
    pub fn batch(mut self, n: usize) -> Self {
        self.batch_max_events = n;
        self
    }

    /// Requests in flight at once.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }

    /// Per-request timeout.
    pub fn timeout(mut self, t: &str) -> Self {
        self.timeout = t.to_owned();
        self
    }

    /// Longest backoff and probe interval of a paused sink.
    pub fn retry_max(mut self, t: &str) -> Self {
        self.retry_max = t.to_owned();
        self
    }

    pub(super) fn toml(&self) -> String {
        let events: Vec<String> = self.events.iter().map(|e| format!("{e:?}")).collect();
        format!(
            "[sinks.{name}]\nurl = {url:?}\nevents = [{events}]\nbatch_max_events = {batch}\nconcurrency = {conc}\n\
             timeout = {timeout:?}\nretry_initial = {ri:?}\nretry_max = {rm:?}\n{extra}",
            name = self.name,
            url = self.url,
            events = events.join(", "),
            batch = self.batch_max_events,
            conc = self.concurrency,
            timeout = self.timeout,
            ri = self.retry_initial,
            rm = self.retry_max,
            extra = self.extra,
        )
    }
}

/// Everything that varies between test daemons.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    pub(super) sinks: Vec<SinkSpec>,
    pub(super) max_disk: Option<String>,
    pub(super) max_body: Option<String>,
    pub(super) public_listen: Option<String>,
    pub(super) extra: String,
    pub(super) data_tmpfs: Option<String>,
    pub(super) buffer: Option<PathBuf>,
    pub(super) env: Vec<(String, String)>,
    pub(super) data_at: Option<PathBuf>,
    pub(super) sync: Option<&'static str>,
}

impl Setup {
    /// A daemon with these sinks.
    pub fn new(sinks: Vec<SinkSpec>) -> Self {
        Self {
            sinks,
            ..Default::default()
        }
    }

    /// `buffer.max_disk`.
    pub fn max_disk(mut self, size: &str) -> Self {
        self.max_disk = Some(size.to_owned());
        self
    }

    /// `admin.max_body`.
    pub fn max_body(mut self, size: &str) -> Self {
        self.max_body = Some(size.to_owned());
        self
    }

    /// `admin.public_listen`: the read-only listener, on this address.
    pub fn public_listen(mut self, addr: &str) -> Self {
        self.public_listen = Some(addr.to_owned());
        self
    }

    /// Puts the data directory on a tmpfs of this size (`mount -o size=`), so a test can fill
    /// the disk for real. Needs the right to mount (see [`can_mount_tmpfs`]).
    pub fn data_on_tmpfs(mut self, size: &str) -> Self {
        self.data_tmpfs = Some(size.to_owned());
        self
    }

    /// Keeps the data directory at `dir` (say a filesystem the test mounted) instead of in the
    /// daemon's tempdir.
    pub fn data_at(mut self, dir: &Path) -> Self {
        self.data_at = Some(dir.to_owned());
        self
    }

    /// `buffer.sync` (`full` or `normal`; the daemon's default otherwise).
    pub fn sync(mut self, mode: &'static str) -> Self {
        self.sync = Some(mode);
        self
    }

    /// Starts on a copy of this buffer file (one an earlier dockgate left, say).
    pub fn buffer_from(mut self, file: &Path) -> Self {
        self.buffer = Some(file.to_owned());
        self
    }

    /// Sets an environment variable of the daemon (the proxy variables are cleared otherwise).
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Appends TOML tables (`[mqtt]`, `[barcodes]`, `[devices.<id>]` ...) to the config.
    pub fn toml(mut self, tables: &str) -> Self {
        self.extra.push_str(tables);
        if !self.extra.ends_with('\n') {
            self.extra.push('\n');
        }
        self
    }
}

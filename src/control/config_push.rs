//! Configuration changes at run time (DESIGN §6): signed pushes from central IT on
//! `dockgate/<site>/config`, the local file re-read on SIGHUP, and `dockgate config rollback`.
//!
//! Every change goes the same way: checked (for a push: the minisign signature, against the
//! keys of `[config_push] public_key_file`), parsed and validated as `dockgate config validate`
//! does, held against the running configuration (the same `site.id`; a `version` above every
//! version this box has applied, so an older push is refused, also after a restart;
//! `site.id`, `data_dir` and `config_push` unchanged), then applied without a restart
//! by the daemon's wiring, recorded in the data directory ([`history`]) and reported, retained,
//! on `dockgate/<site>/config/status`. A refused change changes nothing and says exactly why.
//! The text of a configuration applied before, coming again (brokers resend the retained
//! push), is no news: counted, logged, not answered.
//!
//! At start, [`startup`] picks the configuration to run: the newest, by `version`, of the
//! local file and the last applied change.

pub mod history;
mod startup;
pub mod verify;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{error, info, warn};

use self::history::{History, Source};
pub use self::startup::{startup, Startup};
use self::verify::TrustedKeys;
use crate::config::{Config, Problem};
use crate::devices::mqtt::{ControlMessage, StatusPublisher};
use crate::model::{now_ms, rfc3339_ms};

/// The configuration topic of site `site`.
pub fn config_topic(site: &str) -> String {
    format!("dockgate/{site}/config")
}

/// The topic the outcome of every change is published on, retained.
pub fn status_topic(site: &str) -> String {
    format!("dockgate/{site}/config/status")
}

/// A push as central IT publishes it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushMessage {
    /// The whole TOML text.
    pub config: String,
    /// The minisign signature of exactly those bytes (the text of a `.minisig` file).
    pub signature: String,
}

/// The outcome of a change, as published on the status topic.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChangeStatus {
    /// The version the change carried (none when it could not even be read).
    pub version: Option<u64>,
    /// `applied` or `rejected`.
    pub status: String,
    /// Why it was refused.
    pub error: Option<String>,
    /// When, RFC 3339.
    pub at: String,
    /// `push`, `local` or `rollback`.
    pub origin: String,
    /// The version that runs after it (the same as before when it was refused).
    #[serde(default)]
    pub running: u64,
    /// A refusal that the same push can never get past (unlike a file or key missing on the
    /// box): the push is remembered, and its copies are no news.
    #[serde(skip)]
    pub for_good: bool,
}

/// What the daemon's wiring is asked to do: run this configuration from now on.
pub struct ApplyRequest {
    /// The new configuration, validated.
    pub config: Arc<Config>,
    /// Where it came from, for people.
    pub origin: String,
    /// Whether it runs now; the reason when not (nothing changed then).
    pub reply: oneshot::Sender<Result<(), String>>,
}

/// Something that may change the configuration.
pub enum Trigger {
    /// A message on the configuration topic.
    Push(ControlMessage),
    /// SIGHUP: read the local file again.
    Reload,
    /// `dockgate config rollback`: back to the configuration applied before the running one.
    Rollback(oneshot::Sender<Result<RolledBack, String>>),
}

/// What a rollback did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RolledBack {
    /// The version that ran before.
    pub from: u64,
    /// The version that runs now.
    pub to: u64,
}

/// Validation problems on one line.
fn one_line(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| {
            let mut s = String::new();
            if let Some(line) = p.line {
                s.push_str(&format!("line {line}: "));
            }
            if !p.key.is_empty() {
                s.push_str(&format!("key `{}`: ", p.key));
            }
            s.push_str(&p.message);
            s
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The task that takes every change of configuration, one at a time.
pub struct ConfigChanges {
    site: String,
    local_path: PathBuf,
    data_dir: PathBuf,
    /// None without `[config_push]`: pushes are not taken.
    keys: Option<TrustedKeys>,
    running: Arc<Config>,
    running_text: String,
    /// The local file as last read (at start, or by the last reload): a reload that finds it
    /// unchanged while a push runs has nothing new to decide, as when it is sent only to read
    /// the trusted keys again.
    local_seen: Option<String>,
    /// The running configuration is the local file's, not recorded yet.
    unrecorded_local: bool,
    /// An apply found the daemon stopping: nothing more is decided.
    stopping: bool,
    apply: mpsc::Sender<ApplyRequest>,
    status: watch::Receiver<Option<StatusPublisher>>,
}

impl ConfigChanges {
    /// Changes of the running `config` (whose text is `text`, from the local file when
    /// `from_local`), read from `local_path` on SIGHUP, applied through `apply`, reported
    /// through the publisher `status` holds. Reads the trusted keys (when pushes are taken).
    pub fn new(
        config: Arc<Config>,
        text: String,
        local_path: PathBuf,
        from_local: bool,
        apply: mpsc::Sender<ApplyRequest>,
        status: watch::Receiver<Option<StatusPublisher>>,
    ) -> Result<Self, verify::SignatureError> {
        let keys = match &config.config_push {
            Some(push) => Some(TrustedKeys::load(&push.public_key_file)?),
            None => None,
        };
        if let Some(keys) = &keys {
            info!(keys = %keys.ids().join(", "), "Configuration pushes are taken, signed by these keys.");
        }
        let local_seen = if from_local {
            Some(text.clone())
        } else {
            read_text(&local_path).ok()
        };
        Ok(Self {
            site: config.site.id.clone(),
            data_dir: config.site.data_dir.clone(),
            local_path,
            keys,
            running: config,
            running_text: text,
            local_seen,
            unrecorded_local: from_local,
            stopping: false,
            apply,
            status,
        })
    }

    /// Takes changes, one at a time, until both the trigger senders and the senders of
    /// configuration-topic messages are gone.
    pub async fn run(
        mut self,
        mut triggers: mpsc::Receiver<Trigger>,
        mut pushes: mpsc::Receiver<ControlMessage>,
    ) {
        metrics::gauge!("dockgate_config_version").set(self.running.version as f64);
        self.record_start().await;
        let (mut triggers_open, mut pushes_open) = (true, true);
        while triggers_open || pushes_open {
            let trigger = tokio::select! {
                t = triggers.recv(), if triggers_open => match t {
                    Some(t) => t,
                    None => { triggers_open = false; continue; }
                },
                m = pushes.recv(), if pushes_open => match m {
                    Some(m) => Trigger::Push(m),
                    None => { pushes_open = false; continue; }
                },
            };
            if let Some(status) = self.handle(trigger).await {
                self.report(&status).await;
            }
        }
    }

    /// Records the local file the daemon started with, when it is not what was recorded last,
    /// so that a rollback after the first push returns to it.
    async fn record_start(&mut self) {
        if !std::mem::take(&mut self.unrecorded_local) {
            return;
        }
        let (data_dir, text, version) = (
            self.data_dir.clone(),
            self.running_text.clone(),
            self.running.version,
        );
        let recorded = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let mut history = History::open(&data_dir)?;
            if history.newest().is_some_and(|e| e.config == text) {
                return Ok(());
            }
            history
                .record(version, Source::Local, None, &text, rfc3339_ms(now_ms()))
                .map(drop)
        })
        .await;
        if let Ok(Err(e)) = recorded {
            warn!(error = %e, "Recording the configuration started with failed; a rollback cannot return to it.");
        }
    }

    /// Deals with one trigger; returns the outcome to report, if there is one.
    async fn handle(&mut self, trigger: Trigger) -> Option<ChangeStatus> {
        match trigger {
            Trigger::Push(message) => {
                let status = self.push(&message).await;
                if self.stopping {
                    // Not decided: no PUBACK and no status, so the broker sends it again to the
                    // next start.
                    return None;
                }
                // Its PUBACK follows: the outcome is decided (and, if applied, recorded).
                let _ = message.done.send(());
                status
            }
            // A box's own file is its own business until it runs: a refused reload (a stale file
            // on a box central IT pushes to, say) is logged, not reported over the status of
            // what runs.
            Trigger::Reload => self.reload().await.filter(|s| s.status == "applied"),
            Trigger::Rollback(reply) => {
                let (result, status) = match self.rollback().await {
                    Ok((rolled, status)) => (Ok(rolled), Some(status)),
                    Err(why) => {
                        self.count(Source::Rollback, "rejected");
                        (Err(why), None)
                    }
                };
                let _ = reply.send(result);
                status
            }
        }
    }

    async fn push(&mut self, message: &ControlMessage) -> Option<ChangeStatus> {
        self.keys.as_ref()?;
        // A retained push refused for good comes again at every new session: decided already.
        let digest = hex(&Sha256::digest(&message.payload));
        if self.refused_before(&digest).await {
            info!("A push this box refused before came again; nothing to do.");
            metrics::counter!("dockgate_config_pushes_total", "result" => "unchanged").increment(1);
            return None;
        }
        let status = self.judge(message).await?;
        if status.for_good && !self.stopping {
            let data_dir = self.data_dir.clone();
            let remembered = tokio::task::spawn_blocking(move || {
                History::open(&data_dir)?.record_refused(&digest)
            })
            .await;
            if !matches!(remembered, Ok(Ok(()))) {
                warn!("The refused push is not remembered; its next copy is checked again.");
            }
        }
        Some(status)
    }

    async fn judge(&mut self, message: &ControlMessage) -> Option<ChangeStatus> {
        let keys = self.keys.clone()?;
        let push: PushMessage = match serde_json::from_slice(&message.payload) {
            Ok(p) => p,
            Err(e) => {
                let why = format!(
                    "not a configuration push: expected a JSON object {{\"config\", \"signature\"}} ({e})"
                );
                return Some(self.refused(Source::Push, None, why));
            }
        };
        let signed_by = match keys.verify(push.config.as_bytes(), &push.signature) {
            Ok(key) => key,
            Err(e) => {
                let version = version_of(&push.config);
                let mut status = self.refused(Source::Push, version, e.to_string());
                // A key added to the trusted file (and a reload) lets it in.
                status.for_good = !matches!(e, verify::SignatureError::UnknownKey { .. });
                return Some(status);
            }
        };
        // What the broker keeps is sent again at every new session (through a bridge, even as
        // a fresh message), and a push acknowledged too late comes again: a configuration this
        // box has applied already (the running one, or one it left by a rollback) is no news.
        // It changes nothing and does not overwrite the status of what runs.
        if push.config == self.running_text || self.applied_before(&push.config).await {
            let version = version_of(&push.config);
            info!(version = %shown(version), running = self.running.version,
                "A configuration this box applied before came again; nothing to do (a change needs a higher version).");
            metrics::counter!("dockgate_config_pushes_total", "result" => "unchanged").increment(1);
            return None;
        }
        Some(
            self.change(push.config, Source::Push, Some(signed_by))
                .await,
        )
    }

    async fn reload(&mut self) -> Option<ChangeStatus> {
        info!(path = %self.local_path.display(), "SIGHUP: reading the local configuration file again.");
        // A key added to the file for a rotation counts from the reload on.
        if let Some(push) = &self.running.config_push {
            match TrustedKeys::load(&push.public_key_file) {
                Ok(keys) => {
                    info!(keys = %keys.ids().join(", "), "Configuration pushes are taken, signed by these keys.");
                    self.keys = Some(keys);
                }
                Err(e) => warn!(error = %e, "Keeping the trusted keys read before."),
            }
        }
        let text = match read_text(&self.local_path) {
            Ok(t) => t,
            Err(why) => return Some(self.refused(Source::Local, None, why)),
        };
        if text == self.running_text {
            info!(
                version = self.running.version,
                "The local file is what runs; nothing to do."
            );
            self.count(Source::Local, "unchanged");
            return None;
        }
        if self.local_seen.as_ref() == Some(&text) {
            info!(
                version = self.running.version,
                file_version = version_of(&text),
                "The local file has not changed since it was last read; the running \
                 configuration stays."
            );
            self.count(Source::Local, "unchanged");
            return None;
        }
        self.local_seen = Some(text.clone());
        Some(self.change(text, Source::Local, None).await)
    }

    async fn rollback(&mut self) -> Result<(RolledBack, ChangeStatus), String> {
        let from = self.running.version;
        let data_dir = self.data_dir.clone();
        let target = tokio::task::spawn_blocking(move || {
            History::open(&data_dir).map(|h| h.before(from).cloned())
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("reading the applied configurations: {e}"))?;
        let Some(target) = target else {
            let why = format!("no configuration older than version {from} is kept to go back to");
            warn!(error = %why, "Rollback refused.");
            return Err(why);
        };
        let config = match Config::parse(&target.config) {
            Ok(c) => c,
            Err(problems) => {
                return Err(format!(
                    "version {} no longer validates: {}",
                    target.version,
                    one_line(&problems)
                ))
            }
        };
        let fixed = self.running.fixed_changes(&config);
        if !fixed.is_empty() {
            return Err(format!(
                "version {} has another {}",
                target.version,
                fixed.join(", ")
            ));
        }
        info!(from, to = target.version, "Rolling back the configuration.");
        let status = self
            .apply_and_record(config, target.config.clone(), Source::Rollback, None)
            .await?;
        let rolled = RolledBack {
            from,
            to: target.version,
        };
        Ok((rolled, status))
    }

    /// Checks and applies a pushed or reloaded configuration; returns the outcome.
    async fn change(
        &mut self,
        text: String,
        source: Source,
        signed_by: Option<String>,
    ) -> ChangeStatus {
        let config = match Config::parse(&text) {
            Ok(c) => c,
            Err(problems) => {
                let why = format!("invalid configuration: {}", one_line(&problems));
                return self.refused(source, version_of(&text), why);
            }
        };
        if config.site.id != self.site {
            let why = format!(
                "the configuration is for site {:?}, this is site {:?}",
                config.site.id, self.site
            );
            return self.refused(source, Some(config.version), why);
        }
        let highest = self.highest().await;
        if config.version <= highest {
            let why = format!(
                "version {} is not above {highest}, the highest version this site has applied; \
                 a replay or an older configuration is refused (raise version)",
                config.version
            );
            return self.refused(source, Some(config.version), why);
        }
        let fixed = self.running.fixed_changes(&config);
        if !fixed.is_empty() {
            let why = format!(
                "{} cannot be changed remotely or by a reload (restart with an edited local file)",
                fixed.join(", ")
            );
            return self.refused(source, Some(config.version), why);
        }
        let version = config.version;
        match self.apply_and_record(config, text, source, signed_by).await {
            Ok(status) => status,
            Err(why) => {
                // A file missing on the box, a port taken: fixing the box lets it in.
                let mut status = self.refused(source, Some(version), format!("not applied: {why}"));
                status.for_good = false;
                status
            }
        }
    }

    /// Applies a checked configuration and records it; returns the outcome to report.
    async fn apply_and_record(
        &mut self,
        config: Config,
        text: String,
        source: Source,
        signed_by: Option<String>,
    ) -> Result<ChangeStatus, String> {
        let config = Arc::new(config);
        let origin = match (&source, &signed_by) {
            (Source::Push, Some(key)) => format!("push signed by key {key}"),
            (Source::Local, _) => format!("local file {}", self.local_path.display()),
            (s, _) => s.as_str().to_owned(),
        };
        let (reply, answer) = oneshot::channel();
        let request = ApplyRequest {
            config: config.clone(),
            origin,
            reply,
        };
        let stopping = || "dockgate is shutting down".to_owned();
        if self.apply.send(request).await.is_err() {
            self.stopping = true;
            return Err(stopping());
        }
        match answer.await {
            Ok(result) => result?,
            Err(_) => {
                self.stopping = true;
                return Err(stopping());
            }
        }
        let version = config.version;
        let previous = self.running.version;
        self.running = config;
        self.running_text = text.clone();
        let data_dir = self.data_dir.clone();
        let at = rfc3339_ms(now_ms());
        let recorded = tokio::task::spawn_blocking(move || {
            History::open(&data_dir)?.record(version, source, signed_by, &text, at)
        })
        .await;
        match recorded {
            Ok(Ok(_)) => {}
            // It runs, but a restart would not find it: say so loudly.
            Ok(Err(e)) => {
                error!(version, error = %e, "Configuration applied but not recorded; a restart goes back to the one before.")
            }
            Err(e) => error!(version, error = %e, "Configuration applied but not recorded."),
        }
        info!(
            version,
            from = previous,
            origin = source.as_str(),
            "Configuration applied."
        );
        metrics::gauge!("dockgate_config_version").set(version as f64);
        self.count(source, "applied");
        Ok(ChangeStatus {
            version: Some(version),
            status: "applied".into(),
            error: None,
            at: rfc3339_ms(now_ms()),
            origin: source.as_str().into(),
            running: version,
            for_good: false,
        })
    }

    fn refused(&self, source: Source, version: Option<u64>, why: String) -> ChangeStatus {
        warn!(version = %shown(version), origin = source.as_str(), error = %why, "Configuration change refused; nothing changed.");
        self.count(source, "rejected");
        ChangeStatus {
            version,
            status: "rejected".into(),
            error: Some(why),
            at: rfc3339_ms(now_ms()),
            origin: source.as_str().into(),
            running: self.running.version,
            for_good: true,
        }
    }

    fn count(&self, source: Source, result: &'static str) {
        match source {
            Source::Local => {
                metrics::counter!("dockgate_config_reloads_total", "result" => result).increment(1)
            }
            Source::Rollback => {
                metrics::counter!("dockgate_config_rollbacks_total", "result" => result)
                    .increment(1)
            }
            Source::Push => {
                metrics::counter!("dockgate_config_pushes_total", "result" => result).increment(1)
            }
        }
    }

    /// Publishes the outcome, retained, when a site broker is there.
    async fn report(&self, status: &ChangeStatus) {
        let publisher = self.status.borrow().clone();
        let (Some(publisher), Ok(payload)) = (publisher, serde_json::to_vec(status)) else {
            return;
        };
        if let Err(e) = publisher
            .publish_retained(&status_topic(&self.site), payload)
            .await
        {
            warn!(error = %e, "Publishing the configuration status failed.");
        }
    }

    /// Whether `text` is a configuration this box has applied (and still keeps).
    async fn refused_before(&self, digest: &str) -> bool {
        let (data_dir, digest) = (self.data_dir.clone(), digest.to_owned());
        tokio::task::spawn_blocking(move || {
            History::open(&data_dir).map(|h| h.refused_before(&digest))
        })
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or(false)
    }

    async fn applied_before(&self, text: &str) -> bool {
        let (data_dir, text) = (self.data_dir.clone(), text.to_owned());
        tokio::task::spawn_blocking(move || History::open(&data_dir).map(|h| h.has_applied(&text)))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(false)
    }

    /// The highest version applied so far: the running one, or more (after a rollback).
    async fn highest(&self) -> u64 {
        let data_dir = self.data_dir.clone();
        let recorded =
            tokio::task::spawn_blocking(move || History::open(&data_dir).map(|h| h.highest()))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or(0);
        recorded.max(self.running.version)
    }
}

/// `version` of a TOML text that may not validate.
fn version_of(text: &str) -> Option<u64> {
    let table = text.parse::<toml::Table>().ok()?;
    u64::try_from(table.get("version")?.as_integer()?).ok()
}

fn read_text(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8 text", path.display()))
}

/// A version for the log: the number, or `unknown` when the text did not say.
fn shown(version: Option<u64>) -> String {
    version.map_or_else(|| "unknown".to_owned(), |v| v.to_string())
}

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;

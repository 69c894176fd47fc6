//! Configuration: the TOML file of DESIGN §5, parsed with serde and then validated as a whole.
//!
//! `dockgate config validate` and `dockgate run` share [`Config::load_with`], so a file that
//! validates is a file the daemon starts with. Every problem is reported (not just the first),
//! each naming the file, the line, the key and what was expected. Checks that need a stage's
//! own knowledge (the MQTT connection's certificates, say) are handed in by the caller and run
//! once the file itself is sound, so this module imports none of the stages.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

pub mod devices;

pub use self::devices::{BarcodesConfig, DeviceConfig, MqttConfig, SourceKind};

/// Where the daemon looks for its configuration when neither `--config` nor
/// `$DOCKGATE_CONFIG` says otherwise.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/dockgate/dockgate.toml";

/// Largest configuration file accepted; anything bigger is a mistake, not a config.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Increases with every pushed change; a push with a version not above the running one is
    /// refused as a replay.
    pub version: u64,
    /// Identity of this warehouse and where its buffer lives.
    pub site: SiteConfig,
    /// The local admin API.
    #[serde(default)]
    pub admin: AdminConfig,
    /// HTTP destinations, by name (`erp`, `crm`, ...).
    #[serde(default)]
    pub sinks: BTreeMap<String, SinkConfig>,
    /// The on-disk buffer.
    #[serde(default)]
    pub buffer: BufferConfig,
    /// The site MQTT broker (needed by MQTT devices).
    #[serde(default)]
    pub mqtt: Option<MqttConfig>,
    /// Plain-text barcode classification.
    #[serde(default)]
    pub barcodes: BarcodesConfig,
    /// Scanners, sensors and HTTP inputs, by device id.
    #[serde(default)]
    pub devices: BTreeMap<String, DeviceConfig>,
}

/// `[site]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// Site id, used in event sources (`dockgate://<id>/...`) and MQTT topics.
    pub id: String,
    /// Directory of the buffer (and of the files dockgate keeps beside it); created with mode
    /// 0700 if missing. One dockgate at a time: a second one on the same directory refuses to
    /// start.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
}

/// `[admin]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Address of the admin API. Keep it on loopback: the API has no authentication.
    #[serde(default = "default_admin_listen")]
    pub listen: String,
    /// Largest request body accepted by the ingest endpoints.
    #[serde(default = "default_max_body", deserialize_with = "de_size")]
    pub max_body: u64,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: default_admin_listen(),
            max_body: default_max_body(),
        }
    }
}

/// `[sinks.<name>]`: one HTTP destination.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// Where events are POSTed.
    pub url: String,
    /// Event types routed to this sink, as globs where `*` matches any text (dots too).
    #[serde(default = "default_events")]
    pub events: Vec<String>,
    /// Events per request; above 1 the sink receives CloudEvents batches (opt-in, because a
    /// receiver must be known to accept them).
    #[serde(default = "one")]
    pub batch_max_events: usize,
    /// Requests in flight at once (events of different subjects).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Time allowed for one request, answer included.
    #[serde(default = "default_timeout", deserialize_with = "de_duration")]
    pub timeout: Duration,
    /// First retry delay; doubles with each failure (full jitter) up to `retry_max`.
    #[serde(default = "default_retry_initial", deserialize_with = "de_duration")]
    pub retry_initial: Duration,
    /// Longest retry delay, and the probe interval of a paused sink.
    #[serde(default = "default_retry_max", deserialize_with = "de_duration")]
    pub retry_max: Duration,
    /// Optional pace limit in requests per second.
    #[serde(default)]
    pub max_requests_per_second: Option<f64>,
    /// Credentials, read from files.
    #[serde(default)]
    pub auth: AuthConfig,
}

/// `[sinks.<name>.auth]`: at most one scheme, secrets always in files.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// File holding a bearer token (`Authorization: Bearer <token>`).
    pub bearer_token_file: Option<PathBuf>,
    /// User name for HTTP basic auth (with `password_file`).
    pub username: Option<String>,
    /// File holding the basic-auth password.
    pub password_file: Option<PathBuf>,
    /// Name of a custom header (with `header_value_file`), e.g. `X-Api-Key`.
    pub header_name: Option<String>,
    /// File holding the custom header's value.
    pub header_value_file: Option<PathBuf>,
}

/// `[buffer]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BufferConfig {
    /// Disk the buffer may use; when full, see DESIGN §4 for what gives way.
    #[serde(default = "default_max_disk", deserialize_with = "de_size")]
    pub max_disk: u64,
    /// How long delivered events (receipts) and idempotency keys are kept.
    #[serde(default = "default_retention", deserialize_with = "de_duration")]
    pub retention: Duration,
    /// `full`: an acknowledged event survives power loss; `normal`: it survives a crash.
    #[serde(default)]
    pub sync: SyncMode,
}

impl Default for BufferConfig {
    fn default() -> Self {
        Self {
            max_disk: default_max_disk(),
            retention: default_retention(),
            sync: SyncMode::default(),
        }
    }
}

/// SQLite `synchronous` setting of the buffer.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// fsync at every commit: survives power loss.
    #[default]
    Full,
    /// fsync at checkpoints only: survives a process crash, may lose the last commits on power loss.
    Normal,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("/var/lib/dockgate")
}
fn default_admin_listen() -> String {
    "127.0.0.1:8686".to_owned()
}
fn default_max_body() -> u64 {
    4 * 1024 * 1024
}
fn default_events() -> Vec<String> {
    vec!["*".to_owned()]
}
fn one() -> usize {
    1
}
fn default_concurrency() -> usize {
    4
}
fn default_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_retry_initial() -> Duration {
    Duration::from_secs(1)
}
fn default_retry_max() -> Duration {
    Duration::from_secs(300)
}
fn default_max_disk() -> u64 {
    2 * 1024 * 1024 * 1024
}
fn default_retention() -> Duration {
    Duration::from_secs(7 * 24 * 3600)
}

pub(crate) fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    let parsed = humantime::parse_duration(&text).map_err(|error| {
        serde::de::Error::custom(format!(
            "expected a duration such as \"10s\", \"5m\" or \"7d\", got {text:?} ({error})"
        ))
    })?;
    Ok(parsed)
}

pub(crate) fn de_size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let text = String::deserialize(d)?;
    text.parse::<bytesize::ByteSize>()
        .map(|size| size.as_u64())
        .map_err(|error| {
            serde::de::Error::custom(format!(
                "expected a size such as \"512MiB\" or \"2GiB\", got {text:?} ({error})"
            ))
        })
}

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path, e.g. `sinks.erp.timeout`; empty when the file itself is unreadable.
    pub key: String,
    /// 1-based line of the key, when it appears in the file.
    pub line: Option<usize>,
    /// What is wrong and what was expected.
    pub message: String,
}

/// Everything wrong with one configuration file.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    /// The file that was read.
    pub path: PathBuf,
    /// Every problem found, in file order where lines are known.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}", self.path.display())?;
            if let Some(line) = p.line {
                write!(f, ":{line}")?;
            }
            if !p.key.is_empty() {
                write!(f, ": key `{}`", p.key)?;
            }
            write!(f, ": {}", p.message)?;
        }
        Ok(())
    }
}

/// A check run on a configuration that parsed and validated: every problem it finds.
pub type Check<'a> = &'a dyn Fn(&Config) -> Vec<Problem>;

impl Config {
    /// Reads, parses and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Self::load_with(path, &|_| Vec::new())
    }

    /// Reads, parses and validates the file at `path`, then runs `check` on it.
    pub fn load_with(path: &Path, check: Check<'_>) -> Result<Config, ConfigError> {
        let fail = |message: String| ConfigError {
            path: path.to_owned(),
            problems: vec![Problem {
                key: String::new(),
                line: None,
                message,
            }],
        };
        let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot read: {e}")))?;
        if meta.len() > MAX_CONFIG_BYTES {
            return Err(fail(format!(
                "file is {} bytes, larger than the {MAX_CONFIG_BYTES} bytes a configuration may be",
                meta.len()
            )));
        }
        let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read: {e}")))?;
        let text = String::from_utf8(bytes).map_err(|_| fail("not UTF-8 text".to_owned()))?;
        Config::parse_with(&text, check).map_err(|problems| ConfigError {
            path: path.to_owned(),
            problems,
        })
    }

    /// Parses and validates configuration text.
    pub fn parse(text: &str) -> Result<Config, Vec<Problem>> {
        Self::parse_with(text, &|_| Vec::new())
    }

    /// Parses and validates configuration text, then runs `check` on it; shared by file
    /// loading and (later) pushes.
    pub fn parse_with(text: &str, check: Check<'_>) -> Result<Config, Vec<Problem>> {
        let config: Config =
            toml::from_str(text).map_err(|error| vec![toml_problem(text, &error)])?;
        let mut problems = config.validate();
        if problems.is_empty() {
            problems = check(&config);
        }
        if problems.is_empty() {
            return Ok(config);
        }
        for p in &mut problems {
            p.line = line_of_key(text, &p.key);
        }
        problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
        Err(problems)
    }

    /// Checks the rules serde cannot express. Returns every problem found.
    fn validate(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut bad = |key: String, message: String| {
            out.push(Problem {
                key,
                line: None,
                message,
            })
        };
        if !is_name(&self.site.id) {
            bad(
                "site.id".into(),
                "expected a non-empty id of letters, digits, '-', '_' or '.'".into(),
            );
        }
        if self.admin.listen.parse::<SocketAddr>().is_err() {
            bad(
                "admin.listen".into(),
                format!(
                    "expected an address such as \"127.0.0.1:8686\", got {:?}",
                    self.admin.listen
                ),
            );
        }
        if self.buffer.max_disk < 1024 * 1024 {
            bad("buffer.max_disk".into(), "expected at least 1MiB".into());
        }
        if self.buffer.retention < Duration::from_secs(60) {
            bad(
                "buffer.retention".into(),
                "expected at least 1m, so delivery receipts can be inspected".into(),
            );
        }
        for (name, sink) in &self.sinks {
            let key = |field: &str| format!("sinks.{name}.{field}");
            if !is_name(name) {
                bad(
                    format!("sinks.{name}"),
                    "sink names use letters, digits, '-', '_' or '.'".into(),
                );
            }
            match reqwest::Url::parse(&sink.url) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => {}
                Ok(url) => bad(
                    key("url"),
                    format!(
                        "expected an http:// or https:// URL, got scheme {:?}",
                        url.scheme()
                    ),
                ),
                Err(error) => bad(key("url"), format!("expected a URL ({error})")),
            }
            if sink.events.is_empty() || sink.events.iter().any(|g| g.trim().is_empty()) {
                bad(
                    key("events"),
                    "expected a list of non-empty event type globs, e.g. [\"pick.*\"]".into(),
                );
            }
            if !(1..=10_000).contains(&sink.batch_max_events) {
                bad(key("batch_max_events"), "expected 1 to 10000".into());
            }
            if !(1..=256).contains(&sink.concurrency) {
                bad(key("concurrency"), "expected 1 to 256".into());
            }
            if sink.timeout.is_zero() {
                bad(key("timeout"), "expected a duration above zero".into());
            }
            if sink.retry_initial.is_zero() {
                bad(
                    key("retry_initial"),
                    "expected a duration above zero".into(),
                );
            }
            if sink.retry_max < sink.retry_initial {
                bad(
                    key("retry_max"),
                    "expected a duration not below retry_initial".into(),
                );
            }
            if let Some(rate) = sink.max_requests_per_second {
                if !(rate.is_finite() && rate > 0.0) {
                    bad(
                        key("max_requests_per_second"),
                        "expected a number of requests per second above zero".into(),
                    );
                }
            }
            let auth = &sink.auth;
            let schemes = [
                auth.bearer_token_file.is_some(),
                auth.username.is_some() || auth.password_file.is_some(),
                auth.header_name.is_some() || auth.header_value_file.is_some(),
            ];
            if schemes.iter().filter(|s| **s).count() > 1 {
                bad(
                    key("auth"),
                    "expected one scheme: bearer_token_file, username + password_file, or header_name + header_value_file".into(),
                );
            }
            if auth.username.is_some() != auth.password_file.is_some() {
                bad(key("auth"), "username and password_file go together".into());
            }
            if auth.header_name.is_some() != auth.header_value_file.is_some() {
                bad(
                    key("auth"),
                    "header_name and header_value_file go together".into(),
                );
            }
            for (field, file) in [
                ("auth.bearer_token_file", &auth.bearer_token_file),
                ("auth.password_file", &auth.password_file),
                ("auth.header_value_file", &auth.header_value_file),
            ] {
                if let Some(file) = file {
                    if let Err(error) = std::fs::File::open(file) {
                        bad(
                            key(field),
                            format!("cannot read {}: {error}", file.display()),
                        );
                    }
                }
            }
            if let Some(name) = &auth.header_name {
                if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    bad(
                        key("auth.header_name"),
                        format!("{name:?} is not a valid header name"),
                    );
                }
            }
        }
        devices::validate(self.mqtt.as_ref(), &self.barcodes, &self.devices, &mut bad);
        out
    }

    /// Address of the admin API (validated by [`Config::parse`]).
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
            .listen
            .parse()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8686)))
    }
}

pub(crate) fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn toml_problem(text: &str, error: &toml::de::Error) -> Problem {
    let line = error
        .span()
        .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
    // The message names the field (`unknown field `x`, expected one of ...`); the key path is
    // recovered from the table header above the failing line.
    let key = line.map(|l| key_at_line(text, l)).unwrap_or_default();
    Problem {
        key,
        line,
        message: error.message().trim().to_owned(),
    }
}

/// Best-effort dotted key for a 1-based line: the enclosing `[table]` plus the key on the line.
fn key_at_line(text: &str, line: usize) -> String {
    let mut table = String::new();
    let mut key = String::new();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.starts_with('[') {
            table = l.trim_matches(|c| c == '[' || c == ']').trim().to_owned();
        }
        if i + 1 == line {
            if let Some((k, _)) = l.split_once('=') {
                key = k.trim().trim_matches('"').to_owned();
            }
            break;
        }
    }
    match (table.is_empty(), key.is_empty()) {
        (true, _) => key,
        (false, true) => table,
        (false, false) => format!("{table}.{key}"),
    }
}

/// 1-based line where a dotted key path (or its longest existing prefix) is written.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let doc = toml::de::DeTable::parse(text).ok()?;
    let mut table = doc.get_ref();
    let mut found = None;
    for part in key.split('.') {
        let (k, v) = table.iter().find(|(k, _)| k.get_ref().as_ref() == part)?;
        found = Some(k.span().start);
        match v.get_ref() {
            toml::de::DeValue::Table(t) => table = t,
            _ => break,
        }
    }
    found.map(|offset| text[..offset.min(text.len())].matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "version = 1\n[site]\nid = \"wh-test\"\n";

    #[test]
    fn minimal_config_gets_defaults() {
        let c = Config::parse(MINIMAL).unwrap();
        assert_eq!(c.site.id, "wh-test");
        assert_eq!(c.admin.listen, "127.0.0.1:8686");
        assert_eq!(c.buffer.sync, SyncMode::Full);
        assert_eq!(c.buffer.retention, Duration::from_secs(7 * 86400));
        assert_eq!(c.buffer.max_disk, 2 * 1024 * 1024 * 1024);
    }

    #[test]
    fn durations_and_sizes_parse() {
        let text = format!(
            "{MINIMAL}[buffer]\nmax_disk = \"512MiB\"\nretention = \"2d\"\nsync = \"normal\"\n\
             [sinks.erp]\nurl = \"http://127.0.0.1:9/x\"\ntimeout = \"250ms\"\nretry_max = \"5m\"\n"
        );
        let c = Config::parse(&text).unwrap();
        assert_eq!(c.buffer.max_disk, 512 * 1024 * 1024);
        assert_eq!(c.buffer.retention, Duration::from_secs(2 * 86400));
        assert_eq!(c.buffer.sync, SyncMode::Normal);
        let erp = &c.sinks["erp"];
        assert_eq!(erp.timeout, Duration::from_millis(250));
        assert_eq!(erp.retry_max, Duration::from_secs(300));
        assert_eq!(erp.events, vec!["*"]);
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let text = format!("{MINIMAL}[sinks.erp]\nurl = \"http://x/\"\nbatchsize = 3\n");
        let problems = Config::parse(&text).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, Some(6));
        assert_eq!(problems[0].key, "sinks.erp.batchsize");
        assert!(
            problems[0].message.contains("unknown field"),
            "{problems:?}"
        );
    }

    #[test]
    fn bad_duration_says_what_was_expected() {
        let text = format!("{MINIMAL}[buffer]\nretention = \"forever\"\n");
        let problems = Config::parse(&text).unwrap_err();
        assert_eq!(problems[0].line, Some(5));
        assert!(
            problems[0].message.contains("expected a duration"),
            "{problems:?}"
        );
    }

    #[test]
    fn every_semantic_problem_is_reported_with_its_line() {
        let text = format!(
            "{MINIMAL}[sinks.erp]\nurl = \"ftp://x/\"\nconcurrency = 0\nretry_initial = \"10s\"\nretry_max = \"1s\"\n"
        );
        let problems = Config::parse(&text).unwrap_err();
        let keys: Vec<_> = problems.iter().map(|p| (p.key.as_str(), p.line)).collect();
        assert_eq!(
            keys,
            vec![
                ("sinks.erp.url", Some(5)),
                ("sinks.erp.concurrency", Some(6)),
                ("sinks.erp.retry_max", Some(8)),
            ]
        );
    }

    #[test]
    fn unreadable_credential_file_is_a_config_error() {
        let text = format!(
            "{MINIMAL}[sinks.erp]\nurl = \"http://x/\"\n[sinks.erp.auth]\nbearer_token_file = \"/nonexistent/erp.token\"\n"
        );
        let problems = Config::parse(&text).unwrap_err();
        assert_eq!(problems[0].key, "sinks.erp.auth.bearer_token_file");
        assert_eq!(problems[0].line, Some(7));
        assert!(problems[0].message.contains("cannot read"), "{problems:?}");
    }

    #[test]
    fn missing_site_is_an_error() {
        let problems = Config::parse("version = 1\n").unwrap_err();
        assert!(problems[0].message.contains("site"), "{problems:?}");
    }

    #[test]
    fn display_names_file_line_and_key() {
        let e = ConfigError {
            path: PathBuf::from("/etc/dockgate/dockgate.toml"),
            problems: vec![Problem {
                key: "sinks.erp.url".into(),
                line: Some(12),
                message: "expected a URL".into(),
            }],
        };
        assert_eq!(
            e.to_string(),
            "/etc/dockgate/dockgate.toml:12: key `sinks.erp.url`: expected a URL"
        );
    }
}

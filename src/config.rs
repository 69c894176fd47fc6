//! Configuration: the TOML file of DESIGN §5, parsed with serde and then validated as a whole.
//!
//! `dockgate config validate`, `dockgate run` and configuration pushes share [`Config::parse`],
//! so a file that validates is a file the daemon starts with. Every problem is reported (not
//! just the first), each naming the file, the line, the key and what was expected. Files the
//! configuration names (tokens, passwords, certificates, keys) are not read here: a
//! configuration is checked off the box too, and the daemon reads them when the part that uses
//! them starts.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use self::problems::{line_of_key, toml_problem};

pub mod devices;
pub mod nats;
mod problems;
pub mod sinks;

pub use self::devices::{BarcodesConfig, DeviceConfig, MqttConfig, SourceKind};
pub use self::sinks::{AuthConfig, SinkConfig, SinkFormat, SinkKind, SinkTls};

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
    /// Signed configuration pushes from central IT (DESIGN §6); none without this section.
    #[serde(default)]
    pub config_push: Option<ConfigPushConfig>,
}

/// `[config_push]`: accept configurations pushed on `dockgate/<site>/config`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfigPushConfig {
    /// File of the minisign public keys a push may be signed with, one per line (several
    /// during a key rotation); read when the daemon starts.
    pub public_key_file: PathBuf,
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
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Address of the admin API. Keep it on loopback: the API has no authentication.
    #[serde(default = "default_admin_listen")]
    pub listen: String,
    /// Largest request body accepted by the ingest endpoints.
    #[serde(default = "default_max_body", deserialize_with = "de_size")]
    pub max_body: u64,
    /// Address of a second, read-only listener for the floor's screens and a central
    /// Prometheus: only `GET /` (the status page), `/health`, `/ready` and `/metrics`, never
    /// the API (no events, no payloads, no replay). None by default.
    #[serde(default)]
    pub public_listen: Option<String>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: default_admin_listen(),
            max_body: default_max_body(),
            public_listen: None,
        }
    }
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

impl Config {
    /// Reads, parses and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
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
        Config::parse(&text).map_err(|problems| ConfigError {
            path: path.to_owned(),
            problems,
        })
    }

    /// Parses and validates configuration text; shared by file loading and pushes.
    pub fn parse(text: &str) -> Result<Config, Vec<Problem>> {
        let mut config: Config =
            toml::from_str(text).map_err(|error| vec![toml_problem(text, &error)])?;
        for sink in config.sinks.values_mut() {
            sink.fill_defaults();
        }
        let mut problems = config.validate();
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
                format!(
                    "expected an id of letters, digits, '-', '_' or '.', got {:?}",
                    self.site.id
                ),
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
        if let Some(public) = &self.admin.public_listen {
            match public.parse::<SocketAddr>() {
                Err(_) => bad(
                    "admin.public_listen".into(),
                    format!("expected an address such as \"0.0.0.0:8687\", got {public:?}"),
                ),
                Ok(addr) => {
                    if let Ok(admin) = self.admin.listen.parse::<SocketAddr>() {
                        if clash(addr, admin) {
                            bad(
                                "admin.public_listen".into(),
                                format!(
                                    "{public} takes the port of admin.listen ({}): expected another port",
                                    self.admin.listen
                                ),
                            );
                        }
                    }
                }
            }
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
        sinks::validate(&self.sinks, &mut bad);
        if self.config_push.is_some() && self.mqtt.is_none() {
            bad(
                "config_push".into(),
                "pushes arrive on the site broker: [config_push] needs an [mqtt] section".into(),
            );
        }
        devices::validate(self.mqtt.as_ref(), &self.barcodes, &self.devices, &mut bad);
        out
    }

    /// The settings of `self` that `other` changes although a push may not change them
    /// (`site.id`, `site.data_dir`, `config_push`), by key.
    pub fn fixed_changes(&self, other: &Config) -> Vec<&'static str> {
        let mut changed = Vec::new();
        if self.site.id != other.site.id {
            changed.push("site.id");
        }
        if self.site.data_dir != other.site.data_dir {
            changed.push("site.data_dir");
        }
        if self.config_push != other.config_push {
            changed.push("config_push");
        }
        changed
    }

    /// Address of the admin API (validated by [`Config::parse`]).
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
            .listen
            .parse()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8686)))
    }

    /// Address of the read-only listener, if one is configured (validated by
    /// [`Config::parse`]).
    pub fn public_addr(&self) -> Option<SocketAddr> {
        self.admin.public_listen.as_ref()?.parse().ok()
    }
}

/// Whether two listeners cannot both be bound: the same port, on the same address or with
/// either on every address.
fn clash(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

pub(crate) fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
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
    fn public_listen_is_an_address_apart_from_the_admin_api() {
        let c = Config::parse(MINIMAL).unwrap();
        assert_eq!(c.public_addr(), None);
        let with = |public: &str| {
            Config::parse(&format!(
                "{MINIMAL}[admin]\nlisten = \"127.0.0.1:8686\"\npublic_listen = {public:?}\n"
            ))
        };
        let c = with("0.0.0.0:8687").unwrap();
        assert_eq!(c.public_addr(), Some("0.0.0.0:8687".parse().unwrap()));
        for (public, says) in [
            ("floor-screen:80", "expected an address"),
            ("0.0.0.0:8686", "takes the port of admin.listen"),
            ("127.0.0.1:8686", "takes the port of admin.listen"),
        ] {
            let problems = with(public).unwrap_err();
            assert_eq!(problems.len(), 1, "{public}: {problems:?}");
            assert_eq!(problems[0].key, "admin.public_listen");
            assert_eq!(problems[0].line, Some(6), "{public}: {problems:?}");
            assert!(problems[0].message.contains(says), "{public}: {problems:?}");
        }
        // Another address on the same port is fine.
        assert!(with("10.0.0.5:8686").is_ok());
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
    fn a_mistyped_key_gets_the_one_it_is_close_to() {
        let text = format!("{MINIMAL}[sinks.erp]\nurl = \"http://x/\"\nconcurency = 3\n");
        let problems = Config::parse(&text).unwrap_err();
        assert_eq!(
            problems[0].message,
            "unknown field `concurency`; did you mean `concurrency`?"
        );
        // Nothing close: the list of what is known.
        let text = format!("{MINIMAL}[sinks.erp]\nurl = \"http://x/\"\nzzzzzz = 3\n");
        let problems = Config::parse(&text).unwrap_err();
        assert!(
            problems[0]
                .message
                .contains("expected one of `type`, `url`"),
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
    fn sink_tls_and_proxy_settings_are_checked() {
        let text = format!(
            "{MINIMAL}[sinks.erp]\nurl = \"https://x/\"\nproxy = \"proxy:3128\"\n\
             [sinks.erp.tls]\nonly_ca_file = true\nclient_cert_file = \"/etc/dockgate/c.pem\"\n"
        );
        let problems = Config::parse(&text).unwrap_err();
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "sinks.erp.proxy",
                "sinks.erp.tls",
                "sinks.erp.tls.only_ca_file"
            ]
        );
        let good = format!(
            "{MINIMAL}[sinks.erp]\nurl = \"https://x/\"\nproxy = \"http://proxy:3128\"\n\
             [sinks.erp.tls]\nca_file = \"/nonexistent/ca.pem\"\nonly_ca_file = true\n"
        );
        let config = Config::parse(&good).expect("valid without its files");
        assert!(config.sinks["erp"].tls.only_ca_file);
    }

    #[test]
    fn oauth2_keys_go_together_and_alone() {
        let sink = |auth: &str| {
            format!("{MINIMAL}[sinks.erp]\nurl = \"https://x/\"\n[sinks.erp.auth]\n{auth}")
        };
        let full = "oauth2_token_url = \"https://login/t\"\noauth2_client_id = \"dg\"\n\
                    oauth2_client_secret_file = \"/nonexistent/secret\"\n";
        assert!(Config::parse(&sink(full)).is_ok());
        let half = Config::parse(&sink("oauth2_client_id = \"dg\"\n")).unwrap_err();
        assert!(half[0].message.contains("go together"), "{half:?}");
        let both = Config::parse(&sink(&format!("{full}bearer_token_file = \"t\"\n"))).unwrap_err();
        assert!(both[0].message.contains("one scheme"), "{both:?}");
        let url = Config::parse(&sink(&full.replace("https://login/t", "login"))).unwrap_err();
        assert_eq!(url[0].key, "sinks.erp.auth.oauth2_token_url");
    }

    #[test]
    fn files_are_named_not_read() {
        // Checked off the box, where neither the token nor the CA exists.
        let text = format!(
            "{MINIMAL}[sinks.erp]\nurl = \"http://x/\"\n[sinks.erp.auth]\nbearer_token_file = \"/nonexistent/erp.token\"\n\
             [mqtt]\nurl = \"mqtts://broker:8883\"\nca_file = \"/nonexistent/ca.pem\"\n\
             username = \"dg\"\npassword_file = \"/nonexistent/mqtt.pw\"\n\
             [config_push]\npublic_key_file = \"/nonexistent/push.pub\"\n"
        );
        let config = Config::parse(&text).expect("valid without its files");
        assert!(config.config_push.is_some());
    }

    #[test]
    fn config_push_needs_the_site_broker() {
        let text = format!("{MINIMAL}[config_push]\npublic_key_file = \"push.pub\"\n");
        let problems = Config::parse(&text).unwrap_err();
        assert_eq!(problems[0].key, "config_push");
        assert!(problems[0].message.contains("[mqtt]"), "{problems:?}");
    }

    #[test]
    fn fixed_settings_are_named_when_changed() {
        let a = Config::parse(MINIMAL).unwrap();
        let b = Config::parse(&MINIMAL.replace("wh-test", "wh-other")).unwrap();
        assert_eq!(a.fixed_changes(&a), Vec::<&str>::new());
        assert_eq!(a.fixed_changes(&b), ["site.id"]);
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

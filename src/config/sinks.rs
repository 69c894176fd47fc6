//! `[sinks.<name>]`: the destinations events are forwarded to (HTTP receivers, or a NATS
//! JetStream stream), and their checks.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{de_duration, is_name};

/// `[sinks.<name>]`: one destination.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// How events travel: POSTed over HTTP (the default) or published to NATS JetStream.
    #[serde(default, rename = "type")]
    pub kind: SinkKind,
    /// Where events are POSTed; for NATS, the server(s), comma-separated.
    pub url: String,
    /// `type = "nats"`: the JetStream stream that must acknowledge every message.
    pub stream: Option<String>,
    /// `type = "nats"`: the JetStream domain of the servers holding `stream`, when they are
    /// reached through a leaf node (`dockgate doctor` asks the stream API there).
    pub domain: Option<String>,
    /// `type = "nats"`: the subject each event is published on; `{site}`, `{type}` and
    /// `{subject}` are replaced (default [`DEFAULT_NATS_SUBJECT`]).
    pub subject: Option<String>,
    /// Event types routed to this sink, as globs where `*` matches any text (dots too).
    #[serde(default = "default_events")]
    pub events: Vec<String>,
    /// Events per request; above 1 an HTTP sink receives CloudEvents batches (opt-in, because
    /// a receiver must be known to accept them). A NATS sink publishes that many events per
    /// round, each its own message, so it batches by default. Set from `batch_max_events` by
    /// [`SinkConfig::fill_defaults`].
    #[serde(skip)]
    pub batch_max_events: usize,
    /// `batch_max_events` as written, if it is.
    #[serde(default, rename = "batch_max_events")]
    pub batch_max_events_set: Option<usize>,
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
    /// HTTP proxy (`http://proxy.example.com:3128`); without it, `HTTPS_PROXY`, `HTTP_PROXY`
    /// and `NO_PROXY` of the environment apply.
    #[serde(default)]
    pub proxy: Option<String>,
    /// Whom to trust and who to be on TLS.
    #[serde(default)]
    pub tls: SinkTls,
    /// What the body is: CloudEvents, or what a template makes of them.
    #[serde(default)]
    pub format: SinkFormat,
    /// `format = "template"`: the minijinja template.
    pub template_file: Option<PathBuf>,
    /// `format = "template"`: the bodies' `Content-Type`.
    pub content_type: Option<String>,
    /// Tables for the template's `lookup` filter: `[sinks.<name>.lookup.<table>]`, text to text.
    #[serde(default)]
    pub lookup: BTreeMap<String, BTreeMap<String, String>>,
}

/// `type`: how a sink delivers.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    /// HTTP POST to `url`.
    #[default]
    Http,
    /// A publish per event to NATS JetStream, acknowledged by `stream`.
    Nats,
}

/// The subject a NATS sink publishes on unless `subject` says otherwise.
pub const DEFAULT_NATS_SUBJECT: &str = "dockgate.{site}.{type}";

/// `format`: what a sink's bodies are.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SinkFormat {
    /// CloudEvents JSON, one event or a batch.
    #[default]
    CloudEvents,
    /// Rendered by `template_file`.
    Template,
}

/// `[sinks.<name>.tls]`: a company CA, a client certificate.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SinkTls {
    /// CA certificate(s), PEM, trusted in addition to the bundled roots.
    pub ca_file: Option<PathBuf>,
    /// Trust only `ca_file`, not the bundled roots.
    #[serde(default)]
    pub only_ca_file: bool,
    /// Client certificate (PEM, chain allowed), with `client_key_file`.
    pub client_cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    pub client_key_file: Option<PathBuf>,
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
    /// OAuth2 client credentials: the token endpoint.
    pub oauth2_token_url: Option<String>,
    /// OAuth2 client id.
    pub oauth2_client_id: Option<String>,
    /// File holding the OAuth2 client secret.
    pub oauth2_client_secret_file: Option<PathBuf>,
    /// Scope(s) to ask for, space-separated.
    pub oauth2_scope: Option<String>,
    /// NATS: file holding the server's authorization token.
    pub token_file: Option<PathBuf>,
    /// NATS: file holding the NKey seed (`SU...`) the server knows the public key of.
    pub nkey_seed_file: Option<PathBuf>,
    /// NATS: a `.creds` file (user JWT and NKey seed), as `nsc` writes it.
    pub credentials_file: Option<PathBuf>,
}

impl SinkConfig {
    /// Settles the defaults that depend on the sink's type.
    pub fn fill_defaults(&mut self) {
        self.batch_max_events = self.batch_max_events_set.unwrap_or(match self.kind {
            SinkKind::Http => 1,
            SinkKind::Nats => DEFAULT_NATS_BATCH,
        });
    }
}

/// Events a NATS sink publishes per round unless `batch_max_events` says otherwise.
pub const DEFAULT_NATS_BATCH: usize = 100;

fn default_events() -> Vec<String> {
    vec!["*".to_owned()]
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

/// Most sinks one dockgate forwards to.
pub const MAX_SINKS: usize = 64;

/// Checks the sinks; `bad(key, message)` records a problem. Secret files are named, not read:
/// a configuration is checked off the box too, and the files are read when the sink starts.
pub(super) fn validate(sinks: &BTreeMap<String, SinkConfig>, bad: &mut dyn FnMut(String, String)) {
    // The log keeps one bit per sink with each event.
    if sinks.len() > MAX_SINKS {
        bad(
            "sinks".into(),
            format!("at most {MAX_SINKS} sinks, found {}", sinks.len()),
        );
    }
    for (name, sink) in sinks {
        let key = |field: &str| format!("sinks.{name}.{field}");
        if !is_name(name) {
            bad(
                format!("sinks.{name}"),
                "sink names use letters, digits, '-', '_' or '.'".into(),
            );
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
        if sink.tls.client_cert_file.is_some() != sink.tls.client_key_file.is_some() {
            bad(
                key("tls"),
                "client_cert_file and client_key_file go together".into(),
            );
        }
        match sink.format {
            SinkFormat::Template => {
                if sink.template_file.is_none() {
                    bad(
                        key("template_file"),
                        "format = \"template\" needs template_file, the template to render".into(),
                    );
                }
                match &sink.content_type {
                    None => bad(
                        key("content_type"),
                        "format = \"template\" needs content_type, such as \"application/xml\""
                            .into(),
                    ),
                    Some(ct)
                        if reqwest::header::HeaderValue::from_str(ct).is_err()
                            || ct.trim().is_empty() =>
                    {
                        bad(
                            key("content_type"),
                            format!("{ct:?} is not a valid Content-Type"),
                        )
                    }
                    Some(_) => {}
                }
            }
            SinkFormat::CloudEvents => {
                for (field, set) in [
                    ("template_file", sink.template_file.is_some()),
                    ("content_type", sink.content_type.is_some()),
                    ("lookup", !sink.lookup.is_empty()),
                ] {
                    if set {
                        bad(key(field), "only with format = \"template\"".into());
                    }
                }
            }
        }
        match sink.kind {
            SinkKind::Http => validate_http(sink, &key, bad),
            SinkKind::Nats => super::nats::validate(sink, &key, bad),
        }
    }
}

/// What only an HTTP sink has: an http(s) URL, HTTP credentials, a proxy.
fn validate_http(
    sink: &SinkConfig,
    key: &dyn Fn(&str) -> String,
    bad: &mut dyn FnMut(String, String),
) {
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
    let auth = &sink.auth;
    let oauth2 = [
        auth.oauth2_token_url.is_some(),
        auth.oauth2_client_id.is_some(),
        auth.oauth2_client_secret_file.is_some(),
    ];
    let schemes = [
        auth.bearer_token_file.is_some(),
        auth.username.is_some() || auth.password_file.is_some(),
        auth.header_name.is_some() || auth.header_value_file.is_some(),
        oauth2.iter().any(|k| *k) || auth.oauth2_scope.is_some(),
    ];
    if schemes.iter().filter(|s| **s).count() > 1 {
        bad(
            key("auth"),
            "expected one scheme: bearer_token_file, username + password_file, header_name + header_value_file, or oauth2_token_url + oauth2_client_id + oauth2_client_secret_file".into(),
        );
    }
    if schemes[3] && !oauth2.iter().all(|k| *k) {
        bad(
            key("auth"),
            "oauth2_token_url, oauth2_client_id and oauth2_client_secret_file go together".into(),
        );
    }
    if let Some(url) = &auth.oauth2_token_url {
        match reqwest::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => bad(
                key("auth.oauth2_token_url"),
                format!("expected an http:// or https:// URL, got {url:?}"),
            ),
        }
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
    if sink.tls.only_ca_file && sink.tls.ca_file.is_none() {
        bad(
            key("tls.only_ca_file"),
            "only_ca_file needs ca_file, the CA to trust instead".into(),
        );
    }
    if let Some(proxy) = &sink.proxy {
        match reqwest::Url::parse(proxy) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
            _ => bad(
                key("proxy"),
                format!(
                    "expected a proxy URL such as \"http://proxy.example.com:3128\", got {proxy:?}"
                ),
            ),
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
    for (field, set) in [
        ("stream", sink.stream.is_some()),
        ("domain", sink.domain.is_some()),
        ("subject", sink.subject.is_some()),
        ("auth.token_file", sink.auth.token_file.is_some()),
        ("auth.nkey_seed_file", sink.auth.nkey_seed_file.is_some()),
        (
            "auth.credentials_file",
            sink.auth.credentials_file.is_some(),
        ),
    ] {
        if set {
            bad(key(field), "only for sinks of type = \"nats\"".into());
        }
    }
}

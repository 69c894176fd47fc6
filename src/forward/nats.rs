//! NATS side of a sink (`type = "nats"`): each event is published to JetStream as its own
//! message, with `Nats-Msg-Id` = the event id, and counts as delivered only on the stream's
//! publish acknowledgement. A resend after a crash or a lost acknowledgement is therefore
//! dropped by the stream's duplicate window instead of stored twice.
//!
//! A batch goes out in waves: the first event of every subject in it, then (once all of those
//! are acknowledged) the second, and so on. At most one message per subject is unacknowledged,
//! so a message lost in a failover cannot be overtaken by a later one of its subject.
//!
//! The connection is made at the first send, not when the sink is built, so a server that is
//! down at start is a retry like any other; after that the client reconnects by itself.

mod subject;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::context::{PublishAckFuture, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, ErrorCode};
use async_nats::{ConnectErrorKind, ConnectOptions, Event, HeaderMap};
use foldhash::HashMap;
use tracing::{info, warn};

use super::batch::{id_of, Batch};
use super::http::{read_secret, Answer, SinkBuildError};
use super::mapping::Mapping;
use super::retry::Verdict;
use crate::config::nats::servers;
use crate::config::sinks::DEFAULT_NATS_SUBJECT;
use crate::config::SinkConfig;
pub use subject::subject_matches;
use subject::SubjectTemplate;

/// The header that carries the event's subject (its order key) beside the NATS subject.
pub const SUBJECT_HEADER: &str = "Dockgate-Subject";

/// The stream `dockgate doctor`'s probe expects: no stream has this name, so the one that takes
/// the subject refuses the probe unstored.
const PROBE_STREAM: &str = "dockgate-doctor-probe-never-stored";

/// How long after the server reported a permissions or authorization error a publish that
/// got no acknowledgement is put down to it (the server drops such a publish unanswered).
const SERVER_ERROR_WINDOW: Duration = Duration::from_secs(30);

/// What a sink of `type = "nats"` sends with; cheap to clone (one per request).
#[derive(Clone)]
pub struct NatsSink {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    servers: Vec<String>,
    stream: String,
    /// The JetStream domain of the stream's servers, if set.
    domain: Option<String>,
    subject: SubjectTemplate,
    timeout: Duration,
    retry_max: Duration,
    credential: Credential,
    tls: TlsFiles,
    /// The JetStream context once connected; a lock held across connecting, so concurrent
    /// requests wait for one connection instead of each opening their own.
    context: tokio::sync::Mutex<Option<jetstream::Context>>,
    /// The last error the server reported on the connection, and when: a publish the server
    /// refused for permissions is never answered, only reported here.
    server_error: Arc<Mutex<Option<(Instant, String)>>>,
    /// Whether connection events are logged (not for the probe of `dockgate doctor`).
    log_connection: bool,
}

/// What the probe of `dockgate doctor` found.
pub struct Probe {
    /// The servers of the sink's `url`, one of which answered.
    pub server: String,
    /// Its `server_name`.
    pub server_name: String,
    /// Its version.
    pub version: String,
    /// Whether it runs JetStream itself (a leaf node in front of the stream's servers does not).
    pub jetstream: bool,
    /// The stream's settings, or why they could not be read.
    pub stream: Result<StreamFacts, String>,
}

/// The settings of the sink's stream that decide whether it takes and keeps dockgate's events.
pub struct StreamFacts {
    /// Subjects it stores (with wildcards).
    pub subjects: Vec<String>,
    /// Messages in it.
    pub messages: u64,
    /// Copies kept (R1, R3).
    pub replicas: usize,
    /// How long a message id is remembered, so a resend is dropped.
    pub duplicate_window: std::time::Duration,
    /// Largest message it takes (-1: no limit of its own).
    pub max_message_size: i32,
}

/// Credentials read from the sink's files at build time.
enum Credential {
    None,
    UserPassword(String, String),
    Token(String),
    NkeySeed(String),
    /// The contents of a `.creds` file.
    Creds(String),
}

#[derive(Default)]
struct TlsFiles {
    ca_file: Option<PathBuf>,
    client: Option<(PathBuf, PathBuf)>,
}

impl NatsSink {
    /// The publisher of sink `name` in site `site`, its secret files read now.
    pub fn build(name: &str, site: &str, config: &SinkConfig) -> Result<Self, SinkBuildError> {
        Self::build_with(name, site, config, true)
    }

    /// The same for `dockgate doctor`'s probe, which reports for itself and logs nothing.
    pub fn build_for_probe(
        name: &str,
        site: &str,
        config: &SinkConfig,
    ) -> Result<Self, SinkBuildError> {
        Self::build_with(name, site, config, false)
    }

    fn build_with(
        name: &str,
        site: &str,
        config: &SinkConfig,
        log_connection: bool,
    ) -> Result<Self, SinkBuildError> {
        let auth = &config.auth;
        let credential = if let (Some(user), Some(file)) = (&auth.username, &auth.password_file) {
            Credential::UserPassword(user.clone(), read_secret("password_file", file)?)
        } else if let Some(file) = &auth.token_file {
            Credential::Token(read_secret("token_file", file)?)
        } else if let Some(file) = &auth.nkey_seed_file {
            Credential::NkeySeed(read_secret("nkey_seed_file", file)?)
        } else if let Some(file) = &auth.credentials_file {
            let creds =
                std::fs::read_to_string(file).map_err(|source| SinkBuildError::Credential {
                    key: "credentials_file",
                    path: file.display().to_string(),
                    source,
                })?;
            // Checked now, so a broken file fails the start (or the reload), not every send.
            ConnectOptions::with_credentials(&creds).map_err(|_| {
                SinkBuildError::BadCredential {
                    key: "credentials_file",
                    path: file.display().to_string(),
                    problem: "not a NATS .creds file (a JWT and an NKey seed)",
                }
            })?;
            Credential::Creds(creds)
        } else {
            Credential::None
        };
        let tls = &config.tls;
        for (key, file) in [
            ("tls.ca_file", &tls.ca_file),
            ("tls.client_cert_file", &tls.client_cert_file),
            ("tls.client_key_file", &tls.client_key_file),
        ] {
            if let Some(path) = file {
                if let Err(e) = std::fs::metadata(path) {
                    return Err(SinkBuildError::Tls {
                        key,
                        path: path.display().to_string(),
                        problem: e.to_string(),
                    });
                }
            }
        }
        let stream = config
            .stream
            .clone()
            .ok_or_else(|| SinkBuildError::BadUrl("a NATS sink without a stream".into()))?;
        let template = config.subject.as_deref().unwrap_or(DEFAULT_NATS_SUBJECT);
        Ok(Self {
            inner: Arc::new(Inner {
                name: name.to_owned(),
                servers: servers(&config.url).map(str::to_owned).collect(),
                stream,
                domain: config.domain.clone(),
                subject: SubjectTemplate::parse(template, site),
                timeout: config.timeout,
                retry_max: config.retry_max,
                credential,
                tls: TlsFiles {
                    ca_file: tls.ca_file.clone(),
                    client: tls
                        .client_cert_file
                        .clone()
                        .zip(tls.client_key_file.clone()),
                },
                context: tokio::sync::Mutex::new(None),
                server_error: Arc::new(Mutex::new(None)),
                log_connection,
            }),
        })
    }

    /// Publishes the batch's events (or what `mapping` makes of each), wave by wave; the
    /// answer of the whole batch: delivered only when every event was acknowledged.
    pub(super) async fn publish(&self, batch: &Batch, mapping: Option<&Mapping>) -> Answer {
        let js = match self.context().await {
            Ok(js) => js,
            Err(answer) => return answer,
        };
        // rank[i]: how many events of the same subject come before event i in the batch.
        let mut seen: HashMap<&str, usize> = HashMap::default();
        let rank: Vec<usize> = batch
            .subjects
            .iter()
            .map(|s| {
                let r = seen.entry(&**s).or_default();
                *r += 1;
                *r - 1
            })
            .collect();
        let waves = seen.values().copied().max().unwrap_or(0);
        let mut duplicates = 0usize;
        for wave in 0..waves {
            // The NATS subject of event i, rendered again only for a failure's text.
            let subject_of = |i: usize| {
                self.inner
                    .subject
                    .render(&batch.json[i], &batch.subjects[i])
            };
            let mut acks: Vec<(usize, PublishAckFuture)> = Vec::new();
            for i in (0..batch.json.len()).filter(|i| rank[*i] == wave) {
                let message = match self.message(batch, i, mapping) {
                    Ok(m) => m,
                    Err(answer) => return answer,
                };
                match js.send_publish(subject_of(i), message).await {
                    Ok(ack) => acks.push((i, ack)),
                    Err(e) => return self.publish_failed(e, &subject_of(i)),
                }
            }
            // Every acknowledgement of the wave is awaited before the next wave goes out.
            let mut failed: Option<Answer> = None;
            for (i, ack) in acks {
                match ack.await {
                    Ok(ack) if ack.stream == self.inner.stream => {
                        duplicates += ack.duplicate as usize
                    }
                    Ok(ack) => {
                        failed = worse(failed, wrong_stream(&ack.stream, &self.inner.stream));
                    }
                    Err(e) => failed = worse(failed, self.publish_failed(e, &subject_of(i))),
                }
            }
            if let Some(answer) = failed {
                return answer;
            }
        }
        Answer {
            verdict: Verdict::Delivered,
            status: None,
            detail: if duplicates > 0 {
                format!(
                    "acknowledged by stream {}, {duplicates} as duplicates",
                    self.inner.stream
                )
            } else {
                format!("acknowledged by stream {}", self.inner.stream)
            },
            excerpt: String::new(),
        }
    }

    /// Event `i` of the batch as a JetStream message.
    fn message(
        &self,
        batch: &Batch,
        i: usize,
        mapping: Option<&Mapping>,
    ) -> Result<PublishMessage, Answer> {
        let json = &batch.json[i];
        let (payload, content_type) = match mapping {
            None => (
                bytes_of(json),
                "application/cloudevents+json; charset=utf-8",
            ),
            Some(m) => match m.render(std::slice::from_ref(json)) {
                Ok(body) => (body.into_bytes().into(), m.content_type()),
                Err(why) => return Err(super::mapping_failed(why)),
            },
        };
        let mut headers = HeaderMap::new();
        headers.insert(SUBJECT_HEADER, &*batch.subjects[i]);
        headers.insert("Content-Type", content_type);
        Ok(PublishMessage::build()
            .payload(payload)
            .headers(headers)
            .message_id(id_of(json))
            .expected_stream(&self.inner.stream))
    }

    /// What `dockgate doctor` checks: the servers reached with the sink's credentials and
    /// TLS, and the stream's settings. Nothing is published.
    pub async fn probe(&self) -> Result<Probe, Answer> {
        let js = self.context().await?;
        let info = js.client().server_info();
        let stream = match js.get_stream(&self.inner.stream).await {
            Ok(stream) => {
                let info = stream.cached_info();
                Ok(StreamFacts {
                    subjects: info.config.subjects.clone(),
                    messages: info.state.messages,
                    replicas: info.config.num_replicas,
                    duplicate_window: info.config.duplicate_window,
                    max_message_size: info.config.max_message_size,
                })
            }
            Err(e) => Err(e.to_string()),
        };
        Ok(Probe {
            server: self.inner.servers.join(","),
            server_name: info.server_name,
            version: info.version,
            jetstream: info.jetstream,
            stream,
        })
    }

    /// What `dockgate doctor` sends to see that a publish to `subject` reaches the stream: a
    /// message expecting a stream of another name, which JetStream refuses without storing it.
    /// That refusal proves the way there (the permissions of the user logged in, a leaf node's
    /// link, the stream's subjects); any other outcome is what a delivery would meet.
    pub async fn publish_probe(&self, subject: &str) -> Result<(), Answer> {
        let js = self.context().await?;
        let message = PublishMessage::build()
            .payload(bytes::Bytes::from_static(
                b"dockgate doctor: a probe, never stored",
            ))
            .expected_stream(PROBE_STREAM);
        let ack = js
            .send_publish(subject.to_owned(), message)
            .await
            .map_err(|e| self.publish_failed(e, subject))?;
        match ack.await {
            Err(e) if code_of(&e) == Some(ErrorCode::STREAM_NOT_MATCH) => Ok(()),
            Err(e) => Err(self.publish_failed(e, subject)),
            // Stored after all: only by a stream of the probe's name.
            Ok(ack) => Err(wrong_stream(&ack.stream, &self.inner.stream)),
        }
    }

    /// The NATS subject of an event of `event_type` and `subject`.
    pub fn subject_of(&self, event_type: &str, subject: &str) -> String {
        self.inner.subject.render_parts(event_type, subject)
    }

    /// The JetStream context, connecting first if there is none yet.
    async fn context(&self) -> Result<jetstream::Context, Answer> {
        let mut slot = self.inner.context.lock().await;
        if let Some(js) = &*slot {
            return Ok(js.clone());
        }
        let options = self.options().map_err(|detail| Answer {
            verdict: Verdict::Pause {
                reason: "nats_credentials",
            },
            status: None,
            detail,
            excerpt: String::new(),
        })?;
        let client = match options.connect(self.inner.servers.clone()).await {
            Ok(c) => c,
            Err(e) => return Err(connect_failed(&e, &self.inner.servers)),
        };
        if self.inner.log_connection {
            info!(servers = %self.inner.servers.join(","), server = %client.server_info().server_name,
                "Connected to NATS.");
        }
        // Publishes go by subject either way; the domain is for the stream API, which is
        // not extended over a leaf node without one.
        let mut js = match &self.inner.domain {
            Some(domain) => jetstream::with_domain(client, domain),
            None => jetstream::new(client),
        };
        js.set_timeout(self.inner.timeout);
        *slot = Some(js.clone());
        Ok(js)
    }

    fn options(&self) -> Result<ConnectOptions, String> {
        let inner = &self.inner;
        let mut options = match &inner.credential {
            Credential::None => ConnectOptions::new(),
            Credential::UserPassword(u, p) => {
                ConnectOptions::with_user_and_password(u.clone(), p.clone())
            }
            Credential::Token(t) => ConnectOptions::with_token(t.clone()),
            Credential::NkeySeed(s) => ConnectOptions::with_nkey(s.clone()),
            Credential::Creds(c) => ConnectOptions::with_credentials(c)
                .map_err(|e| format!("the credentials file does not parse: {e}"))?,
        };
        if let Some(ca) = &inner.tls.ca_file {
            options = options.add_root_certificates(ca.clone());
        }
        if let Some((cert, key)) = &inner.tls.client {
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
        let name = inner.name.clone();
        let server_error = inner.server_error.clone();
        let log = inner.log_connection;
        let retry_max = inner.retry_max;
        Ok(options
            .name(format!("dockgate {}", inner.name))
            .connection_timeout(inner.timeout.min(Duration::from_secs(5)))
            // Reconnect for ever: the sink's own backoff paces the retries of what was lost.
            .max_reconnects(None)
            .reconnect_delay_callback(move |attempts| reconnect_delay(attempts, retry_max))
            .event_callback(move |event| {
                let name = name.clone();
                let server_error = server_error.clone();
                async move {
                    if let Event::ServerError(e) = &event {
                        if let Ok(mut slot) = server_error.lock() {
                            *slot = Some((Instant::now(), e.to_string()));
                        }
                    }
                    if !log {
                        return;
                    }
                    match &event {
                        Event::Connected => info!(sink = %name, "NATS connection (re)established."),
                        Event::Disconnected => {
                            warn!(sink = %name, "NATS connection lost; reconnecting.")
                        }
                        Event::ServerError(e) => {
                            warn!(sink = %name, error = %e, "The NATS server reported an error.")
                        }
                        other => info!(sink = %name, event = %other, "NATS connection event."),
                    }
                }
            }))
    }

    /// Classifies a failed publish or acknowledgement of a message to `subject`.
    fn publish_failed(&self, e: jetstream::context::PublishError, subject: &str) -> Answer {
        let code = code_of(&e);
        let (verdict, detail) = match (e.kind(), code) {
            (PublishErrorKind::MaxPayloadExceeded, _) => (
                Verdict::Refused { reason: "nats_too_large" },
                format!("larger than the server's max_payload: {e}"),
            ),
            (_, Some(ErrorCode::STREAM_MESSAGE_EXCEEDS_MAXIMUM | ErrorCode::STREAM_HEADER_EXCEEDS_MAXIMUM)) => (
                Verdict::Refused { reason: "nats_too_large" },
                format!("stream {} refuses it as too large: {e}", self.inner.stream),
            ),
            (_, Some(ErrorCode::STREAM_SEALED)) => (
                Verdict::Refused { reason: "nats_stream_sealed" },
                format!("stream {} is sealed: {e}", self.inner.stream),
            ),
            (_, Some(ErrorCode::STREAM_NOT_MATCH)) => {
                return wrong_stream("another", &self.inner.stream)
            }
            (PublishErrorKind::StreamNotFound, _) => (
                Verdict::Retry { reason: "nats_no_stream", retry_after: None },
                format!(
                    "no stream answered for subject {subject} (no responders): stream {} is missing or does not take this subject, the user this sink or its leaf node logs in as may not publish it (is site.id right?), a leaf node's link is down, or the stream has no leader for the moment (a cluster failover); `dockgate doctor` tells which",
                    self.inner.stream
                ),
            ),
            (PublishErrorKind::TimedOut, _) => match self.recent_server_error() {
                Some(error) => (
                    Verdict::Pause { reason: "nats_unauthorized" },
                    format!("no acknowledgement; the server reported: {error}"),
                ),
                None => (
                    Verdict::Retry { reason: "nats_timeout", retry_after: None },
                    format!("no acknowledgement within {:?}", self.inner.timeout),
                ),
            },
            (PublishErrorKind::BrokenPipe, _) => (
                Verdict::Retry { reason: "nats_connection", retry_after: None },
                format!("connection lost before the acknowledgement: {e}"),
            ),
            _ => (
                Verdict::Retry { reason: "nats_error", retry_after: None },
                format!("publish failed: {}", crate::model::error_chain(&e)),
            ),
        };
        let excerpt = code
            .map(|c| format!("JetStream error {}", c.0))
            .unwrap_or_default();
        Answer {
            verdict,
            status: None,
            detail,
            excerpt,
        }
    }

    /// A permissions or authorization error the server reported lately, if any.
    fn recent_server_error(&self) -> Option<String> {
        let slot = self.inner.server_error.lock().ok()?;
        let (at, error) = slot.as_ref()?;
        let lower = error.to_lowercase();
        (at.elapsed() < SERVER_ERROR_WINDOW
            && (lower.contains("permission") || lower.contains("authorization")))
        .then(|| error.clone())
    }
}

/// The JetStream error code of a refused publish, if the stream gave one.
fn code_of(e: &jetstream::context::PublishError) -> Option<ErrorCode> {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<jetstream::Error>())
        .map(|j| j.error_code())
}

/// The wait before reconnect attempt `attempts`: at once, then doubling from 2 ms up to 4 s
/// (the client's own curve), never longer than the sink's `retry_max`.
fn reconnect_delay(attempts: usize, retry_max: Duration) -> Duration {
    if attempts <= 1 {
        return Duration::ZERO;
    }
    let exp = u32::try_from(attempts - 1).unwrap_or(u32::MAX).min(12);
    Duration::from_millis(2u64.pow(exp))
        .min(Duration::from_secs(4))
        .min(retry_max)
}

/// The more telling of two failures: a pause over a refusal over a retry.
fn worse(a: Option<Answer>, b: Answer) -> Option<Answer> {
    let rank = |v: &Verdict| match v {
        Verdict::Pause { .. } => 3,
        Verdict::Refused { .. } => 2,
        Verdict::Retry { .. } => 1,
        Verdict::Delivered => 0,
    };
    match a {
        Some(a) if rank(&a.verdict) >= rank(&b.verdict) => Some(a),
        _ => Some(b),
    }
}

fn wrong_stream(got: &str, want: &str) -> Answer {
    Answer {
        verdict: Verdict::Pause {
            reason: "nats_wrong_stream",
        },
        status: None,
        detail: format!(
            "the subject is stored by {got} stream, not by {want}: correct the sink's stream or subject, or the stream's subjects"
        ),
        excerpt: String::new(),
    }
}

fn connect_failed(e: &async_nats::ConnectError, servers: &[String]) -> Answer {
    // rustls' refusals of a server certificate reach us as I/O errors.
    let text = e.to_string();
    let tls_refused = [
        "certificate",
        "UnknownIssuer",
        "NotValidForName",
        "handshake",
    ]
    .iter()
    .any(|w| text.contains(w));
    let kind = if tls_refused {
        ConnectErrorKind::Tls
    } else {
        e.kind()
    };
    let (verdict, hint) = match kind {
        ConnectErrorKind::AuthorizationViolation | ConnectErrorKind::Authentication => (
            Verdict::Pause {
                reason: "nats_unauthorized",
            },
            ": check the sink's [auth] files against the server's accounts",
        ),
        ConnectErrorKind::Tls => (
            Verdict::Retry {
                reason: "nats_tls",
                retry_after: None,
            },
            ": check tls.ca_file (the CA that signed the server's certificate) and the name in the url",
        ),
        _ => (
            Verdict::Retry {
                reason: "nats_connect",
                retry_after: None,
            },
            "",
        ),
    };
    Answer {
        verdict,
        status: None,
        detail: format!("connecting to {}: {text}{hint}", servers.join(",")),
        excerpt: String::new(),
    }
}

/// The stored CloudEvent as a payload, shared with the ledger's read-ahead instead of copied.
fn bytes_of(json: &Arc<str>) -> bytes::Bytes {
    bytes::Bytes::from_owner(SharedJson(json.clone()))
}

struct SharedJson(Arc<str>);

impl AsRef<[u8]> for SharedJson {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_failure_wins() {
        let answer = |verdict| Answer {
            verdict,
            status: None,
            detail: String::new(),
            excerpt: String::new(),
        };
        let retry = || {
            answer(Verdict::Retry {
                reason: "r",
                retry_after: None,
            })
        };
        let refused = || answer(Verdict::Refused { reason: "x" });
        let got = worse(worse(None, retry()), refused());
        assert!(matches!(
            got.map(|a| a.verdict),
            Some(Verdict::Refused { .. })
        ));
        let got = worse(Some(refused()), retry());
        assert!(matches!(
            got.map(|a| a.verdict),
            Some(Verdict::Refused { .. })
        ));
    }
}

//! MQTT devices: one persistent session on the site broker (clean session off, stable client
//! id, QoS 1 subscriptions, manual acknowledgements). A message is acknowledged only after the
//! ledger committed what came of it, so a message in flight when dockgate dies is redelivered
//! by the broker; the ledger recognises the redelivery (same packet id and payload, DUP set)
//! and it still yields exactly one event id. PUBACKs go out in the order messages arrived.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use std::path::{Path, PathBuf};

use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, Incoming, MqttOptions, Publish, QoS,
    TlsConfiguration, Transport,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn, Instrument};

use super::DeviceStatus;
use crate::config::{Config, MqttConfig, SourceKind};
use crate::model::now_ms;
use crate::store::{InputFrame, InputOutcome, MqttMark, StoreHandle};

/// Requests (PUBACKs, subscriptions, feedback) queued for the event loop. The loop never waits
/// on the ledger, so this only has to cover the broker's in-flight window.
const REQUEST_QUEUE: usize = 4096;

/// Messages committed together at most.
const GROUP: usize = 256;

/// Errors setting up the broker connection.
#[derive(Debug, thiserror::Error)]
pub enum MqttSetupError {
    /// The URL has no host or port.
    #[error("mqtt.url {0:?} is not mqtt://host:port or mqtts://host:port")]
    Url(String),
    /// A credential or certificate file could not be read.
    #[error("mqtt.{key}: cannot read {}", path.display())]
    File {
        /// Config key naming the file, e.g. `ca_file`.
        key: &'static str,
        /// File.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A credential or certificate file holds nothing usable.
    #[error("mqtt.{key}: {}: {problem}", path.display())]
    Content {
        /// Config key naming the file.
        key: &'static str,
        /// File.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// rustls refused the TLS settings.
    #[error("mqtt: TLS settings refused")]
    Tls(#[source] rustls::Error),
}

impl MqttSetupError {
    /// The config key at fault (`mqtt.<key>`) and what is wrong, for `dockgate config validate`.
    pub fn problem(&self) -> (String, String) {
        match self {
            Self::Url(url) => (
                "mqtt.url".into(),
                format!("expected mqtt://host:port or mqtts://host:port, got {url:?}"),
            ),
            Self::File { key, path, source } => (
                format!("mqtt.{key}"),
                format!("cannot read {}: {source}", path.display()),
            ),
            Self::Content { key, path, problem } => (
                format!("mqtt.{key}"),
                format!("{}: {problem}", path.display()),
            ),
            Self::Tls(e) => ("mqtt.url".into(), format!("TLS settings refused: {e}")),
        }
    }
}

/// What a connection failure is reported with: the settings it most likely concerns.
#[derive(Debug, Clone)]
struct Settings {
    host: String,
    username: Option<String>,
    password_file: Option<PathBuf>,
    /// Set for `mqtts://` only, as the client certificate.
    ca_file: Option<PathBuf>,
    client_cert_file: Option<PathBuf>,
}

impl Settings {
    /// `error` with what to check, for the log and the device status.
    fn describe(&self, error: &ConnectionError) -> String {
        if let ConnectionError::ConnectionRefused(
            code @ (ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized),
        ) = error
        {
            return match (&self.username, &self.password_file) {
                (Some(user), Some(file)) => format!(
                    "the broker refused the login ({code:?}): check mqtt.username {user:?} and \
                     the password in mqtt.password_file {}",
                    file.display()
                ),
                _ => format!(
                    "the broker refused the login ({code:?}): it may want mqtt.username and \
                     mqtt.password_file"
                ),
            };
        }
        let Some(tls) = tls_cause(error) else {
            return error.to_string();
        };
        let hint = match (tls, &self.ca_file, &self.client_cert_file) {
            (rustls::Error::InvalidCertificate(_), Some(ca), _) => format!(
                " (the broker's certificate must be signed by the CA in mqtt.ca_file {} and \
                 name {:?})",
                ca.display(),
                self.host
            ),
            (
                rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired),
                _,
                None,
            ) => " (the broker wants a client certificate: mqtt.client_cert_file and \
                  mqtt.client_key_file)"
                .into(),
            (rustls::Error::AlertReceived(_), _, Some(cert)) => format!(
                " (the broker may not accept the client certificate in mqtt.client_cert_file {})",
                cert.display()
            ),
            _ => String::new(),
        };
        format!("TLS with the broker failed: {tls}{hint}")
    }
}

/// The rustls error behind a connection failure (rumqttc wraps it in I/O errors, during the
/// handshake or, for an alert the broker sends after it, on the first read).
fn tls_cause(error: &ConnectionError) -> Option<&rustls::Error> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(tls) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(tls);
        }
        next = e.source();
    }
    None
}

/// A handle for publishing operator feedback on the site broker.
#[derive(Clone)]
pub struct FeedbackPublisher {
    client: AsyncClient,
    site: Arc<str>,
}

impl FeedbackPublisher {
    /// Publishes `{"ok","event","message"}` to `dockgate/<site>/devices/<device>/feedback`.
    pub async fn publish(&self, device: &str, feedback: &crate::workflow::Feedback) {
        let topic = format!("dockgate/{}/devices/{device}/feedback", self.site);
        let Ok(payload) = serde_json::to_vec(feedback) else {
            return;
        };
        // QoS 0: feedback is for a person looking at the device now; a stale one is useless.
        if let Err(error) = self
            .client
            .try_publish(topic, QoS::AtMostOnce, false, payload)
        {
            tracing::debug!(device, error = %error, "Feedback not published.");
        }
    }
}

/// The broker connection and what it feeds.
pub struct MqttInput {
    options: MqttOptions,
    settings: Settings,
    /// Topic → (device id, publish feedback).
    topics: HashMap<String, (Arc<str>, bool)>,
    max_payload: usize,
    store: StoreHandle,
    statuses: HashMap<Arc<str>, DeviceStatus>,
    site: Arc<str>,
}

impl MqttInput {
    /// Prepares the connection for the MQTT devices of `config` (None without `[mqtt]`).
    pub fn build(
        config: &Config,
        store: StoreHandle,
        statuses: HashMap<Arc<str>, DeviceStatus>,
    ) -> Result<Option<(Self, AsyncClient, rumqttc::EventLoop)>, MqttSetupError> {
        let Some(m) = &config.mqtt else {
            return Ok(None);
        };
        let options = options(m, &config.site.id)?;
        let tls = matches!(options.transport(), Transport::Tls(_));
        let settings = Settings {
            host: options.broker_address().0,
            username: m.username.clone(),
            password_file: m.password_file.clone(),
            ca_file: m.ca_file.clone().filter(|_| tls),
            client_cert_file: m.client_cert_file.clone().filter(|_| tls),
        };
        let topics = config
            .devices
            .iter()
            .filter(|(_, d)| d.source == SourceKind::Mqtt)
            .filter_map(|(id, d)| {
                d.topic
                    .clone()
                    .map(|t| (t, (Arc::from(id.as_str()), d.feedback)))
            })
            .collect();
        let (client, eventloop) = AsyncClient::new(options.clone(), REQUEST_QUEUE);
        Ok(Some((
            Self {
                options,
                settings,
                topics,
                max_payload: m.max_packet_size as usize,
                store,
                statuses,
                site: Arc::from(config.site.id.as_str()),
            },
            client,
            eventloop,
        )))
    }

    /// A feedback publisher on this connection.
    pub fn feedback(&self, client: &AsyncClient) -> FeedbackPublisher {
        FeedbackPublisher {
            client: client.clone(),
            site: self.site.clone(),
        }
    }

    /// Reads the broker until cancelled, reconnecting with backoff.
    pub async fn run(
        self,
        client: AsyncClient,
        mut eventloop: rumqttc::EventLoop,
        cancel: CancellationToken,
    ) {
        // Unbounded, so the event loop keeps polling (PINGs, PUBACK writes) whatever the ledger
        // does; what waits here is bounded by the broker's in-flight window.
        let (ack_tx, ack_rx) = mpsc::unbounded_channel();
        let acker = tokio::spawn(
            acknowledge(
                client.clone(),
                self.store.clone(),
                self.feedback(&client),
                ack_rx,
                cancel.clone(),
            )
            .instrument(tracing::info_span!("mqtt-ack")),
        );
        let mut backoff = Duration::from_millis(500);
        // The last failure logged: a different one is logged again, a repeat is not.
        let mut logged: Option<String> = None;
        info!(broker = %self.options.broker_address().0, devices = self.topics.len(), "Connecting to the site broker.");
        loop {
            let event = tokio::select! {
                _ = cancel.cancelled() => break,
                event = eventloop.poll() => event,
            };
            match event {
                Ok(Event::Incoming(Incoming::ConnAck(ack))) => {
                    backoff = Duration::from_millis(500);
                    logged = None;
                    info!(
                        session_present = ack.session_present,
                        "Connected to the site broker."
                    );
                    self.set_up(true, None);
                    for topic in self.topics.keys() {
                        if let Err(error) = client.try_subscribe(topic.clone(), QoS::AtLeastOnce) {
                            warn!(topic = %topic, error = %error, "Subscribing failed.");
                        }
                    }
                }
                Ok(Event::Incoming(Incoming::Publish(publish))) => {
                    if ack_tx.send(self.accept(publish)).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    let reason = self.settings.describe(&error);
                    if logged.as_deref() != Some(reason.as_str()) {
                        warn!(error = %reason, "Site broker connection failed; retrying.");
                        logged = Some(reason.clone());
                    }
                    self.set_up(false, Some(reason));
                    let wait = backoff.mul_f64(0.5 + rand::random::<f64>() / 2.0);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
        drop(ack_tx);
        let _ = acker.await;
        self.set_up(false, Some("stopped".into()));
    }

    /// Turns a PUBLISH into a ledger submission (which commits in the background).
    fn accept(&self, publish: Publish) -> Pending {
        let received_ms = now_ms();
        let (device, feedback) = match self.topics.get(&publish.topic) {
            Some((d, f)) => (d.clone(), *f),
            None => (Arc::from(format!("topic:{}", publish.topic)), false),
        };
        let mut hash = Sha256::new();
        hash.update(publish.topic.as_bytes());
        hash.update([0]);
        hash.update(&publish.payload);
        let rejected = (publish.payload.len() > self.max_payload).then_some("oversized");
        if let Some(status) = self.statuses.get(&device) {
            if let Ok(mut s) = status.lock() {
                s.inputs += 1;
                s.last_input_at = Some(crate::model::rfc3339_ms(received_ms));
                if rejected.is_some() {
                    s.rejected += 1;
                }
            }
        }
        metrics::counter!("dockgate_device_inputs_total", "device" => device.to_string())
            .increment(1);
        let frame = InputFrame {
            device: device.clone(),
            bytes: publish.payload.to_vec(),
            received_ms,
            rejected,
            mqtt: Some(MqttMark {
                pkid: publish.pkid,
                dup: publish.dup,
                hash: hash.finalize().into(),
            }),
        };
        Pending {
            publish,
            frame,
            feedback,
        }
    }

    fn set_up(&self, up: bool, error: Option<String>) {
        for (id, status) in &self.statuses {
            if let Ok(mut s) = status.lock() {
                if up && !s.up && s.last_error.is_some() {
                    s.reconnects += 1;
                }
                s.up = up;
                if error.is_some() {
                    s.last_error = error.clone();
                }
            }
            metrics::gauge!("dockgate_device_up", "device" => id.to_string()).set(if up {
                1.0
            } else {
                0.0
            });
        }
    }
}

/// A message waiting for its commit before its PUBACK.
struct Pending {
    publish: Publish,
    frame: InputFrame,
    feedback: bool,
}

/// Commits messages in arrival order (a group at a time, one ledger command, so the station
/// workflow sees them in the order the broker delivered them) and acknowledges each after its
/// commit, in the same order. A refused commit (full buffer) is retried without acknowledging,
/// so nothing is lost.
///
/// The ledger keeps each message's packet id and hash after the PUBACK is queued: a PUBACK can
/// still be lost on the wire, and the broker then resends with DUP set. A new message that
/// reuses the packet id (not DUP) replaces the row.
async fn acknowledge(
    client: AsyncClient,
    store: StoreHandle,
    feedback: FeedbackPublisher,
    mut rx: mpsc::UnboundedReceiver<Pending>,
    cancel: CancellationToken,
) {
    let mut group: Vec<Pending> = Vec::with_capacity(GROUP);
    while let Some(first) = rx.recv().await {
        group.push(first);
        while group.len() < GROUP {
            match rx.try_recv() {
                Ok(p) => group.push(p),
                Err(_) => break,
            }
        }
        let frames: Vec<InputFrame> = group.iter().map(|p| p.frame.clone()).collect();
        let outcomes = loop {
            match store.inputs(frames.clone()).await {
                Ok(o) => break o,
                Err(error) => {
                    warn!(inputs = frames.len(), error = %error, "MQTT input not committed; holding it unacknowledged and retrying.");
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        };
        for (p, outcome) in group.drain(..).zip(outcomes) {
            if let Err(error) = client.ack(&p.publish).await {
                warn!(error = %error, "Queueing a PUBACK failed; the broker will redeliver.");
                continue;
            }
            if !p.feedback {
                continue;
            }
            if let InputOutcome::Committed {
                feedback: Some(f), ..
            }
            | InputOutcome::Rejected {
                feedback: Some(f), ..
            } = &outcome
            {
                feedback.publish(&p.frame.device, f).await;
            }
        }
    }
}

fn options(m: &MqttConfig, site: &str) -> Result<MqttOptions, MqttSetupError> {
    let url = reqwest::Url::parse(&m.url).map_err(|_| MqttSetupError::Url(m.url.clone()))?;
    let tls = url.scheme() == "mqtts";
    // An IPv6 address without its URL brackets, as the TLS server name and for connecting.
    let host = url
        .host_str()
        .ok_or_else(|| MqttSetupError::Url(m.url.clone()))?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = url.port().unwrap_or(if tls { 8883 } else { 1883 });
    let client_id = m
        .client_id
        .clone()
        .unwrap_or_else(|| format!("dockgate-{site}"));
    let mut o = MqttOptions::new(client_id, host, port);
    o.set_keep_alive(m.keep_alive);
    // A persistent session: the broker keeps our subscriptions and unacknowledged messages.
    o.set_clean_session(false);
    o.set_manual_acks(true);
    // rumqttc drops the connection on a packet over its limit, which would loop (the broker
    // resends it); accept generously here and quarantine what exceeds max_packet_size.
    let incoming = (m.max_packet_size as usize)
        .saturating_mul(16)
        .clamp(1 << 20, 256 << 20);
    o.set_max_packet_size(incoming, 1 << 20);
    if let Some((user, password)) = credentials(m)? {
        o.set_credentials(user, password);
    }
    if tls {
        o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(tls_config(m)?),
        )));
    }
    Ok(o)
}

/// Checks `[mqtt]` as the connection will use it: the URL, the password file and, for
/// `mqtts://`, the CA, client certificate and key files.
pub fn check(m: &MqttConfig) -> Result<(), MqttSetupError> {
    options(m, "check").map(drop)
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, MqttSetupError> {
    std::fs::read(path).map_err(|source| MqttSetupError::File {
        key,
        path: path.to_owned(),
        source,
    })
}

fn content(key: &'static str, path: &Path, problem: impl Into<String>) -> MqttSetupError {
    MqttSetupError::Content {
        key,
        path: path.to_owned(),
        problem: problem.into(),
    }
}

/// User name and password (`password_file`'s text with surrounding white space removed, as
/// for the sinks' secret files).
fn credentials(m: &MqttConfig) -> Result<Option<(String, String)>, MqttSetupError> {
    let (Some(user), Some(file)) = (&m.username, &m.password_file) else {
        return Ok(None);
    };
    let bytes = read("password_file", file)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| content("password_file", file, "the password is not UTF-8 text"))?;
    let password = text.trim();
    if password.is_empty() {
        return Err(content("password_file", file, "the file holds no password"));
    }
    Ok(Some((user.clone(), password.to_owned())))
}

/// Certificates of a PEM file (`-----BEGIN CERTIFICATE-----` sections; others are skipped).
fn pem_certificates(
    key: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, MqttSetupError> {
    let bytes = read(key, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| content(key, path, format!("not a valid PEM file: {e}")))?;
    if certs.is_empty() {
        return Err(content(
            key,
            path,
            "no certificate in it; expected PEM (-----BEGIN CERTIFICATE-----); convert a DER \
             file with `openssl x509 -inform der -in FILE -out FILE.pem`",
        ));
    }
    Ok(certs)
}

/// The rustls client configuration of an `mqtts://` broker: server verified against the CA
/// certificates of `ca_file` (host name or IP address checked against the certificate's
/// subject alternative names), optional client certificate. The crypto provider is named
/// here (ring), so the connection does not depend on a process-wide default.
fn tls_config(m: &MqttConfig) -> Result<rustls::ClientConfig, MqttSetupError> {
    let Some(ca_file) = &m.ca_file else {
        return Err(MqttSetupError::Content {
            key: "ca_file",
            path: PathBuf::new(),
            problem: "mqtts:// needs ca_file, the CA certificate (PEM) of the broker".into(),
        });
    };
    let mut roots = rustls::RootCertStore::empty();
    for (i, cert) in pem_certificates("ca_file", ca_file)?
        .into_iter()
        .enumerate()
    {
        roots.add(cert).map_err(|e| {
            content(
                "ca_file",
                ca_file,
                format!("certificate {} is not usable as a CA: {e}", i + 1),
            )
        })?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(MqttSetupError::Tls)?
    .with_root_certificates(roots);
    match (&m.client_cert_file, &m.client_key_file) {
        (Some(cert_file), Some(key_file)) => {
            let certs = pem_certificates("client_cert_file", cert_file)?;
            let key = PrivateKeyDer::from_pem_slice(&read("client_key_file", key_file)?).map_err(
                |e| {
                    content(
                        "client_key_file",
                        key_file,
                        format!(
                            "no usable private key (expected PEM: PKCS#8, PKCS#1 or SEC1): {e}"
                        ),
                    )
                },
            )?;
            builder.with_client_auth_cert(certs, key).map_err(|e| {
                content(
                    "client_key_file",
                    key_file,
                    format!("not usable with {}: {e}", cert_file.display()),
                )
            })
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

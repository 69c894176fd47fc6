//! MQTT devices: one persistent session on the site broker (clean session off, stable client
//! id, QoS 1 subscriptions, manual acknowledgements). A message is acknowledged only after the
//! ledger committed what came of it, so a message in flight when dockgate dies is redelivered
//! by the broker; the ledger recognises the redelivery (same packet id and payload, DUP set)
//! and it still yields exactly one event id. PUBACKs go out in the order messages arrived.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{
    AsyncClient, Event, Incoming, MqttOptions, Publish, QoS, TlsConfiguration, Transport,
};
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
    #[error("reading {path}")]
    File {
        /// File.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
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
        let mut down_logged = false;
        info!(broker = %self.options.broker_address().0, devices = self.topics.len(), "Connecting to the site broker.");
        loop {
            let event = tokio::select! {
                _ = cancel.cancelled() => break,
                event = eventloop.poll() => event,
            };
            match event {
                Ok(Event::Incoming(Incoming::ConnAck(ack))) => {
                    backoff = Duration::from_millis(500);
                    down_logged = false;
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
                    if !down_logged {
                        warn!(error = %error, "Site broker connection lost; reconnecting.");
                        down_logged = true;
                    }
                    self.set_up(false, Some(error.to_string()));
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
    let host = url
        .host_str()
        .ok_or_else(|| MqttSetupError::Url(m.url.clone()))?;
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
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|source| MqttSetupError::File {
            path: p.display().to_string(),
            source,
        })
    };
    if let (Some(user), Some(file)) = (&m.username, &m.password_file) {
        let password = String::from_utf8_lossy(&read(file)?).trim().to_owned();
        o.set_credentials(user, password);
    }
    if tls {
        let ca = match &m.ca_file {
            Some(f) => read(f)?,
            None => Vec::new(),
        };
        let client_auth = match (&m.client_cert_file, &m.client_key_file) {
            (Some(c), Some(k)) => Some((read(c)?, read(k)?)),
            _ => None,
        };
        o.set_transport(Transport::tls_with_config(TlsConfiguration::Simple {
            ca,
            alpn: None,
            client_auth,
        }));
    }
    Ok(o)
}

//! MQTT devices: one persistent session on the site broker (clean session off, stable client
//! id, QoS 1 subscriptions, manual acknowledgements). A message is acknowledged only after the
//! ledger committed what came of it, so a message in flight when dockgate dies is redelivered
//! by the broker; the ledger recognises the redelivery (same packet id and payload, DUP set)
//! and it still yields exactly one event id. PUBACKs go out in the order messages arrived.
//!
//! - [`session`]: options, credentials and TLS of the connection, and what a failure means;
//! - [`subscribe`]: the device topics and the [`crate::model::Input`] of each message;
//! - [`acks`]: commit through the intake (or hand a configuration push over), then PUBACK, in
//!   order;
//! - [`feedback`]: operator feedback published on the same session;
//! - [`control`]: dockgate's own topics, configuration pushes in and their status out.

mod acks;
mod control;
mod feedback;
mod session;
mod subscribe;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn, Instrument};

pub use self::control::{ControlMessage, ControlTopic, StatusPublisher};
pub use self::feedback::FeedbackPublisher;
use self::session::Settings;
pub use self::session::{check, MqttSetupError};
use self::subscribe::Topics;
use super::intake::IntakeHandle;
use super::DeviceStatus;
use crate::backoff::Backoff;
use crate::config::{Config, MqttConfig};

/// Requests (PUBACKs, subscriptions, feedback) queued for the event loop. The loop never waits
/// on the ledger, so this only has to cover the broker's in-flight window.
const REQUEST_QUEUE: usize = 4096;

/// How long a stopping session may take to write the PUBACKs and feedback of what it took in
/// and disconnect; past that it is dropped and the broker redelivers what was not acknowledged.
const FINISH_WITHIN: Duration = Duration::from_secs(2);

/// A connection the broker closes this soon after accepting it may have been taken over by
/// another client with the same client id (MQTT gives the session to the newest connection).
const TAKEN_OVER_WITHIN: Duration = Duration::from_secs(5);

/// Client options for a tool that publishes on a broker once (`dockgate config push`): the
/// URL, credentials and TLS of `m` as the daemon reads them, but a clean session and
/// acknowledgements by the client library.
pub fn tool_options(m: &MqttConfig) -> Result<MqttOptions, MqttSetupError> {
    let mut options = session::options(m, "tool")?;
    options.set_clean_session(true);
    options.set_manual_acks(false);
    Ok(options)
}

/// What a failed connection with `options` (made from `m`) most likely means, with the
/// settings to check: what the daemon reports for the same failure (`dockgate doctor`).
pub fn describe_failure(
    m: &MqttConfig,
    options: &MqttOptions,
    error: &rumqttc::ConnectionError,
) -> String {
    Settings::of(m, options).describe(error)
}

/// The broker connection and what it feeds.
pub struct MqttInput {
    options: MqttOptions,
    settings: Settings,
    topics: Topics,
    client: AsyncClient,
    eventloop: rumqttc::EventLoop,
    site: Arc<str>,
    control: Option<ControlTopic>,
    /// Topics an earlier session subscribed that this one does not take.
    unsubscribe: Vec<String>,
}

impl MqttInput {
    /// Prepares the connection for the MQTT devices of `config` (None without `[mqtt]`); it
    /// reads the credential and certificate files. With `control`, the session also
    /// subscribes to that topic and hands its messages over.
    pub fn build(
        config: &Config,
        statuses: HashMap<Arc<str>, DeviceStatus>,
        control: Option<ControlTopic>,
    ) -> Result<Option<Self>, MqttSetupError> {
        let Some(m) = &config.mqtt else {
            return Ok(None);
        };
        let options = session::options(m, &config.site.id)?;
        let settings = Settings::of(m, &options);
        let (client, eventloop) = AsyncClient::new(options.clone(), REQUEST_QUEUE);
        Ok(Some(Self {
            options,
            settings,
            topics: Topics::of(config, statuses),
            client,
            eventloop,
            site: Arc::from(config.site.id.as_str()),
            control,
            unsubscribe: Vec::new(),
        }))
    }

    /// The same, unsubscribing `topics` when it connects: what a replaced session took and
    /// this one does not (the broker keeps a persistent session's subscriptions).
    pub fn unsubscribing(mut self, topics: Vec<String>) -> Self {
        self.unsubscribe = topics;
        self
    }

    /// A publisher of retained messages on this connection.
    pub fn status_publisher(&self) -> StatusPublisher {
        StatusPublisher::new(self.client.clone())
    }

    /// A feedback publisher on this connection.
    pub fn feedback(&self) -> FeedbackPublisher {
        FeedbackPublisher::new(self.client.clone(), self.site.clone())
    }

    /// Reads the broker until cancelled, reconnecting with backoff.
    pub async fn run(mut self, intake: IntakeHandle, cancel: CancellationToken) {
        // Unbounded, so the event loop keeps polling (PINGs, PUBACK writes) whatever the ledger
        // does; what waits here is bounded by the broker's in-flight window.
        let (unacked_tx, unacked_rx) = mpsc::unbounded_channel();
        let acker = tokio::spawn(
            acks::acknowledge(
                self.client.clone(),
                intake,
                self.control.clone(),
                unacked_rx,
            )
            .instrument(tracing::info_span!("mqtt-ack")),
        );
        let mut backoff = Backoff::devices();
        // The last failure logged: a different one is logged again, a repeat is not.
        let mut logged: Option<String> = None;
        let mut connected = false;
        let mut connected_at: Option<tokio::time::Instant> = None;
        info!(broker = %self.options.broker_address().0, devices = self.topics.len(), "Connecting to the site broker.");
        loop {
            let event = tokio::select! {
                _ = cancel.cancelled() => break,
                event = self.eventloop.poll() => event,
            };
            match event {
                Ok(Event::Incoming(Incoming::ConnAck(ack))) => {
                    backoff.reset();
                    logged = None;
                    connected = true;
                    connected_at = Some(tokio::time::Instant::now());
                    info!(
                        session_present = ack.session_present,
                        "Connected to the site broker."
                    );
                    self.topics.set_up(true, None);
                    for topic in &self.unsubscribe {
                        if let Err(error) = self.client.try_unsubscribe(topic.clone()) {
                            warn!(topic = %topic, error = %error, "Unsubscribing failed.");
                        }
                    }
                    self.topics.subscribe_all(&self.client);
                    if let Some(control) = &self.control {
                        // A retained push waiting there arrives right after.
                        if let Err(error) = self
                            .client
                            .try_subscribe(control.topic.clone(), QoS::AtLeastOnce)
                        {
                            warn!(topic = %control.topic, error = %error, "Subscribing failed.");
                        }
                    }
                }
                Ok(Event::Incoming(Incoming::Publish(publish))) => {
                    let message = match &self.control {
                        Some(c) if c.topic == publish.topic => acks::Unacked::Control { publish },
                        _ => {
                            let input = self.topics.input_of(&publish);
                            acks::Unacked::Input { publish, input }
                        }
                    };
                    if unacked_tx.send(message).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    connected = false;
                    let mut reason = self.settings.describe(&error);
                    if connected_at
                        .take()
                        .is_some_and(|at| at.elapsed() < TAKEN_OVER_WITHIN)
                    {
                        reason.push_str(&format!(
                            " (closed soon after the broker accepted it: is another client \
                             connected with client id {:?}? Two daemons with one mqtt.client_id \
                             take the session from each other)",
                            self.options.client_id()
                        ));
                    }
                    if logged.as_deref() != Some(reason.as_str()) {
                        warn!(error = %reason, "Site broker connection failed; retrying.");
                        logged = Some(reason.clone());
                    }
                    self.topics.set_up(false, Some(reason));
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tokio::time::sleep(backoff.next_delay()) => {}
                    }
                }
            }
        }
        drop(unacked_tx);
        self.finish(acker, connected).await;
        self.topics.set_up(false, Some("stopped".into()));
    }

    /// At a stop or a reload: keeps the connection going until the messages already taken in
    /// are committed and acknowledged, so their feedback and PUBACKs reach the broker, then
    /// disconnects and reads until the broker has closed. Messages arriving meanwhile are not
    /// taken (never acknowledged, the broker redelivers them to the next session). Bounded by
    /// [`FINISH_WITHIN`].
    async fn finish(&mut self, mut acker: tokio::task::JoinHandle<()>, connected: bool) {
        let deadline = tokio::time::sleep(FINISH_WITHIN);
        tokio::pin!(deadline);
        let mut acked = false;
        let mut disconnecting = false;
        loop {
            if acked && !disconnecting {
                if !connected || self.client.try_disconnect().is_err() {
                    return;
                }
                disconnecting = true;
            }
            tokio::select! {
                _ = &mut deadline => break,
                _ = &mut acker, if !acked => acked = true,
                event = self.eventloop.poll(), if connected => match event {
                    // Not closed yet: the broker may still be sending, and a socket closed with
                    // unread data goes with a reset, which makes the broker drop what it has
                    // not read of ours: the last PUBACKs and feedback. Reading on until the
                    // broker closes (it does on DISCONNECT) lets the connection end cleanly.
                    Ok(_) => {}
                    // The connection is gone: nothing more can be written.
                    Err(_) if acked => return,
                    Err(_) => break,
                },
            }
        }
        if !acked {
            // Still waiting for a commit or a full request queue: what it holds is not
            // acknowledged and comes back from the broker.
            acker.abort();
        }
    }
}

//! MQTT devices: one persistent session on the site broker (clean session off, stable client
//! id, QoS 1 subscriptions, manual acknowledgements). A message is acknowledged only after the
//! ledger committed what came of it, so a message in flight when dockgate dies is redelivered
//! by the broker; the ledger recognises the redelivery (same packet id and payload, DUP set)
//! and it still yields exactly one event id. PUBACKs go out in the order messages arrived.
//!
//! - [`session`]: options, credentials and TLS of the connection, and what a failure means;
//! - [`subscribe`]: the device topics and the [`crate::model::Input`] of each message;
//! - [`acks`]: commit through the intake, then PUBACK, in order;
//! - [`feedback`]: operator feedback published on the same session.

mod acks;
mod feedback;
mod session;
mod subscribe;

use std::collections::HashMap;
use std::sync::Arc;

use rumqttc::{AsyncClient, Event, Incoming, MqttOptions};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn, Instrument};

pub use self::feedback::FeedbackPublisher;
use self::session::Settings;
pub use self::session::{check, MqttSetupError};
use self::subscribe::Topics;
use super::intake::IntakeHandle;
use super::DeviceStatus;
use crate::backoff::Backoff;
use crate::config::Config;

/// Requests (PUBACKs, subscriptions, feedback) queued for the event loop. The loop never waits
/// on the ledger, so this only has to cover the broker's in-flight window.
const REQUEST_QUEUE: usize = 4096;

/// The broker connection and what it feeds.
pub struct MqttInput {
    options: MqttOptions,
    settings: Settings,
    topics: Topics,
    client: AsyncClient,
    eventloop: rumqttc::EventLoop,
    site: Arc<str>,
}

impl MqttInput {
    /// Prepares the connection for the MQTT devices of `config` (None without `[mqtt]`); it
    /// reads the credential and certificate files.
    pub fn build(
        config: &Config,
        statuses: HashMap<Arc<str>, DeviceStatus>,
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
        }))
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
            acks::acknowledge(self.client.clone(), intake, unacked_rx)
                .instrument(tracing::info_span!("mqtt-ack")),
        );
        let mut backoff = Backoff::devices();
        // The last failure logged: a different one is logged again, a repeat is not.
        let mut logged: Option<String> = None;
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
                    info!(
                        session_present = ack.session_present,
                        "Connected to the site broker."
                    );
                    self.topics.set_up(true, None);
                    self.topics.subscribe_all(&self.client);
                }
                Ok(Event::Incoming(Incoming::Publish(publish))) => {
                    let input = self.topics.input_of(&publish);
                    if unacked_tx.send(acks::Unacked { publish, input }).is_err() {
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
                    self.topics.set_up(false, Some(reason));
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tokio::time::sleep(backoff.next_delay()) => {}
                    }
                }
            }
        }
        drop(unacked_tx);
        let _ = acker.await;
        self.topics.set_up(false, Some("stopped".into()));
    }
}

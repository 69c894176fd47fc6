//! dockgate's own topics on the site broker: configuration pushes, handed to whoever processes
//! them and acknowledged once they are done with, and the retained status published back.

use rumqttc::{AsyncClient, QoS};
use tokio::sync::{mpsc, oneshot};

/// A message on the configuration topic.
#[derive(Debug)]
pub struct ControlMessage {
    /// The payload as published.
    pub payload: Vec<u8>,
    /// Sent by the broker because dockgate (re)subscribed: the message it keeps, not a new
    /// publication.
    pub retained: bool,
    /// The broker says it may have sent this before (dockgate stopped before acknowledging).
    pub redelivered: bool,
    /// Fired when the message has been dealt with; its PUBACK follows.
    pub done: oneshot::Sender<()>,
}

/// The configuration topic and where its messages go.
#[derive(Debug, Clone)]
pub struct ControlTopic {
    /// `dockgate/<site>/config`.
    pub topic: String,
    /// The receiver of its messages.
    pub tx: mpsc::Sender<ControlMessage>,
}

/// Publishes retained messages on the site broker, through the current session.
#[derive(Clone)]
pub struct StatusPublisher {
    client: AsyncClient,
}

impl StatusPublisher {
    pub(super) fn new(client: AsyncClient) -> Self {
        Self { client }
    }

    /// Publishes `payload` on `topic`, QoS 1, retained; queued while the broker is away.
    pub async fn publish_retained(&self, topic: &str, payload: Vec<u8>) -> Result<(), String> {
        self.client
            .publish(topic, QoS::AtLeastOnce, true, payload)
            .await
            .map_err(|e| e.to_string())
    }
}

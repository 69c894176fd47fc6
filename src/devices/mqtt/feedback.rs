//! Operator feedback on the site broker: what a scan did, for the device that sent it.

use std::sync::Arc;

use rumqttc::{AsyncClient, QoS};

use crate::devices::intake::FeedbackOut;
use crate::workflow::Feedback;

/// A handle for publishing operator feedback on the site broker.
#[derive(Clone)]
pub struct FeedbackPublisher {
    client: AsyncClient,
    site: Arc<str>,
}

impl FeedbackPublisher {
    /// Feedback of site `site` on the session of `client`.
    pub(super) fn new(client: AsyncClient, site: Arc<str>) -> Self {
        Self { client, site }
    }
}

impl FeedbackOut for FeedbackPublisher {
    /// Publishes `{"ok","event","message"}` to `dockgate/<site>/devices/<device>/feedback`.
    /// Never waits: a full request queue drops the feedback.
    fn publish(&self, device: &str, feedback: &Feedback) {
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

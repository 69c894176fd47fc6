//! Which topic belongs to which device: the subscriptions made at every connection, and each
//! PUBLISH turned into the device's [`Input`], marked so that a redelivery is recognised.

use std::collections::HashMap;
use std::sync::Arc;

use rumqttc::{AsyncClient, Publish, QoS};
use sha2::{Digest, Sha256};
use tracing::warn;

use crate::config::{Config, SourceKind};
use crate::devices::DeviceStatus;
use crate::model::{now_ms, rfc3339_ms, Input, Redelivery};

/// The MQTT devices: topic → device id, and their status views.
pub(super) struct Topics {
    by_topic: HashMap<String, Arc<str>>,
    statuses: HashMap<Arc<str>, DeviceStatus>,
    /// `mqtt.max_packet_size`: larger messages are quarantined.
    max_payload: usize,
}

impl Topics {
    /// The topics of the MQTT devices of `config`.
    pub fn of(config: &Config, statuses: HashMap<Arc<str>, DeviceStatus>) -> Self {
        let by_topic = config
            .devices
            .iter()
            .filter(|(_, d)| d.source == SourceKind::Mqtt)
            .filter_map(|(id, d)| d.topic.clone().map(|t| (t, Arc::from(id.as_str()))))
            .collect();
        Self {
            by_topic,
            statuses,
            max_payload: config
                .mqtt
                .as_ref()
                .map_or(usize::MAX, |m| m.max_packet_size as usize),
        }
    }

    /// How many devices publish to the broker.
    pub fn len(&self) -> usize {
        self.by_topic.len()
    }

    /// Subscribes to every device topic (QoS 1). A persistent session keeps them, but a broker
    /// that lost its state (restarted without persistence) needs them again.
    pub fn subscribe_all(&self, client: &AsyncClient) {
        for topic in self.by_topic.keys() {
            if let Err(error) = client.try_subscribe(topic.clone(), QoS::AtLeastOnce) {
                warn!(topic = %topic, error = %error, "Subscribing failed.");
            }
        }
    }

    /// The input a PUBLISH carries. A message on a topic no device has still goes to the
    /// ledger (as device `topic:<name>`), which quarantines it.
    pub fn input_of(&self, publish: &Publish) -> Input {
        let received_ms = now_ms();
        let device = match self.by_topic.get(&publish.topic) {
            Some(d) => d.clone(),
            None => Arc::from(format!("topic:{}", publish.topic)),
        };
        let mut hash = Sha256::new();
        hash.update(publish.topic.as_bytes());
        hash.update([0]);
        hash.update(&publish.payload);
        let rejected = (publish.payload.len() > self.max_payload).then_some("oversized");
        if let Some(status) = self.statuses.get(&device) {
            if let Ok(mut s) = status.lock() {
                s.inputs += 1;
                s.last_input_at = Some(rfc3339_ms(received_ms));
            }
        }
        metrics::counter!("dockgate_device_inputs_total", "device" => device.to_string())
            .increment(1);
        Input {
            device,
            bytes: publish.payload.to_vec(),
            received_ms,
            rejected,
            redelivery: Some(Redelivery {
                pkid: publish.pkid,
                dup: publish.dup,
                hash: hash.finalize().into(),
            }),
        }
    }

    /// Shows every MQTT device up or down with the broker connection.
    pub fn set_up(&self, up: bool, error: Option<String>) {
        for (id, status) in &self.statuses {
            if let Ok(mut s) = status.lock() {
                if up && !s.up && s.last_error.is_some() {
                    s.reconnects += 1;
                }
                match &error {
                    Some(error) if !up => s.note_down(error.clone()),
                    _ => {
                        s.up = up;
                        if let Some(error) = &error {
                            s.note_error(error.clone());
                        }
                    }
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

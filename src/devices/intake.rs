//! Intake: carries frames from the serial device tasks into the ledger, a few at a time, and
//! publishes operator feedback. A refused commit (full buffer) is retried, never dropped; while
//! it waits, the bounded channel fills and the device tasks stop reading.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::mqtt_in::FeedbackPublisher;
use super::Frame;
use crate::store::{InputFrame, InputOutcome, StoreHandle};

/// Frames committed together at most.
const GROUP: usize = 64;

/// Runs until every sender is gone; on cancel, commits what was already read first.
pub async fn run(
    mut rx: mpsc::Receiver<Frame>,
    store: StoreHandle,
    feedback: Option<FeedbackPublisher>,
    feedback_devices: HashSet<Arc<str>>,
    cancel: CancellationToken,
) {
    let mut group = Vec::with_capacity(GROUP);
    while let Some(first) = rx.recv().await {
        group.push(first);
        while group.len() < GROUP {
            match rx.try_recv() {
                Ok(f) => group.push(f),
                Err(_) => break,
            }
        }
        let frames: Vec<InputFrame> = group
            .drain(..)
            .map(|f| InputFrame {
                device: f.device,
                bytes: f.bytes,
                received_ms: f.received_ms,
                rejected: f.rejected,
                mqtt: None,
            })
            .collect();
        let outcomes = loop {
            match store.inputs(frames.clone()).await {
                Ok(o) => break o,
                Err(error) => {
                    warn!(error = %error, inputs = frames.len(), "Device input not committed yet; retrying.");
                    if cancel.is_cancelled() && store.ping().await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        if let Some(publisher) = &feedback {
            for (frame, outcome) in frames.iter().zip(&outcomes) {
                if !feedback_devices.contains(&frame.device) {
                    continue;
                }
                if let InputOutcome::Committed {
                    feedback: Some(f), ..
                }
                | InputOutcome::Rejected {
                    feedback: Some(f), ..
                } = outcome
                {
                    publisher.publish(&frame.device, f).await;
                }
            }
        }
    }
}

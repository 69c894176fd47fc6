//! Acknowledgements: each message goes to the intake in arrival order and is acknowledged
//! (PUBACK) only after the ledger committed what came of it, in the same order. A message not
//! committed (dockgate stopped, the buffer refused it meanwhile) is never acknowledged, so the
//! broker redelivers it, and the ledger knows a redelivery of one it did commit.

use std::collections::VecDeque;

use rumqttc::{AsyncClient, Publish};
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

use crate::devices::intake::IntakeHandle;
use crate::ledger::InputOutcome;

/// A message on its way: its PUBLISH (for the PUBACK) and where its outcome will arrive.
pub(super) struct Unacked {
    pub publish: Publish,
    pub input: crate::model::Input,
}

/// Runs until the session stops sending messages, or the intake closes.
pub(super) async fn acknowledge(
    client: AsyncClient,
    intake: IntakeHandle,
    mut rx: mpsc::UnboundedReceiver<Unacked>,
) {
    let mut waiting: VecDeque<(Publish, oneshot::Receiver<InputOutcome>)> = VecDeque::new();
    loop {
        tokio::select! {
            // The oldest message's commit came back: acknowledge it (later ones wait behind
            // it, so PUBACKs keep the arrival order).
            answer = async { (&mut waiting.front_mut()?.1).await.ok() }, if !waiting.is_empty() => {
                let Some((publish, _)) = waiting.pop_front() else { continue };
                match answer {
                    Some(_) => {
                        if let Err(error) = client.ack(&publish).await {
                            warn!(error = %error, "Queueing a PUBACK failed; the broker will redeliver.");
                        }
                    }
                    // The intake stopped before the commit (the ledger is gone): no PUBACK,
                    // the broker redelivers at the next start.
                    None => return,
                }
            }
            // A new message from the session: hand it to the intake at once, so messages
            // commit in groups rather than one round trip each.
            next = rx.recv() => {
                let Some(m) = next else { return };
                match intake.submit(m.input).await {
                    Ok(answer) => waiting.push_back((m.publish, answer)),
                    Err(_) => return,
                }
            }
        }
    }
}

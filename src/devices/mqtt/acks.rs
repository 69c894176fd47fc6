//! Acknowledgements: each message goes where it belongs in arrival order (a device's input to
//! the intake, a configuration push to whoever processes it) and is acknowledged (PUBACK) only
//! once that is done (the input committed, the push dealt with), in the same order. A message
//! not done with (dockgate stopped, the buffer refused it meanwhile) is never acknowledged, so
//! the broker redelivers it, and the ledger knows a redelivery of an input it did commit.

use std::collections::VecDeque;

use rumqttc::{AsyncClient, Publish};
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

use super::control::{ControlMessage, ControlTopic};
use crate::devices::intake::IntakeHandle;
use crate::ledger::InputOutcome;
use crate::model::Input;

/// A message on its way, with its PUBLISH (for the PUBACK).
pub(super) enum Unacked {
    /// A device's input.
    Input { publish: Publish, input: Input },
    /// A message on the configuration topic.
    Control { publish: Publish },
}

/// What a message waits for before its PUBACK.
enum Pending {
    Input(oneshot::Receiver<InputOutcome>),
    Control(oneshot::Receiver<()>),
}

impl Pending {
    /// Whether it was done with; false when whoever had it is gone.
    async fn done(&mut self) -> bool {
        match self {
            Pending::Input(rx) => rx.await.is_ok(),
            Pending::Control(rx) => rx.await.is_ok(),
        }
    }
}

/// Runs until the session stops sending messages and those it sent are acknowledged, or the
/// intake closes. A message not acknowledged then comes back to the next session.
pub(super) async fn acknowledge(
    client: AsyncClient,
    intake: IntakeHandle,
    control: Option<ControlTopic>,
    mut rx: mpsc::UnboundedReceiver<Unacked>,
) {
    let mut waiting: VecDeque<(Publish, Pending)> = VecDeque::new();
    let mut open = true;
    loop {
        if !open && waiting.is_empty() {
            return;
        }
        tokio::select! {
            // The oldest message is done with: acknowledge it (later ones wait behind it, so
            // PUBACKs keep the arrival order).
            done = async { Some(waiting.front_mut()?.1.done().await) }, if !waiting.is_empty() => {
                let Some((publish, _)) = waiting.pop_front() else { continue };
                match done {
                    Some(true) => {
                        if let Err(error) = client.ack(&publish).await {
                            warn!(error = %error, "Queueing a PUBACK failed; the broker will redeliver.");
                        }
                    }
                    // The intake stopped before the commit (the ledger is gone): no PUBACK, the
                    // broker redelivers at the next start.
                    _ => return,
                }
            }
            // A new message from the session: hand it over at once, so inputs commit in
            // groups rather than one round trip each.
            // Once the session stops (dockgate stopping, the session replaced), what it sent
            // is still committed and acknowledged: its feedback and PUBACKs go out before the
            // session disconnects, so none of it comes back as a redelivery nobody was told of.
            next = rx.recv(), if open => {
                match next {
                    None => open = false,
                    Some(Unacked::Input { publish, input }) => match intake.submit(input).await {
                        Ok(answer) => waiting.push_back((publish, Pending::Input(answer))),
                        Err(_) => return,
                    },
                    Some(Unacked::Control { publish }) => {
                        let (done, answer) = oneshot::channel();
                        let message = ControlMessage {
                            payload: publish.payload.to_vec(),
                            retained: publish.retain,
                            redelivered: publish.dup,
                            done,
                        };
                        // Never waits: the one who takes pushes may be busy applying one (and
                        // stopping this very session), and a flood on the topic must not stall
                        // the scanners' messages behind it.
                        let handed = match &control {
                            Some(c) => c.tx.try_send(message),
                            None => Err(mpsc::error::TrySendError::Closed(message)),
                        };
                        match handed {
                            Ok(()) => waiting.push_back((publish, Pending::Control(answer))),
                            Err(mpsc::error::TrySendError::Full(_)) => {
                                // Acknowledged and dropped: a real push is retained, and comes
                                // again with the next session.
                                warn!("Configuration topic flooded while a change is applied; a message was dropped.");
                                waiting.push_back((publish, Pending::Control(done_now())));
                            }
                            // Nobody takes pushes (dockgate is stopping): no PUBACK, so the
                            // broker keeps it for the next session.
                            Err(mpsc::error::TrySendError::Closed(_)) => {
                                warn!("A configuration push arrived while none is taken; left unacknowledged.");
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A receiver that is done already.
fn done_now() -> oneshot::Receiver<()> {
    let (tx, rx) = oneshot::channel();
    let _ = tx.send(());
    rx
}

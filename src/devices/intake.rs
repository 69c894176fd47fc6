//! Intake: the one way device input reaches the ledger. Serial readers, the MQTT session and
//! the HTTP ingest endpoint all hand their [`Input`]s to an [`IntakeHandle`]; one task commits
//! them a group at a time in arrival order (so each station's workflow sees its inputs in the
//! order they came), answers each submitter after the commit, and sends the operator feedback.
//!
//! A commit the ledger refuses (a full buffer, a failing disk) is retried with backoff for
//! input that cannot be refused back to its device (a serial line, an MQTT message not yet
//! acknowledged); an HTTP submitter is answered with the refusal at once, so its client can
//! retry. While the intake retries, its bounded queue fills and the serial readers stop reading.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::backoff::Backoff;
use crate::ledger::{IngestError, InputOutcome, LedgerError, LedgerHandle};
use crate::model::{Chain, Input};
use crate::workflow::Feedback;

/// Inputs waiting for the intake; when full, submitters wait (serial readers stop reading).
const QUEUE: usize = 1024;

/// Inputs committed together at most.
const GROUP: usize = 256;

/// What the submitter of one input is told after its commit.
pub type Answer = Result<InputOutcome, IngestError>;

/// One input and who waits for it.
struct Submission {
    input: Input,
    /// Told after the commit (or the refusal, for `retry: false`).
    reply: Option<oneshot::Sender<Answer>>,
    /// Retried until committed (serial, MQTT); otherwise a refusal is answered at once (HTTP).
    retry: bool,
}

/// Where operator feedback goes: the feedback topics of the site broker, for the devices that
/// want it.
pub trait FeedbackOut: Send + Sync + 'static {
    /// Shows `feedback` on `device`; never waits.
    fn publish(&self, device: &str, feedback: &Feedback);
}

/// The intake was stopped: dockgate is shutting down.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("dockgate is shutting down; device input is no longer taken")]
pub struct IntakeClosed;

/// Cloneable front door of the intake.
#[derive(Clone)]
pub struct IntakeHandle {
    tx: mpsc::Sender<Submission>,
}

impl IntakeHandle {
    /// Hands over an input whose device expects no answer (a serial line); committed, retried
    /// if need be, in the background. Waits while the intake is full.
    pub async fn push(&self, input: Input) -> Result<(), IntakeClosed> {
        self.send(input, None, true).await
    }

    /// Hands over an input that must not be lost (an MQTT message): retried until committed;
    /// the receiver gets the outcome after the commit.
    pub async fn submit(&self, input: Input) -> Result<oneshot::Receiver<Answer>, IntakeClosed> {
        let (reply, rx) = oneshot::channel();
        self.send(input, Some(reply), true).await?;
        Ok(rx)
    }

    /// Commits an input once and answers with its outcome or the refusal (an HTTP POST, whose
    /// client retries itself).
    pub async fn submit_once(&self, input: Input) -> Answer {
        let (reply, rx) = oneshot::channel();
        let closed = || IngestError::Ledger(LedgerError::Closed);
        if self.send(input, Some(reply), false).await.is_err() {
            return Err(closed());
        }
        rx.await.unwrap_or_else(|_| Err(closed()))
    }

    async fn send(
        &self,
        input: Input,
        reply: Option<oneshot::Sender<Answer>>,
        retry: bool,
    ) -> Result<(), IntakeClosed> {
        let submission = Submission {
            input,
            reply,
            retry,
        };
        self.tx.send(submission).await.map_err(|_| IntakeClosed)
    }
}

/// The intake task and its front door.
pub struct Intake {
    rx: mpsc::Receiver<Submission>,
}

/// A new intake: the task to run and the handle to give every source.
pub fn channel() -> (Intake, IntakeHandle) {
    channel_of(QUEUE)
}

fn channel_of(capacity: usize) -> (Intake, IntakeHandle) {
    let (tx, rx) = mpsc::channel(capacity);
    (Intake { rx }, IntakeHandle { tx })
}

/// An intake of `capacity` inputs that a test reads itself, with no ledger behind it.
#[cfg(test)]
pub(crate) fn test_channel(capacity: usize) -> (Intake, IntakeHandle) {
    channel_of(capacity)
}

#[cfg(test)]
impl Intake {
    /// The next input handed over (None once every handle is gone).
    pub(crate) async fn next_input(&mut self) -> Option<Input> {
        self.rx.recv().await.map(|s| s.input)
    }
}

impl Intake {
    /// Commits until every handle is gone, so what the sources read before they stopped is
    /// still committed. After `cancel`, a refused commit is no longer retried.
    pub async fn run(
        mut self,
        ledger: LedgerHandle,
        feedback: Option<Arc<dyn FeedbackOut>>,
        feedback_devices: HashSet<Arc<str>>,
        cancel: CancellationToken,
    ) {
        let mut group: Vec<Submission> = Vec::with_capacity(GROUP);
        let mut backoff = Backoff::devices();
        while let Some(first) = self.rx.recv().await {
            group.push(first);
            while group.len() < GROUP {
                match self.rx.try_recv() {
                    Ok(s) => group.push(s),
                    Err(_) => break,
                }
            }
            let outcomes = loop {
                let inputs = group.iter().map(|s| s.input.clone()).collect();
                match ledger.submit_inputs(inputs).await {
                    Ok(outcomes) => break outcomes,
                    Err(error) => {
                        // Whoever can retry on their side is told now; the rest waits.
                        for s in group.iter_mut().filter(|s| !s.retry) {
                            if let Some(reply) = s.reply.take() {
                                let _ = reply.send(Err(error.clone()));
                            }
                        }
                        group.retain(|s| s.retry);
                        if group.is_empty() {
                            break Vec::new();
                        }
                        let wait = backoff.next_delay();
                        warn!(error = %Chain(&error), inputs = group.len(), retry_in = ?wait,
                            "Device input not committed yet; holding it and retrying.");
                        tokio::select! {
                            _ = cancel.cancelled() => {
                                // Not acknowledged: MQTT messages come back from the broker
                                // at the next start.
                                return;
                            }
                            _ = tokio::time::sleep(wait) => {}
                        }
                    }
                }
            };
            backoff.reset();
            for (s, outcome) in group.drain(..).zip(outcomes) {
                if let Some(publisher) = &feedback {
                    if feedback_devices.contains(&s.input.device) {
                        if let Some(f) = feedback_of(&outcome) {
                            publisher.publish(&s.input.device, &f);
                        }
                    }
                }
                if let Some(reply) = s.reply {
                    let _ = reply.send(Ok(outcome));
                }
            }
        }
    }
}

/// What the operator is shown about an input: the workflow's word, or why it was refused.
pub fn feedback_of(outcome: &InputOutcome) -> Option<Feedback> {
    match outcome {
        InputOutcome::Committed { feedback, .. } => feedback.clone(),
        InputOutcome::Rejected { detail, .. } => Some(Feedback {
            ok: false,
            event: None,
            message: format!("Input not accepted: {detail}"),
        }),
        InputOutcome::Duplicate => None,
    }
}

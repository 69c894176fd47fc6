//! Intake: the one way device input reaches the ledger. Serial readers and the MQTT session
//! hand their [`Input`]s to an [`IntakeHandle`]; one task commits them a group at a time in
//! arrival order (so each station's workflow sees its inputs in the order they came), tells
//! each submitter after the commit, sends the operator feedback and counts refused inputs in
//! their device's status. The HTTP ingest endpoint commits through the same handle
//! ([`IntakeHandle::submit_once`]), one attempt each, with the same feedback.
//!
//! A commit the ledger refuses (a full buffer, a failing disk) is retried with backoff for
//! queued input, which cannot be refused back to its device (a serial line, an MQTT message not
//! yet acknowledged); while the intake retries, its bounded queue fills and the serial readers
//! stop reading. An HTTP submitter never waits behind that queue: it is answered with the
//! refusal at once, so its client retries (and the POST answers 503).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tracing::{error, warn};

use super::DeviceStatus;
use crate::backoff::Backoff;
use crate::ledger::{IngestError, InputOutcome, LedgerError, LedgerHandle};
use crate::model::{Chain, Input};
use crate::workflow::Feedback;

/// Inputs waiting for the intake; when full, submitters wait (serial readers stop reading).
const QUEUE: usize = 1024;

/// Inputs committed together at most.
const GROUP: usize = 256;

/// Where operator feedback goes: the feedback topics of the site broker.
pub trait FeedbackOut: Send + Sync + 'static {
    /// Shows `feedback` on `device`; never waits.
    fn publish(&self, device: &str, feedback: &Feedback);
}

/// Who is told of an input's outcome after its commit: the operator, on the devices that get
/// feedback (none without a site broker), and the device's status.
#[derive(Clone, Default)]
pub struct FeedbackRoute {
    /// The broker's feedback topics.
    pub out: Option<Arc<dyn FeedbackOut>>,
    /// Devices with `feedback = true`.
    pub devices: HashSet<Arc<str>>,
    /// Status views of the configured devices. Refused inputs are counted here, where the
    /// refusals of every source meet: the reader's own (an overlong line, an oversized
    /// message) and the workflow's (not UTF-8, control bytes, a dock message it cannot read).
    pub statuses: HashMap<Arc<str>, DeviceStatus>,
}

impl FeedbackRoute {
    fn tell(&self, device: &Arc<str>, outcome: &InputOutcome) {
        if let InputOutcome::Rejected { reason, detail } = outcome {
            if let Some(Ok(mut s)) = self.statuses.get(device).map(|s| s.lock()) {
                s.rejected += 1;
                s.note_error(format!("input rejected: {reason} ({detail})"));
            }
        }
        let Some(out) = &self.out else {
            return;
        };
        if !self.devices.contains(device) {
            return;
        }
        if let Some(feedback) = feedback_of(outcome) {
            out.publish(device, &feedback);
        }
    }
}

/// One queued input and who waits for it.
struct Submission {
    input: Input,
    /// Told after the commit.
    reply: Option<oneshot::Sender<InputOutcome>>,
}

/// What the queue carries.
enum Queued {
    Input(Submission),
    /// Told once everything queued before it is committed.
    Flush(oneshot::Sender<()>),
}

/// The intake was stopped: dockgate is shutting down.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("dockgate is shutting down; device input is no longer taken")]
pub struct IntakeClosed;

/// Cloneable front door of the intake.
#[derive(Clone)]
pub struct IntakeHandle {
    tx: mpsc::Sender<Queued>,
    ledger: LedgerHandle,
    feedback: watch::Receiver<Arc<FeedbackRoute>>,
}

impl IntakeHandle {
    /// Waits until everything handed over before this call is committed: what a device read
    /// before it was stopped is committed under the settings it was read with.
    pub async fn flush(&self) -> Result<(), IntakeClosed> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Queued::Flush(done))
            .await
            .map_err(|_| IntakeClosed)?;
        wait.await.map_err(|_| IntakeClosed)
    }

    /// Hands over an input whose device expects no answer (a serial line); committed, retried
    /// if need be, in the background. Waits while the intake is full.
    pub async fn push(&self, input: Input) -> Result<(), IntakeClosed> {
        self.send(input, None).await
    }

    /// Hands over an input that must not be lost (an MQTT message): retried until committed;
    /// the receiver gets the outcome after the commit.
    pub async fn submit(
        &self,
        input: Input,
    ) -> Result<oneshot::Receiver<InputOutcome>, IntakeClosed> {
        let (reply, rx) = oneshot::channel();
        self.send(input, Some(reply)).await?;
        Ok(rx)
    }

    /// Commits an input once and answers with its outcome or the refusal (an HTTP POST, whose
    /// client retries itself).
    pub async fn submit_once(&self, input: Input) -> Result<InputOutcome, IngestError> {
        let device = input.device.clone();
        let mut outcomes = self.ledger.submit_inputs(vec![input]).await?;
        let outcome = outcomes
            .pop()
            .ok_or(IngestError::Ledger(LedgerError::Closed))?;
        self.feedback.borrow().tell(&device, &outcome);
        Ok(outcome)
    }

    async fn send(
        &self,
        input: Input,
        reply: Option<oneshot::Sender<InputOutcome>>,
    ) -> Result<(), IntakeClosed> {
        let submission = Submission { input, reply };
        self.tx
            .send(Queued::Input(submission))
            .await
            .map_err(|_| IntakeClosed)
    }
}

/// The intake task.
pub struct Intake {
    rx: mpsc::Receiver<Queued>,
    ledger: LedgerHandle,
    feedback: watch::Receiver<Arc<FeedbackRoute>>,
}

/// A new intake committing to `ledger`: the task to run and the handle to give every source.
/// `feedback` says where operator feedback goes; it may change while the intake runs.
pub fn channel(
    ledger: LedgerHandle,
    feedback: watch::Receiver<Arc<FeedbackRoute>>,
) -> (Intake, IntakeHandle) {
    channel_of(QUEUE, ledger, feedback)
}

fn channel_of(
    capacity: usize,
    ledger: LedgerHandle,
    feedback: watch::Receiver<Arc<FeedbackRoute>>,
) -> (Intake, IntakeHandle) {
    let (tx, rx) = mpsc::channel(capacity);
    let handle = IntakeHandle {
        tx,
        ledger: ledger.clone(),
        feedback: feedback.clone(),
    };
    (
        Intake {
            rx,
            ledger,
            feedback,
        },
        handle,
    )
}

impl Intake {
    /// Commits until every handle is gone, so what the sources read before they stopped is
    /// still committed. A refused commit is retried for as long as the ledger is there (at
    /// shutdown, within the daemon's grace period).
    pub async fn run(mut self, cancel: CancellationToken) {
        let mut group: Vec<Submission> = Vec::with_capacity(GROUP);
        let mut flushes = Vec::new();
        let mut backoff = Backoff::devices();
        while let Some(first) = self.rx.recv().await {
            match first {
                Queued::Input(s) => group.push(s),
                Queued::Flush(done) => {
                    let _ = done.send(());
                    continue;
                }
            }
            while group.len() < GROUP {
                match self.rx.try_recv() {
                    Ok(Queued::Input(s)) => group.push(s),
                    // What follows waits for the next group, so the flush is told right after
                    // this one.
                    Ok(Queued::Flush(done)) => {
                        flushes.push(done);
                        break;
                    }
                    Err(_) => break,
                }
            }
            let mut told_of_shutdown = false;
            let outcomes = loop {
                let inputs = group.iter().map(|s| s.input.clone()).collect();
                let error = match self.ledger.submit_inputs(inputs).await {
                    Ok(outcomes) => break outcomes,
                    Err(IngestError::Ledger(LedgerError::Closed)) => {
                        error!(
                            inputs = group.len(),
                            "The ledger stopped with device input not committed; serial lines \
                             are lost, MQTT messages come back from the broker at the next start."
                        );
                        return;
                    }
                    Err(error) => error,
                };
                if cancel.is_cancelled() && !told_of_shutdown {
                    told_of_shutdown = true;
                    error!(error = %Chain(&error), inputs = group.len(),
                        "Shutting down with device input not committed; still retrying until the \
                         grace period ends.");
                }
                let wait = backoff.next_delay();
                warn!(error = %Chain(&error), inputs = group.len(), retry_in = ?wait,
                    "Device input not committed yet; holding it and retrying.");
                tokio::time::sleep(wait).await;
            };
            backoff.reset();
            let feedback = self.feedback.borrow().clone();
            for (s, outcome) in group.drain(..).zip(outcomes) {
                feedback.tell(&s.input.device, &outcome);
                if let Some(reply) = s.reply {
                    let _ = reply.send(outcome);
                }
            }
            for done in flushes.drain(..) {
                let _ = done.send(());
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

#[cfg(test)]
pub(crate) use self::testing::test_channel;

#[cfg(test)]
mod testing {
    use super::*;

    /// An intake of `capacity` inputs that a test reads itself, with no task committing them.
    pub(crate) fn test_channel(capacity: usize, ledger: LedgerHandle) -> (Intake, IntakeHandle) {
        let (_, feedback) = watch::channel(Arc::new(FeedbackRoute::default()));
        channel_of(capacity, ledger, feedback)
    }

    impl Intake {
        /// The next input handed over (None once every handle is gone).
        pub(crate) async fn next_input(&mut self) -> Option<Input> {
            loop {
                match self.rx.recv().await? {
                    Queued::Input(s) => return Some(s.input),
                    Queued::Flush(done) => {
                        let _ = done.send(());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;

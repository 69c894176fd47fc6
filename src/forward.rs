//! Sinks: one async worker per configured destination (an HTTP receiver, or a NATS JetStream
//! stream: [`nats`]).
//!
//! A worker reads what its sink sends next from the ledger ([`SinkReader`]): heads of pending
//! subjects, with the events waiting behind them when the sink takes batches (so per-subject
//! order holds and the same path serves live traffic and a backlog). It groups them into
//! requests, POSTs them, and reports each outcome to the ledger before it forgets the request.
//! It owns its own pacing: backoff with full jitter after failures, `Retry-After`, a pause with
//! slow probes for a misconfigured sink, a ramp-up from one request in flight after an outage,
//! and an optional request rate. Nothing here blocks another sink.

mod batch;
pub mod http;
pub mod mapping;
pub mod nats;
mod oauth2;
pub mod retry;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn, Instrument};

pub use self::batch::batch_key;
use self::batch::{id_of, Batch, Hand};
use self::http::{Answer, SinkClient};
use self::mapping::Mapping;
use self::nats::NatsSink;
use self::retry::Verdict;
use crate::backoff::{self, Jitter};
use crate::config::{SinkConfig, SinkKind};
use crate::ledger::{InHand, LedgerError, Outcome, Plan, Ready, SinkReader};
use crate::model::{now_ms, Chain};

/// Why an event the sink's template fails for is dead-lettered.
const MAPPING_FAILED: &str = "mapping_failed";

/// How often an idle worker still proves it is alive (for the systemd watchdog and status).
const HEARTBEAT: Duration = Duration::from_secs(5);

/// What the admin API shows about a sink; updated by its worker.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SinkSnapshot {
    /// `ok`, `retrying` or `paused`.
    pub state: &'static str,
    /// Why the sink is paused (401, 403, 404, redirect), if it is.
    pub paused_reason: Option<String>,
    /// Last failure, with when it happened.
    pub last_error: Option<String>,
    /// RFC 3339 time of the last failure.
    pub last_error_at: Option<String>,
    /// RFC 3339 time of the last delivery.
    pub last_delivery_at: Option<String>,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// Requests allowed in flight right now (ramps up after an outage).
    pub concurrency_limit: usize,
    /// Requests in flight.
    pub in_flight: usize,
    /// Last time the worker loop ran (ms since the epoch).
    #[serde(skip)]
    pub heartbeat_ms: i64,
}

/// Shared view of a sink's worker.
pub type SinkStatus = Arc<Mutex<SinkSnapshot>>;

/// Puts a failed batch back at the front of the queue, unless the ledger dropped events since
/// it was sent: then it is forgotten and read again from the buffer.
fn requeue(
    queue: &mut VecDeque<Batch>,
    hand: &mut Hand,
    need_fetch: &mut bool,
    batch: Batch,
    drops_seen: u64,
) {
    if batch.drops_epoch == drops_seen {
        queue.push_front(batch);
        return;
    }
    hand.release(&batch);
    *need_fetch = true;
}

/// The sink's own backoff after `failures` consecutive failures: full jitter between
/// `retry_initial` and `retry_max`.
fn backoff(failures: u32, cfg: &SinkConfig) -> Duration {
    backoff::delay(
        failures,
        cfg.retry_initial,
        cfg.retry_max,
        Jitter::Full,
        rand::random::<f64>(),
    )
}

/// How long a worker waits after the ledger refused a read or write, counted in `failures`:
/// backoff with jitter as for a failing receiver, but never less than `retry_initial`.
fn ledger_pause(failures: &mut u32, cfg: &SinkConfig) -> Duration {
    let pause = backoff(*failures, cfg).max(cfg.retry_initial);
    *failures = failures.saturating_add(1);
    pause
}

/// What a finished request task hands back.
struct Done {
    batch: Batch,
    answer: Answer,
    recorded: Result<(), LedgerError>,
    /// The worker was told at the answer that this request no longer counts against
    /// `concurrency`.
    answered_early: bool,
}

/// How a sink's requests travel.
#[derive(Clone)]
enum Transport {
    Http(SinkClient),
    Nats(NatsSink),
}

/// The answer for events the sink's template fails for: refused without being sent, so a
/// batch is split like a refused one and the event itself is dead-lettered.
fn mapping_failed(why: String) -> Answer {
    Answer {
        verdict: Verdict::Refused {
            reason: MAPPING_FAILED,
        },
        status: None,
        detail: format!("{MAPPING_FAILED}: {why}"),
        excerpt: String::new(),
    }
}

/// The runtime part of one sink.
pub struct SinkWorker {
    name: Arc<str>,
    config: SinkConfig,
    transport: Transport,
    mapping: Option<Arc<Mapping>>,
    reader: SinkReader,
    status: SinkStatus,
}

impl SinkWorker {
    /// Builds the worker of a sink of site `site`, which reads and records through `reader`.
    pub fn build(
        config: &SinkConfig,
        site: &str,
        reader: SinkReader,
    ) -> Result<(Self, SinkStatus), http::SinkBuildError> {
        let transport = match config.kind {
            SinkKind::Http => Transport::Http(SinkClient::build(reader.name(), config)?),
            SinkKind::Nats => Transport::Nats(NatsSink::build(reader.name(), site, config)?),
        };
        let mapping = Mapping::compile(config)?.map(Arc::new);
        let status: SinkStatus = Arc::new(Mutex::new(SinkSnapshot {
            state: "ok",
            concurrency_limit: 1,
            heartbeat_ms: now_ms(),
            ..Default::default()
        }));
        Ok((
            Self {
                name: reader.name().clone(),
                config: config.clone(),
                transport,
                mapping,
                reader,
                status: status.clone(),
            },
            status,
        ))
    }

    /// Delivers until cancelled; then waits for requests in flight to finish and be recorded.
    pub async fn run(self, cancel: CancellationToken) {
        let span = tracing::info_span!("sink", sink = %self.name);
        self.run_inner(cancel).instrument(span).await
    }

    async fn run_inner(self, cancel: CancellationToken) {
        let cfg = &self.config;
        let batch_mode = cfg.batch_max_events > 1;
        let mut commits = self.reader.commits();
        let mut queue: VecDeque<Batch> = VecDeque::new();
        let mut hand = Hand::default();
        // A half of a refused batch is in flight (halves go one at a time).
        let mut split_in_flight = false;
        let mut drops_seen = commits.borrow().drops;
        let mut inflight: JoinSet<Done> = JoinSet::new();
        // Requests the receiver has not answered yet: what `concurrency` limits. A delivered
        // request leaves this count at the answer, while its outcome is still being committed
        // (its events stay in hand until then, so per-subject order holds), so the next request
        // does not wait for the ledger.
        let mut awaiting_answer: usize = 0;
        let (answered_tx, mut answered_rx) = mpsc::unbounded_channel::<()>();
        let mut failures: u32 = 0;
        // Reads and writes the ledger refused in a row (a full disk, say).
        let mut ledger_failures: u32 = 0;
        let mut gate = Instant::now();
        let mut paused: Option<&'static str> = None;
        let mut limit: usize = 1;
        let mut next_slot = Instant::now();
        let mut need_fetch = true;
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        let target = cfg.concurrency * cfg.batch_max_events * 2;
        let spacing = cfg
            .max_requests_per_second
            .map(|r| Duration::from_secs_f64(1.0 / r));
        let sink = self.name.to_string();
        // A new worker (a start, a reload that changed the sink) is not paused until it sees a
        // refusal itself; the previous worker's pause must not stay on the gauge.
        metrics::gauge!("dockgate_sink_paused", "sink" => sink.clone()).set(0.0);
        // After a restart or a reload the last delivery is the receipts' (a supervisor asking
        // whether shipments reach the ERP must not read "none yet" while it is down). Never in
        // the future: a clock stepped back since would show a live outage as over.
        match self.reader.last_delivery().await {
            Ok(Some(ms)) => self.update_status(|s| {
                s.last_delivery_at.get_or_insert_with(|| {
                    crate::model::rfc3339_ms(ms.min(crate::model::now_ms()))
                });
            }),
            Ok(None) => {}
            Err(error) => warn!(error = %Chain(&error), "Reading the last delivery failed."),
        }

        loop {
            // Read more only once the hand is half empty: fewer, larger reads under load.
            if need_fetch && hand.events() <= target / 2 {
                need_fetch = false;
                match self.fetch(&hand, target - hand.events()).await {
                    Ok(batches) => {
                        for b in batches {
                            hand.take(&b);
                            queue.push_back(b);
                        }
                    }
                    Err(error) => {
                        let pause = ledger_pause(&mut ledger_failures, cfg);
                        error!(error = %Chain(&error), retry_in = ?pause, "Reading pending deliveries failed.");
                        gate = gate.max(Instant::now() + pause);
                        need_fetch = true;
                    }
                }
            }

            // Dispatch as much as pacing allows.
            let now = Instant::now();
            let mut wake: Option<Instant> = None;
            while let Some(front) = queue.front() {
                let cap = if paused.is_some() { 1 } else { limit };
                if awaiting_answer >= cap
                    || inflight.len() >= 2 * cap
                    || (front.split && split_in_flight)
                {
                    break;
                }
                if now < gate {
                    wake = Some(gate);
                    break;
                }
                if let Some(spacing) = spacing {
                    if now < next_slot {
                        wake = Some(next_slot);
                        break;
                    }
                    next_slot = now.max(next_slot) + spacing;
                }
                if front.needs_record() {
                    // Record every queued batch that needs it in one go: one commit, not one
                    // per request.
                    let plans = queue
                        .iter()
                        .filter(|b| b.needs_record())
                        .map(|b| Plan {
                            key: b.key.clone(),
                            seqs: b.seqs.clone(),
                            replaces: b.stored.clone(),
                        })
                        .collect();
                    if let Err(error) = self.reader.plan(plans).await {
                        let pause = ledger_pause(&mut ledger_failures, cfg);
                        error!(error = %Chain(&error), retry_in = ?pause, "Recording batch membership failed.");
                        gate = gate.max(Instant::now() + pause);
                        wake = Some(gate);
                        break;
                    }
                    for b in queue.iter_mut().filter(|b| b.needs_record()) {
                        b.mark_recorded();
                    }
                }
                let Some(mut batch) = queue.pop_front() else {
                    break;
                };
                batch.drops_epoch = drops_seen;
                split_in_flight |= batch.split;
                awaiting_answer += 1;
                inflight.spawn(request(
                    self.transport.clone(),
                    self.mapping.clone(),
                    self.reader.clone(),
                    batch,
                    batch_mode,
                    answered_tx.clone(),
                ));
            }
            self.update_status(|s| {
                s.in_flight = awaiting_answer;
                s.concurrency_limit = limit;
                s.heartbeat_ms = now_ms();
            });

            tokio::select! {
                // Shutdown: stop sending; requests in flight finish below.
                _ = cancel.cancelled() => break,
                // A delivered request was answered; its outcome is being recorded.
                Some(()) = answered_rx.recv() => {
                    awaiting_answer = awaiting_answer.saturating_sub(1);
                }
                // A request finished and its outcome is committed.
                Some(joined) = inflight.join_next() => {
                    let Ok(done) = joined else {
                        // A request task panicked: its slot is free again.
                        awaiting_answer = awaiting_answer.saturating_sub(1);
                        continue;
                    };
                    let Done { batch, answer, recorded, answered_early } = done;
                    if !answered_early {
                        awaiting_answer = awaiting_answer.saturating_sub(1);
                    }
                    if batch.split {
                        split_in_flight = false;
                    }
                    if let Err(error) = &recorded {
                        // The ledger did not take the outcome: forget the batch so it is read
                        // again (the receiver may see it twice, under the same key), and pause
                        // sending, or the worker would resend it as fast as the receiver
                        // answers for as long as the disk stays full.
                        let pause = ledger_pause(&mut ledger_failures, cfg);
                        error!(error = %Chain(&error), retry_in = ?pause, "Recording a delivery outcome failed; sending pauses.");
                        gate = gate.max(Instant::now() + pause);
                        hand.release(&batch);
                        need_fetch = true;
                        continue;
                    }
                    ledger_failures = 0;
                    match answer.verdict {
                        Verdict::Delivered => {
                            let now_ms = now_ms();
                            let histogram = metrics::histogram!("dockgate_delivery_latency_seconds", "sink" => sink.clone());
                            for c in &batch.created_ms {
                                histogram.record(((now_ms - c).max(0)) as f64 / 1000.0);
                            }
                            metrics::counter!("dockgate_deliveries_total", "sink" => sink.clone()).increment(batch.seqs.len() as u64);
                            hand.release(&batch);
                            if paused.take().is_some() || failures > 0 {
                                info!(after_failures = failures, "Sink is accepting events again.");
                                metrics::gauge!("dockgate_sink_paused", "sink" => sink.clone()).set(0.0);
                            }
                            failures = 0;
                            limit = (limit * 2).min(cfg.concurrency);
                            self.update_status(|s| {
                                s.state = "ok";
                                s.paused_reason = None;
                                s.consecutive_failures = 0;
                                s.last_delivery_at = Some(crate::model::rfc3339_ms(now_ms));
                            });
                            need_fetch = true;
                        }
                        Verdict::Retry { reason, retry_after } => {
                            metrics::counter!("dockgate_delivery_failures_total", "sink" => sink.clone(), "reason" => reason).increment(1);
                            let delay = retry_after.unwrap_or_else(|| backoff(failures, cfg));
                            failures = failures.saturating_add(1);
                            if failures == 1 {
                                warn!(error = %answer.detail, retry_in = ?delay, "Delivery failed; retrying.");
                            } else {
                                debug!(error = %answer.detail, failures, retry_in = ?delay, "Delivery failed again.");
                            }
                            gate = gate.max(Instant::now() + delay);
                            limit = 1;
                            self.note_error(&answer, if paused.is_some() { "paused" } else { "retrying" }, failures);
                            requeue(&mut queue, &mut hand, &mut need_fetch, batch, drops_seen);
                        }
                        Verdict::Pause { reason } => {
                            metrics::counter!("dockgate_delivery_failures_total", "sink" => sink.clone(), "reason" => reason).increment(1);
                            if paused.is_none() {
                                error!(error = %answer.detail, probe_every = ?cfg.retry_max,
                                    "Sink paused: the receiver (or its OAuth2 token endpoint) rejects our credentials, permissions or URL; events stay queued. Fix the sink configuration.");
                                metrics::gauge!("dockgate_sink_paused", "sink" => sink.clone()).set(1.0);
                            }
                            paused = Some(reason);
                            failures = failures.saturating_add(1);
                            gate = Instant::now() + cfg.retry_max;
                            limit = 1;
                            self.update_status(|s| s.paused_reason = Some(reason.to_owned()));
                            self.note_error(&answer, "paused", failures);
                            requeue(&mut queue, &mut hand, &mut need_fetch, batch, drops_seen);
                        }
                        Verdict::Refused { reason } => {
                            metrics::counter!("dockgate_delivery_failures_total", "sink" => sink.clone(), "reason" => reason).increment(1);
                            if batch.is_batch() {
                                debug!(events = batch.seqs.len(), "Batch refused; splitting it to find the refused events.");
                                let (a, b) = batch.split();
                                queue.push_front(b);
                                queue.push_front(a);
                            } else {
                                if reason == MAPPING_FAILED {
                                    metrics::counter!("dockgate_mapping_failures_total", "sink" => sink.clone()).increment(1);
                                    error!(event_id = %id_of(&batch.json[0]), event_seq = batch.seqs[0], error = %answer.detail,
                                        "The sink's template fails for this event; dead-lettered. Later events of its subject are held until it is replayed.");
                                } else {
                                    error!(event_id = %id_of(&batch.json[0]), event_seq = batch.seqs[0], error = %answer.detail, excerpt = %answer.excerpt,
                                        "Event refused by the receiver; dead-lettered. Later events of its subject are held until it is replayed.");
                                }
                                hand.release(&batch);
                                hand.let_go_of_subject(&mut queue, &batch.subjects[0]);
                                self.note_error(&answer, "ok", failures);
                                need_fetch = true;
                            }
                        }
                    }
                }
                // New commits (events, outcomes, replays) may have made new heads ready.
                changed = commits.changed() => {
                    if changed.is_err() { break; }
                    let drops = commits.borrow_and_update().drops;
                    if drops != drops_seen {
                        // The ledger dropped undelivered events to make room; what is queued
                        // here may be gone. Forget it and read again (requests in flight finish).
                        drops_seen = drops;
                        for b in queue.drain(..) {
                            hand.release(&b);
                        }
                    }
                    need_fetch = true;
                }
                // Backoff, probe or rate slot is due.
                _ = sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {}
                // Keep the heartbeat fresh while idle, and look again for work now and then.
                _ = heartbeat.tick() => { need_fetch = true; }
            }
        }

        // Let requests in flight finish (each is bounded by the sink timeout) and be recorded,
        // so a clean stop does not resend what the receiver already has.
        while inflight.join_next().await.is_some() {}
        info!("Sink worker stopped.");
    }

    /// Reads up to about `want` events the worker may send next, skipping the subjects and
    /// events in `hand`, as batches: requests planned before first (resent as they
    /// were), then fresh runs grouped up to `batch_max_events`.
    async fn fetch(&self, hand: &Hand, want: usize) -> Result<Vec<Batch>, LedgerError> {
        let in_hand = InHand {
            subject: &|s| hand.holds_subject(s),
            event: &|seq| hand.holds_event(seq),
        };
        let ready = self
            .reader
            .next(want, self.config.batch_max_events, in_hand)
            .await?;
        Ok(ready
            .into_iter()
            .map(|r| match r {
                Ready::Planned { key, events } => {
                    // Resent under its key with the same body. A key is the hash of its events'
                    // ids, so a request whose membership changed since it was keyed (members
                    // dropped or replayed meanwhile, or planned by an older dockgate that kept
                    // a split half under its parent's key) goes out under a new key instead.
                    let same = batch_key(events.iter().map(|d| &*d.id)) == key;
                    let mut batch = Batch::new(events, Some(key));
                    if !same {
                        batch.rekey();
                    }
                    batch
                }
                Ready::Fresh(events) => Batch::assemble(events),
            })
            .collect())
    }

    fn note_error(&self, answer: &Answer, state: &'static str, failures: u32) {
        let at = crate::model::rfc3339_ms(now_ms());
        let mut text = answer.detail.clone();
        if !answer.excerpt.is_empty() {
            text.push_str(": ");
            text.push_str(&answer.excerpt.chars().take(160).collect::<String>());
        }
        self.update_status(|s| {
            s.state = state;
            s.last_error = Some(text);
            s.last_error_at = Some(at);
            s.consecutive_failures = failures;
        });
    }

    fn update_status(&self, f: impl FnOnce(&mut SinkSnapshot)) {
        if let Ok(mut s) = self.status.lock() {
            f(&mut s);
        }
    }
}

/// One request (a POST, or a batch's publishes), then its outcome recorded in the ledger
/// before reporting back.
async fn request(
    transport: Transport,
    mapping: Option<Arc<Mapping>>,
    reader: SinkReader,
    batch: Batch,
    batch_mode: bool,
    answered: mpsc::UnboundedSender<()>,
) -> Done {
    let answer = match (&transport, &mapping) {
        (Transport::Nats(nats), mapping) => nats.publish(&batch, mapping.as_deref()).await,
        (Transport::Http(client), None) => {
            let content_type = if batch_mode {
                "application/cloudevents-batch+json"
            } else {
                "application/cloudevents+json; charset=utf-8"
            };
            client
                .post(batch.body(batch_mode), content_type, &batch.key)
                .await
        }
        (Transport::Http(client), Some(m)) => match m.render(&batch.json) {
            Ok(body) => client.post(body, m.content_type(), &batch.key).await,
            Err(why) => mapping_failed(why),
        },
    };
    // Only a success frees the slot early: after a failure the worker must first see the
    // verdict (backoff, pause, split) before it sends anything else.
    let answered_early = matches!(answer.verdict, Verdict::Delivered) && answered.send(()).is_ok();
    let outcome = match &answer.verdict {
        Verdict::Delivered => Some(Outcome::Delivered {
            key: batch.key.clone(),
            events: batch.events(),
            status: answer.status.unwrap_or(200),
        }),
        Verdict::Retry { .. } | Verdict::Pause { .. } => Some(Outcome::Failed {
            key: batch.key.clone(),
            events: batch.events(),
            status: answer.status,
            error: answer.detail.clone(),
        }),
        Verdict::Refused { .. } if !batch.is_batch() => {
            batch.events().pop().map(|event| Outcome::Dead {
                event,
                status: answer.status,
                error: answer.detail.clone(),
                excerpt: answer.excerpt.clone(),
            })
        }
        Verdict::Refused { .. } => None,
    };
    let recorded = match outcome {
        Some(outcome) => reader.record(outcome).await,
        None => Ok(()),
    };
    Done {
        batch,
        answer,
        recorded,
        answered_early,
    }
}

//! Sinks: one async worker per configured HTTP destination.
//!
//! A worker reads the heads of pending subjects from the buffer (so per-subject order holds and
//! the same path serves live traffic and a backlog), groups them into requests, POSTs them, and
//! reports each outcome to the ledger before it forgets the request. It owns its own pacing:
//! backoff with full jitter after failures, `Retry-After`, a pause with slow probes for a
//! misconfigured sink, a ramp-up from one request in flight after an outage, and an optional
//! request rate. Nothing here blocks another sink.

pub mod http;
pub mod retry;

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::task::JoinSet;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn, Instrument};

use self::http::{Answer, SinkClient};
use self::retry::{backoff, Verdict};
use crate::config::SinkConfig;
use crate::model::now_ms;
use crate::store::read::{self, ReadPool, ReadyDelivery};
use crate::store::{Outcome, StoreHandle};

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

/// One request's worth of events.
struct Batch {
    key: String,
    seqs: Vec<i64>,
    subjects: Vec<String>,
    created_ms: Vec<i64>,
    json: Vec<String>,
    /// Whether the ledger already knows this batch's membership.
    recorded: bool,
    /// The ledger's drop count when this batch was sent: if it changed meanwhile, some of its
    /// events may be gone, so a failed batch is read again instead of retried from memory.
    drops_epoch: u64,
}

impl Batch {
    fn new(items: Vec<ReadyDelivery>, key: Option<String>) -> Self {
        let recorded = key.is_some() || items.len() == 1;
        let key = match (key, items.as_slice()) {
            (Some(key), _) => key,
            (None, [one]) => one.id.clone(),
            (None, _) => batch_key(items.iter().map(|d| d.id.as_str())),
        };
        Self {
            key,
            seqs: items.iter().map(|d| d.seq).collect(),
            subjects: items.iter().map(|d| d.subject.clone()).collect(),
            created_ms: items.iter().map(|d| d.created_ms).collect(),
            json: items.into_iter().map(|d| d.json).collect(),
            recorded,
            drops_epoch: 0,
        }
    }

    fn is_batch(&self) -> bool {
        self.seqs.len() > 1
    }

    /// Splits a refused batch in two; each half is a new batch under a new key.
    fn split(self) -> (Batch, Batch) {
        let mid = self.seqs.len() / 2;
        let half = |range: std::ops::Range<usize>| {
            let mut h = Batch {
                key: String::new(),
                seqs: self.seqs[range.clone()].to_vec(),
                subjects: self.subjects[range.clone()].to_vec(),
                created_ms: self.created_ms[range.clone()].to_vec(),
                json: self.json[range].to_vec(),
                recorded: false,
                drops_epoch: self.drops_epoch,
            };
            h.recorded = h.seqs.len() == 1;
            h.key = match h.json.as_slice() {
                [one] => id_of(one).to_owned(),
                many => batch_key(many.iter().map(|j| id_of(j))),
            };
            h
        };
        (half(0..mid), half(mid..self.seqs.len()))
    }

    fn body(&self, batch_mode: bool) -> String {
        if !batch_mode {
            return self.json[0].clone();
        }
        let mut body =
            String::with_capacity(self.json.iter().map(|j| j.len() + 1).sum::<usize>() + 2);
        body.push('[');
        for (i, j) in self.json.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(j);
        }
        body.push(']');
        body
    }
}

/// The `id` of a rendered CloudEvent (always the second member, see `write_cloudevent`).
fn id_of(json: &str) -> &str {
    json.split_once("\"id\":\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(id, _)| id)
        .unwrap_or("")
}

/// Stable key of a batch: a hash of its event ids in order.
pub fn batch_key<'a>(ids: impl Iterator<Item = &'a str>) -> String {
    let mut h = Sha256::new();
    for id in ids {
        h.update(id.as_bytes());
        h.update(b"\n");
    }
    let digest = h.finalize();
    let mut out = String::with_capacity(34);
    out.push_str("b-");
    for b in &digest[..16] {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Puts a failed batch back at the front of the queue, unless the ledger dropped events since
/// it was sent: then it is forgotten and read again from the buffer.
fn requeue(
    queue: &mut VecDeque<Batch>,
    busy: &mut HashSet<String>,
    need_fetch: &mut bool,
    batch: Batch,
    drops_seen: u64,
) {
    if batch.drops_epoch == drops_seen {
        queue.push_front(batch);
        return;
    }
    for s in &batch.subjects {
        busy.remove(s);
    }
    *need_fetch = true;
}

/// What a finished request task hands back.
struct Done {
    batch: Batch,
    answer: Answer,
    recorded: Result<(), crate::store::StoreError>,
}

/// The runtime part of one sink.
pub struct SinkWorker {
    name: Arc<str>,
    config: SinkConfig,
    client: SinkClient,
    store: StoreHandle,
    reads: ReadPool,
    status: SinkStatus,
}

impl SinkWorker {
    /// Builds the worker of sink `name`.
    pub fn build(
        name: &str,
        config: &SinkConfig,
        store: StoreHandle,
        reads: ReadPool,
    ) -> Result<(Self, SinkStatus), http::SinkBuildError> {
        let client = SinkClient::build(config)?;
        let status: SinkStatus = Arc::new(Mutex::new(SinkSnapshot {
            state: "ok",
            concurrency_limit: 1,
            heartbeat_ms: now_ms(),
            ..Default::default()
        }));
        Ok((
            Self {
                name: Arc::from(name),
                config: config.clone(),
                client,
                store,
                reads,
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
        let mut commits = self.store.commits();
        let mut queue: VecDeque<Batch> = VecDeque::new();
        // Subjects with an event queued or in flight here: at most one per subject in hand,
        // which is what keeps per-subject order whatever the ledger does meanwhile.
        let mut busy: HashSet<String> = HashSet::new();
        let mut drops_seen = commits.borrow().drops;
        let mut inflight: JoinSet<Done> = JoinSet::new();
        let mut failures: u32 = 0;
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

        loop {
            // Read more only once the hand is half empty: fewer, larger reads under load.
            if need_fetch && busy.len() <= target / 2 {
                need_fetch = false;
                match self.fetch(&busy, target - busy.len()).await {
                    Ok(batches) => {
                        for b in batches {
                            busy.extend(b.subjects.iter().cloned());
                            queue.push_back(b);
                        }
                    }
                    Err(error) => {
                        error!(error = %error, "Reading pending deliveries failed.");
                        gate = Instant::now() + cfg.retry_initial;
                        need_fetch = true;
                    }
                }
            }

            // Dispatch as much as pacing allows.
            let now = Instant::now();
            let mut wake: Option<Instant> = None;
            while let Some(front) = queue.front() {
                let cap = if paused.is_some() { 1 } else { limit };
                if inflight.len() >= cap {
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
                if !front.recorded {
                    let (key, seqs) = (front.key.clone(), front.seqs.clone());
                    if let Err(error) = self.store.assign_batch(self.name.clone(), key, seqs).await
                    {
                        error!(error = %error, "Recording batch membership failed.");
                        gate = Instant::now() + cfg.retry_initial;
                        wake = Some(gate);
                        break;
                    }
                }
                let Some(mut batch) = queue.pop_front() else {
                    break;
                };
                batch.recorded = true;
                batch.drops_epoch = drops_seen;
                inflight.spawn(request(
                    self.client.clone(),
                    self.store.clone(),
                    self.name.clone(),
                    batch,
                    batch_mode,
                ));
            }
            self.update_status(|s| {
                s.in_flight = inflight.len();
                s.concurrency_limit = limit;
                s.heartbeat_ms = now_ms();
            });

            tokio::select! {
                // Shutdown: stop sending; requests in flight finish below.
                _ = cancel.cancelled() => break,
                // A request finished and its outcome is committed.
                Some(joined) = inflight.join_next() => {
                    let Ok(done) = joined else { continue };
                    let Done { batch, answer, recorded } = done;
                    if let Err(error) = &recorded {
                        // The ledger did not take the outcome: forget the batch so it is read
                        // again; the receiver may see it twice, under the same key.
                        error!(error = %error, "Recording a delivery outcome failed.");
                        for s in &batch.subjects { busy.remove(s); }
                        need_fetch = true;
                        continue;
                    }
                    match answer.verdict {
                        Verdict::Delivered => {
                            let now_ms = now_ms();
                            let histogram = metrics::histogram!("dockgate_delivery_latency_seconds", "sink" => sink.clone());
                            for c in &batch.created_ms {
                                histogram.record(((now_ms - c).max(0)) as f64 / 1000.0);
                            }
                            metrics::counter!("dockgate_deliveries_total", "sink" => sink.clone()).increment(batch.seqs.len() as u64);
                            for s in &batch.subjects { busy.remove(s); }
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
                            let delay = retry_after.unwrap_or_else(|| {
                                backoff(failures, cfg.retry_initial, cfg.retry_max, rand::random::<f64>())
                            });
                            failures = failures.saturating_add(1);
                            if failures == 1 {
                                warn!(error = %answer.detail, retry_in = ?delay, "Delivery failed; retrying.");
                            } else {
                                debug!(error = %answer.detail, failures, retry_in = ?delay, "Delivery failed again.");
                            }
                            gate = gate.max(Instant::now() + delay);
                            limit = 1;
                            self.note_error(&answer, if paused.is_some() { "paused" } else { "retrying" }, failures);
                            requeue(&mut queue, &mut busy, &mut need_fetch, batch, drops_seen);
                        }
                        Verdict::Pause { reason } => {
                            metrics::counter!("dockgate_delivery_failures_total", "sink" => sink.clone(), "reason" => reason).increment(1);
                            if paused.is_none() {
                                error!(error = %answer.detail, probe_every = ?cfg.retry_max,
                                    "Sink paused: the receiver rejects our credentials or URL; events stay queued. Fix the sink configuration.");
                                metrics::gauge!("dockgate_sink_paused", "sink" => sink.clone()).set(1.0);
                            }
                            paused = Some(reason);
                            failures = failures.saturating_add(1);
                            gate = Instant::now() + cfg.retry_max;
                            limit = 1;
                            self.update_status(|s| s.paused_reason = Some(reason.to_owned()));
                            self.note_error(&answer, "paused", failures);
                            requeue(&mut queue, &mut busy, &mut need_fetch, batch, drops_seen);
                        }
                        Verdict::Refused { reason } => {
                            metrics::counter!("dockgate_delivery_failures_total", "sink" => sink.clone(), "reason" => reason).increment(1);
                            if batch.is_batch() {
                                debug!(events = batch.seqs.len(), "Batch refused; splitting it to find the refused events.");
                                let (a, b) = batch.split();
                                queue.push_front(b);
                                queue.push_front(a);
                            } else {
                                error!(event_id = %id_of(&batch.json[0]), event_seq = batch.seqs[0], error = %answer.detail, excerpt = %answer.excerpt,
                                    "Event refused by the receiver; dead-lettered. Later events of its subject are held until it is replayed.");
                                for s in &batch.subjects { busy.remove(s); }
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
                            for s in &b.subjects { busy.remove(s); }
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

    async fn fetch(
        &self,
        busy: &HashSet<String>,
        want: usize,
    ) -> Result<Vec<Batch>, crate::store::StoreError> {
        let sink = self.name.to_string();
        let exclude = busy.clone();
        let batch_max = self.config.batch_max_events;
        self.reads
            .run(move |conn| {
                let rows = read::ready_deliveries(conn, &sink, want, &exclude)?;
                let mut batches = Vec::new();
                let mut loose = Vec::new();
                let mut taken = HashSet::new();
                for row in rows {
                    if taken.contains(&row.seq) {
                        continue;
                    }
                    match (&row.batch_key, batch_max > 1) {
                        (Some(key), true) => {
                            // A batch recorded before a restart (or a split): resend it whole,
                            // under its key.
                            let members = read::batch_members(conn, &sink, key)?;
                            let items = read::deliveries_by_seq(conn, &members)?;
                            if items.is_empty() {
                                continue;
                            }
                            taken.extend(items.iter().map(|d| d.seq));
                            let key = key.clone();
                            batches.push(Batch::new(items, Some(key)));
                        }
                        _ => loose.push(row),
                    }
                }
                let mut chunk = Vec::with_capacity(batch_max);
                for row in loose {
                    if taken.contains(&row.seq) {
                        continue;
                    }
                    chunk.push(row);
                    if chunk.len() == batch_max {
                        batches.push(Batch::new(std::mem::take(&mut chunk), None));
                    }
                }
                if !chunk.is_empty() {
                    batches.push(Batch::new(chunk, None));
                }
                Ok(batches)
            })
            .await
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

/// One request: POST, then record the outcome in the ledger before reporting back.
async fn request(
    client: SinkClient,
    store: StoreHandle,
    sink: Arc<str>,
    batch: Batch,
    batch_mode: bool,
) -> Done {
    let body = batch.body(batch_mode);
    let answer = client.post(body, batch_mode, &batch.key).await;
    let outcome = match &answer.verdict {
        Verdict::Delivered => Some(Outcome::Delivered {
            seqs: batch.seqs.clone(),
            status: answer.status.unwrap_or(200),
        }),
        Verdict::Retry { .. } | Verdict::Pause { .. } => Some(Outcome::Failed {
            seqs: batch.seqs.clone(),
            status: answer.status,
            error: answer.detail.clone(),
        }),
        Verdict::Refused { .. } if !batch.is_batch() => Some(Outcome::Dead {
            seq: batch.seqs[0],
            status: answer.status.unwrap_or(0),
            error: answer.detail.clone(),
            excerpt: answer.excerpt.clone(),
        }),
        Verdict::Refused { .. } => None,
    };
    let recorded = match outcome {
        Some(outcome) => store.record(sink, outcome).await,
        None => Ok(()),
    };
    Done {
        batch,
        answer,
        recorded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(seq: i64, id: &str) -> ReadyDelivery {
        let mut json = String::new();
        crate::model::write_cloudevent(
            &mut json,
            id,
            "s",
            "t",
            "x",
            "2024-01-01T00:00:00.000Z",
            seq,
            "{}",
        );
        ReadyDelivery {
            seq,
            id: id.into(),
            subject: format!("S{seq}"),
            batch_key: None,
            created_ms: 0,
            json,
        }
    }

    #[test]
    fn batch_keys_are_stable_and_order_sensitive() {
        let a = batch_key(["x", "y"].into_iter());
        assert_eq!(a, batch_key(["x", "y"].into_iter()));
        assert_ne!(a, batch_key(["y", "x"].into_iter()));
        assert!(a.starts_with("b-") && a.len() == 34);
    }

    #[test]
    fn single_event_key_is_its_id() {
        let b = Batch::new(vec![item(1, "id-1")], None);
        assert_eq!(b.key, "id-1");
        assert!(b.recorded);
        assert_eq!(b.body(false), b.json[0]);
    }

    #[test]
    fn split_halves_get_new_keys_and_singles_use_the_id() {
        let b = Batch::new(vec![item(1, "a"), item(2, "b"), item(3, "c")], None);
        assert!(!b.recorded);
        let body: serde_json::Value = serde_json::from_str(&b.body(true)).unwrap();
        assert_eq!(body.as_array().unwrap().len(), 3);
        let (l, r) = b.split();
        assert_eq!(l.seqs, vec![1]);
        assert_eq!(l.key, "a");
        assert!(l.recorded);
        assert_eq!(r.seqs, vec![2, 3]);
        assert_eq!(r.key, batch_key(["b", "c"].into_iter()));
        assert!(!r.recorded);
    }
}

//! The values the ledger's interface takes and gives: what became of an input, what a sink
//! sends next and reports back, replay selectors, and the figures and listings of the queries.
//! None of them says how the ledger stores anything.

use std::sync::Arc;

use serde::Serialize;

use crate::model::DeliveryState;
use crate::workflow::Feedback;

/// A client's Idempotency-Key and the hash of the body it came with.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    /// The key as sent.
    pub key: String,
    /// Of `body`, so only [`IdempotencyKey::new`] makes one.
    body_hash: [u8; 16],
    /// The request body, for keys stored before layout 8 under SHA-256 (shared with the
    /// request, so it costs no copy; it lives until the writer has looked the key up).
    body: bytes::Bytes,
}

impl IdempotencyKey {
    /// The key of a request with this body; hashed here, on the caller's thread, not the
    /// writer's.
    pub fn new(key: String, body: bytes::Bytes) -> Self {
        Self {
            key,
            body_hash: xxhash_rust::xxh3::xxh3_128(&body).to_be_bytes(),
            body,
        }
    }

    /// What is kept of the body to recognise a retry: its XXH3-128 hash.
    pub fn body_hash(&self) -> &[u8; 16] {
        &self.body_hash
    }

    /// Whether `stored`, the hash kept under this key, is of this body. Keys stored before
    /// layout 8 kept a SHA-256 hash (32 bytes).
    pub fn same_body(&self, stored: &[u8]) -> bool {
        use sha2::{Digest, Sha256};
        if stored.len() == 32 {
            stored == Sha256::digest(&self.body).as_slice()
        } else {
            stored == self.body_hash
        }
    }
}

/// What became of one device input, told only after the commit.
#[derive(Debug, Clone)]
pub enum InputOutcome {
    /// Committed; these events came of it (possibly none, e.g. an order scan opening a session).
    Committed {
        /// Event ids.
        ids: Vec<String>,
        /// What the workflow has to say to the operator.
        feedback: Option<Feedback>,
    },
    /// A redelivered MQTT message that was already committed: acknowledge, nothing new.
    Duplicate,
    /// Quarantined with its raw bytes (`dockgate events --state rejected`).
    Rejected {
        /// Machine reason.
        reason: &'static str,
        /// What is wrong, for people.
        detail: String,
    },
}

/// One event a sink may send, its CloudEvents body rendered.
#[derive(Debug, Clone)]
pub struct Sendable {
    /// Sequence number.
    pub seq: i64,
    /// Event id.
    pub id: Arc<str>,
    /// Subject (a sink keeps at most one run of a subject in hand); shared with the read-ahead,
    /// the worker's hand and the outcome, since every one of them keys on it.
    pub subject: Arc<str>,
    /// When the event was committed (ms), for the latency histogram.
    pub created_ms: i64,
    /// The CloudEvents JSON of the event, as stored: shared with the ledger's read-ahead, not
    /// copied.
    pub body: Arc<str>,
}

impl Sendable {
    /// The event as an outcome names it.
    pub fn event_ref(&self) -> EventRef {
        EventRef {
            seq: self.seq,
            subject: self.subject.clone(),
        }
    }
}

/// What a sink worker already holds, queued or in flight, which its next read skips: asked
/// of the worker's own maps rather than copied into sets at every read.
#[derive(Clone, Copy)]
pub struct InHand<'a> {
    /// A subject with events in hand.
    pub subject: &'a (dyn Fn(&str) -> bool + Sync),
    /// An event in hand, by sequence number.
    pub event: &'a (dyn Fn(i64) -> bool + Sync),
}

impl InHand<'static> {
    /// A worker holding nothing.
    pub const NOTHING: InHand<'static> = InHand {
        subject: &|_| false,
        event: &|_| false,
    };
}

/// What a sink reads next, oldest obligation first.
#[derive(Debug, Clone)]
pub enum Ready {
    /// A request planned earlier (before a restart, or let go by the worker) and not delivered:
    /// its pending events in the order planned, to be resent under the same key when they are
    /// still the ones keyed.
    Planned {
        /// Idempotency-Key it was planned under.
        key: String,
        /// Its events still pending.
        events: Vec<Sendable>,
    },
    /// Heads of subjects in draining order, each with the events waiting behind it in its
    /// subject; at most `batch_max` events, not planned in any request yet.
    Fresh(Vec<Sendable>),
}

/// An event, as a sink's outcome names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRef {
    /// Sequence number.
    pub seq: i64,
    /// Its subject.
    pub subject: Arc<str>,
}

/// A request a sink is about to send for the first time under `key`, planned before it goes
/// out so that a retry (also after a restart) carries the same events under the same key.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Idempotency-Key of the request.
    pub key: String,
    /// Its events, ascending.
    pub seqs: Vec<i64>,
    /// The planned request these events came from (a refused batch split in two, a batch that
    /// lost a subject to a dead letter), which this one replaces.
    pub replaces: Option<String>,
}

/// What a sink reports about a request.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// 2xx: these events reached the sink.
    Delivered {
        /// Idempotency-Key of the request.
        key: String,
        /// Its events.
        events: Vec<EventRef>,
        /// HTTP status of the acknowledgement.
        status: u16,
    },
    /// A retriable failure (or a paused sink's probe): count the attempt, keep the events pending.
    Failed {
        /// Idempotency-Key of the request.
        key: String,
        /// Its events.
        events: Vec<EventRef>,
        /// HTTP status, when there was an answer.
        status: Option<u16>,
        /// What went wrong.
        error: String,
    },
    /// The receiver refused this event for good (400/413/422): dead-letter it and hold what
    /// follows in its subject.
    Dead {
        /// The refused event.
        event: EventRef,
        /// HTTP status; none when the request was never sent (its template failed).
        status: Option<u16>,
        /// Our summary of the refusal.
        error: String,
        /// Start of the receiver's answer, as evidence.
        excerpt: String,
    },
}

/// Which events `replay` puts back to pending.
#[derive(Debug, Clone)]
pub enum ReplaySelector {
    /// Every dead letter of the sink.
    Dead,
    /// One event by id.
    Event(String),
    /// Every event of the sink that arrived at or after this time (ms since the epoch),
    /// delivered ones included.
    Since(i64),
}

/// What the writer announces after each commit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Commits {
    /// Increases with every commit: new work may be ready.
    pub generation: u64,
    /// Increases whenever events were dropped to make room (undelivered telemetry, and with
    /// it any dead letter that held its subject): sinks must forget what they hold, since some
    /// of it may no longer exist or may be free to go.
    pub drops: u64,
    /// Increases with every replay that put events back: what a sink read ahead before it
    /// is read again.
    pub resets: u64,
    /// Highest sequence number committed.
    pub last_seq: i64,
}

/// Undelivered events of one sink, by state.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Backlog {
    /// Sink name.
    pub sink: String,
    /// Waiting to be sent.
    pub pending: u64,
    /// Waiting behind a dead letter.
    pub held: u64,
    /// Refused by the receiver.
    pub dead: u64,
    /// Age in seconds of the oldest pending event, if any.
    pub oldest_pending_age_seconds: Option<f64>,
    /// When a request of a sink no longer configured was last delivered (ms since the epoch),
    /// from its receipts; a configured sink's worker keeps its own.
    pub removed_last_delivery_ms: Option<i64>,
}

/// What the ledger holds, for status and capacity forecasts.
#[derive(Debug, Clone, Default)]
pub struct LedgerStatus {
    /// Backlog of each sink asked about, then of any other sink with events waiting (one removed
    /// from the configuration).
    pub sinks: Vec<Backlog>,
    /// Events stored (any state).
    pub events: u64,
    /// Events committed in the last hour.
    pub events_last_hour: u64,
    /// Bytes of event data committed in the last hour.
    pub data_bytes_last_hour: u64,
    /// Bytes of event data stored.
    pub data_bytes: u64,
    /// Highest sequence number handed out.
    pub last_sequence: i64,
    /// Bytes the buffer file uses.
    pub used_bytes: u64,
    /// Damaged buffer files set aside in the data directory and not removed yet.
    pub set_aside: Vec<String>,
}

/// One event on one sink, as `dockgate events` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct EventRow {
    /// Event id.
    pub id: String,
    /// Sequence number.
    pub sequence: i64,
    /// Subject.
    pub subject: String,
    /// Event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Sink.
    pub sink: String,
    /// Delivery state on that sink.
    pub state: DeliveryState,
    /// Attempts so far.
    pub attempts: i64,
    /// HTTP status of the last answer.
    pub last_status: Option<i64>,
    /// Last error.
    pub last_error: Option<String>,
    /// Start of the refusing answer (dead letters).
    pub excerpt: Option<String>,
    /// Event time.
    pub time: String,
    /// When it was delivered (receipt).
    pub delivered_at: Option<String>,
}

/// Which events to list.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only this sink.
    pub sink: Option<String>,
    /// Only this state.
    pub state: Option<DeliveryState>,
    /// Most rows returned.
    pub limit: usize,
}

/// One quarantined input (`dockgate events --state rejected`).
#[derive(Debug, Clone, Serialize)]
pub struct RejectedRow {
    /// Its number in the quarantine.
    pub id: i64,
    /// Device id.
    pub device: String,
    /// When it arrived.
    pub received_at: String,
    /// Machine reason (`overlong_line`, `invalid_utf8`, `invalid_json`, ...).
    pub reason: String,
    /// What is wrong, for people.
    pub detail: String,
    /// The raw bytes, printable: non-ASCII and control bytes as `\xNN`.
    pub raw: String,
    /// Size of the raw input in bytes.
    pub bytes: usize,
}

/// What `dockgate check` found in a buffer.
#[derive(Debug, Clone, Serialize)]
pub struct BufferCheck {
    /// The buffer file.
    pub path: std::path::PathBuf,
    /// Layout version of the file.
    pub layout: i64,
    /// Newest layout this dockgate knows.
    pub known_layout: i64,
    /// Each check, in the order run.
    pub findings: Vec<CheckFinding>,
    /// Deliveries by sink and state.
    pub sinks: Vec<SinkCounts>,
    /// Events stored.
    pub events: u64,
    /// Highest sequence number handed out.
    pub last_sequence: i64,
    /// Device inputs in the journal.
    pub inputs: u64,
    /// Quarantined inputs.
    pub quarantined: u64,
}

impl BufferCheck {
    /// Every check passed.
    pub fn sound(&self) -> bool {
        self.findings.iter().all(|f| f.ok)
    }
}

/// One check of `dockgate check`.
#[derive(Debug, Clone, Serialize)]
pub struct CheckFinding {
    /// Passed.
    pub ok: bool,
    /// What was checked.
    pub what: String,
    /// What was found, and for a failure what it means and what to do.
    pub detail: Option<String>,
}

impl CheckFinding {
    pub(crate) fn ok(what: impl Into<String>, detail: Option<String>) -> Self {
        Self {
            ok: true,
            what: what.into(),
            detail,
        }
    }

    pub(crate) fn fail(what: impl Into<String>, detail: String) -> Self {
        Self {
            ok: false,
            what: what.into(),
            detail: Some(detail),
        }
    }
}

/// Deliveries of one sink by state, delivered receipts included.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SinkCounts {
    /// Sink name.
    pub sink: String,
    /// Waiting to be sent.
    pub pending: u64,
    /// Waiting behind a dead letter.
    pub held: u64,
    /// Refused by the receiver.
    pub dead: u64,
    /// Delivered, receipt kept until retention.
    pub delivered: u64,
    /// In a state this dockgate does not know.
    pub unknown: u64,
}

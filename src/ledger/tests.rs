//! Ledger tests through its interface alone, on a real buffer in a tempdir: ids and sequences,
//! idempotency, per-subject heads, dead letters and held events, replay, the full-buffer drop
//! order, device inputs, planned requests, the data directory's lock, and a randomized check
//! of per-subject order against a simple model. They say nothing of how the ledger stores
//! things, so they hold for any representation; its own tests are in `sqlite/tests.rs`.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::model::{now_ms, DeliveryState, Redelivery};

mod catalogue;
mod inputs;
mod plans;

pub(crate) fn settings(dir: &Path, extra: &str) -> LedgerSettings {
    let text = format!(
        "version = 1\n[site]\nid = \"wh-test\"\ndata_dir = \"{}\"\n\
         [sinks.erp]\nurl = \"http://127.0.0.1:9/\"\nevents = [\"*\"]\n\
         [sinks.crm]\nurl = \"http://127.0.0.1:9/\"\nevents = [\"shipment.*\", \"*.exception\"]\n{extra}",
        dir.display()
    );
    LedgerSettings::from_config(&Config::parse(&text).expect("test config is valid"))
}

/// Locks `dir` and opens a ledger in it, as the daemon does.
pub(super) fn open_in(
    dir: &Path,
    extra: &str,
) -> Result<(LedgerHandle, LedgerThread), LedgerError> {
    open(settings(dir, extra), lock(dir)?)
}

pub(crate) fn event(t: &str, subject: &str) -> NewEvent {
    NewEvent {
        event_type: t.into(),
        subject: subject.into(),
        source: "dockgate://wh-test/api".into(),
        time_ms: now_ms(),
        data: serde_json::value::RawValue::from_string("{\"n\":1}".into()).unwrap(),
    }
}

/// `n` characters that do not compress (the log compresses its records): padding for tests
/// that fill a buffer.
pub(crate) fn incompressible(n: usize) -> String {
    use rand::Rng;
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

/// An open ledger on a tempdir, and what a sink would see of it (other modules' tests use it
/// for a real ledger too).
pub(crate) struct Ledger {
    pub handle: LedgerHandle,
    pub dir: tempfile::TempDir,
    thread: Option<LedgerThread>,
}

impl Ledger {
    pub fn open(extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (handle, thread) = open_in(dir.path(), extra).unwrap();
        Self {
            handle,
            dir,
            thread: Some(thread),
        }
    }

    /// Closes the ledger and opens it again on the same directory, as a restart does.
    pub async fn reopen(mut self, extra: &str) -> Self {
        let thread = self.thread.take();
        drop(self.handle);
        if let Some(thread) = thread {
            tokio::task::spawn_blocking(move || thread.join())
                .await
                .unwrap();
        }
        let (handle, thread) = open_in(self.dir.path(), extra).unwrap();
        Self {
            handle,
            dir: self.dir,
            thread: Some(thread),
        }
    }

    pub async fn submit(&self, events: Vec<NewEvent>) -> Vec<String> {
        self.handle.submit_events(events, None).await.unwrap()
    }

    /// (sequence, state, subject, type) of every event of a sink, by sequence.
    pub async fn rows(&self, sink: &str) -> Vec<(i64, DeliveryState, String, String)> {
        let filter = EventFilter {
            sink: Some(sink.into()),
            state: None,
            limit: 100_000,
        };
        let rows = self.handle.events(filter).await.unwrap();
        rows.into_iter()
            .map(|r| (r.sequence, r.state, r.subject, r.event_type))
            .collect()
    }

    /// What the sink may send now, one event per subject: the heads, in draining order.
    pub async fn ready(&self, sink: &str) -> Vec<i64> {
        self.next(sink, 1)
            .await
            .into_iter()
            .flat_map(|r| match r {
                Ready::Fresh(events) | Ready::Planned { events, .. } => events,
            })
            .map(|e| e.seq)
            .collect()
    }

    pub async fn next(&self, sink: &str, batch_max: usize) -> Vec<Ready> {
        self.handle
            .sink(sink)
            .next(10_000, batch_max, InHand::NOTHING)
            .await
            .unwrap()
    }

    async fn refs(&self, sink: &str, seqs: &[i64]) -> Vec<EventRef> {
        let rows = self.rows(sink).await;
        seqs.iter()
            .map(|seq| {
                let row = rows.iter().find(|r| r.0 == *seq).expect("a known event");
                EventRef {
                    seq: *seq,
                    subject: row.2.as_str().into(),
                }
            })
            .collect()
    }

    pub async fn deliver(&self, sink: &str, seqs: Vec<i64>) {
        let outcome = Outcome::Delivered {
            key: format!("k-{seqs:?}"),
            events: self.refs(sink, &seqs).await,
            status: 200,
        };
        self.handle.sink(sink).record(outcome).await.unwrap();
    }

    pub async fn kill(&self, sink: &str, seq: i64) {
        let Some(event) = self.refs(sink, &[seq]).await.pop() else {
            return;
        };
        let outcome = Outcome::Dead {
            event,
            status: Some(400),
            error: "HTTP 400".into(),
            excerpt: "bad gtin".into(),
        };
        self.handle.sink(sink).record(outcome).await.unwrap();
    }
}

fn states(rows: &[(i64, DeliveryState, String, String)]) -> Vec<DeliveryState> {
    rows.iter().map(|r| r.1).collect()
}

#[tokio::test]
async fn ids_and_sequences_are_assigned_at_commit_and_routed() {
    let l = Ledger::open("");
    let ids = l
        .submit(vec![
            event("pick.confirmed", "SO-1"),
            event("shipment.loaded", "SSCC-1"),
        ])
        .await;
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    let erp: Vec<i64> = l.rows("erp").await.iter().map(|r| r.0).collect();
    assert_eq!(erp, vec![1, 2]);
    // The CRM takes only shipments and exceptions.
    let crm: Vec<i64> = l.rows("crm").await.iter().map(|r| r.0).collect();
    assert_eq!(crm, vec![2]);
    l.submit(vec![event("pick.confirmed", "SO-2")]).await;
    assert_eq!(l.rows("erp").await.last().unwrap().0, 3);
}

/// The listing of delivered events shows how many attempts each took, also the failed ones
/// from before a restart.
#[tokio::test]
async fn a_delivered_event_keeps_the_attempts_its_request_took() {
    let l = Ledger::open("");
    l.submit(vec![
        event("pick.confirmed", "SO-1"),
        event("pick.confirmed", "SO-2"),
    ])
    .await;
    for _ in 0..2 {
        let failed = Outcome::Failed {
            key: "k-[1]".into(),
            events: l.refs("erp", &[1]).await,
            status: Some(503),
            error: "HTTP 503".into(),
        };
        l.handle.sink("erp").record(failed).await.unwrap();
    }
    let l = l.reopen("").await;
    l.deliver("erp", vec![1]).await;
    l.deliver("erp", vec![2]).await;
    let delivered = l.handle.events(EventFilter {
        sink: Some("erp".into()),
        state: Some(DeliveryState::Delivered),
        limit: 10,
    });
    let attempts: Vec<(i64, i64)> = delivered
        .await
        .unwrap()
        .iter()
        .map(|r| (r.sequence, r.attempts))
        .collect();
    assert_eq!(attempts, vec![(1, 3), (2, 1)]);
}

#[tokio::test]
async fn sequences_are_never_reused_across_a_restart() {
    let l = Ledger::open("");
    l.submit(vec![event("pick.confirmed", "SO-1")]).await;
    let l = l.reopen("").await;
    l.submit(vec![event("pick.confirmed", "SO-2")]).await;
    let seqs: Vec<i64> = l.rows("erp").await.iter().map(|r| r.0).collect();
    assert_eq!(seqs, vec![1, 2]);
}

#[tokio::test]
async fn idempotency_key_returns_the_same_ids_or_conflicts() {
    let l = Ledger::open("");
    let key = |h: u8| {
        Some(IdempotencyKey::new(
            "k-1".into(),
            bytes::Bytes::from(vec![h; 64]),
        ))
    };
    let submit = |e, k| l.handle.submit_events(vec![e], k);
    let first = submit(event("pick.confirmed", "SO-1"), key(1))
        .await
        .unwrap();
    let again = submit(event("pick.confirmed", "SO-1"), key(1))
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(
        l.rows("erp").await.len(),
        1,
        "a retried POST must not create a second event"
    );
    let other = submit(event("pick.confirmed", "SO-9"), key(2)).await;
    assert!(matches!(other, Err(IngestError::KeyConflict)));
}

#[tokio::test]
async fn only_the_head_of_a_subject_is_ready_and_delivery_advances_it() {
    let l = Ledger::open("");
    l.submit(vec![
        event("pick.confirmed", "SO-1"),
        event("pick.confirmed", "SO-2"),
        event("pick.completed", "SO-1"),
        event("shipment.loaded", "SO-1"),
    ])
    .await;
    assert_eq!(l.ready("erp").await, vec![1, 2]);
    l.deliver("erp", vec![1]).await;
    assert_eq!(l.ready("erp").await, vec![2, 3]);
    l.deliver("erp", vec![3]).await;
    // The shipment is now the head; priority puts it before SO-2's pick.
    assert_eq!(l.ready("erp").await, vec![4, 2]);
}

#[tokio::test]
async fn a_head_brings_its_run_and_busy_subjects_are_skipped() {
    let l = Ledger::open("");
    l.submit(vec![
        event("pick.confirmed", "SO-1"),
        event("pick.confirmed", "SO-1"),
        event("pick.confirmed", "SO-2"),
        event("pick.confirmed", "SO-1"),
    ])
    .await;
    let fresh = |ready: Vec<Ready>| -> Vec<Vec<i64>> {
        ready
            .into_iter()
            .map(|r| match r {
                Ready::Fresh(events) => events.iter().map(|e| e.seq).collect(),
                Ready::Planned { key, .. } => panic!("nothing was planned, got {key}"),
            })
            .collect()
    };
    // Runs fill a request: SO-1's three events, then SO-2's one, in a request of 4.
    assert_eq!(fresh(l.next("erp", 4).await), vec![vec![1, 2, 4, 3]]);
    // A subject the sink holds is not read again.
    let reader = l.handle.sink("erp");
    let busy = InHand {
        subject: &|s| s == "SO-1",
        event: &|_| false,
    };
    let next = reader.next(100, 4, busy).await.unwrap();
    assert_eq!(fresh(next), vec![vec![3]]);
    // Rendered once, as the sink sends them.
    let Ready::Fresh(events) = &l.next("erp", 1).await[0] else {
        panic!("a fresh head")
    };
    let body: serde_json::Value = serde_json::from_str(&events[0].body).unwrap();
    assert_eq!(body["specversion"], "1.0");
    assert_eq!(body["sequence"], "1");
    assert_eq!(body["id"], &*events[0].id);
    assert_eq!(body["data"]["n"], 1);
}

#[tokio::test]
async fn dead_letter_holds_its_subject_until_replay() {
    use DeliveryState::{Dead, Held, Pending};
    let l = Ledger::open("");
    l.submit(vec![
        event("pick.confirmed", "SO-1"),
        event("pick.confirmed", "SO-1"),
        event("pick.confirmed", "SO-2"),
    ])
    .await;
    l.kill("erp", 1).await;
    assert_eq!(states(&l.rows("erp").await), vec![Dead, Held, Pending]);
    assert_eq!(l.ready("erp").await, vec![3]);
    let dead = l.handle.events(EventFilter {
        sink: Some("erp".into()),
        state: Some(Dead),
        limit: 10,
    });
    let dead = dead.await.unwrap();
    assert_eq!(dead[0].last_status, Some(400));
    assert_eq!(
        dead[0].excerpt.as_deref(),
        Some("bad gtin"),
        "the evidence is kept"
    );
    // New input for the blocked subject is held on arrival.
    l.submit(vec![event("pick.completed", "SO-1")]).await;
    assert_eq!(l.rows("erp").await[3].1, Held);
    let n = l.handle.replay("erp".into(), ReplaySelector::Dead).await;
    assert_eq!(n.unwrap(), 1);
    assert_eq!(
        states(&l.rows("erp").await),
        vec![Pending, Pending, Pending, Pending]
    );
    assert_eq!(l.ready("erp").await, vec![1, 3]);
    l.deliver("erp", vec![1]).await;
    assert_eq!(l.ready("erp").await, vec![2, 3]);
}

#[tokio::test]
async fn replay_by_id_and_since_resend_delivered_events() {
    let l = Ledger::open("");
    let ids = l
        .submit(vec![
            event("pick.confirmed", "SO-1"),
            event("pick.confirmed", "SO-2"),
        ])
        .await;
    l.deliver("erp", vec![1, 2]).await;
    assert!(l.ready("erp").await.is_empty());
    let replay = |selector| l.handle.replay("erp".into(), selector);
    let n = replay(ReplaySelector::Event(ids[1].clone())).await.unwrap();
    assert_eq!(n, 1);
    assert_eq!(l.ready("erp").await, vec![2]);
    let n = replay(ReplaySelector::Since(now_ms() - 60_000))
        .await
        .unwrap();
    assert_eq!(
        n, 1,
        "only the delivered one is put back; the pending one already waits"
    );
    assert_eq!(l.ready("erp").await, vec![1, 2]);
    let n = replay(ReplaySelector::Since(now_ms() + 60_000))
        .await
        .unwrap();
    assert_eq!(n, 0);
    let n = replay(ReplaySelector::Event("not-an-id".into()))
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn full_buffer_drops_telemetry_first_and_then_refuses_business_input() {
    let l = Ledger::open("[buffer]\nmax_disk = \"1MiB\"\n");
    let big = incompressible(2000);
    let fat = |t: &str, s: &str| NewEvent {
        data: serde_json::value::RawValue::from_string(format!("{{\"pad\":\"{big}\"}}")).unwrap(),
        ..event(t, s)
    };
    let telemetry = 150;
    for i in 0..telemetry {
        l.submit(vec![fat("dock.door.opened", &format!("D{i}"))])
            .await;
    }
    let mut accepted = Vec::new();
    let mut refused = false;
    for i in 0..2000 {
        let submitted = l
            .handle
            .submit_events(vec![fat("pick.confirmed", &format!("SO-{i}"))], None);
        match submitted.await {
            Ok(ids) => accepted.extend(ids),
            Err(IngestError::BufferFull { .. }) => {
                refused = true;
                break;
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert!(refused, "a 1 MiB buffer must fill up");
    let rows = l
        .handle
        .events(EventFilter {
            sink: Some("erp".into()),
            state: None,
            limit: 100_000,
        })
        .await
        .unwrap();
    let dock_left = rows
        .iter()
        .filter(|r| r.event_type == "dock.door.opened")
        .count();
    assert!(
        dock_left < telemetry,
        "telemetry gives way before business input is refused"
    );
    let business: HashSet<&str> = rows
        .iter()
        .filter(|r| r.event_type == "pick.confirmed")
        .map(|r| r.id.as_str())
        .collect();
    for id in &accepted {
        assert!(
            business.contains(id.as_str()),
            "acknowledged business event {id} was lost"
        );
    }
    let status = l.handle.status(vec!["erp".into()]).await.unwrap();
    assert!(status.used_bytes <= 1024 * 1024, "{}", status.used_bytes);
}

#[tokio::test]
async fn status_reads_beside_the_writer() {
    let l = Ledger::open("");
    l.submit(vec![event("pick.confirmed", "SO-1")]).await;
    let status = l
        .handle
        .status(vec!["erp".to_string(), "crm".to_string()])
        .await
        .unwrap();
    assert_eq!(status.sinks[0].pending, 1);
    assert_eq!(status.sinks[1].pending, 0);
    assert!(status.sinks[0].oldest_pending_age_seconds.is_some());
    assert_eq!((status.events, status.events_last_hour), (1, 1));
    assert_eq!(status.last_sequence, 1);
    assert!(status.used_bytes > 0 && status.set_aside.is_empty());
}

#[tokio::test]
async fn a_second_ledger_on_the_same_directory_is_refused() {
    let l = Ledger::open("");
    match open_in(l.dir.path(), "") {
        Err(e @ LedgerError::Locked { .. }) => {
            let message = e.to_string();
            assert!(message.contains("in use by another dockgate"), "{message}");
        }
        Err(other) => panic!("refused for the wrong reason: {other}"),
        Ok(_) => panic!("two ledgers opened one data directory"),
    }
    // The first one goes on.
    l.submit(vec![event("pick.confirmed", "SO-1")]).await;
}

/// Random ingest / deliver / dead-letter / replay on a few subjects; after every step the
/// ledger must agree with a model of per-subject queues: what a sink may send is exactly the
/// first open event of each subject when it is pending, and events behind a dead one are held.
#[tokio::test]
async fn randomized_heads_and_holds_follow_a_model() {
    let l = Ledger::open("");
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..400 {
        match rng.random_range(0..10) {
            0..=4 => {
                let n = rng.random_range(1..4);
                let events = (0..n)
                    .map(|_| event("pick.confirmed", &format!("S{}", rng.random_range(0..4))))
                    .collect();
                l.submit(events).await;
            }
            5..=7 => {
                // Sometimes with the run waiting behind it, as a batching sink sends it.
                let batch_max = if rng.random_bool(0.5) { 4 } else { 1 };
                let ready = l.ready("erp").await;
                if !ready.is_empty() {
                    let pick = ready[rng.random_range(0..ready.len())];
                    let subject = l.refs("erp", &[pick]).await[0].subject.clone();
                    // Every other subject is in hand.
                    let busy = InHand {
                        subject: &|s| *s != *subject,
                        event: &|_| false,
                    };
                    let run = l
                        .handle
                        .sink("erp")
                        .next(batch_max, batch_max, busy)
                        .await
                        .unwrap();
                    let seqs: Vec<i64> = match run.first() {
                        Some(Ready::Fresh(events)) => events.iter().map(|e| e.seq).collect(),
                        _ => Vec::new(),
                    };
                    assert_eq!(seqs.first(), Some(&pick), "a run starts at its head");
                    l.deliver("erp", seqs).await;
                }
            }
            8 => {
                let ready = l.ready("erp").await;
                if !ready.is_empty() {
                    let pick = ready[rng.random_range(0..ready.len())];
                    l.kill("erp", pick).await;
                }
            }
            _ => {
                l.handle
                    .replay("erp".into(), ReplaySelector::Dead)
                    .await
                    .unwrap();
            }
        }
        check_against_model(&l.rows("erp").await, &l.ready("erp").await);
    }
}

fn check_against_model(rows: &[(i64, DeliveryState, String, String)], ready: &[i64]) {
    let mut by_subject: BTreeMap<&str, Vec<&(i64, DeliveryState, String, String)>> =
        BTreeMap::new();
    for r in rows.iter().filter(|r| r.1 != DeliveryState::Delivered) {
        by_subject.entry(r.2.as_str()).or_default().push(r);
    }
    let mut expect_ready = Vec::new();
    for open in by_subject.values() {
        let mut blocked = false;
        for (i, r) in open.iter().enumerate() {
            match r.1 {
                DeliveryState::Dead => blocked = true,
                DeliveryState::Held => assert!(blocked, "held without a dead one before it: {r:?}"),
                DeliveryState::Pending => assert!(!blocked, "pending behind a dead one: {r:?}"),
                DeliveryState::Delivered => unreachable!("filtered out"),
            }
            if i == 0 && r.1 == DeliveryState::Pending {
                expect_ready.push(r.0);
            }
        }
    }
    let mut got = ready.to_vec();
    got.sort_unstable();
    expect_ready.sort_unstable();
    assert_eq!(got, expect_ready);
}

/// The input for device `device` with these bytes; `mqtt` gives a packet id and DUP flag.
pub(crate) fn input(device: &str, bytes: &[u8], mqtt: Option<(u16, bool)>) -> Input {
    Input {
        device: Arc::from(device),
        bytes: bytes.to_vec(),
        received_ms: now_ms(),
        rejected: None,
        redelivery: mqtt.map(|(pkid, dup)| Redelivery {
            pkid,
            dup,
            hash: {
                use sha2::Digest;
                sha2::Sha256::digest(bytes).into()
            },
        }),
    }
}

//! Ledger tests on a real SQLite file in a tempdir: ids and sequences, idempotency, per-subject
//! heads, dead letters and held events, replay, retention and the full-buffer drop order, plus
//! a randomized check of the head/held invariants against a simple model.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::Connection;

use super::read::{self, ReadPool};
use super::*;
use crate::model::now_ms;

mod damaged;
mod lookups;

fn config(dir: &Path, extra: &str) -> Config {
    let text = format!(
        "version = 1\n[site]\nid = \"wh-test\"\ndata_dir = \"{}\"\n\
         [sinks.erp]\nurl = \"http://127.0.0.1:9/\"\nevents = [\"*\"]\n\
         [sinks.crm]\nurl = \"http://127.0.0.1:9/\"\nevents = [\"shipment.*\", \"*.exception\"]\n{extra}",
        dir.display()
    );
    Config::parse(&text).expect("test config is valid")
}

fn event(t: &str, subject: &str) -> NewEvent {
    NewEvent {
        event_type: t.into(),
        subject: subject.into(),
        source: "dockgate://wh-test/api".into(),
        time_ms: now_ms(),
        data: serde_json::value::RawValue::from_string("{\"n\":1}".into()).unwrap(),
    }
}

struct Ledger {
    store: StoreHandle,
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Ledger {
    fn open(extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (store, _thread) = open(&config(dir.path(), extra)).unwrap();
        let path = store.path().to_owned();
        Self {
            store,
            _dir: dir,
            path,
        }
    }

    fn conn(&self) -> Connection {
        open_reader(&self.path).unwrap()
    }

    /// (seq, state, ready) of every delivery of a sink, by seq.
    fn rows(&self, sink: &str) -> Vec<(i64, String, bool, String)> {
        let c = self.conn();
        let mut s = c
            .prepare(
                "SELECT seq, state, ready, subject FROM deliveries WHERE sink = ?1 ORDER BY seq",
            )
            .unwrap();
        let rows = s
            .query_map([sink], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap();
        rows.map(Result::unwrap).collect()
    }

    fn ready(&self, sink: &str) -> Vec<i64> {
        read::ready_heads(&self.conn(), sink, 10_000, &HashSet::new())
            .unwrap()
            .into_iter()
            .map(|h| h.seq)
            .collect()
    }

    async fn deliver(&self, sink: &str, seqs: Vec<i64>) {
        let subjects = seqs
            .iter()
            .map(|seq| {
                self.conn()
                    .query_row(
                        "SELECT subject FROM deliveries WHERE seq = ?1 AND sink = ?2",
                        rusqlite::params![seq, sink],
                        |r| r.get(0),
                    )
                    .unwrap()
            })
            .collect();
        let outcome = Outcome::Delivered {
            key: format!("k-{seqs:?}"),
            seqs,
            subjects,
            status: 200,
        };
        self.store.record(Arc::from(sink), outcome).await.unwrap();
    }

    async fn kill(&self, sink: &str, seq: i64) {
        let outcome = Outcome::Dead {
            seq,
            status: 400,
            error: "HTTP 400".into(),
            excerpt: "bad gtin".into(),
        };
        self.store.record(Arc::from(sink), outcome).await.unwrap();
    }
}

#[tokio::test]
async fn ids_and_sequences_are_assigned_at_commit_and_routed() {
    let l = Ledger::open("");
    let ids = l
        .store
        .ingest(
            vec![
                event("pick.confirmed", "SO-1"),
                event("shipment.loaded", "SSCC-1"),
            ],
            None,
        )
        .await
        .unwrap();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    let erp = l.rows("erp");
    assert_eq!(erp.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2]);
    // The CRM takes only shipments and exceptions.
    assert_eq!(
        l.rows("crm").iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![2]
    );
    let more = l
        .store
        .ingest(vec![event("pick.confirmed", "SO-2")], None)
        .await
        .unwrap();
    assert_eq!(l.rows("erp").last().unwrap().0, 3, "{more:?}");
}

#[tokio::test]
async fn idempotency_key_returns_the_same_ids_or_conflicts() {
    let l = Ledger::open("");
    let key = |h: u8| {
        Some(IdempotencyKey {
            key: "k-1".into(),
            body_hash: [h; 32],
        })
    };
    let first = l
        .store
        .ingest(vec![event("pick.confirmed", "SO-1")], key(1))
        .await
        .unwrap();
    let again = l
        .store
        .ingest(vec![event("pick.confirmed", "SO-1")], key(1))
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(
        l.rows("erp").len(),
        1,
        "a retried POST must not create a second event"
    );
    let other = l
        .store
        .ingest(vec![event("pick.confirmed", "SO-9")], key(2))
        .await;
    assert!(matches!(other, Err(IngestError::KeyConflict)));
}

#[tokio::test]
async fn only_the_head_of_a_subject_is_ready_and_delivery_advances_it() {
    let l = Ledger::open("");
    l.store
        .ingest(
            vec![
                event("pick.confirmed", "SO-1"),
                event("pick.confirmed", "SO-2"),
                event("pick.completed", "SO-1"),
                event("shipment.loaded", "SO-1"),
            ],
            None,
        )
        .await
        .unwrap();
    assert_eq!(l.ready("erp"), vec![1, 2]);
    l.deliver("erp", vec![1]).await;
    assert_eq!(l.ready("erp"), vec![2, 3]);
    l.deliver("erp", vec![3]).await;
    // The shipment is now the head; priority puts it before SO-2's pick.
    assert_eq!(l.ready("erp"), vec![4, 2]);
}

#[tokio::test]
async fn dead_letter_holds_its_subject_until_replay() {
    let l = Ledger::open("");
    l.store
        .ingest(
            vec![
                event("pick.confirmed", "SO-1"),
                event("pick.confirmed", "SO-1"),
                event("pick.confirmed", "SO-2"),
            ],
            None,
        )
        .await
        .unwrap();
    l.kill("erp", 1).await;
    let states: Vec<_> = l.rows("erp").into_iter().map(|r| r.1).collect();
    assert_eq!(states, vec!["dead", "held", "pending"]);
    assert_eq!(l.ready("erp"), vec![3]);
    // New input for the blocked subject is held on arrival.
    l.store
        .ingest(vec![event("pick.completed", "SO-1")], None)
        .await
        .unwrap();
    assert_eq!(l.rows("erp")[3].1, "held");
    let n = l
        .store
        .replay("erp".into(), ReplaySelector::Dead)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let states: Vec<_> = l.rows("erp").into_iter().map(|r| (r.1, r.2)).collect();
    assert_eq!(
        states,
        vec![
            ("pending".to_string(), true),
            ("pending".to_string(), false),
            ("pending".to_string(), true),
            ("pending".to_string(), false)
        ]
    );
    // The dead letter kept its evidence until the replay cleared it for a new attempt.
    l.deliver("erp", vec![1]).await;
    assert_eq!(l.ready("erp"), vec![2, 3]);
}

#[tokio::test]
async fn replay_by_id_and_since_resend_delivered_events() {
    let l = Ledger::open("");
    let ids = l
        .store
        .ingest(
            vec![
                event("pick.confirmed", "SO-1"),
                event("pick.confirmed", "SO-2"),
            ],
            None,
        )
        .await
        .unwrap();
    l.deliver("erp", vec![1, 2]).await;
    assert!(l.ready("erp").is_empty());
    let n = l
        .store
        .replay("erp".into(), ReplaySelector::Event(ids[1].clone()))
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(l.ready("erp"), vec![2]);
    let n = l
        .store
        .replay("erp".into(), ReplaySelector::Since(now_ms() - 60_000))
        .await
        .unwrap();
    assert_eq!(
        n, 1,
        "only the delivered one is put back; the pending one already waits"
    );
    assert_eq!(l.ready("erp"), vec![1, 2]);
    let n = l
        .store
        .replay("erp".into(), ReplaySelector::Since(now_ms() + 60_000))
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn retention_prunes_only_fully_delivered_old_events() {
    let l = Ledger::open("[buffer]\nretention = \"1h\"\n");
    l.store
        .ingest(
            vec![event("shipment.loaded", "A"), event("shipment.loaded", "B")],
            None,
        )
        .await
        .unwrap();
    l.deliver("erp", vec![1, 2]).await;
    l.deliver("crm", vec![1]).await;
    // Age both events and their receipts by two hours.
    let w = Connection::open(&l.path).unwrap();
    w.execute_batch(
        "UPDATE events SET created_ms = created_ms - 7200000;
         UPDATE deliveries SET delivered_ms = delivered_ms - 7200000 WHERE delivered_ms IS NOT NULL;",
    )
    .unwrap();
    drop(w);
    l.store.maintain().await.unwrap();
    let left: Vec<i64> = l.rows("erp").into_iter().map(|r| r.0).collect();
    assert_eq!(
        left,
        vec![2],
        "event 2 still waits for the CRM, so its ERP receipt stays"
    );
}

#[tokio::test]
async fn full_buffer_drops_telemetry_first_and_then_refuses_business_input() {
    let l = Ledger::open("[buffer]\nmax_disk = \"1MiB\"\n");
    let big = "x".repeat(2000);
    let fat = |t: &str, s: &str| NewEvent {
        data: serde_json::value::RawValue::from_string(format!("{{\"pad\":\"{big}\"}}")).unwrap(),
        ..event(t, s)
    };
    let mut telemetry = 0;
    for i in 0..150 {
        l.store
            .ingest(vec![fat("dock.door.opened", &format!("D{i}"))], None)
            .await
            .unwrap();
        telemetry += 1;
    }
    let mut accepted = Vec::new();
    let mut refused = false;
    for i in 0..2000 {
        match l
            .store
            .ingest(vec![fat("pick.confirmed", &format!("SO-{i}"))], None)
            .await
        {
            Ok(ids) => accepted.extend(ids),
            Err(IngestError::BufferFull { .. }) => {
                refused = true;
                break;
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert!(refused, "a 1 MiB buffer must fill up");
    let c = l.conn();
    let dock_left: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM events WHERE type = 'dock.door.opened'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        dock_left < telemetry,
        "telemetry gives way before business input is refused"
    );
    let business: HashSet<String> = {
        let mut s = c
            .prepare("SELECT id FROM events WHERE type = 'pick.confirmed'")
            .unwrap();
        let rows = s.query_map([], |r| r.get(0)).unwrap();
        rows.map(Result::unwrap).collect()
    };
    for id in &accepted {
        assert!(
            business.contains(id),
            "acknowledged business event {id} was lost"
        );
    }
}

#[tokio::test]
async fn read_pool_reads_beside_the_writer() {
    let l = Ledger::open("");
    l.store
        .ingest(vec![event("pick.confirmed", "SO-1")], None)
        .await
        .unwrap();
    let pool = ReadPool::new(&l.path);
    let backlog = pool
        .run(|c| read::backlog(c, &["erp".to_string(), "crm".to_string()]))
        .await
        .unwrap();
    assert_eq!(backlog[0].pending, 1);
    assert_eq!(backlog[1].pending, 0);
    assert!(backlog[0].oldest_pending_age_seconds.is_some());
}

/// Random ingest / deliver / dead-letter / replay on a few subjects; after every step the
/// ledger must agree with a model of per-subject queues: the ready rows are exactly the first
/// open row of each subject when it is pending, and rows behind a dead one are held.
#[tokio::test]
async fn randomized_head_and_hold_invariants() {
    let l = Ledger::open("");
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..600 {
        match rng.random_range(0..10) {
            0..=4 => {
                let n = rng.random_range(1..4);
                let events = (0..n)
                    .map(|_| event("pick.confirmed", &format!("S{}", rng.random_range(0..4))))
                    .collect();
                l.store.ingest(events, None).await.unwrap();
            }
            5..=7 => {
                let ready = l.ready("erp");
                if !ready.is_empty() {
                    let pick = ready[rng.random_range(0..ready.len())];
                    // Sometimes with the run waiting behind it, as a batching sink sends it.
                    let mut seqs = vec![pick];
                    if rng.random_bool(0.5) {
                        let subject = l
                            .rows("erp")
                            .into_iter()
                            .find(|r| r.0 == pick)
                            .map(|r| r.3)
                            .unwrap();
                        let head = read::Head { seq: pick, subject };
                        let run = read::run_from(&l.conn(), "erp", &head, 4).unwrap();
                        assert_eq!(run[0].seq, pick, "a run starts at its head");
                        seqs = run.into_iter().map(|d| d.seq).collect();
                    }
                    l.deliver("erp", seqs).await;
                }
            }
            8 => {
                let ready = l.ready("erp");
                if !ready.is_empty() {
                    let pick = ready[rng.random_range(0..ready.len())];
                    l.kill("erp", pick).await;
                }
            }
            _ => {
                l.store
                    .replay("erp".into(), ReplaySelector::Dead)
                    .await
                    .unwrap();
            }
        }
        check_invariants(&l.rows("erp"), &l.ready("erp"));
    }
}

fn check_invariants(rows: &[(i64, String, bool, String)], ready: &[i64]) {
    let mut by_subject: BTreeMap<&str, Vec<&(i64, String, bool, String)>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.1 != "delivered") {
        by_subject.entry(r.3.as_str()).or_default().push(r);
    }
    let mut expect_ready = Vec::new();
    for open in by_subject.values() {
        let mut blocked = false;
        for (i, r) in open.iter().enumerate() {
            match r.1.as_str() {
                "dead" => blocked = true,
                "held" => assert!(blocked, "held without a dead row before it: {r:?}"),
                "pending" => assert!(!blocked, "pending behind a dead row: {r:?}"),
                other => panic!("unknown state {other}"),
            }
            assert_eq!(r.2, i == 0 && r.1 == "pending", "ready flag wrong on {r:?}");
            if i == 0 && r.1 == "pending" {
                expect_ready.push(r.0);
            }
        }
    }
    let mut got = ready.to_vec();
    got.sort_unstable();
    expect_ready.sort_unstable();
    assert_eq!(got, expect_ready);
}

const DEVICES: &str = "[devices.pick-01]\nsource = \"http\"\nstation = \"pick\"\n\
                       [devices.door-07]\nsource = \"http\"\nstation = \"dock\"\ndoor = \"D07\"\ndebounce = \"0s\"\n";

fn frame(device: &str, text: &[u8], mqtt: Option<(u16, bool)>) -> InputFrame {
    InputFrame {
        device: Arc::from(device),
        bytes: text.to_vec(),
        received_ms: now_ms(),
        rejected: None,
        mqtt: mqtt.map(|(pkid, dup)| MqttMark {
            pkid,
            dup,
            hash: {
                use sha2::Digest;
                sha2::Sha256::digest(text).into()
            },
        }),
    }
}

async fn one(l: &Ledger, f: InputFrame) -> InputOutcome {
    l.store.inputs(vec![f]).await.unwrap().pop().unwrap()
}

fn ids(o: &InputOutcome) -> Vec<String> {
    match o {
        InputOutcome::Committed { ids, .. } => ids.clone(),
        other => panic!("expected a commit, got {other:?}"),
    }
}

#[tokio::test]
async fn device_inputs_fold_into_events_and_the_session_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), DEVICES);
    let label = b"]C1010950600013435217251231\x1d10LOT1";
    {
        let (store, _t) = open(&cfg).unwrap();
        let l = Ledger {
            store,
            _dir: tempfile::tempdir().unwrap(),
            path: cfg.buffer_path(),
        };
        assert!(ids(&one(&l, frame("pick-01", b"SO-1001", None)).await).is_empty());
        assert_eq!(ids(&one(&l, frame("pick-01", label, None)).await).len(), 1);
    }
    // A new writer on the same file: the open order is still there.
    let (store, _t) = open(&cfg).unwrap();
    let l = Ledger {
        store,
        _dir: tempfile::tempdir().unwrap(),
        path: cfg.buffer_path(),
    };
    assert_eq!(
        ids(&one(&l, frame("pick-01", b"CMD-DONE", None)).await).len(),
        1
    );
    let c = l.conn();
    let (t, data): (String, String) = c
        .query_row(
            "SELECT type, data FROM events ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(t, "pick.completed");
    let data: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(data["lines"], 1);
    assert_eq!(data["order"], "SO-1001");
    let journal: i64 = c
        .query_row("SELECT COUNT(*) FROM inputs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal, 3);
}

#[tokio::test]
async fn mqtt_redelivery_is_recognised_but_a_second_identical_scan_is_not() {
    let l = Ledger::open(DEVICES);
    one(&l, frame("pick-01", b"SO-7", Some((1, false)))).await;
    let label = b"]C1010950600013435217251231\x1d10LOT1";
    let first = one(&l, frame("pick-01", label, Some((2, false)))).await;
    assert_eq!(ids(&first).len(), 1);
    // Not acknowledged yet; the broker resends it with DUP set after a reconnect.
    assert!(matches!(
        one(&l, frame("pick-01", label, Some((2, true)))).await,
        InputOutcome::Duplicate
    ));
    // Acknowledged; the operator scans a second unit of the same item, a new message (no DUP)
    // that may reuse pkid 2.
    assert_eq!(
        ids(&one(&l, frame("pick-01", label, Some((2, false)))).await).len(),
        1
    );
    // Same packet id but another payload is never a duplicate.
    assert_eq!(
        ids(&one(
            &l,
            frame(
                "pick-01",
                b"]C1010950600013435217251231\x1d10LOT2",
                Some((2, true))
            )
        )
        .await)
        .len(),
        1
    );
    let picks: i64 = l
        .conn()
        .query_row(
            "SELECT COUNT(*) FROM events WHERE type = 'pick.confirmed'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(picks, 3);
}

#[tokio::test]
async fn unreadable_inputs_are_quarantined_with_their_bytes() {
    let l = Ledger::open(DEVICES);
    let cases: [(&str, &[u8], &str); 5] = [
        ("pick-01", b"\xff\xfe\x00garbage", "invalid_utf8"),
        ("pick-01", b"\x01\x02\x03", "control_bytes"),
        ("pick-01", b"{\"data\":", "invalid_json"),
        ("door-07", b"ajar", "invalid_dock_message"),
        ("nobody", b"SO-1", "unknown_device"),
    ];
    for (device, bytes, reason) in cases {
        match one(&l, frame(device, bytes, None)).await {
            InputOutcome::Rejected { reason: got, .. } => assert_eq!(got, reason),
            other => panic!("{bytes:?}: expected quarantine, got {other:?}"),
        }
    }
    let rows = read::list_rejected(&l.conn(), None, 100).unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0].raw, "\\xff\\xfe\\x00garbage");
    // A dock message after the garbage still works.
    assert_eq!(
        ids(&one(&l, frame("door-07", b"open", None)).await).len(),
        1
    );
}

/// Commits never checkpoint (the writer would stand still for it); the checkpoint thread copies
/// the WAL back into the database file shortly after.
#[tokio::test]
async fn the_checkpoint_thread_copies_commits_into_the_database_file() {
    let l = Ledger::open("");
    let size = || std::fs::metadata(&l.path).map(|m| m.len()).unwrap_or(0);
    let before = size();
    for _ in 0..20 {
        let events = (0..100)
            .map(|i| event("pick.confirmed", &format!("SO-{i}")))
            .collect();
        l.store.ingest(events, None).await.unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while size() < before + 256 * 1024 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        size() >= before + 256 * 1024,
        "database file still {} bytes (was {before})",
        size()
    );
}

/// The writer sees the WAL's length at every commit and starts it over once it passes its
/// bound (256 pages in unit tests), so a burst cannot grow it by whatever fits between two
/// passive checkpoints. The WAL file's length is its high-water mark.
#[tokio::test]
async fn a_burst_of_commits_does_not_grow_the_wal_far_past_its_bound() {
    let l = Ledger::open("");
    let wal = format!("{}-wal", l.path.display());
    let page = 4096 + 24;
    let mut highest = 0;
    for round in 0..120 {
        let events = (0..100)
            .map(|i| event("pick.confirmed", &format!("SO-{round}-{i}")))
            .collect();
        l.store.ingest(events, None).await.unwrap();
        highest = highest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
    }
    // 12,000 events write far more than the bound; one group of 100 adds well under 256 pages.
    assert!(
        highest > 128 * page,
        "the burst was too small to test anything: WAL at most {highest} bytes"
    );
    assert!(
        highest <= 512 * page + 32,
        "WAL grew to {highest} bytes, past 256 pages and one group"
    );
}

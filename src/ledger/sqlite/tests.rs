//! Tests of the SQLite representation itself, below the ledger's interface: retention by
//! whole records, the journal, the time and id lookups that stand in for indexes, the WAL's
//! checkpointing and damaged files. The interface's tests are in
//! `ledger/tests.rs`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

use super::*;
use crate::ledger::tests::{event, input, open_in};
use crate::ledger::{EventRef, InHand, LedgerHandle, LedgerThread, Outcome};

mod damaged;

/// A ledger on a tempdir, with direct access to its file.
struct Buffer {
    handle: LedgerHandle,
    path: PathBuf,
    _thread: LedgerThread,
    _dir: tempfile::TempDir,
}

impl Buffer {
    fn open(extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (handle, thread) = open_in(dir.path(), extra).unwrap();
        Self {
            handle,
            path: dir.path().join(BUFFER_FILE),
            _thread: thread,
            _dir: dir,
        }
    }

    fn conn(&self) -> Connection {
        open_reader(&self.path).unwrap()
    }

    fn count(&self, sql: &str) -> i64 {
        self.conn().query_row(sql, [], |r| r.get(0)).unwrap()
    }

    fn refs(&self, seqs: &[i64]) -> Vec<EventRef> {
        let c = self.conn();
        seqs.iter()
            .map(|seq| EventRef {
                seq: *seq,
                subject: log::record_of(&c, *seq)
                    .unwrap()
                    .unwrap()
                    .get(*seq)
                    .unwrap()
                    .subject
                    .clone(),
            })
            .collect()
    }

    /// The first sequence number of every record in the log.
    fn records(&self) -> Vec<i64> {
        let c = self.conn();
        let mut s = c
            .prepare("SELECT first_seq FROM records ORDER BY first_seq")
            .unwrap();
        let rows = s.query_map([], |r| r.get(0)).unwrap();
        rows.map(Result::unwrap).collect()
    }

    /// Delivers events the sink has read, as a worker reports them.
    async fn deliver(&self, sink: &str, seqs: Vec<i64>) {
        let reader = self.handle.sink(sink);
        reader.next(1000, 100, InHand::NOTHING).await.unwrap();
        let outcome = Outcome::Delivered {
            key: format!("k-{seqs:?}"),
            events: self.refs(&seqs),
            status: 200,
        };
        reader.record(outcome).await.unwrap();
    }
}

#[tokio::test]
async fn retention_prunes_only_fully_delivered_old_records() {
    let b = Buffer::open("[buffer]\nretention = \"1h\"\n");
    for subject in ["A", "B"] {
        b.handle
            .submit_events(vec![event("shipment.loaded", subject)], None)
            .await
            .unwrap();
    }
    b.deliver("erp", vec![1, 2]).await;
    b.deliver("crm", vec![1]).await;
    // Age both records and their receipts by two hours.
    let w = Connection::open(&b.path).unwrap();
    w.execute_batch(
        "UPDATE records SET created_ms = created_ms - 7200000;
         UPDATE receipts SET delivered_ms = delivered_ms - 7200000;",
    )
    .unwrap();
    drop(w);
    b.handle.maintain().await.unwrap();
    assert_eq!(b.records(), vec![2], "event 2 still waits for the CRM");
    assert_eq!(
        b.count("SELECT COUNT(*) FROM receipts WHERE sink = 'erp'"),
        0,
        "the ERP's receipts are below its cursor and old"
    );
    let status = b
        .handle
        .status(vec!["erp".into(), "crm".into()])
        .await
        .unwrap();
    let pending: Vec<u64> = status.sinks.iter().map(|s| s.pending).collect();
    assert_eq!(pending, vec![0, 1]);
}

#[tokio::test]
async fn every_accepted_input_is_journalled() {
    let b = Buffer::open("[devices.pick-01]\nsource = \"http\"\nstation = \"pick\"\n");
    let inputs = vec![
        input("pick-01", b"SO-1", None),
        input("pick-01", b"]C1010950600013435217251231", None),
        input("pick-01", b"\xff", None),
    ];
    b.handle.submit_inputs(inputs).await.unwrap();
    assert_eq!(b.count("SELECT COUNT(*) FROM inputs"), 2);
    assert_eq!(b.count("SELECT SUM(events) FROM inputs"), 1);
    assert_eq!(b.count("SELECT COUNT(*) FROM rejected"), 1);
    assert_eq!(b.count("SELECT COUNT(*) FROM sessions"), 1);
}

/// A group whose commit fails changes nothing, in the tables or in what the writer keeps in
/// memory: an order opened by an input of the failed group is not open afterwards, and its
/// sequence numbers are handed out again.
#[tokio::test]
async fn a_failed_group_leaves_no_session_or_sequence_behind() {
    let b = Buffer::open("[devices.pick-01]\nsource = \"http\"\nstation = \"pick\"\n");
    let item = b"]C1010950600013435217251231";
    // Any record fails its insert, as a full disk would fail the commit.
    let fail = "CREATE TRIGGER fail BEFORE INSERT ON records
                BEGIN SELECT RAISE(ABORT, 'injected failure'); END;";
    Connection::open(&b.path)
        .unwrap()
        .execute_batch(fail)
        .unwrap();
    let refused = b
        .handle
        .submit_inputs(vec![
            input("pick-01", b"SO-1", None),
            input("pick-01", item, None),
        ])
        .await;
    let message = match refused {
        Err(e) => crate::model::error_chain(&e),
        Ok(o) => panic!("the group committed: {o:?}"),
    };
    assert!(message.contains("injected failure"), "{message}");
    Connection::open(&b.path)
        .unwrap()
        .execute_batch("DROP TRIGGER fail")
        .unwrap();
    // SO-1 was never opened: the item is an exception now, with the first sequence number.
    b.handle
        .submit_inputs(vec![input("pick-01", item, None)])
        .await
        .unwrap();
    let c = b.conn();
    let record = log::record_of(&c, 1)
        .unwrap()
        .expect("event 1 is in the log");
    let kinds: Vec<&str> = record.events.iter().map(|e| &*e.event_type).collect();
    assert_eq!(kinds, vec!["pick.exception"]);
    assert_eq!(
        b.count("SELECT COUNT(*) FROM sessions WHERE state LIKE '%SO-1%'"),
        0
    );
}

#[test]
fn the_sequence_at_a_time_is_found_across_gaps() {
    let mut c = Connection::open_in_memory().unwrap();
    schema::migrate(&mut c).unwrap();
    assert_eq!(log::first_seq_since(&c, 0).unwrap(), 1, "empty buffer");
    // seq 1..=50 committed at 10 ms steps, one record each, with 20..=29 pruned.
    for seq in (1..=50).filter(|s| !(20..=29).contains(s)) {
        c.execute(
            "INSERT INTO records (first_seq, last_seq, created_ms, telemetry, bytes, sinks, subjects)
             VALUES (?1, ?1, ?2, 0, 0, '', x'')",
            rusqlite::params![seq, seq * 10],
        )
        .unwrap();
    }
    let at = |ms| log::first_seq_since(&c, ms).unwrap();
    // What the bound promises: every event below it is older than `ms`, none above it is.
    let split_at = |ms: i64| {
        let bound = at(ms);
        let (older_above, newer_below): (i64, i64) = c
            .query_row(
                "SELECT COALESCE(SUM(first_seq >= ?1 AND created_ms < ?2), 0),
                        COALESCE(SUM(first_seq < ?1 AND created_ms >= ?2), 0) FROM records",
                rusqlite::params![bound, ms],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(
            (older_above, newer_below),
            (0, 0),
            "bound {bound} for {ms} ms"
        );
        bound
    };
    assert_eq!(split_at(0), 1);
    assert_eq!(split_at(10), 1);
    assert_eq!(split_at(11), 2);
    assert_eq!(split_at(190), 19);
    for ms in [191, 250, 300] {
        // Falls in the gap: any bound from 20 to 30 separates the events.
        assert!((20..=30).contains(&split_at(ms)));
    }
    assert_eq!(split_at(500), 50);
    assert_eq!(at(501), 51, "nothing that recent");
}

#[tokio::test]
async fn idempotency_keys_of_layout_7_answer_the_same_ids_and_conflicts_after_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(BUFFER_FILE);
    {
        let mut c = Connection::open(&path).unwrap();
        schema::migrate_to(&mut c, 7).unwrap();
        // Layout 7 kept the ids of a key as a JSON array, and its hash was SHA-256.
        use sha2::Digest;
        c.execute(
            "INSERT INTO idempotency_keys (key, body_hash, ids, created_ms)
             VALUES ('k-old', ?1, '[\"01a00000-0000-7000-8000-000000000001\"]', ?2)",
            rusqlite::params![
                sha2::Sha256::digest([7u8; 64]).as_slice(),
                crate::model::now_ms()
            ],
        )
        .unwrap();
    }
    let (handle, _thread) = open_in(dir.path(), "").unwrap();
    let key = |k: &str, h: u8| {
        Some(crate::ledger::IdempotencyKey::new(
            k.into(),
            bytes::Bytes::from(vec![h; 64]),
        ))
    };
    let old = handle
        .submit_events(vec![event("pick.confirmed", "SO-1")], key("k-old", 7))
        .await
        .unwrap();
    assert_eq!(old, vec!["01a00000-0000-7000-8000-000000000001"]);
    let conflict = handle
        .submit_events(vec![event("pick.confirmed", "SO-1")], key("k-old", 8))
        .await;
    assert!(matches!(
        conflict,
        Err(crate::ledger::IngestError::KeyConflict)
    ));

    let events = vec![
        event("pick.confirmed", "SO-2"),
        event("pick.confirmed", "SO-3"),
    ];
    let first = handle
        .submit_events(events.clone(), key("k-new", 1))
        .await
        .unwrap();
    let again = handle.submit_events(events, key("k-new", 1)).await.unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(
        first, again,
        "a retried POST gets the ids it got the first time"
    );
    let c = open_reader(&path).unwrap();
    let (version, kind, bytes): (i64, String, i64) = c
        .query_row(
            "SELECT (SELECT user_version FROM pragma_user_version), typeof(ids), length(ids)
             FROM idempotency_keys WHERE key = 'k-new'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (version, kind.as_str(), bytes),
        (schema::CURRENT_VERSION, "blob", 32)
    );
    let hash: Vec<u8> = c
        .query_row(
            "SELECT body_hash FROM idempotency_keys WHERE key = 'k-new'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(hash.len(), 16, "new keys keep an XXH3-128 hash of the body");
    let events: i64 = c
        .query_row("SELECT max(last_seq) FROM records", [], |r| r.get(0))
        .unwrap();
    assert_eq!(events, 2, "neither retry stored its events again");
}

/// An event that no sink takes (`events` filters) is stored, acknowledged and never sent: its
/// record is as sound as any other.
#[tokio::test]
async fn a_buffer_with_events_no_sink_takes_is_sound() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "version = 1\n[site]\nid = \"wh-test\"\ndata_dir = \"{}\"\n\
         [sinks.erp]\nurl = \"http://127.0.0.1:9/\"\nevents = [\"pick.*\"]\n",
        dir.path().display()
    );
    let settings = LedgerSettings::from_config(&crate::config::Config::parse(&text).unwrap());
    let (handle, _thread) =
        crate::ledger::open(settings, crate::ledger::lock(dir.path()).unwrap()).unwrap();
    handle
        .submit_events(
            vec![
                event("pick.confirmed", "SO-1"),
                event("dock.door_opened", "D01"),
                event("pick.confirmed", "SO-1"),
            ],
            None,
        )
        .await
        .unwrap();
    let report = check::check(&dir.path().join(BUFFER_FILE)).unwrap();
    assert!(
        report.findings.iter().all(|f| f.ok),
        "{:?}",
        report.findings
    );
}

#[test]
fn a_buffer_of_layout_7_is_checked_row_by_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(BUFFER_FILE);
    let mut c = Connection::open(&path).unwrap();
    schema::migrate_to(&mut c, 7).unwrap();
    drop(c);
    let report = check::check(&path).unwrap();
    let layout = report.findings.iter().find(|f| f.what == "layout 7");
    assert!(
        layout.is_some_and(|f| f.ok && f.detail.as_deref().is_some_and(|d| d.contains("same log"))),
        "{:?}",
        report.findings
    );
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.what.starts_with("the log")),
        "its log is checked as this layout's: {:?}",
        report.findings
    );
    assert!(
        report.findings.iter().all(|f| f.ok),
        "{:?}",
        report.findings
    );
}

#[tokio::test]
async fn an_event_is_found_by_its_id_without_an_index() {
    let b = Buffer::open("");
    let mut ids = Vec::new();
    for n in 0..5 {
        let batch = vec![event("pick.confirmed", &format!("SO-{n}"))];
        ids.extend(b.handle.submit_events(batch, None).await.unwrap());
    }
    let conn = b.conn();
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(log::seq_of_id(&conn, id).unwrap(), Some(i as i64 + 1));
    }
    assert_eq!(log::seq_of_id(&conn, "not-a-uuid").unwrap(), None);
    assert_eq!(
        log::seq_of_id(&conn, &uuid::Uuid::now_v7().to_string()).unwrap(),
        None
    );
    // A commit time far from the id's own (a clock stepped meanwhile): found the slow way.
    drop(conn);
    let w = Connection::open(&b.path).unwrap();
    w.execute(
        "UPDATE records SET created_ms = created_ms - 86400000 WHERE first_seq = 3",
        [],
    )
    .unwrap();
    drop(w);
    assert_eq!(log::seq_of_id(&b.conn(), &ids[2]).unwrap(), Some(3));
}

/// Commits never checkpoint (the writer would stand still for it); the checkpoint thread copies
/// the WAL back into the database file shortly after.
#[tokio::test]
async fn the_checkpoint_thread_copies_commits_into_the_database_file() {
    let b = Buffer::open("");
    let size = || std::fs::metadata(&b.path).map(|m| m.len()).unwrap_or(0);
    let before = size();
    for _ in 0..60 {
        let events = (0..100)
            .map(|i| event("pick.confirmed", &format!("SO-{i}")))
            .collect();
        b.handle.submit_events(events, None).await.unwrap();
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
    let b = Buffer::open("");
    let wal = format!("{}-wal", b.path.display());
    let page = 4096 + 24;
    let mut highest = 0;
    for round in 0..120 {
        let events = (0..100)
            .map(|i| event("pick.confirmed", &format!("SO-{round}-{i}")))
            .collect();
        b.handle.submit_events(events, None).await.unwrap();
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

/// The names of the files in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

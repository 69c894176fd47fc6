//! Ledger tests of the records and lookups that stand in for indexes: batch membership as one
//! row per request, the sequence number at a time, an event by its id.

use super::*;

#[tokio::test]
async fn a_batch_is_recorded_once_replaced_by_its_halves_and_forgotten_when_delivered() {
    let l = Ledger::open("");
    let subjects = ["A", "B", "C", "D"];
    let batch = subjects
        .iter()
        .map(|s| event("pick.confirmed", s))
        .collect();
    l.store.ingest(batch, None).await.unwrap();
    let records =
        || -> Vec<(String, Vec<i64>)> { read::recorded_batches(&l.conn(), "erp").unwrap() };
    let erp: Arc<str> = Arc::from("erp");
    let record = |key: &str, seqs: Vec<i64>, replaces: Option<&str>| BatchRecord {
        key: key.into(),
        seqs,
        replaces: replaces.map(Into::into),
    };
    let assign = |batches| l.store.assign_batches(erp.clone(), batches);
    assign(vec![record("b-all", vec![1, 2, 3, 4], None)])
        .await
        .unwrap();
    assert_eq!(records(), vec![("b-all".into(), vec![1, 2, 3, 4])]);
    // Refused and split: the halves replace the record.
    assign(vec![
        record("b-12", vec![1, 2], Some("b-all")),
        record("b-34", vec![3, 4], Some("b-all")),
    ])
    .await
    .unwrap();
    assert_eq!(
        records(),
        vec![("b-12".into(), vec![1, 2]), ("b-34".into(), vec![3, 4])]
    );
    // A single event needs no record of its own, but still ends its parent's.
    assign(vec![record("id-3", vec![3], Some("b-34"))])
        .await
        .unwrap();
    assert_eq!(records(), vec![("b-12".into(), vec![1, 2])]);
    let outcome = Outcome::Delivered {
        key: "b-12".into(),
        seqs: vec![1, 2],
        subjects: vec!["A".into(), "B".into()],
        status: 200,
    };
    l.store.record(erp, outcome).await.unwrap();
    assert!(records().is_empty());
    assert_eq!(l.ready("erp"), vec![3, 4]);
}

#[test]
fn the_sequence_at_a_time_is_found_across_gaps() {
    let conn = Connection::open_in_memory().unwrap();
    let mut c = conn;
    schema::migrate(&mut c).unwrap();
    assert_eq!(read::first_seq_since(&c, 0).unwrap(), 1, "empty buffer");
    // seq 1..=50 committed at 10 ms steps, with 20..=29 pruned.
    for seq in (1..=50).filter(|s| !(20..=29).contains(s)) {
        c.execute(
            "INSERT INTO events (seq, id, type, subject, source, time, created_ms, telemetry, data)
             VALUES (?1, ?1, 't', 's', 'src', 't', ?2, 0, '{}')",
            rusqlite::params![seq, seq * 10],
        )
        .unwrap();
    }
    let at = |ms| read::first_seq_since(&c, ms).unwrap();
    // What the bound promises: every event below it is older than `ms`, none above it is.
    let split_at = |ms: i64| {
        let bound = at(ms);
        let (older_above, newer_below): (i64, i64) = c
            .query_row(
                "SELECT COALESCE(SUM(seq >= ?1 AND created_ms < ?2), 0),
                        COALESCE(SUM(seq < ?1 AND created_ms >= ?2), 0) FROM events",
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
async fn an_event_is_found_by_its_id_without_an_index() {
    let l = Ledger::open("");
    let mut ids = Vec::new();
    for n in 0..5 {
        let batch = vec![event("pick.confirmed", &format!("SO-{n}"))];
        ids.extend(l.store.ingest(batch, None).await.unwrap());
    }
    let conn = l.conn();
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(read::seq_of_id(&conn, id).unwrap(), Some(i as i64 + 1));
    }
    assert_eq!(read::seq_of_id(&conn, "not-a-uuid").unwrap(), None);
    assert_eq!(
        read::seq_of_id(&conn, &uuid::Uuid::now_v7().to_string()).unwrap(),
        None
    );
    // A commit time far from the id's own (a clock stepped meanwhile): found the slow way.
    drop(conn);
    let w = Connection::open(&l.path).unwrap();
    w.execute(
        "UPDATE events SET created_ms = created_ms - 86400000 WHERE seq = 3",
        [],
    )
    .unwrap();
    drop(w);
    assert_eq!(read::seq_of_id(&l.conn(), &ids[2]).unwrap(), Some(3));
}

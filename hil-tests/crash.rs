//! (b) `kill -9` while events are being delivered (and posted), then a restart on the same
//! data directory: every acknowledged event arrives, repeats carry the same id and key, and a
//! batch in flight at the crash is resent with the same key and the same members.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::*;

const POSTS: usize = 40;
const PER_POST: usize = 15;
const SUBJECTS: usize = 30;

/// Posts `POSTS` bodies one after the other, each under its own Idempotency-Key, retrying a
/// body (same key) until it gets a 202, through the crash and the restart. Returns the ids of
/// every 202.
async fn poster(client: daemon::IngestClient) -> Vec<String> {
    let mut acked = Vec::new();
    for p in 0..POSTS {
        let body: Vec<Value> = (0..PER_POST)
            .map(|i| {
                let k = p * PER_POST + i;
                event(
                    "pick.confirmed",
                    &format!("ORD-{:03}", k % SUBJECTS),
                    json!({ "k": k }),
                )
            })
            .collect();
        let body = Value::Array(body).to_string().into_bytes();
        let key = format!("crash-post-{p}");
        let start = std::time::Instant::now();
        loop {
            match client.try_post(body.clone(), Some(&key)).await {
                Ok(a) if a.status == 202 => {
                    acked.extend(a.ids());
                    break;
                }
                Ok(a) => assert_eq!(a.status, 503, "unexpected ingest answer {a:?}"),
                Err(_) => {} // the daemon is down: try again with the same key
            }
            assert!(
                start.elapsed() < secs(60),
                "post {p} not acknowledged within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Spread the posts over a few seconds, so both sinks still have a backlog when the
        // receivers start hanging and the daemon is killed.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    acked
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_delivery_loses_nothing_and_resends_under_the_same_keys() {
    let erp = StandIn::start("erp", Mode::Slow(Duration::from_millis(100))).await;
    let bulk = StandIn::start("bulk", Mode::Slow(Duration::from_millis(200))).await;
    let mut daemon = Daemon::start(Setup::new(vec![
        SinkSpec::new("erp", &erp).timeout("20s"),
        SinkSpec::new("bulk", &bulk)
            .batch(10)
            .concurrency(2)
            .timeout("20s"),
    ]))
    .await;

    let posting = tokio::spawn(poster(daemon.ingest_client()));
    wait_for(
        secs(30),
        "both receivers have accepted a few requests",
        async || {
            let (e, b) = (erp.delivered().len(), bulk.count(&Outcome::Accepted));
            if e >= 30 && b >= 3 {
                Ok(())
            } else {
                Err(format!("erp {e} events, bulk {b} batches"))
            }
        },
    )
    .await;

    // From now on the receivers commit what they get but never answer: whatever is in flight
    // at the kill has reached the receiver without the daemon knowing.
    erp.set_mode(Mode::AcceptThenHang);
    bulk.set_mode(Mode::AcceptThenHang);
    let hung = |s: &StandIn| -> Vec<standin::Request> {
        s.requests()
            .into_iter()
            .filter(|r| r.mode == "AcceptThenHang")
            .collect()
    };
    wait_until(
        secs(10),
        "both receivers hold a request without answering",
        async || !hung(&erp).is_empty() && !hung(&bulk).is_empty(),
    )
    .await;
    daemon.kill9();
    let (erp_mark, bulk_mark) = (erp.request_count(), bulk.request_count());
    let (erp_hung, bulk_hung) = (hung(&erp), hung(&bulk));
    erp.set_mode(Mode::Ok);
    bulk.set_mode(Mode::Ok);
    tokio::time::sleep(Duration::from_millis(300)).await;
    daemon.restart().await;

    let acked = tokio::time::timeout(secs(90), posting)
        .await
        .expect("the poster finished within 90 s")
        .expect("the poster task did not panic");
    assert_eq!(acked.len(), POSTS * PER_POST, "every post was acknowledged");
    let acked_set: HashSet<String> = acked.iter().cloned().collect();
    assert_eq!(acked_set.len(), acked.len(), "no id was handed out twice");

    for s in [&erp, &bulk] {
        wait_for(
            secs(90),
            &format!("{} received every acknowledged event", s.name()),
            async || match s.missing(&acked) {
                m if m.is_empty() => Ok(()),
                m => Err(format!("{} of {} missing", m.len(), acked.len())),
            },
        )
        .await;
        // Nothing beyond the acknowledged events: a POST retried with its key after the crash
        // minted no second set of events.
        assert_eq!(s.unique_ids(), acked_set, "{}: ids received", s.name());
        s.check_repeats_identical().unwrap();
        s.check_subject_order().unwrap();
    }
    erp.check_cloudevents(SITE, false).unwrap();
    bulk.check_cloudevents(SITE, true).unwrap();

    // The ERP request that was hanging at the crash is sent again after the restart, with the
    // same key (checked above for every repeat).
    let resent: HashSet<String> = erp.requests()[erp_mark..]
        .iter()
        .flat_map(|r| r.ids())
        .collect();
    for r in &erp_hung {
        for id in r.ids() {
            assert!(
                resent.contains(&id),
                "event {id}, in flight at the crash, was not sent again after the restart"
            );
        }
    }
    assert!(
        erp.duplicates() >= 1,
        "the ERP saw the in-flight event twice"
    );

    // Batches: one key per event, one member list per key, and the batch in flight at the
    // crash comes back after the restart under its key with the same members.
    let mut members_by_key: HashMap<String, HashSet<Vec<String>>> = HashMap::new();
    let mut keys_by_id: HashMap<String, HashSet<String>> = HashMap::new();
    for r in bulk.requests() {
        let key = r.key().unwrap_or("").to_owned();
        for id in r.ids() {
            keys_by_id.entry(id).or_default().insert(key.clone());
        }
        members_by_key.entry(key).or_default().insert(r.ids());
    }
    for (key, members) in &members_by_key {
        assert_eq!(
            members.len(),
            1,
            "batch key {key} was sent with different members: {members:?}"
        );
    }
    for (id, keys) in &keys_by_id {
        assert_eq!(
            keys.len(),
            1,
            "event {id} was sent under several keys: {keys:?}"
        );
    }
    let after = bulk.requests().split_off(bulk_mark);
    for r in &bulk_hung {
        let again = after.iter().find(|a| a.key() == r.key()).map(|a| a.ids());
        assert_eq!(
            again,
            Some(r.ids()),
            "batch {:?}, in flight at the crash, was not resent with the same members",
            r.key()
        );
    }
    assert!(
        erp.max_in_flight() <= 4,
        "erp concurrency {}",
        erp.max_in_flight()
    );
    assert!(
        bulk.max_in_flight() <= 2,
        "bulk concurrency {}",
        bulk.max_in_flight()
    );
    eprintln!(
        "crash: erp {} requests ({} duplicates), bulk {} requests ({} duplicates)",
        erp.request_count(),
        erp.duplicates(),
        bulk.request_count(),
        bulk.duplicates()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_delivery_finishes_what_is_in_flight() {
    let erp = StandIn::start("erp", Mode::Slow(Duration::from_millis(400))).await;
    let mut daemon =
        Daemon::start(Setup::new(vec![SinkSpec::new("erp", &erp).timeout("5s")])).await;
    let body: Vec<Value> = (0..40)
        .map(|k| {
            event(
                "pick.confirmed",
                &format!("ORD-{}", k % 8),
                json!({ "k": k }),
            )
        })
        .collect();
    let ids = daemon.post_events(&json!(body), None).await.ids();
    wait_until(
        secs(20),
        "the ERP is working on requests after a few deliveries",
        async || erp.delivered().len() >= 4 && erp.in_flight() > 0,
    )
    .await;
    let status = daemon.terminate().await;
    assert!(status.success(), "SIGTERM is a clean stop, got {status}");
    let at_stop = erp.request_count();
    erp.set_mode(Mode::Ok);
    daemon.restart().await;
    erp.wait_received(&ids, secs(30), "every event is delivered after the restart")
        .await;
    // A clean stop let the requests in flight finish and recorded them: nothing the ERP had
    // accepted is sent again.
    let before: HashSet<String> = erp.requests()[..at_stop]
        .iter()
        .flat_map(|r| r.ids())
        .collect();
    let again: Vec<String> = erp.requests()[at_stop..]
        .iter()
        .flat_map(|r| r.ids())
        .filter(|id| before.contains(id))
        .collect();
    assert!(again.is_empty(), "resent after a clean stop: {again:?}");
    erp.check_subject_order().unwrap();
}

/// A buffer file that is no longer a database (here: its header overwritten while dockgate was
/// stopped) does not keep the gateway down: it is moved aside, the daemon starts on an empty
/// buffer and takes and delivers input, and status and metrics say a file was set aside until
/// someone removes it.
#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_buffer_is_set_aside_and_the_gateway_goes_on() {
    let erp = StandIn::start("erp", Mode::Status(503)).await;
    let mut d = Daemon::start(Setup::new(vec![SinkSpec::new("erp", &erp)])).await;
    let waiting = d
        .post_events(&json!([event("pick.confirmed", "SO-1", json!({}))]), None)
        .await
        .ids();
    let status = d.terminate().await;
    assert!(status.success(), "clean stop: {status}");

    let buffer = d.data_dir().join("buffer.sqlite");
    let mut bytes = std::fs::read(&buffer).expect("reading the buffer");
    bytes[..100].fill(0x5a);
    std::fs::write(&buffer, &bytes).expect("damaging the buffer");

    d.restart().await;
    assert!(
        d.log()
            .contains("The buffer file is damaged and was set aside"),
        "{}",
        d.log()
    );
    let set_aside: Vec<String> = std::fs::read_dir(d.data_dir())
        .expect("listing the data directory")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("buffer.sqlite.corrupt-"))
        .collect();
    assert_eq!(set_aside.len(), 1, "{set_aside:?}");
    assert_eq!(
        std::fs::read(d.data_dir().join(&set_aside[0])).expect("reading the moved file"),
        bytes,
        "the moved file is kept as it was"
    );

    let st = d.status().await;
    assert_eq!(st["buffer"]["set_aside"], json!(set_aside), "{st}");
    let summary = st["buffer"]["summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains("ALERT: a damaged buffer was set aside"),
        "{summary}"
    );
    assert_eq!(d.metric_total("dockgate_buffer_set_aside_files").await, 1.0);
    assert_eq!(d.metric_total("dockgate_buffer_set_aside_total").await, 1.0);

    // Input goes on and reaches the ERP; the event in the damaged file does not.
    erp.set_mode(Mode::Ok);
    let fresh = d
        .post_events(&json!([event("pick.confirmed", "SO-2", json!({}))]), None)
        .await
        .ids();
    wait_until(secs(20), "the new event at the ERP", async || {
        erp.delivered_ids().contains(&fresh[0])
    })
    .await;
    assert!(!erp.delivered_ids().contains(&waiting[0]));
}

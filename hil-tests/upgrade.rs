//! A buffer written by the previous release (`fixtures/buffer-0.1.0.sqlite`, made by
//! `fixtures/make-buffer.py` with dockgate 0.1.0) opens in this build with everything in it:
//! pending, held and dead events keep their ids and sequence numbers and are delivered in
//! order, delivered receipts stay delivered, the open pick session, the quarantine and the
//! Idempotency-Keys carry over, and new events continue the sequence.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::*;

fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("hil-tests/fixtures/buffer-0.1.0.sqlite")
}

fn ids_of(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn field(rows: &[Value], key: &str) -> Vec<String> {
    rows.iter().map(|r| r[key].to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_buffer_of_the_previous_release_opens_with_everything_in_it() {
    let erp = StandIn::start("erp", Mode::Status(503)).await;
    let daemon = Daemon::start(
        Setup::new(vec![SinkSpec::new("erp", &erp)])
            .buffer_from(&fixture())
            .toml("[devices.pick-01]\nsource = \"http\"\nstation = \"pick\"\n"),
    )
    .await;

    let delivered = daemon.events("erp", "delivered").await;
    let dead = daemon.events("erp", "dead").await;
    let held = daemon.events("erp", "held").await;
    let pending = daemon.events("erp", "pending").await;
    assert_eq!(field(&delivered, "sequence"), ["1", "2", "6"]);
    assert_eq!(field(&dead, "sequence"), ["3"]);
    assert_eq!(
        dead[0]["last_status"], 422,
        "the dead letter keeps its evidence"
    );
    assert_eq!(field(&held, "sequence"), ["4", "5"]);
    assert_eq!(field(&pending, "sequence"), ["7", "8", "9"]);
    let rejected = daemon.rejected().await;
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0]["device"], "pick-01");

    // A retried POST with the key it was first sent under (the same bytes as make-buffer.py
    // sent) gets the same ids.
    let body = br#"[{"type": "pick.confirmed", "subject": "PO-FIXTURE", "data": {"lines": 3}}]"#;
    let again = daemon
        .post_raw(body.to_vec(), Some("fixture-1"))
        .await
        .ids();
    assert_eq!(again, ids_of(&delivered[2..]));

    // The open order of pick-01 is still open: done completes it.
    let done = daemon
        .ingest_client()
        .post_device("pick-01", b"CMD-DONE".to_vec())
        .await;
    assert_eq!(done.status, 202, "{done:?}");
    let completed = done.ids();
    assert_eq!(completed.len(), 1, "SO-77 was still open: {done:?}");

    // The ERP comes back; the dead letter is replayed; everything waiting arrives, in order.
    erp.set_mode(Mode::Ok);
    let replayed = daemon.replay(&json!({"sink": "erp", "dead": true})).await;
    assert_eq!(replayed["replayed"], 1);
    let mut waiting = ids_of(&dead);
    waiting.extend(ids_of(&held));
    waiting.extend(ids_of(&pending));
    waiting.extend(completed.iter().cloned());
    erp.wait_received(&waiting, Duration::from_secs(20), "the carried-over events")
        .await;
    erp.check_subject_order().expect("order per subject");
    assert!(
        erp.missing(&ids_of(&delivered)).len() == 3,
        "what was delivered before the upgrade is not sent again"
    );
    let done_event = erp
        .delivered()
        .into_iter()
        .find(|d| d.id == completed[0])
        .expect("the pick.completed event");
    assert_eq!(done_event.event["type"], "pick.completed");
    assert_eq!(done_event.event["data"]["order"], "SO-77");
    assert_eq!(
        done_event.sequence, 10,
        "new events continue the sequence of the old buffer"
    );
}

//! Buffers written by earlier builds (`fixtures/buffer-layout-3.sqlite` and
//! `buffer-layout-6.sqlite`, made by `fixtures/make-buffer.py`, whose docstring names the
//! builds) open in this one with everything in them: pending, held and dead events keep their
//! ids and sequence numbers and are delivered in order, delivered receipts stay delivered, a
//! planned batch is resent as it was under its key, the open pick session, the quarantine and
//! the Idempotency-Keys carry over, and new events continue the sequence.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::*;

fn fixture(layout: u32) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("hil-tests/fixtures/buffer-layout-{layout}.sqlite"))
}

/// The Idempotency-Key of a batch of these event ids: `b-` and the first 16 bytes of the
/// SHA-256 of the ids, each followed by a newline, in hex.
fn batch_key(ids: &[String]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for id in ids {
        h.update(id.as_bytes());
        h.update(b"\n");
    }
    let hex: String = h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("b-{hex}")
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
async fn a_buffer_of_layout_3_migrates_with_everything_in_it() {
    opens_with_everything_in_it(3).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_buffer_of_layout_6_opens_with_everything_in_it() {
    opens_with_everything_in_it(6).await;
}

async fn opens_with_everything_in_it(layout: u32) {
    let erp = StandIn::start("erp", Mode::Status(503)).await;
    let crm = StandIn::start("crm", Mode::Status(503)).await;
    let daemon = Daemon::start(
        Setup::new(vec![
            SinkSpec::new("erp", &erp),
            SinkSpec::new("crm", &crm).events(&["shipment.*"]).batch(10),
        ])
        .buffer_from(&fixture(layout))
        // The fixture's session is as old as the fixture: keep it from idling out.
        .toml(
            "[devices.pick-01]\nsource = \"http\"\nstation = \"pick\"\nsession_idle = \"36500d\"\n",
        ),
    )
    .await;

    let delivered = daemon.events("erp", "delivered").await;
    let dead = daemon.events("erp", "dead").await;
    let held = daemon.events("erp", "held").await;
    let pending = daemon.events("erp", "pending").await;
    assert_eq!(field(&delivered, "sequence"), ["1", "2", "6"]);
    assert!(
        delivered.iter().all(|e| e["attempts"] == 1),
        "receipts from before attempts were counted say at least the delivered one: {delivered:?}"
    );
    assert_eq!(field(&dead, "sequence"), ["3"]);
    assert_eq!(
        dead[0]["last_status"], 422,
        "the dead letter keeps its evidence"
    );
    assert_eq!(field(&held, "sequence"), ["4", "5"]);
    assert_eq!(
        field(&pending, "sequence"),
        ["7", "8", "9", "10", "11", "12"]
    );
    let planned = daemon.events("crm", "pending").await;
    assert_eq!(field(&planned, "sequence"), ["10", "11", "12"]);
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

    // The ERP and the CRM come back; the dead letter is replayed; everything waiting arrives,
    // in order, and the CRM gets the planned batch as it was planned, under its key.
    erp.set_mode(Mode::Ok);
    crm.set_mode(Mode::Ok);
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
        done_event.sequence, 13,
        "new events continue the sequence of the old buffer"
    );
    let shipments = ids_of(&planned);
    crm.wait_received(&shipments, Duration::from_secs(20), "the planned batch")
        .await;
    let batch = crm
        .requests()
        .into_iter()
        .find(|r| r.outcome == Outcome::Accepted)
        .expect("an accepted CRM request");
    assert_eq!(batch.ids(), shipments, "one request, as planned: {batch:?}");
    assert_eq!(batch.key(), Some(batch_key(&shipments).as_str()));
}

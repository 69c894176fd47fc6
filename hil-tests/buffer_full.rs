//! (e) A full buffer: with the ERP down, telemetry (`dock.*`) is dropped (and counted) to make
//! room, and only then is input refused with 503; no business event acknowledged with 202 is
//! ever lost.

use serde_json::{json, Value};

use crate::harness::*;

const TELEMETRY_POSTS: usize = 10;
const PER_POST: usize = 20;

/// Characters that do not compress (the buffer compresses its log), so the buffer fills.
fn incompressible(n: usize) -> String {
    use rand::Rng;
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

fn padded(event_type: &str, subject: &str, n: usize) -> Value {
    event(
        event_type,
        subject,
        json!({ "n": n, "pad": incompressible(900) }),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn full_buffer_drops_telemetry_first_and_never_an_acknowledged_business_event() {
    let erp = StandIn::start("erp", Mode::Status(503)).await;
    let daemon = Daemon::start(
        Setup::new(vec![SinkSpec::new("erp", &erp).retry_max("200ms")]).max_disk("1MiB"),
    )
    .await;

    let mut telemetry = 0;
    for p in 0..TELEMETRY_POSTS {
        let body: Vec<Value> = (0..PER_POST)
            .map(|i| {
                padded(
                    "dock.door.opened",
                    &format!("D{:02}", i % 4),
                    p * PER_POST + i,
                )
            })
            .collect();
        let answer = daemon.post_events(&json!(body), None).await;
        assert_eq!(
            answer.status, 202,
            "telemetry while there is room: {answer:?}"
        );
        telemetry += PER_POST;
    }

    let mut business: Vec<String> = Vec::new();
    let mut refused = None;
    for p in 0..400 {
        let body: Vec<Value> = (0..10)
            .map(|i| padded("pick.confirmed", &format!("SO-{}", i % 7), p * 10 + i))
            .collect();
        let answer = daemon.post_events(&json!(body), None).await;
        match answer.status {
            202 => business.extend(answer.ids()),
            _ => {
                refused = Some(answer);
                break;
            }
        }
    }
    let refused = refused.expect("the buffer never refused input");
    refused.assert_error(503);
    assert!(
        refused.retry_after.is_some(),
        "503 with Retry-After: {refused:?}"
    );
    assert!(!business.is_empty(), "some business events fit");

    // Telemetry went first: counted as dropped, and none is left waiting.
    let dropped = daemon.metric_total("dockgate_events_dropped_total").await;
    assert!(
        dropped > 0.0,
        "no telemetry was dropped before input was refused"
    );
    let pending = daemon.events("erp", "pending").await;
    let dock_left = pending
        .iter()
        .filter(|e| str_field(e, "type").starts_with("dock."))
        .count();
    assert_eq!(
        dock_left, 0,
        "input was refused while telemetry could still have been dropped"
    );
    assert!(
        daemon.metric_total("dockgate_ingest_refused_total").await >= 1.0,
        "refusals are counted"
    );
    // Fill the last bytes with single business events (the refused batch of ten may have
    // left room for a few), then telemetry of the same size must not push any of them out.
    for n in 0..100 {
        let answer = daemon
            .post_events(&padded("pick.confirmed", "SO-LAST", n), None)
            .await;
        match answer.status {
            202 => business.extend(answer.ids()),
            _ => {
                answer.assert_error(503);
                break;
            }
        }
    }
    let answer = daemon
        .post_events(&padded("dock.door.closed", "D01", 0), None)
        .await;
    answer.assert_error(503);

    // The ERP comes back: every acknowledged business event arrives.
    erp.set_mode(Mode::Ok);
    erp.wait_received(
        &business,
        secs(60),
        "every acknowledged business event reached the ERP",
    )
    .await;
    wait_until(secs(20), "the ERP backlog is empty", async || {
        daemon.sink("erp").await["pending"] == 0
    })
    .await;
    erp.check_subject_order().unwrap();
    erp.check_repeats_identical().unwrap();

    // With the backlog delivered, the buffer takes input again.
    let answer = daemon
        .post_events(&padded("pick.confirmed", "SO-AFTER", 0), None)
        .await;
    let after = answer.ids();
    wait_until(
        secs(20),
        "the event posted after recovery arrives",
        async || erp.missing(&after).is_empty(),
    )
    .await;

    // Accounting last (so the checks above run even if it fails): every telemetry event is
    // either delivered or counted as dropped, never both.
    let dock_at_erp: Vec<String> = erp
        .delivered()
        .iter()
        .filter(|d| str_field(&d.event, "type").starts_with("dock."))
        .map(|d| format!("{} n={}", d.subject, d.event["data"]["n"]))
        .collect();
    let dropped = daemon.metric_total("dockgate_events_dropped_total").await;
    assert_eq!(
        dock_at_erp.len() as f64 + dropped,
        telemetry as f64,
        "every telemetry event was either delivered or counted as dropped \
         ({} delivered: {dock_at_erp:?}; {dropped} counted as dropped; {telemetry} posted)",
        dock_at_erp.len()
    );
}

/// The disk itself fills up (the data directory on a 2 MiB tmpfs, `max_disk` far above it):
/// input is refused with 503, the daemon stays up, and once the receiver answers, recording its
/// deliveries fails too. Then the worker pauses, backing off, instead of resending the same
/// requests as fast as the receiver answers. When space comes back, everything acknowledged
/// arrives, repeats identical and under the same keys.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_refuses_input_pauses_delivery_and_recovers() {
    if let Err(why) = can_mount_tmpfs() {
        // Mounting needs root with CAP_SYS_ADMIN, which the CI machines have.
        eprintln!("SKIPPED: cannot mount a tmpfs here ({why})");
        return;
    }
    let erp = StandIn::start("erp", Mode::Status(503)).await;
    let daemon = Daemon::start(
        Setup::new(vec![SinkSpec::new("erp", &erp)
            .batch(50)
            .retry_max("500ms")])
        .data_on_tmpfs("2m"),
    )
    .await;

    let mut acked = Vec::new();
    let mut refused = 0;
    let mut reason = String::new();
    for p in 0..400 {
        let body: Vec<Value> = (0..50)
            .map(|i| padded("pick.confirmed", &format!("SO-{:03}", i % 40), p * 50 + i))
            .collect();
        let answer = daemon.post_events(&json!(body), None).await;
        match answer.status {
            202 => acked.extend(answer.ids()),
            503 => {
                refused += 1;
                reason = answer.json["error"].as_str().unwrap_or_default().to_owned();
                if refused == 3 {
                    break;
                }
            }
            other => panic!("unexpected ingest answer {other}: {answer:?}"),
        }
    }
    assert_eq!(refused, 3, "the disk never filled");
    // The answer says what the disk said, not just that something failed.
    assert!(
        reason.starts_with("the input was not stored: ") && reason.contains("disk is full"),
        "{reason}"
    );
    eprintln!("full disk: refused with {reason:?}");
    assert!(
        !acked.is_empty(),
        "nothing was stored before the disk filled"
    );
    let (status, _) = daemon.get_text("/health").await;
    assert_eq!(status, 200, "the daemon stays up with the disk full");

    // The receiver answers, but delivered marks cannot be written: requests must not repeat as
    // fast as the receiver answers.
    erp.set_mode(Mode::Ok);
    let before = erp.request_count();
    tokio::time::sleep(secs(3)).await;
    let during = erp.request_count() - before;
    assert!(
        during <= 60,
        "{during} requests in 3 s while deliveries could not be recorded"
    );

    resize_tmpfs(&daemon.data_dir(), "64m");
    erp.wait_received(&acked, secs(60), "every acknowledged event is at the ERP")
        .await;
    let answer = daemon
        .post_events(&json!([padded("pick.confirmed", "SO-1", 0)]), None)
        .await;
    assert_eq!(answer.status, 202, "input is taken again: {answer:?}");
    erp.check_repeats_identical().unwrap();
    erp.check_subject_order().unwrap();
    eprintln!(
        "full disk: {} acknowledged, {during} requests while marks failed, {} duplicates",
        acked.len(),
        erp.duplicates()
    );
}

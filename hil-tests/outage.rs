//! (a) The ERP is down (500, then hanging, then resetting connections) while 2,000 events
//! arrive; the healthy CRM keeps receiving its events during the outage; once the ERP is back
//! every event reaches it, none twice under different keys, each subject in sequence order.
//! A restart while the ERP is down keeps the sink's last delivery on status.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::*;

const EVENTS: usize = 2000;
const SUBJECTS: usize = 100;
const PER_POST: usize = 50;

fn generated(k: usize) -> Value {
    let subject = format!("SO-{:04}", k % SUBJECTS);
    let event_type = if k % 10 == 9 {
        "shipment.loaded"
    } else {
        "pick.confirmed"
    };
    event(
        event_type,
        &subject,
        json!({ "k": k, "line": k / SUBJECTS }),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn erp_outage_under_load_loses_nothing_and_keeps_order() {
    let erp = StandIn::start("erp", Mode::Status(500)).await;
    let crm = StandIn::start("crm", Mode::Ok).await;
    let daemon = Daemon::start(Setup::new(vec![
        SinkSpec::new("erp", &erp),
        SinkSpec::new("crm", &crm).events(&["shipment.*"]),
    ]))
    .await;

    let posted: Vec<Value> = (0..EVENTS).map(generated).collect();
    let bodies: Vec<&[Value]> = posted.chunks(PER_POST).collect();
    let phases = [
        (Mode::Status(500), Outcome::Answered(500)),
        (Mode::Hang, Outcome::Hung),
        (Mode::Reset, Outcome::Reset),
    ];
    let mut ids: Vec<String> = Vec::with_capacity(EVENTS);
    for (phase, bodies) in bodies.chunks(bodies.len().div_ceil(3)).enumerate() {
        let (mode, outcome) = &phases[phase];
        erp.set_mode(mode.clone());
        let seen_before = erp.count(outcome);
        for body in bodies {
            let got = daemon
                .post_events(&Value::Array(body.to_vec()), None)
                .await
                .ids();
            assert_eq!(got.len(), body.len(), "one id per posted event");
            ids.extend(got);
        }
        // The daemon really met this kind of failure (not just the previous one).
        wait_until(
            secs(20),
            &format!("the ERP failed two requests as {mode:?}"),
            async || erp.count(outcome) >= seen_before + 2,
        )
        .await;
    }
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        EVENTS,
        "ids are unique"
    );
    let posted_by_id: HashMap<&str, &Value> =
        ids.iter().map(String::as_str).zip(posted.iter()).collect();
    let shipment_ids: Vec<String> = ids
        .iter()
        .zip(&posted)
        .filter(|(_, e)| e["type"] == "shipment.loaded")
        .map(|(id, _)| id.clone())
        .collect();

    // During the ERP outage the CRM gets every one of its events.
    wait_for(
        secs(60),
        "the CRM received every shipment event while the ERP is down",
        async || match crm.missing(&shipment_ids) {
            m if m.is_empty() => Ok(()),
            m => Err(format!("{} of {} missing", m.len(), shipment_ids.len())),
        },
    )
    .await;
    assert!(
        erp.delivered().is_empty(),
        "the ERP accepted nothing while down"
    );
    let erp_status = daemon.sink("erp").await;
    assert_eq!(
        erp_status["state"], "retrying",
        "ERP sink during the outage: {erp_status}"
    );
    assert_eq!(
        erp_status["pending"],
        json!(EVENTS),
        "ERP sink during the outage: {erp_status}"
    );
    assert!(
        erp_status["last_error"].is_string(),
        "the last error is shown: {erp_status}"
    );
    assert_eq!(erp_status["dead"], 0, "nothing dead-lettered: {erp_status}");

    // The ERP comes back: everything drains.
    erp.set_mode(Mode::Ok);
    erp.wait_received(
        &ids,
        secs(120),
        "the ERP received every event after the outage",
    )
    .await;
    wait_for(secs(30), "the ERP backlog is empty", async || {
        let s = daemon.sink("erp").await;
        if s["pending"] == 0 && s["held"] == 0 && s["dead"] == 0 && s["state"] == "ok" {
            Ok(())
        } else {
            Err(s.to_string())
        }
    })
    .await;

    let want: HashSet<String> = ids.iter().cloned().collect();
    assert_eq!(erp.unique_ids(), want, "the ERP got exactly the posted ids");
    assert_eq!(
        crm.unique_ids(),
        shipment_ids.iter().cloned().collect::<HashSet<_>>(),
        "the CRM got exactly the shipment events"
    );
    for standin in [&erp, &crm] {
        standin.check_repeats_identical().unwrap();
        standin.check_subject_order().unwrap();
        standin.check_cloudevents(SITE, false).unwrap();
    }
    assert!(
        erp.max_in_flight() <= 4,
        "erp concurrency {}",
        erp.max_in_flight()
    );
    assert!(
        crm.max_in_flight() <= 4,
        "crm concurrency {}",
        crm.max_in_flight()
    );
    eprintln!(
        "outage: {} ERP requests, {} duplicates at the ERP",
        erp.request_count(),
        erp.duplicates()
    );

    // What arrived is what was posted, and sequence follows commit (= array) order.
    let delivered: HashMap<String, Value> = erp
        .delivered()
        .into_iter()
        .map(|d| (d.id, d.event))
        .collect();
    let mut last_sequence = 0u64;
    for id in &ids {
        let got = &delivered[id];
        let sent = posted_by_id[id.as_str()];
        assert_eq!(got["type"], sent["type"], "type of {id}");
        assert_eq!(got["subject"], sent["subject"], "subject of {id}");
        assert_eq!(got["data"], sent["data"], "data of {id}");
        let sequence: u64 = str_field(got, "sequence").parse().unwrap();
        assert!(
            sequence > last_sequence,
            "sequence of {id} ({sequence}) not above the previous event's ({last_sequence})"
        );
        last_sequence = sequence;
    }
}

/// Supervisors read whether shipments reach the ERP from the sink's last delivery: a restart
/// while the ERP is down must show the delivery from before it, not "none yet", and the ERP's
/// refusals after the restart as the current error.
#[tokio::test(flavor = "multi_thread")]
async fn a_restart_while_the_erp_is_down_keeps_the_last_delivery_on_status() {
    let erp = StandIn::start("erp", Mode::Ok).await;
    let mut daemon = Daemon::start(Setup::new(vec![SinkSpec::new("erp", &erp)])).await;
    let first = daemon
        .post_events(
            &event("shipment.loaded", "SO-0001", json!({ "k": 1 })),
            None,
        )
        .await
        .ids();
    erp.wait_received(&first, secs(20), "the first shipment")
        .await;
    let mut delivered_at = Value::Null;
    wait_until(secs(10), "status shows the delivery", async || {
        delivered_at = daemon.sink("erp").await["last_delivery_at"].clone();
        delivered_at.is_string()
    })
    .await;

    erp.set_mode(Mode::Status(503));
    assert!(daemon.terminate().await.success(), "a clean stop");
    daemon.restart().await;
    let refused_before = erp.count(&Outcome::Answered(503));
    daemon
        .post_events(
            &event("shipment.loaded", "SO-0002", json!({ "k": 2 })),
            None,
        )
        .await
        .ids();
    wait_until(
        secs(20),
        "the ERP refused the second shipment",
        async || erp.count(&Outcome::Answered(503)) > refused_before,
    )
    .await;
    wait_until(secs(10), "status shows the refusal", async || {
        daemon.sink("erp").await["last_error"].is_string()
    })
    .await;
    let sink = daemon.sink("erp").await;
    // The receipt is stamped in the writer's transaction, the worker's time once that commit
    // has returned: a few milliseconds apart.
    let at = |v: &Value| {
        v.as_str()
            .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
            .unwrap_or_else(|| panic!("not an RFC 3339 time: {v}"))
    };
    let (before, after) = (at(&delivered_at), at(&sink["last_delivery_at"]));
    let apart = after
        .duration_since(before)
        .or_else(|_| before.duration_since(after))
        .unwrap_or_default();
    assert!(
        apart < Duration::from_secs(1),
        "the last delivery survives the restart ({delivered_at} before it): {sink}"
    );

    let out = daemon.run_cli(&["status"]).await;
    out.assert_ok();
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("erp"))
        .unwrap_or_else(|| panic!("no erp line: {out:#?}"));
    assert!(
        !line.contains("none yet") && line.contains("503") && !line.contains("past:"),
        "the sink's line shows an earlier delivery and the current refusal: {line}"
    );
}

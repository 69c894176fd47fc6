//! Device inputs through the ledger: folded into events with the session kept across a
//! restart, MQTT redeliveries recognised, unreadable input quarantined with its bytes.

use super::*;

const DEVICES: &str = "[devices.pick-01]\nsource = \"http\"\nstation = \"pick\"\n\
                       [devices.door-07]\nsource = \"http\"\nstation = \"dock\"\ndoor = \"D07\"\ndebounce = \"0s\"\n";

const LABEL: &[u8] = b"]C1010950600013435217251231\x1d10LOT1";

async fn one(l: &Ledger, input: Input) -> InputOutcome {
    let mut outcomes = l.handle.submit_inputs(vec![input]).await.unwrap();
    assert_eq!(outcomes.len(), 1);
    outcomes.remove(0)
}

#[track_caller]
fn ids(o: &InputOutcome) -> Vec<String> {
    match o {
        InputOutcome::Committed { ids, .. } => ids.clone(),
        other => panic!("expected a commit, got {other:?}"),
    }
}

/// The CloudEvents of every event pending on the ERP, by sequence.
async fn bodies(l: &Ledger) -> Vec<serde_json::Value> {
    let mut out: Vec<serde_json::Value> = l
        .next("erp", 1000)
        .await
        .into_iter()
        .flat_map(|r| match r {
            Ready::Fresh(events) | Ready::Planned { events, .. } => events,
        })
        .map(|e| serde_json::from_str(&e.body).unwrap())
        .collect();
    out.sort_by_key(|v| v["sequence"].as_str().unwrap().parse::<i64>().unwrap());
    out
}

#[tokio::test]
async fn device_inputs_fold_into_events_and_the_session_survives_a_reopen() {
    let l = Ledger::open(DEVICES);
    let opened = one(&l, input("pick-01", b"SO-1001", None)).await;
    assert!(ids(&opened).is_empty(), "an order scan opens a session");
    match &opened {
        InputOutcome::Committed { feedback, .. } => {
            assert_eq!(feedback.as_ref().map(|f| f.ok), Some(true))
        }
        _ => unreachable!(),
    }
    assert_eq!(ids(&one(&l, input("pick-01", LABEL, None)).await).len(), 1);
    // A new writer on the same directory: the open order is still there.
    let l = l.reopen(DEVICES).await;
    assert_eq!(
        ids(&one(&l, input("pick-01", b"CMD-DONE", None)).await).len(),
        1
    );
    let events = bodies(&l).await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["pick.confirmed", "pick.completed"]);
    let done = &events[1];
    assert_eq!(done["source"], "dockgate://wh-test/devices/pick-01");
    assert_eq!(done["subject"], "SO-1001");
    assert_eq!(done["data"]["lines"], 1);
    assert_eq!(done["data"]["order"], "SO-1001");
    assert_eq!(events[0]["data"]["lot"], "LOT1");
}

#[tokio::test]
async fn mqtt_redelivery_is_recognised_but_a_second_identical_scan_is_not() {
    let l = Ledger::open(DEVICES);
    one(&l, input("pick-01", b"SO-7", Some((1, false)))).await;
    let first = one(&l, input("pick-01", LABEL, Some((2, false)))).await;
    assert_eq!(ids(&first).len(), 1);
    // Not acknowledged yet; the broker resends it with DUP set after a reconnect.
    assert!(matches!(
        one(&l, input("pick-01", LABEL, Some((2, true)))).await,
        InputOutcome::Duplicate
    ));
    // Acknowledged; the operator scans a second unit of the same item, a new message (no DUP)
    // that may reuse pkid 2.
    assert_eq!(
        ids(&one(&l, input("pick-01", LABEL, Some((2, false)))).await).len(),
        1
    );
    // Same packet id but another payload is never a duplicate.
    let other = b"]C1010950600013435217251231\x1d10LOT2";
    assert_eq!(
        ids(&one(&l, input("pick-01", other, Some((2, true)))).await).len(),
        1
    );
    let picks = l
        .rows("erp")
        .await
        .into_iter()
        .filter(|r| r.3 == "pick.confirmed")
        .count();
    assert_eq!(picks, 3);
}

#[tokio::test]
async fn unreadable_inputs_are_quarantined_with_their_bytes() {
    let l = Ledger::open(DEVICES);
    let overlong = Input {
        rejected: Some("overlong_line"),
        ..input("pick-01", b"SO-1SO-1SO-1", None)
    };
    let cases: [(Input, &str); 6] = [
        (
            input("pick-01", b"\xff\xfe\x00garbage", None),
            "invalid_utf8",
        ),
        (input("pick-01", b"\x01\x02\x03", None), "control_bytes"),
        (input("pick-01", b"{\"data\":", None), "invalid_json"),
        (input("door-07", b"ajar", None), "invalid_dock_message"),
        (input("nobody", b"SO-1", None), "unknown_device"),
        (overlong, "overlong_line"),
    ];
    for (input, reason) in cases {
        let bytes = input.bytes.clone();
        match one(&l, input).await {
            InputOutcome::Rejected { reason: got, .. } => assert_eq!(got, reason),
            other => panic!("{bytes:?}: expected quarantine, got {other:?}"),
        }
    }
    let rows = l.handle.rejected(None, 100).await.unwrap();
    assert_eq!(rows.len(), 6);
    assert_eq!(rows[0].raw, "\\xff\\xfe\\x00garbage");
    assert_eq!(rows[0].bytes, 10);
    assert_eq!(rows[3].device, "door-07");
    assert!(rows[3].detail.contains("ajar"), "{}", rows[3].detail);
    let of_door = l
        .handle
        .rejected(Some("door-07".into()), 100)
        .await
        .unwrap();
    assert_eq!(of_door.len(), 1);
    // A dock message after the garbage still works.
    assert_eq!(
        ids(&one(&l, input("door-07", b"open", None)).await).len(),
        1
    );
    assert!(l
        .rows("erp")
        .await
        .iter()
        .all(|r| r.3 == "dock.door.opened"));
}

#[tokio::test]
async fn a_group_of_inputs_answers_in_order() {
    let l = Ledger::open(DEVICES);
    let outcomes = l
        .handle
        .submit_inputs(vec![
            input("pick-01", b"SO-1", None),
            input("pick-01", b"\xff", None),
            input("pick-01", LABEL, None),
        ])
        .await
        .unwrap();
    assert!(matches!(&outcomes[0], InputOutcome::Committed { ids, .. } if ids.is_empty()));
    assert!(matches!(
        &outcomes[1],
        InputOutcome::Rejected {
            reason: "invalid_utf8",
            ..
        }
    ));
    assert_eq!(ids(&outcomes[2]).len(), 1);
}

#[tokio::test]
async fn dock_timers_fire_on_tick() {
    let l = Ledger::open(
        "[devices.door-09]\nsource = \"http\"\nstation = \"dock\"\ndoor = \"D09\"\ndebounce = \"200ms\"\n",
    );
    assert!(ids(&one(&l, input("door-09", b"open", None)).await).is_empty());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    l.handle.tick().await.unwrap();
    let rows = l.rows("erp").await;
    assert_eq!(rows.len(), 1, "the debounced change comes with a tick");
    assert_eq!(rows[0].3, "dock.door.opened");
    assert_eq!(rows[0].2, "D09");
}

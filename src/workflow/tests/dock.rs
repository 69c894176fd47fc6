//! Dock sensors: parsing, debounce, wrong stations, unreadable messages.

use super::*;

#[test]
fn parse_dock_accepts_the_documented_forms() {
    use DockSignal::{Door, Trailer};
    let ok = [
        ("open", Door(DoorState::Open)),
        ("  CLOSED\r\n", Door(DoorState::Closed)),
        ("Present", Trailer(TrailerState::Present)),
        ("absent", Trailer(TrailerState::Absent)),
        (r#"{"door":"open"}"#, Door(DoorState::Open)),
        (r#" {"door": " Closed "} "#, Door(DoorState::Closed)),
        (
            r#"{"trailer":"present","battery":87}"#,
            Trailer(TrailerState::Present),
        ),
        (r#"{"trailer":"ABSENT"}"#, Trailer(TrailerState::Absent)),
    ];
    for (payload, want) in ok {
        assert_eq!(parse_dock(payload), Ok(want), "{payload:?}");
    }
    let bad = [
        ("", "expected open, closed"),
        ("opened", "got \"opened\""),
        ("{", "invalid JSON"),
        (r#"{"door":"present"}"#, "\"door\": \"open\" or \"closed\""),
        (r#"{"door":true}"#, "got \"true\""),
        (
            r#"{"trailer":"open"}"#,
            "\"trailer\": \"present\" or \"absent\"",
        ),
        (r#"{"door":"open","trailer":"present"}"#, "not both"),
        (r#"{"state":"open"}"#, "with \"door\" or \"trailer\""),
    ];
    for (payload, needle) in bad {
        let err = parse_dock(payload).expect_err(payload);
        assert!(err.contains(needle), "{payload:?}: {err}");
    }
}

#[test]
fn dock_changes_are_debounced() {
    let mut b = Bench::new(Station::Dock).with_door("D07");
    // The first state ever is emitted once it has held.
    assert!(b.dock("closed", T0).is_empty());
    assert!(tick(&mut b.session, &b.dev, T0 + DEBOUNCE - 1).is_empty());
    assert_eq!(b.session.next_deadline(&b.dev), Some(T0 + DEBOUNCE));
    let events = tick(&mut b.session, &b.dev, T0 + DEBOUNCE);
    assert_eq!(types(&events), [DOCK_DOOR_CLOSED]);
    assert_eq!(
        events[0],
        Emitted {
            event_type: DOCK_DOOR_CLOSED,
            subject: "D07".into(),
            data: json!({
                "site": "wh-test", "device": "scan-1", "station": "dock", "input": "closed",
                "door": "D07",
            }),
            time_ms: Some(T0),
        }
    );
    assert_eq!(b.session.door_state(), Some(DoorState::Closed));
    assert_eq!(b.session.next_deadline(&b.dev), None);

    // The same state again: nothing.
    let t = T0 + 10_000;
    assert!(b.dock("closed", t).is_empty());
    assert!(tick(&mut b.session, &b.dev, t + 60_000).is_empty());

    // Flapping open/closed/open within the hold: one opened, timed from the last open.
    let t = T0 + 100_000;
    assert!(b.dock("open", t).is_empty());
    assert!(b.dock("closed", t + 500).is_empty());
    assert!(b.dock(r#"{"door":"open"}"#, t + 1_000).is_empty());
    assert!(
        b.dock("open", t + 2_500).is_empty(),
        "a repeat does not restart the hold"
    );
    let events = tick(&mut b.session, &b.dev, t + 3_000);
    assert_eq!(types(&events), [DOCK_DOOR_OPENED]);
    assert_eq!(events[0].time_ms, Some(t + 1_000));
    assert_eq!(events[0].data["input"], r#"{"door":"open"}"#);
    assert!(tick(&mut b.session, &b.dev, t + 99_000).is_empty());

    // Open then back to open within the hold: nothing at all.
    let t = T0 + 200_000;
    assert!(b.dock("closed", t).is_empty());
    assert!(b.dock("open", t + 1_500).is_empty());
    assert!(tick(&mut b.session, &b.dev, t + 60_000).is_empty());
    assert_eq!(b.session.door_state(), Some(DoorState::Open));
}

#[test]
fn a_later_message_emits_a_due_change_and_trailer_is_tracked_apart() {
    let mut b = Bench::new(Station::Dock).with_door("D03");
    assert!(b.dock("present", T0).is_empty());
    // The door message arrives after the trailer's hold: the arrival is emitted by it.
    let events = b.dock("open", T0 + 5_000);
    assert_eq!(types(&events), [DOCK_TRAILER_ARRIVED]);
    assert_eq!(events[0].subject, "D03");
    assert_eq!(events[0].time_ms, Some(T0));
    assert_eq!(events[0].data["input"], "present");
    let events = b.dock("absent", T0 + 7_000);
    assert_eq!(types(&events), [DOCK_DOOR_OPENED]);
    let events = tick(&mut b.session, &b.dev, T0 + 9_000);
    assert_eq!(types(&events), [DOCK_TRAILER_DEPARTED]);
    assert_eq!(b.session.trailer_state(), Some(TrailerState::Absent));
    assert_eq!(b.session.door_state(), Some(DoorState::Open));
}

#[test]
fn dock_without_debounce_emits_at_once_and_without_door_uses_the_device() {
    let mut b = Bench::new(Station::Dock);
    b.dev.debounce_ms = 0;
    let events = b.dock("open", T0);
    assert_eq!(types(&events), [DOCK_DOOR_OPENED]);
    assert_eq!(events[0].subject, "scan-1");
    assert!(b.dock("open", T0 + 1).is_empty());
    assert_eq!(types(&b.dock("closed", T0 + 2)), [DOCK_DOOR_CLOSED]);
}

#[test]
fn wrong_station_inputs_are_unmatched() {
    // A scan at a dock station.
    let mut b = Bench::new(Station::Dock).with_door("D07");
    let (e, fb) = b.one(SSCC_1);
    assert_eq!(e.event_type, SCAN_UNMATCHED);
    assert_eq!(e.subject, "scan-1");
    assert_eq!(e.data["reason"], "wrong_station");
    assert_eq!(e.data["station"], "dock");
    assert!(!fb.ok);

    // A parsed dock message at a scanning station.
    let mut b = Bench::new(Station::Pick);
    b.quiet("SO-1");
    let step = apply_dock(
        &mut b.session,
        &b.dev,
        "open",
        DockSignal::Door(DoorState::Open),
        T0,
    );
    assert_eq!(types(&step.events), [SCAN_UNMATCHED]);
    assert_eq!(step.events[0].data["reason"], "wrong_station");
    assert_eq!(step.feedback.map(|f| f.ok), Some(false));
    assert_eq!(b.session.order(), Some("SO-1"));
    assert_eq!(b.session.door_state(), None);
}

#[test]
fn an_invalid_dock_message_is_refused_for_quarantine() {
    let mut b = Bench::new(Station::Dock).with_door("D07");
    match b.fold(b"ajar", T0) {
        Fold::Rejected { reason, detail } => {
            assert_eq!(reason, "invalid_dock_message");
            assert!(detail.contains("ajar"), "{detail}");
        }
        applied => panic!("an unreadable dock message was applied: {applied:?}"),
    }
    assert_eq!(b.session, Session::default(), "the session is unchanged");
    assert!(
        b.session.next_deadline(&b.dev).is_none(),
        "no state change pending"
    );
}

//! [`fold`]: what a device sent, read as its station expects it, or refused for quarantine.

use super::*;

#[track_caller]
fn refused(fold: Fold) -> (&'static str, String) {
    match fold {
        Fold::Rejected { reason, detail } => (reason, detail),
        applied => panic!("expected a refusal, got {applied:?}"),
    }
}

#[track_caller]
fn applied(fold: Fold) -> Step {
    match fold {
        Fold::Applied(step) => step,
        rejected => panic!("expected it applied, got {rejected:?}"),
    }
}

#[test]
fn unreadable_bytes_are_refused_with_a_reason_and_change_nothing() {
    let mut b = Bench::new(Station::Pick);
    b.quiet("SO-1");
    let before = b.session.clone();
    for (bytes, reason) in [
        (&b"\xff\xfe\x00garbage"[..], "invalid_utf8"),
        (b"\x1b[31mred", "control_bytes"),
        (b"SO-2\x00", "control_bytes"),
        (b"\r\n", "empty"),
        (b"   ", "empty"),
        (br#"{"data": "]C1..."#, "invalid_json"),
        (br#"{"data": "x", "extra": 1}"#, "invalid_json"),
    ] {
        let (got, detail) = refused(b.fold(bytes, T0));
        assert_eq!(got, reason, "{bytes:?}");
        assert!(!detail.is_empty());
    }
    assert_eq!(
        b.session, before,
        "refused input leaves the session as it was"
    );
}

#[test]
fn text_and_scan_objects_are_the_same_scan() {
    let mut plain = Bench::new(Station::Pick);
    plain.quiet("SO-1");
    let by_text = applied(plain.fold(format!("{ITEM_A}\r\n").as_bytes(), T0 + 5_000));

    let mut json = Bench::new(Station::Pick);
    json.quiet("SO-1");
    let object = serde_json::json!({ "data": &ITEM_A[3..], "symbology": "]C1" }).to_string();
    let by_object = applied(json.fold(object.as_bytes(), T0 + 5_000));

    // Some readers put the identifier in `data` as well as in `symbology`.
    let mut both = Bench::new(Station::Pick);
    both.quiet("SO-1");
    let object = serde_json::json!({ "data": ITEM_A, "symbology": "]C1" }).to_string();
    let by_both = applied(both.fold(object.as_bytes(), T0 + 5_000));

    assert_eq!(types(&by_text.events), [PICK_CONFIRMED]);
    assert_eq!(by_text.events, by_object.events);
    assert_eq!(by_text.events, by_both.events);
    assert_eq!(by_text.events[0].data["gtin"], "09506000134352");
    assert_eq!(
        by_text.events[0].data["input"], ITEM_A,
        "the line end is not input"
    );
}

#[test]
fn group_separators_and_tabs_are_not_control_bytes() {
    let mut b = Bench::new(Station::Pick);
    b.quiet("SO-1");
    let step = applied(b.fold(ITEM_A.as_bytes(), T0 + 5_000));
    assert_eq!(types(&step.events), [PICK_CONFIRMED]);
    assert_eq!(step.events[0].data["lot"], "ABC123");
}

#[test]
fn a_dock_station_reads_dock_messages_and_a_scanning_station_scans() {
    let mut door = Bench::new(Station::Dock).with_door("D07");
    door.dev.debounce_ms = 0;
    let step = applied(door.fold(b"open\n", T0));
    assert_eq!(types(&step.events), [DOCK_DOOR_OPENED]);
    assert_eq!(step.feedback, None);

    // At a pick station "open" is a scan that matches nothing.
    let mut pick = Bench::new(Station::Pick);
    let step = applied(pick.fold(b"open", T0));
    assert_eq!(types(&step.events), [SCAN_UNMATCHED]);
    assert_eq!(step.events[0].data["reason"], "unknown_barcode");
}

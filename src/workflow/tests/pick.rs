//! Pick stations: orders, items, done, cancel, malformed and unknown scans.

use super::*;

#[test]
fn pick_full_session() {
    let mut b = Bench::new(Station::Pick);
    assert_eq!(b.quiet("SO-123").message, "SO-123 opened");
    assert_eq!(b.quiet("A01-02-03").message, "SO-123: location A01-02-03");

    let (e1, fb1) = b.one(ITEM_A);
    let (e2, _) = b.one(ITEM_B);
    let (e3, fb3) = b.one(ITEM_C);
    for e in [&e1, &e2, &e3] {
        assert_eq!(e.event_type, PICK_CONFIRMED);
        assert_eq!(e.subject, "SO-123");
        assert_eq!(e.time_ms, None);
    }
    assert!(fb1.ok);
    assert_eq!(fb1.message, "SO-123: line 1 confirmed (09506000134352)");
    assert_eq!(fb3.message, "SO-123: line 3 confirmed (04006381333931 x12)");
    assert_eq!(
        e1.data,
        json!({
            "site": "wh-test", "device": "scan-1", "station": "pick", "input": ITEM_A,
            "order": "SO-123", "location": "A01-02-03",
            "gtin": "09506000134352", "expiry": "2025-12-31", "lot": "ABC123", "quantity": 1,
            "line": 1,
        })
    );
    assert_eq!(
        e2.data,
        json!({
            "site": "wh-test", "device": "scan-1", "station": "pick", "input": ITEM_B,
            "order": "SO-123", "location": "A01-02-03",
            "gtin": "05901234123457", "serial": "SN001", "quantity": 1, "line": 2,
        })
    );
    assert_eq!(e3.data["gtin"], "04006381333931");
    assert_eq!(e3.data["quantity"], 12);
    assert!(e3.data["quantity"].is_u64(), "quantity is a JSON integer");
    assert_eq!(e3.data["line"], 3);

    let (done, fb) = b.one("CMD-DONE");
    assert_eq!(done.event_type, PICK_COMPLETED);
    assert_eq!(done.subject, "SO-123");
    assert_eq!(
        done.data,
        json!({
            "site": "wh-test", "device": "scan-1", "station": "pick", "input": "CMD-DONE",
            "order": "SO-123", "location": "A01-02-03", "lines": 3,
        })
    );
    assert_eq!(
        fb,
        Feedback {
            ok: true,
            event: Some(PICK_COMPLETED),
            message: "SO-123: 3 lines confirmed".into()
        }
    );
    assert_eq!(
        b.session,
        Session {
            last_input_ms: Some(b.now),
            ..Session::default()
        }
    );
}

#[test]
fn pick_accepts_ean_and_digital_link_items_and_tote() {
    let mut b = Bench::new(Station::Pick);
    b.quiet("SO-9");
    assert_eq!(b.quiet("TOTE-7").message, "SO-9: tote TOTE-7");
    let (e, _) = b.one(EAN);
    assert_eq!(e.data["gtin"], "04006381333931");
    assert_eq!(e.data["quantity"], 1);
    assert_eq!(e.data["tote"], "TOTE-7");
    assert!(e.data.get("lot").is_none() && e.data.get("expiry").is_none());
    let (e, _) = b.one(LINK);
    assert_eq!(e.event_type, PICK_CONFIRMED);
    assert_eq!(e.data["gtin"], "09506000134352");
    assert_eq!(e.data["lot"], "L7");
    assert_eq!(e.data["expiry"], "2027-06-30");
    let (done, _) = b.one("CMD-DONE");
    assert_eq!(done.data["lines"], 2);
    assert_eq!(done.data["tote"], "TOTE-7");
}

#[test]
fn pick_item_without_order_is_an_exception() {
    let mut b = Bench::new(Station::Pick);
    let (e, fb) = b.one(ITEM_A);
    assert_eq!(e.event_type, PICK_EXCEPTION);
    assert_eq!(e.subject, "scan-1");
    assert_eq!(e.data["reason"], "no_open_order");
    assert_eq!(e.data["message"], "no open order: scan an order first");
    assert_eq!(e.data["gtin"], "09506000134352");
    assert_eq!(e.data["input"], ITEM_A);
    assert!(!fb.ok);
    assert_eq!(fb.message, "No open order: scan an order first");
    assert_eq!(b.session.lines(), 0);
}

#[test]
fn pick_done_without_order_is_an_exception() {
    let mut b = Bench::new(Station::Pick);
    let (e, fb) = b.one("CMD-DONE");
    assert_eq!(e.event_type, PICK_EXCEPTION);
    assert_eq!(e.subject, "scan-1");
    assert_eq!(
        e.data,
        json!({
            "site": "wh-test", "device": "scan-1", "station": "pick", "input": "CMD-DONE",
            "reason": "no_open_order", "message": "no open order: scan an order first",
        })
    );
    assert!(!fb.ok);
}

#[test]
fn pick_new_order_closes_the_previous_one_without_an_event() {
    let mut b = Bench::new(Station::Pick);
    b.quiet("SO-1");
    b.quiet("A01-01-01");
    b.one(ITEM_A);
    b.one(ITEM_B);
    let fb = b.quiet("SO-2");
    assert_eq!(fb.message, "SO-2 opened; SO-1 closed with 2 lines");
    assert_eq!(b.session.order(), Some("SO-2"));
    assert_eq!(b.session.lines(), 0);
    assert_eq!(b.session.location(), None, "the location belonged to SO-1");
    let (e, _) = b.one(ITEM_C);
    assert_eq!(e.subject, "SO-2");
    assert_eq!(e.data["line"], 1);
    assert!(e.data.get("location").is_none());
    let (done, _) = b.one("CMD-DONE");
    assert_eq!(
        (done.subject.as_str(), &done.data["lines"]),
        ("SO-2", &json!(1))
    );
}

#[test]
fn pick_same_order_again_keeps_the_session() {
    let mut b = Bench::new(Station::Pick);
    b.quiet("SO-1");
    b.one(ITEM_A);
    assert_eq!(b.quiet("SO-1").message, "SO-1 already open");
    b.one(ITEM_B);
    let (done, _) = b.one("CMD-DONE");
    assert_eq!(done.data["lines"], 2);
}

#[test]
fn location_and_tote_before_an_order_carry_into_it() {
    let mut b = Bench::new(Station::Pick);
    assert_eq!(b.quiet("B02-03-04").message, "location B02-03-04");
    b.quiet("TOTE-1");
    b.quiet("SO-5");
    let (e, _) = b.one(ITEM_A);
    assert_eq!(e.data["location"], "B02-03-04");
    assert_eq!(e.data["tote"], "TOTE-1");
    b.quiet("C03-04-05");
    let (e, _) = b.one(ITEM_A);
    assert_eq!(e.data["location"], "C03-04-05", "the last location wins");
}

#[test]
fn pick_cancel_closes_the_session_without_an_event() {
    let mut b = Bench::new(Station::Pick);
    b.quiet("SO-1");
    b.one(ITEM_A);
    assert_eq!(b.quiet("CMD-CANCEL").message, "SO-1 cancelled");
    assert_eq!(b.session.order(), None);
    let (e, _) = b.one(ITEM_A);
    assert_eq!(e.data["reason"], "no_open_order");
    assert_eq!(b.quiet("CMD-CANCEL").message, "Session cleared");
}

#[test]
fn pick_malformed_barcodes_are_exceptions_with_the_reason() {
    let mut b = Bench::new(Station::Pick);
    b.quiet("SO-1");
    let (e, fb) = b.one(BAD_CHECK);
    assert_eq!(e.event_type, PICK_EXCEPTION);
    assert_eq!(e.subject, "SO-1");
    assert_eq!(e.data["reason"], "check_digit");
    assert_eq!(e.data["message"], "AI (01) check digit is 3, expected 2");
    assert_eq!(e.data["order"], "SO-1");
    assert!(e.data.get("gtin").is_none() && e.data.get("quantity").is_none());
    assert!(!fb.ok);
    assert_eq!(
        fb.message,
        "Bad barcode: AI (01) check digit is 3, expected 2"
    );

    let (e, _) = b.one(BAD_DATE);
    assert_eq!(e.data["reason"], "invalid_barcode");
    assert!(e.data["message"]
        .as_str()
        .is_some_and(|m| m.contains("(17)")));
    // The good part of the label is named; no quantity is made up for a broken label.
    assert_eq!(e.data["gtin"], "09506000134352");
    assert!(e.data.get("quantity").is_none());

    let (e, _) = b.one("]E05901234123458");
    assert_eq!(e.data["reason"], "check_digit");
    assert_eq!(b.session.lines(), 0, "exceptions confirm nothing");
    assert_eq!(b.session.order(), Some("SO-1"), "and leave the order open");
}

#[test]
fn pick_malformed_without_order_has_the_device_as_subject() {
    let mut b = Bench::new(Station::Pick);
    let (e, _) = b.one(BAD_CHECK);
    assert_eq!(
        (e.event_type, e.subject.as_str()),
        (PICK_EXCEPTION, "scan-1")
    );
}

#[test]
fn unknown_scans_are_unmatched() {
    for station in [
        Station::Pick,
        Station::Pack,
        Station::Ship,
        Station::Receive,
    ] {
        let mut b = Bench::new(station);
        b.quiet("SO-1");
        let (e, fb) = b.one("HELLO WORLD");
        assert_eq!(e.event_type, SCAN_UNMATCHED);
        assert_eq!(e.subject, "scan-1");
        assert_eq!(
            e.data,
            json!({
                "site": "wh-test", "device": "scan-1", "station": station.as_str(),
                "input": "HELLO WORLD", "order": "SO-1",
                "kind": "unknown", "reason": "unknown_barcode", "message": "unrecognised barcode",
            })
        );
        assert_eq!((fb.ok, fb.message.as_str()), (false, "Unknown barcode"));
        assert_eq!(
            b.session.order(),
            Some("SO-1"),
            "an unknown scan changes nothing"
        );
    }
}

#[test]
fn good_barcodes_that_mean_nothing_here_are_unmatched() {
    let mut b = Bench::new(Station::Pick);
    b.quiet("SO-1");
    let (e, fb) = b.one(SSCC_1);
    assert_eq!(e.event_type, SCAN_UNMATCHED);
    assert_eq!(e.data["reason"], "unexpected_barcode");
    assert_eq!(
        e.data["message"],
        "an SSCC label is not used at a pick station"
    );
    assert_eq!(e.data["sscc"], "009506000134350004");
    assert!(!fb.ok);

    let (e, _) = b.one(PO_ONLY);
    assert_eq!(e.data["reason"], "unexpected_barcode");
    assert_eq!(e.data["kind"], "gs1");

    let mut b = Bench::new(Station::Ship);
    let (e, _) = b.one(ITEM_A);
    assert_eq!(e.data["reason"], "unexpected_barcode");
    assert_eq!(e.data["gtin"], "09506000134352");
    assert!(b.session.loaded().is_empty());
}

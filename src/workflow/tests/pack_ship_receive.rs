//! Pack, ship and receive stations.

use super::*;

#[test]
fn pack_items_then_sscc_completes_the_order() {
    let mut b = Bench::new(Station::Pack);
    b.quiet("SO-77");
    b.quiet("TOTE-3");
    assert_eq!(
        b.quiet(ITEM_A).message,
        "SO-77: 1 item packed (09506000134352)"
    );
    b.quiet(ITEM_B);
    assert_eq!(
        b.quiet(ITEM_C).message,
        "SO-77: 3 items packed (04006381333931 x12)"
    );
    assert_eq!(b.session.packed_items(), 3);

    let (e, fb) = b.one(SSCC_1);
    assert_eq!(e.event_type, PACK_COMPLETED);
    assert_eq!(e.subject, "SO-77");
    assert_eq!(
        e.data,
        json!({
            "site": "wh-test", "device": "scan-1", "station": "pack", "input": SSCC_1,
            "order": "SO-77", "tote": "TOTE-3", "sscc": "009506000134350004",
            "items": [
                {"gtin": "09506000134352", "expiry": "2025-12-31", "lot": "ABC123", "quantity": 1},
                {"gtin": "05901234123457", "serial": "SN001", "quantity": 1},
                {"gtin": "04006381333931", "quantity": 12},
            ],
        })
    );
    assert_eq!(
        fb.message,
        "SO-77: 3 items packed into SSCC 009506000134350004"
    );
    assert_eq!(b.session.order(), None);
    assert_eq!(b.session.packed_items(), 0);

    let (e, fb) = b.one(ITEM_A);
    assert_eq!(e.event_type, PACK_EXCEPTION);
    assert_eq!(e.data["reason"], "no_open_order");
    assert!(!fb.ok);
}

#[test]
fn pack_sscc_without_order_is_an_exception() {
    let mut b = Bench::new(Station::Pack);
    let (e, _) = b.one(SSCC_2);
    assert_eq!(e.event_type, PACK_EXCEPTION);
    assert_eq!(e.subject, "scan-1");
    assert_eq!(e.data["reason"], "no_open_order");
    assert_eq!(e.data["sscc"], "009506000134350011");
}

#[test]
fn pack_done_does_not_complete_and_new_order_drops_items() {
    let mut b = Bench::new(Station::Pack);
    let step = b.scan("CMD-DONE");
    assert!(step.events.is_empty());
    assert_eq!(step.feedback.as_ref().map(|f| f.ok), Some(false));

    b.quiet("SO-1");
    b.quiet(ITEM_A);
    let step = b.scan("CMD-DONE");
    assert!(step.events.is_empty());
    let fb = step.feedback.expect("feedback");
    assert!(!fb.ok);
    assert_eq!(
        fb.message,
        "SO-1: scan the SSCC label to complete (1 item packed)"
    );
    assert_eq!(b.session.packed_items(), 1, "done keeps the session");

    assert_eq!(
        b.quiet("SO-2").message,
        "SO-2 opened; SO-1 closed with 1 item not packed"
    );
    let (e, _) = b.one(SSCC_1);
    assert_eq!(e.data["items"], json!([]));
    assert_eq!(e.data["order"], "SO-2");
}

#[test]
fn pack_malformed_is_a_pack_exception() {
    let mut b = Bench::new(Station::Pack);
    b.quiet("SO-1");
    let (e, _) = b.one(BAD_CHECK);
    assert_eq!((e.event_type, e.subject.as_str()), (PACK_EXCEPTION, "SO-1"));
    assert_eq!(e.data["reason"], "check_digit");
    assert_eq!(b.session.packed_items(), 0);
}

// ---------------------------------------------------------------------------------------------
// Ship

#[test]
fn ship_loads_and_dispatches() {
    let mut b = Bench::new(Station::Ship).with_door("D07");
    let (e, fb) = b.one(SSCC_1);
    assert_eq!(e.event_type, SHIPMENT_LOADED);
    assert_eq!(e.subject, "009506000134350004");
    assert_eq!(
        e.data,
        json!({
            "site": "wh-test", "device": "scan-1", "station": "ship", "input": SSCC_1,
            "door": "D07", "sscc": "009506000134350004",
        })
    );
    assert_eq!(
        fb.message,
        "SSCC 009506000134350004 loaded (1 since the last dispatch)"
    );
    let (e, _) = b.one(SSCC_2);
    assert_eq!(e.subject, "009506000134350011");

    // The same pallet scanned again is not loaded twice.
    assert_eq!(
        b.quiet(SSCC_1).message,
        "SSCC 009506000134350004 already loaded"
    );

    let (e, _) = b.one(SSCC_CONTENT);
    assert_eq!(e.data["gtin"], "09506000134352");
    assert_eq!(e.data["quantity"], 24);

    let (e, fb) = b.one("CMD-DONE");
    assert_eq!(e.event_type, SHIPMENT_DISPATCHED);
    assert_eq!(e.subject, "D07");
    assert_eq!(
        e.data,
        json!({
            "site": "wh-test", "device": "scan-1", "station": "ship", "input": "CMD-DONE",
            "door": "D07",
            "ssccs": ["009506000134350004", "009506000134350011", "009506000134350028"],
        })
    );
    assert_eq!(fb.message, "Door D07: 3 SSCCs dispatched");
    assert!(b.session.loaded().is_empty());

    // Nothing loaded since that done: no event, negative feedback.
    let step = b.scan("CMD-DONE");
    assert!(step.events.is_empty());
    let fb = step.feedback.expect("feedback");
    assert!(!fb.ok);
    assert_eq!(fb.message, "Nothing loaded: scan the SSCC labels first");

    // After a dispatch the same SSCC may be loaded again (a new trip).
    let (e, _) = b.one(SSCC_1);
    assert_eq!(e.event_type, SHIPMENT_LOADED);
}

#[test]
fn ship_without_door_dispatches_under_the_device() {
    let mut b = Bench::new(Station::Ship);
    b.quiet("SO-4");
    let (e, _) = b.one(SSCC_1);
    assert!(e.data.get("door").is_none());
    assert_eq!(e.data["order"], "SO-4");
    let (e, fb) = b.one("CMD-DONE");
    assert_eq!(e.subject, "scan-1");
    assert_eq!(e.data["ssccs"], json!(["009506000134350004"]));
    assert_eq!(e.data["order"], "SO-4");
    assert_eq!(fb.message, "1 SSCC dispatched");
    assert_eq!(b.session.order(), None, "done closes the session");
}

#[test]
fn ship_cancel_keeps_the_loaded_list() {
    let mut b = Bench::new(Station::Ship).with_door("D01");
    b.quiet("SO-4");
    b.one(SSCC_1);
    let fb = b.quiet("CMD-CANCEL");
    assert_eq!(
        fb.message,
        "SO-4 cancelled; 1 SSCC still loaded, scan done to dispatch"
    );
    assert_eq!(b.session.order(), None);
    let (e, _) = b.one("CMD-DONE");
    assert_eq!(e.data["ssccs"], json!(["009506000134350004"]));
    assert!(e.data.get("order").is_none());
}

#[test]
fn ship_and_receive_report_malformed_labels_as_unmatched() {
    for station in [Station::Ship, Station::Receive] {
        let mut b = Bench::new(station);
        let (e, fb) = b.one("]C100009506000134350005");
        assert_eq!(e.event_type, SCAN_UNMATCHED);
        assert_eq!(e.subject, "scan-1");
        assert_eq!(e.data["reason"], "check_digit");
        assert_eq!(e.data["kind"], "gs1");
        assert_eq!(e.data["message"], "AI (00) check digit is 5, expected 4");
        assert!(!fb.ok);
        assert!(b.session.loaded().is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// Receive

#[test]
fn receive_confirms_ssccs_and_items() {
    let mut b = Bench::new(Station::Receive).with_door("D02");
    let (e, fb) = b.one(SSCC_CONTENT);
    assert_eq!(e.event_type, RECEIPT_CONFIRMED);
    assert_eq!(e.subject, "009506000134350028");
    assert_eq!(
        e.data,
        json!({
            "site": "wh-test", "device": "scan-1", "station": "receive", "input": SSCC_CONTENT,
            "door": "D02", "sscc": "009506000134350028", "gtin": "09506000134352", "quantity": 24,
        })
    );
    assert_eq!(fb.message, "SSCC 009506000134350028 received");

    b.quiet("R01-01-01");
    let (e, fb) = b.one(ITEM_A);
    assert_eq!(e.event_type, RECEIPT_CONFIRMED);
    assert_eq!(e.subject, "scan-1", "no SSCC: the device");
    assert_eq!(e.data["gtin"], "09506000134352");
    assert_eq!(e.data["lot"], "ABC123");
    assert_eq!(e.data["quantity"], 1);
    assert_eq!(e.data["location"], "R01-01-01");
    assert_eq!(fb.message, "09506000134352 received");

    let (e, _) = b.one(SSCC_1);
    assert_eq!(e.data["sscc"], "009506000134350004");
    assert!(
        e.data.get("quantity").is_none(),
        "an SSCC alone has no count"
    );

    assert_eq!(b.quiet("CMD-DONE").message, "Session closed");
    assert_eq!(b.session.location(), None);
}

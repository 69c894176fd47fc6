//! Return and count stations.

use super::*;

/// GTIN 09506000134352, lot ABC123, count 5 (AI 30).
const ITEM_A_FIVE: &str = "]C1010950600013435210ABC123\u{1d}305";

#[test]
fn a_return_receives_items_by_condition_and_completes() {
    let mut b = Bench::new(Station::Return);
    assert_eq!(b.quiet("RMA-100").message, "RMA-100 opened");
    let (e, fb) = b.one(ITEM_A);
    assert_eq!(e.event_type, RETURN_RECEIVED);
    assert_eq!(e.subject, "RMA-100");
    assert_eq!(
        e.data,
        json!({
            "site": "wh-test", "device": "scan-1", "station": "return", "input": ITEM_A,
            "rma": "RMA-100", "condition": "resellable", "gtin": "09506000134352",
            "expiry": "2025-12-31", "lot": "ABC123", "quantity": 1,
        })
    );
    assert_eq!(fb.message, "RMA-100: 09506000134352 received resellable");
    assert_eq!(
        b.quiet("COND-DAMAGED").message,
        "RMA-100: next items damaged"
    );
    let (e, _) = b.one(ITEM_B);
    assert_eq!(e.data["condition"], "damaged");
    let (e, _) = b.one(ITEM_C);
    assert_eq!(e.data["condition"], "damaged");
    assert_eq!(b.session.lines(), 3);

    let (e, fb) = b.one("CMD-DONE");
    assert_eq!(e.event_type, RETURN_COMPLETED);
    assert_eq!(e.subject, "RMA-100");
    assert_eq!(e.data["lines"], 3);
    assert_eq!(
        e.data["by_condition"],
        json!({"damaged": 2, "resellable": 1})
    );
    assert_eq!(fb.message, "RMA-100: 3 items received");
    assert_eq!(b.session.rma(), None);

    // The next return starts resellable again.
    b.quiet("RMA-101");
    let (e, _) = b.one(ITEM_A);
    assert_eq!(e.data["condition"], "resellable");
    assert_eq!(e.subject, "RMA-101");
}

#[test]
fn a_return_scan_with_no_return_open_is_an_exception() {
    let mut b = Bench::new(Station::Return);
    let (e, fb) = b.one(ITEM_A);
    assert_eq!(e.event_type, RETURN_EXCEPTION);
    assert_eq!(e.subject, "scan-1");
    assert_eq!(e.data["reason"], "no_open_return");
    assert_eq!(e.data["gtin"], "09506000134352");
    assert!(!fb.ok);
    assert_eq!(fb.message, "No open return: scan an RMA first");
    let (e, _) = b.one("CMD-DONE");
    assert_eq!(e.data["reason"], "no_open_return");
    // A condition code needs a return too: refused, no event.
    let step = b.scan("COND-SCRAP");
    assert!(step.events.is_empty());
    assert!(!step.feedback.unwrap().ok);
    // A malformed label inside a return is a return exception on the RMA.
    b.quiet("RMA-7");
    let (e, _) = b.one(BAD_CHECK);
    assert_eq!(
        (e.event_type, e.subject.as_str(), &e.data["reason"]),
        (RETURN_EXCEPTION, "RMA-7", &json!("check_digit"))
    );
    // Orders and SSCCs mean nothing here.
    let (e, _) = b.one("SO-1");
    assert_eq!(
        (e.event_type, &e.data["reason"]),
        (SCAN_UNMATCHED, &json!("unexpected_barcode"))
    );
}

#[test]
fn a_new_rma_closes_the_open_return_and_cancel_closes_without_an_event() {
    let mut b = Bench::new(Station::Return);
    b.quiet("RMA-1");
    b.quiet("COND-DAMAGED");
    b.one(ITEM_A);
    assert_eq!(
        b.quiet("RMA-2").message,
        "RMA-2 opened; RMA-1 closed with 1 item received"
    );
    // The condition belonged to RMA-1.
    let (e, _) = b.one(ITEM_B);
    assert_eq!(e.data["condition"], "resellable");
    assert_eq!(b.quiet("RMA-2").message, "RMA-2 already open");
    assert_eq!(b.quiet("CMD-CANCEL").message, "Session cleared");
    assert_eq!(b.session.rma(), None);
    let (e, _) = b.one("CMD-DONE");
    assert_eq!(e.event_type, RETURN_EXCEPTION);
}

#[test]
fn rma_and_condition_codes_are_unexpected_at_other_stations() {
    for station in [
        Station::Pick,
        Station::Pack,
        Station::Ship,
        Station::Receive,
    ] {
        let mut b = Bench::new(station);
        for raw in ["RMA-1", "COND-DAMAGED"] {
            let (e, _) = b.one(raw);
            assert_eq!(e.event_type, SCAN_UNMATCHED, "{station:?} {raw}");
            assert_eq!(e.data["reason"], "unexpected_barcode");
            assert_eq!(e.data["kind"], read(raw).kind().as_str());
        }
    }
}

#[test]
fn a_count_tallies_by_gtin_and_lot_and_reports_on_done() {
    let mut b = Bench::new(Station::Count);
    assert_eq!(b.quiet("A01-02-03").message, "Counting A01-02-03");
    b.quiet(ITEM_A);
    b.quiet(ITEM_C);
    assert_eq!(
        b.quiet(ITEM_A_FIVE).message,
        "A01-02-03: 09506000134352 x5 counted, 6 in all"
    );
    // Same GTIN, another lot: its own line.
    b.quiet(LINK);
    assert_eq!(b.session.counted_lines(), 3);
    let (e, fb) = b.one("CMD-DONE");
    assert_eq!(e.event_type, INVENTORY_COUNTED);
    assert_eq!(e.subject, "A01-02-03");
    assert_eq!(
        e.data,
        json!({
            "site": "wh-test", "device": "scan-1", "station": "count", "input": "CMD-DONE",
            "location": "A01-02-03", "lines": 3,
            "items": [
                {"gtin": "09506000134352", "lot": "ABC123", "quantity": 6},
                {"gtin": "04006381333931", "quantity": 12},
                {"gtin": "09506000134352", "lot": "L7", "quantity": 1},
            ],
        })
    );
    assert_eq!(fb.message, "A01-02-03: 3 lines counted");
    assert_eq!(b.session.location(), None);
    // An empty location counted is a count of zero.
    b.quiet("B02-01-01");
    let (e, _) = b.one("CMD-DONE");
    assert_eq!(
        (e.data["lines"].clone(), e.data["items"].clone()),
        (json!(0), json!([]))
    );
}

#[test]
fn a_count_is_never_thrown_away_by_a_stray_location_and_cancel_discards_it() {
    let mut b = Bench::new(Station::Count);
    b.quiet("A01-02-03");
    // Nothing tallied yet: another location simply moves the count.
    assert_eq!(b.quiet("A01-02-04").message, "Counting A01-02-04");
    b.quiet(ITEM_A);
    let step = b.scan("A01-02-05");
    assert!(step.events.is_empty());
    let fb = step.feedback.unwrap();
    assert!(!fb.ok);
    assert_eq!(
        fb.message,
        "A01-02-04: 1 line counted: scan done or cancel first"
    );
    assert_eq!(b.session.location(), Some("A01-02-04"));
    // A malformed label in a count is an inventory exception on the location.
    let (e, _) = b.one(BAD_DATE);
    assert_eq!(
        (e.event_type, e.subject.as_str()),
        (INVENTORY_EXCEPTION, "A01-02-04")
    );
    assert_eq!(
        b.quiet("CMD-CANCEL").message,
        "Count of A01-02-04 discarded"
    );
    assert_eq!(b.session.counted_lines(), 0);
    let (e, fb) = b.one(ITEM_A);
    assert_eq!(
        (e.event_type, e.subject.as_str(), &e.data["reason"]),
        (INVENTORY_EXCEPTION, "scan-1", &json!("no_open_count"))
    );
    assert_eq!(fb.message, "No count open: scan a location first");
    for raw in ["SO-1", "RMA-1", "COND-DAMAGED", SSCC_1] {
        let (e, _) = b.one(raw);
        assert_eq!(e.data["reason"], "unexpected_barcode", "{raw}");
    }
}

#[test]
fn return_and_count_sessions_survive_a_round_trip_and_expire_when_idle() {
    let mut b = Bench::new(Station::Return);
    b.quiet("RMA-9");
    b.quiet("COND-DAMAGED");
    b.one(ITEM_A);
    let json = serde_json::to_string(&b.session).unwrap();
    b.session = serde_json::from_str(&json).unwrap();
    let (e, _) = b.one("CMD-DONE");
    assert_eq!(e.data["by_condition"], json!({"damaged": 1}));

    let mut c = Bench::new(Station::Count);
    c.quiet("A01-02-03");
    c.quiet(ITEM_C);
    let json = serde_json::to_string(&c.session).unwrap();
    c.session = serde_json::from_str(&json).unwrap();
    assert_eq!(c.session.counted_lines(), 1);
    // Idle: the count is closed without an event.
    c.now += IDLE;
    let (e, _) = c.one(ITEM_C);
    assert_eq!(e.data["reason"], "no_open_count");

    b.quiet("RMA-10");
    b.now += IDLE;
    let (_, fb) = b.one(ITEM_A);
    assert_eq!(
        fb.message,
        "No open return (RMA-10 was closed when idle): scan an RMA first"
    );
}

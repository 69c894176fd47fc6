//! The station workflow, scan by scan, with real GS1 labels decoded by [`decode`].
//!
//! Check digits used: GTIN 09506000134352, 05901234123457, 04006381333931 (EAN-13
//! 4006381333931); SSCCs 009506000134350004, 009506000134350011, 009506000134350028.

use serde_json::json;

use super::*;
use crate::decode::{decode, BarcodeRules};

const TODAY: (i32, u32, u32) = (2026, 11, 26);
const T0: i64 = 1_790_000_000_000;
const IDLE: i64 = 30 * 60 * 1000;
const DEBOUNCE: i64 = 2_000;

/// GTIN 09506000134352, expiry 2025-12-31, lot ABC123 (GS after the date is optional).
const ITEM_A: &str = "]C1010950600013435217251231\u{1d}10ABC123";
/// GTIN 05901234123457, serial SN001.
const ITEM_B: &str = "]C1010590123412345721SN001";
/// GTIN 04006381333931, count 12 (AI 30).
const ITEM_C: &str = "]C101040063813339313012";
/// Bare EAN-13, GTIN 04006381333931.
const EAN: &str = "4006381333931";
/// Digital Link: GTIN 09506000134352, lot L7, expiry 2027-06-30.
const LINK: &str = "https://id.gs1.org/01/09506000134352/10/L7?17=270630";
const SSCC_1: &str = "]C100009506000134350004";
const SSCC_2: &str = "]C100009506000134350011";
/// SSCC 009506000134350028 holding 24 of GTIN 09506000134352 (AI 02 + 37).
const SSCC_CONTENT: &str = "]C1000095060001343500280209506000134352\u{1d}3724";
/// GTIN check digit 3 instead of 2.
const BAD_CHECK: &str = "]C1010950600013435317251231";
/// Month 13.
const BAD_DATE: &str = "]C1010950600013435217251331";
/// A good GS1 label with neither GTIN nor SSCC: a purchase order number (AI 400).
const PO_ONLY: &str = "]C1400PO12345";

fn read(raw: &str) -> Reading {
    decode(raw, &BarcodeRules::default(), TODAY)
}

fn dev(station: Station) -> DeviceContext<'static> {
    DeviceContext {
        site: "wh-test",
        device: "scan-1",
        station,
        door: None,
        debounce_ms: DEBOUNCE,
        session_idle_ms: IDLE,
    }
}

/// One device: its session and a clock that moves one second per scan.
struct Bench {
    session: Session,
    dev: DeviceContext<'static>,
    now: i64,
}

impl Bench {
    fn new(station: Station) -> Self {
        Bench {
            session: Session::default(),
            dev: dev(station),
            now: T0,
        }
    }

    fn with_door(mut self, door: &'static str) -> Self {
        self.dev.door = Some(door);
        self
    }

    fn scan(&mut self, raw: &str) -> Step {
        self.now += 1_000;
        let reading = read(raw);
        apply_scan(&mut self.session, &self.dev, raw, &reading, self.now)
    }

    /// Scans and expects no event and positive feedback.
    #[track_caller]
    fn quiet(&mut self, raw: &str) -> Feedback {
        let step = self.scan(raw);
        assert!(
            step.events.is_empty(),
            "{raw}: unexpected {:?}",
            step.events
        );
        let fb = step.feedback.expect("feedback");
        assert!(fb.ok, "{raw}: {fb:?}");
        assert_eq!(fb.event, None);
        fb
    }

    /// Scans and expects exactly one event, whose type the feedback names.
    #[track_caller]
    fn one(&mut self, raw: &str) -> (Emitted, Feedback) {
        let step = self.scan(raw);
        assert_eq!(step.events.len(), 1, "{raw}: {:?}", step.events);
        let fb = step.feedback.expect("feedback");
        let event = step.events.into_iter().next().expect("one event");
        assert_eq!(fb.event, Some(event.event_type));
        (event, fb)
    }

    fn dock(&mut self, raw: &str, at: i64) -> Vec<Emitted> {
        let step = apply_dock_message(&mut self.session, &self.dev, raw, at);
        assert_eq!(step.feedback, None);
        step.events
    }
}

fn types(events: &[Emitted]) -> Vec<&'static str> {
    events.iter().map(|e| e.event_type).collect()
}

// ---------------------------------------------------------------------------------------------
// Pick

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

// ---------------------------------------------------------------------------------------------
// Pack

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

// ---------------------------------------------------------------------------------------------
// Dock

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

    // A dock message at a scanning station, parsed or not.
    let mut b = Bench::new(Station::Pick);
    b.quiet("SO-1");
    for step in [
        apply_dock(
            &mut b.session,
            &b.dev,
            "open",
            DockSignal::Door(DoorState::Open),
            T0,
        ),
        apply_dock_message(&mut b.session, &b.dev, "garbage", T0),
    ] {
        assert_eq!(types(&step.events), [SCAN_UNMATCHED]);
        assert_eq!(step.events[0].data["reason"], "wrong_station");
        assert_eq!(step.feedback.map(|f| f.ok), Some(false));
    }
    assert_eq!(b.session.order(), Some("SO-1"));
    assert_eq!(b.session.door_state(), None);
}

#[test]
fn an_invalid_dock_message_is_unmatched() {
    let mut b = Bench::new(Station::Dock).with_door("D07");
    let events = b.dock("ajar", T0);
    assert_eq!(types(&events), [SCAN_UNMATCHED]);
    assert_eq!(events[0].subject, "scan-1");
    assert_eq!(events[0].data["reason"], "invalid_message");
    assert_eq!(events[0].data["input"], "ajar");
    assert!(events[0].data["message"]
        .as_str()
        .is_some_and(|m| m.contains("ajar")));
    assert!(
        b.session.next_deadline(&b.dev).is_none(),
        "no state change pending"
    );
}

// ---------------------------------------------------------------------------------------------
// Idle expiry

#[test]
fn an_idle_session_closes_lazily_at_the_next_scan() {
    let mut b = Bench::new(Station::Pick);
    b.quiet("SO-1");
    b.quiet("A01-01-01");
    b.one(ITEM_A);
    // Just before the idle time: still open.
    b.now += IDLE - 1_001;
    let (e, _) = b.one(ITEM_A);
    assert_eq!(e.event_type, PICK_CONFIRMED);
    assert_eq!(e.data["line"], 2);
    // Idle for exactly session_idle: closed without an event, the scan sees no order.
    b.now += IDLE - 1_000;
    let (e, fb) = b.one(ITEM_A);
    assert_eq!(e.event_type, PICK_EXCEPTION);
    assert_eq!(e.data["reason"], "no_open_order");
    assert!(e.data.get("location").is_none());
    assert_eq!(
        fb.message,
        "No open order (SO-1 was closed when idle): scan an order first"
    );
    // Told once.
    let (_, fb) = b.one("CMD-DONE");
    assert_eq!(fb.message, "No open order: scan an order first");
}

#[test]
fn tick_closes_an_idle_session_without_an_event() {
    let mut b = Bench::new(Station::Pack);
    b.quiet("SO-1");
    b.quiet(ITEM_A);
    let last = b.now;
    assert_eq!(b.session.next_deadline(&b.dev), Some(last + IDLE));
    assert!(tick(&mut b.session, &b.dev, last + IDLE - 1).is_empty());
    assert_eq!(b.session.order(), Some("SO-1"));
    assert!(tick(&mut b.session, &b.dev, last + IDLE).is_empty());
    assert_eq!(b.session.order(), None);
    assert_eq!(b.session.packed_items(), 0);
    assert_eq!(b.session.next_deadline(&b.dev), None);
    let (e, fb) = b.one(SSCC_1);
    assert_eq!(e.event_type, PACK_EXCEPTION);
    assert_eq!(
        fb.message,
        "No open order (SO-1 was closed when idle): scan an order first"
    );
}

#[test]
fn idle_expiry_keeps_the_ship_loaded_list() {
    let mut b = Bench::new(Station::Ship);
    b.quiet("SO-1");
    b.one(SSCC_1);
    b.now += 4 * IDLE;
    assert!(tick(&mut b.session, &b.dev, b.now).is_empty());
    assert_eq!(b.session.order(), None);
    let (e, _) = b.one("CMD-DONE");
    assert_eq!(e.data["ssccs"], json!(["009506000134350004"]));
}

#[test]
fn a_non_positive_idle_time_never_expires() {
    let mut b = Bench::new(Station::Pick);
    b.dev.session_idle_ms = 0;
    b.quiet("SO-1");
    b.now += 100 * IDLE;
    assert!(tick(&mut b.session, &b.dev, b.now).is_empty());
    let (e, _) = b.one(ITEM_A);
    assert_eq!(e.event_type, PICK_CONFIRMED);
}

// ---------------------------------------------------------------------------------------------
// Persistence

#[test]
fn session_json_round_trip_continues_the_order() {
    let mut b = Bench::new(Station::Pick);
    b.quiet("SO-123");
    b.quiet("A01-02-03");
    b.quiet("TOTE-9");
    b.one(ITEM_A);
    let stored = serde_json::to_string(&b.session).expect("serialize");
    // A restart: a fresh session from the stored JSON.
    let restored: Session = serde_json::from_str(&stored).expect("deserialize");
    assert_eq!(restored, b.session);
    b.session = restored;
    b.one(ITEM_B);
    let (e, _) = b.one(ITEM_C);
    assert_eq!(e.data["location"], "A01-02-03");
    assert_eq!(e.data["tote"], "TOTE-9");
    let (done, _) = b.one("CMD-DONE");
    assert_eq!(done.data["lines"], 3);
}

#[test]
fn session_json_round_trip_keeps_packed_items_loaded_ssccs_and_dock_state() {
    let mut pack = Bench::new(Station::Pack);
    pack.quiet("SO-1");
    pack.quiet(ITEM_A);
    pack.session =
        serde_json::from_value(serde_json::to_value(&pack.session).expect("to")).expect("from");
    let (e, _) = pack.one(SSCC_1);
    assert_eq!(e.data["items"][0]["lot"], "ABC123");

    let mut ship = Bench::new(Station::Ship);
    ship.one(SSCC_1);
    ship.session =
        serde_json::from_str(&serde_json::to_string(&ship.session).expect("to")).expect("from");
    assert!(ship.quiet(SSCC_1).message.contains("already loaded"));

    let mut dock = Bench::new(Station::Dock).with_door("D07");
    dock.dock("open", T0);
    let stored = serde_json::to_string(&dock.session).expect("to");
    dock.session = serde_json::from_str(&stored).expect("from");
    let events = tick(&mut dock.session, &dock.dev, T0 + DEBOUNCE);
    assert_eq!(types(&events), [DOCK_DOOR_OPENED]);
    assert_eq!(events[0].time_ms, Some(T0));
}

#[test]
fn session_json_is_compact_and_tolerant() {
    assert_eq!(
        serde_json::to_string(&Session::default()).expect("to"),
        "{}"
    );
    let s: Session =
        serde_json::from_str(r#"{"order":"SO-1","future_field":[1,2]}"#).expect("from");
    assert_eq!(s.order(), Some("SO-1"));
    let mut b = Bench::new(Station::Pick);
    b.quiet("SO-1");
    b.one(ITEM_A);
    assert_eq!(
        serde_json::to_value(&b.session).expect("to"),
        json!({"order": "SO-1", "lines": 1, "last_input_ms": b.now})
    );
}

// ---------------------------------------------------------------------------------------------
// Shapes

#[test]
fn feedback_serialises_as_designed() {
    let fb = Feedback {
        ok: true,
        event: Some(PICK_CONFIRMED),
        message: "SO-1: line 1 confirmed".into(),
    };
    assert_eq!(
        serde_json::to_value(&fb).expect("to"),
        json!({"ok": true, "event": "pick.confirmed", "message": "SO-1: line 1 confirmed"})
    );
    let mut b = Bench::new(Station::Pick);
    let fb = b.quiet("SO-1");
    assert_eq!(
        serde_json::to_value(&fb).expect("to"),
        json!({"ok": true, "event": null, "message": "SO-1 opened"})
    );
}

#[test]
fn context_from_config() {
    let config: DeviceConfig = toml::from_str(
        "source = \"mqtt\"\ntopic = \"dock/d7\"\nstation = \"dock\"\ndoor = \"D07\"\n\
         debounce = \"3s\"\nsession_idle = \"10m\"\n",
    )
    .expect("config");
    let dev = DeviceContext::from_config("wh-1", "door-07", &config);
    assert_eq!(
        dev,
        DeviceContext {
            site: "wh-1",
            device: "door-07",
            station: Station::Dock,
            door: Some("D07"),
            debounce_ms: 3_000,
            session_idle_ms: 600_000,
        }
    );
}

#[test]
fn every_event_carries_the_device_fields() {
    let mut all = Vec::new();
    for station in [
        Station::Pick,
        Station::Pack,
        Station::Ship,
        Station::Receive,
        Station::Dock,
    ] {
        let mut b = Bench::new(station).with_door("D09");
        for raw in [
            "SO-1", ITEM_A, ITEM_B, SSCC_1, BAD_CHECK, "??", "CMD-DONE", ITEM_A,
        ] {
            all.extend(b.scan(raw).events);
        }
    }
    let mut d = Bench::new(Station::Dock).with_door("D09");
    all.extend(d.dock("open", T0));
    all.extend(tick(&mut d.session, &d.dev, T0 + DEBOUNCE));
    assert!(all.len() > 20);
    for e in &all {
        for key in ["site", "device", "station", "input", "door"] {
            assert!(
                e.data[key].is_string(),
                "{} lacks {key}: {}",
                e.event_type,
                e.data
            );
        }
        assert!(!e.subject.is_empty());
        if e.event_type.ends_with(".exception") || e.event_type == SCAN_UNMATCHED {
            assert!(e.data["reason"].is_string() && e.data["message"].is_string());
        }
    }
}

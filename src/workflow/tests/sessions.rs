//! Idle expiry, the session as JSON, and the shapes of feedback and event data.

use super::*;

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
fn context_from_settings() {
    let settings = DeviceSettings {
        station: Station::Dock,
        door: Some("D07".into()),
        debounce_ms: 3_000,
        session_idle_ms: 600_000,
    };
    let dev = DeviceContext::new("wh-1", "door-07", &settings);
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

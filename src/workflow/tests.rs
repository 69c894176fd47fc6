//! The station workflow, scan by scan, with real GS1 labels decoded by [`decode`].
//!
//! Check digits used: GTIN 09506000134352, 05901234123457, 04006381333931 (EAN-13
//! 4006381333931); SSCCs 009506000134350004, 009506000134350011, 009506000134350028.

use serde_json::json;

use super::*;
use crate::decode::{decode, BarcodeRules};

mod dock;
mod fold;
mod pack_ship_receive;
mod pick;
mod returns_counts;
mod sessions;

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

    /// Folds a dock message as the ledger does; it must be readable.
    #[track_caller]
    fn dock(&mut self, raw: &str, at: i64) -> Vec<Emitted> {
        match self.fold(raw.as_bytes(), at) {
            Fold::Applied(step) => {
                assert_eq!(step.feedback, None);
                step.events
            }
            rejected => panic!("{raw}: {rejected:?}"),
        }
    }

    fn fold(&mut self, bytes: &[u8], at: i64) -> Fold {
        fold(
            &mut self.session,
            &self.dev,
            bytes,
            &BarcodeRules::default(),
            at,
        )
    }
}

fn types(events: &[Emitted]) -> Vec<&'static str> {
    events.iter().map(|e| e.event_type).collect()
}

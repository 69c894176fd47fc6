//! The shift `dockgate demo` plays: which virtual device sends what, in what order, and which
//! events the daemon should make of each input. Pure: [`shift`] only lists the steps; the demo
//! plays them at their times, and the tests below fold them through the real workflow.
//!
//! Orders are picked (order, location, tote, GS1 item labels, `CMD-DONE`) on two pick
//! stations in turn, packed into an SSCC and loaded at door D07, with a dispatch every few
//! orders. Around them: doors opening and closing, a trailer arriving and leaving, a return,
//! a label with a bad check digit (`pick.exception`), an item scanned at packing before its
//! order (`pack.exception`), a smudged barcode nothing matches (`scan.unmatched`), binary
//! noise on a serial line (quarantined, not an event) and the ERP down for a stretch.

use std::time::Duration;

use crate::decode::gs1::mod10;
use crate::model::Station;

/// The demo's site id.
pub const SITE: &str = "wh-demo";

/// How long a dock state must hold to count, in the demo's configuration.
pub const DOCK_DEBOUNCE: Duration = Duration::from_secs(1);

/// Inputs the demo plays per second of shift.
const STEPS_PER_SECOND: f64 = 4.0;
/// Inputs of one order, about: its pick, its packing and its loading.
const STEPS_PER_ORDER: f64 = 13.0;
/// When the ERP goes down and comes back, as fractions of the shift.
const ERP_DOWN_AT: f64 = 0.30;
const ERP_UP_AT: f64 = 0.58;

/// The milestone of the ERP's return.
pub const ERP_BACK: &str = "the ERP is back: its backlog drains, in order per subject";

/// How a device reaches the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A serial line (a pseudo-terminal the demo opens): `source = "serial"`.
    Serial,
    /// `POST /api/v1/ingest/<device>`: `source = "http"`.
    Http,
}

/// One virtual device.
#[derive(Debug, Clone, Copy)]
pub struct DeviceSpec {
    /// Device id.
    pub id: &'static str,
    /// Station role.
    pub station: Station,
    /// Dock door.
    pub door: Option<&'static str>,
    /// How it sends.
    pub via: Via,
}

/// The virtual devices.
pub const DEVICES: [DeviceSpec; 7] = [
    device("pick-01", Station::Pick, None, Via::Serial),
    device("pick-02", Station::Pick, None, Via::Serial),
    device("pack-01", Station::Pack, None, Via::Serial),
    device("ship-07", Station::Ship, Some("D07"), Via::Serial),
    device("returns-01", Station::Return, None, Via::Serial),
    device("door-07", Station::Dock, Some("D07"), Via::Serial),
    // A yard controller that posts its door sensor's changes over HTTP.
    device("door-08", Station::Dock, Some("D08"), Via::Http),
];

const fn device(
    id: &'static str,
    station: Station,
    door: Option<&'static str>,
    via: Via,
) -> DeviceSpec {
    DeviceSpec {
        id,
        station,
        door,
        via,
    }
}

/// What one step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The device sends these bytes (a serial line, without its terminator; an HTTP body).
    Input {
        /// Device id.
        device: &'static str,
        /// What it sends.
        bytes: Vec<u8>,
    },
    /// The ERP stand-in starts answering 503.
    ErpDown,
    /// The ERP stand-in takes events again.
    ErpUp,
}

/// One step of the shift.
#[derive(Debug, Clone)]
pub struct Step {
    /// When, as a fraction of the shift (0 to 1).
    pub at: f64,
    /// What happens.
    pub action: Action,
    /// What it is, for people.
    pub says: String,
    /// The event types the daemon should make of it, in order (a dock change: once it held).
    pub expect: Vec<&'static str>,
    /// Worth a line of its own above the live view.
    pub milestone: bool,
}

impl Step {
    fn input(device: &'static str, bytes: impl Into<Vec<u8>>, says: String) -> Self {
        Step {
            at: 0.0,
            action: Action::Input {
                device,
                bytes: bytes.into(),
            },
            says,
            expect: Vec::new(),
            milestone: false,
        }
    }

    fn scan(device: &'static str, text: &str) -> Self {
        Step::input(device, text, format!("{device} scans {text}"))
    }

    /// A scan of a label, described as `what` (the raw label is long and unreadable).
    fn label(device: &'static str, text: &str, what: String) -> Self {
        Step::input(device, text, format!("{device} scans {what}"))
    }

    fn expect(mut self, event_type: &'static str) -> Self {
        self.expect.push(event_type);
        self
    }

    fn milestone(mut self, says: impl Into<String>) -> Self {
        self.says = says.into();
        self.milestone = true;
        self
    }

    fn erp(up: bool) -> Self {
        let (action, says) = if up {
            (Action::ErpUp, ERP_BACK)
        } else {
            (
                Action::ErpDown,
                "the ERP goes down (503): its events wait in the buffer",
            )
        };
        Step {
            at: 0.0,
            action,
            says: says.into(),
            expect: Vec::new(),
            milestone: true,
        }
    }
}

/// How many orders a shift of `span` holds at the demo's pace (at least 3).
pub fn orders_for(span: Duration) -> usize {
    let steps = span.as_secs_f64() * STEPS_PER_SECOND;
    ((steps / STEPS_PER_ORDER) as usize).max(3)
}

/// A GTIN-14 from its 13-digit body.
fn gtin(body: &str) -> String {
    format!("{body}{}", mod10(body.as_bytes()))
}

/// An 18-digit SSCC: extension 0, the demo's company prefix, serial `n`.
fn sscc(n: usize) -> String {
    let body = format!("0095060001{:07}", n % 10_000_000);
    format!("{body}{}", mod10(body.as_bytes()))
}

/// The item bodies the demo's labels carry.
const CATALOGUE: [&str; 4] = [
    "0950600013435",
    "0590123412345",
    "0400638133393",
    "0871234567890",
];

/// A GS1-128 item label: GTIN (01), expiry (17), lot (10, last: no separator needed).
fn item_label(order: usize, line: usize) -> String {
    let gtin = gtin(CATALOGUE[(order + line) % CATALOGUE.len()]);
    // Expiry 2027-12-31, lot L<order><line>.
    format!("]C101{gtin}1727123110L{order}{line}")
}

/// A scan of [`item_label`] at `device`.
fn item_scan(device: &'static str, order: usize, line: usize) -> Step {
    let gtin = gtin(CATALOGUE[(order + line) % CATALOGUE.len()]);
    Step::label(
        device,
        &item_label(order, line),
        format!("an item: GTIN {gtin}, lot L{order}{line}"),
    )
}

/// A scan of order `order`'s SSCC label at `device`.
fn unit_scan(device: &'static str, order: usize) -> Step {
    let sscc = sscc(order);
    Step::label(device, &format!("]C100{sscc}"), format!("SSCC {sscc}"))
}

/// The same label with its GTIN check digit off by one: unreadable.
fn bad_check_digit(label: &str) -> String {
    let mut bytes = label.as_bytes().to_vec();
    // `]C101` + 13 digits: the 14th digit of the GTIN is the check digit.
    let at = 5 + 13;
    bytes[at] = b'0' + (bytes[at] - b'0' + 1) % 10;
    String::from_utf8_lossy(&bytes).into_owned()
}

/// One order's scans at its pick station; the order `bad` also gets a label with a bad check
/// digit between its items.
fn pick_job(order: usize, bad: bool) -> Vec<Step> {
    let station = if order.is_multiple_of(2) {
        "pick-01"
    } else {
        "pick-02"
    };
    let number = format!("SO-{}", 10_001 + order);
    let mut steps = vec![
        Step::scan(station, &number),
        Step::scan(
            station,
            &format!(
                "A{:02}-{:02}-{:02}",
                1 + order % 12,
                1 + order % 7,
                1 + order % 4
            ),
        ),
        Step::scan(station, &format!("TOTE-{:04}", 100 + order)),
    ];
    for line in 0..lines_of(order) {
        if bad && line == 1 {
            let label = bad_check_digit(&item_label(order, line));
            steps.push(
                Step::label(station, &label, "a label with a bad check digit".into())
                    .expect(crate::workflow::PICK_EXCEPTION)
                    .milestone(format!(
                        "{station}: a label with a bad check digit: pick.exception for {number}"
                    )),
            );
        }
        steps.push(item_scan(station, order, line).expect(crate::workflow::PICK_CONFIRMED));
    }
    steps.push(Step::scan(station, "CMD-DONE").expect(crate::workflow::PICK_COMPLETED));
    steps
}

fn lines_of(order: usize) -> usize {
    2 + order % 3
}

/// One order's packing into an SSCC and its loading at door D07; the order `stray` starts
/// with an item scanned before the order (no order open at packing: `pack.exception`).
fn pack_job(order: usize, stray: bool) -> Vec<Step> {
    let number = format!("SO-{}", 10_001 + order);
    let mut steps = Vec::new();
    if stray {
        steps.push(
            item_scan("pack-01", order, 0)
                .expect(crate::workflow::PACK_EXCEPTION)
                .milestone("pack-01: an item scanned before its order: pack.exception"),
        );
    }
    steps.push(Step::scan("pack-01", &number));
    for line in 0..lines_of(order) {
        steps.push(item_scan("pack-01", order, line));
    }
    steps.push(unit_scan("pack-01", order).expect(crate::workflow::PACK_COMPLETED));
    steps.push(unit_scan("ship-07", order).expect(crate::workflow::SHIPMENT_LOADED));
    steps
}

fn dispatch() -> Step {
    Step::scan("ship-07", "CMD-DONE")
        .expect(crate::workflow::SHIPMENT_DISPATCHED)
        .milestone("ship-07: the loaded SSCCs leave door D07: shipment.dispatched")
}

fn dock(device: &'static str, message: &str, event_type: &'static str) -> Step {
    Step::input(device, message, format!("{device} reports {message}")).expect(event_type)
}

/// The steps of a shift of `orders` orders, each with its time as a fraction of the shift.
pub fn shift(orders: usize) -> Vec<Step> {
    use crate::workflow::{
        DOCK_DOOR_CLOSED, DOCK_DOOR_OPENED, DOCK_TRAILER_ARRIVED, DOCK_TRAILER_DEPARTED,
        RETURN_COMPLETED, RETURN_RECEIVED, SCAN_UNMATCHED,
    };
    let orders = orders.max(3);
    let bad = orders / 4 + 1;
    let stray = orders / 2;
    let mut main = Vec::new();
    let mut packing: Vec<Step> = Vec::new();
    for order in 0..orders {
        // Packing of the order before runs beside this one's pick, scan by scan.
        let picking = pick_job(order, order == bad);
        let mut pack = std::mem::take(&mut packing).into_iter();
        for step in picking {
            main.push(step);
            main.extend(pack.next());
        }
        main.extend(pack);
        packing = pack_job(order, order == stray);
        if order % 3 == 2 {
            main.push(dispatch());
        }
    }
    // The last order's SSCC is loaded after the last dispatch: one more sends it.
    main.extend(packing);
    main.push(dispatch());

    let specials = vec![
        (
            0.0,
            vec![
                dock("door-07", "open", DOCK_DOOR_OPENED)
                    .milestone("door-07: door D07 opens (a sensor on a serial line)"),
                dock("door-07", "present", DOCK_TRAILER_ARRIVED)
                    .milestone("door-07: a trailer arrives at D07"),
                dock("door-08", r#"{"door":"open"}"#, DOCK_DOOR_OPENED)
                    .milestone("door-08: door D08 opens (posted over HTTP)"),
            ],
        ),
        (
            0.2,
            vec![
                Step::input("pick-02", &b"\x00\x1b\xff\xfe smudge"[..], String::new())
                    .milestone("pick-02: binary noise on the line: quarantined, not an event"),
            ],
        ),
        (ERP_DOWN_AT, vec![Step::erp(false)]),
        (
            0.40,
            vec![Step::scan("ship-07", "%%SMUDGED%%")
                .expect(SCAN_UNMATCHED)
                .milestone("ship-07: a smudged barcode nothing matches: scan.unmatched")],
        ),
        (
            0.48,
            vec![
                Step::scan("returns-01", "RMA-5001")
                    .milestone("returns-01: return RMA-5001, one item resellable, one damaged"),
                item_scan("returns-01", 7, 0).expect(RETURN_RECEIVED),
                Step::scan("returns-01", "COND-DAMAGED"),
                item_scan("returns-01", 7, 1).expect(RETURN_RECEIVED),
                Step::scan("returns-01", "CMD-DONE").expect(RETURN_COMPLETED),
            ],
        ),
        (
            0.52,
            vec![dock("door-08", r#"{"door":"closed"}"#, DOCK_DOOR_CLOSED)
                .milestone("door-08: door D08 closes")],
        ),
        (ERP_UP_AT, vec![Step::erp(true)]),
        (
            1.0,
            vec![
                dock("door-07", "closed", DOCK_DOOR_CLOSED).milestone("door-07: door D07 closes"),
                dock("door-07", "absent", DOCK_TRAILER_DEPARTED)
                    .milestone("door-07: the trailer leaves D07"),
            ],
        ),
    ];

    // The specials go in at their fractions of the main sequence, in order.
    let len = main.len() as f64;
    let mut steps = Vec::new();
    let mut main = main.into_iter().enumerate().peekable();
    for (at, group) in specials {
        while main.peek().is_some_and(|(i, _)| (*i as f64) < at * len) {
            steps.extend(main.next().map(|(_, s)| s));
        }
        steps.extend(group);
    }
    steps.extend(main.map(|(_, s)| s));
    let last = (steps.len().max(2) - 1) as f64;
    for (i, step) in steps.iter_mut().enumerate() {
        step.at = i as f64 / last;
    }
    steps
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use super::*;
    use crate::decode::BarcodeRules;
    use crate::workflow::{fold, tick, DeviceContext, Fold, Session};

    /// Plays `steps` through the real workflow over `span`, and checks every step makes what
    /// it expects: the demo's tally counts on it.
    fn play(steps: &[Step], span: Duration) {
        let t0 = 1_790_000_000_000_i64;
        let span_ms = span.as_millis() as i64;
        let mut sessions: HashMap<&str, Session> = HashMap::new();
        let context = |id: &str| {
            let spec = DEVICES.iter().find(|d| d.id == id).expect("a demo device");
            DeviceContext {
                site: SITE,
                device: spec.id,
                station: spec.station,
                door: spec.door,
                debounce_ms: DOCK_DEBOUNCE.as_millis() as i64,
                session_idle_ms: 30 * 60 * 1000,
            }
        };
        let mut made: BTreeMap<&str, usize> = BTreeMap::new();
        let mut expected: BTreeMap<&str, usize> = BTreeMap::new();
        let mut rejected = 0;
        let rules = BarcodeRules::default();
        for step in steps {
            for t in &step.expect {
                *expected.entry(t).or_default() += 1;
            }
            let Action::Input { device, bytes } = &step.action else {
                continue;
            };
            let dev = context(device);
            let now = t0 + (step.at * span_ms as f64) as i64;
            let session = sessions.entry(device).or_default();
            match fold(session, &dev, bytes, &rules, now) {
                Fold::Applied(out) => {
                    let types: Vec<_> = out.events.iter().map(|e| e.event_type).collect();
                    if dev.station != Station::Dock {
                        assert_eq!(types, step.expect, "{}", step.says);
                    }
                    for t in types {
                        *made.entry(t).or_default() += 1;
                    }
                }
                Fold::Rejected { .. } => {
                    assert!(step.expect.is_empty(), "{}", step.says);
                    rejected += 1;
                }
            }
        }
        // The last dock changes settle after the shift.
        for (id, session) in &mut sessions {
            for e in tick(session, &context(id), t0 + span_ms + 10_000) {
                *made.entry(e.event_type).or_default() += 1;
            }
        }
        assert_eq!(made, expected);
        assert_eq!(rejected, 1, "the binary noise, only");
    }

    #[test]
    fn every_step_makes_what_the_demo_expects() {
        for secs in [10, 15, 75, 600] {
            let span = Duration::from_secs(secs);
            let steps = shift(orders_for(span));
            play(&steps, span);
        }
    }

    #[test]
    fn a_shift_has_the_outage_the_specials_and_steady_times() {
        let steps = shift(orders_for(Duration::from_secs(60)));
        let down = steps.iter().position(|s| s.action == Action::ErpDown);
        let up = steps.iter().position(|s| s.action == Action::ErpUp);
        assert!(matches!((down, up), (Some(d), Some(u)) if d < u));
        assert!(steps.windows(2).all(|w| w[0].at < w[1].at));
        assert_eq!(steps.first().map(|s| s.at), Some(0.0));
        assert_eq!(steps.last().map(|s| s.at), Some(1.0));
        let types: Vec<_> = steps.iter().flat_map(|s| s.expect.iter()).collect();
        for t in [
            "pick.exception",
            "pack.exception",
            "scan.unmatched",
            "return.completed",
            "shipment.dispatched",
            "dock.trailer.departed",
        ] {
            assert!(types.iter().any(|x| **x == t), "{t}");
        }
        // About four inputs a second.
        assert!((200..=280).contains(&steps.len()), "{}", steps.len());
    }
}

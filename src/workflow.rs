//! Station workflow: decoded scans and dock sensor messages in, business events out
//! (DESIGN §2, §3).
//!
//! Pure code: input + session state + device settings in, events + new state out. No I/O, no
//! clock (time is a parameter), no async, and nothing of the configuration, the ledger or the
//! devices: [`DeviceSettings`] is all it knows of a device. The ledger calls it inside its
//! transaction, so the events it returns and the [`Session`] changes it makes commit together;
//! between inputs the ledger keeps each device's [`Session`] (serde JSON), so an open order
//! survives a restart.
//!
//! # Entry points
//!
//! - [`fold`]: the bytes a device sent, read (text, scan object or dock message), decoded and
//!   applied; or refused for quarantine ([`Fold::Rejected`]: not UTF-8, control bytes, empty,
//!   a JSON scan object or dock message that cannot be read);
//! - [`apply_scan`]: one decoded scan ([`Reading`]) from a pick, pack, ship, receive, return or
//!   count station;
//! - [`apply_dock`]: one parsed dock sensor message ([`parse_dock`]);
//! - [`tick`]: time passes; emits debounced dock changes that are due and closes idle sessions.
//!   [`Session::next_deadline`] says when the next tick can change anything.
//!
//! Every scan gets a [`Feedback`] for the operator; dock sensor messages get none (a sensor
//! has no display), except one sent to a scanning station by mistake.
//!
//! # Events
//!
//! Every event's `data` carries `site`, `device`, `station` and `input` (the raw text), plus
//! `door` when the device has one and the session's `order`, `location` and `tote` where known.
//! Events made from a GS1, Digital Link or EAN/UPC label also carry the label's fields by name:
//! `gtin`, `sscc`, `lot`, `serial`, `expiry` (`YYYY-MM-DD`) and `quantity` (a JSON integer: the
//! label's count, AI 30 or 37, else 1; present whenever there is a GTIN or a count, as in
//! `dockgate scan parse`).
//!
//! | station | input | event (subject) | session |
//! |---|---|---|---|
//! | all scanning | location, tote | none | remembered |
//! | pick, pack, ship, receive | order | none | opens; a different open order is closed first (no event); the same order again changes nothing |
//! | pick | item (a GTIN, no SSCC) | `pick.confirmed` (order) with `line` | counts lines |
//! | pick | item or done, no order open | `pick.exception` `no_open_order` (device) | |
//! | pick | done | `pick.completed` (order) with `lines` = items confirmed | closes |
//! | pack | item | none | item fields appended to `items` |
//! | pack | SSCC | `pack.completed` (order) with `order`, `sscc`, `items` | closes |
//! | pack | item or SSCC, no order open | `pack.exception` `no_open_order` (device) | |
//! | pack | done | none: negative feedback, completion needs the SSCC label | |
//! | ship | SSCC | `shipment.loaded` (SSCC) with `door`, `sscc` | SSCC remembered |
//! | ship | done | `shipment.dispatched` (door, else device) with `ssccs` | list emptied, closes |
//! | ship | done, nothing loaded | none: negative feedback | |
//! | receive | SSCC or item | `receipt.confirmed` (SSCC, else device) | |
//! | receive | done | none | closes |
//! | return | RMA | none | opens a return; a different open one is closed first (no event) |
//! | return | condition code | none | applies to the items scanned next (default `resellable`) |
//! | return | item | `return.received` (RMA) with `rma`, `condition` | counted by condition |
//! | return | item or done, no return open | `return.exception` `no_open_return` (device) | |
//! | return | done | `return.completed` (RMA) with `lines`, `by_condition` | closes |
//! | count | location | none | opens a count of it; another location with lines tallied is refused |
//! | count | item | none | tallied by GTIN + lot (the label's count, else 1) |
//! | count | item or done, no count open | `inventory.exception` `no_open_count` (device) | |
//! | count | done | `inventory.counted` (location) with `items` [{gtin, lot, quantity}], `lines` | closes |
//! | all scanning | cancel | none | closes (count: discards the tally) |
//! | dock | door/trailer message | `dock.door.opened` … (door, else device), debounced | state kept |
//!
//! # Choices where DESIGN is silent
//!
//! - **Closing** a session forgets the order, its line count and packed items, and the
//!   remembered location and tote (they belong to the order just closed). A location or tote
//!   scanned while no order is open is kept for the next order.
//! - **Exceptions.** Stations with an exception type (`pick.exception`, `pack.exception`,
//!   `return.exception`, `inventory.exception`) report a malformed barcode with it; ship and
//!   receive stations have none, so it is a `scan.unmatched` there. Both carry `reason`
//!   (`invalid_barcode`, `check_digit`) and a human `message`. Note that `scan.unmatched` is
//!   telemetry (lower priority, droppable when the buffer is full). Exception subjects are the
//!   session's key (the open order or return, the location being counted), else the device.
//! - **`scan.unmatched`** (subject: the device) with a `reason`:
//!   `unknown_barcode` (nothing matched), `unexpected_barcode` (a good barcode that means nothing
//!   at this station: an SSCC at pick, an item at ship, a GS1 label with neither GTIN nor SSCC,
//!   an RMA or condition code outside a return station, an order at a return or count station),
//!   `wrong_station` (a scan at a dock station, a dock message at a scanning
//!   station).
//! - **An unreadable dock payload** (one [`parse_dock`] refuses) is not an event: [`fold`]
//!   refuses it as `invalid_dock_message`, and the ledger quarantines it with its raw bytes
//!   (`dockgate events --state rejected`), as it does every input it cannot read.
//! - **Ship**: an SSCC already loaded since the last done is not loaded twice (no second
//!   `shipment.loaded`, positive feedback). Cancel, a new order and idle expiry close the order
//!   context but keep the loaded list: those `shipment.loaded` events are already out, and only
//!   done (`shipment.dispatched`) empties it. Done with nothing loaded emits nothing and tells the
//!   operator so.
//! - **Returns**: `lines` counts the items received, `by_condition` the same items by
//!   condition (`{"resellable": 2, "damaged": 1}`); a condition code needs an open return and
//!   lasts until the return closes. A condition is the code's last word in lower case.
//! - **Counts**: a line is one GTIN and lot; `lines` is the number of lines in `items` (an
//!   empty location counted is `inventory.counted` with no items). A location scanned while a
//!   count with lines is open is refused, so a stray scan never throws a count away.
//! - **Idle expiry** ([`DeviceContext::session_idle_ms`]): a session with no scan for at least
//!   that long is closed, lazily at the next scan and by [`tick`], **without an event** (an
//!   open count's tally is discarded). The
//!   next scan sees no open order and its feedback names the order that was closed. A
//!   non-positive idle time never expires. The ship loaded list does not expire.
//! - **Dock debounce**: door and trailer are tracked apart. A new state is emitted once it has
//!   held for [`DeviceContext::debounce_ms`] with no contrary message, by [`apply_dock`] when a
//!   later message arrives or by [`tick`]; flapping back to the settled state within the hold
//!   time emits nothing. The first state ever reported is emitted too (once, after its hold), so
//!   the ERP learns the initial state. A debounced event's `input` is the message that started
//!   the state and [`Emitted::time_ms`] is when that message arrived.

mod count;
mod dock;
mod fold;
mod input;
mod pack;
mod pick;
mod receive;
mod returns;
mod session;
mod ship;

use serde::Serialize;
use serde_json::Value;

use crate::decode::{Reading, Reason};
use crate::model::Station;
pub use dock::{parse_dock, DockSignal, DoorState, TrailerState};
pub use fold::{fold, Fold};
use input::{
    base_data, cancel, describe_item, insert_fields, item_fields, open_order, plural, remember,
    Input, Scan,
};
pub use session::Session;

/// `pick.confirmed`: one item picked for the open order.
pub const PICK_CONFIRMED: &str = "pick.confirmed";
/// `pick.completed`: the picker finished the order (`lines`).
pub const PICK_COMPLETED: &str = "pick.completed";
/// `pick.exception`: a pick scan that could not be used.
pub const PICK_EXCEPTION: &str = "pick.exception";
/// `pack.completed`: an order packed into a logistic unit (SSCC).
pub const PACK_COMPLETED: &str = "pack.completed";
/// `pack.exception`: a pack scan that could not be used.
pub const PACK_EXCEPTION: &str = "pack.exception";
/// `shipment.loaded`: a logistic unit loaded at a door.
pub const SHIPMENT_LOADED: &str = "shipment.loaded";
/// `shipment.dispatched`: the loaded units left (`ssccs`).
pub const SHIPMENT_DISPATCHED: &str = "shipment.dispatched";
/// `receipt.confirmed`: goods received.
pub const RECEIPT_CONFIRMED: &str = "receipt.confirmed";
/// `return.received`: one returned item, with its `condition`.
pub const RETURN_RECEIVED: &str = "return.received";
/// `return.completed`: a return finished (`lines`, `by_condition`).
pub const RETURN_COMPLETED: &str = "return.completed";
/// `return.exception`: a return scan that could not be used.
pub const RETURN_EXCEPTION: &str = "return.exception";
/// `inventory.counted`: a location counted (`items`, `lines`).
pub const INVENTORY_COUNTED: &str = "inventory.counted";
/// `inventory.exception`: a count scan that could not be used.
pub const INVENTORY_EXCEPTION: &str = "inventory.exception";
/// `dock.door.opened`.
pub const DOCK_DOOR_OPENED: &str = "dock.door.opened";
/// `dock.door.closed`.
pub const DOCK_DOOR_CLOSED: &str = "dock.door.closed";
/// `dock.trailer.arrived`.
pub const DOCK_TRAILER_ARRIVED: &str = "dock.trailer.arrived";
/// `dock.trailer.departed`.
pub const DOCK_TRAILER_DEPARTED: &str = "dock.trailer.departed";
/// `scan.unmatched`: an input no station rule could use.
pub const SCAN_UNMATCHED: &str = "scan.unmatched";

/// Everything the workflow needs to know about the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceContext<'a> {
    /// Site id (`data.site`).
    pub site: &'a str,
    /// Device id (`data.device`, and the subject where there is no business key).
    pub device: &'a str,
    /// The device's station role.
    pub station: Station,
    /// The dock door the device belongs to (`data.door`, the subject of dock and dispatch
    /// events).
    pub door: Option<&'a str>,
    /// Dock: how long a new state must hold before it counts; 0 or less: at once.
    pub debounce_ms: i64,
    /// How long an open session may go without a scan before it is closed; 0 or less: never.
    pub session_idle_ms: i64,
}

/// What the workflow knows of one device: its settings, whoever configured them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSettings {
    /// Station role.
    pub station: Station,
    /// Dock door the device belongs to.
    pub door: Option<String>,
    /// Dock: how long a new state must hold before it counts, ms; 0 or less: at once.
    pub debounce_ms: i64,
    /// How long an open session may go without a scan before it is closed, ms; 0 or less:
    /// never.
    pub session_idle_ms: i64,
}

impl<'a> DeviceContext<'a> {
    /// The context of device `device` of site `site`.
    pub fn new(site: &'a str, device: &'a str, settings: &'a DeviceSettings) -> Self {
        DeviceContext {
            site,
            device,
            station: settings.station,
            door: settings.door.as_deref(),
            debounce_ms: settings.debounce_ms,
            session_idle_ms: settings.session_idle_ms,
        }
    }
}

/// One event to commit.
#[derive(Debug, Clone, PartialEq)]
pub struct Emitted {
    /// CloudEvents `type`, one of the constants of this module.
    pub event_type: &'static str,
    /// CloudEvents `subject`: order number, SSCC or door; the device id where there is none.
    pub subject: String,
    /// The event body (a JSON object).
    pub data: Value,
    /// When the fact happened, if not when the current input arrived (ms since the epoch): a
    /// debounced dock change carries the arrival of the message that started the new state.
    /// `None`: the arrival time of the input being applied.
    pub time_ms: Option<i64>,
}

/// What the operator sees, published on the device's feedback topic as
/// `{"ok":bool,"event":type|null,"message":text}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Feedback {
    /// The scan was accepted.
    pub ok: bool,
    /// The event it produced, if any.
    pub event: Option<&'static str>,
    /// A short text for the operator.
    pub message: String,
}

/// The outcome of one input.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Step {
    /// Events to commit, in order.
    pub events: Vec<Emitted>,
    /// Feedback for the operator; `None` for dock sensors.
    pub feedback: Option<Feedback>,
}

impl Step {
    /// Accepted, no event.
    fn ok(message: impl Into<String>) -> Self {
        Step {
            events: Vec::new(),
            feedback: Some(Feedback {
                ok: true,
                event: None,
                message: message.into(),
            }),
        }
    }

    /// Refused, no event.
    fn refused(message: impl Into<String>) -> Self {
        Step {
            events: Vec::new(),
            feedback: Some(Feedback {
                ok: false,
                event: None,
                message: message.into(),
            }),
        }
    }

    /// One event; the feedback names it.
    fn event(ok: bool, event: Emitted, message: impl Into<String>) -> Self {
        Step {
            feedback: Some(Feedback {
                ok,
                event: Some(event.event_type),
                message: message.into(),
            }),
            events: vec![event],
        }
    }
}

/// Applies one decoded scan. `raw` is the input text as received (it goes to `data.input`);
/// `reading` is its decoding; `now_ms` is when it arrived.
pub fn apply_scan(
    session: &mut Session,
    dev: &DeviceContext,
    raw: &str,
    reading: &Reading,
    now_ms: i64,
) -> Step {
    session.expire_idle(dev, now_ms);
    session.last_input_ms = Some(now_ms);
    let cx = Input {
        dev,
        raw,
        idle_closed: session.idle_closed.take(),
    };
    if dev.station == Station::Dock {
        return cx.unmatched(
            session,
            Some(reading),
            "wrong_station",
            "a scan at a dock sensor station",
            "Scans are not used at a dock station",
        );
    }
    let scan = Scan::of(reading);
    let scan = match scan {
        Scan::Malformed { reason, message } => {
            let feedback = format!("Bad barcode: {message}");
            return match exception_type(dev.station) {
                Some(event_type) => {
                    let event = cx.exception(
                        session,
                        event_type,
                        reason.as_str(),
                        &message,
                        Some(reading),
                    );
                    Step::event(false, event, feedback)
                }
                None => cx.unmatched(session, Some(reading), reason.as_str(), &message, &feedback),
            };
        }
        Scan::Rma(_) if dev.station != Station::Return => {
            return cx.unexpected(session, reading, "an RMA number");
        }
        Scan::Condition(_) if dev.station != Station::Return => {
            return cx.unexpected(session, reading, "a condition code");
        }
        Scan::Unknown { message } => {
            return cx.unmatched(
                session,
                Some(reading),
                Reason::UnknownBarcode.as_str(),
                &message,
                "Unknown barcode",
            );
        }
        Scan::NoKey => {
            return cx.unexpected(session, reading, "a GS1 barcode without a GTIN or SSCC");
        }
        scan => scan,
    };
    match dev.station {
        Station::Pick => pick::apply(session, &cx, reading, scan),
        Station::Pack => pack::apply(session, &cx, reading, scan),
        Station::Ship => ship::apply(session, &cx, reading, scan),
        Station::Receive => receive::apply(session, &cx, reading, scan),
        Station::Return => returns::apply(session, &cx, reading, scan),
        Station::Count => count::apply(session, &cx, reading, scan),
        // Handled above; kept for exhaustiveness.
        Station::Dock => Step::default(),
    }
}

/// The exception type of a station, for a malformed barcode scanned there; `None`: the
/// station has none, and it is a `scan.unmatched`.
fn exception_type(station: Station) -> Option<&'static str> {
    match station {
        Station::Pick => Some(PICK_EXCEPTION),
        Station::Pack => Some(PACK_EXCEPTION),
        Station::Return => Some(RETURN_EXCEPTION),
        Station::Count => Some(INVENTORY_EXCEPTION),
        Station::Ship | Station::Receive | Station::Dock => None,
    }
}

/// Applies one dock sensor message. `raw` is the message as received (it goes to
/// `data.input`); `now_ms` is when it arrived. At a dock station the feedback is `None`; at a
/// scanning station the message is a `scan.unmatched` with reason `wrong_station`.
pub fn apply_dock(
    session: &mut Session,
    dev: &DeviceContext,
    raw: &str,
    signal: DockSignal,
    now_ms: i64,
) -> Step {
    if dev.station != Station::Dock {
        return dock_at_scanning_station(session, dev, raw);
    }
    let mut events = Vec::new();
    dock::settle(session, dev, now_ms, &mut events);
    match signal {
        DockSignal::Door(state) => session.door.observe(state, now_ms, raw),
        DockSignal::Trailer(state) => session.trailer.observe(state, now_ms, raw),
    }
    // With no debounce the new state is due at once.
    dock::settle(session, dev, now_ms, &mut events);
    Step {
        events,
        feedback: None,
    }
}

/// A dock message sent to a scanning station: `scan.unmatched` `wrong_station`.
fn dock_at_scanning_station(session: &Session, dev: &DeviceContext, raw: &str) -> Step {
    let cx = Input {
        dev,
        raw,
        idle_closed: None,
    };
    cx.unmatched(
        session,
        None,
        "wrong_station",
        "a dock sensor message at a scanning station",
        "Dock messages are not used at this station",
    )
}

/// Time passes: returns the debounced dock changes whose hold time has run out by `now_ms`,
/// and closes a session idle for at least `session_idle_ms`. Closing an idle session emits
/// **no event**; the next scan sees no open order (and its feedback says which order was
/// closed).
pub fn tick(session: &mut Session, dev: &DeviceContext, now_ms: i64) -> Vec<Emitted> {
    session.expire_idle(dev, now_ms);
    let mut events = Vec::new();
    dock::settle(session, dev, now_ms, &mut events);
    events
}

#[cfg(test)]
mod tests;

//! What every station shares: the meaning of a scan ([`Scan`]), the data every event
//! carries ([`Input`]), and the order, location, tote and cancel scans.

use serde_json::{Map, Value};

use super::{DeviceContext, Emitted, Session, Step, SCAN_UNMATCHED};
use crate::decode::{Kind, Reading, Reason};
use crate::model::Station;

/// What a scan means, independent of the station.
pub(super) enum Scan<'r> {
    Order(&'r str),
    Location(&'r str),
    Tote(&'r str),
    Rma(&'r str),
    /// A condition code, as the condition it names (`damaged`).
    Condition(String),
    Done,
    Cancel,
    /// A good label with a GTIN and no SSCC.
    Item,
    /// A good label with an SSCC (AI 00), maybe with content (02 + 37).
    Sscc(&'r str),
    /// A GS1, Digital Link or EAN/UPC barcode with problems.
    Malformed {
        reason: Reason,
        message: String,
    },
    /// Nothing matched.
    Unknown {
        message: String,
    },
    /// A good GS1 label with neither GTIN nor SSCC.
    NoKey,
}

impl<'r> Scan<'r> {
    pub(super) fn of(reading: &'r Reading) -> Self {
        let message = || {
            let texts: Vec<String> = reading.errors().iter().map(ToString::to_string).collect();
            texts.join("; ")
        };
        if reading.kind() != Kind::Unknown && !reading.is_ok() {
            return Scan::Malformed {
                reason: reading.reason().unwrap_or(Reason::InvalidBarcode),
                message: message(),
            };
        }
        match reading.kind() {
            Kind::Order => reading.order().map_or(Scan::NoKey, Scan::Order),
            Kind::Location => reading.location().map_or(Scan::NoKey, Scan::Location),
            Kind::Tote => reading.tote().map_or(Scan::NoKey, Scan::Tote),
            Kind::Rma => reading.rma().map_or(Scan::NoKey, Scan::Rma),
            Kind::Condition => reading.condition().map_or(Scan::NoKey, Scan::Condition),
            Kind::Done => Scan::Done,
            Kind::Cancel => Scan::Cancel,
            Kind::Gs1 | Kind::DigitalLink | Kind::Ean => match (reading.sscc(), reading.gtin()) {
                (Some(sscc), _) => Scan::Sscc(sscc),
                (None, Some(_)) => Scan::Item,
                (None, None) => Scan::NoKey,
            },
            Kind::Unknown => Scan::Unknown { message: message() },
        }
    }
}

/// The input being applied, with what every event of it carries.
pub(super) struct Input<'a> {
    pub(super) dev: &'a DeviceContext<'a>,
    pub(super) raw: &'a str,
    /// The order idle expiry closed just before this input, for the feedback.
    pub(super) idle_closed: Option<String>,
}

impl Input<'_> {
    /// `site`, `device`, `station`, `input`, `door`, and the session's `order`, `rma`,
    /// `location`, `tote`.
    pub(super) fn data(&self, session: &Session) -> Map<String, Value> {
        let mut data = base_data(self.dev, self.raw);
        for (key, value) in [
            ("order", &session.order),
            ("rma", &session.rma),
            ("location", &session.location),
            ("tote", &session.tote),
        ] {
            if let Some(v) = value {
                data.insert(key.into(), Value::from(v.as_str()));
            }
        }
        data
    }

    /// The device id, the subject where there is no business key.
    pub(super) fn device_subject(&self) -> String {
        self.dev.device.to_owned()
    }

    /// The session's business key: the open order or return, the location being counted;
    /// else the device.
    pub(super) fn session_subject(&self, session: &Session) -> String {
        let counting = (self.dev.station == Station::Count)
            .then(|| session.location.clone())
            .flatten();
        session
            .order
            .clone()
            .or_else(|| session.rma.clone())
            .or(counting)
            .unwrap_or_else(|| self.device_subject())
    }

    /// The operator's hint when a scan needs an open `what` (`order`, `return`), which
    /// `first` (`an order`, `an RMA`) opens.
    pub(super) fn nothing_open_message(&self, what: &str, first: &str) -> String {
        match &self.idle_closed {
            Some(open) => {
                format!("No open {what} ({open} was closed when idle): scan {first} first")
            }
            None => format!("No open {what}: scan {first} first"),
        }
    }

    /// The operator's hint when a scan needs an order.
    pub(super) fn no_order_message(&self) -> String {
        self.nothing_open_message("order", "an order")
    }

    /// An exception event (`reason`, `message`, the label's identifying fields).
    pub(super) fn exception(
        &self,
        session: &Session,
        event_type: &'static str,
        reason: &str,
        message: &str,
        reading: Option<&Reading>,
    ) -> Emitted {
        let mut data = self.data(session);
        if let Some(r) = reading {
            // A label with problems: its good fields, but no quantity defaulted to 1.
            insert_fields(&mut data, r, r.is_ok());
        }
        data.insert("reason".into(), reason.into());
        data.insert("message".into(), message.into());
        Emitted {
            event_type,
            subject: self.session_subject(session),
            data: Value::Object(data),
            time_ms: None,
        }
    }

    /// `pick.exception` / `pack.exception` `no_open_order` for an item, SSCC or done.
    pub(super) fn no_open_order(
        &self,
        session: &Session,
        event_type: &'static str,
        reading: Option<&Reading>,
    ) -> Step {
        self.nothing_open(
            session,
            event_type,
            ("no_open_order", "no open order: scan an order first"),
            self.no_order_message(),
            reading,
        )
    }

    /// An exception for a scan that needs something open: `reason` and `message` go to the
    /// event, `feedback` to the operator.
    pub(super) fn nothing_open(
        &self,
        session: &Session,
        event_type: &'static str,
        (reason, message): (&str, &str),
        feedback: String,
        reading: Option<&Reading>,
    ) -> Step {
        let event = self.exception(session, event_type, reason, message, reading);
        Step::event(false, event, feedback)
    }

    /// A `scan.unmatched` (subject: the device) with a reason; negative feedback.
    pub(super) fn unmatched(
        &self,
        session: &Session,
        reading: Option<&Reading>,
        reason: &str,
        message: &str,
        feedback: &str,
    ) -> Step {
        let mut event = self.exception(session, SCAN_UNMATCHED, reason, message, reading);
        event.subject = self.device_subject();
        if let (Some(r), Value::Object(data)) = (reading, &mut event.data) {
            data.insert("kind".into(), r.kind().as_str().into());
        }
        Step::event(false, event, feedback)
    }

    /// A good barcode that means nothing at this station.
    pub(super) fn unexpected(&self, session: &Session, reading: &Reading, what: &str) -> Step {
        let station = self.dev.station.as_str();
        self.unmatched(
            session,
            Some(reading),
            "unexpected_barcode",
            &format!("{what} is not used at a {station} station"),
            &format!("Not used here: {what}"),
        )
    }
}

/// `site`, `device`, `station`, `input`, and `door` when the device has one.
pub(super) fn base_data(dev: &DeviceContext, raw: &str) -> Map<String, Value> {
    let mut data = Map::new();
    data.insert("site".into(), dev.site.into());
    data.insert("device".into(), dev.device.into());
    data.insert("station".into(), dev.station.as_str().into());
    data.insert("input".into(), raw.into());
    if let Some(door) = dev.door {
        data.insert("door".into(), door.into());
    }
    data
}

/// The label's named fields (DESIGN §2): `gtin`, `sscc`, `lot`, `serial`, `expiry`, and, when
/// `with_quantity`, `quantity` whenever there is a GTIN or a count (1 when the label has none).
pub(super) fn insert_fields(data: &mut Map<String, Value>, reading: &Reading, with_quantity: bool) {
    for (key, value) in [
        ("gtin", reading.gtin()),
        ("sscc", reading.sscc()),
        ("lot", reading.lot()),
        ("serial", reading.serial()),
    ] {
        if let Some(v) = value {
            data.insert(key.into(), v.into());
        }
    }
    if let Some(expiry) = reading.expiry() {
        data.insert("expiry".into(), expiry.to_string().into());
    }
    if with_quantity && (reading.gtin().is_some() || reading.count().is_some()) {
        data.insert("quantity".into(), reading.quantity().into());
    }
}

/// The label's fields alone, as one packed item.
pub(super) fn item_fields(reading: &Reading) -> Map<String, Value> {
    let mut item = Map::new();
    insert_fields(&mut item, reading, true);
    item
}

/// A short description of an item for feedback: `09506000134352 x2`.
pub(super) fn describe_item(reading: &Reading) -> String {
    let gtin = reading.gtin().unwrap_or("item");
    match reading.quantity() {
        1 => gtin.to_owned(),
        n => format!("{gtin} x{n}"),
    }
}

/// An order scan: opens `order`, closing a different open one first (no event); the same
/// order again keeps the session as it is.
pub(super) fn open_order(session: &mut Session, order: &str) -> Step {
    match session.order.as_deref() {
        Some(open) if open == order => Step::ok(format!("{order} already open")),
        Some(open) => {
            let left = match (session.lines, session.items.len()) {
                (0, 0) => String::new(),
                (lines, 0) => format!(" with {}", plural(lines, "line")),
                (_, items) => format!(" with {} not packed", plural(items as u64, "item")),
            };
            let message = format!("{order} opened; {open} closed{left}");
            session.close();
            session.order = Some(order.to_owned());
            Step::ok(message)
        }
        None => {
            session.order = Some(order.to_owned());
            Step::ok(format!("{order} opened"))
        }
    }
}

/// A location or tote scan: remembered for the events that follow.
pub(super) fn remember(session: &mut Session, scan: &Scan) -> Step {
    let prefix = session
        .order
        .as_deref()
        .map(|o| format!("{o}: "))
        .unwrap_or_default();
    match scan {
        Scan::Location(l) => {
            session.location = Some((*l).to_owned());
            Step::ok(format!("{prefix}location {l}"))
        }
        Scan::Tote(t) => {
            session.tote = Some((*t).to_owned());
            Step::ok(format!("{prefix}tote {t}"))
        }
        _ => Step::default(),
    }
}

/// A cancel scan: closes the session, no event.
pub(super) fn cancel(session: &mut Session) -> Step {
    let message = match &session.order {
        Some(order) => format!("{order} cancelled"),
        None => "Session cleared".to_owned(),
    };
    session.close();
    Step::ok(message)
}

/// `1 line`, `3 lines`.
pub(super) fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

//! Count station (cycle counts): location → opens a count of that location; items are tallied
//! by GTIN and lot; done → `inventory.counted` (`location`, `items`, `lines`); cancel discards.

use serde_json::{json, Value};

use super::session::Tally;
use super::{
    describe_item, plural, remember, Emitted, Input, Scan, Session, Step, INVENTORY_COUNTED,
    INVENTORY_EXCEPTION,
};
use crate::decode::Reading;

pub(super) fn apply(session: &mut Session, cx: &Input, reading: &Reading, scan: Scan) -> Step {
    match scan {
        Scan::Location(location) => open_count(session, location),
        Scan::Tote(_) => remember(session, &scan),
        Scan::Item => tally(session, cx, reading),
        Scan::Done => complete(session, cx),
        Scan::Cancel => discard(session),
        Scan::Order(_) => cx.unexpected(session, reading, "an order number"),
        Scan::Rma(_) => cx.unexpected(session, reading, "an RMA number"),
        Scan::Condition(_) => cx.unexpected(session, reading, "a condition code"),
        Scan::Sscc(_) => cx.unexpected(session, reading, "an SSCC label"),
        // Answered by `apply_scan` before it gets here.
        Scan::Malformed { .. } | Scan::Unknown { .. } | Scan::NoKey => Step::default(),
    }
}

/// A location: opens its count. Another location while items are tallied is refused (done or
/// cancel first), so a count is never thrown away by a stray scan.
fn open_count(session: &mut Session, location: &str) -> Step {
    match session.location.as_deref() {
        Some(open) if open == location => Step::ok(format!("Counting {location}")),
        Some(open) if !session.counted.is_empty() => Step::refused(format!(
            "{open}: {} counted: scan done or cancel first",
            plural(session.counted.len() as u64, "line")
        )),
        _ => {
            session.location = Some(location.to_owned());
            Step::ok(format!("Counting {location}"))
        }
    }
}

/// An item: added to its GTIN and lot's line (the label's count, else 1); no event yet.
fn tally(session: &mut Session, cx: &Input, reading: &Reading) -> Step {
    let (Some(location), Some(gtin)) = (session.location.clone(), reading.gtin()) else {
        return no_open_count(session, cx, Some(reading));
    };
    let lot = reading.lot().map(str::to_owned);
    let quantity = reading.quantity();
    let total = match session
        .counted
        .iter_mut()
        .find(|t| t.gtin == gtin && t.lot == lot)
    {
        Some(line) => {
            line.quantity = line.quantity.saturating_add(quantity);
            line.quantity
        }
        None => {
            session.counted.push(Tally {
                gtin: gtin.to_owned(),
                lot,
                quantity,
            });
            quantity
        }
    };
    Step::ok(format!(
        "{location}: {} counted, {total} in all",
        describe_item(reading)
    ))
}

/// Done: `inventory.counted` with the tallied `items` and their number of `lines`; the count
/// closes. A location counted with nothing scanned is a count of zero, and reported as one.
fn complete(session: &mut Session, cx: &Input) -> Step {
    let Some(location) = session.location.clone() else {
        return no_open_count(session, cx, None);
    };
    let mut data = cx.data(session);
    let lines = session.counted.len();
    let items: Vec<Value> = session
        .counted
        .iter()
        .map(|t| match &t.lot {
            Some(lot) => json!({"gtin": t.gtin, "lot": lot, "quantity": t.quantity}),
            None => json!({"gtin": t.gtin, "quantity": t.quantity}),
        })
        .collect();
    data.insert("items".into(), Value::Array(items));
    data.insert("lines".into(), lines.into());
    let message = format!("{location}: {} counted", plural(lines as u64, "line"));
    let event = Emitted {
        event_type: INVENTORY_COUNTED,
        subject: location,
        data: Value::Object(data),
        time_ms: None,
    };
    session.close();
    Step::event(true, event, message)
}

/// Cancel: the count is thrown away, no event.
fn discard(session: &mut Session) -> Step {
    let message = match &session.location {
        Some(location) => format!("Count of {location} discarded"),
        None => "Session cleared".to_owned(),
    };
    session.close();
    Step::ok(message)
}

/// `inventory.exception` `no_open_count`.
fn no_open_count(session: &Session, cx: &Input, reading: Option<&Reading>) -> Step {
    cx.nothing_open(
        session,
        INVENTORY_EXCEPTION,
        ("no_open_count", "no count open: scan a location first"),
        "No count open: scan a location first".into(),
        reading,
    )
}

//! Ship station: SSCC → `shipment.loaded`; done → `shipment.dispatched` with every SSCC
//! loaded since the last done.

use serde_json::Value;

use super::{
    cancel, insert_fields, open_order, plural, remember, Emitted, Input, Scan, Session, Step,
    SHIPMENT_DISPATCHED, SHIPMENT_LOADED,
};
use crate::decode::Reading;

pub(super) fn apply(session: &mut Session, cx: &Input, reading: &Reading, scan: Scan) -> Step {
    match scan {
        Scan::Order(order) => open_order(session, order),
        Scan::Location(_) | Scan::Tote(_) => remember(session, &scan),
        Scan::Sscc(sscc) => load(session, cx, reading, sscc),
        Scan::Item => cx.unexpected(session, reading, "an item label (no SSCC)"),
        Scan::Done => dispatch(session, cx),
        Scan::Cancel => {
            let mut step = cancel(session);
            if let Some(fb) = step
                .feedback
                .as_mut()
                .filter(|_| !session.loaded.is_empty())
            {
                fb.message = format!(
                    "{}; {} still loaded, scan done to dispatch",
                    fb.message,
                    plural(session.loaded.len() as u64, "SSCC")
                );
            }
            step
        }
        // Answered by `apply_scan` before it gets here.
        Scan::Malformed { .. }
        | Scan::Unknown { .. }
        | Scan::NoKey
        | Scan::Rma(_)
        | Scan::Condition(_) => Step::default(),
    }
}

/// An SSCC: `shipment.loaded`, once per SSCC until the next done.
fn load(session: &mut Session, cx: &Input, reading: &Reading, sscc: &str) -> Step {
    if session.loaded.iter().any(|s| s == sscc) {
        return Step::ok(format!("SSCC {sscc} already loaded"));
    }
    session.loaded.push(sscc.to_owned());
    let mut data = cx.data(session);
    insert_fields(&mut data, reading, true);
    let message = format!(
        "SSCC {sscc} loaded ({} since the last dispatch)",
        session.loaded.len()
    );
    let event = Emitted {
        event_type: SHIPMENT_LOADED,
        subject: sscc.to_owned(),
        data: Value::Object(data),
        time_ms: None,
    };
    Step::event(true, event, message)
}

/// Done: `shipment.dispatched` with `ssccs`; the list empties and the session closes.
fn dispatch(session: &mut Session, cx: &Input) -> Step {
    if session.loaded.is_empty() {
        return Step::refused("Nothing loaded: scan the SSCC labels first");
    }
    let mut data = cx.data(session);
    let ssccs = std::mem::take(&mut session.loaded);
    let subject = cx.dev.door.unwrap_or(cx.dev.device).to_owned();
    let message = match cx.dev.door {
        Some(door) => format!(
            "Door {door}: {} dispatched",
            plural(ssccs.len() as u64, "SSCC")
        ),
        None => format!("{} dispatched", plural(ssccs.len() as u64, "SSCC")),
    };
    data.insert(
        "ssccs".into(),
        Value::Array(ssccs.into_iter().map(Value::String).collect()),
    );
    let event = Emitted {
        event_type: SHIPMENT_DISPATCHED,
        subject,
        data: Value::Object(data),
        time_ms: None,
    };
    session.close();
    Step::event(true, event, message)
}

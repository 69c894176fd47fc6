//! Pack station: order → session; items accumulate; SSCC → `pack.completed` (`order`,
//! `sscc`, `items`) and the session closes.

use serde_json::Value;

use super::{
    cancel, describe_item, insert_fields, item_fields, open_order, plural, remember, Emitted,
    Input, Scan, Session, Step, PACK_COMPLETED, PACK_EXCEPTION,
};
use crate::decode::Reading;

pub(super) fn apply(session: &mut Session, cx: &Input, reading: &Reading, scan: Scan) -> Step {
    match scan {
        Scan::Order(order) => open_order(session, order),
        Scan::Location(_) | Scan::Tote(_) => remember(session, &scan),
        Scan::Item => add_item(session, cx, reading),
        Scan::Sscc(sscc) => complete(session, cx, reading, sscc),
        Scan::Done => match &session.order {
            Some(order) => Step::refused(format!(
                "{order}: scan the SSCC label to complete ({} packed)",
                plural(session.items.len() as u64, "item")
            )),
            None => Step::refused(cx.no_order_message()),
        },
        Scan::Cancel => cancel(session),
        // Answered by `apply_scan` before it gets here.
        Scan::Malformed { .. }
        | Scan::Unknown { .. }
        | Scan::NoKey
        | Scan::Rma(_)
        | Scan::Condition(_) => Step::default(),
    }
}

/// An item: its fields join the open order's `items`; no event yet.
fn add_item(session: &mut Session, cx: &Input, reading: &Reading) -> Step {
    let Some(order) = session.order.as_deref() else {
        return cx.no_open_order(session, PACK_EXCEPTION, Some(reading));
    };
    let message = format!(
        "{order}: {} packed ({})",
        plural(session.items.len() as u64 + 1, "item"),
        describe_item(reading)
    );
    session.items.push(item_fields(reading));
    Step::ok(message)
}

/// An SSCC: `pack.completed` with `order`, `sscc`, `items`; the session closes.
fn complete(session: &mut Session, cx: &Input, reading: &Reading, sscc: &str) -> Step {
    let Some(order) = session.order.clone() else {
        return cx.no_open_order(session, PACK_EXCEPTION, Some(reading));
    };
    let mut data = cx.data(session);
    insert_fields(&mut data, reading, true);
    let items = std::mem::take(&mut session.items);
    let message = format!(
        "{order}: {} packed into SSCC {sscc}",
        plural(items.len() as u64, "item")
    );
    data.insert(
        "items".into(),
        Value::Array(items.into_iter().map(Value::Object).collect()),
    );
    let event = Emitted {
        event_type: PACK_COMPLETED,
        subject: order,
        data: Value::Object(data),
        time_ms: None,
    };
    session.close();
    Step::event(true, event, message)
}

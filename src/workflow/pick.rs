//! Pick station: order → session; location/tote remembered; item → `pick.confirmed`;
//! done → `pick.completed` (`lines`); cancel → session closed.

use serde_json::Value;

use super::{
    cancel, describe_item, insert_fields, open_order, plural, remember, Emitted, Input, Scan,
    Session, Step, PICK_COMPLETED, PICK_CONFIRMED, PICK_EXCEPTION,
};
use crate::decode::Reading;

pub(super) fn apply(session: &mut Session, cx: &Input, reading: &Reading, scan: Scan) -> Step {
    match scan {
        Scan::Order(order) => open_order(session, order),
        Scan::Location(_) | Scan::Tote(_) => remember(session, &scan),
        Scan::Item => confirm(session, cx, reading),
        Scan::Done => complete(session, cx),
        Scan::Cancel => cancel(session),
        Scan::Sscc(_) => cx.unexpected(session, reading, "an SSCC label"),
        // Answered by `apply_scan` before it gets here.
        Scan::Malformed { .. }
        | Scan::Unknown { .. }
        | Scan::NoKey
        | Scan::Rma(_)
        | Scan::Condition(_) => Step::default(),
    }
}

/// An item: `pick.confirmed` for the open order, with its `line` number.
fn confirm(session: &mut Session, cx: &Input, reading: &Reading) -> Step {
    let Some(order) = session.order.clone() else {
        return cx.no_open_order(session, PICK_EXCEPTION, Some(reading));
    };
    session.lines += 1;
    let mut data = cx.data(session);
    insert_fields(&mut data, reading, true);
    data.insert("line".into(), session.lines.into());
    let message = format!(
        "{order}: line {} confirmed ({})",
        session.lines,
        describe_item(reading)
    );
    let event = Emitted {
        event_type: PICK_CONFIRMED,
        subject: order,
        data: Value::Object(data),
        time_ms: None,
    };
    Step::event(true, event, message)
}

/// Done: `pick.completed` with `lines`, and the session closes.
fn complete(session: &mut Session, cx: &Input) -> Step {
    let Some(order) = session.order.clone() else {
        return cx.no_open_order(session, PICK_EXCEPTION, None);
    };
    let mut data = cx.data(session);
    data.insert("lines".into(), session.lines.into());
    let message = format!("{order}: {} confirmed", plural(session.lines, "line"));
    let event = Emitted {
        event_type: PICK_COMPLETED,
        subject: order,
        data: Value::Object(data),
        time_ms: None,
    };
    session.close();
    Step::event(true, event, message)
}

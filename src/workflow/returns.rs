//! Return station: RMA → opens a return; a condition code applies to the items scanned after
//! it; item → `return.received`; done → `return.completed` (`lines`, `by_condition`); cancel →
//! the return closes.

use serde_json::{Map, Value};

use super::{
    cancel, describe_item, insert_fields, plural, remember, Emitted, Input, Scan, Session, Step,
    RETURN_COMPLETED, RETURN_EXCEPTION, RETURN_RECEIVED,
};
use crate::decode::Reading;

/// The condition of returned items when no condition code was scanned.
pub(super) const DEFAULT_CONDITION: &str = "resellable";

pub(super) fn apply(session: &mut Session, cx: &Input, reading: &Reading, scan: Scan) -> Step {
    match scan {
        Scan::Rma(rma) => open_return(session, rma),
        Scan::Condition(condition) => set_condition(session, cx, condition),
        Scan::Location(_) | Scan::Tote(_) => remember(session, &scan),
        Scan::Item => receive(session, cx, reading),
        Scan::Done => complete(session, cx),
        Scan::Cancel => cancel(session),
        Scan::Order(_) => cx.unexpected(session, reading, "an order number"),
        Scan::Sscc(_) => cx.unexpected(session, reading, "an SSCC label"),
        // Answered by `apply_scan` before it gets here.
        Scan::Malformed { .. } | Scan::Unknown { .. } | Scan::NoKey => Step::default(),
    }
}

/// An RMA: opens the return, closing a different open one first (no event: what it received
/// is out already); the same RMA again changes nothing.
fn open_return(session: &mut Session, rma: &str) -> Step {
    match session.rma.as_deref() {
        Some(open) if open == rma => Step::ok(format!("{rma} already open")),
        Some(open) => {
            let message = format!(
                "{rma} opened; {open} closed with {} received",
                plural(session.lines, "item")
            );
            session.close();
            session.rma = Some(rma.to_owned());
            Step::ok(message)
        }
        None => {
            session.rma = Some(rma.to_owned());
            Step::ok(format!("{rma} opened"))
        }
    }
}

/// A condition code: the items scanned next are in that condition.
fn set_condition(session: &mut Session, cx: &Input, condition: String) -> Step {
    let Some(rma) = session.rma.as_deref() else {
        return Step::refused(no_return_message(cx));
    };
    let message = format!("{rma}: next items {condition}");
    session.condition = Some(condition);
    Step::ok(message)
}

/// An item: `return.received` with the return's `rma`, the item's `condition` and fields.
fn receive(session: &mut Session, cx: &Input, reading: &Reading) -> Step {
    let Some(rma) = session.rma.clone() else {
        return no_open_return(session, cx, Some(reading));
    };
    let condition = session
        .condition
        .clone()
        .unwrap_or_else(|| DEFAULT_CONDITION.to_owned());
    session.lines += 1;
    *session.by_condition.entry(condition.clone()).or_default() += 1;
    let mut data = cx.data(session);
    insert_fields(&mut data, reading, true);
    data.insert("condition".into(), condition.as_str().into());
    let message = format!("{rma}: {} received {condition}", describe_item(reading));
    let event = Emitted {
        event_type: RETURN_RECEIVED,
        subject: rma,
        data: Value::Object(data),
        time_ms: None,
    };
    Step::event(true, event, message)
}

/// Done: `return.completed` with `lines` and the `by_condition` counts; the return closes.
fn complete(session: &mut Session, cx: &Input) -> Step {
    let Some(rma) = session.rma.clone() else {
        return no_open_return(session, cx, None);
    };
    let mut data = cx.data(session);
    data.insert("lines".into(), session.lines.into());
    let by_condition: Map<String, Value> = session
        .by_condition
        .iter()
        .map(|(condition, n)| (condition.clone(), Value::from(*n)))
        .collect();
    data.insert("by_condition".into(), Value::Object(by_condition));
    let message = format!("{rma}: {} received", plural(session.lines, "item"));
    let event = Emitted {
        event_type: RETURN_COMPLETED,
        subject: rma,
        data: Value::Object(data),
        time_ms: None,
    };
    session.close();
    Step::event(true, event, message)
}

fn no_return_message(cx: &Input) -> String {
    cx.nothing_open_message("return", "an RMA")
}

/// `return.exception` `no_open_return`.
fn no_open_return(session: &Session, cx: &Input, reading: Option<&Reading>) -> Step {
    cx.nothing_open(
        session,
        RETURN_EXCEPTION,
        ("no_open_return", "no open return: scan an RMA first"),
        no_return_message(cx),
        reading,
    )
}

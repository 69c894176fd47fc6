//! Receive station: SSCC or item → `receipt.confirmed` (subject: the SSCC, else the device).

use serde_json::Value;

use super::{
    cancel, describe_item, insert_fields, open_order, remember, Emitted, Input, Scan, Session,
    Step, RECEIPT_CONFIRMED,
};
use crate::decode::Reading;

pub(super) fn apply(session: &mut Session, cx: &Input, reading: &Reading, scan: Scan) -> Step {
    match scan {
        Scan::Order(order) => open_order(session, order),
        Scan::Location(_) | Scan::Tote(_) => remember(session, &scan),
        Scan::Sscc(sscc) => confirm(
            session,
            cx,
            reading,
            sscc.to_owned(),
            format!("SSCC {sscc}"),
        ),
        Scan::Item => confirm(
            session,
            cx,
            reading,
            cx.device_subject(),
            describe_item(reading),
        ),
        Scan::Done => {
            session.close();
            Step::ok("Session closed")
        }
        Scan::Cancel => cancel(session),
        // Answered by `apply_scan` before it gets here.
        Scan::Malformed { .. }
        | Scan::Unknown { .. }
        | Scan::NoKey
        | Scan::Rma(_)
        | Scan::Condition(_) => Step::default(),
    }
}

fn confirm(
    session: &Session,
    cx: &Input,
    reading: &Reading,
    subject: String,
    what: String,
) -> Step {
    let mut data = cx.data(session);
    insert_fields(&mut data, reading, true);
    let event = Emitted {
        event_type: RECEIPT_CONFIRMED,
        subject,
        data: Value::Object(data),
        time_ms: None,
    };
    Step::event(true, event, format!("{what} received"))
}

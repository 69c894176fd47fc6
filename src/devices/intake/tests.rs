//! The intake against a real ledger: queued input is committed in order and told after the
//! commit, with feedback for the devices that want it and refusals counted in the device's
//! status; a full buffer holds queued input and
//! retries it, while an HTTP submitter is answered with the refusal at once; once there is room
//! again, what was held is committed.

use std::sync::Mutex;
use std::time::Duration;

use super::*;
use crate::ledger::tests::{input, Ledger};
use crate::ledger::{EventFilter, EventRef, Outcome};

const DEVICES: &str =
    "[devices.scan-1]\nsource = \"serial\"\nstation = \"pick\"\npath = \"/dev/null\"\n\
                       [devices.web-1]\nsource = \"http\"\nstation = \"pick\"\n";

/// Feedback as the broker would get it.
#[derive(Default)]
struct Recorded(Mutex<Vec<(String, Feedback)>>);

impl FeedbackOut for Arc<Recorded> {
    fn publish(&self, device: &str, feedback: &Feedback) {
        if let Ok(mut seen) = self.0.lock() {
            seen.push((device.to_owned(), feedback.clone()));
        }
    }
}

struct Running {
    ledger: Ledger,
    handle: IntakeHandle,
    feedback: Arc<Recorded>,
    statuses: HashMap<Arc<str>, DeviceStatus>,
    cancel: CancellationToken,
}

impl Running {
    /// Device `id`'s count of refused inputs and its last error.
    fn refused(&self, id: &str) -> (u64, Option<String>) {
        let s = self.statuses[id].lock().unwrap();
        (s.rejected, s.last_error.clone())
    }
}

fn start(extra: &str) -> Running {
    let ledger = Ledger::open(&format!("{DEVICES}{extra}"));
    let feedback = Arc::new(Recorded::default());
    let statuses: HashMap<Arc<str>, DeviceStatus> = ["scan-1", "web-1"]
        .into_iter()
        .map(|id| (Arc::from(id), DeviceStatus::default()))
        .collect();
    let route = FeedbackRoute {
        out: Some(Arc::new(feedback.clone())),
        devices: HashSet::from([Arc::from("scan-1")]),
        statuses: statuses.clone(),
    };
    // The sender may go: the receiver keeps reading the last value.
    let (_, route_rx) = watch::channel(Arc::new(route));
    let (intake, handle) = channel(ledger.handle.clone(), route_rx);
    let cancel = CancellationToken::new();
    tokio::spawn(intake.run(cancel.clone()));
    Running {
        ledger,
        handle,
        feedback,
        statuses,
        cancel,
    }
}

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .unwrap_or_else(|_| panic!("{what} took over 10 s"))
}

#[tokio::test]
async fn queued_input_is_committed_in_order_and_told_after_the_commit() {
    let r = start("");
    let order = r
        .handle
        .submit(input("scan-1", b"SO-1", None))
        .await
        .unwrap();
    r.handle.push(input("scan-1", b"\xff", None)).await.unwrap();
    let item = r
        .handle
        .submit(input("scan-1", b"]C1010950600013435217251231", None))
        .await
        .unwrap();
    match within("the order scan", order).await.unwrap() {
        InputOutcome::Committed { ids, feedback } => {
            assert!(ids.is_empty());
            assert_eq!(feedback.map(|f| f.ok), Some(true));
        }
        other => panic!("{other:?}"),
    }
    // The item found the order the first scan opened: the inputs were applied in order.
    match within("the item scan", item).await.unwrap() {
        InputOutcome::Committed { ids, .. } => assert_eq!(ids.len(), 1),
        other => panic!("{other:?}"),
    }
    let rows = r.ledger.rows("erp").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].3, "pick.confirmed");
    assert_eq!(rows[0].2, "SO-1");
    // Feedback for all three, the quarantined one included, in order.
    let seen = r.feedback.0.lock().unwrap().clone();
    let oks: Vec<bool> = seen.iter().map(|(_, f)| f.ok).collect();
    assert_eq!(oks, [true, false, true], "{seen:?}");
    assert!(seen[1].1.message.starts_with("Input not accepted"));
    // The workflow's refusal is counted on the device, which the reader did not count.
    let (rejected, error) = r.refused("scan-1");
    assert_eq!(rejected, 1);
    assert!(error.is_some_and(|e| e.starts_with("input rejected: invalid_utf8 (")));
}

#[tokio::test]
async fn http_input_gets_feedback_only_when_its_device_wants_it() {
    let r = start("");
    let outcome = r
        .handle
        .submit_once(input("web-1", b"SO-9", None))
        .await
        .unwrap();
    assert!(matches!(outcome, InputOutcome::Committed { .. }));
    assert!(
        r.feedback.0.lock().unwrap().is_empty(),
        "web-1 is not among the feedback devices"
    );
    assert_eq!(r.refused("web-1"), (0, None));
    let refused = r
        .handle
        .submit_once(input("web-1", b"\x1b[2J", None))
        .await
        .unwrap();
    assert!(
        matches!(refused, InputOutcome::Rejected { .. }),
        "{refused:?}"
    );
    assert_eq!(
        r.refused("web-1").0,
        1,
        "an HTTP device's refusal is counted too"
    );
}

#[tokio::test]
async fn a_full_buffer_holds_queued_input_but_answers_http_at_once() {
    let r = start("[buffer]\nmax_disk = \"1MiB\"\n");
    let pad = crate::ledger::tests::incompressible(2000);
    let fat = |i: usize| crate::model::NewEvent {
        data: serde_json::value::RawValue::from_string(format!("{{\"pad\":\"{pad}\"}}")).unwrap(),
        ..crate::ledger::tests::event("pick.confirmed", &format!("SO-{i}"))
    };
    for i in 0.. {
        match r.ledger.handle.submit_events(vec![fat(i)], None).await {
            Ok(_) => {}
            Err(IngestError::BufferFull { .. }) => break,
            Err(e) => panic!("{e}"),
        }
    }
    // A serial line: held, not answered, retried.
    let held = r
        .handle
        .submit(input("scan-1", b"SO-777", None))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // An HTTP device meanwhile: refused at once, not queued behind the held line.
    let started = std::time::Instant::now();
    let refused = r.handle.submit_once(input("web-1", b"SO-2", None)).await;
    assert!(
        matches!(refused, Err(IngestError::BufferFull { .. })),
        "{refused:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    // Room again: every event delivered, so their receipts may go.
    let all = r
        .ledger
        .handle
        .events(EventFilter {
            sink: Some("erp".into()),
            state: None,
            limit: 100_000,
        })
        .await
        .unwrap();
    let events = all
        .iter()
        .map(|e| EventRef {
            seq: e.sequence,
            subject: e.subject.as_str().into(),
        })
        .collect();
    let outcome = Outcome::Delivered {
        key: "all".into(),
        events,
        status: 200,
    };
    r.ledger.handle.sink("erp").record(outcome).await.unwrap();
    let crm = Outcome::Delivered {
        key: "none".into(),
        events: Vec::new(),
        status: 200,
    };
    r.ledger.handle.sink("crm").record(crm).await.unwrap();
    match within("the held line", held).await.unwrap() {
        InputOutcome::Committed { ids, .. } => assert!(ids.is_empty(), "an order scan"),
        other => panic!("{other:?}"),
    }
    r.cancel.cancel();
}

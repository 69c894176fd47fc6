//! Planned requests: recorded once before the first attempt, replaced by their halves, read back
//! first (after a restart too) and forgotten once delivered.

use super::*;

fn plan(key: &str, seqs: Vec<i64>, replaces: Option<&str>) -> Plan {
    Plan {
        key: key.into(),
        seqs,
        replaces: replaces.map(Into::into),
    }
}

/// The planned requests a batching sink reads back: (key, sequences).
async fn planned(l: &Ledger) -> Vec<(String, Vec<i64>)> {
    l.next("erp", 100)
        .await
        .into_iter()
        .filter_map(|r| match r {
            Ready::Planned { key, events } => Some((key, events.iter().map(|e| e.seq).collect())),
            Ready::Fresh(_) => None,
        })
        .collect()
}

#[tokio::test]
async fn a_plan_is_read_back_replaced_by_its_halves_and_forgotten_when_delivered() {
    let l = Ledger::open("");
    let subjects = ["A", "B", "C", "D"];
    l.submit(
        subjects
            .iter()
            .map(|s| event("pick.confirmed", s))
            .collect(),
    )
    .await;
    let erp = l.handle.sink("erp");
    erp.plan(vec![plan("b-all", vec![1, 2, 3, 4], None)])
        .await
        .unwrap();
    assert_eq!(planned(&l).await, vec![("b-all".into(), vec![1, 2, 3, 4])]);
    // Refused and split: the halves replace the plan.
    erp.plan(vec![
        plan("b-12", vec![1, 2], Some("b-all")),
        plan("b-34", vec![3, 4], Some("b-all")),
    ])
    .await
    .unwrap();
    assert_eq!(
        planned(&l).await,
        vec![("b-12".into(), vec![1, 2]), ("b-34".into(), vec![3, 4])]
    );
    // A single event needs no plan of its own, but still ends its parent's.
    erp.plan(vec![plan("id-3", vec![3], Some("b-34"))])
        .await
        .unwrap();
    assert_eq!(planned(&l).await, vec![("b-12".into(), vec![1, 2])]);
    // The writer stops once the last handle is gone.
    drop(erp);
    let l = l.reopen("").await;
    assert_eq!(
        planned(&l).await,
        vec![("b-12".into(), vec![1, 2])],
        "a plan survives a restart"
    );
    let outcome = Outcome::Delivered {
        key: "b-12".into(),
        events: l.refs("erp", &[1, 2]).await,
        status: 200,
    };
    l.handle.sink("erp").record(outcome).await.unwrap();
    assert!(planned(&l).await.is_empty());
    assert_eq!(l.ready("erp").await, vec![3, 4]);
}

#[tokio::test]
async fn a_plan_waits_while_an_earlier_event_of_its_subject_is_open() {
    let l = Ledger::open("");
    l.submit(vec![
        event("pick.confirmed", "A"),
        event("pick.confirmed", "A"),
        event("pick.confirmed", "B"),
    ])
    .await;
    let erp = l.handle.sink("erp");
    // The second half of a split, planned while the first half is still out.
    erp.plan(vec![plan("b-23", vec![2, 3], None)])
        .await
        .unwrap();
    assert!(
        planned(&l).await.is_empty(),
        "event 2 may not go before event 1"
    );
    l.deliver("erp", vec![1]).await;
    assert_eq!(planned(&l).await.len(), 1);
}

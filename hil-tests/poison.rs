//! (c) A poison event: the ERP refuses one event of a subject with 400. It is dead-lettered
//! with its evidence, later events of that subject are held, other subjects flow; after the
//! ERP is fixed, `dockgate replay --dead` delivers the dead one and the held ones in order.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::harness::*;

const S: &str = "SO-POISON";

fn line(subject: &str, n: u64, poison: bool) -> Value {
    event(
        "pick.confirmed",
        subject,
        json!({ "n": n, "poison": poison }),
    )
}

/// Ids of the events of `subject` the ERP accepted, in arrival order.
fn ids_of_subject(erp: &StandIn, subject: &str) -> Vec<String> {
    erp.delivered()
        .into_iter()
        .filter(|d| d.subject == subject)
        .map(|d| d.id)
        .collect()
}

fn ids_of(rows: &[Value]) -> Vec<String> {
    rows.iter().map(|r| str_field(r, "id")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn poison_event_is_dead_lettered_held_and_replayed_in_order() {
    let refuse = Mode::RefuseEvent(Arc::new(|e: &Value| e["data"]["poison"] == true));
    let erp = StandIn::start("erp", refuse).await;
    let daemon = Daemon::start(Setup::new(vec![SinkSpec::new("erp", &erp)])).await;

    let first = daemon
        .post_events(
            &json!([
                line(S, 1, false),
                line(S, 2, true),
                line(S, 3, false),
                line("SO-OTHER-1", 1, false),
                line("SO-OTHER-2", 1, false),
            ]),
            None,
        )
        .await
        .ids();
    let dead_id = first[1].clone();
    wait_for(secs(20), "the poison event is dead", async || {
        let dead = daemon.events("erp", "dead").await;
        if dead.len() == 1 {
            Ok(())
        } else {
            Err(format!("{dead:?}"))
        }
    })
    .await;
    // Posted after the dead letter: held at once.
    let later = daemon
        .post_events(
            &json!([
                line(S, 4, false),
                line("SO-OTHER-1", 2, false),
                line("SO-OTHER-3", 1, false),
            ]),
            None,
        )
        .await
        .ids();
    let flowing = [&first[0], &first[3], &first[4], &later[1], &later[2]];
    wait_for(
        secs(20),
        "the other subjects are delivered",
        async || match erp.missing(flowing) {
            m if m.is_empty() => Ok(()),
            m => Err(format!("missing {m:?}")),
        },
    )
    .await;

    // The dead letter, as the operator sees it.
    let out = daemon
        .run_cli(&["events", "--sink", "erp", "--state", "dead", "--json"])
        .await;
    out.assert_ok();
    let dead: Vec<Value> = serde_json::from_str(&out.stdout).expect("events --json is JSON");
    assert_eq!(
        ids_of(&dead),
        vec![dead_id.clone()],
        "dead letters: {dead:?}"
    );
    assert_eq!(dead[0]["state"], "dead");
    assert_eq!(dead[0]["subject"], S);
    assert_eq!(dead[0]["last_status"], 400, "dead letter: {}", dead[0]);
    assert!(
        dead[0]["excerpt"]
            .as_str()
            .is_some_and(|e| e.contains("quantity must be positive")),
        "the dead letter keeps an excerpt of the refusal: {}",
        dead[0]
    );
    let held = daemon.events("erp", "held").await;
    let mut held_ids = ids_of(&held);
    held_ids.sort();
    let mut want_held = vec![first[2].clone(), later[0].clone()];
    want_held.sort();
    assert_eq!(held_ids, want_held, "held events: {held:?}");
    let s = daemon.sink("erp").await;
    assert_eq!(
        (&s["dead"], &s["held"], &s["pending"]),
        (&json!(1), &json!(2), &json!(0)),
        "ERP sink with a dead letter: {s}"
    );
    for id in [&first[1], &first[2], &later[0]] {
        assert!(
            !erp.unique_ids().contains(id),
            "{id} of {S} was accepted before its dead predecessor"
        );
    }
    assert!(daemon.metric_total("dockgate_dead_letters_total").await >= 1.0);

    // The ERP is fixed; the operator replays the dead letters.
    erp.set_mode(Mode::Ok);
    let out = daemon.run_cli(&["replay", "--sink", "erp", "--dead"]).await;
    out.assert_ok();
    let n: u64 = out
        .stdout
        .trim()
        .strip_suffix(" events put back for delivery to erp")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected replay output {:?}", out.stdout));
    assert!(n >= 1, "replay put back {n} events");

    let subject_s = [&first[0], &first[1], &first[2], &later[0]];
    wait_for(
        secs(20),
        "every event of the poisoned subject is delivered",
        async || match erp.missing(subject_s) {
            m if m.is_empty() => Ok(()),
            m => Err(format!("missing {m:?}")),
        },
    )
    .await;
    let order: Vec<String> = ids_of_subject(&erp, S);
    let want: Vec<String> = subject_s.iter().map(|s| s.to_string()).collect();
    assert_eq!(order, want, "delivery order of {S}");
    erp.check_subject_order().unwrap();
    erp.check_repeats_identical().unwrap();
    wait_for(secs(20), "the ERP backlog is back to 0", async || {
        let s = daemon.sink("erp").await;
        if s["pending"] == 0 && s["held"] == 0 && s["dead"] == 0 {
            Ok(())
        } else {
            Err(s.to_string())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_event_in_a_batch_is_isolated_and_the_rest_delivered() {
    let refuse = Mode::RefuseEvent(Arc::new(|e: &Value| e["data"]["poison"] == true));
    let erp = StandIn::start("erp", refuse).await;
    let daemon = Daemon::start(Setup::new(vec![SinkSpec::new("erp", &erp).batch(10)])).await;
    // Ten subjects, three events each; the second event of SO-B3 is refused.
    let body: Vec<Value> = (0..30)
        .map(|k| line(&format!("SO-B{}", k % 10), (k / 10) as u64, k == 13))
        .collect();
    let ids = daemon.post_events(&json!(body), None).await.ids();
    let (poison, behind) = (&ids[13], &ids[23]);
    let others: Vec<&String> = ids
        .iter()
        .filter(|id| *id != poison && *id != behind)
        .collect();
    wait_for(
        secs(30),
        "every event but the refused one and its follower is delivered",
        async || match erp.missing(others.iter().copied()) {
            m if m.is_empty() => Ok(()),
            m => Err(format!("missing {m:?}")),
        },
    )
    .await;
    wait_for(
        secs(20),
        "the refused event is dead and its follower held",
        async || {
            let dead = ids_of(&daemon.events("erp", "dead").await);
            let held = ids_of(&daemon.events("erp", "held").await);
            if dead == [poison.clone()] && held == [behind.clone()] {
                Ok(())
            } else {
                Err(format!("dead {dead:?}, held {held:?}"))
            }
        },
    )
    .await;
    assert_eq!(erp.duplicates(), 0, "no event accepted twice");
    assert!(!erp.unique_ids().contains(behind));
    // A key always stands for the same members, also across the splits.
    let mut members: std::collections::HashMap<String, Vec<String>> = Default::default();
    for r in erp.requests() {
        let key = r.key().unwrap_or("").to_owned();
        let ids = r.ids();
        if let Some(before) = members.insert(key.clone(), ids.clone()) {
            assert_eq!(before, ids, "key {key} sent with different members");
        }
    }

    erp.set_mode(Mode::Ok);
    let replayed = daemon.replay(&json!({ "sink": "erp", "dead": true })).await;
    assert!(
        replayed["replayed"].as_u64().is_some_and(|n| n >= 1),
        "{replayed}"
    );
    wait_until(secs(20), "all 30 events are delivered", async || {
        erp.missing(&ids).is_empty()
    })
    .await;
    let order: Vec<String> = ids_of_subject(&erp, "SO-B3");
    assert_eq!(
        order,
        vec![ids[3].clone(), ids[13].clone(), ids[23].clone()]
    );
    erp.check_subject_order().unwrap();
    erp.check_cloudevents(SITE, true).unwrap();
}

/// One busy subject fills a batch on its own (its events go together, in order); when one of
/// them is refused, the events before it are delivered, the refused one is dead-lettered and
/// the ones behind it are held, never sent ahead of it.
#[tokio::test(flavor = "multi_thread")]
async fn refused_event_inside_a_subject_run_holds_the_rest_of_the_run() {
    let refuse = Mode::RefuseEvent(Arc::new(|e: &Value| e["data"]["poison"] == true));
    let erp = StandIn::start("erp", refuse).await;
    let daemon = Daemon::start(Setup::new(vec![SinkSpec::new("erp", &erp).batch(10)])).await;
    let mut body: Vec<Value> = (0..6).map(|n| line(S, n, n == 2)).collect();
    body.push(line("SO-OTHER-1", 0, false));
    let ids = daemon.post_events(&json!(body), None).await.ids();
    wait_for(
        secs(30),
        "the refused event is dead and the three behind it held",
        async || {
            let dead = ids_of(&daemon.events("erp", "dead").await);
            let held = ids_of(&daemon.events("erp", "held").await);
            if dead == ids[2..3] && held == ids[3..6] {
                Ok(())
            } else {
                Err(format!("dead {dead:?}, held {held:?}"))
            }
        },
    )
    .await;
    wait_until(
        secs(20),
        "the events before it and the other subject are delivered",
        async || erp.missing([&ids[0], &ids[1], &ids[6]]).is_empty(),
    )
    .await;
    // The run went out whole first, so it was one request with all six in order.
    let first = erp.requests().first().map(|r| r.ids()).unwrap_or_default();
    assert_eq!(
        first.len(),
        7,
        "one request carried the whole run: {first:?}"
    );
    assert_eq!(first[..6], ids[..6]);
    for behind in &ids[2..6] {
        assert!(!erp.unique_ids().contains(behind), "{behind} was accepted");
    }

    erp.set_mode(Mode::Ok);
    daemon.replay(&json!({ "sink": "erp", "dead": true })).await;
    wait_until(secs(20), "all events are delivered", async || {
        erp.missing(&ids).is_empty()
    })
    .await;
    let order: Vec<String> = ids_of_subject(&erp, S);
    assert_eq!(order, ids[..6]);
    assert_eq!(erp.duplicates(), 0, "no event accepted twice");
    erp.check_subject_order().unwrap();
}

/// The halves of a refused batch are recorded before they go out; when the receiver then goes
/// down and the daemon restarts, the recorded second half must still wait for the first.
#[tokio::test(flavor = "multi_thread")]
async fn halves_of_a_refused_batch_keep_their_order_across_a_restart() {
    let erp = StandIn::start("erp", Mode::Status(503)).await;
    // The whole run is refused once (400 for its last event); every later request gets 503.
    erp.once(Mode::RefuseEvent(Arc::new(|e: &Value| {
        e["data"]["poison"] == true
    })));
    let mut daemon = Daemon::start(Setup::new(vec![SinkSpec::new("erp", &erp)
        .batch(10)
        .retry_max("300ms")]))
    .await;
    let body: Vec<Value> = (0..4).map(|n| line(S, n, n == 3)).collect();
    let ids = daemon.post_events(&json!(body), None).await.ids();
    wait_until(
        secs(20),
        "the first half of the refused run was tried",
        async || erp.requests().iter().any(|r| r.ids() == ids[..2]),
    )
    .await;
    let first = erp.requests().first().map(|r| r.ids()).unwrap_or_default();
    assert_eq!(first, ids, "the run went out whole first");

    daemon.terminate().await;
    erp.set_mode(Mode::Ok);
    daemon.restart().await;
    wait_until(secs(20), "all four are delivered", async || {
        erp.missing(&ids).is_empty()
    })
    .await;
    assert_eq!(ids_of_subject(&erp, S), ids, "delivered in order");
    erp.check_subject_order().unwrap();
}

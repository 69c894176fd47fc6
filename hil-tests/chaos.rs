//! Faults at random: while events arrive over two connections, each receiver answers stretches
//! of requests with a fault drawn at random (500, 503, 429 with `Retry-After: 0`, a 200 HTML
//! page, a reset, no answer, no answer after committing, a slow answer) between stretches of
//! normal answers, independently of the other; then both recover. Nothing acknowledged is
//! lost, every repeat is identical and under the same key, each subject arrives in order.
//!
//! The faults come from a seeded generator; the seed is printed, and `DOCKGATE_CHAOS_SEED`
//! replays a run.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::harness::*;

const POSTERS: usize = 2;
const POSTS: usize = 30;
const PER_POST: usize = 20;
const SUBJECTS: usize = 40;

fn generated(k: usize) -> Value {
    let event_type = if k % 5 == 4 {
        "shipment.loaded"
    } else {
        "pick.confirmed"
    };
    event(
        event_type,
        &format!("SO-{:03}", k % SUBJECTS),
        json!({ "k": k }),
    )
}

/// A normal answer two times in three, else one of the faults.
fn draw(rng: &mut StdRng) -> Mode {
    let faults = [
        Mode::Status(500),
        Mode::Status(503),
        Mode::TooMany {
            retry_after_secs: 0,
        },
        Mode::Html(200),
        Mode::Reset,
        Mode::Hang,
        Mode::AcceptThenHang,
        Mode::Slow(Duration::from_millis(100)),
    ];
    if rng.random_bool(2.0 / 3.0) {
        Mode::Ok
    } else {
        faults[rng.random_range(0..faults.len())].clone()
    }
}

async fn poster(client: daemon::IngestClient, first: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for p in 0..POSTS {
        let k0 = first + p * PER_POST;
        let body: Vec<Value> = (k0..k0 + PER_POST).map(generated).collect();
        let answer = client
            .post_raw(Value::Array(body).to_string().into_bytes(), None)
            .await;
        assert_eq!(answer.status, 202, "ingest answer {answer:?}");
        ids.extend(answer.ids());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn random_receiver_faults_under_load_lose_nothing_and_keep_order() {
    let seed: u64 = std::env::var("DOCKGATE_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("chaos seed {seed} (DOCKGATE_CHAOS_SEED={seed} repeats the faults)");
    let erp = Arc::new(StandIn::start("erp", Mode::Ok).await);
    let crm = Arc::new(StandIn::start("crm", Mode::Ok).await);
    let daemon = Daemon::start(Setup::new(vec![
        SinkSpec::new("erp", &erp)
            .batch(20)
            .timeout("500ms")
            .retry_max("200ms"),
        SinkSpec::new("crm", &crm)
            .events(&["shipment.*"])
            .timeout("500ms")
            .retry_max("200ms"),
    ]))
    .await;

    let calm = Arc::new(AtomicBool::new(false));
    let chaos = tokio::spawn({
        let (erp, crm, calm) = (erp.clone(), crm.clone(), calm.clone());
        async move {
            let mut rng = StdRng::seed_from_u64(seed);
            while !calm.load(Ordering::Relaxed) {
                erp.set_mode(draw(&mut rng));
                crm.set_mode(draw(&mut rng));
                let stretch = rng.random_range(30..150);
                tokio::time::sleep(Duration::from_millis(stretch)).await;
            }
        }
    });

    let posters: Vec<_> = (0..POSTERS)
        .map(|n| tokio::spawn(poster(daemon.ingest_client(), n * POSTS * PER_POST)))
        .collect();
    let mut ids = Vec::new();
    for p in posters {
        ids.extend(p.await.expect("poster"));
    }
    assert_eq!(ids.len(), POSTERS * POSTS * PER_POST, "one id per event");
    // Faults go on a little after the last event, then both receivers recover.
    tokio::time::sleep(Duration::from_secs(1)).await;
    calm.store(true, Ordering::Relaxed);
    chaos.await.expect("chaos task");
    erp.set_mode(Mode::Ok);
    crm.set_mode(Mode::Ok);

    erp.wait_received(&ids, secs(60), "every event is at the ERP")
        .await;
    for sink in ["erp", "crm"] {
        wait_for(
            secs(30),
            &format!("the {sink} backlog is empty"),
            async || {
                let s = daemon.sink(sink).await;
                if s["pending"] == 0 && s["held"] == 0 && s["dead"] == 0 {
                    Ok(())
                } else {
                    Err(s.to_string())
                }
            },
        )
        .await;
    }

    let want: HashSet<String> = ids.iter().cloned().collect();
    assert_eq!(erp.unique_ids(), want, "the ERP got exactly the posted ids");
    let crm_got = crm.unique_ids();
    assert!(crm_got.is_subset(&want), "the CRM got only posted ids");
    assert_eq!(
        crm_got.len(),
        POSTERS * POSTS * PER_POST / 5,
        "the CRM got every shipment event"
    );
    for standin in [&erp, &crm] {
        standin.check_repeats_identical().unwrap();
        standin.check_subject_order().unwrap();
        assert!(
            standin.max_in_flight() <= 4,
            "{} concurrency {}",
            standin.name(),
            standin.max_in_flight()
        );
    }
    eprintln!(
        "chaos: ERP {} requests, {} duplicates; CRM {} requests, {} duplicates",
        erp.request_count(),
        erp.duplicates(),
        crm.request_count(),
        crm.duplicates()
    );
}

//! How the daemon reads receivers' answers: `Retry-After` on a 429 is honoured, and an HTML
//! page (a login portal or a proxy's error page) is never taken as an acknowledgement.

use std::time::Duration;

use serde_json::json;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn retry_after_on_429_is_honoured() {
    let erp = StandIn::start("erp", Mode::Ok).await;
    erp.once(Mode::TooMany {
        retry_after_secs: 2,
    });
    let daemon = Daemon::start(Setup::new(vec![SinkSpec::new("erp", &erp)])).await;
    let ids = daemon
        .post_events(&event("pick.confirmed", "SO-1", json!({})), None)
        .await
        .ids();
    wait_until(
        secs(20),
        "the event is delivered after the 429",
        async || erp.missing(&ids).is_empty(),
    )
    .await;
    let reqs = erp.requests();
    assert_eq!(reqs[0].outcome, Outcome::Answered(429));
    assert_eq!(reqs[1].outcome, Outcome::Accepted);
    let gap = reqs[1].at - reqs[0].at;
    // A lower bound only: the retry must not come before Retry-After has passed.
    assert!(
        gap >= Duration::from_millis(1950),
        "retried {gap:?} after a 429 with Retry-After: 2"
    );
    assert_eq!(
        reqs[0].key(),
        reqs[1].key(),
        "same Idempotency-Key on the retry"
    );
    assert_eq!(reqs[0].body, reqs[1].body, "same body on the retry");
    assert!(
        daemon
            .metric_total("dockgate_delivery_failures_total")
            .await
            >= 1.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn html_answers_are_not_acknowledgements() {
    let erp = StandIn::start("erp", Mode::Html(200)).await;
    erp.once(Mode::Html(502));
    let daemon = Daemon::start(Setup::new(vec![SinkSpec::new("erp", &erp)])).await;
    let body: Vec<_> = (0..3)
        .map(|i| event("pack.completed", &format!("SO-{i}"), json!({ "i": i })))
        .collect();
    let ids = daemon.post_events(&json!(body), None).await.ids();

    wait_until(
        secs(20),
        "the ERP answered HTML with 200 a few times",
        async || erp.count(&Outcome::Answered(200)) >= 4,
    )
    .await;
    assert_eq!(erp.count(&Outcome::Answered(502)), 1);
    assert!(
        daemon.events("erp", "delivered").await.is_empty(),
        "an HTML page was taken as a delivery"
    );
    let s = daemon.sink("erp").await;
    assert_eq!(s["pending"], 3, "events stay pending: {s}");
    assert_eq!(
        s["dead"], 0,
        "an HTML page is no reason to dead-letter: {s}"
    );
    assert_eq!(s["state"], "retrying", "{s}");

    erp.set_mode(Mode::Ok);
    wait_until(
        secs(20),
        "the events are delivered once the ERP is fixed",
        async || erp.missing(&ids).is_empty(),
    )
    .await;
    wait_until(
        secs(20),
        "the daemon records them as delivered",
        async || daemon.events("erp", "delivered").await.len() == 3,
    )
    .await;
    assert_eq!(erp.duplicates(), 0, "each event accepted once");
    erp.check_cloudevents(SITE, false).unwrap();
}

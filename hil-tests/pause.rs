//! (d) A 401 pauses the sink: nothing is dead-lettered, events stay pending, the sink is
//! probed every `retry_max`; once the credentials are accepted again everything is delivered.
//! A redirect pauses it too, and its error says where it points.

use std::time::Duration;

use serde_json::json;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn unauthorized_pauses_the_sink_until_the_probe_succeeds() {
    let erp = StandIn::start("erp", Mode::Unauthorized).await;
    let probe = Duration::from_millis(500);
    let daemon = Daemon::start(Setup::new(vec![
        SinkSpec::new("erp", &erp).retry_max("500ms")
    ]))
    .await;
    let body: Vec<_> = (0..20)
        .map(|i| {
            event(
                "pick.confirmed",
                &format!("SO-{}", i % 5),
                json!({ "i": i }),
            )
        })
        .collect();
    let ids = daemon.post_events(&json!(body), None).await.ids();

    daemon.wait_sink_state("erp", "paused").await;
    wait_until(
        secs(20),
        "the paused sink was probed three times",
        async || erp.count(&Outcome::Answered(401)) >= 3,
    )
    .await;
    let s = daemon.sink("erp").await;
    assert_eq!(s["state"], "paused", "{s}");
    assert!(s["paused_reason"].is_string(), "paused_reason shown: {s}");
    assert_eq!(s["dead"], 0, "no dead letters for a 401: {s}");
    assert_eq!(s["pending"], 20, "events stay pending: {s}");
    assert!(daemon.events("erp", "dead").await.is_empty());
    assert_eq!(daemon.events("erp", "pending").await.len(), 20);
    let metrics = daemon.metrics().await;
    assert_eq!(
        metric_total(&metrics, "dockgate_sink_paused"),
        1.0,
        "dockgate_sink_paused while paused"
    );
    // Probes come one at a time, no faster than retry_max (a lower bound only).
    let times: Vec<_> = erp.requests().iter().map(|r| r.at).collect();
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= probe.mul_f64(0.8),
            "probe {gap:?} after the previous one, retry_max is {probe:?}"
        );
    }

    erp.set_mode(Mode::Ok);
    erp.wait_received(&ids, secs(30), "every event is delivered after the fix")
        .await;
    wait_for(
        secs(20),
        "the sink is ok with an empty backlog",
        async || {
            let s = daemon.sink("erp").await;
            if s["state"] == "ok" && s["pending"] == 0 && s["dead"] == 0 {
                Ok(())
            } else {
                Err(s.to_string())
            }
        },
    )
    .await;
    erp.check_subject_order().unwrap();
    erp.check_repeats_identical().unwrap();
    assert_eq!(
        metric_total(&daemon.metrics().await, "dockgate_sink_paused"),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_pauses_the_sink_and_says_where_it_points() {
    let to = "http://127.0.0.1:9/erp/v2/events";
    let erp = StandIn::start("erp", Mode::Redirect(to.into())).await;
    let daemon = Daemon::start(Setup::new(vec![
        SinkSpec::new("erp", &erp).retry_max("500ms")
    ]))
    .await;
    daemon
        .post_events(&json!([event("pick.confirmed", "SO-1", json!({}))]), None)
        .await
        .ids();
    let s = daemon.wait_sink_state("erp", "paused").await;
    assert_eq!(s["paused_reason"], "redirect", "{s}");
    assert!(
        s["last_error"]
            .as_str()
            .is_some_and(|e| e.contains(&format!("HTTP 302 (redirect to {to})"))),
        "{s}"
    );
}

//! `POST /api/v1/events` as local software uses it: Idempotency-Key across restarts, and bad
//! bodies answered with a status and a JSON reason.

use serde_json::json;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn idempotency_key_survives_crash_and_restart() {
    let erp = StandIn::start("erp", Mode::Ok).await;
    let mut daemon = Daemon::start(Setup::new(vec![SinkSpec::new("erp", &erp)])).await;
    let body = json!([
        event("pick.confirmed", "SO-77", json!({ "line": 1 })),
        event("pick.completed", "SO-77", json!({ "lines": 1 })),
    ]);
    let key = "wms-rf-0042";
    let ids = daemon.post_events(&body, Some(key)).await.ids();
    assert_eq!(ids.len(), 2);
    assert_eq!(
        daemon.post_events(&body, Some(key)).await.ids(),
        ids,
        "a repeated POST answers the same ids"
    );
    wait_until(secs(20), "both events are delivered", async || {
        daemon.events("erp", "delivered").await.len() == 2
    })
    .await;
    let before = daemon.status().await["buffer"].clone();

    daemon.kill9();
    daemon.restart().await;
    assert_eq!(
        daemon.post_events(&body, Some(key)).await.ids(),
        ids,
        "the same key after a crash answers the same ids"
    );
    let status = daemon.terminate().await;
    assert!(status.success(), "SIGTERM is a clean stop, got {status}");
    daemon.restart().await;
    assert_eq!(
        daemon.post_events(&body, Some(key)).await.ids(),
        ids,
        "the same key after a clean restart answers the same ids"
    );
    let after = daemon.status().await["buffer"].clone();
    assert_eq!(
        (&after["events"], &after["last_sequence"]),
        (&before["events"], &before["last_sequence"]),
        "no new event was minted (before {before}, after {after})"
    );
    let other = json!([event("pick.confirmed", "SO-77", json!({ "line": 2 }))]);
    daemon
        .post_events(&other, Some(key))
        .await
        .assert_error(422);

    // A marker posted last proves the sink is flowing; nothing else arrived.
    let marker = daemon
        .post_events(&event("pick.confirmed", "SO-78", json!({})), None)
        .await
        .ids();
    wait_until(secs(20), "the marker event arrives", async || {
        erp.missing(&marker).is_empty()
    })
    .await;
    let mut want: std::collections::HashSet<String> = ids.iter().cloned().collect();
    want.extend(marker);
    assert_eq!(erp.unique_ids(), want, "the ERP got the posted events only");
    erp.check_repeats_identical().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_bodies_are_refused_with_a_json_reason() {
    let erp = StandIn::start("erp", Mode::Ok).await;
    let daemon =
        Daemon::start(Setup::new(vec![SinkSpec::new("erp", &erp)]).max_body("64KiB")).await;
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("not JSON", b"hello, dockgate".to_vec(), 400),
        (
            "truncated JSON",
            br#"{"type":"pick.confirmed","#.to_vec(),
            400,
        ),
        (
            "no subject",
            br#"{"type":"pick.confirmed","data":{}}"#.to_vec(),
            422,
        ),
        (
            "wrong member type",
            br#"{"type":"pick.confirmed","subject":7,"data":{}}"#.to_vec(),
            422,
        ),
        (
            "unknown member",
            br#"{"type":"pick.confirmed","subject":"SO-1","data":{},"id":"x"}"#.to_vec(),
            422,
        ),
        (
            "bad type",
            br#"{"type":"pick confirmed","subject":"SO-1","data":{}}"#.to_vec(),
            422,
        ),
        ("empty array", b"[]".to_vec(), 422),
        ("a string", br#""pick.confirmed""#.to_vec(), 400),
    ];
    for (what, body, status) in cases {
        let answer = daemon.post_raw(body, None).await;
        assert_eq!(answer.status, status, "{what}: {answer:?}");
        answer.assert_error(status);
    }
    // Over admin.max_body, though otherwise valid.
    let big: Vec<_> = (0..100)
        .map(|i| {
            event(
                "pick.confirmed",
                "SO-1",
                json!({ "i": i, "pad": "y".repeat(1000) }),
            )
        })
        .collect();
    let body = serde_json::to_vec(&big).unwrap();
    assert!(body.len() > 64 * 1024);
    daemon.post_raw(body, None).await.assert_error(413);

    let buffer = &daemon.status().await["buffer"];
    assert_eq!(buffer["events"], 0, "nothing was stored: {buffer}");
    // And the endpoint still works.
    let ok = daemon
        .post_events(&event("pick.confirmed", "SO-1", json!({})), None)
        .await;
    assert_eq!(ok.ids().len(), 1);
}

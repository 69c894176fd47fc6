//! The site layout of docs/fleet.md: dockgate publishes to a NATS leaf node on its own box,
//! which has no JetStream and forwards to the central server holding the stream (in
//! JetStream domain `central`, which the sink names so that doctor reaches the stream API). While the
//! centre is cut off, publishes find no stream; dockgate keeps acknowledging input into its
//! buffer, `dockgate doctor` says the stream cannot be reached, and once the link is back
//! everything arrives once, in order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{check_stream, poster, setup, wait_drained, wait_state, STREAM};
use crate::harness::nats::*;
use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_site_behind_a_leaf_node_keeps_its_events_while_the_centre_is_cut_off() {
    let Some(bin) = nats_or_skip("a_site_behind_a_leaf_node") else {
        return;
    };
    let leaf_port = free_port();
    let mut centre = NatsServer::start_with(
        &bin,
        NatsOptions {
            leafnode_port: Some(leaf_port),
            domain: Some("central".into()),
            ..Default::default()
        },
    )
    .await;
    let jet = Jet::connect(&centre.url()).await;
    jet.create_stream(stream_config(STREAM, &["dockgate.>"]))
        .await;
    let leaf = NatsServer::start_with(
        &bin,
        NatsOptions {
            leaf_of: Some(leaf_port),
            ..Default::default()
        },
    )
    .await;
    let sink = NatsSink::new("backbone", &leaf.url(), STREAM).timeout("2s");
    let doctor = |config: std::path::PathBuf| async move {
        let config = config.display().to_string();
        dockgate(&["doctor", "--config", &config, "--timeout", "3s"]).await
    };
    let stream_line = |out: &CliOutput, verdict: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{verdict}  sink backbone stream ")))
            .map(str::to_owned)
    };

    // Without the domain, the stream API is not extended over the leaf node: doctor says so.
    let mut daemon = Daemon::start(setup(&[&sink])).await;
    wait_for(secs(20), "doctor's hint about the domain", async || {
        let out = doctor(daemon.config_path().to_owned()).await;
        match stream_line(&out, "FAIL") {
            Some(l) if l.contains("sinks.backbone.domain") => Ok(()),
            _ => Err(out.stdout),
        }
    })
    .await;
    daemon.terminate().await;

    // With it, doctor sees the stream through the leaf node once its link is up.
    let sink = sink.with("domain = \"central\"");
    let daemon = Daemon::start(setup(&[&sink])).await;
    wait_for(
        secs(20),
        "doctor sees the stream through the leaf node",
        async || {
            let out = doctor(daemon.config_path().to_owned()).await;
            stream_line(&out, "PASS").map(|_| ()).ok_or(out.stdout)
        },
    )
    .await;

    let acked_posts = Arc::new(AtomicUsize::new(0));
    let posting = tokio::spawn(poster(
        daemon.ingest_client(),
        "SO",
        100,
        10,
        20,
        Duration::from_millis(40),
        acked_posts.clone(),
    ));
    jet.wait_count(STREAM, 100, secs(30)).await;

    // The centre goes away; the leaf node stays, so dockgate's own connection is fine.
    centre.stop().await;
    let at_cut = acked_posts.load(Ordering::SeqCst);
    let s = wait_state(&daemon, "backbone", "retrying").await;
    assert!(
        s["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("no responders")),
        "a publish through the cut-off leaf node finds no stream: {s}"
    );
    wait_until(
        secs(30),
        "20 more posts acknowledged while the centre is cut off",
        async || acked_posts.load(Ordering::SeqCst) >= at_cut + 20,
    )
    .await;
    let out = doctor(daemon.config_path().to_owned()).await;
    assert_ne!(
        out.code,
        Some(0),
        "doctor fails while cut off:\n{}",
        out.stdout
    );
    assert!(
        stream_line(&out, "FAIL").is_some(),
        "the stream line fails while the centre is cut off:\n{}",
        out.stdout
    );
    let s = daemon.sink_status("backbone").await;
    assert_eq!(s["dead"], 0, "nothing dead-lettered for a cut-off: {s}");
    assert!(s["pending"].as_u64().unwrap_or(0) > 0, "a backlog: {s}");

    centre.restart().await;
    let acked = tokio::time::timeout(secs(90), posting)
        .await
        .expect("the poster finished within 90 s")
        .expect("the poster did not panic");
    assert_eq!(acked.len(), 1000);
    wait_drained(&daemon, "backbone", secs(60)).await;
    let jet = Jet::connect(&centre.url()).await;
    check_stream(&jet, STREAM, &acked).await;
}

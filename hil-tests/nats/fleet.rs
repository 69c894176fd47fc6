//! The site layout of docs/fleet.md: dockgate publishes to a NATS leaf node on its own box,
//! which has no JetStream and forwards to the central server holding the stream (in
//! JetStream domain `central`, which the sink names so that doctor reaches the stream API). While the
//! centre is cut off, publishes find no stream; dockgate keeps acknowledging input into its
//! buffer, `dockgate doctor` says the stream cannot be reached, and once the link is back
//! everything arrives once, in order. With the centre's accounts as docs/fleet.md has them, a
//! leaf node logged in as another site's user has its publishes dropped: doctor's publish line
//! says so, and once the leaf node is corrected everything arrives.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{check_stream, poster, setup, wait_drained, STREAM};
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
    let s = daemon.wait_sink_state("backbone", "retrying").await;
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
    let s = daemon.sink("backbone").await;
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

/// The centre's `WAREHOUSES` account of docs/fleet.md, with one user per site (may publish its
/// own subjects and look up the stream) and central IT's.
fn warehouses_account() -> String {
    let site_user = |site: &str, password: &str| {
        format!(
            "{{ user: {site}, password: {password:?}, permissions: {{ publish: [ \"dockgate.{site}.>\", \
             \"$JS.API.STREAM.INFO.{STREAM}\", \"$JS.central.API.STREAM.INFO.{STREAM}\" ], \
             subscribe: [ \"_INBOX.>\" ] }} }}"
        )
    };
    format!(
        "accounts {{\n  WAREHOUSES: {{\n    jetstream: enabled\n    users: [\n      {}\n      {}\n      \
         {{ user: central-it, password: \"IT-PASSWORD\" }}\n    ]\n  }}\n}}\n",
        site_user(SITE, "HIL-PASSWORD"),
        site_user("wh-other", "OTHER-PASSWORD"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_leaf_node_logged_in_as_another_site_is_named_by_doctor_and_nothing_is_lost() {
    let Some(bin) = nats_or_skip("a_leaf_node_logged_in_as_another_site") else {
        return;
    };
    let leaf_port = free_port();
    let centre = NatsServer::start_with(
        &bin,
        NatsOptions {
            leafnode_port: Some(leaf_port),
            domain: Some("central".into()),
            extra: Some(warehouses_account()),
            ..Default::default()
        },
    )
    .await;
    let jet = Jet::connect_with(
        &centre.url(),
        async_nats::ConnectOptions::new()
            .user_and_password("central-it".into(), "IT-PASSWORD".into()),
    )
    .await;
    jet.create_stream(stream_config(STREAM, &["dockgate.>"]))
        .await;
    // The leaf node's configuration names the wrong site's user.
    let mut leaf = NatsServer::start_with(
        &bin,
        NatsOptions {
            leaf_of: Some(leaf_port),
            leaf_user: Some(("wh-other".into(), "OTHER-PASSWORD".into())),
            ..Default::default()
        },
    )
    .await;
    let sink = NatsSink::new("backbone", &leaf.url(), STREAM)
        .timeout("2s")
        .retry_max("500ms")
        .with("domain = \"central\"");
    let daemon = Daemon::start(setup(&[&sink])).await;
    let doctor = || async {
        let config = daemon.config_path().display().to_string();
        dockgate(&["doctor", "--config", &config, "--timeout", "3s"]).await
    };
    let line = |out: &CliOutput, step: &str| {
        out.stdout
            .lines()
            .find(|l| l.contains(&format!("sink backbone {step} ")))
            .unwrap_or_default()
            .to_owned()
    };
    let out = wait_for(secs(20), "doctor's publish line fails", async || {
        let out = doctor().await;
        if line(&out, "publish").starts_with("FAIL") {
            Ok(out)
        } else {
            Err(out.stdout)
        }
    })
    .await;
    assert!(
        line(&out, "stream").starts_with("PASS"),
        "the stream itself is found: {}",
        out.stdout
    );
    let publish = line(&out, "publish");
    assert!(
        publish.contains("publish permissions") && publish.contains(&format!("site.id {SITE}")),
        "the fix names the permissions and site.id: {publish}"
    );
    assert_ne!(out.code, Some(0));

    let body = super::events_over(12, "shipment.loaded", "SSCC", 4);
    let acked = daemon.post_events(&body, None).await.ids();
    let s = daemon.wait_sink_state("backbone", "retrying").await;
    assert!(
        s["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("may not publish it (is site.id right?)")),
        "the sink's error names the permissions: {s}"
    );
    assert_eq!(s["pending"], 12, "{s}");
    assert_eq!(jet.count(STREAM).await, 0, "doctor's probe stored nothing");

    // Central IT gives the box its own site's leaf node login.
    leaf.edit_config(|c| c.replace("wh-other:OTHER-PASSWORD@", &format!("{SITE}:HIL-PASSWORD@")));
    leaf.restart().await;
    jet.wait_count(STREAM, acked.len() as u64, secs(30)).await;
    wait_drained(&daemon, "backbone", secs(20)).await;
    check_stream(&jet, STREAM, &acked).await;
    let out = doctor().await;
    assert!(
        line(&out, "publish").starts_with("PASS"),
        "doctor passes once corrected: {}",
        out.stdout
    );
    assert_eq!(
        jet.count(STREAM).await,
        acked.len() as u64,
        "the probe stored nothing"
    );
}

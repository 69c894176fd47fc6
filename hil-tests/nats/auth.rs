//! Logins of a NATS sink: a wrong password pauses the sink (probed, nothing lost) until a
//! reload brings the right one; a token and an NKey seed log in; TLS is trusted with a
//! company CA in `tls.ca_file` and only then.

use async_nats::ConnectOptions;
use serde_json::json;

use super::{check_stream, events_over, reload_with, setup, wait_drained, STREAM};
use crate::harness::nats::*;
use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_pauses_the_sink_and_a_reload_with_the_right_one_delivers_all() {
    let Some(bin) = nats_or_skip("a_wrong_password_pauses_the_sink") else {
        return;
    };
    let (user, password) = ("dockgate", "right-horse-battery");
    let server = NatsServer::start_with(
        &bin,
        NatsOptions {
            auth: Some(NatsAuth::User(user.into(), password.into())),
            ..Default::default()
        },
    )
    .await;
    let jet = Jet::connect_with(
        &server.url(),
        ConnectOptions::new().user_and_password(user.into(), password.into()),
    )
    .await;
    jet.create_stream(stream_config(STREAM, &["dockgate.>"]))
        .await;
    let secrets = tempfile::tempdir().expect("a tempdir for the password files");
    let wrong = secrets.path().join("nats-password");
    write_file(&wrong, "wrong-staple\n");
    let sink = NatsSink::new("backbone", &server.url(), STREAM)
        .retry_max("500ms")
        .with(&format!(
            "[sinks.backbone.auth]\nusername = {user:?}\npassword_file = {:?}\n",
            wrong.display().to_string()
        ));
    let daemon = Daemon::start(setup(&[&sink])).await;
    let body = events_over(20, "pick.confirmed", "SO", 5);
    let mut acked = daemon.post_events(&json!(body), None).await.ids();

    let s = daemon.wait_sink_state("backbone", "paused").await;
    let reason = s["paused_reason"].as_str().unwrap_or_default();
    assert!(
        reason.to_lowercase().contains("unauthorized"),
        "paused_reason: {s}"
    );
    // Probed while paused: the server keeps seeing logins fail.
    let failed = || server.log().matches("authentication error").count();
    let first = failed();
    wait_until(
        secs(20),
        "the paused sink tried to log in 3 more times",
        async || failed() >= first + 3,
    )
    .await;
    let s = daemon.sink("backbone").await;
    assert_eq!(s["state"], "paused", "{s}");
    assert_eq!(s["dead"], 0, "no dead letters for a login refused: {s}");
    assert_eq!(s["pending"], 20, "events stay pending: {s}");
    assert_eq!(jet.count(STREAM).await, 0);
    assert_eq!(
        metric_total(&daemon.metrics().await, "dockgate_sink_paused"),
        1.0
    );
    acked.extend(
        daemon
            .post_events(&event("pick.confirmed", "SO-1", json!({ "i": 20 })), None)
            .await
            .ids(),
    );

    // The operator puts the right password in a new file and reloads (secret files are read
    // when a sink starts).
    let right = secrets.path().join("nats-password.new");
    write_file(&right, &format!("{password}\n"));
    reload_with(&daemon, |c| {
        c.replace(&wrong.display().to_string(), &right.display().to_string())
    });

    jet.wait_count(STREAM, acked.len() as u64, secs(30)).await;
    wait_drained(&daemon, "backbone", secs(20)).await;
    check_stream(&jet, STREAM, &acked).await;
    // The sink the reload started delivers: the gauge a dashboard alerts on must say so too.
    assert_eq!(
        metric_total(&daemon.metrics().await, "dockgate_sink_paused"),
        0.0,
        "dockgate_sink_paused once the reloaded sink has delivered everything"
    );
}

/// A server requiring `auth`, the test's own client logging in with `client`, and a sink whose
/// `[auth]` has `key` = a file holding `secret`: the sink logs in, and every event arrives once,
/// in order.
async fn the_sink_logs_in_with(
    bin: &std::path::Path,
    auth: NatsAuth,
    client: ConnectOptions,
    key: &str,
    secret: &str,
) {
    let server = NatsServer::start_with(
        bin,
        NatsOptions {
            auth: Some(auth),
            ..Default::default()
        },
    )
    .await;
    let jet = Jet::connect_with(&server.url(), client).await;
    jet.create_stream(stream_config(STREAM, &["dockgate.>"]))
        .await;
    let secrets = tempfile::tempdir().expect("a tempdir for the secret file");
    let file = secrets.path().join("nats-secret");
    write_file(&file, &format!("{secret}\n"));
    let sink = NatsSink::new("backbone", &server.url(), STREAM).with(&format!(
        "[sinks.backbone.auth]\n{key} = {:?}\n",
        file.display().to_string()
    ));
    let daemon = Daemon::start(setup(&[&sink])).await;
    let body = events_over(10, "shipment.loaded", "SSCC", 3);
    let acked = daemon.post_events(&json!(body), None).await.ids();
    jet.wait_count(STREAM, acked.len() as u64, secs(20)).await;
    wait_drained(&daemon, "backbone", secs(20)).await;
    check_stream(&jet, STREAM, &acked).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_logs_the_sink_in() {
    let Some(bin) = nats_or_skip("a_token_logs_the_sink_in") else {
        return;
    };
    let token = "s3cret-token-of-the-backbone";
    the_sink_logs_in_with(
        &bin,
        NatsAuth::Token(token.into()),
        ConnectOptions::new().token(token.into()),
        "token_file",
        token,
    )
    .await;
}

/// The user NKey of the NATS documentation's NKey example (a test key, public knowledge).
const NKEY_SEED: &str = "SUACSSL3UAHUDXKFSNVUZRF5UHPMWZ6BFDTJ7M6USDXIEDNPPQYYYCU3VY";
const NKEY_PUBLIC: &str = "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4";

#[tokio::test(flavor = "multi_thread")]
async fn an_nkey_seed_logs_the_sink_in() {
    let Some(bin) = nats_or_skip("an_nkey_seed_logs_the_sink_in") else {
        return;
    };
    the_sink_logs_in_with(
        &bin,
        NatsAuth::Nkey(NKEY_PUBLIC.into()),
        ConnectOptions::with_nkey(NKEY_SEED.into()),
        "nkey_seed_file",
        NKEY_SEED,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_with_a_company_ca_is_trusted_with_ca_file_and_only_then() {
    let Some(bin) = nats_or_skip("tls_with_a_company_ca") else {
        return;
    };
    let pki = make_pki("dockgate hil NATS CA", &["127.0.0.1", "localhost"]);
    let server = NatsServer::start_with(
        &bin,
        NatsOptions {
            tls: Some((
                pki.cert_pem.clone(),
                pki.key_pem.clone(),
                pki.ca_pem.clone(),
            )),
            ..Default::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().expect("a tempdir for the CA file");
    let ca = dir.path().join("company-ca.pem");
    write_file(&ca, &pki.ca_pem);
    let jet = Jet::connect_with(
        &server.url(),
        ConnectOptions::new()
            .add_root_certificates(ca.clone())
            .require_tls(true),
    )
    .await;
    jet.create_stream(stream_config(STREAM, &["dockgate.>"]))
        .await;
    let trusting = NatsSink::new("backbone", &server.url(), STREAM).with(&format!(
        "[sinks.backbone.tls]\nca_file = {:?}\n",
        ca.display().to_string()
    ));
    let untrusting = NatsSink::new("untrusting", &server.url(), STREAM);
    let daemon = Daemon::start(setup(&[&trusting, &untrusting])).await;
    let body = events_over(10, "receipt.confirmed", "SSCC", 3);
    let acked = daemon.post_events(&json!(body), None).await.ids();
    jet.wait_count(STREAM, acked.len() as u64, secs(20)).await;
    wait_drained(&daemon, "backbone", secs(20)).await;
    // Without the CA the server is not trusted: nothing of that sink arrives.
    let s = wait_for(
        secs(20),
        "the untrusting sink names the certificate",
        async || {
            let s = daemon.sink("untrusting").await;
            match s["last_error"].as_str() {
                Some(e) if e.to_lowercase().contains("certificate") => Ok(s),
                _ => Err(s.to_string()),
            }
        },
    )
    .await;
    assert_eq!(s["pending"], 10, "{s}");
    check_stream(&jet, STREAM, &acked).await;
}

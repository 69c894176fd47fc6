//! OAuth2 client credentials against a token endpoint stand-in whose tokens expire: dockgate
//! fetches a token, keeps it, replaces it before it expires (the receiver never sees an
//! expired one), fetches a new one once when the receiver refuses a revoked token and sends
//! the request again at once under the same key, rides out an outage of the endpoint with its backoff (no hot loop) and
//! delivers after it, and pauses the sink when the endpoint refuses the client.

use std::time::Duration;

use serde_json::json;

use crate::harness::*;

const CLIENT: &str = "dockgate-wh-hil";
const SECRET: &str = "s3cr3t-client-secret";

/// An ERP that takes only the endpoint's tokens, and a daemon whose sink fetches them.
async fn setup(tokens: &TokenServer, secret: &str) -> (StandIn, Daemon, tempfile::TempDir) {
    let erp = StandIn::start("erp", Mode::RequireHeaders(tokens.accepts())).await;
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("erp.secret");
    write_file(&secret_file, &format!("{secret}\n"));
    let daemon = Daemon::start(Setup::new(vec![SinkSpec::new("erp", &erp).with(&format!(
        "[sinks.erp.auth]\noauth2_token_url = {:?}\noauth2_client_id = {CLIENT:?}\n\
             oauth2_client_secret_file = {:?}\noauth2_scope = \"erp.write\"\n",
        tokens.url(),
        secret_file.display().to_string()
    ))]))
    .await;
    (erp, daemon, dir)
}

async fn post(daemon: &Daemon, n: usize) -> String {
    daemon
        .post_events(
            &json!({"type": "pick.confirmed", "subject": format!("SO-{n}"), "data": {"n": n}}),
            None,
        )
        .await
        .ids()
        .remove(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_fetched_kept_and_renewed_before_they_expire() {
    let tokens = TokenServer::start(CLIENT, SECRET, Duration::from_secs(2)).await;
    let (erp, daemon, _dir) = setup(&tokens, SECRET).await;
    // Events for longer than three lifetimes of a token.
    let mut ids = Vec::new();
    for n in 0..35 {
        ids.push(post(&daemon, n).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    erp.wait_received(&ids, secs(20), "every event with a valid token")
        .await;
    assert_eq!(
        erp.count(&Outcome::Answered(401)),
        0,
        "a token is replaced before it expires"
    );
    let fetched = tokens.issued();
    assert!(
        (3..=12).contains(&fetched),
        "one token per lifetime or so, not one per request: {fetched}"
    );
    let fetch = &tokens.fetches()[0];
    assert_eq!(fetch.client_id, CLIENT);
    assert!(fetch.form.contains("scope=erp.write"), "{}", fetch.form);
    assert!(
        !daemon.log().contains(SECRET) && !daemon.log().contains("tok-"),
        "neither the secret nor a token is logged"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_token_is_replaced_once_and_the_request_sent_again_at_once() {
    let tokens = TokenServer::start(CLIENT, SECRET, Duration::from_secs(3600)).await;
    let (erp, daemon, _dir) = setup(&tokens, SECRET).await;
    let first = post(&daemon, 1).await;
    erp.wait_received(std::slice::from_ref(&first), secs(10), "the first event")
        .await;
    assert_eq!(tokens.issued(), 1);
    // The ERP revokes the token: one 401, a new token, the same request again at once.
    tokens.revoke_all();
    let id = post(&daemon, 2).await;
    erp.wait_received(
        std::slice::from_ref(&id),
        secs(10),
        "the event after the revocation",
    )
    .await;
    assert_eq!(erp.count(&Outcome::Answered(401)), 1);
    assert_eq!(tokens.issued(), 2);
    let resent: Vec<_> = erp.requests().into_iter().skip(1).collect();
    assert_eq!(resent.len(), 2);
    assert!(
        resent[1].at.duration_since(resent[0].at) < Duration::from_millis(500),
        "sent again at once, not after a backoff"
    );
    assert_eq!(resent[0].key(), resent[1].key(), "under the same key");
    assert_eq!(daemon.sink("erp").await["state"], "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_endpoint_outage_is_ridden_out_with_backoff() {
    let tokens = TokenServer::start(CLIENT, SECRET, Duration::from_secs(1)).await;
    let (erp, daemon, _dir) = setup(&tokens, SECRET).await;
    let first = post(&daemon, 1).await;
    erp.wait_received(std::slice::from_ref(&first), secs(10), "the first event")
        .await;
    tokens.set_mode(TokenMode::Down);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let waiting = post(&daemon, 2).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = tokens.fetches().iter().filter(|f| f.status == 503).count();
    // Full jitter draws each wait between 50 ms and the doubling cap, so a run of short draws
    // makes 15 fetches now and then (seen once in a loaded suite run); a loop would make
    // hundreds.
    assert!(
        (1..=30).contains(&during),
        "retried with the sink's backoff (retry_max 1 s), not in a loop: {during} fetches in 3 s"
    );
    let sink = daemon.sink("erp").await;
    assert!(
        sink["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("token endpoint") && e.contains("503")),
        "{sink}"
    );
    assert_eq!(daemon.events("erp", "pending").await.len(), 1);
    tokens.set_mode(TokenMode::Up);
    erp.wait_received(
        std::slice::from_ref(&waiting),
        secs(10),
        "the event after the outage",
    )
    .await;
    assert_eq!(erp.duplicates(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_client_pauses_the_sink_and_names_what_to_check() {
    let tokens = TokenServer::start(CLIENT, SECRET, Duration::from_secs(60)).await;
    let (erp, daemon, _dir) = setup(&tokens, "not-the-secret").await;
    post(&daemon, 1).await;
    let sink = daemon.wait_sink_state("erp", "paused").await;
    assert_eq!(sink["paused_reason"], "token_refused", "{sink}");
    let error = sink["last_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("oauth2_client_secret_file") && !error.contains("not-the-secret"),
        "{error}"
    );
    assert_eq!(erp.request_count(), 0, "nothing is sent without a token");
    assert_eq!(daemon.events("erp", "pending").await.len(), 1);
}

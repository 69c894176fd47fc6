//! Sinks behind a company's TLS and proxy: an HTTPS receiver whose certificate a test CA
//! signed is reached with `tls.ca_file` (also with `only_ca_file`) and refused without it, the
//! reason naming the certificate; a receiver that wants a client certificate gets one from
//! `tls.client_cert_file`; a proxy is taken from `proxy` or from `HTTPS_PROXY`, and `NO_PROXY`
//! is honoured. Secret files are read when the sink starts: a missing one stops the start
//! naming its key.

use serde_json::json;

use crate::harness::*;

async fn post(daemon: &Daemon, subject: &str) -> String {
    daemon
        .post_events(
            &json!({"type": "shipment.loaded", "subject": subject, "data": {"sscc": subject}}),
            None,
        )
        .await
        .ids()
        .remove(0)
}

/// Waits until sink `name`'s last error contains every one of `words`.
async fn wait_error(daemon: &Daemon, name: &str, words: &[&str]) -> String {
    wait_for(
        secs(20),
        &format!("sink {name} reports {words:?}"),
        async || {
            let sink = daemon.sink(name).await;
            let error = sink["last_error"].as_str().unwrap_or_default().to_owned();
            if words.iter().all(|w| error.contains(w)) {
                Ok(error)
            } else {
                Err(sink.to_string())
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_company_ca_is_trusted_with_ca_file_and_only_then() {
    let pki = make_pki("dockgate hil company CA", &["localhost"]);
    let erp = StandIn::start("erp", Mode::Ok).await;
    let front = TlsFront::start(&erp, &pki.cert_pem, &pki.key_pem, None).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("company-ca.pem");
    write_file(&ca, &pki.ca_pem);
    let ca = ca.display().to_string();
    let url = front.url("localhost");
    let daemon = Daemon::start(Setup::new(vec![
        SinkSpec::new("erp", &erp)
            .url(&url)
            .with(&format!("[sinks.erp.tls]\nca_file = {ca:?}\n")),
        SinkSpec::new("erp-only", &erp).url(&url).with(&format!(
            "[sinks.erp-only.tls]\nca_file = {ca:?}\nonly_ca_file = true\n"
        )),
        SinkSpec::new("untrusting", &erp).url(&url),
    ]))
    .await;
    let id = post(&daemon, "SSCC-1").await;
    wait_until(secs(20), "both trusting sinks delivered", async || {
        daemon.events("erp", "delivered").await.len() == 1
            && daemon.events("erp-only", "delivered").await.len() == 1
    })
    .await;
    assert!(erp.unique_ids().contains(&id));
    let error = wait_error(&daemon, "untrusting", &["certificate", "tls.ca_file"]).await;
    eprintln!("without the CA: {error}");
    assert!(
        error.contains("UnknownIssuer") || error.contains("unknown issuer"),
        "{error}"
    );
    assert_eq!(daemon.events("untrusting", "pending").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_that_wants_a_client_certificate_gets_the_configured_one() {
    let server = make_pki("dockgate hil server CA", &["localhost"]);
    let clients = make_pki("dockgate hil client CA", &["unused"]);
    let (cert_pem, key_pem) = clients.client("dockgate-wh-hil");
    let erp = StandIn::start("erp", Mode::Ok).await;
    let front = TlsFront::start(
        &erp,
        &server.cert_pem,
        &server.key_pem,
        Some(&clients.ca_pem),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        write_file(&path, text);
        path.display().to_string()
    };
    let (ca, cert, key) = (
        file("ca.pem", &server.ca_pem),
        file("client.pem", &cert_pem),
        file("client.key", &key_pem),
    );
    let url = front.url("localhost");
    let daemon = Daemon::start(Setup::new(vec![
        SinkSpec::new("erp", &erp).url(&url).with(&format!(
            "[sinks.erp.tls]\nca_file = {ca:?}\nclient_cert_file = {cert:?}\nclient_key_file = {key:?}\n"
        )),
        SinkSpec::new("anonymous", &erp)
            .url(&url)
            .with(&format!("[sinks.anonymous.tls]\nca_file = {ca:?}\n")),
    ]))
    .await;
    let id = post(&daemon, "SSCC-2").await;
    erp.wait_received(&[id], secs(20), "the event over mutual TLS")
        .await;
    wait_until(secs(20), "the ERP's copy recorded", async || {
        daemon.events("erp", "delivered").await.len() == 1
    })
    .await;
    // The handshake fails without a certificate: retried, never delivered.
    let error = wait_error(&daemon, "anonymous", &["tls.client_cert_file"]).await;
    eprintln!("without a client certificate: {error}");
    assert_eq!(daemon.events("anonymous", "pending").await.len(), 1);

    // A missing key file stops the start, naming its key.
    let path = dir.path().join("dockgate.toml");
    write_file(
        &path,
        &format!(
            "version = 1\n[site]\nid = \"wh-hil\"\ndata_dir = {:?}\n[admin]\nlisten = \"127.0.0.1:{}\"\n\
             [sinks.erp]\nurl = {url:?}\n[sinks.erp.tls]\nclient_cert_file = {cert:?}\nclient_key_file = \"/nonexistent/client.key\"\n",
            dir.path().join("data").display().to_string(),
            free_port()
        ),
    );
    let out = dockgate(&["--config", &path.display().to_string(), "run"]).await;
    assert_eq!(out.code, Some(1), "{out:#?}");
    eprintln!("a missing key file: {}", out.stderr.trim());
    assert!(
        out.stderr
            .contains("tls.client_key_file /nonexistent/client.key"),
        "{out:#?}"
    );

    // A key of another certificate: named, with the certificate it does not belong to.
    let other_key = file("other.key", &server.key_pem);
    let text = std::fs::read_to_string(&path)
        .expect("reading the config")
        .replace("/nonexistent/client.key", &other_key);
    write_file(&path, &text);
    let out = dockgate(&["--config", &path.display().to_string(), "run"]).await;
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(
        out.stderr.contains(&format!(
            "tls.client_key_file {other_key}: is not the private key of the certificate in \
             tls.client_cert_file {cert}"
        )),
        "{out:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_comes_from_the_sink_or_the_environment_and_no_proxy_is_honoured() {
    let pki = make_pki("dockgate hil company CA", &["localhost", "127.0.0.1"]);
    let erp = StandIn::start("erp", Mode::Ok).await;
    let front = TlsFront::start(&erp, &pki.cert_pem, &pki.key_pem, None).await;
    let configured = ConnectProxy::start().await;
    let environment = ConnectProxy::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("company-ca.pem");
    write_file(&ca, &pki.ca_pem);
    let tls = |name: &str| {
        format!(
            "[sinks.{name}.tls]\nca_file = {:?}\n",
            ca.display().to_string()
        )
    };
    let port = front.addr().port();
    let daemon = Daemon::start(
        Setup::new(vec![
            // `proxy` of its own.
            SinkSpec::new("erp", &erp)
                .url(&front.url("localhost"))
                .with(&format!("proxy = {:?}\n{}", configured.url(), tls("erp"))),
            // HTTPS_PROXY of the environment.
            SinkSpec::new("crm", &erp)
                .url(&front.url("localhost"))
                .with(&tls("crm")),
            // A host NO_PROXY lists: straight there.
            SinkSpec::new("local", &erp)
                .url(&front.url("127.0.0.1"))
                .with(&tls("local")),
        ])
        .env("HTTPS_PROXY", &environment.url())
        .env("NO_PROXY", "127.0.0.1"),
    )
    .await;
    post(&daemon, "SSCC-3").await;
    wait_until(secs(20), "every sink delivered", async || {
        let mut all = true;
        for sink in ["erp", "crm", "local"] {
            all &= daemon.events(sink, "delivered").await.len() == 1;
        }
        all
    })
    .await;
    let target = format!("localhost:{port}");
    assert_eq!(
        configured.targets(),
        std::slice::from_ref(&target),
        "the sink's own proxy"
    );
    assert_eq!(
        environment.targets(),
        [target],
        "HTTPS_PROXY, and not for the host NO_PROXY lists"
    );
}

//! MQTT over TLS with a user name and password, against a private mosquitto whose
//! certificate comes from a throwaway CA made at test time (rcgen): scans reach the ERP; a
//! wrong password, and a broker certificate from another CA, show on the device's status
//! with what to check, the daemon keeps running, and once the password is fixed the scans the
//! broker held for dockgate's persistent session arrive; a CA file that is not PEM is named
//! when the daemon starts (`dockgate config validate` names files, it does not read them).
//! Mutual TLS (a client certificate as well) works too.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::harness::*;

/// dockgate's account on the broker.
const DOCKGATE_USER: &str = "dockgate";
const DOCKGATE_PASSWORD: &str = "dg-Pa55word";
/// The scanners' account.
const SCANNER_USER: &str = "scanner";
const SCANNER_PASSWORD: &str = "sc-Pa55word";

/// A TLS broker with the certificate of `pki`, and the accounts of dockgate and the scanners.
async fn tls_broker(pki: &Pki) -> Broker {
    Broker::start_tls(&broker_tls(pki)).await
}

fn broker_tls(pki: &Pki) -> BrokerTls {
    BrokerTls {
        ca_pem: pki.ca_pem.clone(),
        cert_pem: pki.cert_pem.clone(),
        key_pem: pki.key_pem.clone(),
        users: vec![
            (DOCKGATE_USER.into(), DOCKGATE_PASSWORD.into()),
            (SCANNER_USER.into(), SCANNER_PASSWORD.into()),
        ],
        client_identity: None,
    }
}

/// dockgate's credentials as an operator installs them under /etc/dockgate: the CA that
/// signed the broker's certificate and the password file (with a final newline, as an editor
/// or `echo` writes it).
struct Secrets {
    dir: TempDir,
}

impl Secrets {
    fn new(ca_pem: &str, password: &str) -> Secrets {
        let dir = tempfile::Builder::new()
            .prefix("dockgate-hil-secrets-")
            .tempdir()
            .expect("creating the secrets tempdir");
        let s = Secrets { dir };
        write_file(&s.ca_file(), ca_pem);
        s.set_password(password);
        s
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.path().join("broker-ca.pem")
    }

    fn password_file(&self) -> PathBuf {
        self.dir.path().join("mqtt-password")
    }

    /// Writes dockgate's client certificate and key; returns the `[mqtt]` lines naming them.
    fn client_identity(&self, (cert_pem, key_pem): &(String, String)) -> String {
        let cert = self.dir.path().join("client.pem");
        let key = self.dir.path().join("client.key");
        write_file(&cert, cert_pem);
        write_file(&key, key_pem);
        format!(
            "client_cert_file = {:?}\nclient_key_file = {:?}\n",
            path_str(&cert),
            path_str(&key)
        )
    }

    fn set_password(&self, password: &str) {
        write_file(&self.password_file(), &format!("{password}\n"));
    }

    /// The `[mqtt]` table: `url` as given, CA and credentials from here.
    fn mqtt_table(&self, url: &str) -> String {
        format!(
            "[mqtt]\nurl = {url:?}\nca_file = {ca:?}\nusername = {DOCKGATE_USER:?}\n\
             password_file = {pw:?}\nkeep_alive = \"5s\"\n",
            ca = path_str(&self.ca_file()),
            pw = path_str(&self.password_file()),
        )
    }
}

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

/// dockgate with the `[mqtt]` table `mqtt`, one MQTT pick station and the ERP sink.
async fn start_station(erp: &StandIn, mqtt: &str, device: &str, topic: &str) -> Daemon {
    Daemon::start(
        Setup::new(vec![SinkSpec::new("erp", erp)])
            .toml(mqtt)
            .toml(&mqtt_pick(device, topic)),
    )
    .await
}

/// An MQTT pick station on `topic`.
fn mqtt_pick(id: &str, topic: &str) -> String {
    format!("[devices.{id}]\nsource = \"mqtt\"\nstation = \"pick\"\ntopic = {topic:?}\n")
}

/// Waits until device `id` is down with a `last_error` that contains every one of `words`;
/// returns the device's status entry.
async fn wait_down_with(daemon: &Daemon, id: &str, words: &[&str]) -> serde_json::Value {
    wait_for(
        secs(20),
        &format!("device {id} is down with an error naming {words:?}"),
        async || {
            let d = daemon.device(id).await;
            let error = d["last_error"].as_str().unwrap_or("");
            if d["up"] == false && words.iter().all(|w| error.contains(w)) {
                Ok(d)
            } else {
                Err(d.to_string())
            }
        },
    )
    .await
}

/// Lot numbers of the picks at the ERP, in arrival order.
fn lots(erp: &StandIn) -> Vec<String> {
    delivered_of(erp, "pick.confirmed")
        .iter()
        .map(|d| str_field(&d.event["data"], "lot"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn mqtt_tls_with_password_delivers_scans() {
    const DEVICE: &str = "pick-tls-1";
    const TOPIC: &str = "scanners/pick-tls-1";
    let pki = make_pki("dockgate hil CA", &["127.0.0.1", "localhost"]);
    let erp = StandIn::start("erp", Mode::Ok).await;
    let broker = tls_broker(&pki).await;
    assert!(
        broker.url().starts_with("mqtts://127.0.0.1:"),
        "{}",
        broker.url()
    );
    let secrets = Secrets::new(&pki.ca_pem, DOCKGATE_PASSWORD);
    // The broker is named by its IP address: rustls checks it against the certificate's IP
    // address entry.
    let daemon = start_station(&erp, &secrets.mqtt_table(&broker.url()), DEVICE, TOPIC).await;
    wait_device_up(&daemon, DEVICE, 0).await;
    broker.wait_subscribed(DAEMON_CLIENT_ID, 1).await;
    let login = format!("as {DAEMON_CLIENT_ID} ");
    assert!(
        broker
            .log()
            .lines()
            .any(|l| l.contains(&login) && l.contains(&format!("u'{DOCKGATE_USER}'"))),
        "the broker logged dockgate's login as user {DOCKGATE_USER}:\n{}",
        broker.log()
    );

    let scanner =
        MqttClient::connect_as(&broker, "scanner-tls-1", SCANNER_USER, SCANNER_PASSWORD).await;
    let gtin = gtin14("0950600013435");
    scan(&daemon, &scanner, TOPIC, "SO-7101").await;
    for n in 1..=3 {
        scan(
            &daemon,
            &scanner,
            TOPIC,
            gs1_item(&gtin, "251231", &format!("T{n}")),
        )
        .await;
    }
    scan(&daemon, &scanner, TOPIC, "CMD-DONE").await;

    let done = wait_type(&erp, "pick.completed", 1).await;
    assert_eq!(done[0].event["data"]["lines"], 3, "{}", done[0].event);
    assert_eq!(lots(&erp), ["T1", "T2", "T3"]);
    for d in delivered_of(&erp, "pick.confirmed") {
        check_device_event(&d.event, DEVICE, "pick").unwrap();
        assert_eq!(d.subject, "SO-7101", "{}", d.event);
    }
    let dev = daemon.device(DEVICE).await;
    assert_eq!(dev["up"], true, "{dev}");
    assert_eq!(dev["inputs"], 5, "{dev}");
    erp.check_subject_order().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn mqtt_mutual_tls_with_password_delivers_scans() {
    const DEVICE: &str = "pick-mtls";
    const TOPIC: &str = "scanners/pick-mtls";
    let pki = make_pki("dockgate hil CA", &["127.0.0.1", "localhost"]);
    let erp = StandIn::start("erp", Mode::Ok).await;
    // The broker wants a client certificate signed by its CA as well as the password.
    let broker = Broker::start_tls(&BrokerTls {
        client_identity: Some(pki.client("hil scanner")),
        ..broker_tls(&pki)
    })
    .await;
    let secrets = Secrets::new(&pki.ca_pem, DOCKGATE_PASSWORD);
    // Without a client certificate the broker refuses the handshake.
    let without = start_station(&erp, &secrets.mqtt_table(&broker.url()), DEVICE, TOPIC).await;
    let dev = wait_down_with(
        &without,
        DEVICE,
        &["TLS", "CertificateRequired", "client_cert_file"],
    )
    .await;
    eprintln!("device status without a client certificate: {dev}");
    drop(without);
    let identity = secrets.client_identity(&pki.client("dockgate"));
    let daemon = start_station(
        &erp,
        &format!("{}{identity}", secrets.mqtt_table(&broker.url())),
        DEVICE,
        TOPIC,
    )
    .await;
    wait_device_up(&daemon, DEVICE, 0).await;
    broker.wait_subscribed(DAEMON_CLIENT_ID, 1).await;
    let scanner =
        MqttClient::connect_as(&broker, "scanner-mtls", SCANNER_USER, SCANNER_PASSWORD).await;
    let gtin = gtin14("0950600013435");
    scan(&daemon, &scanner, TOPIC, "SO-7303").await;
    scan(&daemon, &scanner, TOPIC, gs1_item(&gtin, "251231", "M1")).await;
    scan(&daemon, &scanner, TOPIC, "CMD-DONE").await;
    let done = wait_type(&erp, "pick.completed", 1).await;
    assert_eq!(done[0].event["data"]["lines"], 1, "{}", done[0].event);
    assert_eq!(lots(&erp), ["M1"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn mqtt_tls_wrong_password_is_reported_and_nothing_is_lost() {
    const DEVICE: &str = "pick-tls-2";
    const TOPIC: &str = "scanners/pick-tls-2";
    let pki = make_pki("dockgate hil CA", &["127.0.0.1", "localhost"]);
    let erp = StandIn::start("erp", Mode::Ok).await;
    let broker = tls_broker(&pki).await;
    let secrets = Secrets::new(&pki.ca_pem, DOCKGATE_PASSWORD);
    let mut daemon = start_station(&erp, &secrets.mqtt_table(&broker.url()), DEVICE, TOPIC).await;
    // The first start makes dockgate's persistent session on the broker.
    wait_device_up(&daemon, DEVICE, 0).await;
    broker.wait_subscribed(DAEMON_CLIENT_ID, 1).await;
    let scanner =
        MqttClient::connect_as(&broker, "scanner-tls-2", SCANNER_USER, SCANNER_PASSWORD).await;
    scan(&daemon, &scanner, TOPIC, "SO-7202").await;

    // A password rotation gone wrong: the file gets a password the broker does not know.
    let status = daemon.terminate().await;
    assert!(status.success(), "SIGTERM is a clean stop, got {status}");
    secrets.set_password("not-the-password");
    daemon.restart().await;
    let dev = wait_down_with(
        &daemon,
        DEVICE,
        &["refused the login", &path_str(&secrets.password_file())],
    )
    .await;
    eprintln!("device status with a wrong password: {dev}");
    // The picker goes on scanning meanwhile; the broker keeps it for dockgate's session.
    let gtin = gtin14("0400638133393");
    let items: Vec<String> = (1..=4)
        .map(|n| gs1_item(&gtin, "270615", &format!("W{n}")))
        .collect();
    scanner
        .publish_all(
            TOPIC,
            items.iter().map(|s| s.clone().into_bytes()).collect(),
        )
        .await;
    // Several refused logins later, the daemon still runs and still reports the reason; the
    // log has it once, not once per retry.
    // (mosquitto logs a refused client as `<unknown>`; the scanner is never refused.)
    let refused = || {
        broker
            .log()
            .lines()
            .filter(|l| l.contains("disconnected, not authorised"))
            .count()
    };
    wait_until(
        secs(20),
        "the broker refused dockgate 3 times",
        async || refused() >= 3,
    )
    .await;
    let dev = wait_down_with(&daemon, DEVICE, &["refused the login"]).await;
    assert_eq!(dev["inputs"], 0, "{dev}");
    let warnings = daemon
        .log()
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("refused the login"))
        .count();
    assert_eq!(
        warnings,
        1,
        "one warning for a repeated failure:\n{}",
        daemon.log()
    );
    assert!(lots(&erp).is_empty(), "nothing arrived without a login");

    // Fixed, and the daemon restarted: the held scans arrive, in order, in the same session.
    secrets.set_password(DOCKGATE_PASSWORD);
    let status = daemon.terminate().await;
    assert!(status.success(), "SIGTERM is a clean stop, got {status}");
    daemon.restart().await;
    wait_device_up(&daemon, DEVICE, 0).await;
    wait_until(secs(30), "the held scans reached the ERP", async || {
        lots(&erp).len() >= items.len()
    })
    .await;
    scanner.publish(TOPIC, "CMD-DONE").await;
    let done = wait_type(&erp, "pick.completed", 1).await;
    assert_eq!(lots(&erp), ["W1", "W2", "W3", "W4"]);
    assert_eq!(done[0].event["data"]["lines"], 4, "{}", done[0].event);
    for d in delivered_of(&erp, "pick.confirmed") {
        assert_eq!(d.subject, "SO-7202", "{}", d.event);
    }
    erp.check_subject_order().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn mqtt_tls_broker_certificate_of_another_ca_is_reported() {
    const DEVICE: &str = "pick-tls-3";
    const TOPIC: &str = "scanners/pick-tls-3";
    let pki = make_pki("dockgate hil CA", &["127.0.0.1", "localhost"]);
    let other = make_pki("some other CA", &["127.0.0.1", "localhost"]);
    let erp = StandIn::start("erp", Mode::Ok).await;
    let broker = tls_broker(&pki).await;
    let secrets = Secrets::new(&other.ca_pem, DOCKGATE_PASSWORD);
    let daemon = start_station(&erp, &secrets.mqtt_table(&broker.url()), DEVICE, TOPIC).await;
    let dev = wait_down_with(
        &daemon,
        DEVICE,
        &["TLS", "UnknownIssuer", &path_str(&secrets.ca_file())],
    )
    .await;
    eprintln!("device status with an untrusted broker certificate: {dev}");
    assert!(
        !broker.log().contains(&format!("as {DAEMON_CLIENT_ID} ")),
        "dockgate must not log in to a broker it cannot verify"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mqtt_tls_broker_certificate_for_another_name_is_reported() {
    const DEVICE: &str = "pick-tls-4";
    const TOPIC: &str = "scanners/pick-tls-4";
    // The certificate names only localhost; dockgate is told 127.0.0.1.
    let pki = make_pki("dockgate hil CA", &["localhost"]);
    let erp = StandIn::start("erp", Mode::Ok).await;
    let broker = tls_broker(&pki).await;
    let secrets = Secrets::new(&pki.ca_pem, DOCKGATE_PASSWORD);
    let daemon = start_station(&erp, &secrets.mqtt_table(&broker.url()), DEVICE, TOPIC).await;
    let dev = wait_down_with(&daemon, DEVICE, &["TLS", "not valid for name", "127.0.0.1"]).await;
    eprintln!("device status with a certificate for another name: {dev}");
}

#[tokio::test]
async fn mqtt_tls_a_ca_file_that_is_not_pem_is_named_at_start() {
    let dir = TempDir::new().expect("tempdir");
    let secrets = Secrets::new("this is not a certificate\n", DOCKGATE_PASSWORD);
    let config = dir.path().join("dockgate.toml");
    write_file(
        &config,
        &format!(
            "version = 1\n[site]\nid = \"{SITE}\"\ndata_dir = {data:?}\n\
             [admin]\nlisten = \"127.0.0.1:{port}\"\n\
             [sinks.erp]\nurl = \"http://127.0.0.1:9/\"\n{mqtt}{device}",
            data = path_str(&dir.path().join("data")),
            port = free_port(),
            mqtt = secrets.mqtt_table("mqtts://127.0.0.1:8883"),
            device = mqtt_pick("pick-tls-5", "scanners/pick-tls-5"),
        ),
    );
    // `config validate` checks a file off the box too, where the CA file is not: it names
    // files without reading them. The daemon reads it as it starts, and says what is wrong.
    let out = dockgate(&["config", "validate", &path_str(&config)]).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    let out = dockgate(&["--config", &path_str(&config), "run"]).await;
    assert_ne!(out.code, Some(0), "{out:#?}");
    assert!(
        out.stderr.contains("mqtt.ca_file")
            && out.stderr.contains(&path_str(&secrets.ca_file()))
            && out.stderr.contains("PEM"),
        "the error names the key, the file and the expected format: {out:#?}"
    );
}

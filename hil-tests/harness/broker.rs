//! A private site broker per test: `mosquitto` on a free loopback port with its own config,
//! log and persistence directory (so a restart keeps sessions and queued messages), and
//! [`MqttClient`], a scanner/sensor stand-in on it (rumqttc) that publishes QoS 1 and records
//! what arrives on its subscriptions. [`Broker::start_tls`] gives it a TLS listener with
//! password authentication instead (the password file made by `mosquitto_passwd`).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{
    AsyncClient, Event, EventLoop, Incoming, MqttOptions, QoS, TlsConfiguration, Transport,
};
use tempfile::TempDir;
use tokio::task::JoinHandle;

use super::daemon::free_port;
use super::wait_until;

/// Where Debian's mosquitto package puts the broker (outside most users' PATH); elsewhere
/// `mosquitto` is looked up in PATH.
const MOSQUITTO_SBIN: &str = "/usr/sbin/mosquitto";

fn mosquitto() -> &'static str {
    if std::path::Path::new(MOSQUITTO_SBIN).exists() {
        MOSQUITTO_SBIN
    } else {
        "mosquitto"
    }
}

/// Where Debian's mosquitto package puts `mosquitto_passwd`; elsewhere it is looked up in PATH.
const MOSQUITTO_PASSWD_BIN: &str = "/usr/bin/mosquitto_passwd";

fn mosquitto_passwd() -> &'static str {
    if std::path::Path::new(MOSQUITTO_PASSWD_BIN).exists() {
        MOSQUITTO_PASSWD_BIN
    } else {
        "mosquitto_passwd"
    }
}

/// A TLS listener with password authentication (anonymous clients are refused).
#[derive(Debug, Clone)]
pub struct BrokerTls {
    /// CA certificate (PEM) that signed `cert_pem`; clients verify the broker with it.
    pub ca_pem: String,
    /// The broker's certificate (PEM).
    pub cert_pem: String,
    /// The broker's private key (PEM).
    pub key_pem: String,
    /// Accounts (user, password) of the broker's password file.
    pub users: Vec<(String, String)>,
    /// Certificate and key (PEM, signed by the CA) that test clients present: with it the
    /// broker requires a client certificate signed by the CA (mutual TLS).
    pub client_identity: Option<(String, String)>,
}

/// Time the broker gets to accept connections after it was spawned.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Time the broker gets to exit (and save its database) after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Time a publish gets for its PUBACK, a subscribe for its SUBACK.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// A mosquitto process with its config, log and persistence in a tempdir.
pub struct Broker {
    /// Holds config, log and the persistence database.
    dir: TempDir,
    port: u16,
    child: Option<Child>,
    log_path: PathBuf,
    config_path: PathBuf,
    /// CA certificate (PEM) of a TLS listener.
    ca_pem: Option<String>,
    /// Client certificate and key (PEM) test clients present.
    client_identity: Option<(String, String)>,
}

impl Broker {
    /// Writes a config and starts the broker on a free port; waits until it accepts
    /// connections.
    pub async fn start() -> Broker {
        Self::start_with(None).await
    }

    /// Like [`Broker::start`], with a TLS listener that wants a user name and password.
    pub async fn start_tls(tls: &BrokerTls) -> Broker {
        Self::start_with(Some(tls)).await
    }

    async fn start_with(tls: Option<&BrokerTls>) -> Broker {
        let dir = tempfile::Builder::new()
            .prefix("dockgate-hil-broker-")
            .tempdir()
            .expect("creating the broker's tempdir");
        let port = free_port();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("creating the broker's persistence directory");
        let mut conf = format!("listener {port} 127.0.0.1\n");
        match tls {
            None => conf.push_str("allow_anonymous true\n"),
            Some(tls) => conf.push_str(&tls_conf(dir.path(), tls)),
        }
        conf.push_str(&format!(
            "persistence true\n\
             persistence_location {data}/\n\
             max_inflight_messages 1000\n\
             max_queued_messages 100000\n\
             max_queued_bytes 0\n\
             log_dest stderr\n\
             log_type all\n\
             log_timestamp_format %H:%M:%S\n",
            data = data.display(),
        ));
        // As root, mosquitto would switch to the `mosquitto` user, which cannot write the
        // tempdir; `user root` keeps it as it is (ignored when not started as root).
        if running_as_root() {
            conf.push_str("user root\n");
        }
        let config_path = dir.path().join("mosquitto.conf");
        std::fs::write(&config_path, conf).expect("writing the broker config");
        let log_path = dir.path().join("mosquitto.log");
        let mut broker = Broker {
            dir,
            port,
            child: None,
            log_path,
            config_path,
            ca_pem: tls.map(|t| t.ca_pem.clone()),
            client_identity: tls.and_then(|t| t.client_identity.clone()),
        };
        broker.spawn().await;
        broker
    }

    /// `mqtt://127.0.0.1:<port>` (`mqtts://` with TLS), for dockgate's `[mqtt] url`.
    pub fn url(&self) -> String {
        let scheme = if self.ca_pem.is_some() {
            "mqtts"
        } else {
            "mqtt"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The CA certificate (PEM) of a TLS listener.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The broker's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Everything the broker logged so far (all runs).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    async fn spawn(&mut self) {
        assert!(self.child.is_none(), "the broker is already running");
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("opening the broker log");
        let _ = writeln!(log, "===== hil: starting mosquitto =====");
        let child = Command::new(mosquitto())
            .arg("-c")
            .arg(&self.config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::from(
                log.try_clone().expect("cloning the log handle"),
            ))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} (install mosquitto, see hil-tests/run.sh): {e}",
                    mosquitto()
                )
            });
        self.child = Some(child);
        let start = Instant::now();
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                self.child = None;
                panic!(
                    "mosquitto exited at start ({status}); its log:\n{}",
                    self.log()
                );
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            assert!(
                start.elapsed() < START_TIMEOUT,
                "mosquitto did not accept connections on port {} within {START_TIMEOUT:?}; its log:\n{}",
                self.port,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM (mosquitto saves its database), then waits (bounded) for the exit.
    pub async fn stop(&mut self) {
        let mut child = self.child.take().expect("stop: the broker is not running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("running kill -TERM");
        assert!(status.success(), "kill -TERM of mosquitto failed: {status}");
        let start = Instant::now();
        loop {
            if child.try_wait().expect("waiting for mosquitto").is_some() {
                return;
            }
            if start.elapsed() > STOP_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                panic!("mosquitto did not exit within {STOP_TIMEOUT:?} of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: nothing is saved since the last autosave.
    #[allow(dead_code)] // harness API for crash scenarios of the broker itself
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("kill: the broker is not running");
        child.kill().expect("sending SIGKILL to mosquitto");
        child.wait().expect("reaping mosquitto");
    }

    /// Starts the broker again on the same port and persistence directory (stopping it first
    /// if it runs).
    pub async fn restart(&mut self) {
        if self.child.is_some() {
            self.stop().await;
        }
        self.spawn().await;
    }

    /// Waits until the broker has answered `n` SUBSCRIBE topics (in total, over all its runs)
    /// of client `client_id` with a SUBACK: before that, a message published to the topic is
    /// not kept for the subscriber.
    pub async fn wait_subscribed(&self, client_id: &str, n: usize) {
        let marker = format!("Sending SUBACK to {client_id}");
        wait_until(
            Duration::from_secs(20),
            &format!("the broker acknowledged {n} subscriptions of {client_id}"),
            async || self.log().matches(&marker).count() >= n,
        )
        .await;
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let skip = lines.len().saturating_sub(80);
            eprintln!(
                "----- mosquitto log ({}, last {} lines) -----\n{}\n----- end of mosquitto log -----",
                self.log_path.display(),
                lines.len() - skip,
                lines[skip..].join("\n")
            );
            if let Ok(spare) = TempDir::new() {
                let kept = std::mem::replace(&mut self.dir, spare).keep();
                eprintln!(
                    "(broker config, log and database kept in {})",
                    kept.display()
                );
            }
        }
    }
}

/// Writes the certificates, key and password file of `tls` into `dir`; returns the listener's
/// config lines.
fn tls_conf(dir: &std::path::Path, tls: &BrokerTls) -> String {
    let file = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text)
            .unwrap_or_else(|e| panic!("writing the broker's {}: {e}", path.display()));
        path
    };
    let ca = file("ca.pem", &tls.ca_pem);
    let cert = file("broker.pem", &tls.cert_pem);
    let key = file("broker.key", &tls.key_pem);
    let passwd = dir.join("passwd");
    for (i, (user, password)) in tls.users.iter().enumerate() {
        // -c (create) for the first account only; -b takes the password from the command line.
        let mut cmd = Command::new(mosquitto_passwd());
        cmd.arg("-b");
        if i == 0 {
            cmd.arg("-c");
        }
        let out = cmd
            .arg(&passwd)
            .args([user, password])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {} (install mosquitto, see hil-tests/run.sh): {e}",
                    mosquitto_passwd()
                )
            });
        assert!(
            out.status.success(),
            "mosquitto_passwd failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(passwd.exists(), "a TLS broker needs at least one account");
    format!(
        "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate {}\nallow_anonymous false\n\
         password_file {}\n",
        ca.display(),
        cert.display(),
        key.display(),
        tls.client_identity.is_some(),
        passwd.display()
    )
}

/// Whether this process runs as root (mosquitto then drops privileges unless told not to).
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// One message received on a subscription.
#[derive(Debug, Clone)]
pub struct Received {
    /// Topic.
    pub topic: String,
    /// Payload.
    pub payload: Vec<u8>,
}

#[derive(Default)]
struct ClientState {
    connected: bool,
    pubacks: u64,
    subacks: u64,
    received: Vec<Received>,
    last_error: Option<String>,
}

/// A test MQTT client (clean session): publishes QoS 1 and waits for the broker's PUBACK,
/// subscribes and records what arrives. Its event loop runs in a task and reconnects by
/// itself after a broker restart.
pub struct MqttClient {
    client: AsyncClient,
    state: Arc<Mutex<ClientState>>,
    published: Mutex<u64>,
    task: JoinHandle<()>,
}

impl Drop for MqttClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MqttClient {
    /// Connects as `client_id` and waits for the CONNACK.
    pub async fn connect(broker: &Broker, client_id: &str) -> MqttClient {
        Self::connect_with(broker, client_id, None).await
    }

    /// Connects as `client_id` with a user name and password and waits for the CONNACK; over
    /// TLS (verifying the broker with its CA) when the broker has a TLS listener.
    pub async fn connect_as(
        broker: &Broker,
        client_id: &str,
        user: &str,
        password: &str,
    ) -> MqttClient {
        Self::connect_with(broker, client_id, Some((user, password))).await
    }

    async fn connect_with(
        broker: &Broker,
        client_id: &str,
        credentials: Option<(&str, &str)>,
    ) -> MqttClient {
        let mut options = MqttOptions::new(client_id, "127.0.0.1", broker.port());
        options.set_keep_alive(Duration::from_secs(5));
        options.set_clean_session(true);
        options.set_max_packet_size(4 << 20, 4 << 20);
        if let Some((user, password)) = credentials {
            options.set_credentials(user, password);
        }
        if let Some(ca) = broker.ca_pem() {
            options.set_transport(Transport::tls_with_config(TlsConfiguration::Simple {
                ca: ca.as_bytes().to_vec(),
                alpn: None,
                client_auth: broker
                    .client_identity
                    .as_ref()
                    .map(|(cert, key)| (cert.clone().into_bytes(), key.clone().into_bytes())),
            }));
        }
        let (client, eventloop) = AsyncClient::new(options, 1024);
        let state = Arc::new(Mutex::new(ClientState::default()));
        let task = tokio::spawn(drive(eventloop, state.clone()));
        let c = MqttClient {
            client,
            state,
            published: Mutex::new(0),
            task,
        };
        c.wait_connected().await;
        c
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ClientState> {
        self.state.lock().expect("MQTT client state poisoned")
    }

    /// Waits (bounded) until the client is connected.
    pub async fn wait_connected(&self) {
        let start = Instant::now();
        while !self.lock().connected {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the test MQTT client did not connect within 20 s; last error: {:?}",
                self.lock().last_error
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Publishes `payload` with QoS 1 and waits for the broker's PUBACK (after which the
    /// broker holds the message for dockgate's persistent session).
    pub async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.publish_all(topic, vec![payload.into()]).await;
    }

    /// Publishes every payload with QoS 1, pipelined, and waits until the broker has
    /// acknowledged all of them.
    pub async fn publish_all(&self, topic: &str, payloads: Vec<Vec<u8>>) {
        self.publish_with(topic, payloads, false).await;
    }

    /// Publishes `payload` with QoS 1, retained (the broker keeps it for later subscribers),
    /// and waits for the broker's PUBACK.
    pub async fn publish_retained(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.publish_with(topic, vec![payload.into()], true).await;
    }

    async fn publish_with(&self, topic: &str, payloads: Vec<Vec<u8>>, retain: bool) {
        self.wait_connected().await;
        let target = {
            let mut published = self.published.lock().expect("publish counter poisoned");
            *published += payloads.len() as u64;
            *published
        };
        for payload in payloads {
            self.client
                .publish(topic, QoS::AtLeastOnce, retain, payload)
                .await
                .unwrap_or_else(|e| panic!("queueing a publish to {topic} failed: {e}"));
        }
        let start = Instant::now();
        while self.lock().pubacks < target {
            assert!(
                start.elapsed() < ACK_TIMEOUT,
                "the broker did not acknowledge publishes to {topic} within {ACK_TIMEOUT:?} \
                 ({} of {target} PUBACKs; last error {:?})",
                self.lock().pubacks,
                self.lock().last_error
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Subscribes to `topic` (QoS 1) and waits for the SUBACK.
    pub async fn subscribe(&self, topic: &str) {
        self.wait_connected().await;
        let before = self.lock().subacks;
        self.client
            .subscribe(topic, QoS::AtLeastOnce)
            .await
            .unwrap_or_else(|e| panic!("subscribing to {topic} failed: {e}"));
        let start = Instant::now();
        while self.lock().subacks <= before {
            assert!(
                start.elapsed() < ACK_TIMEOUT,
                "no SUBACK for {topic} within {ACK_TIMEOUT:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Everything received on `topic` so far, in arrival order.
    pub fn received(&self, topic: &str) -> Vec<Received> {
        self.lock()
            .received
            .iter()
            .filter(|r| r.topic == topic)
            .cloned()
            .collect()
    }
}

/// Polls the event loop forever, recording acks and messages; after an error it waits a
/// little and polls again, which reconnects.
async fn drive(mut eventloop: EventLoop, state: Arc<Mutex<ClientState>>) {
    loop {
        match eventloop.poll().await {
            Ok(event) => {
                let mut s = state.lock().expect("MQTT client state poisoned");
                match event {
                    Event::Incoming(Incoming::ConnAck(_)) => {
                        s.connected = true;
                    }
                    Event::Incoming(Incoming::PubAck(_)) => s.pubacks += 1,
                    Event::Incoming(Incoming::SubAck(_)) => s.subacks += 1,
                    Event::Incoming(Incoming::Publish(p)) => s.received.push(Received {
                        topic: p.topic.clone(),
                        payload: p.payload.to_vec(),
                    }),
                    _ => {}
                }
            }
            Err(e) => {
                {
                    let mut s = state.lock().expect("MQTT client state poisoned");
                    s.connected = false;
                    s.last_error = Some(e.to_string());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

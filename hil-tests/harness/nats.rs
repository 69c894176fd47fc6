//! Private NATS JetStream servers per test: `nats-server` on free loopback ports with its own
//! config, log and store directory (a restart on the same port keeps the streams), alone or as
//! a three-node cluster routed on loopback; [`NatsSink`], the `[sinks.<name>]` table of a sink
//! of `type = "nats"`; and [`Jet`], the test's own JetStream client, which creates the stream
//! (dockgate never does) and reads it back through a consumer for the exactly-once and
//! per-subject order checks.

mod stream;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use super::daemon::free_port;
use super::{secs, wait_for};

pub use stream::{check_exactly_once_in_order, stream_config, Jet, NatsSink, StreamMsg};

/// Where Debian's nats-server package puts the server (outside most users' PATH); elsewhere
/// `nats-server` is looked up in PATH.
const NATS_SERVER_SBIN: &str = "/usr/sbin/nats-server";

/// Time a server gets to report healthy (JetStream ready) after it was spawned.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Time a server gets to exit (and flush its store) after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// Name of the test's own connections, told apart from dockgate's in `/connz`.
const TEST_CLIENT: &str = "dockgate-hil-consumer";

/// The nats-server binary, or why there is none (the NATS tests then say SKIPPED).
pub fn nats_server_binary() -> Result<PathBuf, String> {
    if Path::new(NATS_SERVER_SBIN).is_file() {
        return Ok(NATS_SERVER_SBIN.into());
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("nats-server"))
                .find(|p| p.is_file())
        })
        .ok_or_else(|| {
            format!(
                "nats-server is not installed ({NATS_SERVER_SBIN} or PATH; see hil-tests/run.sh)"
            )
        })
}

/// The nats-server binary; `None` after saying SKIPPED for `test` when there is none.
pub fn nats_or_skip(test: &str) -> Option<PathBuf> {
    match nats_server_binary() {
        Ok(bin) => Some(bin),
        Err(why) => {
            eprintln!("SKIPPED {test}: {why}");
            None
        }
    }
}

/// How clients must log in.
#[derive(Debug, Clone)]
pub enum NatsAuth {
    /// `authorization { user, password }`.
    User(String, String),
    /// `authorization { token }`.
    Token(String),
    /// `authorization { users: [{ nkey }] }`: the user's public NKey.
    Nkey(String),
}

/// What a server is started with besides JetStream.
#[derive(Debug, Clone, Default)]
pub struct NatsOptions {
    /// Login required of clients; anonymous otherwise.
    pub auth: Option<NatsAuth>,
    /// Certificate and key (PEM) of a TLS listener, with the CA (PEM) that signed them.
    pub tls: Option<(String, String, String)>,
    /// A hub: the port it takes leaf node connections on.
    pub leafnode_port: Option<u16>,
    /// The JetStream domain of this server (a hub's, so clients of a leaf node reach its
    /// stream API).
    pub domain: Option<String>,
    /// A leaf node of the hub taking leaf connections on this port: no JetStream of its own,
    /// the hub's streams reached through it.
    pub leaf_of: Option<u16>,
    /// A leaf node: the user and password its link to the hub logs in with.
    pub leaf_user: Option<(String, String)>,
    /// Server configuration put in as it is (an `accounts { ... }` block with users and their
    /// permissions, as docs/fleet.md has the centre's).
    pub extra: Option<String>,
}

/// Ports of one node and its cluster routes.
#[derive(Debug, Clone)]
struct Node {
    name: String,
    port: u16,
    monitor: u16,
    /// Own route port and the other nodes' route ports.
    cluster: Option<(u16, Vec<u16>)>,
}

/// A nats-server process with its config, log and JetStream store in a tempdir.
pub struct NatsServer {
    dir: TempDir,
    bin: PathBuf,
    node: Node,
    child: Option<Child>,
    config_path: PathBuf,
    log_path: PathBuf,
    options: NatsOptions,
    http: reqwest::Client,
}

impl NatsServer {
    /// One JetStream server on a free port, anonymous clients; waits until it is healthy.
    pub async fn start(bin: &Path) -> NatsServer {
        Self::start_with(bin, NatsOptions::default()).await
    }

    /// Like [`NatsServer::start`], with a login or TLS.
    pub async fn start_with(bin: &Path, options: NatsOptions) -> NatsServer {
        let node = Node {
            name: "n1".into(),
            port: free_port(),
            monitor: free_port(),
            cluster: None,
        };
        let mut server = Self::prepare(bin, node, options);
        server.spawn().await;
        server.wait_healthy().await;
        server
    }

    fn prepare(bin: &Path, node: Node, options: NatsOptions) -> NatsServer {
        let dir = tempfile::Builder::new()
            .prefix(&format!("dockgate-hil-nats-{}-", node.name))
            .tempdir()
            .expect("creating the NATS server's tempdir");
        let store = dir.path().join("store");
        std::fs::create_dir(&store).expect("creating the JetStream store directory");
        let mut conf = format!(
            "server_name: {name:?}\nlisten: \"127.0.0.1:{port}\"\nhttp: \"127.0.0.1:{monitor}\"\n\
             logtime: true\n",
            name = node.name,
            port = node.port,
            monitor = node.monitor,
        );
        match options.leaf_of {
            None => conf.push_str(&format!(
                "jetstream {{\n  store_dir: {:?}\n{}}}\n",
                store.display().to_string(),
                options
                    .domain
                    .as_ref()
                    .map(|d| format!("  domain: {d:?}\n"))
                    .unwrap_or_default()
            )),
            Some(hub) => conf.push_str(&format!(
                "leafnodes {{\n  remotes: [ {{ url: \"nats-leaf://{}127.0.0.1:{hub}\" }} ]\n}}\n",
                options
                    .leaf_user
                    .as_ref()
                    .map(|(u, p)| format!("{u}:{p}@"))
                    .unwrap_or_default()
            )),
        }
        if let Some(port) = options.leafnode_port {
            conf.push_str(&format!(
                "leafnodes {{\n  listen: \"127.0.0.1:{port}\"\n}}\n"
            ));
        }
        if let Some((own, others)) = &node.cluster {
            let routes: Vec<String> = others
                .iter()
                .map(|p| format!("\"nats-route://127.0.0.1:{p}\""))
                .collect();
            conf.push_str(&format!(
                "cluster {{\n  name: \"dockgate-hil\"\n  listen: \"127.0.0.1:{own}\"\n  \
                 routes: [{}]\n}}\n",
                routes.join(", ")
            ));
        }
        match &options.auth {
            None => {}
            Some(NatsAuth::User(user, password)) => conf.push_str(&format!(
                "authorization {{\n  user: {user:?}\n  password: {password:?}\n}}\n"
            )),
            Some(NatsAuth::Token(token)) => {
                conf.push_str(&format!("authorization {{\n  token: {token:?}\n}}\n"))
            }
            Some(NatsAuth::Nkey(public)) => conf.push_str(&format!(
                "authorization {{\n  users: [{{ nkey: {public:?} }}]\n}}\n"
            )),
        }
        if let Some(extra) = &options.extra {
            conf.push_str(extra);
            conf.push('\n');
        }
        if let Some((cert, key, _)) = &options.tls {
            let cert_path = dir.path().join("server.pem");
            let key_path = dir.path().join("server.key");
            std::fs::write(&cert_path, cert).expect("writing the server certificate");
            std::fs::write(&key_path, key).expect("writing the server key");
            conf.push_str(&format!(
                "tls {{\n  cert_file: {:?}\n  key_file: {:?}\n}}\n",
                cert_path.display().to_string(),
                key_path.display().to_string()
            ));
        }
        let config_path = dir.path().join("nats-server.conf");
        std::fs::write(&config_path, conf).expect("writing the NATS server config");
        let log_path = dir.path().join("nats-server.log");
        NatsServer {
            dir,
            bin: bin.to_owned(),
            node,
            child: None,
            config_path,
            log_path,
            options,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("building an HTTP client"),
        }
    }

    /// `nats://127.0.0.1:<port>` (`tls://` with TLS), for the sink's `url`.
    pub fn url(&self) -> String {
        let scheme = if self.options.tls.is_some() {
            "tls"
        } else {
            "nats"
        };
        format!("{scheme}://127.0.0.1:{}", self.node.port)
    }

    /// `server_name` of the node.
    pub fn name(&self) -> &str {
        &self.node.name
    }

    /// Whether the process runs.
    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// Everything the server logged so far (all runs).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    async fn spawn(&mut self) {
        assert!(self.child.is_none(), "the NATS server is already running");
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("opening the NATS server log");
        let _ = writeln!(log, "===== hil: starting nats-server =====");
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(&self.config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::from(
                log.try_clone().expect("cloning the log handle"),
            ))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        self.child = Some(child);
        let start = Instant::now();
        loop {
            self.assert_alive("at start");
            if tokio::net::TcpStream::connect(("127.0.0.1", self.node.port))
                .await
                .is_ok()
            {
                return;
            }
            assert!(
                start.elapsed() < START_TIMEOUT,
                "nats-server {} did not accept connections on port {} within {START_TIMEOUT:?}; \
                 its log:\n{}",
                self.node.name,
                self.node.port,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn assert_alive(&mut self, when: &str) {
        if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
            self.child = None;
            panic!(
                "nats-server {} exited {when} ({status}); its log:\n{}",
                self.node.name,
                self.log()
            );
        }
    }

    /// Waits until the monitoring endpoint's `/healthz` answers 200: JetStream is up and, in a
    /// cluster, in contact with a meta leader and caught up.
    pub async fn wait_healthy(&mut self) {
        let url = format!("http://127.0.0.1:{}/healthz", self.node.monitor);
        let start = Instant::now();
        loop {
            self.assert_alive("while starting");
            let seen = match self.http.get(&url).send().await {
                Ok(r) if r.status() == 200 => return,
                Ok(r) => format!("{}: {}", r.status(), r.text().await.unwrap_or_default()),
                Err(e) => e.to_string(),
            };
            assert!(
                start.elapsed() < START_TIMEOUT,
                "nats-server {} not healthy within {START_TIMEOUT:?} ({seen}); its log:\n{}",
                self.node.name,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A JSON page of the monitoring endpoint (`/jsz`, `/connz`, ...).
    async fn monitor(&self, path: &str) -> Result<Value, String> {
        let url = format!("http://127.0.0.1:{}{path}", self.node.monitor);
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        resp.json()
            .await
            .map_err(|e| format!("GET {url}: not JSON: {e}"))
    }

    /// Names of the clients connected to this node other than the test's own.
    pub async fn other_clients(&self) -> Vec<String> {
        let connz = self.monitor("/connz").await.unwrap_or_default();
        connz["connections"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| c["name"].as_str().unwrap_or("").to_owned())
                    .filter(|n| n != TEST_CLIENT)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// SIGTERM (the server flushes its store), then waits (bounded) for the exit.
    pub async fn stop(&mut self) {
        let mut child = self
            .child
            .take()
            .expect("stop: the NATS server is not running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("running kill -TERM");
        assert!(
            status.success(),
            "kill -TERM of nats-server failed: {status}"
        );
        let start = Instant::now();
        loop {
            if child.try_wait().expect("waiting for nats-server").is_some() {
                return;
            }
            if start.elapsed() > STOP_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                panic!("nats-server did not exit within {STOP_TIMEOUT:?} of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: what the store had not written is lost (a cluster node gets it back from its
    /// peers).
    pub fn kill(&mut self) {
        let mut child = self
            .child
            .take()
            .expect("kill: the NATS server is not running");
        child.kill().expect("sending SIGKILL to nats-server");
        child.wait().expect("reaping nats-server");
    }

    /// Changes the configuration file that the next [`Self::restart`] reads, as an operator
    /// corrects it.
    pub fn edit_config(&self, edit: impl FnOnce(String) -> String) {
        let text = std::fs::read_to_string(&self.config_path).expect("reading the NATS config");
        std::fs::write(&self.config_path, edit(text)).expect("writing the NATS config");
    }

    /// Starts the server again on the same ports and store (stopping it first if it runs);
    /// waits until it is healthy.
    pub async fn restart(&mut self) {
        if self.child.is_some() {
            self.stop().await;
        }
        self.spawn().await;
        self.wait_healthy().await;
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let skip = lines.len().saturating_sub(60);
            eprintln!(
                "----- nats-server {} log ({}, last {} lines) -----\n{}\n----- end of nats-server log -----",
                self.node.name,
                self.log_path.display(),
                lines.len() - skip,
                lines[skip..].join("\n")
            );
            if let Ok(spare) = TempDir::new() {
                let kept = std::mem::replace(&mut self.dir, spare).keep();
                eprintln!("(NATS config, log and store kept in {})", kept.display());
            }
        }
    }
}

/// Three JetStream nodes `n1`..`n3` with routes to each other on loopback, cluster
/// `dockgate-hil`, each with its own store.
pub struct NatsCluster {
    /// The nodes, `n1` first.
    pub nodes: Vec<NatsServer>,
}

impl NatsCluster {
    /// Starts the three nodes and waits until each is healthy and JetStream has a meta leader.
    pub async fn start(bin: &Path) -> NatsCluster {
        let routes: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let mut nodes: Vec<NatsServer> = (0..3)
            .map(|i| {
                let others = routes
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, p)| *p)
                    .collect();
                let node = Node {
                    name: format!("n{}", i + 1),
                    port: free_port(),
                    monitor: free_port(),
                    cluster: Some((routes[i], others)),
                };
                NatsServer::prepare(bin, node, NatsOptions::default())
            })
            .collect();
        // All before any health check: a node is healthy only once it sees a meta leader,
        // which takes a quorum.
        for node in &mut nodes {
            node.spawn().await;
        }
        for node in &mut nodes {
            node.wait_healthy().await;
        }
        let cluster = NatsCluster { nodes };
        cluster.wait_meta_leader().await;
        cluster
    }

    /// Every node's URL, comma-separated, for the sink's `url`.
    pub fn url(&self) -> String {
        self.nodes
            .iter()
            .map(NatsServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The node named `name`.
    pub fn node(&mut self, name: &str) -> &mut NatsServer {
        self.nodes
            .iter_mut()
            .find(|n| n.name() == name)
            .unwrap_or_else(|| panic!("no node {name} in the cluster"))
    }

    /// Waits until a running node reports a JetStream meta leader (`/jsz`); returns its name.
    pub async fn wait_meta_leader(&self) -> String {
        wait_for(secs(30), "JetStream has a meta leader", async || {
            let mut seen = Vec::new();
            for node in self.nodes.iter().filter(|n| n.running()) {
                match node.monitor("/jsz").await {
                    Ok(jsz) => match jsz["meta_cluster"]["leader"].as_str() {
                        Some(leader) if !leader.is_empty() => return Ok(leader.to_owned()),
                        _ => seen.push(format!("{}: {}", node.name(), jsz["meta_cluster"])),
                    },
                    Err(e) => seen.push(e),
                }
            }
            Err(seen.join("; "))
        })
        .await
    }

    /// The running node dockgate (any client but the test's) is connected to, if any.
    pub async fn node_of_other_client(&self) -> Option<String> {
        for node in self.nodes.iter().filter(|n| n.running()) {
            if !node.other_clients().await.is_empty() {
                return Some(node.name().to_owned());
            }
        }
        None
    }
}

//! The test's side of a NATS sink: [`NatsSink`], the `[sinks.<name>]` table dockgate is
//! started with; [`Jet`], the test's JetStream client, which creates the stream (dockgate never
//! does) and reads it back through a consumer; and the exactly-once, per-subject order check
//! over what it read.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer, stream};
use async_nats::ConnectOptions;
use futures_util::StreamExt;
use serde_json::Value;

use super::super::{secs, wait_for};
use super::TEST_CLIENT;

/// One `[sinks.<name>]` table of `type = "nats"`. Defaults suit tests: short retries.
#[derive(Debug, Clone)]
pub struct NatsSink {
    name: String,
    url: String,
    stream: String,
    subject: Option<String>,
    batch_max_events: usize,
    concurrency: usize,
    timeout: String,
    retry_initial: String,
    retry_max: String,
    extra: String,
}

impl NatsSink {
    /// Sink `name` publishing to `url` (one or more servers, comma-separated) into `stream`.
    pub fn new(name: &str, url: &str, stream: &str) -> Self {
        Self {
            name: name.to_owned(),
            url: url.to_owned(),
            stream: stream.to_owned(),
            subject: None,
            batch_max_events: 100,
            concurrency: 4,
            timeout: "2s".to_owned(),
            retry_initial: "50ms".to_owned(),
            retry_max: "1s".to_owned(),
            extra: String::new(),
        }
    }

    /// `subject`, the NATS subject template (dockgate's default otherwise).
    pub fn subject(mut self, template: &str) -> Self {
        self.subject = Some(template.to_owned());
        self
    }

    /// Events in one round of publishes.
    pub fn batch(mut self, n: usize) -> Self {
        self.batch_max_events = n;
        self
    }

    /// Per-publish timeout.
    pub fn timeout(mut self, t: &str) -> Self {
        self.timeout = t.to_owned();
        self
    }

    /// Longest backoff and probe interval of a paused sink.
    pub fn retry_max(mut self, t: &str) -> Self {
        self.retry_max = t.to_owned();
        self
    }

    /// Appends to the sink's table: `key = value` lines, then `[sinks.<name>.x]` tables.
    pub fn with(mut self, toml: &str) -> Self {
        self.extra.push_str(toml);
        if !self.extra.ends_with('\n') {
            self.extra.push('\n');
        }
        self
    }

    /// The table, for [`crate::harness::Setup::toml`].
    pub fn toml(&self) -> String {
        let subject = self
            .subject
            .as_ref()
            .map(|s| format!("subject = {s:?}\n"))
            .unwrap_or_default();
        format!(
            "[sinks.{name}]\ntype = \"nats\"\nurl = {url:?}\nstream = {stream:?}\n{subject}\
             events = [\"*\"]\nbatch_max_events = {batch}\nconcurrency = {conc}\n\
             timeout = {timeout:?}\nretry_initial = {ri:?}\nretry_max = {rm:?}\n{extra}",
            name = self.name,
            url = self.url,
            stream = self.stream,
            batch = self.batch_max_events,
            conc = self.concurrency,
            timeout = self.timeout,
            ri = self.retry_initial,
            rm = self.retry_max,
            extra = self.extra,
        )
    }
}

/// One message of a stream, as a consumer of it sees it.
#[derive(Debug, Clone)]
pub struct StreamMsg {
    /// Stream sequence.
    pub seq: u64,
    /// The NATS subject it was published to.
    pub subject: String,
    /// `Nats-Msg-Id`.
    pub msg_id: String,
    /// `Dockgate-Subject`.
    pub dockgate_subject: String,
    /// `Content-Type`.
    pub content_type: String,
    /// The body.
    pub body: Vec<u8>,
}

impl StreamMsg {
    /// The body as JSON (panics if it is not).
    pub fn event(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "stream message {} is not JSON ({e}): {}",
                self.seq,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// The test's JetStream client.
pub struct Jet {
    js: jetstream::Context,
}

impl Jet {
    /// Connects to `url` (one or more servers, comma-separated) anonymously.
    pub async fn connect(url: &str) -> Jet {
        Self::connect_with(url, ConnectOptions::new()).await
    }

    /// Connects to `url` with `options` (a login, a CA).
    pub async fn connect_with(url: &str, options: ConnectOptions) -> Jet {
        let addrs: Vec<async_nats::ServerAddr> = url
            .split(',')
            .map(|u| u.parse().unwrap_or_else(|e| panic!("NATS url {u}: {e}")))
            .collect();
        let client = options
            .name(TEST_CLIENT)
            .connection_timeout(secs(5))
            .request_timeout(Some(secs(3)))
            .connect(addrs)
            .await
            .unwrap_or_else(|e| panic!("the test's NATS client cannot connect to {url}: {e}"));
        Jet {
            js: jetstream::new(client),
        }
    }

    /// Creates a stream (retried for a while: a cluster may still be electing leaders).
    pub async fn create_stream(&self, config: stream::Config) {
        let name = config.name.clone();
        wait_for(secs(30), &format!("stream {name} is created"), async || {
            self.js
                .create_stream(config.clone())
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .await;
    }

    /// The stream's current info (panics on an error).
    pub async fn info(&self, name: &str) -> stream::Info {
        self.try_info(name)
            .await
            .unwrap_or_else(|e| panic!("info of stream {name}: {e}"))
    }

    /// The stream's current info.
    pub async fn try_info(&self, name: &str) -> Result<stream::Info, String> {
        let mut stream = self
            .js
            .get_stream(name)
            .await
            .map_err(|e| format!("getting stream {name}: {e}"))?;
        stream
            .info()
            .await
            .cloned()
            .map_err(|e| format!("info of stream {name}: {e}"))
    }

    /// Messages in the stream now (0 while it cannot be asked).
    pub async fn count(&self, name: &str) -> u64 {
        self.try_info(name)
            .await
            .map(|i| i.state.messages)
            .unwrap_or(0)
    }

    /// Changes the stream's configuration (central IT raising a limit, sealing it).
    pub async fn update_stream(&self, config: stream::Config) {
        self.js
            .update_stream(config.clone())
            .await
            .unwrap_or_else(|e| panic!("updating stream {}: {e}", config.name));
    }

    /// Every message of the stream, in stream order, read by a new ephemeral pull consumer from
    /// the first message on.
    pub async fn read_all(&self, name: &str) -> Vec<StreamMsg> {
        let stream = self
            .js
            .get_stream(name)
            .await
            .unwrap_or_else(|e| panic!("getting stream {name}: {e}"));
        let consumer = stream
            .create_consumer(consumer::pull::Config {
                deliver_policy: consumer::DeliverPolicy::All,
                ack_policy: consumer::AckPolicy::None,
                inactive_threshold: secs(60),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("creating a consumer on {name}: {e}"));
        let total = consumer.cached_info().num_pending as usize;
        let mut out: Vec<StreamMsg> = Vec::with_capacity(total);
        let start = Instant::now();
        while out.len() < total {
            assert!(
                start.elapsed() < secs(60),
                "read {} of {total} messages of {name} within 60 s",
                out.len()
            );
            let mut batch = consumer
                .fetch()
                .max_messages(1000)
                .expires(secs(2))
                .messages()
                .await
                .unwrap_or_else(|e| panic!("fetching from {name}: {e}"));
            while let Some(m) = batch.next().await {
                let m = m.unwrap_or_else(|e| panic!("a message of {name}: {e}"));
                let seq = m
                    .info()
                    .map(|i| i.stream_sequence)
                    .unwrap_or_else(|e| panic!("message info of {name}: {e}"));
                let header = |h: &str| {
                    m.headers
                        .as_ref()
                        .and_then(|hs| hs.get(h))
                        .map(|v| v.as_str().to_owned())
                        .unwrap_or_default()
                };
                out.push(StreamMsg {
                    seq,
                    subject: m.subject.to_string(),
                    msg_id: header("Nats-Msg-Id"),
                    dockgate_subject: header("Dockgate-Subject"),
                    content_type: header("Content-Type"),
                    body: m.payload.to_vec(),
                });
            }
        }
        out
    }

    /// Waits until the stream holds at least `n` messages; returns how many it holds.
    pub async fn wait_count(&self, name: &str, n: u64, timeout: Duration) -> u64 {
        wait_for(
            timeout,
            &format!("stream {name} holds {n} messages"),
            async || match self.try_info(name).await {
                Ok(i) if i.state.messages >= n => Ok(i.state.messages),
                Ok(i) => Err(format!("{} messages", i.state.messages)),
                Err(e) => Err(e),
            },
        )
        .await
    }
}

/// A stream capturing `subjects`, file storage, the server's default duplicate window.
pub fn stream_config(name: &str, subjects: &[&str]) -> stream::Config {
    stream::Config {
        name: name.to_owned(),
        subjects: subjects.iter().map(|s| s.to_string()).collect(),
        storage: stream::StorageType::File,
        ..Default::default()
    }
}

/// Checks that `msgs` (a whole stream) hold exactly the events `acked` (ids in the order
/// dockgate acknowledged their inputs), each once by `Nats-Msg-Id`, each subject's in that
/// order (by `Dockgate-Subject`), and that each body is the CloudEvent its headers name.
pub fn check_exactly_once_in_order(msgs: &[StreamMsg], acked: &[String]) -> Result<(), String> {
    let position: HashMap<&str, usize> = acked
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    if position.len() != acked.len() {
        return Err("an id was acknowledged twice".into());
    }
    let mut seen: HashSet<&str> = HashSet::new();
    let mut last: HashMap<&str, (usize, &str)> = HashMap::new();
    for m in msgs {
        let id = m.msg_id.as_str();
        if !seen.insert(id) {
            return Err(format!(
                "Nats-Msg-Id {id:?} is in the stream twice (seq {})",
                m.seq
            ));
        }
        let Some(&at) = position.get(id) else {
            return Err(format!(
                "stream message {} ({id:?}) is no acknowledged event: {}",
                m.seq,
                String::from_utf8_lossy(&m.body)
            ));
        };
        let event = m.event();
        if event["id"] != id || event["subject"] != m.dockgate_subject.as_str() {
            return Err(format!(
                "headers Nats-Msg-Id {id:?} / Dockgate-Subject {:?} do not name the body: {event}",
                m.dockgate_subject
            ));
        }
        let subject = m.dockgate_subject.as_str();
        if let Some((before, before_id)) = last.insert(subject, (at, id)) {
            if before > at {
                return Err(format!(
                    "subject {subject:?}: {id} (acknowledged {at}th) is in the stream after \
                     {before_id} (acknowledged {before}th)"
                ));
            }
        }
    }
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| !seen.contains(id.as_str()))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{} of {} acknowledged events are not in the stream, first {:?}",
            missing.len(),
            acked.len(),
            &missing[..missing.len().min(5)]
        ));
    }
    Ok(())
}

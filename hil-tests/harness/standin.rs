//! ERP/CRM stand-in: an HTTP/1.1 receiver on `127.0.0.1:0` that records every request and
//! answers according to a fault mode that can be switched while the test runs.
//!
//! It is written on a raw tokio `TcpListener` with a small request reader (Content-Length
//! bodies, keep-alive), so faults a framework would hide are trivial: `Hang` reads the request
//! and never answers, `Reset` reads it and closes the socket with an RST.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Decides whether the stand-in refuses an event (used by [`Mode::RefuseEvent`]).
pub type EventPredicate = Arc<dyn Fn(&Value) -> bool + Send + Sync>;

/// Decides whether a request's headers (names lowercased) let it in (used by
/// [`Mode::RequireHeaders`]).
pub type HeaderPredicate = Arc<dyn Fn(&HashMap<String, String>) -> bool + Send + Sync>;

/// How the stand-in answers the next requests.
#[derive(Clone)]
pub enum Mode {
    /// 202 with a JSON body: accepted.
    Ok,
    /// Accepted (the receiver has committed), but the answer comes only after this delay.
    Slow(Duration),
    /// Accepted (the receiver has committed), but the answer never comes.
    AcceptThenHang,
    /// This status with a JSON error body (e.g. 500, 503).
    Status(u16),
    /// 429 with `Retry-After: <secs>`.
    TooMany {
        /// Value of `Retry-After`, in seconds.
        retry_after_secs: u64,
    },
    /// Read the request, never answer (the sender's timeout has to fire).
    Hang,
    /// Read the request, then drop the connection with an RST and no answer.
    Reset,
    /// A `text/html` login page with this status (200 or 502): never an acknowledgement.
    Html(u16),
    /// 401 with a JSON error body.
    Unauthorized,
    /// 302 to this `Location` (a receiver that moved, or a login portal in front of it).
    Redirect(String),
    /// 400 for a request carrying an event that matches the predicate; others are accepted.
    RefuseEvent(EventPredicate),
    /// 401 for a request whose headers the predicate refuses (a token that is not valid);
    /// others are accepted.
    RequireHeaders(HeaderPredicate),
}

impl fmt::Debug for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mode::Ok => write!(f, "Ok"),
            Mode::Slow(d) => write!(f, "Slow({d:?})"),
            Mode::AcceptThenHang => write!(f, "AcceptThenHang"),
            Mode::Status(s) => write!(f, "Status({s})"),
            Mode::TooMany { retry_after_secs } => write!(f, "TooMany({retry_after_secs})"),
            Mode::Hang => write!(f, "Hang"),
            Mode::Reset => write!(f, "Reset"),
            Mode::Html(s) => write!(f, "Html({s})"),
            Mode::Unauthorized => write!(f, "Unauthorized"),
            Mode::Redirect(to) => write!(f, "Redirect({to})"),
            Mode::RefuseEvent(_) => write!(f, "RefuseEvent"),
            Mode::RequireHeaders(_) => write!(f, "RequireHeaders"),
        }
    }
}

/// What the stand-in did with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver took the events (whether or not the answer reached the sender).
    Accepted,
    /// Answered with this non-2xx status, or with HTML.
    Answered(u16),
    /// The request was left without an answer.
    Hung,
    /// The connection was reset.
    Reset,
}

/// One request as the stand-in saw it.
#[derive(Debug, Clone)]
pub struct Request {
    /// Position in arrival order, from 0.
    pub index: usize,
    /// When the request was fully read.
    pub at: Instant,
    /// Method (`POST` for deliveries).
    pub method: String,
    /// Request target.
    pub path: String,
    /// Headers, names lowercased.
    pub headers: HashMap<String, String>,
    /// Raw body.
    pub body: String,
    /// The CloudEvents of the body (a batch flattened), empty if the body is not JSON.
    pub events: Vec<Value>,
    /// What the stand-in did.
    pub outcome: Outcome,
    /// The mode that answered it (`Debug` form, e.g. `"Hang"`).
    pub mode: String,
}

impl Request {
    /// The `Idempotency-Key` header.
    pub fn key(&self) -> Option<&str> {
        self.headers.get("idempotency-key").map(String::as_str)
    }

    /// The `Content-Type` header.
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .map(String::as_str)
            .unwrap_or("")
    }

    /// Ids of the request's events, in body order.
    pub fn ids(&self) -> Vec<String> {
        self.events.iter().map(|e| str_field(e, "id")).collect()
    }
}

/// One event accepted by the stand-in.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// CloudEvent id.
    pub id: String,
    /// CloudEvent subject.
    pub subject: String,
    /// The `sequence` extension, parsed.
    pub sequence: u64,
    /// `Idempotency-Key` of the request that carried it.
    pub key: String,
    /// Index of that request.
    pub request: usize,
    /// The whole CloudEvent.
    pub event: Value,
}

#[derive(Default)]
struct Shared {
    base: Option<Mode>,
    once: VecDeque<Mode>,
    requests: Vec<Request>,
    in_flight: usize,
    max_in_flight: usize,
}

/// Counts a request as in flight from its decision until it is answered or abandoned.
struct InFlight(Arc<Mutex<Shared>>);

impl InFlight {
    fn new(shared: &Arc<Mutex<Shared>>, s: &mut Shared) -> Self {
        s.in_flight += 1;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
        InFlight(shared.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut s) = self.0.lock() {
            s.in_flight -= 1;
        }
    }
}

/// A running stand-in; stops when dropped.
pub struct StandIn {
    name: &'static str,
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    task: JoinHandle<()>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StandIn {
    /// Starts a stand-in answering in `mode`.
    pub async fn start(name: &'static str, mode: Mode) -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a stand-in on 127.0.0.1:0");
        let addr = listener.local_addr().expect("stand-in address");
        let shared = Arc::new(Mutex::new(Shared {
            base: Some(mode),
            ..Default::default()
        }));
        let accept_shared = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(serve(stream, accept_shared.clone()));
            }
        });
        StandIn {
            name,
            addr,
            shared,
            task,
        }
    }

    /// Name used in messages.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// `127.0.0.1:<port>` of the plain listener.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// URL a sink posts to.
    pub fn url(&self) -> String {
        format!("http://{}/events", self.addr)
    }

    /// Answers every following request in `mode`.
    pub fn set_mode(&self, mode: Mode) {
        let mut s = self.lock();
        s.once.clear();
        s.base = Some(mode);
    }

    /// Answers the next request in `mode`, then goes back to the current mode.
    pub fn once(&self, mode: Mode) {
        self.lock().once.push_back(mode);
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.lock().requests.clone()
    }

    /// How many requests arrived so far.
    pub fn request_count(&self) -> usize {
        self.lock().requests.len()
    }

    /// Requests the stand-in is working on right now (not yet answered or abandoned).
    pub fn in_flight(&self) -> usize {
        self.lock().in_flight
    }

    /// Most requests the stand-in was working on at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.lock().max_in_flight
    }

    /// How many requests had `outcome`.
    pub fn count(&self, outcome: &Outcome) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|r| &r.outcome == outcome)
            .count()
    }

    /// Every accepted event, batches flattened, in arrival order (repeats included).
    pub fn delivered(&self) -> Vec<Delivered> {
        let s = self.lock();
        let mut out = Vec::new();
        for r in s.requests.iter().filter(|r| r.outcome == Outcome::Accepted) {
            for e in &r.events {
                out.push(Delivered {
                    id: str_field(e, "id"),
                    subject: str_field(e, "subject"),
                    sequence: str_field(e, "sequence").parse().unwrap_or(u64::MAX),
                    key: r.key().unwrap_or("").to_owned(),
                    request: r.index,
                    event: e.clone(),
                });
            }
        }
        out
    }

    /// Ids of accepted events, in arrival order (repeats included).
    pub fn delivered_ids(&self) -> Vec<String> {
        self.delivered().into_iter().map(|d| d.id).collect()
    }

    /// Distinct ids of accepted events.
    pub fn unique_ids(&self) -> std::collections::HashSet<String> {
        self.delivered().into_iter().map(|d| d.id).collect()
    }

    /// Accepted deliveries beyond the first of each id.
    pub fn duplicates(&self) -> usize {
        let all = self.delivered_ids();
        all.len() - all.iter().collect::<std::collections::HashSet<_>>().len()
    }

    /// Waits (up to `timeout`, else panics naming `what`) until the stand-in has accepted
    /// every one of `ids`.
    pub async fn wait_received(&self, ids: &[String], timeout: Duration, what: &str) {
        super::wait_for(timeout, what, async || match self.missing(ids) {
            m if m.is_empty() => Ok(()),
            m => Err(format!("{} of {} missing", m.len(), ids.len())),
        })
        .await;
    }

    /// Which of `ids` the stand-in has not accepted yet.
    pub fn missing<'a>(&self, ids: impl IntoIterator<Item = &'a String>) -> Vec<String> {
        let have = self.unique_ids();
        ids.into_iter()
            .filter(|id| !have.contains(*id))
            .cloned()
            .collect()
    }

    /// Checks that accepted events of one subject first arrived in `sequence` order. A repeat
    /// of an event already received (a batch resent after a crash carries its earlier members
    /// again) is what a receiver deduplicates by id, so it does not count.
    pub fn check_subject_order(&self) -> Result<(), String> {
        let mut last: HashMap<String, (u64, String)> = HashMap::new();
        let mut seen = std::collections::HashSet::new();
        for d in self.delivered() {
            if !seen.insert(d.id.clone()) {
                continue;
            }
            if let Some((prev, prev_id)) = last.get(&d.subject) {
                if d.sequence < *prev {
                    return Err(format!(
                        "{}: subject {} got sequence {} ({}) after sequence {} ({})",
                        self.name, d.subject, d.sequence, d.id, prev, prev_id
                    ));
                }
            }
            last.insert(d.subject.clone(), (d.sequence, d.id.clone()));
        }
        Ok(())
    }

    /// Checks that every repeat of an id came under the same Idempotency-Key with the same
    /// CloudEvent as its first delivery.
    pub fn check_repeats_identical(&self) -> Result<(), String> {
        let mut first: HashMap<String, Delivered> = HashMap::new();
        for d in self.delivered() {
            match first.get(&d.id) {
                None => {
                    first.insert(d.id.clone(), d);
                }
                Some(f) => {
                    if f.key != d.key {
                        return Err(format!(
                            "{}: event {} came under key {:?} (request {}) and again under key {:?} (request {})",
                            self.name, d.id, f.key, f.request, d.key, d.request
                        ));
                    }
                    if f.event != d.event {
                        return Err(format!(
                            "{}: event {} changed between deliveries: {} vs {}",
                            self.name, d.id, f.event, d.event
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks the CloudEvents format and the Content-Type of every request carrying events.
    pub fn check_cloudevents(&self, site: &str, batch: bool) -> Result<(), String> {
        let want_ct = if batch {
            "application/cloudevents-batch+json"
        } else {
            "application/cloudevents+json"
        };
        for r in self.requests() {
            if r.path != "/events" {
                return Err(format!(
                    "{}: request {} went to {:?}",
                    self.name, r.index, r.path
                ));
            }
            if !r.content_type().starts_with(want_ct) {
                return Err(format!(
                    "{}: request {} has Content-Type {:?}, expected {want_ct}",
                    self.name,
                    r.index,
                    r.content_type()
                ));
            }
            if r.events.is_empty() {
                return Err(format!(
                    "{}: request {} carries no events: {}",
                    self.name, r.index, r.body
                ));
            }
            // One event: its id (a batch of one may also carry a batch key); more: b-<hash>.
            let key = r.key().unwrap_or("");
            let key_ok = match r.events.as_slice() {
                [one] => key == str_field(one, "id") || (batch && key.starts_with("b-")),
                _ => key.starts_with("b-"),
            };
            if !key_ok {
                return Err(format!(
                    "{}: request {} with {} events has Idempotency-Key {key:?}",
                    self.name,
                    r.index,
                    r.events.len()
                ));
            }
            if !batch && r.body.trim_start().starts_with('[') {
                return Err(format!("{}: request {} is a batch", self.name, r.index));
            }
            let source = format!("dockgate://{site}/api");
            for e in &r.events {
                let bad = |why: &str| Err(format!("{}: {why}: {e}", self.name));
                if e["specversion"] != "1.0" {
                    return bad("specversion is not \"1.0\"");
                }
                if e["source"] != source.as_str() {
                    return bad("unexpected source");
                }
                for field in ["id", "type", "subject", "time", "sequence"] {
                    if !e[field].is_string() {
                        return bad(&format!("{field} missing or not a string"));
                    }
                }
                if str_field(e, "sequence").parse::<u64>().is_err() {
                    return bad("sequence is not a decimal string");
                }
                let time = str_field(e, "time");
                if !(time.len() == 24 && time.ends_with('Z') && time.as_bytes()[19] == b'.') {
                    return bad("time is not RFC 3339 with milliseconds and Z");
                }
                if e.get("data").is_none() {
                    return bad("no data");
                }
            }
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().expect("stand-in state poisoned")
    }
}

/// A string member of a JSON object, or "" if absent.
pub fn str_field(v: &Value, name: &str) -> String {
    v.get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Serves one connection: requests one after another (keep-alive) until the peer closes.
async fn serve(mut stream: TcpStream, shared: Arc<Mutex<Shared>>) {
    let _ = stream.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    loop {
        let Some((head, body)) = read_request(&mut stream, &mut buf).await else {
            return;
        };
        let (path, headers) = parse_head(&head);
        let method = head.split_whitespace().next().unwrap_or("").to_owned();
        let body = String::from_utf8_lossy(&body).into_owned();
        let events = match serde_json::from_str::<Value>(&body) {
            Ok(Value::Array(items)) => items,
            Ok(v @ Value::Object(_)) => vec![v],
            _ => Vec::new(),
        };
        // Decide and record under one lock, so the record order is the decision order.
        let decision = {
            let mut s = shared.lock().expect("stand-in state poisoned");
            let mode = s
                .once
                .pop_front()
                .or_else(|| s.base.clone())
                .unwrap_or(Mode::Ok);
            let outcome = match &mode {
                Mode::Ok | Mode::Slow(_) | Mode::AcceptThenHang => Outcome::Accepted,
                Mode::Status(code) => Outcome::Answered(*code),
                Mode::TooMany { .. } => Outcome::Answered(429),
                Mode::Hang => Outcome::Hung,
                Mode::Reset => Outcome::Reset,
                Mode::Html(code) => Outcome::Answered(*code),
                Mode::Unauthorized => Outcome::Answered(401),
                Mode::Redirect(_) => Outcome::Answered(302),
                Mode::RefuseEvent(p) => {
                    if events.iter().any(|e| p(e)) {
                        Outcome::Answered(400)
                    } else {
                        Outcome::Accepted
                    }
                }
                Mode::RequireHeaders(p) => {
                    if p(&headers) {
                        Outcome::Accepted
                    } else {
                        Outcome::Answered(401)
                    }
                }
            };
            let index = s.requests.len();
            s.requests.push(Request {
                index,
                at: Instant::now(),
                method,
                path,
                headers,
                body,
                events,
                outcome: outcome.clone(),
                mode: format!("{mode:?}"),
            });
            let guard = InFlight::new(&shared, &mut s);
            (mode, outcome, guard)
        };
        let (mode, outcome, in_flight) = decision;
        let answer = match (mode, outcome) {
            (Mode::Hang | Mode::AcceptThenHang, _) => {
                // Wait for the sender to give up and close the connection.
                let mut sink = [0u8; 1024];
                while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
                return;
            }
            (Mode::Reset, _) => {
                let _ = stream.set_zero_linger();
                drop(stream);
                return;
            }
            (Mode::Slow(delay), _) => {
                tokio::time::sleep(delay).await;
                json_answer(202, r#"{"accepted":true}"#, "")
            }
            (Mode::Ok, _) => json_answer(202, r#"{"accepted":true}"#, ""),
            (_, Outcome::Accepted) => json_answer(202, r#"{"accepted":true}"#, ""),
            (Mode::TooMany { retry_after_secs }, _) => json_answer(
                429,
                r#"{"error":"slow down"}"#,
                &format!("Retry-After: {retry_after_secs}\r\n"),
            ),
            (Mode::Html(code), _) => answer(
                code,
                "text/html; charset=utf-8",
                "<!DOCTYPE html><html><head><title>Sign in</title></head><body><form action=\"/login\"><input name=\"user\"></form></body></html>",
                "",
            ),
            (Mode::Unauthorized | Mode::RequireHeaders(_), _) => {
                json_answer(401, r#"{"error":"invalid token"}"#, "")
            }
            (Mode::Redirect(to), _) => json_answer(302, "{}", &format!("Location: {to}\r\n")),
            (Mode::RefuseEvent(_), _) => json_answer(
                400,
                r#"{"error":"order line rejected: quantity must be positive"}"#,
                "",
            ),
            (Mode::Status(code), _) => {
                json_answer(code, r#"{"error":"internal error, try later"}"#, "")
            }
        };
        // Done before the answer leaves, so the sender can never see a slot free up before
        // the stand-in does.
        drop(in_flight);
        if stream.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

pub(super) fn json_answer(status: u16, body: &str, extra_headers: &str) -> String {
    answer(status, "application/json", body, extra_headers)
}

fn answer(status: u16, content_type: &str, body: &str, extra_headers: &str) -> String {
    let reason = match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Whatever",
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra_headers}\r\n{body}",
        body.len()
    )
}

/// Reads one request (head and Content-Length body); `None` once the peer closes.
pub(super) async fn read_request(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> Option<(String, Vec<u8>)> {
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[head_end..head_end + len].to_vec();
    buf.drain(..head_end + len);
    Some((head, body))
}

pub(super) fn parse_head(head: &str) -> (String, HashMap<String, String>) {
    let mut lines = head.lines();
    let path = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("")
        .to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (path, headers)
}

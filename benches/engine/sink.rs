//! The sink stand-in: an axum server in this process that counts distinct events by sequence,
//! can refuse with 503 while "down", and collects the latency probes' ages.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use tokio::sync::watch;

struct Seen {
    bits: Vec<bool>,
    unique: u64,
}

pub(crate) struct Sink {
    epoch: Instant,
    pub(crate) up: AtomicBool,
    seen: Mutex<Seen>,
    unique_tx: watch::Sender<u64>,
    pub(crate) total: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) requests: AtomicU64,
    /// Receive time (µs since `epoch`) of the request that brought the last new event.
    last_new_us: AtomicU64,
    pub(crate) latencies_us: Mutex<Vec<u64>>,
}

pub(crate) struct SinkServer {
    pub(crate) state: Arc<Sink>,
    pub(crate) url: String,
    task: tokio::task::JoinHandle<()>,
}

impl SinkServer {
    pub(crate) async fn start(epoch: Instant, up: bool) -> Self {
        let (unique_tx, _) = watch::channel(0);
        let state = Arc::new(Sink {
            epoch,
            up: AtomicBool::new(up),
            seen: Mutex::new(Seen {
                bits: Vec::new(),
                unique: 0,
            }),
            unique_tx,
            total: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            last_new_us: AtomicU64::new(0),
            latencies_us: Mutex::new(Vec::new()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind sink");
        let url = format!(
            "http://{}/events",
            listener.local_addr().expect("sink addr")
        );
        let app = Router::new()
            .route("/events", post(sink_handler))
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { state, url, task }
    }

    /// Waits until `n` distinct events arrived; returns their last receive time (µs since
    /// epoch), or None on timeout.
    pub(crate) async fn wait_for(&self, n: u64, limit: Duration) -> Option<u64> {
        let mut rx = self.state.unique_tx.subscribe();
        let reached = matches!(
            tokio::time::timeout(limit, rx.wait_for(|&u| u >= n)).await,
            Ok(Ok(_))
        );
        reached.then(|| self.state.last_new_us.load(Ordering::Acquire))
    }

    pub(crate) fn unique(&self) -> u64 {
        *self.state.unique_tx.borrow()
    }
}

impl Drop for SinkServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Decimal numbers that follow each occurrence of `pat` in `body`. memmem's SIMD search,
/// because a byte-wise scan stopped at every `"` of the JSON and cost the stand-in about as
/// much as the rest of its request handling.
fn numbers_after<'a>(body: &'a [u8], pat: &'a [u8]) -> impl Iterator<Item = u64> + 'a {
    memchr::memmem::find_iter(body, pat).map(move |at| {
        body[at + pat.len()..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .fold(0u64, |n, &b| n * 10 + u64::from(b - b'0'))
    })
}

async fn sink_handler(State(s): State<Arc<Sink>>, body: Bytes) -> StatusCode {
    s.requests.fetch_add(1, Ordering::Relaxed);
    if !s.up.load(Ordering::Acquire) {
        s.refused.fetch_add(1, Ordering::Relaxed);
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let now_us = s.epoch.elapsed().as_micros() as u64;
    let mut lat: Vec<u64> = numbers_after(&body, b"\"sent_us\":")
        .map(|sent| now_us.saturating_sub(sent))
        .collect();
    if !lat.is_empty() {
        s.latencies_us
            .lock()
            .expect("latency lock")
            .append(&mut lat);
    }
    let mut n = 0;
    let mut guard = s.seen.lock().expect("seen lock");
    let seen = &mut *guard;
    let before = seen.unique;
    for seq in numbers_after(&body, b"\"sequence\":\"") {
        n += 1;
        let seq = seq as usize;
        if seq >= seen.bits.len() {
            let len = (seq + 1).max(seen.bits.len() * 2);
            seen.bits.resize(len, false);
        }
        if !seen.bits[seq] {
            seen.bits[seq] = true;
            seen.unique += 1;
        }
    }
    s.total.fetch_add(n, Ordering::Relaxed);
    if seen.unique > before {
        s.last_new_us.store(now_us, Ordering::Release);
        s.unique_tx.send_replace(seen.unique);
    }
    StatusCode::OK
}

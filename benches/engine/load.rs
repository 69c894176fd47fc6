//! The load generator: events shaped like the sink will receive them, POST bodies built
//! before any clock starts, and posting them over N keep-alive connections.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::StatusCode;

/// Events per POST body.
/// Site id in the config (it appears in every CloudEvent `source`).
pub(crate) const SITE: &str = "wh-bench";

pub(crate) const PER_REQUEST: usize = 100;
/// Distinct subjects (order numbers).
pub(crate) const ORDERS: usize = 5_000;
/// Target size of one rendered CloudEvent, as the sink receives it.
pub(crate) const EVENT_BYTES: usize = 310;

/// Length of a rendered CloudEvent without its `data` (as `model::write_cloudevent` renders it,
/// with a 36-character id and a 6-digit sequence).
pub(crate) fn envelope_len(event_type: &str, subject: &str) -> usize {
    format!(
        "{{\"specversion\":\"1.0\",\"id\":\"{}\",\"source\":\"dockgate://{SITE}/api\",\"type\":\"{event_type}\",\
         \"subject\":\"{subject}\",\"time\":\"2025-01-01T00:00:00.000Z\",\"datacontenttype\":\"application/json\",\
         \"sequence\":\"100000\",\"data\":}}",
        "0".repeat(36)
    )
    .len()
}

/// The i-th event as posted: `{"type","subject","data"}`, with `data` padded so the CloudEvent
/// the sink receives is about [`EVENT_BYTES`] long. `sent_us` marks latency probes.
pub(crate) fn event_json(i: usize, sent_us: Option<u64>) -> String {
    let order = i % ORDERS;
    let subject = format!("SO-{order:06}");
    let event_type = match i % 20 {
        0 => "pack.completed",
        1 => "shipment.loaded",
        _ => "pick.confirmed",
    };
    // The CloudEvent envelope takes ~245 of the 310 bytes; `data` gets the rest.
    let mut data = format!(
        "{{\"order\":\"{subject}\",\"gtin\":\"0401234{:07}\",\"qty\":{}",
        i % 9_999_999,
        1 + i % 7
    );
    if let Some(t) = sent_us {
        let _ = write!(data, ",\"sent_us\":{t}");
    }
    let closing = ",\"note\":\"\"}";
    let used = envelope_len(event_type, &subject) + data.len() + closing.len();
    data.push_str(",\"note\":\"");
    data.push_str(&"x".repeat(EVENT_BYTES.saturating_sub(used)));
    data.push_str("\"}");
    format!("{{\"type\":\"{event_type}\",\"subject\":\"{subject}\",\"data\":{data}}}")
}

pub(crate) fn body_of(range: std::ops::Range<usize>, sent_us: Option<u64>) -> Bytes {
    let mut body = String::with_capacity(range.len() * 300 + 2);
    body.push('[');
    for (k, i) in range.enumerate() {
        if k > 0 {
            body.push(',');
        }
        body.push_str(&event_json(i, sent_us));
    }
    body.push(']');
    Bytes::from(body)
}

/// All POST bodies for `n` events, built before any clock starts.
pub(crate) fn bodies(n: usize) -> Arc<Vec<Bytes>> {
    Arc::new(
        (0..n)
            .step_by(PER_REQUEST)
            .map(|start| body_of(start..(start + PER_REQUEST).min(n), None))
            .collect(),
    )
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client")
}

/// One keep-alive connection per task: a client with a pool of one.
fn connection() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client")
}

pub(crate) struct Posted {
    pub(crate) first_send: Instant,
    pub(crate) last_ack: Instant,
    pub(crate) ack_ms: Vec<f64>,
    pub(crate) retries: u64,
}

/// POSTs every body over `conns` connections, each sending its next body once the previous
/// one was answered 202.
pub(crate) async fn post_all(admin: &str, bodies: Arc<Vec<Bytes>>, conns: usize) -> Posted {
    let url = Arc::new(format!("{admin}/api/v1/events"));
    let next = Arc::new(AtomicUsize::new(0));
    let retries = Arc::new(AtomicU64::new(0));
    // Open the connections before the clock starts.
    let clients: Vec<reqwest::Client> = (0..conns).map(|_| connection()).collect();
    for c in &clients {
        let _ = c.get(format!("{admin}/health")).send().await;
    }
    let first_send = Instant::now();
    let mut tasks = Vec::new();
    for c in clients {
        let (url, next, bodies, retries) =
            (url.clone(), next.clone(), bodies.clone(), retries.clone());
        tasks.push(tokio::spawn(async move {
            let mut acks = Vec::new();
            let mut last = Instant::now();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                loop {
                    let t = Instant::now();
                    let r = c
                        .post(url.as_str())
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status() == StatusCode::ACCEPTED => {
                            let _ = r.bytes().await;
                            last = Instant::now();
                            acks.push((last - t).as_secs_f64() * 1e3);
                            break;
                        }
                        Ok(r) => {
                            let status = r.status();
                            let text = r.text().await.unwrap_or_default();
                            eprintln!("  POST answered {status}: {text}; retrying");
                        }
                        Err(e) => eprintln!("  POST failed: {e}; retrying"),
                    }
                    retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            (acks, last)
        }));
    }
    let mut ack_ms = Vec::new();
    let mut last_ack = first_send;
    for t in tasks {
        let (acks, last) = t.await.expect("load task");
        ack_ms.extend(acks);
        last_ack = last_ack.max(last);
    }
    Posted {
        first_send,
        last_ack,
        ack_ms,
        retries: retries.load(Ordering::Relaxed),
    }
}

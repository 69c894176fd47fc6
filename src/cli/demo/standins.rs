//! The demo's ERP and CRM: HTTP receivers on 127.0.0.1 that take what a dockgate sink sends
//! (one CloudEvent, or a batch as a JSON array), keep the first copy of each event by its id,
//! and count what came again: an event id accepted before, a request under an
//! `Idempotency-Key` accepted before, an event older than one already taken for its subject.
//! The ERP can be taken down (503 with `Retry-After`) and brought back while the demo runs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

/// Seconds a down receiver asks dockgate to wait.
const RETRY_AFTER_SECS: &str = "2";

/// One event as the receiver first accepted it.
#[derive(Debug, Clone)]
pub struct Received {
    /// CloudEvents `subject`.
    pub subject: String,
    /// CloudEvents `type`.
    pub event_type: String,
    /// CloudEvents `sequence`.
    pub sequence: u64,
}

/// Everything a receiver saw.
#[derive(Debug, Default)]
pub struct Book {
    /// Accepted events by id, first copy.
    pub accepted: HashMap<String, Received>,
    /// Accepted events by type.
    pub by_type: BTreeMap<String, u64>,
    /// Events whose id had been accepted before.
    pub duplicates: u64,
    /// Requests whose `Idempotency-Key` had been accepted before.
    pub repeated_keys: u64,
    /// Events that arrived after a later event of their subject: described.
    pub out_of_order: Vec<String>,
    /// Requests answered 503 while down.
    pub refused: u64,
    /// Bodies that were not CloudEvents: described.
    pub malformed: Vec<String>,
    keys: HashSet<String>,
    last_of_subject: HashMap<String, u64>,
}

impl Book {
    /// Exception events and unmatched scans accepted.
    pub fn exceptions(&self) -> u64 {
        self.by_type
            .iter()
            .filter(|(t, _)| t.ends_with(".exception") || t.as_str() == "scan.unmatched")
            .map(|(_, n)| n)
            .sum()
    }

    /// Takes one request's events; `Err` describes a body that is not CloudEvents.
    pub(super) fn take(&mut self, key: Option<&str>, body: &[u8]) -> Result<usize, String> {
        let value: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON ({e})"))?;
        let events = match value {
            Value::Array(events) => events,
            one => vec![one],
        };
        let mut parsed = Vec::with_capacity(events.len());
        for e in &events {
            let field = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_owned);
            let (Some(id), Some(subject), Some(event_type), Some(sequence)) = (
                field("id"),
                field("subject"),
                field("type"),
                field("sequence").and_then(|s| s.parse::<u64>().ok()),
            ) else {
                return Err(format!(
                    "not a CloudEvent with id, subject, type and sequence: {e}"
                ));
            };
            parsed.push((
                id,
                Received {
                    subject,
                    event_type,
                    sequence,
                },
            ));
        }
        if let Some(key) = key {
            if !self.keys.insert(key.to_owned()) {
                self.repeated_keys += 1;
            }
        }
        for (id, event) in parsed {
            if self.accepted.contains_key(&id) {
                self.duplicates += 1;
                continue;
            }
            let last = self
                .last_of_subject
                .entry(event.subject.clone())
                .or_default();
            if event.sequence <= *last {
                self.out_of_order.push(format!(
                    "{} {} (sequence {}) after sequence {last}",
                    event.event_type, event.subject, event.sequence
                ));
            }
            *last = (*last).max(event.sequence);
            *self.by_type.entry(event.event_type.clone()).or_default() += 1;
            self.accepted.insert(id, event);
        }
        Ok(events.len())
    }
}

struct Shared {
    up: AtomicBool,
    book: Mutex<Book>,
}

/// A running receiver.
pub struct StandIn {
    /// `erp` or `crm`: the sink that sends to it.
    pub name: &'static str,
    /// Where it listens.
    pub url: String,
    shared: Arc<Shared>,
}

impl StandIn {
    /// Serves on `listener` (bound already, on 127.0.0.1) until `cancel`.
    pub fn start(
        name: &'static str,
        listener: std::net::TcpListener,
        cancel: CancellationToken,
    ) -> anyhow::Result<StandIn> {
        let addr: SocketAddr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)
            .with_context(|| format!("serving the {name} stand-in"))?;
        let shared = Arc::new(Shared {
            up: AtomicBool::new(true),
            book: Mutex::new(Book::default()),
        });
        let app = Router::new()
            .route("/events", post(receive))
            .with_state(shared.clone());
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { cancel.cancelled().await })
                .await;
            if let Err(error) = served {
                tracing::error!(stand_in = name, %error, "The demo's stand-in stopped.");
            }
        });
        Ok(StandIn {
            name,
            url: format!("http://{addr}/events"),
            shared,
        })
    }

    /// Answers 503 from now on (`false`), or takes events again (`true`).
    pub fn set_up(&self, up: bool) {
        self.shared.up.store(up, Ordering::Release);
    }

    /// Whether it takes events.
    pub fn is_up(&self) -> bool {
        self.shared.up.load(Ordering::Acquire)
    }

    /// What it saw so far.
    pub fn book(&self) -> MutexGuard<'_, Book> {
        // A poisoned lock still holds a usable record.
        self.shared
            .book
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let mut book = shared
        .book
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !shared.up.load(Ordering::Acquire) {
        book.refused += 1;
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, RETRY_AFTER_SECS)],
            Json(json!({ "error": "down for maintenance (dockgate demo)" })),
        )
            .into_response();
    }
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok());
    match book.take(key, &body) {
        Ok(n) => (StatusCode::ACCEPTED, Json(json!({ "accepted": n }))).into_response(),
        Err(why) => {
            book.malformed.push(why.clone());
            (StatusCode::BAD_REQUEST, Json(json!({ "error": why }))).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, subject: &str, seq: u64) -> Value {
        json!({"id": id, "subject": subject, "type": "pick.confirmed", "sequence": seq.to_string()})
    }

    #[test]
    fn repeats_and_order_are_counted() {
        let mut book = Book::default();
        let one = serde_json::to_vec(&event("a", "SO-1", 1)).unwrap();
        assert_eq!(book.take(Some("a"), &one), Ok(1));
        assert_eq!(book.take(Some("a"), &one), Ok(1));
        let batch =
            serde_json::to_vec(&json!([event("b", "SO-1", 3), event("c", "SO-1", 2)])).unwrap();
        assert_eq!(book.take(Some("b-1"), &batch), Ok(2));
        assert_eq!(book.accepted.len(), 3);
        assert_eq!((book.duplicates, book.repeated_keys), (1, 1));
        assert_eq!(book.out_of_order.len(), 1, "{:?}", book.out_of_order);
        assert_eq!(book.by_type.get("pick.confirmed"), Some(&3));
        assert!(book.take(None, b"{\"id\":\"x\"}").is_err());
        assert!(book.take(None, b"<html>").is_err());
    }
}

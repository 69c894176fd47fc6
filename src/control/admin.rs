//! The admin API (DESIGN §8): health, readiness, metrics, status, buffer inspection, replay,
//! and `POST /api/v1/events` for business events formed by local software. It also serves the
//! HTTP devices' ingest route, which [`crate::devices::http`] owns. [`public_router`] is the
//! read-only part for `admin.public_listen`: the status page, health, readiness and metrics.
//!
//! Reads and writes go through the ledger; an ingest answers 202 only after the commit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::{Deserialize, Serialize};
use serde_json::json;

use tokio::sync::{mpsc, oneshot};

use super::config_push::Trigger;
use super::live::LiveView;
use super::page;
use super::status::{self, Status};
use crate::config::Config;
use crate::ledger::{EventFilter, IdempotencyKey, IngestError, LedgerHandle, ReplaySelector};
use crate::model::{now_ms, Chain, DeliveryState, NewEvent};

/// Most events accepted in one POST.
const MAX_EVENTS_PER_POST: usize = 10_000;
/// Most rows `GET /api/v1/events` returns.
const MAX_LIST: usize = 10_000;

/// Everything the handlers share.
#[derive(Clone)]
pub struct AdminState {
    /// The ledger.
    pub ledger: LedgerHandle,
    /// What runs now.
    pub live: LiveView,
    /// Configuration changes (`POST /api/v1/config/rollback`).
    pub changes: mpsc::Sender<Trigger>,
    /// Set once the buffer is open and recovered.
    pub ready: Arc<AtomicBool>,
    /// Renders `/metrics`.
    pub prometheus: PrometheusHandle,
    /// Process start, for uptime.
    pub started: Instant,
}

/// The admin router, with `devices` (the HTTP devices' ingest route) beside its own.
pub fn router(state: AdminState, devices: Router) -> Router {
    let max_body = state.live.borrow().config.admin.max_body as usize;
    Router::new()
        .route("/", get(page))
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics_text))
        .route("/api/v1/status", get(status_json))
        .route("/api/v1/events", get(list_events).post(post_events))
        .route("/api/v1/replay", post(replay))
        .route("/api/v1/config/rollback", post(rollback))
        .with_state(state)
        .merge(devices)
        .layer(DefaultBodyLimit::max(max_body))
}

/// The read-only router of `admin.public_listen`: the status page, health, readiness and
/// metrics, and nothing of the API (no events, no payloads, nothing that changes anything).
/// Any other path is 404, any other method 405.
pub fn public_router(state: AdminState) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics_text))
        .with_state(state)
}

/// The JSON answer for a body that could not be read (too large, broken off).
fn refused_body(e: &BytesRejection, max_body: u64) -> Response {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return fail(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body larger than admin.max_body ({max_body} bytes)"),
        );
    }
    fail(StatusCode::BAD_REQUEST, e.body_text())
}

/// A JSON error answer: `{"error": "..."}`.
fn fail(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// The buffer did not take the input (full, or a failed commit): 503, try again shortly.
fn refused(error: &dyn std::error::Error) -> Response {
    let mut r = fail(StatusCode::SERVICE_UNAVAILABLE, Chain(error).to_string());
    r.headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
    r
}

async fn ready(State(s): State<AdminState>) -> Response {
    if s.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "buffer not open yet\n").into_response()
    }
}

/// A 500 answer for a read the ledger could not do.
fn unreadable(error: &dyn std::error::Error) -> Response {
    fail(StatusCode::INTERNAL_SERVER_ERROR, Chain(error).to_string())
}

impl AdminState {
    /// The running configuration.
    fn config(&self) -> Arc<Config> {
        self.live.borrow().config.clone()
    }

    /// Whether `sink` is one the admin API answers for: configured, or removed from the
    /// configuration with events still waiting for it.
    async fn knows_sink(&self, sink: &str) -> Result<bool, Response> {
        if self.config().sinks.contains_key(sink) {
            return Ok(true);
        }
        match self.ledger.open_sinks().await {
            Ok(open) => Ok(open.iter().any(|s| s == sink)),
            Err(e) => Err(unreadable(&e)),
        }
    }
}

/// The status; with the oldest dead letters when `dead_letters` (what people read; a scrape
/// needs only the figures).
async fn collect_status(s: &AdminState, dead_letters: bool) -> Result<Status, Response> {
    let live = s.live.borrow().clone();
    let mut st = status::collect(&s.ledger, &live, s.started)
        .await
        .map_err(|e| unreadable(&e))?;
    if dead_letters {
        status::add_dead_letters(&s.ledger, &mut st)
            .await
            .map_err(|e| unreadable(&e))?;
    }
    Ok(st)
}

async fn status_json(State(s): State<AdminState>) -> Response {
    match collect_status(&s, true).await {
        Ok(st) => Json(st).into_response(),
        Err(r) => r,
    }
}

/// What the page may do in a browser: its own inline style and script, and fetch itself
/// again; nothing from elsewhere, no framing by another site.
const PAGE_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

async fn page(State(s): State<AdminState>) -> Response {
    let st = match collect_status(&s, true).await {
        Ok(st) => st,
        Err(r) => return r,
    };
    match page::render(&st) {
        Ok(html) => (
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::CONTENT_SECURITY_POLICY, PAGE_POLICY),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::REFERRER_POLICY, "no-referrer"),
            ],
            Html(html),
        )
            .into_response(),
        Err(e) => fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot render the status page: {e:#}"),
        ),
    }
}

async fn metrics_text(State(s): State<AdminState>) -> Response {
    // Buffer gauges are read from the buffer at scrape time, so they are never stale.
    if let Ok(st) = collect_status(&s, false).await {
        status::publish_gauges(&st);
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.prometheus.render(),
    )
        .into_response()
}

#[derive(Deserialize)]
struct ListQuery {
    sink: Option<String>,
    device: Option<String>,
    state: Option<String>,
    limit: Option<usize>,
}

async fn list_events(State(s): State<AdminState>, Query(q): Query<ListQuery>) -> Response {
    let limit = q.limit.unwrap_or(100).min(MAX_LIST);
    if q.state.as_deref() == Some("rejected") {
        // Quarantined inputs are not deliveries: no sink, their own shape.
        if q.sink.is_some() {
            return fail(
                StatusCode::BAD_REQUEST,
                "quarantined inputs (state rejected) belong to no sink; select them by device",
            );
        }
        return match s.ledger.rejected(q.device.clone(), limit).await {
            Ok(rows) => Json(rows).into_response(),
            Err(e) => unreadable(&e),
        };
    }
    if q.device.is_some() {
        return fail(
            StatusCode::BAD_REQUEST,
            "device selects quarantined inputs: give it with state rejected",
        );
    }
    let state = match q.state.as_deref() {
        None => None,
        Some(name) => match DeliveryState::parse(name) {
            Some(st) => Some(st),
            None => {
                return fail(
                    StatusCode::BAD_REQUEST,
                    format!(
                    "unknown state {name:?}; expected pending, held, dead, delivered or rejected"
                ),
                )
            }
        },
    };
    if let Some(sink) = &q.sink {
        match s.knows_sink(sink).await {
            Ok(true) => {}
            Ok(false) => return fail(StatusCode::NOT_FOUND, format!("no sink named {sink:?}")),
            Err(r) => return r,
        }
    }
    let filter = EventFilter {
        sink: q.sink,
        state,
        limit,
    };
    match s.ledger.events(filter).await {
        Ok(rows) => Json(rows).into_response(),
        Err(e) => unreadable(&e),
    }
}

/// Body of `POST /api/v1/replay`: a sink and exactly one selector.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Sink name.
    pub sink: String,
    /// Replay every dead letter.
    #[serde(default)]
    pub dead: bool,
    /// Replay one event by id.
    pub event: Option<String>,
    /// Replay every event since this time (RFC 3339, or a duration ago such as `2h`).
    pub since: Option<String>,
}

async fn replay(
    State(s): State<AdminState>,
    body: Result<Json<ReplayRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => return fail(StatusCode::BAD_REQUEST, e.body_text()),
    };
    match s.knows_sink(&req.sink).await {
        Ok(true) => {}
        Ok(false) => {
            return fail(
                StatusCode::NOT_FOUND,
                format!("no sink named {:?}", req.sink),
            )
        }
        Err(r) => return r,
    }
    let selector = match (req.dead, req.event, req.since) {
        (true, None, None) => ReplaySelector::Dead,
        (false, Some(id), None) => ReplaySelector::Event(id),
        (false, None, Some(since)) => match parse_since(&since) {
            Some(ms) => ReplaySelector::Since(ms),
            None => {
                return fail(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "since {since:?} is neither an RFC 3339 time nor a duration such as \"2h\""
                    ),
                )
            }
        },
        _ => {
            return fail(
                StatusCode::BAD_REQUEST,
                "give exactly one of dead, event or since",
            )
        }
    };
    let event = match &selector {
        ReplaySelector::Event(id) => Some(id.clone()),
        _ => None,
    };
    match (s.ledger.replay(req.sink, selector).await, event) {
        // Nothing put back for an id the buffer does not hold: a mistyped or pruned id is an
        // error, not a quiet 0.
        (Ok(0), Some(id)) => match s.ledger.has_event(id).await {
            Ok(true) => Json(json!({ "replayed": 0 })).into_response(),
            Ok(false) => fail(
                StatusCode::NOT_FOUND,
                "no event with this id in the buffer (mistyped, or pruned after retention)",
            ),
            Err(e) => fail(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("replay failed: {}", Chain(&e)),
            ),
        },
        (Ok(n), _) => Json(json!({ "replayed": n })).into_response(),
        (Err(e), _) => fail(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("replay failed: {}", Chain(&e)),
        ),
    }
}

/// `POST /api/v1/config/rollback`: back to the configuration applied before the running one;
/// answers `{"from":N,"to":M}`, or 409 with the reason.
async fn rollback(State(s): State<AdminState>) -> Response {
    let (reply, answer) = oneshot::channel();
    if s.changes.send(Trigger::Rollback(reply)).await.is_err() {
        return fail(StatusCode::SERVICE_UNAVAILABLE, "dockgate is shutting down");
    }
    match answer.await {
        Ok(Ok(rolled)) => Json(rolled).into_response(),
        Ok(Err(why)) => fail(StatusCode::CONFLICT, why),
        Err(_) => fail(StatusCode::SERVICE_UNAVAILABLE, "dockgate is shutting down"),
    }
}

/// Parses `--since`: an RFC 3339 time, or a duration meaning that long ago.
pub fn parse_since(text: &str) -> Option<i64> {
    if let Ok(t) = humantime::parse_rfc3339_weak(text) {
        let ms = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis();
        return Some(ms as i64);
    }
    let ago = humantime::parse_duration(text).ok()?;
    Some(now_ms() - ago.as_millis() as i64)
}

/// One event of `POST /api/v1/events`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InEvent {
    #[serde(rename = "type")]
    event_type: String,
    subject: String,
    data: Box<serde_json::value::RawValue>,
}

/// The answer to an accepted POST: `ids[i]` belongs to the i-th event of the body.
#[derive(Serialize)]
struct Accepted {
    ids: Vec<String>,
}

async fn post_events(
    State(s): State<AdminState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let arrived = now_ms();
    let body = match body {
        Ok(b) => b,
        Err(e) => return refused_body(&e, s.config().admin.max_body),
    };
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => match v.to_str() {
            Ok(k) if !k.trim().is_empty() && k.len() <= 255 => Some(IdempotencyKey::new(
                k.trim().trim_matches('"').to_owned(),
                body.clone(),
            )),
            _ => {
                return fail(
                    StatusCode::BAD_REQUEST,
                    "Idempotency-Key must be 1 to 255 visible ASCII characters",
                )
            }
        },
    };
    let events = match parse_events(&body) {
        Ok(e) => e,
        Err((status, why)) => return fail(status, why),
    };
    let source: Arc<str> = format!("dockgate://{}/api", s.config().site.id).into();
    let events = events
        .into_iter()
        .map(|e| NewEvent {
            event_type: e.event_type,
            subject: e.subject,
            source: source.clone(),
            time_ms: arrived,
            data: e.data,
        })
        .collect();
    match s.ledger.submit_events(events, key).await {
        Ok(ids) => (StatusCode::ACCEPTED, Json(Accepted { ids })).into_response(),
        Err(e @ IngestError::KeyConflict) => fail(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        Err(e) => refused(&e),
    }
}

/// Parses and checks a body of one event or an array of events.
fn parse_events(body: &[u8]) -> Result<Vec<InEvent>, (StatusCode, String)> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let parsed = match first {
        Some(b'[') => serde_json::from_slice::<Vec<InEvent>>(body),
        Some(b'{') => serde_json::from_slice::<InEvent>(body).map(|e| vec![e]),
        _ => {
            return Err((
                StatusCode::BAD_REQUEST,
                "body must be a JSON object or array of {\"type\",\"subject\",\"data\"}".into(),
            ))
        }
    };
    let events = parsed.map_err(|e| match e.classify() {
        serde_json::error::Category::Data => (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("invalid event: {e}"),
        ),
        _ => (
            StatusCode::BAD_REQUEST,
            format!("body is not valid JSON: {e}"),
        ),
    })?;
    if events.is_empty() {
        return Err((StatusCode::UNPROCESSABLE_ENTITY, "no events in body".into()));
    }
    if events.len() > MAX_EVENTS_PER_POST {
        return Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{} events in one body; at most {MAX_EVENTS_PER_POST}",
                events.len()
            ),
        ));
    }
    for (i, e) in events.iter().enumerate() {
        if let Err(why) = check_event(e) {
            return Err((
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("event {i}: {why}"),
            ));
        }
    }
    Ok(events)
}

fn check_event(e: &InEvent) -> Result<(), String> {
    let t = &e.event_type;
    if t.is_empty()
        || t.len() > 128
        || !t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Err(format!(
            "type {t:?} must be 1 to 128 letters, digits, '.', '-' or '_'"
        ));
    }
    if e.subject.is_empty() || e.subject.len() > 256 || e.subject.chars().any(char::is_control) {
        return Err("subject must be 1 to 256 characters without control characters".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_of(r: Result<Vec<InEvent>, (StatusCode, String)>) -> StatusCode {
        match r {
            Ok(_) => StatusCode::OK,
            Err((status, _)) => status,
        }
    }

    #[test]
    fn body_shapes() {
        assert_eq!(
            status_of(parse_events(
                br#"{"type":"pick.confirmed","subject":"SO-1","data":{}}"#
            )),
            StatusCode::OK
        );
        assert_eq!(
            status_of(parse_events(br#" [{"type":"a","subject":"b","data":[1]}]"#)),
            StatusCode::OK
        );
        assert_eq!(
            status_of(parse_events(b"not json")),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status_of(parse_events(b"{\"type\":")),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status_of(parse_events(b"[]")),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            status_of(parse_events(br#"{"type":"a","data":{}}"#)),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            status_of(parse_events(br#"{"type":"a b","subject":"x","data":{}}"#)),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            status_of(parse_events(
                br#"{"type":"a","subject":"x","data":{},"id":"mine"}"#
            )),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }

    #[test]
    fn since_accepts_times_and_durations() {
        assert_eq!(parse_since("1970-01-01T00:00:01Z"), Some(1000));
        let two_h = parse_since("2h").unwrap();
        assert!((now_ms() - two_h - 7_200_000).abs() < 5_000);
        assert_eq!(parse_since("yesterday-ish"), None);
    }
}

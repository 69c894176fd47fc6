//! HTTP devices: `POST /api/v1/ingest/<device>` takes one raw input for a device with
//! `source = "http"`, exactly as a serial or MQTT device would send it, and answers after the
//! commit: 202 with the event ids (and the operator feedback), 422 when the input was
//! quarantined, 503 when the buffer refuses input. The admin API serves this router beside its
//! own.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::watch;

use super::intake::IntakeHandle;
use super::DeviceStatus;
use crate::config::{Config, SourceKind};
use crate::ledger::InputOutcome;
use crate::model::{now_ms, rfc3339_ms, Chain, Input};

/// The devices as the ingest endpoint knows them; replaced when the configuration changes.
#[derive(Default)]
pub struct HttpMap {
    /// Every configured device's source, to tell "not an HTTP device" from "no such device".
    sources: HashMap<String, SourceKind>,
    /// Status views of the HTTP devices.
    statuses: HashMap<Arc<str>, DeviceStatus>,
    /// `admin.max_body`, for the error message of a body over it.
    max_body: u64,
}

impl HttpMap {
    /// The devices of `config`; `statuses` are the views of its HTTP devices.
    pub fn of(config: &Config, statuses: HashMap<Arc<str>, DeviceStatus>) -> Self {
        Self {
            sources: config
                .devices
                .iter()
                .map(|(id, d)| (id.clone(), d.source))
                .collect(),
            statuses,
            max_body: config.admin.max_body,
        }
    }
}

/// What the ingest endpoint works with.
#[derive(Clone)]
pub struct HttpDevices {
    map: watch::Receiver<Arc<HttpMap>>,
    intake: IntakeHandle,
}

impl HttpDevices {
    /// HTTP devices as `map` says now, feeding `intake`.
    pub fn new(map: watch::Receiver<Arc<HttpMap>>, intake: IntakeHandle) -> Self {
        Self { map, intake }
    }

    /// The ingest route; the admin API sets the body limit.
    pub fn router(self) -> Router {
        Router::new()
            .route("/api/v1/ingest/{device}", post(ingest))
            .with_state(self)
    }
}

/// A JSON error answer: `{"error": "..."}`.
fn fail(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

async fn ingest(
    State(s): State<HttpDevices>,
    Path(device): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let received_ms = now_ms();
    let map = s.map.borrow().clone();
    match map.sources.get(&device) {
        Some(SourceKind::Http) => {}
        Some(_) => {
            return fail(
                StatusCode::CONFLICT,
                format!("device {device:?} does not take input over HTTP"),
            )
        }
        None => return fail(StatusCode::NOT_FOUND, format!("no device named {device:?}")),
    }
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return fail(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body larger than admin.max_body ({} bytes)", map.max_body),
            )
        }
        Err(e) => return fail(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let id: Arc<str> = Arc::from(device.as_str());
    if let Some(st) = map.statuses.get(&id) {
        if let Ok(mut st) = st.lock() {
            st.up = true;
            st.inputs += 1;
            st.last_input_at = Some(rfc3339_ms(received_ms));
        }
    }
    let input = Input {
        device: id,
        bytes: body.to_vec(),
        received_ms,
        rejected: None,
        redelivery: None,
    };
    match s.intake.submit_once(input).await {
        Ok(InputOutcome::Committed { ids, feedback }) => (
            StatusCode::ACCEPTED,
            Json(json!({ "ids": ids, "feedback": feedback })),
        )
            .into_response(),
        Ok(InputOutcome::Rejected { reason, detail }) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "error": detail, "reason": reason, "quarantined": true })),
        )
            .into_response(),
        Ok(InputOutcome::Duplicate) => {
            (StatusCode::ACCEPTED, Json(json!({ "ids": [] }))).into_response()
        }
        Err(error) => {
            // Not stored: try again shortly (a full buffer, a failing disk, a shutdown).
            let mut r = fail(StatusCode::SERVICE_UNAVAILABLE, Chain(&error).to_string());
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
            r
        }
    }
}

//! Dock sensors: the accepted payloads, and door and trailer state with debounce.
//!
//! Each sensor (door, trailer) keeps its *settled* state, the last one emitted, and at most one
//! *pending* state: a different state reported at some time and not contradicted since. A
//! pending state becomes settled, and is emitted, once it has held for `debounce_ms`; a report of
//! the settled state drops it (flapping back emits nothing). Reports of the pending state
//! itself keep its start time, so a sensor repeating "open" does not restart the hold.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    base_data, DeviceContext, Emitted, Session, DOCK_DOOR_CLOSED, DOCK_DOOR_OPENED,
    DOCK_TRAILER_ARRIVED, DOCK_TRAILER_DEPARTED,
};

/// State of a dock door.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DoorState {
    /// Open.
    Open,
    /// Closed.
    Closed,
}

/// Whether a trailer stands at the dock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrailerState {
    /// A trailer is at the door.
    Present,
    /// No trailer.
    Absent,
}

/// A dock sensor message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DockSignal {
    /// The door sensor.
    Door(DoorState),
    /// The trailer sensor.
    Trailer(TrailerState),
}

/// Parses the accepted dock payloads: the words `open`, `closed`, `present`, `absent`
/// (surrounding white space and case ignored), or a JSON object `{"door":"open"|"closed"}` or
/// `{"trailer":"present"|"absent"}` (values also trimmed and case-insensitive; other keys are
/// ignored, but not both `door` and `trailer`). Anything else is an error with a human reason.
pub fn parse_dock(payload: &str) -> Result<DockSignal, String> {
    let text = payload.trim();
    if text.starts_with('{') {
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("invalid JSON dock message: {e}"))?;
        let door = value.get("door");
        let trailer = value.get("trailer");
        return match (door, trailer) {
            (Some(_), Some(_)) => Err("a dock message has door or trailer, not both".into()),
            (Some(v), None) => match word(v) {
                Some(DockSignal::Door(s)) => Ok(DockSignal::Door(s)),
                _ => Err(format!(
                    "expected \"door\": \"open\" or \"closed\", got {}",
                    excerpt(&v.to_string())
                )),
            },
            (None, Some(v)) => match word(v) {
                Some(DockSignal::Trailer(s)) => Ok(DockSignal::Trailer(s)),
                _ => Err(format!(
                    "expected \"trailer\": \"present\" or \"absent\", got {}",
                    excerpt(&v.to_string())
                )),
            },
            (None, None) => Err(format!(
                "expected a JSON object with \"door\" or \"trailer\", got {}",
                excerpt(text)
            )),
        };
    }
    parse_word(text).ok_or_else(|| {
        format!(
            "expected open, closed, present, absent, {{\"door\":…}} or {{\"trailer\":…}}, got {}",
            excerpt(text)
        )
    })
}

fn word(v: &Value) -> Option<DockSignal> {
    v.as_str().and_then(|s| parse_word(s.trim()))
}

fn parse_word(s: &str) -> Option<DockSignal> {
    const WORDS: [(&str, DockSignal); 4] = [
        ("open", DockSignal::Door(DoorState::Open)),
        ("closed", DockSignal::Door(DoorState::Closed)),
        ("present", DockSignal::Trailer(TrailerState::Present)),
        ("absent", DockSignal::Trailer(TrailerState::Absent)),
    ];
    WORDS
        .iter()
        .find(|(w, _)| s.eq_ignore_ascii_case(w))
        .map(|(_, signal)| *signal)
}

/// The payload quoted, cut to 60 characters.
fn excerpt(s: &str) -> String {
    let mut cut: String = s.chars().take(60).collect();
    if cut.len() < s.len() {
        cut.push('…');
    }
    format!("{cut:?}")
}

/// A sensor state that has an event per value.
pub(super) trait Level: Copy + Eq {
    /// The event emitted when this state settles.
    fn event_type(self) -> &'static str;
}

impl Level for DoorState {
    fn event_type(self) -> &'static str {
        match self {
            DoorState::Open => DOCK_DOOR_OPENED,
            DoorState::Closed => DOCK_DOOR_CLOSED,
        }
    }
}

impl Level for TrailerState {
    fn event_type(self) -> &'static str {
        match self {
            TrailerState::Present => DOCK_TRAILER_ARRIVED,
            TrailerState::Absent => DOCK_TRAILER_DEPARTED,
        }
    }
}

/// One sensor's settled state and the state waiting out its hold time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct Tracked<S> {
    /// The last state emitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    settled: Option<S>,
    /// A different state, reported and not contradicted since.
    #[serde(skip_serializing_if = "Option::is_none")]
    pending: Option<Pending<S>>,
}

impl<S> Default for Tracked<S> {
    fn default() -> Self {
        Tracked {
            settled: None,
            pending: None,
        }
    }
}

/// A state waiting out its hold time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Pending<S> {
    state: S,
    /// When the message that started it arrived.
    since_ms: i64,
    /// That message, for the event's `input`.
    input: String,
}

impl<S: Level> Tracked<S> {
    /// Nothing known (kept out of the stored JSON).
    pub(super) fn is_empty(&self) -> bool {
        self.settled.is_none() && self.pending.is_none()
    }

    /// The last state emitted.
    pub(super) fn settled(&self) -> Option<S> {
        self.settled
    }

    /// When the pending state falls due.
    pub(super) fn due_at(&self, debounce_ms: i64) -> Option<i64> {
        self.pending
            .as_ref()
            .map(|p| p.since_ms.saturating_add(debounce_ms.max(0)))
    }

    /// A report of `state` at `now_ms`.
    pub(super) fn observe(&mut self, state: S, now_ms: i64, input: &str) {
        if self.settled == Some(state) {
            self.pending = None;
        } else if self.pending.as_ref().is_none_or(|p| p.state != state) {
            self.pending = Some(Pending {
                state,
                since_ms: now_ms,
                input: input.to_owned(),
            });
        }
    }

    /// Settles the pending state if it has held for `debounce_ms` by `now_ms`.
    fn take_due(&mut self, now_ms: i64, debounce_ms: i64) -> Option<Pending<S>> {
        let due = self
            .pending
            .as_ref()
            .is_some_and(|p| now_ms.saturating_sub(p.since_ms) >= debounce_ms.max(0));
        if !due {
            return None;
        }
        let p = self.pending.take()?;
        self.settled = Some(p.state);
        Some(p)
    }
}

/// Emits every pending dock state that is due by `now_ms` (door first, then trailer).
pub(super) fn settle(
    session: &mut Session,
    dev: &DeviceContext,
    now_ms: i64,
    events: &mut Vec<Emitted>,
) {
    if let Some(p) = session.door.take_due(now_ms, dev.debounce_ms) {
        events.push(event(dev, p));
    }
    if let Some(p) = session.trailer.take_due(now_ms, dev.debounce_ms) {
        events.push(event(dev, p));
    }
}

fn event<S: Level>(dev: &DeviceContext, p: Pending<S>) -> Emitted {
    Emitted {
        event_type: p.state.event_type(),
        subject: dev.door.unwrap_or(dev.device).to_owned(),
        data: Value::Object(base_data(dev, &p.input)),
        time_ms: Some(p.since_ms),
    }
}

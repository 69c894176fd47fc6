//! The per-device [`Session`]: what the workflow remembers between inputs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::dock::{self, DoorState, TrailerState};
use super::DeviceContext;

/// Per-device state, persisted between inputs (serde JSON); it survives restarts.
///
/// Unknown or missing JSON fields are tolerated (missing ones take their defaults), so the
/// stored form can grow.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Session {
    /// The open order (pick and pack: the session; ship and receive: context for the events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) order: Option<String>,
    /// Return: the open return's RMA number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) rma: Option<String>,
    /// Return: the condition of the items scanned from now on; none: `resellable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) condition: Option<String>,
    /// Return: items received for the open return, by condition.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) by_condition: BTreeMap<String, u64>,
    /// Count: what was tallied at the open count's location (the session's `location`), by
    /// GTIN and lot, in first-scan order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) counted: Vec<Tally>,
    /// Last location scanned (count: the location being counted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) location: Option<String>,
    /// Last tote scanned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) tote: Option<String>,
    /// Pick: items confirmed for the open order.
    #[serde(skip_serializing_if = "is_zero")]
    pub(super) lines: u64,
    /// Pack: the fields of each item packed for the open order, in scan order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) items: Vec<Map<String, Value>>,
    /// Ship: SSCCs loaded since the last done, in load order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) loaded: Vec<String>,
    /// When the last scan arrived (ms since the epoch), for idle expiry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) last_input_ms: Option<i64>,
    /// The order idle expiry closed, told to the operator at the next scan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) idle_closed: Option<String>,
    /// Dock: the door sensor.
    #[serde(skip_serializing_if = "dock::Tracked::is_empty")]
    pub(super) door: dock::Tracked<DoorState>,
    /// Dock: the trailer sensor.
    #[serde(skip_serializing_if = "dock::Tracked::is_empty")]
    pub(super) trailer: dock::Tracked<TrailerState>,
}

/// One line of a cycle count: a GTIN and lot, and how many were counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Tally {
    pub(super) gtin: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) lot: Option<String>,
    pub(super) quantity: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Session {
    /// The open order.
    pub fn order(&self) -> Option<&str> {
        self.order.as_deref()
    }

    /// The last location scanned in this session.
    pub fn location(&self) -> Option<&str> {
        self.location.as_deref()
    }

    /// The last tote scanned in this session.
    pub fn tote(&self) -> Option<&str> {
        self.tote.as_deref()
    }

    /// Pick and return: items confirmed or received for the open order or return.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Return: the open return's RMA number.
    pub fn rma(&self) -> Option<&str> {
        self.rma.as_deref()
    }

    /// Count: lines (GTIN and lot) tallied at the location being counted.
    pub fn counted_lines(&self) -> usize {
        self.counted.len()
    }

    /// Pack: items packed for the open order.
    pub fn packed_items(&self) -> usize {
        self.items.len()
    }

    /// Ship: SSCCs loaded since the last done.
    pub fn loaded(&self) -> &[String] {
        &self.loaded
    }

    /// Dock: the settled door state, if one was ever emitted.
    pub fn door_state(&self) -> Option<DoorState> {
        self.door.settled()
    }

    /// Dock: the settled trailer state, if one was ever emitted.
    pub fn trailer_state(&self) -> Option<TrailerState> {
        self.trailer.settled()
    }

    /// The earliest time (ms since the epoch) at which [`tick`](super::tick) would change something: a
    /// pending dock state falls due or the open session goes idle. `None`: nothing is waiting.
    pub fn next_deadline(&self, dev: &DeviceContext) -> Option<i64> {
        let idle = (self.is_open() && dev.session_idle_ms > 0)
            .then_some(self.last_input_ms)
            .flatten()
            .map(|t| t.saturating_add(dev.session_idle_ms));
        [
            idle,
            self.door.due_at(dev.debounce_ms),
            self.trailer.due_at(dev.debounce_ms),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Whether there is anything idle expiry would close.
    fn is_open(&self) -> bool {
        self.order.is_some()
            || self.rma.is_some()
            || !self.counted.is_empty()
            || self.location.is_some()
            || self.tote.is_some()
            || self.lines > 0
            || !self.items.is_empty()
    }

    /// Closes the session: forgets the order or return, its lines, items and tallies,
    /// location and tote. The ship loaded list and dock state are not part of it.
    pub(super) fn close(&mut self) {
        self.order = None;
        self.rma = None;
        self.condition = None;
        self.by_condition.clear();
        self.counted.clear();
        self.location = None;
        self.tote = None;
        self.lines = 0;
        self.items.clear();
    }

    /// Closes the session if it has had no scan for `session_idle_ms`; no event.
    pub(super) fn expire_idle(&mut self, dev: &DeviceContext, now_ms: i64) {
        let idle = dev.session_idle_ms > 0
            && self.is_open()
            && self
                .last_input_ms
                .is_some_and(|t| now_ms.saturating_sub(t) >= dev.session_idle_ms);
        if idle {
            if let Some(open) = self.order.clone().or_else(|| self.rma.clone()) {
                self.idle_closed = Some(open);
            }
            self.close();
        }
    }
}

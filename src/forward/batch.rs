//! What a sink worker holds: requests' worth of events (`Batch`) and the subjects they belong
//! to (`Hand`).
//!
//! A batch may carry several events of one subject, consecutive and in sequence order: the
//! receiver reads a batch in array order, so order within the subject holds, and a station that
//! scans fast under one subject (a receiving dock, a long pick) is not held to one event per
//! round trip. What that asks of the worker: the halves of a refused batch go out one after the
//! other, and once an event is dead-lettered, the events of its subject still in hand are let
//! go (the ledger holds them behind the dead one).

use std::collections::VecDeque;
use std::sync::Arc;

use foldhash::{HashMap, HashSet};
use sha2::{Digest, Sha256};

use crate::ledger::{EventRef, Sendable};

/// One request's worth of events.
pub(super) struct Batch {
    pub key: String,
    pub seqs: Vec<i64>,
    pub subjects: Vec<Arc<str>>,
    pub created_ms: Vec<i64>,
    pub json: Vec<Arc<str>>,
    /// Key under which the ledger has these events recorded as a batch, if it has: when it
    /// differs from `key` (split, a subject let go), the new membership replaces that record.
    pub stored: Option<String>,
    /// The ledger's drop count when this batch was sent: if it changed meanwhile, some of its
    /// events may be gone, so a failed batch is read again instead of retried from memory.
    pub drops_epoch: u64,
    /// A half of a refused batch: sent only when no other half is in flight, because halves
    /// can share a subject.
    pub split: bool,
}

impl Batch {
    /// A batch of `items`; `stored` is the key the ledger has exactly these events planned
    /// under.
    pub fn new(items: Vec<Sendable>, stored: Option<String>) -> Self {
        let key = match (&stored, items.as_slice()) {
            (Some(key), _) => key.clone(),
            (None, [one]) => one.id.to_string(),
            (None, _) => batch_key(items.iter().map(|d| &*d.id)),
        };
        Self {
            key,
            seqs: items.iter().map(|d| d.seq).collect(),
            subjects: items.iter().map(|d| d.subject.clone()).collect(),
            created_ms: items.iter().map(|d| d.created_ms).collect(),
            json: items.into_iter().map(|d| d.body).collect(),
            stored,
            drops_epoch: 0,
            split: false,
        }
    }

    /// Whether the ledger must record this batch before it goes out: several events not yet
    /// recorded under this key, or events that leave a recorded batch.
    pub fn needs_record(&self) -> bool {
        self.stored.as_deref() != Some(self.key.as_str())
            && (self.seqs.len() > 1 || self.stored.is_some())
    }

    /// After the ledger recorded it: a single event needs no record, its id is its key.
    pub fn mark_recorded(&mut self) {
        self.stored = (self.seqs.len() > 1).then(|| self.key.clone());
    }

    /// A new batch of the given events, in sequence order: the order a recorded batch is read
    /// back in after a restart, so a resent batch has the same body under the same key. Each
    /// subject's events stay in order.
    pub fn assemble(mut items: Vec<Sendable>) -> Self {
        items.sort_unstable_by_key(|d| d.seq);
        Self::new(items, None)
    }

    pub fn is_batch(&self) -> bool {
        self.seqs.len() > 1
    }

    /// Its events, as an outcome names them.
    pub fn events(&self) -> Vec<EventRef> {
        self.seqs
            .iter()
            .zip(&self.subjects)
            .map(|(seq, subject)| EventRef {
                seq: *seq,
                subject: subject.clone(),
            })
            .collect()
    }

    /// Splits a refused batch in two; each half is a new batch under a new key.
    pub fn split(self) -> (Batch, Batch) {
        let mid = self.seqs.len() / 2;
        let half = |range: std::ops::Range<usize>| {
            let mut h = Batch {
                key: String::new(),
                seqs: self.seqs[range.clone()].to_vec(),
                subjects: self.subjects[range.clone()].to_vec(),
                created_ms: self.created_ms[range.clone()].to_vec(),
                json: self.json[range].to_vec(),
                stored: self.stored.clone(),
                drops_epoch: self.drops_epoch,
                split: true,
            };
            h.rekey();
            h
        };
        (half(0..mid), half(mid..self.seqs.len()))
    }

    /// A new key for changed membership; a single event goes under its id alone.
    pub fn rekey(&mut self) {
        self.key = match self.json.as_slice() {
            [one] => id_of(one).to_owned(),
            many => batch_key(many.iter().map(|j| id_of(j))),
        };
    }

    /// Removes the events of `subject`; returns their sequence numbers.
    fn remove_subject(&mut self, subject: &str) -> Vec<i64> {
        let keep: Vec<bool> = self.subjects.iter().map(|s| &**s != subject).collect();
        let removed: Vec<i64> = self
            .seqs
            .iter()
            .zip(&keep)
            .filter(|(_, k)| !**k)
            .map(|(s, _)| *s)
            .collect();
        if removed.is_empty() {
            return removed;
        }
        retain_marked(&mut self.seqs, &keep);
        retain_marked(&mut self.subjects, &keep);
        retain_marked(&mut self.created_ms, &keep);
        retain_marked(&mut self.json, &keep);
        if !self.seqs.is_empty() {
            self.rekey();
        }
        removed
    }

    pub fn body(&self, batch_mode: bool) -> String {
        if !batch_mode {
            return self.json[0].to_string();
        }
        let mut body =
            String::with_capacity(self.json.iter().map(|j| j.len() + 1).sum::<usize>() + 2);
        body.push('[');
        for (i, j) in self.json.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(j);
        }
        body.push(']');
        body
    }
}

/// Keeps the elements of `v` whose mark is true.
fn retain_marked<T>(v: &mut Vec<T>, marks: &[bool]) {
    let mut marks = marks.iter();
    v.retain(|_| marks.next().copied().unwrap_or(true));
}

/// The events a worker has queued or in flight, counted per subject. A subject in hand is not
/// read again from the ledger, which is what keeps per-subject order whatever the ledger does
/// meanwhile.
#[derive(Default)]
pub(super) struct Hand {
    subjects: HashMap<Arc<str>, usize>,
    seqs: HashSet<i64>,
}

impl Hand {
    /// Events in hand.
    pub fn events(&self) -> usize {
        self.seqs.len()
    }

    /// Whether events of `subject` are in hand: the ledger read skips it.
    pub fn holds_subject(&self, subject: &str) -> bool {
        self.subjects.contains_key(subject)
    }

    /// Whether the event is in hand: the ledger read skips recorded batches already here.
    pub fn holds_event(&self, seq: i64) -> bool {
        self.seqs.contains(&seq)
    }

    pub fn take(&mut self, batch: &Batch) {
        for s in &batch.subjects {
            *self.subjects.entry(s.clone()).or_default() += 1;
        }
        self.seqs.extend(batch.seqs.iter().copied());
    }

    pub fn release(&mut self, batch: &Batch) {
        for (s, seq) in batch.subjects.iter().zip(&batch.seqs) {
            self.release_one(s, *seq);
        }
    }

    fn release_one(&mut self, subject: &str, seq: i64) {
        if let Some(count) = self.subjects.get_mut(subject) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.subjects.remove(subject);
            }
        }
        self.seqs.remove(&seq);
    }

    /// After a dead letter: lets go of the queued events of `subject` (the ledger now holds
    /// them behind the dead one) and drops batches left empty.
    pub fn let_go_of_subject(&mut self, queue: &mut VecDeque<Batch>, subject: &str) {
        for batch in queue.iter_mut() {
            for seq in batch.remove_subject(subject) {
                self.release_one(subject, seq);
            }
        }
        queue.retain(|b| !b.seqs.is_empty());
    }
}

/// The `id` of a rendered CloudEvent (always the second member, see `write_cloudevent`).
pub(super) fn id_of(json: &str) -> &str {
    json.split_once("\"id\":\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(id, _)| id)
        .unwrap_or("")
}

/// Stable key of a batch: a hash of its event ids in order.
pub fn batch_key<'a>(ids: impl Iterator<Item = &'a str>) -> String {
    let mut h = Sha256::new();
    for id in ids {
        h.update(id.as_bytes());
        h.update(b"\n");
    }
    let digest = h.finalize();
    let mut out = String::with_capacity(34);
    out.push_str("b-");
    for b in &digest[..16] {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(seq: i64, id: &str, subject: &str) -> Sendable {
        let mut json = String::new();
        crate::model::write_cloudevent(
            &mut json,
            id,
            "s",
            "t",
            subject,
            "2024-01-01T00:00:00.000Z",
            seq,
            "{}",
        );
        Sendable {
            seq,
            id: id.into(),
            subject: subject.into(),
            created_ms: 0,
            body: json.into(),
        }
    }

    #[test]
    fn batch_keys_are_stable_and_order_sensitive() {
        let a = batch_key(["x", "y"].into_iter());
        assert_eq!(a, batch_key(["x", "y"].into_iter()));
        assert_ne!(a, batch_key(["y", "x"].into_iter()));
        assert!(a.starts_with("b-") && a.len() == 34);
    }

    #[test]
    fn single_event_key_is_its_id() {
        let b = Batch::new(vec![item(1, "id-1", "S1")], None);
        assert_eq!(b.key, "id-1");
        assert!(!b.needs_record());
        assert_eq!(b.body(false), &*b.json[0]);
    }

    #[test]
    fn split_halves_get_new_keys_and_singles_use_the_id() {
        let b = Batch::new(
            vec![item(1, "a", "S1"), item(2, "b", "S2"), item(3, "c", "S3")],
            None,
        );
        assert!(b.needs_record());
        let body: serde_json::Value = serde_json::from_str(&b.body(true)).unwrap();
        assert_eq!(body.as_array().unwrap().len(), 3);
        let (l, r) = b.split();
        assert_eq!(l.seqs, vec![1]);
        assert_eq!(l.key, "a");
        assert!(!l.needs_record() && l.split);
        assert_eq!(r.seqs, vec![2, 3]);
        assert_eq!(r.key, batch_key(["b", "c"].into_iter()));
        assert!(r.needs_record() && r.split);
    }

    #[test]
    fn hand_counts_events_per_subject() {
        let mut hand = Hand::default();
        let b = Batch::new(
            vec![item(1, "a", "A"), item(2, "b", "A"), item(3, "c", "B")],
            None,
        );
        hand.take(&b);
        assert_eq!(hand.events(), 3);
        let (l, r) = b.split();
        // The first half is delivered; A still has an event in the other half.
        hand.release(&l);
        assert!(hand.holds_subject("A"));
        hand.release(&r);
        assert!(!hand.holds_subject("A") && !hand.holds_subject("B"));
        assert_eq!(hand.events(), 0);
    }

    #[test]
    fn a_dead_letter_lets_go_of_its_subject_in_queued_halves() {
        let mut hand = Hand::default();
        let b = Batch::new(
            vec![
                item(1, "a1", "A"),
                item(2, "a2", "A"),
                item(3, "b1", "B"),
                item(4, "a3", "A"),
            ],
            None,
        );
        hand.take(&b);
        let (l, r) = b.split();
        let (dead, rest) = l.split();
        assert_eq!((dead.seqs.clone(), rest.seqs.clone()), (vec![1], vec![2]));
        let mut queue = VecDeque::from([rest, r]);
        hand.release(&dead);
        hand.let_go_of_subject(&mut queue, "A");
        // a2 leaves with its batch; [b1, a3] becomes [b1] under b1's own id.
        assert_eq!(queue.len(), 1);
        assert_eq!(queue[0].seqs, vec![3]);
        assert_eq!(queue[0].key, "b1");
        assert!(!queue[0].needs_record());
        assert_eq!(hand.events(), 1);
        assert!(hand.holds_subject("B") && !hand.holds_subject("A"));
        assert!(hand.holds_event(3) && !hand.holds_event(4));
    }
}

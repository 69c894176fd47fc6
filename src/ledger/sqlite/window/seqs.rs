//! Containers keyed by sequence number for a sink's read-ahead. Events enter a window in
//! ascending sequence order (a read appends what lies above the last one) and mostly leave
//! from the front, so sorted deques do what B-trees did at a fraction of the cost per event:
//! no node allocations, lookups by binary search over contiguous memory.

use std::collections::VecDeque;

/// A map from sequence number to `V`, sorted. Removal leaves a hole, closed at either end at
/// once and in the middle once holes outnumber entries, so memory stays within twice the
/// entries.
#[derive(Debug)]
pub(super) struct SeqMap<V> {
    slots: VecDeque<(i64, Option<V>)>,
    live: usize,
}

impl<V> Default for SeqMap<V> {
    fn default() -> Self {
        Self {
            slots: VecDeque::new(),
            live: 0,
        }
    }
}

impl<V> SeqMap<V> {
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    fn find(&self, seq: i64) -> Result<usize, usize> {
        self.slots.binary_search_by_key(&seq, |(s, _)| *s)
    }

    pub fn get(&self, seq: i64) -> Option<&V> {
        let i = self.find(seq).ok()?;
        self.slots[i].1.as_ref()
    }

    pub fn contains(&self, seq: i64) -> bool {
        self.get(seq).is_some()
    }

    /// Inserts `value` unless `seq` is there already; returns whether it went in.
    pub fn insert(&mut self, seq: i64, value: V) -> bool {
        if self.slots.back().is_none_or(|(last, _)| *last < seq) {
            self.slots.push_back((seq, Some(value)));
        } else {
            match self.find(seq) {
                Ok(i) if self.slots[i].1.is_some() => return false,
                Ok(i) => self.slots[i].1 = Some(value),
                Err(i) => self.slots.insert(i, (seq, Some(value))),
            }
        }
        self.live += 1;
        true
    }

    pub fn remove(&mut self, seq: i64) -> Option<V> {
        let i = self.find(seq).ok()?;
        let value = self.slots[i].1.take()?;
        self.live -= 1;
        while self.slots.front().is_some_and(|(_, v)| v.is_none()) {
            self.slots.pop_front();
        }
        while self.slots.back().is_some_and(|(_, v)| v.is_none()) {
            self.slots.pop_back();
        }
        if self.slots.len() > 2 * self.live + 64 {
            self.slots.retain(|(_, v)| v.is_some());
        }
        Some(value)
    }

    /// Entries in ascending sequence order.
    pub fn iter(&self) -> impl Iterator<Item = (i64, &V)> {
        self.slots
            .iter()
            .filter_map(|(s, v)| v.as_ref().map(|v| (*s, v)))
    }
}

/// The sequence numbers of one subject in a window, ascending.
#[derive(Debug, Default)]
pub(super) struct SeqRun(VecDeque<i64>);

impl SeqRun {
    pub fn first(&self) -> Option<i64> {
        self.0.front().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn insert(&mut self, seq: i64) {
        if self.0.back().is_none_or(|last| *last < seq) {
            self.0.push_back(seq);
        } else if let Err(i) = self.0.binary_search(&seq) {
            self.0.insert(i, seq);
        }
    }

    pub fn remove(&mut self, seq: i64) {
        if self.0.front() == Some(&seq) {
            self.0.pop_front();
        } else if let Ok(i) = self.0.binary_search(&seq) {
            self.0.remove(i);
        }
    }

    /// The sequence numbers from `seq` on.
    pub fn from(&self, seq: i64) -> impl Iterator<Item = i64> + '_ {
        let start = self.0.partition_point(|s| *s < seq);
        self.0.range(start..).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_keeps_order_and_closes_its_holes() {
        let mut m = SeqMap::default();
        for s in [1, 2, 3, 5, 8] {
            assert!(m.insert(s, s * 10));
        }
        assert!(!m.insert(3, 0), "already there");
        assert!(m.insert(4, 40), "out of order goes in its place");
        assert_eq!(m.remove(3), Some(30));
        assert_eq!(m.remove(3), None);
        assert!(m.insert(3, 31), "a hole takes a new value");
        assert_eq!(m.get(3), Some(&31));
        assert_eq!(
            m.iter().map(|(s, _)| s).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5, 8]
        );
        for s in [1, 2, 3, 4, 5, 8] {
            m.remove(s);
        }
        assert!(m.is_empty() && m.slots.is_empty());
    }

    #[test]
    fn holes_in_the_middle_do_not_pile_up() {
        let mut m = SeqMap::default();
        m.insert(0, ());
        for s in 1..10_000 {
            m.insert(s, ());
            if s > 1 {
                m.remove(s - 1);
            }
        }
        // 0 stays (a slow subject's head) while everything behind it comes and goes.
        assert_eq!(m.len(), 2);
        assert!(m.slots.len() <= 2 * 2 + 64 + 1, "{} slots", m.slots.len());
        assert!(m.contains(0) && m.contains(9_999));
    }

    #[test]
    fn a_run_is_sorted_and_reads_from_a_point() {
        let mut r = SeqRun::default();
        for s in [2, 4, 9, 3] {
            r.insert(s);
        }
        r.insert(4);
        assert_eq!(r.from(0).collect::<Vec<_>>(), vec![2, 3, 4, 9]);
        assert_eq!(r.from(4).collect::<Vec<_>>(), vec![4, 9]);
        r.remove(2);
        r.remove(4);
        assert_eq!(r.first(), Some(3));
        assert_eq!(r.from(0).collect::<Vec<_>>(), vec![3, 9]);
    }
}

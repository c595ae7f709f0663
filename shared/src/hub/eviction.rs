//! Which entry a bounded order table gives up when it is full.
//!
//! Both order tables (the hub's, which answers `get_orders`, and the bridge's book,
//! which turns TWS's messages into changes) keep at most a set number of orders. The
//! first to go is the finished order (filled, cancelled) touched longest ago, and only
//! when there is none the order touched longest ago. This index sits beside a table and
//! orders its entries by last touch, so choosing costs a lookup rather than a scan: a
//! full table costs the same per event as an empty one.

use std::collections::{BTreeMap, BTreeSet};

/// Entries by last touch. Each touch returns a stamp the table keeps with the entry
/// and hands back on the next touch or when the entry leaves.
#[derive(Debug)]
pub struct EvictionIndex<K> {
    by_age: BTreeMap<u64, K>,
    /// Stamps of finished entries.
    finished: BTreeSet<u64>,
    counter: u64,
}

impl<K> Default for EvictionIndex<K> {
    fn default() -> Self {
        EvictionIndex { by_age: BTreeMap::new(), finished: BTreeSet::new(), counter: 0 }
    }
}

impl<K: Copy> EvictionIndex<K> {
    /// Records that `key` changed now (replacing its previous stamp, if any); returns
    /// its new stamp.
    pub fn touch(&mut self, previous: Option<u64>, key: K, finished: bool) -> u64 {
        if let Some(p) = previous {
            self.forget(p);
        }
        self.counter += 1;
        let n = self.counter;
        self.by_age.insert(n, key);
        if finished {
            self.finished.insert(n);
        }
        n
    }

    /// The entry with this stamp left the table.
    pub fn forget(&mut self, stamp: u64) {
        self.by_age.remove(&stamp);
        self.finished.remove(&stamp);
    }

    /// The entry to give up first: the oldest finished one, else the oldest.
    pub fn victim(&self) -> Option<K> {
        let n = self.finished.first().or_else(|| self.by_age.keys().next())?;
        self.by_age.get(n).copied()
    }

    /// The oldest entries first, finished ones before the rest (for a caller that must
    /// pass over some).
    pub fn candidates(&self) -> impl Iterator<Item = K> + '_ {
        let finished = self.finished.iter().filter_map(|n| self.by_age.get(n).copied());
        let rest = self.by_age.iter().filter(|(n, _)| !self.finished.contains(n)).map(|(_, k)| *k);
        finished.chain(rest)
    }

    pub fn clear(&mut self) {
        self.by_age.clear();
        self.finished.clear();
    }

    pub fn len(&self) -> usize {
        self.by_age.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_age.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_finished_entry_goes_first_then_the_oldest() {
        let mut ix = EvictionIndex::default();
        let a = ix.touch(None, 'a', false);
        let b = ix.touch(None, 'b', true);
        let _c = ix.touch(None, 'c', true);
        assert_eq!(ix.victim(), Some('b'));
        // b is touched again (still finished): c is now the older finished entry
        let b = ix.touch(Some(b), 'b', true);
        assert_eq!(ix.victim(), Some('c'));
        assert_eq!(ix.candidates().collect::<String>(), "cba");
        ix.forget(b);
        let c = ix.candidates().next();
        assert_eq!(c, Some('c'));
        // no finished entry left: the oldest goes
        let mut ix2 = EvictionIndex::default();
        ix2.touch(None, 1, false);
        ix2.touch(None, 2, false);
        assert_eq!(ix2.victim(), Some(1));
        ix.forget(a);
        assert_eq!(ix.len(), 1);
    }
}

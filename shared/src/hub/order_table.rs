//! The hub's own copy of every order, so `get_orders` never asks the source.

use std::collections::HashMap;

use crate::protocol::OrderData;

/// Orders keyed by [`OrderData::key`], bounded: past the cap, the terminal order
/// updated longest ago is evicted first.
#[derive(Debug, Default)]
pub struct OrderTable {
    rows: HashMap<i64, (u64, OrderData)>,
    counter: u64,
    cap: usize,
}

impl OrderTable {
    pub fn new(cap: usize) -> Self {
        OrderTable { rows: HashMap::new(), counter: 0, cap: cap.max(1) }
    }

    /// Records the latest state of one order.
    pub fn upsert(&mut self, order: &OrderData) {
        self.counter += 1;
        let key = order.key();
        // A first sighting under (clientId, orderId) is superseded once permId arrives.
        if order.perm_id.is_some_and(|p| p != 0) {
            let provisional = OrderData { perm_id: None, ..order.clone() }.key();
            self.rows.remove(&provisional);
        }
        self.rows.insert(key, (self.counter, order.as_row()));
        if self.rows.len() > self.cap {
            self.evict_one();
        }
    }

    fn evict_one(&mut self) {
        let victim = self
            .rows
            .iter()
            .filter(|(_, (_, o))| o.is_terminal())
            .min_by_key(|(_, (n, _))| *n)
            .or_else(|| self.rows.iter().min_by_key(|(_, (n, _))| *n))
            .map(|(k, _)| *k);
        if let Some(k) = victim {
            self.rows.remove(&k);
        }
    }

    /// Replaces the whole table.
    pub fn replace(&mut self, orders: &[OrderData]) {
        self.rows.clear();
        for o in orders {
            self.upsert(o);
        }
    }

    /// All rows, ordered by order id then perm id.
    pub fn rows(&self) -> Vec<&OrderData> {
        let mut v: Vec<&OrderData> = self.rows.values().map(|(_, o)| o).collect();
        v.sort_by_key(|o| (o.order_id, o.perm_id));
        v
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

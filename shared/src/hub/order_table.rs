//! The hub's copy of every order's row, as the source sent it in its `order_update`s,
//! so `get_orders` never asks the source. The order truth is the bridge's order book;
//! this stores what the book reported and derives nothing.

use std::collections::HashMap;

use super::eviction::EvictionIndex;

use crate::protocol::OrderData;

/// Orders keyed by [`OrderData::key`], bounded: past the cap, the terminal order
/// updated longest ago is evicted first (else the order updated longest ago; see
/// [`EvictionIndex`]).
#[derive(Debug, Default)]
pub struct OrderTable {
    /// Key -> (eviction stamp, row).
    rows: HashMap<i64, (u64, OrderData)>,
    ages: EvictionIndex<i64>,
    cap: usize,
    /// [`OrderData::held_bytes`] of every row, plus a map slot each.
    bytes: usize,
}

/// What a map slot and its eviction entry cost beside the row.
const SLOT_BYTES: usize = 64;

impl OrderTable {
    pub fn new(cap: usize) -> Self {
        OrderTable { rows: HashMap::new(), ages: EvictionIndex::default(), cap: cap.max(1), bytes: 0 }
    }

    fn remove_row(&mut self, key: i64) -> Option<(u64, OrderData)> {
        let (n, o) = self.rows.remove(&key)?;
        self.ages.forget(n);
        self.bytes -= o.held_bytes() + SLOT_BYTES;
        Some((n, o))
    }

    fn insert_row(&mut self, key: i64, row: OrderData) {
        self.remove_row(key);
        let n = self.ages.touch(None, key, row.is_terminal());
        self.bytes += row.held_bytes() + SLOT_BYTES;
        self.rows.insert(key, (n, row));
    }

    /// Stores one order's row as the source sent it (its `order_update`: the whole
    /// row, which the bridge's order book alone derives; nothing here merges or
    /// re-derives fields). Returns the keys whose rows changed: the order's own, and
    /// any row removed (its provisional key, an evicted order).
    pub fn put(&mut self, order: &OrderData) -> [Option<i64>; 3] {
        let key = order.key();
        // A first sighting under (clientId, orderId) is superseded once permId arrives.
        let provisional = OrderData { perm_id: None, ..order.clone() }.key();
        let mut removed = None;
        if order.perm_id.is_some_and(|p| p != 0) && provisional != key && self.remove_row(provisional).is_some() {
            removed = Some(provisional);
        }
        self.insert_row(key, order.as_row());
        let evicted = if self.rows.len() > self.cap { self.evict_one() } else { None };
        [Some(key), removed, evicted]
    }

    /// The stored row of one order.
    pub fn get(&self, key: i64) -> Option<&OrderData> {
        self.rows.get(&key).map(|(_, o)| o)
    }

    /// The account of the order with TWS order id `order_id`, when the table holds
    /// such orders and they all name the same account (order ids are per API client,
    /// so two clients' orders may share one). Looks at every row: an error's cost is
    /// bounded by the table's size.
    pub fn account_of_order_id(&self, order_id: i64) -> Option<&str> {
        let mut found: Option<&str> = None;
        for (_, o) in self.rows.values().filter(|(_, o)| o.order_id == order_id) {
            match (found, o.account.as_deref()) {
                (_, None) => return None,
                (None, Some(a)) => found = Some(a),
                (Some(f), Some(a)) if f != a => return None,
                _ => {}
            }
        }
        found
    }

    /// Every key in the table.
    pub fn keys(&self) -> impl Iterator<Item = i64> + '_ {
        self.rows.keys().copied()
    }

    fn evict_one(&mut self) -> Option<i64> {
        let key = self.ages.victim()?;
        self.remove_row(key);
        Some(key)
    }

    /// Replaces the whole table.
    pub fn replace(&mut self, orders: &[OrderData]) {
        self.rows.clear();
        self.ages.clear();
        self.bytes = 0;
        for o in orders {
            self.put(o);
        }
    }

    /// All rows, ordered by order id then perm id.
    pub fn rows(&self) -> Vec<&OrderData> {
        let mut v: Vec<&OrderData> = self.rows.values().map(|(_, o)| o).collect();
        v.sort_by_key(|o| (o.order_id, o.perm_id));
        v
    }

    /// About what the table holds in memory.
    pub fn held_bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Num;

    #[test]
    fn a_row_is_stored_as_given_and_its_provisional_key_goes() {
        let mut t = OrderTable::new(10);
        let first = OrderData {
            order_id: 1,
            client_id: Some(0),
            symbol: "AAPL".into(),
            quantity: Num(100.0),
            ..Default::default()
        };
        let [k, ..] = t.put(&first);
        let filled = OrderData {
            status: "Submitted".into(),
            filled: Some(Num(40.0)),
            remaining: Some(Num(60.0)),
            perm_id: Some(9),
            ..first.clone()
        };
        let [k2, removed, _] = t.put(&filled);
        assert_eq!(removed, k, "the permId supersedes the provisional key");
        assert_eq!(t.len(), 1);
        assert_eq!(t.get(k2.unwrap()).unwrap(), &filled.as_row());
    }

    #[test]
    fn eviction_takes_the_oldest_terminal_order_first_then_the_oldest() {
        let mut t = OrderTable::new(3);
        let order = |id: i64, status: &str| OrderData {
            order_id: id,
            perm_id: Some(id),
            status: status.into(),
            ..Default::default()
        };
        t.put(&order(1, "Submitted"));
        t.put(&order(2, "Filled"));
        t.put(&order(3, "Cancelled"));
        assert_eq!(t.put(&order(4, "Submitted"))[2], Some(order(2, "").key()), "oldest terminal");
        // order 3 becomes live again: now only live rows, the oldest goes
        t.put(&order(3, "Submitted"));
        assert_eq!(t.put(&order(5, "Submitted"))[2], Some(order(1, "").key()), "then the oldest");
        let ids: Vec<i64> = t.rows().iter().map(|o| o.order_id).collect();
        assert_eq!(ids, vec![3, 4, 5]);
        assert_eq!((t.ages.len(), t.rows.len()), (3, 3));
    }
}

//! Storage for hosts that keep the stream on disk (the edge relay's Durable Object):
//! the hub journals what changed, and the host writes only that.

use super::*;

impl Hub {
    /// Starts recording changes for [`Hub::take_changes`].
    pub fn enable_journal(&mut self) {
        self.journal.get_or_insert_with(Default::default);
    }

    /// The changes since the last take, or `None` when nothing changed. The host
    /// stores them (in one transaction) before it acknowledges the stream position.
    pub fn take_changes(&mut self) -> Option<StreamChanges> {
        let j = self.journal.as_mut()?;
        if !j.dirty {
            return None;
        }
        let j = std::mem::take(j);
        let keep_from = self.ring.first_seq().unwrap_or(self.seq + 1);
        let mut orders: Vec<(i64, Option<OrderData>)> =
            j.orders.into_iter().map(|k| (k, self.orders.get(k).cloned())).collect();
        orders.sort_by_key(|(k, _)| *k);
        Some(StreamChanges {
            epoch: self.epoch.clone(),
            seq: self.seq,
            source_connected: self.source_connected,
            clear_events: j.clear_events,
            clear_tables: j.clear_tables,
            events: j.events.into_iter().filter(|(s, _)| *s >= keep_from).collect(),
            keep_from,
            orders,
            accounts: j.accounts.iter().filter_map(|a| self.accounts.get(a).cloned()).collect(),
        })
    }
}

//! What changed in the stream since its host last stored it.
//!
//! A host that keeps the stream on disk (the edge relay's Durable Object) writes only
//! these changes, one row per event, per order and per account, instead of the whole
//! stream: a write costs what changed, however full the ring is, and no single stored
//! value grows with the stream. The hub records changes only when the host asks for
//! them ([`super::Hub::enable_journal`]); taking them ([`super::Hub::take_changes`])
//! starts the next batch.

use std::collections::{BTreeSet, HashSet};

use serde::Serialize;

use super::Frame;
use crate::protocol::{AccountState, OrderData};

/// Pending changes (inside the hub).
#[derive(Debug, Default)]
pub(super) struct Journal {
    pub clear_events: bool,
    pub clear_tables: bool,
    pub events: Vec<(u64, Frame)>,
    pub orders: HashSet<i64>,
    pub accounts: BTreeSet<String>,
    pub dirty: bool,
}

impl Journal {
    /// The ring was emptied: stored events go, and so do the ones not yet stored.
    pub fn restart(&mut self) {
        self.clear_events = true;
        self.events.clear();
        self.dirty = true;
    }
}

/// One batch of changes, in the order a host applies them: clear what is flagged,
/// delete events below `keep_from`, then write the rows and the position.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StreamChanges {
    pub epoch: String,
    /// The stream's position once these changes are stored.
    pub seq: u64,
    pub source_connected: bool,
    /// Delete every stored event first (a new epoch, a gap, a snapshot ahead).
    pub clear_events: bool,
    /// Delete every stored order and account first (a snapshot replaced the tables).
    pub clear_tables: bool,
    /// Events appended, in seq order: (seq, the event's text).
    pub events: Vec<(u64, Frame)>,
    /// The oldest seq the ring still holds: stored events below it are deleted.
    pub keep_from: u64,
    /// Orders by key: the row to store, or `None` to delete it (evicted, or replaced
    /// by its permanent id).
    pub orders: Vec<(i64, Option<OrderData>)>,
    /// Accounts whose values changed: the whole merged state of each.
    pub accounts: Vec<AccountState>,
}

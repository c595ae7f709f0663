//! The replay ring: the last N events of the current epoch, contiguous by seq.

use std::collections::VecDeque;
use std::sync::Arc;

use super::StampedEvent;

/// Holds a contiguous run of seqs; `resume` is answered from it or not at all.
#[derive(Debug, Default)]
pub struct ReplayRing {
    events: VecDeque<Arc<StampedEvent>>,
    capacity: usize,
}

impl ReplayRing {
    pub fn new(capacity: usize) -> Self {
        ReplayRing { events: VecDeque::new(), capacity: capacity.max(1) }
    }

    /// Appends the event that follows the last one; callers clear the ring on a gap.
    pub fn push(&mut self, ev: Arc<StampedEvent>) {
        debug_assert!(self.events.back().is_none_or(|b| b.seq + 1 == ev.seq));
        if self.events.len() == self.capacity {
            self.events.pop_front();
        }
        self.events.push_back(ev);
    }

    pub fn clear(&mut self) {
        self.events.clear();
    }

    /// The events held, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<StampedEvent>> {
        self.events.iter()
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Every event after `since`, if the ring reaches back that far. `head` is the
    /// current stream seq; `Some(empty)` when the client is already up to date.
    pub fn since(&self, since: u64, head: u64) -> Option<impl Iterator<Item = &Arc<StampedEvent>>> {
        if since > head {
            return None;
        }
        if since < head {
            let first = self.events.front()?.seq;
            if since + 1 < first || self.events.back()?.seq != head {
                return None;
            }
        }
        Some(self.events.iter().filter(move |e| e.seq > since))
    }
}

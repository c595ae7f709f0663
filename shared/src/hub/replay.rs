//! The replay ring: the last events of the current epoch, contiguous by seq, bounded
//! by count and by bytes. It is the stream itself: every client's backlog is a cursor
//! into it, so live delivery and replay are the same path and a burst costs no memory
//! per client.

use std::collections::VecDeque;

use super::RingEvent;

/// Holds a contiguous run of seqs; `resume` is answered from it or not at all.
#[derive(Debug, Default)]
pub struct ReplayRing {
    events: VecDeque<RingEvent>,
    capacity: usize,
    max_bytes: usize,
    bytes: usize,
}

impl ReplayRing {
    /// A ring of at most `capacity` events (and no byte bound).
    pub fn new(capacity: usize) -> Self {
        Self::bounded(capacity, usize::MAX)
    }

    /// A ring of at most `capacity` events and `max_bytes` of their text.
    pub fn bounded(capacity: usize, max_bytes: usize) -> Self {
        ReplayRing { events: VecDeque::new(), capacity: capacity.max(1), max_bytes, bytes: 0 }
    }

    /// Appends the event that follows the last one; callers clear the ring on a gap.
    /// The oldest events go when either bound is passed (the newest always stays).
    pub fn push(&mut self, ev: RingEvent) {
        debug_assert!(self.events.back().is_none_or(|b| b.seq + 1 == ev.seq));
        self.bytes += ev.json.len();
        self.events.push_back(ev);
        while self.events.len() > self.capacity || (self.bytes > self.max_bytes && self.events.len() > 1) {
            if let Some(old) = self.events.pop_front() {
                self.bytes -= old.json.len();
            }
        }
    }

    /// Drops the oldest events until at least `bytes` of text are freed (or the ring is
    /// empty): `(events dropped, bytes freed)`.
    pub fn evict_oldest(&mut self, bytes: usize) -> (usize, usize) {
        let (mut n, mut freed) = (0, 0);
        while freed < bytes {
            let Some(old) = self.events.pop_front() else { break };
            self.bytes -= old.json.len();
            freed += old.json.len();
            n += 1;
        }
        (n, freed)
    }

    pub fn clear(&mut self) {
        self.events.clear();
        self.bytes = 0;
    }

    /// Bytes of event text held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The oldest seq held, if any.
    pub fn first_seq(&self) -> Option<u64> {
        self.events.front().map(|e| e.seq)
    }

    /// The event with `seq`, if held.
    pub fn get(&self, seq: u64) -> Option<&RingEvent> {
        let first = self.first_seq()?;
        self.events.get(usize::try_from(seq.checked_sub(first)?).ok()?)
    }

    /// The events held, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &RingEvent> {
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
    pub fn since(&self, since: u64, head: u64) -> Option<impl Iterator<Item = &RingEvent>> {
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

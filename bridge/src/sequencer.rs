//! Stamps events with the stream position and serializes each exactly once.

use std::sync::Arc;

use ibws_shared::hub::StampedEvent;
use ibws_shared::protocol::ServerFrame;

/// The bridge's stream: one epoch per process run, seqs from 1.
#[derive(Debug)]
pub struct Sequencer {
    epoch: String,
    seq: u64,
}

impl Sequencer {
    pub fn new(epoch: String) -> Self {
        Sequencer { epoch, seq: 0 }
    }

    /// A fresh, unguessable-enough epoch id: it only has to differ between runs.
    pub fn new_epoch() -> String {
        format!("{:016x}", rand::random::<u64>())
    }

    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Stamps one event frame (non-event frames are not sequenced and return `None`).
    pub fn stamp(&mut self, mut frame: ServerFrame) -> Option<Arc<StampedEvent>> {
        self.seq += 1;
        frame.set_position(&self.epoch, self.seq);
        let ev = StampedEvent::new(frame);
        if ev.is_none() {
            self.seq -= 1;
        }
        ev
    }
}

//! The bridge's end of the uplink to a relay, as a state machine.
//!
//! [`BridgeSession`](super::BridgeSession) is the relay's end of the same protocol;
//! this is the other, so both ends are code without sockets or clocks, tested against
//! each other in memory on a simulated clock (`shared/tests/uplink_sessions.rs`). The
//! bridge's driver (`bridge/src/uplink.rs`) only dials, moves frames and sleeps until
//! [`UplinkSession::poll_timeout`].
//!
//! What it decides:
//!
//! - **at least once**: every event waits in a bounded buffer until the relay acks it;
//!   on every (re)connect the relay's `welcome` says the highest seq it holds of the
//!   bridge's epoch. When the buffer still reaches back to it, the missing events are
//!   resent (the relay drops duplicates) and the relay's replay ring stays whole;
//! - **snapshot, then events**: after those resends comes the snapshot (in parts under
//!   the relay's frame cap), then every event after it, in order. A gap before the
//!   first unsent event (the buffer overflowed while the relay was away) is never sent:
//!   the relay would refuse it (4005); the session ends and the next begins with a
//!   snapshot, which moves the relay past the gap (its clients resync with
//!   `recovered: false`);
//! - **acks**: an ack trims the buffer; a `welcome` in the same epoch below a position
//!   the relay acknowledged is a broken promise, counted and reported;
//! - **time**: a dial and a `welcome` each have a deadline; a session that ends waits
//!   out the backoff (its jitter from a generator seeded by the driver, so a test can
//!   fix it) before the next dial.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::backoff::Backoff;
use crate::hub::{Now, StampedEvent};
use crate::protocol::{split_snapshot, BridgeFrame, CloseCode, RelayFrame, Snapshot};

/// The largest snapshot frame sent whole; larger snapshots go in parts of this size,
/// under the 64 KiB frame cap relays apply to every inbound frame.
pub const SNAPSHOT_PART_BYTES: usize = 48 * 1024;

/// How long a dial may take, and how long the relay has to answer `hello`.
pub const CONNECT_TIMEOUT_MS: u64 = 10_000;

/// What the uplink settles on.
#[derive(Clone, Debug)]
pub struct UplinkSettings {
    /// The `bridge`-role token sent in `hello`.
    pub token: String,
    /// Unacknowledged events kept for resending.
    pub buffer_cap: usize,
    pub backoff: Backoff,
}

/// What happened, for the driver's log and metrics (no token, no event body).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UplinkEvent {
    /// `welcome` came: the relay's position, the snapshot's, and how many events were
    /// resent to fill the relay's gap.
    Connected { tenant: String, relay_seq: u64, bridge_seq: u64, resent: usize },
    /// The relay welcomed the bridge in its epoch below what it had acknowledged.
    AckRegression { tenant: String, relay_seq: u64, acked: u64 },
    /// The relay refused the stream (4005): the next session begins with a snapshot.
    StreamRefused,
    /// The session ended; the next dial is in `delay_ms`.
    Down { why: String, delay_ms: u64 },
}

/// Counters for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UplinkCounters {
    pub connected: bool,
    /// The highest seq the relay acknowledged (in the bridge's epoch).
    pub acked_seq: u64,
    pub connects: u64,
    /// Events sent again after a reconnect to fill the relay's gap.
    pub resent: u64,
    /// Welcomes below an acknowledged position of the same epoch.
    pub ack_regressions: u64,
    /// Events dropped from a full buffer.
    pub dropped: u64,
}

#[derive(Debug)]
enum State {
    /// No connection; dial at `at_ms`.
    Down { at_ms: u64 },
    /// The driver is dialing, which must finish by `deadline_ms`.
    Dialing { deadline_ms: u64 },
    /// `hello` sent; `welcome` due by `deadline_ms`.
    Hello { epoch: String, deadline_ms: u64 },
    /// Streaming: everything up to `last_sent` went out.
    Open { epoch: String, last_sent: u64 },
}

/// The bridge's uplink. See the module documentation.
#[derive(Debug)]
pub struct UplinkSession {
    cfg: UplinkSettings,
    buffer: VecDeque<Arc<StampedEvent>>,
    /// The highest position the relay acknowledged, across connections.
    acked: Option<(String, u64)>,
    state: State,
    attempt: u32,
    source_up: bool,
    /// The source state last told to the relay in this connection.
    source_told: Option<bool>,
    transmit: VecDeque<String>,
    events: VecDeque<UplinkEvent>,
    counters: UplinkCounters,
    /// xorshift state for the backoff's jitter
    rng: u64,
}

impl UplinkSession {
    /// A session that dials at once; `seed` seeds the backoff's jitter.
    pub fn new(cfg: UplinkSettings, seed: u64, now: Now) -> UplinkSession {
        UplinkSession {
            cfg: UplinkSettings { buffer_cap: cfg.buffer_cap.max(1), ..cfg },
            buffer: VecDeque::new(),
            acked: None,
            state: State::Down { at_ms: now.mono_ms },
            attempt: 0,
            source_up: false,
            source_told: None,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            counters: UplinkCounters::default(),
            rng: seed | 1,
        }
    }

    fn jitter(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }

    // ----- inputs from the bridge -----

    /// Events the bridge's hub just published, in order. A full buffer drops its
    /// oldest; if that opens a gap before what was sent, the session ends.
    pub fn push(&mut self, events: &[Arc<StampedEvent>], now: Now) {
        for e in events {
            if self.buffer.len() == self.cfg.buffer_cap {
                self.buffer.pop_front();
                self.counters.dropped += 1;
            }
            self.buffer.push_back(e.clone());
        }
        self.pump();
        self.end_on_gap(now);
    }

    /// The TWS link went up or down.
    pub fn set_source(&mut self, up: bool) {
        self.source_up = up;
        self.pump();
    }

    // ----- the connection -----

    /// Whether to dial now; when it says yes, the dial's deadline starts.
    pub fn poll_dial(&mut self, now: Now) -> bool {
        match self.state {
            State::Down { at_ms } if now.mono_ms >= at_ms => {
                self.state = State::Dialing { deadline_ms: now.mono_ms.saturating_add(CONNECT_TIMEOUT_MS) };
                true
            }
            _ => false,
        }
    }

    /// The dial succeeded; `position` is the bridge hub's (epoch, head) now. Queues
    /// `hello`.
    pub fn on_connected(&mut self, position: (&str, u64), now: Now) {
        if !matches!(self.state, State::Dialing { .. }) {
            return;
        }
        let (epoch, seq) = position;
        let hello = BridgeFrame::Hello {
            token: self.cfg.token.clone(),
            epoch: epoch.to_owned(),
            seq,
            version: env!("CARGO_PKG_VERSION").into(),
        };
        self.transmit.clear();
        self.transmit.push_back(frame_text(&hello));
        self.source_told = None;
        self.state =
            State::Hello { epoch: epoch.to_owned(), deadline_ms: now.mono_ms.saturating_add(CONNECT_TIMEOUT_MS) };
    }

    /// The connection failed or ended (`code`: the close code the relay sent, if any).
    pub fn on_closed(&mut self, why: &str, code: Option<u16>, now: Now) {
        if matches!(self.state, State::Down { .. }) {
            return;
        }
        if code == Some(CloseCode::StreamRefused.code()) {
            self.events.push_back(UplinkEvent::StreamRefused);
        }
        let why = match code {
            Some(c) => format!("{why} ({c})"),
            None => why.to_owned(),
        };
        self.down(why, now);
    }

    fn down(&mut self, why: String, now: Now) {
        let jitter = self.jitter();
        let delay_ms = self.cfg.backoff.delay_ms(self.attempt, jitter);
        self.attempt = self.attempt.saturating_add(1);
        self.counters.connected = false;
        self.transmit.clear();
        self.state = State::Down { at_ms: now.mono_ms.saturating_add(delay_ms) };
        self.events.push_back(UplinkEvent::Down { why, delay_ms });
    }

    /// A text frame from the relay. `snapshot` is asked for (once) when `welcome`
    /// comes: the bridge hub's snapshot at that moment.
    pub fn on_text(&mut self, text: &str, snapshot: impl FnOnce() -> Snapshot, now: Now) {
        let frame = serde_json::from_str::<RelayFrame>(text).ok();
        match (&self.state, frame) {
            (State::Hello { epoch, .. }, Some(RelayFrame::Welcome { tenant, epoch: r_epoch, seq: r_seq })) => {
                let epoch = epoch.clone();
                self.welcome(epoch, tenant, &r_epoch, r_seq, snapshot());
            }
            (State::Hello { .. }, _) => self.down("no welcome from the relay".into(), now),
            (State::Open { epoch, .. }, Some(RelayFrame::Ack { epoch: e, seq })) if *epoch == e => self.ack(e, seq),
            (State::Open { .. }, Some(RelayFrame::Ping {})) => {
                self.transmit.push_back(frame_text(&BridgeFrame::Pong {}))
            }
            // anything else from the relay (a newer relay's frame) is ignored
            _ => {}
        }
        self.pump();
        self.end_on_gap(now);
    }

    fn welcome(&mut self, epoch: String, tenant: String, r_epoch: &str, r_seq: u64, snap: Snapshot) {
        self.attempt = 0;
        self.counters.connected = true;
        self.counters.connects += 1;
        if let Some((e, acked)) = &self.acked {
            if e == r_epoch && r_seq < *acked {
                self.counters.ack_regressions += 1;
                self.events.push_back(UplinkEvent::AckRegression {
                    tenant: tenant.clone(),
                    relay_seq: r_seq,
                    acked: *acked,
                });
            }
        }
        // a consistent view: the events that fill the relay's gap up to the snapshot's
        // position S (only when they fill it exactly), the snapshot, then all after S
        let s = snap.seq;
        let mut resent = 0;
        if r_epoch == epoch && r_seq <= s {
            let (missing, contiguous) = self.range(r_seq, s);
            if contiguous {
                resent = missing.len();
                self.transmit.extend(missing.iter().map(|e| publish_text(e)));
            }
        }
        self.counters.resent += resent as u64;
        self.transmit.extend(split_snapshot(snap, SNAPSHOT_PART_BYTES).iter().map(frame_text));
        self.events.push_back(UplinkEvent::Connected { tenant, relay_seq: r_seq, bridge_seq: s, resent });
        self.state = State::Open { epoch, last_sent: s };
    }

    fn ack(&mut self, epoch: String, seq: u64) {
        while self.buffer.front().is_some_and(|e| e.seq <= seq) {
            self.buffer.pop_front();
        }
        if self.acked.as_ref().is_none_or(|(e, s)| *e != epoch || *s < seq) {
            self.acked = Some((epoch, seq));
            self.counters.acked_seq = seq;
        }
    }

    /// Buffered events with `after < seq <= upto`, and whether they start right after
    /// `after` (no gap).
    fn range(&self, after: u64, upto: u64) -> (Vec<Arc<StampedEvent>>, bool) {
        // seqs increase along the buffer: find the start without scanning it all
        let start = self.buffer.partition_point(|e| e.seq <= after);
        let v: Vec<_> = self.buffer.range(start..).take_while(|e| e.seq <= upto).cloned().collect();
        let contiguous = after >= upto || v.first().is_some_and(|e| e.seq == after + 1);
        (v, contiguous)
    }

    /// Queues what is due on an open connection: the source state if the relay has not
    /// heard it, and every buffered event after the last one sent, if they follow on.
    fn pump(&mut self) {
        let State::Open { last_sent, .. } = &mut self.state else {
            return;
        };
        let after = *last_sent;
        if self.source_told != Some(self.source_up) {
            self.source_told = Some(self.source_up);
            self.transmit.push_back(frame_text(&BridgeFrame::Source { connected: self.source_up }));
        }
        let start = self.buffer.partition_point(|e| e.seq <= after);
        let Some(first) = self.buffer.get(start) else {
            return;
        };
        if first.seq != after + 1 {
            return; // a gap: `gap` ends the session
        }
        let mut last = after;
        for e in self.buffer.range(start..) {
            self.transmit.push_back(publish_text(e));
            last = e.seq;
        }
        if let State::Open { last_sent, .. } = &mut self.state {
            *last_sent = last;
        }
    }

    /// Why the open session cannot go on: events after the last sent were dropped
    /// from a full buffer before they went out.
    fn gap(&self) -> Option<String> {
        let State::Open { last_sent, .. } = &self.state else {
            return None;
        };
        let start = self.buffer.partition_point(|e| e.seq <= *last_sent);
        let first = self.buffer.get(start)?;
        (first.seq != last_sent + 1)
            .then(|| "uplink buffer overflowed before events were sent; resyncing with a snapshot".to_owned())
    }

    fn end_on_gap(&mut self, now: Now) {
        if let Some(why) = self.gap() {
            self.down(why, now);
        }
    }

    // ----- outputs -----

    /// The next frame to send, in order.
    pub fn poll_transmit(&mut self) -> Option<String> {
        self.transmit.pop_front()
    }

    /// The next thing to log or count.
    pub fn poll_event(&mut self) -> Option<UplinkEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due (monotonic ms): the next dial,
    /// or the dial's or the `welcome`'s deadline; `None` while streaming.
    pub fn poll_timeout(&self) -> Option<u64> {
        match self.state {
            State::Down { at_ms } => Some(at_ms),
            State::Dialing { deadline_ms } | State::Hello { deadline_ms, .. } => Some(deadline_ms),
            State::Open { .. } => None,
        }
    }

    /// Runs the deadline that is due: a dial or a `welcome` that took too long ends the
    /// attempt (the driver drops the connection when [`is_down`](Self::is_down)).
    pub fn handle_timeout(&mut self, now: Now) {
        match self.state {
            State::Dialing { deadline_ms } if now.mono_ms >= deadline_ms => self.down("connect timed out".into(), now),
            State::Hello { deadline_ms, .. } if now.mono_ms >= deadline_ms => {
                self.down("no welcome from the relay".into(), now)
            }
            _ => {}
        }
    }

    /// No connection (the driver closes the one it has, if any).
    pub fn is_down(&self) -> bool {
        matches!(self.state, State::Down { .. })
    }

    pub fn counters(&self) -> UplinkCounters {
        self.counters
    }

    /// Events waiting for an acknowledgement, and events lost to overflow so far.
    pub fn backlog(&self) -> (usize, u64) {
        (self.buffer.len(), self.counters.dropped)
    }
}

fn publish_text(ev: &StampedEvent) -> String {
    // the event is already serialized: wrapped without parsing it again
    format!("{{\"type\":\"publish\",\"event\":{}}}", ev.json)
}

fn frame_text(f: &BridgeFrame) -> String {
    serde_json::to_string(f).expect("bridge frames serialize")
}

//! One bridge's session on a relay's `/bridge/ws`, as a state machine.
//!
//! The bridge must open with `hello` carrying a `bridge`-role token (for the relay's
//! tenant, where the relay serves one) before its deadline; the relay answers
//! `welcome` with the highest seq it holds. Then snapshots (whole, or reassembled from
//! parts) and `publish`ed events go into the tenant's hub, which drops duplicates by
//! seq, so a bridge's resends after a reconnect are harmless. An event that breaks the
//! stream's rules (a gap, a seq behind the replay window or beyond 2^53 - 1, an epoch
//! that did not begin with a snapshot: `hub::stream_rules`) is applied to nothing and
//! ends the session with 4005; the bridge's next session begins with a snapshot. The relay acknowledges
//! only what its host has stored: the host says what is stored ([`BridgeSession::stored`])
//! and gets back the `ack` frame to send, if the position moved. The session ends when
//! the token expires (4501), as every client's does.
//!
//! When to acknowledge is decided here too: the host says how far the stream is
//! stored ([`BridgeSession::stored`]); the session acks that position at once, or, within
//! [`BridgeSession::with_ack_interval`] of its last ack, at the interval's end
//! ([`BridgeSession::poll_timeout`], [`BridgeSession::poll_ack`]). The native relay's
//! storage is its memory, so it says "stored" after every frame it applies and acks at
//! most every [`MEMORY_ACK_INTERVAL_MS`]; the edge relay says it once its Durable
//! Object's rows are durable, and acks each such position at once.

use crate::auth::{AuthError, Role, TokenVerifier};
use crate::hub::{Hub, Now, StampedEvent};
use crate::protocol::{BridgeFrame, CloseCode, RelayFrame, SnapshotAssembler};

/// Why the relay ends a bridge's session: the close code and a reason for the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: CloseCode,
    pub reason: &'static str,
}

impl Refusal {
    fn auth(e: AuthError) -> Refusal {
        Refusal { code: e.close_code(), reason: "authentication failed" }
    }
}

/// An accepted `hello`: who the bridge is and where it says its stream stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    pub tenant: String,
    pub epoch: String,
    pub seq: u64,
}

/// What a frame after `hello` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Published, or applied to the tables (or a harmless duplicate).
    Stored,
    /// A part of a snapshot; the rest is still to come.
    Partial,
    /// Not understood (a newer bridge's frame, or garbage), and ignored.
    Ignored(&'static str),
    /// A `pong`: nothing to apply (every frame is a sign of life).
    Alive,
}

/// How often a relay whose storage is its memory acknowledges (at most).
pub const MEMORY_ACK_INTERVAL_MS: u64 = 50;

#[derive(Debug)]
enum State {
    AwaitingHello { deadline_ms: u64 },
    Open { tenant: String, exp: u64, expires_ms: u64 },
    Ended,
}

/// One bridge connection's session. See the module documentation.
#[derive(Debug)]
pub struct BridgeSession {
    /// The only tenant this relay serves (the edge: one Durable Object per tenant).
    serves: Option<String>,
    state: State,
    parts: SnapshotAssembler,
    acked: Option<(String, u64)>,
    /// Stored but not yet acknowledged, and when its ack is due.
    unacked: Option<((String, u64), u64)>,
    ack_interval_ms: u64,
    last_ack_ms: Option<u64>,
    /// `hello` was accepted at some point (the bridge was the stream's source).
    opened: bool,
}

fn mono_at(unix_secs: u64, now: Now) -> u64 {
    let in_ms = (unix_secs as i64).saturating_mul(1000).saturating_sub(now.unix_us.div_euclid(1000)).max(0);
    now.mono_ms.saturating_add(in_ms as u64)
}

impl BridgeSession {
    /// A new connection, which must say `hello` within `auth_deadline_ms`. `serves`:
    /// the one tenant this relay serves, if it serves only one; `max_orders` bounds a
    /// snapshot sent in parts.
    pub fn new(serves: Option<String>, auth_deadline_ms: u64, max_orders: usize, now: Now) -> BridgeSession {
        BridgeSession {
            serves,
            state: State::AwaitingHello { deadline_ms: now.mono_ms.saturating_add(auth_deadline_ms) },
            parts: SnapshotAssembler::new(max_orders + 10_000),
            acked: None,
            unacked: None,
            ack_interval_ms: 0,
            last_ack_ms: None,
            opened: false,
        }
    }

    /// Acks at most once per `ms` (0, the default: each stored position at once).
    pub fn with_ack_interval(mut self, ms: u64) -> BridgeSession {
        self.ack_interval_ms = ms;
        self
    }

    /// A session that had said `hello` before its host slept (the edge relay's
    /// Durable Object keeps `tenant` and the token's `exp` with the socket).
    pub fn resumed(tenant: String, exp: u64, max_orders: usize, now: Now) -> BridgeSession {
        let mut s = BridgeSession::new(Some(tenant.clone()), 0, max_orders, now);
        s.state = State::Open { expires_ms: mono_at(exp, now), tenant, exp };
        s.opened = true;
        s
    }

    /// The tenant and token expiry (unix seconds) once `hello` was accepted.
    pub fn identity(&self) -> Option<(&str, u64)> {
        match &self.state {
            State::Open { tenant, exp, .. } => Some((tenant, *exp)),
            _ => None,
        }
    }

    /// The first text frame: it must be `hello` with a valid bridge token.
    pub fn on_hello(&mut self, text: &str, verifier: &dyn TokenVerifier, now: Now) -> Result<Hello, Refusal> {
        let refuse = |s: &mut Self, r: Refusal| {
            s.state = State::Ended;
            Err(r)
        };
        if !matches!(self.state, State::AwaitingHello { .. }) {
            return refuse(self, Refusal { code: CloseCode::Forbidden, reason: "hello was already said" });
        }
        let Ok(BridgeFrame::Hello { token, epoch, seq, .. }) = serde_json::from_str::<BridgeFrame>(text) else {
            return refuse(
                self,
                Refusal { code: CloseCode::AuthRequired, reason: "send hello with a bridge token first" },
            );
        };
        let claims = match verifier.verify(&token, now.unix_us.max(0) as u64 / 1_000_000) {
            Ok(c) => c,
            Err(e) => return refuse(self, Refusal::auth(e)),
        };
        if claims.role != Role::Bridge {
            return refuse(self, Refusal { code: CloseCode::Forbidden, reason: "token role is not bridge" });
        }
        if self.serves.as_ref().is_some_and(|t| *t != claims.tenant) {
            return refuse(self, Refusal { code: CloseCode::Forbidden, reason: "token is for another tenant" });
        }
        self.state =
            State::Open { expires_ms: mono_at(claims.exp, now), tenant: claims.tenant.clone(), exp: claims.exp };
        self.opened = true;
        Ok(Hello { tenant: claims.tenant, epoch, seq })
    }

    /// The `welcome` frame: the highest seq the relay holds for its stream.
    pub fn welcome(&self, hub: &Hub) -> String {
        let tenant = self.identity().map(|(t, _)| t.to_owned()).unwrap_or_default();
        let (epoch, seq) = hub.position();
        serde_json::to_string(&RelayFrame::Welcome { tenant, epoch: epoch.to_owned(), seq }).expect("frames serialize")
    }

    /// A text frame after `hello`.
    pub fn on_text(&mut self, text: &str, hub: &mut Hub, now: Now) -> Result<Applied, Refusal> {
        if !matches!(self.state, State::Open { .. }) {
            self.state = State::Ended;
            return Err(Refusal { code: CloseCode::AuthRequired, reason: "send hello with a bridge token first" });
        }
        let Ok(frame) = serde_json::from_str::<BridgeFrame>(text) else {
            return Ok(Applied::Ignored("unreadable frame from the bridge"));
        };
        let applied = match frame {
            BridgeFrame::Publish { event } => match StampedEvent::new(*event) {
                Some(ev) => hub.publish(ev, now).map(|_| Applied::Stored),
                None => Ok(Applied::Ignored("an event without a stream position")),
            },
            BridgeFrame::Snapshot(s) => hub.apply_snapshot(&s, now).map(|_| Applied::Stored),
            BridgeFrame::SnapshotPart(p) => match self.parts.push(p) {
                Ok(Some(s)) => hub.apply_snapshot(&s, now).map(|_| Applied::Stored),
                Ok(None) => Ok(Applied::Partial),
                Err(_) => {
                    self.state = State::Ended;
                    return Err(Refusal {
                        code: CloseCode::MessageTooBig,
                        reason: "snapshot larger than the order table",
                    });
                }
            },
            BridgeFrame::Source { connected } => {
                hub.set_source_connected(connected);
                Ok(Applied::Stored)
            }
            BridgeFrame::Hello { .. } => Ok(Applied::Ignored("a second hello")),
            BridgeFrame::Pong {} => Ok(Applied::Alive),
        };
        // The hub applied nothing of a frame that broke the stream's rules; the bridge
        // is sent away, and its next connection begins with a snapshot.
        applied.map_err(|v| {
            self.state = State::Ended;
            Refusal { code: CloseCode::StreamRefused, reason: v.reason() }
        })
    }

    /// A binary frame: the uplink carries only text.
    pub fn on_binary(&mut self) -> Refusal {
        self.state = State::Ended;
        Refusal { code: CloseCode::UnsupportedData, reason: "the bridge protocol is text" }
    }

    /// The host has stored the stream up to `(epoch, seq)`: the `ack` to send now, if
    /// that is news to the bridge and its interval allows; otherwise it is due at
    /// [`BridgeSession::poll_timeout`] (take it with [`BridgeSession::poll_ack`]).
    pub fn stored(&mut self, epoch: &str, seq: u64, now: Now) -> Option<String> {
        if !matches!(self.state, State::Open { .. })
            || self.acked.as_ref().is_some_and(|(e, s)| e == epoch && *s == seq)
        {
            return None;
        }
        let due = self.last_ack_ms.map_or(now.mono_ms, |t| t.saturating_add(self.ack_interval_ms));
        self.unacked = Some(((epoch.to_owned(), seq), due));
        self.poll_ack(now)
    }

    /// The pending `ack`, if it is due.
    pub fn poll_ack(&mut self, now: Now) -> Option<String> {
        match &self.unacked {
            Some((_, due)) if now.mono_ms >= *due && matches!(self.state, State::Open { .. }) => {}
            _ => return None,
        }
        let ((epoch, seq), _) = self.unacked.take()?;
        self.last_ack_ms = Some(now.mono_ms);
        let frame = serde_json::to_string(&RelayFrame::Ack { epoch: epoch.clone(), seq }).ok();
        self.acked = Some((epoch, seq));
        frame
    }

    /// When [`BridgeSession::handle_timeout`] (or [`BridgeSession::poll_ack`]) must run
    /// next (monotonic ms).
    pub fn poll_timeout(&self) -> Option<u64> {
        let ack = self.unacked.as_ref().map(|(_, due)| *due);
        let state = match self.state {
            State::AwaitingHello { deadline_ms } => Some(deadline_ms),
            State::Open { expires_ms, .. } => Some(expires_ms),
            State::Ended => return None,
        };
        state.into_iter().chain(ack).min()
    }

    /// Ends the session when its hello deadline or its token's expiry has passed.
    pub fn handle_timeout(&mut self, now: Now) -> Option<Refusal> {
        let r = match self.state {
            State::AwaitingHello { deadline_ms } if now.mono_ms >= deadline_ms => {
                Refusal { code: CloseCode::AuthRequired, reason: "send hello with a bridge token first" }
            }
            State::Open { expires_ms, .. } if now.mono_ms >= expires_ms => {
                Refusal { code: CloseCode::TokenExpired, reason: "token expired" }
            }
            _ => return None,
        };
        self.state = State::Ended;
        Some(r)
    }

    /// The connection is gone (or replaced). `owned`: it was still the tenant's
    /// publisher, so the stream's source is now disconnected.
    pub fn on_closed(&mut self, hub: &mut Hub, owned: bool) {
        self.parts.reset();
        if owned && self.opened {
            hub.set_source_connected(false);
        }
        self.state = State::Ended;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(interval: u64) -> BridgeSession {
        let now = Now { mono_ms: 0, unix_us: 0 };
        let mut s = BridgeSession::resumed("t".into(), u64::MAX / 4_000, 10, now).with_ack_interval(interval);
        s.acked = None;
        s
    }

    fn at(ms: u64) -> Now {
        Now { mono_ms: ms, unix_us: 0 }
    }

    #[test]
    fn acks_come_at_once_then_at_most_once_per_interval_with_the_newest_position() {
        let mut s = open(50);
        assert!(s.stored("e", 1, at(100)).is_some_and(|a| a.contains("\"seq\":1")), "the first at once");
        assert_eq!(s.stored("e", 2, at(110)), None, "within the interval: later");
        assert_eq!(s.stored("e", 3, at(120)), None);
        assert_eq!(s.poll_timeout(), Some(150));
        assert_eq!(s.poll_ack(at(149)), None);
        assert!(s.poll_ack(at(150)).is_some_and(|a| a.contains("\"seq\":3")), "one ack for the newest");
        assert_eq!(s.poll_ack(at(151)), None);
        assert_eq!(s.stored("e", 3, at(300)), None, "nothing new, nothing sent");
        assert!(s.poll_timeout().is_some_and(|t| t > 300), "only the token's expiry is left");
        // no interval (the edge: each durable position at once)
        let mut s = open(0);
        assert!(s.stored("e", 1, at(0)).is_some());
        assert!(s.stored("e", 2, at(0)).is_some());
    }
}

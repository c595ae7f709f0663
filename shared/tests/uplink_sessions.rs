//! Both ends of the uplink in memory, on a simulated clock: the bridge's
//! `UplinkSession` against the relay's `BridgeSession` and the relay's hub, with no
//! sockets and no sleeping. Reconnects, resends, overflow, ack regressions, snapshots
//! in parts, token expiry and deadlines each take milliseconds here.

mod common;

use std::sync::Arc;

use ibws_shared::auth::{Role, TokenVerifier};
use ibws_shared::backoff::Backoff;
use ibws_shared::hub::{ConnectInfo, Hub, HubConfig, Now, Output};
use ibws_shared::protocol::{CloseCode, ServerFrame, Snapshot};
use ibws_shared::relay::{BridgeSession, UplinkEvent, UplinkSession, UplinkSettings};
use serde_json::{json, Value};

const T0: i64 = 1_700_000_000_000_000;

fn token(exp: u64) -> String {
    common::token(&common::claims("bridge", Role::Bridge, "desk1", exp))
}

fn order(id: i64, symbol: &str) -> ServerFrame {
    serde_json::from_value(json!({"type": "order_update", "timestamp": "t", "data": {"order_id": id, "symbol": symbol,
        "action": "BUY", "quantity": 1, "order_type": "LMT", "status": "Submitted", "price": 1.0, "perm_id": 1000 + id}}))
    .unwrap()
}

/// A bridge (its hub and uplink) and a relay (its hub and the bridge's session on it).
struct World {
    now: Now,
    bridge: Hub,
    up: UplinkSession,
    relay: Hub,
    session: Option<BridgeSession>,
    verifier: Arc<dyn TokenVerifier>,
    next_order: i64,
}

impl World {
    fn new(buffer_cap: usize, token_exp: u64) -> World {
        let now = Now { mono_ms: 1_000, unix_us: T0 };
        let verifier = common::verifier();
        let settings =
            UplinkSettings { token: token(token_exp), buffer_cap, backoff: Backoff { base_ms: 100, cap_ms: 1_000 } };
        World {
            now,
            bridge: Hub::new(HubConfig::default(), None, "run1".into()),
            up: UplinkSession::new(settings, 7, now),
            relay: Hub::new(HubConfig { require_auth: true, ..HubConfig::default() }, None, "relay0".into()),
            session: None,
            verifier,
            next_order: 1,
        }
    }

    fn advance(&mut self, ms: u64) {
        self.now = Now { mono_ms: self.now.mono_ms + ms, unix_us: self.now.unix_us + ms as i64 * 1000 };
    }

    /// Dials as soon as the session lets it (waiting out its backoff on the clock).
    fn connect(&mut self) {
        while !self.up.poll_dial(self.now) {
            let at = self.up.poll_timeout().expect("a dial is due at some point");
            self.advance(at.saturating_sub(self.now.mono_ms).max(1));
        }
        self.session = Some(BridgeSession::new(Some("desk1".into()), 5_000, 10_000, self.now));
        let (e, s) = self.bridge.position();
        let e = e.to_owned();
        self.up.on_connected((&e, s), self.now);
    }

    fn publish(&mut self, n: usize) {
        for _ in 0..n {
            let ev = self.bridge.originate(order(self.next_order, "AAPL"), self.now).unwrap().unwrap();
            self.next_order += 1;
            self.up.push(&[ev], self.now);
        }
    }

    /// Moves frames both ways until nothing is in flight; the relay acks what its hub
    /// holds (as the native relay, which stores in memory). Returns frames sent.
    fn pump(&mut self) -> Vec<Value> {
        let mut sent = Vec::new();
        loop {
            let mut moved = false;
            while let Some(f) = self.up.poll_transmit() {
                moved = true;
                sent.push(serde_json::from_str::<Value>(&f).unwrap());
                let Some(s) = self.session.as_mut() else { continue };
                let reply = if s.identity().is_none() {
                    match s.on_hello(&f, self.verifier.as_ref(), self.now) {
                        Ok(_) => Ok(Some(s.welcome(&self.relay))),
                        Err(r) => Err(r),
                    }
                } else {
                    s.on_text(&f, &mut self.relay, self.now).map(|_| None)
                };
                match reply {
                    Ok(Some(w)) => {
                        let bridge = &self.bridge;
                        self.up.on_text(&w, || bridge.snapshot(), self.now)
                    }
                    Ok(None) => {}
                    Err(r) => self.close(Some(r.code.code())),
                }
            }
            if let Some(s) = self.session.as_mut() {
                let (e, q) = self.relay.position();
                if let Some(ack) = s.stored(&e.to_owned(), q, self.now) {
                    moved = true;
                    let bridge = &self.bridge;
                    self.up.on_text(&ack, || bridge.snapshot(), self.now);
                }
            }
            if !moved {
                return sent;
            }
        }
    }

    /// The connection ends (the relay closed it with `code`, or it broke).
    fn close(&mut self, code: Option<u16>) {
        if let Some(mut s) = self.session.take() {
            s.on_closed(&mut self.relay, true);
        }
        self.up.on_closed("closed", code, self.now);
    }

    fn events(&mut self) -> Vec<UplinkEvent> {
        std::iter::from_fn(|| self.up.poll_event()).collect()
    }

    /// A relay client that resumes from `since` of the bridge's epoch: whether it
    /// recovered, and the seqs it was replayed.
    fn resume_from(&mut self, since: u64) -> (bool, Vec<u64>) {
        let mut relay = std::mem::replace(&mut self.relay, Hub::new(HubConfig::default(), None, "x".into()));
        let claims = common::claims("c", Role::Client, "desk1", (T0 / 1_000_000) as u64 + 3_600);
        relay.connect(99, ConnectInfo { client_id: Some("c".into()), claims: Some(claims) }, self.now);
        relay.on_text(99, r#"{"type":"subscribe","message_types":["order_update"]}"#, self.now);
        relay.on_text(99, &json!({"type": "resume", "epoch": "run1", "since": since}).to_string(), self.now);
        let mut frames = Vec::new();
        while let Some(o) = relay.poll_output() {
            if let Output::Wake(id) = o {
                let mut f = Vec::new();
                relay.take_frames(id, &mut f);
                frames.extend(f.iter().map(|f| serde_json::from_str::<Value>(f).unwrap()));
            }
        }
        relay.disconnect(99);
        self.relay = relay;
        let recovered = frames.iter().find(|v| v["type"] == "resume").map(|v| v["recovered"] == true).unwrap_or(false);
        let seqs = frames.iter().filter(|v| v["type"] == "order_update").filter_map(|v| v["seq"].as_u64()).collect();
        (recovered, seqs)
    }
}

fn types(frames: &[Value]) -> Vec<String> {
    frames.iter().map(|v| v["type"].as_str().unwrap_or("?").to_owned()).collect()
}

#[test]
fn hello_welcome_snapshot_then_events_and_acks_empty_the_buffer() {
    let mut w = World::new(100, u64::MAX / 2);
    w.publish(2);
    w.connect();
    let sent = w.pump();
    assert_eq!(types(&sent), ["hello", "snapshot", "source"], "resends only fill a gap the relay has");
    assert!(sent[0]["token"].is_string());
    w.publish(3);
    let sent = w.pump();
    assert_eq!(types(&sent), ["publish", "publish", "publish"]);
    assert_eq!(w.relay.position(), ("run1", 5));
    assert_eq!(w.up.backlog(), (0, 0), "every event acknowledged");
    let c = w.up.counters();
    assert!(c.connected);
    assert_eq!((c.connects, c.acked_seq, c.resent), (1, 5, 0));
    assert!(matches!(w.events()[..], [UplinkEvent::Connected { relay_seq: 0, bridge_seq: 2, resent: 0, .. }]));
    // the TWS link goes down: the relay is told once
    w.up.set_source(false);
    w.up.set_source(false);
    assert!(types(&w.pump()).is_empty(), "told already: source was down from the start");
    w.up.set_source(true);
    assert_eq!(types(&w.pump()), ["source"]);
}

#[test]
fn a_reconnect_resends_exactly_the_relays_gap_and_clients_resume_whole() {
    let mut w = World::new(100, u64::MAX / 2);
    w.connect();
    w.pump();
    w.publish(3);
    w.pump();
    // the connection breaks before the relay has these three
    w.close(None);
    w.publish(3);
    assert_eq!(w.up.backlog().0, 3);
    assert!(w.up.is_down());
    w.connect();
    let sent = w.pump();
    assert_eq!(types(&sent), ["hello", "publish", "publish", "publish", "snapshot", "source"]);
    let seqs: Vec<u64> = sent[1..4].iter().map(|v| v["event"]["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [4, 5, 6]);
    assert_eq!(w.up.counters().resent, 3);
    // the relay's ring is whole: a client that saw 2 gets 3..6
    assert_eq!(w.resume_from(2), (true, vec![3, 4, 5, 6]));
}

#[test]
fn an_overflow_while_away_is_crossed_by_the_snapshot_and_told_as_not_recovered() {
    let mut w = World::new(4, u64::MAX / 2);
    w.connect();
    w.pump();
    w.publish(2);
    w.pump();
    w.close(None);
    w.publish(10); // 3..12; the buffer keeps 9..12
    assert_eq!(w.up.backlog(), (4, 6));
    w.connect();
    let sent = w.pump();
    assert_eq!(types(&sent), ["hello", "snapshot", "source"], "a gap is never sent: the snapshot moves past it");
    assert_eq!(w.relay.position(), ("run1", 12));
    assert_eq!(w.up.counters().resent, 0);
    assert_eq!(w.resume_from(2).0, false, "a client across the gap resyncs");
    w.publish(1);
    w.pump();
    assert_eq!(w.relay.position(), ("run1", 13), "and the stream goes on after it");
}

#[test]
fn a_relay_that_forgot_what_it_acknowledged_is_caught() {
    let mut w = World::new(100, u64::MAX / 2);
    w.connect();
    w.pump();
    w.publish(3);
    w.pump();
    assert_eq!(w.up.counters().acked_seq, 3);
    w.close(None);
    // the relay comes back holding only up to 1 of the same epoch
    let mut relay = Hub::new(HubConfig::default(), None, "relay0".into());
    relay.apply_snapshot(&Snapshot { epoch: "run1".into(), seq: 1, ..Snapshot::default() }, w.now).unwrap();
    w.relay = relay;
    w.events();
    w.connect();
    w.pump();
    assert_eq!(w.up.counters().ack_regressions, 1);
    assert!(w.events().iter().any(|e| matches!(e, UplinkEvent::AckRegression { relay_seq: 1, acked: 3, .. })));
}

#[test]
fn a_large_snapshot_goes_in_parts_the_relay_reassembles() {
    let mut w = World::new(100, u64::MAX / 2);
    // enough orders, with long symbols, for several 48 KiB parts
    for i in 0..600 {
        let ev = w.bridge.originate(order(i, &"X".repeat(200)), w.now).unwrap().unwrap();
        w.up.push(&[ev], w.now);
    }
    w.connect();
    let sent = w.pump();
    let parts = sent.iter().filter(|v| v["type"] == "snapshot_part").count();
    assert!(parts >= 3, "{:?}", types(&sent));
    assert!(sent.iter().all(|v| v.to_string().len() < 64 * 1024), "every frame under the relay's cap");
    assert_eq!(w.relay.position(), ("run1", 600));
    assert_eq!(w.relay.orders().len(), 600);
}

#[test]
fn an_expired_token_ends_the_session_and_the_uplink_backs_off() {
    let exp = (T0 / 1_000_000) as u64 + 60;
    let mut w = World::new(100, exp);
    w.connect();
    w.pump();
    assert!(w.up.counters().connected);
    w.advance(61_000);
    let refusal = w.session.as_mut().unwrap().handle_timeout(w.now).expect("expired");
    assert_eq!(refusal.code, CloseCode::TokenExpired);
    w.close(Some(refusal.code.code()));
    assert!(!w.up.counters().connected);
    let down = w.events().into_iter().find_map(|e| {
        if let UplinkEvent::Down { delay_ms, why } = e {
            Some((delay_ms, why))
        } else {
            None
        }
    });
    let (delay, why) = down.expect("down");
    assert!(why.contains("4501") && (1..=100).contains(&delay), "{why} {delay}");
    assert!(!w.up.poll_dial(w.now), "waits out the backoff");
    // the next hello carries the same (expired) token: refused at once, and the backoff grows
    w.connect();
    w.pump();
    let delays: Vec<u64> = w
        .events()
        .into_iter()
        .filter_map(|e| if let UplinkEvent::Down { delay_ms, .. } = e { Some(delay_ms) } else { None })
        .collect();
    assert_eq!(delays.len(), 1);
    assert!(delays[0] <= 200 && delays[0] >= 1);
}

#[test]
fn a_relay_that_never_welcomes_is_left_at_its_deadline() {
    let mut w = World::new(100, u64::MAX / 2);
    w.connect();
    let hello = w.up.poll_transmit().expect("hello");
    assert!(hello.contains("\"hello\""));
    let deadline = w.up.poll_timeout().expect("welcome deadline");
    w.advance(deadline - w.now.mono_ms - 1);
    w.up.handle_timeout(w.now);
    assert!(!w.up.is_down());
    w.advance(1);
    w.up.handle_timeout(w.now);
    assert!(w.up.is_down());
    assert!(w.events().iter().any(|e| matches!(e, UplinkEvent::Down { why, .. } if why.contains("no welcome"))));
    // and a dial that never completes likewise
    while !w.up.poll_dial(w.now) {
        w.advance(10);
    }
    let d = w.up.poll_timeout().expect("dial deadline");
    w.advance(d - w.now.mono_ms);
    assert!(!w.up.is_down());
    w.up.handle_timeout(w.now);
    assert!(w.up.is_down());
    assert!(w.events().iter().any(|e| matches!(e, UplinkEvent::Down { why, .. } if why.contains("connect timed out"))));
}

#[test]
fn a_stream_refusal_is_reported_and_the_next_session_begins_with_a_snapshot() {
    let mut w = World::new(100, u64::MAX / 2);
    w.connect();
    w.pump();
    w.close(Some(CloseCode::StreamRefused.code()));
    assert!(w.events().contains(&UplinkEvent::StreamRefused));
    w.publish(1);
    w.connect();
    let t = types(&w.pump());
    assert_eq!(t[0], "hello");
    assert!(t.contains(&"snapshot".to_owned()), "{t:?}");
    assert_eq!(w.relay.position(), ("run1", 1));
}

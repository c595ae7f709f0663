//! Property tests of the hub over random interleavings of publish, subscribe,
//! disconnect, resume, snapshot, slow clients and arbitrary client bytes.
//!
//! A model client checks, on every frame it receives, that events of its epoch arrive
//! with consecutive seqs (nothing lost, nothing repeated, nothing reordered), and that a
//! `resume` answered `recovered: true` left it exactly at the stream head; otherwise the
//! answer must be `recovered: false`. Client 0 drains after every step and must get
//! every event no matter what the slow clients do.

use ibws_shared::hub::{ConnectInfo, Frame, Hub, HubConfig, Now, Output, StampedEvent};
use ibws_shared::protocol::{MessageType, Num, OrderData, OrderUpdate, ServerFrame, Snapshot};
use proptest::prelude::*;
use serde_json::Value;

const CLIENTS: u64 = 4; // 0: always fast; 1, 2: may be slow or drop; 3: sends junk
const JUNK: u64 = 3;

#[derive(Debug, Clone)]
enum Op {
    Publish(u8),
    Drain(u64),
    Disconnect(u64),
    Reconnect(u64),
    Snapshot(bool),
    Junk(String),
    JunkBytes(Vec<u8>),
    Advance(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => any::<u8>().prop_map(Op::Publish),
        3 => (1..CLIENTS).prop_map(Op::Drain),
        1 => (1..JUNK).prop_map(Op::Disconnect),
        2 => (1..JUNK).prop_map(Op::Reconnect),
        1 => any::<bool>().prop_map(Op::Snapshot),
        1 => ".{0,80}".prop_map(Op::Junk),
        1 => prop::collection::vec(any::<u8>(), 0..80).prop_map(Op::JunkBytes),
        1 => (0u32..70_000).prop_map(Op::Advance),
    ]
}

#[derive(Default, Debug)]
struct Model {
    connected: bool,
    /// Connection number, so a reconnected client gets a fresh hub id.
    gen: u64,
    epoch: String,
    seq: u64,
    awaiting_resume: bool,
    events: u64,
}

struct World {
    hub: Hub,
    now: Now,
    models: Vec<Model>,
    epoch_n: u64,
    published: u64,
}

fn conn_id(c: u64, gen: u64) -> u64 {
    gen * 16 + c
}

impl World {
    fn new() -> World {
        let cfg =
            HubConfig { max_queue_frames: 8, replay_capacity: 16, idle_timeout_ms: 1 << 40, ..HubConfig::default() };
        let mut w = World {
            hub: Hub::new(cfg, None, "e0".into()),
            now: Now { mono_ms: 1_000, unix_us: 1_700_000_000_000_000 },
            models: (0..CLIENTS).map(|_| Model::default()).collect(),
            epoch_n: 0,
            published: 0,
        };
        for c in 0..CLIENTS {
            w.connect(c);
        }
        w
    }

    fn connect(&mut self, c: u64) {
        let m = &mut self.models[c as usize];
        m.gen += 1;
        m.connected = true;
        m.awaiting_resume = true;
        let id = conn_id(c, m.gen);
        let (old_epoch, old_seq) = (m.epoch.clone(), m.seq);
        self.hub.connect(id, ConnectInfo { client_id: Some(format!("c{c}")), claims: None }, self.now);
        let all: Vec<&str> = MessageType::ALL.iter().map(|t| t.as_str()).collect();
        // odd reconnects resume atomically within subscribe, even ones subscribe then
        // resume as two frames (nothing is published between them here)
        if self.models[c as usize].gen % 2 == 1 {
            let sub =
                serde_json::json!({"type": "subscribe", "message_types": all, "epoch": old_epoch, "since": old_seq});
            self.hub.on_text(id, &sub.to_string(), self.now);
        } else {
            let sub = serde_json::json!({"type": "subscribe", "message_types": all}).to_string();
            self.hub.on_text(id, &sub, self.now);
            let r = serde_json::json!({"type": "resume", "epoch": old_epoch, "since": old_seq}).to_string();
            self.hub.on_text(id, &r, self.now);
        }
    }

    fn id(&self, c: u64) -> u64 {
        conn_id(c, self.models[c as usize].gen)
    }

    fn publish(&mut self, k: u8) {
        let (epoch, seq) = {
            let (e, s) = self.hub.position();
            (e.to_owned(), s + 1)
        };
        let mut f = ServerFrame::OrderUpdate(OrderUpdate {
            data: OrderData {
                order_id: i64::from(k % 5),
                symbol: "AAPL".into(),
                action: "BUY".into(),
                quantity: Num(100.0),
                order_type: "LMT".into(),
                status: "Submitted".into(),
                filled: Some(Num(f64::from(k))),
                perm_id: Some(i64::from(k % 5) + 1),
                ..Default::default()
            },
            timestamp: "t".into(),
            seq: None,
            epoch: None,
        });
        f.set_position(&epoch, seq);
        assert_eq!(self.hub.publish(StampedEvent::new(f.clone()).unwrap(), self.now), Ok(true));
        // the same event again is a duplicate
        assert_eq!(self.hub.publish(StampedEvent::new(f).unwrap(), self.now), Ok(false));
        self.published += 1;
    }

    /// Runs the hub's outputs; `drain_all` delivers queued frames of every client,
    /// otherwise only client 0 reads (the others are slow until drained explicitly).
    fn pump(&mut self, drain: &[u64]) {
        let mut woken = Vec::new();
        while let Some(o) = self.hub.poll_output() {
            match o {
                Output::Wake(id) => woken.push(id),
                Output::Ping(_) => {}
                Output::Close { id, frames, .. } => {
                    let c = id % 16;
                    if self.id(c) == id {
                        self.deliver(c, &frames);
                        self.models[c as usize].connected = false;
                    }
                }
            }
        }
        for c in 0..CLIENTS {
            if drain.contains(&c) && self.models[c as usize].connected {
                let mut frames: Vec<Frame> = Vec::new();
                self.hub.take_frames(self.id(c), &mut frames);
                self.deliver(c, &frames);
            }
        }
        drop(woken);
    }

    fn deliver(&mut self, c: u64, frames: &[Frame]) {
        let m = &mut self.models[c as usize];
        for f in frames {
            let v: Value = serde_json::from_str(f).unwrap();
            match v["type"].as_str().unwrap() {
                "order_update" if c != JUNK => {
                    let (e, s) = (v["epoch"].as_str().unwrap(), v["seq"].as_u64().unwrap());
                    if e == m.epoch {
                        assert_eq!(s, m.seq + 1, "client {c}: gap or duplicate in epoch {e}");
                    } else {
                        assert!(!m.awaiting_resume, "client {c}: other epoch during replay");
                        assert_eq!(s, 1, "client {c}: a new epoch starts at seq 1");
                        m.epoch = e.to_owned();
                    }
                    m.seq = s;
                    m.events += 1;
                }
                "resume" => {
                    let (e, s) = (v["epoch"].as_str().unwrap(), v["seq"].as_u64().unwrap());
                    if v["recovered"].as_bool().unwrap() {
                        assert!(m.awaiting_resume, "client {c}: recovered without asking");
                        assert_eq!((m.epoch.as_str(), m.seq), (e, s), "client {c}: recovered but not at head");
                    } else {
                        // the client takes a get_orders snapshot and continues from there
                        m.epoch = e.to_owned();
                        m.seq = s;
                    }
                    m.awaiting_resume = false;
                }
                _ => {}
            }
        }
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::Publish(k) => {
                self.publish(k);
                self.pump(&[0]);
            }
            Op::Drain(c) => self.pump(&[0, c]),
            Op::Disconnect(c) => {
                if self.models[c as usize].connected {
                    self.pump(&[0, c]);
                    self.hub.disconnect(self.id(c));
                    self.models[c as usize].connected = false;
                }
            }
            Op::Reconnect(c) => {
                if !self.models[c as usize].connected {
                    self.connect(c);
                    self.pump(&[0, c]);
                }
            }
            Op::Snapshot(new_epoch) => {
                let (epoch, seq) = if new_epoch {
                    self.epoch_n += 1;
                    (format!("e{}", self.epoch_n), 0)
                } else {
                    let (e, s) = self.hub.position();
                    (e.to_owned(), s)
                };
                let snap = Snapshot { epoch, seq, orders: self.hub.orders(), accounts: vec![], source_connected: true };
                self.hub.apply_snapshot(&snap, self.now).expect("a snapshot at a safe seq applies");
                self.pump(&[0]);
            }
            Op::Junk(s) => {
                if !self.models[JUNK as usize].connected {
                    self.connect(JUNK);
                }
                self.hub.on_text(self.id(JUNK), &s, self.now);
                self.pump(&[0, JUNK]);
            }
            Op::JunkBytes(b) => {
                if !self.models[JUNK as usize].connected {
                    self.connect(JUNK);
                }
                let s = String::from_utf8_lossy(&b).into_owned();
                self.hub.on_text(self.id(JUNK), &s, self.now);
                self.pump(&[0, JUNK]);
            }
            Op::Advance(ms) => {
                self.now.mono_ms += u64::from(ms);
                self.now.unix_us += i64::from(ms) * 1000;
                self.hub.handle_timeout(self.now);
                self.pump(&[0]);
            }
        }
        assert!(self.models[0].connected, "the fast client was never closed");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn resume_is_exact_or_refused_and_slow_clients_do_not_block(ops in prop::collection::vec(op(), 1..200)) {
        let mut w = World::new();
        for op in ops {
            w.step(op);
        }
        // drain everyone still connected and check the fast client saw the head
        w.pump(&[0, 1, 2, 3]);
        let (e, s) = w.hub.position();
        prop_assert_eq!((w.models[0].epoch.as_str(), w.models[0].seq), (e, s));
        // every event of the current epoch reached client 0 (plus those of older epochs)
        prop_assert!(w.models[0].events <= w.published);
    }

    #[test]
    fn hub_never_panics_on_arbitrary_client_bytes(frames in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..50)) {
        let mut hub = Hub::new(HubConfig::default(), None, "e".into());
        let now = Now { mono_ms: 0, unix_us: 0 };
        hub.connect(1, ConnectInfo::default(), now);
        for f in frames {
            hub.on_text(1, &String::from_utf8_lossy(&f), now);
            hub.on_binary(1, f.len(), now);
            hub.connect(1, ConnectInfo::default(), now);
            while hub.poll_output().is_some() {}
        }
    }

    #[test]
    fn hub_never_panics_on_json_shaped_input(ty in "(subscribe|unsubscribe|ping|get_orders|auth|resume|x)", body in ".{0,40}", since in any::<u64>()) {
        let mut hub = Hub::new(HubConfig::default(), None, "e".into());
        let now = Now { mono_ms: 0, unix_us: 0 };
        hub.connect(1, ConnectInfo::default(), now);
        for text in [
            format!(r#"{{"type":"{ty}","message_types":["{body}"]}}"#),
            format!(r#"{{"type":"{ty}","epoch":"{body}","since":{since}}}"#),
            format!(r#"{{"type":"{ty}","token":"{body}"}}"#),
        ] {
            hub.on_text(1, &text, now);
        }
        while hub.poll_output().is_some() {}
    }
}

#[test]
fn stream_and_sessions_survive_a_host_restart() {
    let cfg = HubConfig::default();
    let now = Now { mono_ms: 1, unix_us: 1 };
    let mut a = Hub::new(cfg.clone(), None, "e".into());
    a.connect(1, ConnectInfo::default(), now);
    a.on_text(1, r#"{"type":"subscribe","message_types":["order_update"]}"#, now);
    for seq in 1..=5 {
        let mut f = ServerFrame::OrderUpdate(OrderUpdate {
            data: OrderData {
                order_id: seq as i64,
                symbol: "AAPL".into(),
                perm_id: Some(seq as i64),
                ..Default::default()
            },
            timestamp: "t".into(),
            seq: None,
            epoch: None,
        });
        f.set_position("e", seq);
        a.publish(StampedEvent::new(f).unwrap(), now).unwrap();
    }
    let stream = serde_json::to_string(&a.stream_state()).unwrap();
    let session = a.session_state(1).unwrap();
    let mut b = Hub::new(cfg, None, "other".into());
    b.restore_stream(serde_json::from_str(&stream).unwrap());
    b.restore_session(1, session, now);
    assert_eq!(b.position(), ("e", 5));
    assert_eq!(b.orders().len(), 5);
    while b.poll_output().is_some() {}
    b.on_text(1, r#"{"type":"resume","epoch":"e","since":2}"#, now);
    let mut frames = Vec::new();
    b.take_frames(1, &mut frames);
    let seqs: Vec<u64> = frames.iter().filter_map(|f| serde_json::from_str::<Value>(f).ok()?["seq"].as_u64()).collect();
    assert_eq!(seqs, vec![3, 4, 5, 5], "replayed 3..=5, then the resume answer at 5");
}

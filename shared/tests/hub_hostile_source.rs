//! A hostile or broken source against the hub: whatever positions a bridge publishes
//! and whatever clients ask, every hub call is bounded in work by what the hub holds
//! (never by a seq a peer chose), and nothing that breaks the stream's rules is
//! applied.

use std::sync::Arc;

use ibws_shared::hub::{ConnectInfo, Hub, HubConfig, Now, Output, StampedEvent, MAX_SAFE_SEQ, TAKE_BUDGET_EVENTS};
use ibws_shared::protocol::{ServerFrame, Snapshot};
use proptest::prelude::*;
use serde_json::{json, Value};

const NOW: Now = Now { mono_ms: 1_000, unix_us: 1_700_000_000_000_000 };

fn event(epoch: &str, seq: u64, kind: u8) -> Arc<StampedEvent> {
    let v = match kind % 3 {
        0 => json!({"type": "order_update", "data": {"order_id": seq % 7, "symbol": "AAPL", "action": "BUY",
                "quantity": 1, "order_type": "LMT", "status": "Submitted", "price": 1.0, "perm_id": 100 + seq % 7,
                "account": "DU1"}, "timestamp": "t"}),
        1 => json!({"type": "market_data", "symbol": "AAPL", "data": {"last": 1.0}, "timestamp": "t"}),
        _ => {
            json!({"type": "error", "message": "Order rejected", "error_code": "ORDER_REJECTED", "req_id": seq % 7, "timestamp": "t"})
        }
    };
    let mut v = v;
    v["seq"] = seq.into();
    v["epoch"] = epoch.into();
    StampedEvent::new(serde_json::from_value::<ServerFrame>(v).expect("frame")).expect("stamped")
}

/// Drains the hub's outputs as a driver would, every woken client taking its frames,
/// and checks the work of each take. Returns the frames each client got.
fn drain(hub: &mut Hub) -> Vec<(u64, Value)> {
    let mut got = Vec::new();
    let mut takes = 0;
    while let Some(o) = hub.poll_output() {
        if let Output::Wake(id) = o {
            let before = hub.stats().events_examined;
            let mut frames = Vec::new();
            hub.take_frames(id, &mut frames);
            let examined = hub.stats().events_examined - before;
            assert!(examined <= TAKE_BUDGET_EVENTS as u64, "one take looked at {examined} ring entries");
            takes += 1;
            assert!(takes <= 10_000, "the hub keeps waking its clients");
            got.extend(frames.iter().map(|f| (id, serde_json::from_str::<Value>(f).expect("json"))));
        }
    }
    got
}

fn hub(capacity: usize) -> Hub {
    let cfg = HubConfig { replay_capacity: capacity, idle_timeout_ms: 1 << 40, ..HubConfig::default() };
    let mut hub = Hub::new(cfg, None, "e".into());
    hub.connect(1, ConnectInfo::default(), NOW);
    hub.on_text(1, r#"{"type":"subscribe","message_types":["order_update","error"]}"#, NOW);
    hub.on_text(1, r#"{"type":"resume","epoch":"e","since":0}"#, NOW);
    drain(&mut hub);
    hub
}

/// The review's reproduction, in the core: a subscribed client, then one event at seq
/// 2^64 - 1. It is refused and applied to nothing; the stream goes on.
#[test]
fn a_seq_beyond_2_pow_53_is_refused_and_the_stream_goes_on() {
    let mut hub = hub(16);
    hub.publish(event("e", 1, 0), NOW).unwrap();
    drain(&mut hub);
    for seq in [u64::MAX, MAX_SAFE_SEQ + 1, 1 << 60] {
        assert!(hub.publish(event("e", seq, 0), NOW).is_err(), "seq {seq} refused");
        assert!(drain(&mut hub).is_empty(), "nothing of a refused event reaches a client");
        assert_eq!(hub.position(), ("e", 1));
    }
    // a gap, a new epoch without a snapshot, a seq behind the window: refused too
    assert!(hub.publish(event("e", 3, 0), NOW).is_err());
    assert!(hub.publish(event("other", 2, 0), NOW).is_err());
    for seq in 2..=40 {
        hub.publish(event("e", seq, 0), NOW).unwrap();
    }
    assert_eq!(hub.publish(event("e", 30, 0), NOW), Ok(false), "a resend within the window is a duplicate");
    assert!(hub.publish(event("e", 3, 0), NOW).is_err(), "a seq further back than the window");
    assert_eq!(hub.stats().stream_violations, 6);
    let snap = |seq| Snapshot { epoch: "f".into(), seq, orders: vec![], accounts: vec![], source_connected: true };
    assert!(hub.apply_snapshot(&snap(u64::MAX), NOW).is_err());
    assert_eq!(hub.position(), ("e", 40));
    hub.apply_snapshot(&snap(MAX_SAFE_SEQ - 1), NOW).unwrap();
    hub.publish(event("f", MAX_SAFE_SEQ, 0), NOW).unwrap();
    assert!(hub.publish(event("f", MAX_SAFE_SEQ + 1, 0), NOW).is_err());
    let got = drain(&mut hub);
    let last = got.iter().filter_map(|(_, v)| v["seq"].as_u64()).max();
    assert_eq!(last, Some(MAX_SAFE_SEQ), "the client reads the stream up to 2^53 - 1");
}

/// A client subscribed to a rare type behind a ring of 20,000 other events: each take
/// looks at no more than its budget, and the client is served in a bounded number of
/// takes.
#[test]
fn a_take_is_bounded_in_work_not_only_in_bytes() {
    let mut hub = hub(50_000);
    hub.connect(2, ConnectInfo::default(), NOW);
    hub.on_text(2, r#"{"type":"subscribe","message_types":["error"]}"#, NOW);
    drain(&mut hub);
    for seq in 1..=20_000 {
        hub.publish(event("e", seq, 1), NOW).unwrap();
    }
    hub.on_text(2, r#"{"type":"resume","epoch":"e","since":0}"#, NOW);
    let got = drain(&mut hub);
    assert!(got.iter().any(|(id, v)| *id == 2 && v["type"] == "resume" && v["recovered"] == true));
    assert!(hub.stats().events_examined >= 20_000);
}

#[derive(Clone, Debug)]
enum Op {
    /// A bridge publishes at head + `delta` (wrapping), or at an arbitrary seq.
    Publish {
        epoch: u8,
        delta: i8,
        kind: u8,
    },
    PublishAt {
        epoch: u8,
        seq: u64,
        kind: u8,
    },
    Snapshot {
        epoch: u8,
        seq: u64,
    },
    /// A client resumes from an arbitrary position.
    Resume {
        client: u64,
        epoch: u8,
        since: u64,
    },
    Subscribe {
        client: u64,
        types: u8,
    },
    GetOrders {
        client: u64,
    },
    Connect {
        client: u64,
    },
    Disconnect {
        client: u64,
    },
}

fn seq_value() -> impl Strategy<Value = u64> {
    prop_oneof![0..64u64, Just(u64::MAX), Just(MAX_SAFE_SEQ), Just(MAX_SAFE_SEQ + 1), any::<u64>()]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..3u8, -3..4i8, any::<u8>()).prop_map(|(epoch, delta, kind)| Op::Publish { epoch, delta, kind }),
        1 => (0..3u8, seq_value(), any::<u8>()).prop_map(|(epoch, seq, kind)| Op::PublishAt { epoch, seq, kind }),
        1 => (0..3u8, seq_value()).prop_map(|(epoch, seq)| Op::Snapshot { epoch, seq }),
        2 => (1..4u64, 0..3u8, seq_value()).prop_map(|(client, epoch, since)| Op::Resume { client, epoch, since }),
        1 => (1..4u64, any::<u8>()).prop_map(|(client, types)| Op::Subscribe { client, types }),
        1 => (1..4u64).prop_map(|client| Op::GetOrders { client }),
        1 => (1..4u64).prop_map(|client| Op::Connect { client }),
        1 => (1..4u64).prop_map(|client| Op::Disconnect { client }),
    ]
}

const EPOCHS: [&str; 3] = ["e", "f", "g"];

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Arbitrary uplink frames and client messages: every take is within its work
    /// budget, the wakes end, the position never passes 2^53 - 1, and a refused event
    /// changes nothing a client can see.
    #[test]
    fn every_hub_call_is_bounded_whatever_the_source_and_clients_send(ops in prop::collection::vec(op(), 1..120)) {
        let mut hub = hub(32);
        for op in ops {
            match op {
                Op::Publish { epoch, delta, kind } => {
                    let seq = hub.position().1.wrapping_add(delta as i64 as u64);
                    let before = hub.position().1;
                    if hub.publish(event(EPOCHS[epoch as usize], seq, kind), NOW).is_err() {
                        prop_assert_eq!(hub.position().1, before);
                        prop_assert!(drain(&mut hub).is_empty());
                    }
                }
                Op::PublishAt { epoch, seq, kind } => {
                    let _ = hub.publish(event(EPOCHS[epoch as usize], seq, kind), NOW);
                }
                Op::Snapshot { epoch, seq } => {
                    let snap = Snapshot { epoch: EPOCHS[epoch as usize].into(), seq, orders: vec![], accounts: vec![], source_connected: true };
                    let _ = hub.apply_snapshot(&snap, NOW);
                }
                Op::Resume { client, epoch, since } => {
                    let m = json!({"type": "resume", "epoch": EPOCHS[epoch as usize], "since": since});
                    hub.on_text(client, &m.to_string(), NOW);
                }
                Op::Subscribe { client, types } => {
                    let all = ["order_update", "order_notification", "mcp_order", "account_update", "market_data", "error"];
                    let t: Vec<&str> = all.iter().enumerate().filter(|(i, _)| types & (1 << i) != 0).map(|(_, t)| *t).collect();
                    hub.on_text(client, &json!({"type": "subscribe", "message_types": t}).to_string(), NOW);
                }
                Op::GetOrders { client } => hub.on_text(client, r#"{"type":"get_orders"}"#, NOW),
                Op::Connect { client } => hub.connect(client, ConnectInfo::default(), NOW),
                Op::Disconnect { client } => hub.disconnect(client),
            }
            prop_assert!(hub.position().1 <= MAX_SAFE_SEQ);
            drain(&mut hub);
        }
    }
}

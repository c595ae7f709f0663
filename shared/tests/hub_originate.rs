//! The bridge's stream position has one owner: its hub stamps each event as it
//! publishes it (`Hub::originate`), so the position a client sees, the one the uplink
//! sends and the hub's head are the same number by construction.

use ibws_shared::hub::{ConnectInfo, Hub, HubConfig, Now, Output};
use ibws_shared::protocol::ServerFrame;
use serde_json::{json, Value};

const NOW: Now = Now { mono_ms: 1_000, unix_us: 1_700_000_000_000_000 };

fn frame(v: Value) -> ServerFrame {
    serde_json::from_value(v).unwrap()
}

#[test]
fn the_hub_stamps_each_event_once_and_skips_what_is_not_an_event() {
    let mut hub = Hub::new(HubConfig::default(), None, "run1".into());
    hub.connect(1, ConnectInfo::default(), NOW);
    hub.on_text(1, r#"{"type":"subscribe","message_types":["order_update","error"]}"#, NOW);
    let order = json!({"type": "order_update", "timestamp": "t", "data": {"order_id": 1, "symbol": "AAPL", "action": "BUY",
        "quantity": 1, "order_type": "LMT", "status": "Submitted", "price": 1.0, "perm_id": 9}});
    let a = hub.originate(frame(order.clone()), NOW).unwrap().expect("an event");
    // a pong is not part of the stream: no position used
    assert!(hub.originate(frame(json!({"type": "pong", "timestamp": "t"})), NOW).unwrap().is_none());
    let b = hub.originate(frame(order), NOW).unwrap().expect("an event");
    assert_eq!((a.epoch.as_str(), a.seq, b.seq), ("run1", 1, 2));
    assert_eq!(hub.position(), ("run1", 2));
    let mut seen = Vec::new();
    while let Some(o) = hub.poll_output() {
        if let Output::Wake(id) = o {
            let mut f = Vec::new();
            hub.take_frames(id, &mut f);
            seen.extend(
                f.iter().map(|f| serde_json::from_str::<Value>(f).unwrap()).filter(|v| v["type"] == "order_update"),
            );
        }
    }
    let seqs: Vec<u64> = seen.iter().map(|v| v["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, vec![1, 2], "what clients get is what the hub stamped");
    assert_eq!(seen[1]["epoch"], "run1");
}

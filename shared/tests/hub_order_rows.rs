//! The hub stores each order's row as its `order_update` gives it: the bridge's order
//! book is the one order truth, so a notification about an order (which, in the seed's
//! shape, carries no fill columns) changes no row, and nothing is merged.

use std::sync::Arc;

use ibws_shared::hub::{ConnectInfo, Hub, HubConfig, Now, Output, StampedEvent};
use ibws_shared::protocol::ServerFrame;
use serde_json::{json, Value};

const NOW: Now = Now { mono_ms: 1_000, unix_us: 1_700_000_000_000_000 };

fn event(seq: u64, mut v: Value) -> Arc<StampedEvent> {
    v["seq"] = seq.into();
    v["epoch"] = "e".into();
    v["timestamp"] = "t".into();
    StampedEvent::new(serde_json::from_value::<ServerFrame>(v).unwrap()).unwrap()
}

fn row(status: &str, filled: Option<f64>) -> Value {
    let mut d = json!({"order_id": 1, "symbol": "AAPL", "action": "BUY", "quantity": 100, "order_type": "LMT",
        "status": status, "price": 10.0, "perm_id": 9});
    if let Some(f) = filled {
        d["filled"] = f.into();
        d["remaining"] = (100.0 - f).into();
        d["avg_fill_price"] = 10.0.into();
    }
    d
}

fn rows(hub: &mut Hub) -> Vec<Value> {
    hub.connect(7, ConnectInfo::default(), NOW);
    hub.on_text(7, r#"{"type":"get_orders"}"#, NOW);
    let mut out = Vec::new();
    while let Some(o) = hub.poll_output() {
        if let Output::Wake(id) = o {
            let mut f = Vec::new();
            hub.take_frames(id, &mut f);
            for f in f {
                let v: Value = serde_json::from_str(&f).unwrap();
                if v["type"] == "orders_response" {
                    out = v["data"].as_array().cloned().unwrap_or_default();
                }
            }
        }
    }
    hub.disconnect(7);
    out
}

#[test]
fn rows_come_from_order_updates_only_and_are_stored_as_given() {
    let mut hub = Hub::new(HubConfig::default(), None, "e".into());
    hub.publish(event(1, json!({"type": "order_update", "data": row("Submitted", Some(40.0))})), NOW).unwrap();
    let notice = json!({"type": "order_notification", "action": "取消", "message": "m", "event": "cancelled",
        "data": row("Cancelled", None)});
    hub.publish(event(2, notice), NOW).unwrap();
    let r = rows(&mut hub);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(
        (r[0]["status"].as_str(), r[0]["filled"].as_f64()),
        (Some("Submitted"), Some(40.0)),
        "a notice changes no row"
    );
    hub.publish(event(3, json!({"type": "order_update", "data": row("Cancelled", Some(40.0))})), NOW).unwrap();
    let r = rows(&mut hub);
    assert_eq!(
        (r[0]["status"].as_str(), r[0]["filled"].as_f64(), r[0]["remaining"].as_f64()),
        (Some("Cancelled"), Some(40.0), Some(60.0))
    );
}

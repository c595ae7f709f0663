use ibws_shared::auth::{mint, Claims, Role, SignKey};
use ibws_shared::hub::Now;
use ibws_shared::protocol::{OrderData, OrderUpdate, ServerFrame};
use serde_json::Value;

use crate::edge::{EdgeConfig, EdgeRelay, Out};

const SECRET: &str = "edge-test-secret-0123456789abcdef0123";

fn relay() -> EdgeRelay {
    EdgeRelay::new(EdgeConfig {
        tenant: "desk1".into(),
        jwt_secret: Some(SECRET.into()),
        jwt_public_key: None,
        issuer: "ibws".into(),
        audience: "ibws".into(),
    })
    .unwrap()
}

fn token(role: Role, tenant: &str) -> String {
    let c = Claims {
        sub: "t".into(),
        role,
        tenant: tenant.into(),
        scope: vec![],
        accounts: vec![],
        exp: 4_000_000_000,
        nbf: None,
        iat: None,
        iss: "ibws".into(),
        aud: "ibws".into(),
    };
    mint(&c, &SignKey::Hs256(SECRET.as_bytes().to_vec())).unwrap()
}

const NOW: Now = Now { mono_ms: 1_000, unix_us: 1_700_000_000_000_000 };

fn publish(seq: u64, epoch: &str) -> String {
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
    f.set_position(epoch, seq);
    format!("{{\"type\":\"publish\",\"event\":{}}}", f.to_json())
}

fn sent(out: &[Out], id: u64) -> Vec<Value> {
    out.iter()
        .filter_map(|o| match o {
            Out::Send { id: i, frames } if *i == id => Some(frames.clone()),
            _ => None,
        })
        .flatten()
        .map(|f| serde_json::from_str(&f).unwrap())
        .collect()
}

#[test]
fn bridge_publishes_and_clients_receive() {
    let mut r = relay();
    let hello =
        format!(r#"{{"type":"hello","token":"{}","epoch":"B","seq":0,"version":"x"}}"#, token(Role::Bridge, "desk1"));
    let w: Value = serde_json::from_str(&r.bridge_text(&hello, NOW).reply.unwrap()).unwrap();
    assert_eq!(w["type"], "welcome");
    r.client_open(7, None, None, NOW);
    r.client_text(7, &format!(r#"{{"type":"auth","token":"{}"}}"#, token(Role::Client, "desk1")), NOW);
    r.client_text(7, r#"{"type":"subscribe","message_types":["order_update"]}"#, NOW);
    r.drain();
    let ack: Value = serde_json::from_str(&r.bridge_text(&publish(1, "B"), NOW).reply.unwrap()).unwrap();
    assert_eq!((ack["type"].as_str(), ack["seq"].as_u64()), (Some("ack"), Some(1)));
    let got = sent(&r.drain(), 7);
    // the stream moved from the relay's placeholder epoch to the bridge's: an
    // authenticated client hears about it before the first event
    assert_eq!((got[0]["type"].as_str(), got[0]["recovered"].as_bool()), (Some("resume"), Some(false)));
    assert_eq!((got[1]["type"].as_str(), got[1]["seq"].as_u64()), (Some("order_update"), Some(1)));
}

#[test]
fn wrong_tokens_are_refused() {
    let mut r = relay();
    let other =
        format!(r#"{{"type":"hello","token":"{}","epoch":"B","seq":0,"version":"x"}}"#, token(Role::Bridge, "desk2"));
    assert_eq!(r.bridge_text(&other, NOW).close, Some(4502));
    let client_as_bridge =
        format!(r#"{{"type":"hello","token":"{}","epoch":"B","seq":0,"version":"x"}}"#, token(Role::Client, "desk1"));
    assert_eq!(r.bridge_text(&client_as_bridge, NOW).close, Some(4502));
    assert_eq!(r.bridge_text(&publish(1, "B"), NOW).close, Some(4505), "no publish before hello");
    r.client_open(1, None, Some("not.a.token"), NOW);
    assert!(matches!(r.drain().as_slice(), [Out::Close { id: 1, code: 4500, .. }]));
}

#[test]
fn hibernation_loses_nothing() {
    let mut r = relay();
    let hello =
        format!(r#"{{"type":"hello","token":"{}","epoch":"B","seq":0,"version":"x"}}"#, token(Role::Bridge, "desk1"));
    r.bridge_text(&hello, NOW);
    r.client_open(3, Some("c3".into()), Some(&token(Role::Client, "desk1")), NOW);
    r.client_text(3, r#"{"type":"subscribe","message_types":["order_update"]}"#, NOW);
    for s in 1..=4 {
        r.bridge_text(&publish(s, "B"), NOW);
    }
    r.drain();
    let stream = serde_json::to_string(&r.stream_state()).unwrap();
    let session = serde_json::to_string(&r.session_state(3).unwrap()).unwrap();

    let mut woken = relay();
    woken.restore_stream(serde_json::from_str(&stream).unwrap());
    woken.restore_session(3, serde_json::from_str(&session).unwrap(), NOW);
    woken.set_bridge_authed(true);
    woken.bridge_text(&publish(5, "B"), NOW);
    let got = sent(&woken.drain(), 3);
    assert_eq!(got.len(), 1, "the restored client is still subscribed");
    assert_eq!(got[0]["seq"], 5);
    woken.client_text(3, r#"{"type":"resume","epoch":"B","since":1}"#, NOW);
    let seqs: Vec<u64> = sent(&woken.drain(), 3).iter().filter_map(|v| v["seq"].as_u64()).collect();
    assert_eq!(seqs, vec![2, 3, 4, 5, 5]);
}

//! Token scopes in the hub: a token whose scope has no order type gets no order rows
//! from `get_orders`; an account-restricted token sees neither another account's
//! orders or errors nor order data that names no account; everyone allowed `error`
//! still sees connectivity errors (not about an account).

use std::sync::Arc;

use ibws_shared::auth::{mint, Claims, JwtVerifier, Role, SignKey, TokenVerifier, VerifyKey};
use ibws_shared::hub::{ConnectInfo, Hub, HubConfig, Now, Output, StampedEvent};
use ibws_shared::protocol::ServerFrame;
use serde_json::{json, Value};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const NOW: Now = Now { mono_ms: 1_000, unix_us: 1_700_000_000_000_000 };

fn claims(scope: &[&str], accounts: &[&str]) -> Claims {
    Claims {
        sub: "t".into(),
        role: Role::Client,
        tenant: "desk1".into(),
        scope: scope.iter().map(|s| s.to_string()).collect(),
        accounts: accounts.iter().map(|s| s.to_string()).collect(),
        exp: 1_700_003_600,
        nbf: None,
        iat: None,
        iss: "ibws".into(),
        aud: "ibws".into(),
    }
}

fn event(seq: u64, v: Value) -> Arc<StampedEvent> {
    let mut v = v;
    v["seq"] = seq.into();
    v["epoch"] = "e".into();
    v["timestamp"] = "2023-11-14T22:13:20.000000".into();
    StampedEvent::new(serde_json::from_value::<ServerFrame>(v).unwrap()).unwrap()
}

fn order(id: i64, account: Option<&str>) -> Value {
    let mut o = json!({"order_id": id, "symbol": "AAPL", "action": "BUY", "quantity": 1, "order_type": "LMT",
                       "status": "Submitted", "price": 1.0, "perm_id": 100 + id});
    if let Some(a) = account {
        o["account"] = a.into();
    }
    json!({"type": "order_update", "data": o})
}

fn drain(hub: &mut Hub, id: u64) -> Vec<Value> {
    let mut frames = Vec::new();
    while let Some(o) = hub.poll_output() {
        if let Output::Wake(w) = o {
            let mut f = Vec::new();
            hub.take_frames(w, &mut f);
            if w == id {
                frames.extend(f.iter().map(|f| serde_json::from_str::<Value>(f).unwrap()));
            }
        }
    }
    frames
}

fn hub_with_client(c: Claims) -> Hub {
    let verifier: Arc<dyn TokenVerifier> =
        Arc::new(JwtVerifier::new(VerifyKey::Hs256(SECRET.to_vec()), "ibws", "ibws", 30).unwrap());
    let mut hub = Hub::new(
        HubConfig { require_auth: true, tenant: Some("desk1".into()), ..HubConfig::default() },
        Some(verifier),
        "e".into(),
    );
    let token = mint(&c, &SignKey::Hs256(SECRET.to_vec())).unwrap();
    hub.connect(1, ConnectInfo::default(), NOW);
    hub.on_text(1, &json!({"type": "auth", "token": token}).to_string(), NOW);
    let all = ["order_update", "order_notification", "mcp_order", "account_update", "market_data", "error"];
    let allowed: Vec<&str> = all.into_iter().filter(|t| c.scope.is_empty() || c.scope.iter().any(|s| s == t)).collect();
    hub.on_text(1, &json!({"type": "subscribe", "message_types": allowed}).to_string(), NOW);
    drain(&mut hub, 1);
    hub.publish(event(1, order(1, Some("DU1"))), NOW).unwrap();
    hub.publish(event(2, order(2, Some("DU2"))), NOW).unwrap();
    hub.publish(event(3, order(3, None)), NOW).unwrap();
    hub.publish(event(4, json!({"type": "error", "message": "rejected", "error_code": "ORDER_REJECTED", "req_id": 2, "account": "DU2"})), NOW).unwrap();
    hub.publish(event(5, json!({"type": "error", "message": "lost", "error_code": "CONNECTIVITY_LOST"})), NOW).unwrap();
    // errors about orders that name no account: order 2 is DU2's; order 99 is unknown
    hub.publish(event(6, json!({"type": "error", "message": "Order 2 for account DU2 rejected", "error_code": "ORDER_REJECTED", "req_id": 2})), NOW).unwrap();
    hub.publish(
        event(
            7,
            json!({"type": "error", "message": "Order 99 rejected", "error_code": "ORDER_REJECTED", "req_id": 99}),
        ),
        NOW,
    )
    .unwrap();
    hub
}

fn get_orders(hub: &mut Hub) -> Vec<i64> {
    drain(hub, 1);
    hub.on_text(1, r#"{"type":"get_orders"}"#, NOW);
    let frames = drain(hub, 1);
    let r = frames.iter().find(|f| f["type"] == "orders_response").expect("orders_response");
    r["data"].as_array().unwrap().iter().map(|o| o["order_id"].as_i64().unwrap()).collect()
}

#[test]
fn a_scope_without_order_types_gets_no_order_rows() {
    let mut hub = hub_with_client(claims(&["market_data"], &[]));
    assert_eq!(get_orders(&mut hub), Vec::<i64>::new());
    let mut hub = hub_with_client(claims(&["mcp_order"], &[]));
    assert_eq!(get_orders(&mut hub), vec![1, 2, 3], "any order type in the scope allows rows");
}

#[test]
fn account_scope_covers_errors_and_account_less_orders() {
    let mut hub = hub_with_client(claims(&[], &["DU1"]));
    let seen: Vec<u64> = drain(&mut hub, 1).iter().filter_map(|f| f["seq"].as_u64()).collect();
    assert_eq!(
        seen,
        vec![1, 5],
        "DU1's order and the connectivity error only (not DU2's order's error, 6, nor an unknown order's, 7)"
    );
    assert_eq!(get_orders(&mut hub), vec![1]);
    // an unrestricted token sees everything
    let mut hub = hub_with_client(claims(&[], &[]));
    let seen: Vec<u64> = drain(&mut hub, 1).iter().filter_map(|f| f["seq"].as_u64()).collect();
    assert_eq!(seen, vec![1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(get_orders(&mut hub), vec![1, 2, 3]);
    // DU2's token sees its order's error, which names no account (the order table does)
    let mut hub = hub_with_client(claims(&[], &["DU2"]));
    let seen: Vec<u64> = drain(&mut hub, 1).iter().filter_map(|f| f["seq"].as_u64()).collect();
    assert_eq!(seen, vec![2, 4, 5, 6]);
}

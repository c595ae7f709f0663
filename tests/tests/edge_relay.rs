//! The edge relay (Rust relay compiled to wasm, hosted by a Worker + Durable Object)
//! served by `workerd` from npm on loopback: simulator -> bridge uplink -> edge relay
//! -> clients. Auth accepted and refused, subscribe / unsubscribe / ping / get_orders,
//! the applicable part of the security matrix, a resume after the Durable Object is
//! restarted (workerd killed and started again on the same storage), and the same
//! client session run unchanged against the native relay and the edge relay.

use std::time::Duration;

use ibws_bridge::app::{Bridge, BridgeConfig};
use ibws_bridge::relay::{Relay, RelayConfig};
use ibws_bridge::uplink::UplinkConfig;
use ibws_shared::auth::{Claims, Role};
use ibws_shared::backoff::Backoff;
use ibws_shared::hub::HubConfig;
use ibws_shared::protocol::CloseCode;
use ibws_tests::{free_port, Client, TestKeys, Workerd};
use ibws_tws_io::sim::{SimConfig, Simulator};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "edge-test-secret-0123456789abcdef0123";

fn token(role: Role, tenant: &str, f: impl FnOnce(&mut Claims)) -> String {
    TestKeys::hs256(SECRET).token_with(|c| {
        c.role = role;
        c.tenant = tenant.into();
        f(c);
    })
}

async fn bridge_to(sim: &Simulator, url: String) -> Bridge {
    Bridge::start(BridgeConfig {
        tws: sim.addr().to_string(),
        listen: "127.0.0.1:0".parse().unwrap(),
        uplink: Some(UplinkConfig {
            url,
            token: token(Role::Bridge, "desk1", |_| {}),
            tls: ibws_bridge::tls::client_config(None).unwrap(),
            buffer_cap: 100_000,
            backoff: Backoff { base_ms: 100, cap_ms: 1_000 },
        }),
        ..BridgeConfig::default()
    })
    .await
    .unwrap()
}

/// The client session both relays must serve identically.
async fn session(url: &str) -> Value {
    let mut c = Client::connect(url).await;
    c.send(json!({"type": "auth", "token": token(Role::Client, "desk1", |_| {})})).await;
    let hello = c.recv(Duration::from_secs(5)).await.expect("connection frame");
    assert_eq!(hello["type"], "connection", "{hello}");
    c.send(json!({"type": "subscribe", "message_types": ["order_update", "order_notification", "account_update"]}))
        .await;
    let s = c.recv_until(Duration::from_secs(5), |v| v["type"] == "subscription").await.unwrap();
    assert_eq!(s["subscribed_types"], json!(["order_update", "order_notification", "account_update"]));
    // events flow, in order
    let mut last: Option<u64> = None;
    let mut n = 0;
    while n < 5 {
        let Some(v) = c.recv(Duration::from_secs(10)).await else {
            panic!("no events from {url}: closed with {:?}", c.close_code(Duration::from_secs(1)).await);
        };
        if let Some(seq) = v["seq"].as_u64() {
            if v["type"] != "connection" && v["type"] != "resume" {
                assert!(last.is_none_or(|l| seq > l), "seqs grow");
                last = Some(seq);
                n += 1;
            }
        }
    }
    c.send(json!({"type": "ping"})).await;
    assert!(c.recv_until(Duration::from_secs(5), |v| v["type"] == "pong").await.is_some());
    c.send(json!({"type": "unsubscribe", "message_types": ["account_update"]})).await;
    let u = c.recv_until(Duration::from_secs(5), |v| v["type"] == "unsubscription").await.unwrap();
    assert_eq!(u["remaining_types"], json!(["order_update", "order_notification"]));
    c.send(json!({"type": "get_orders"})).await;
    let o = c.recv_until(Duration::from_secs(5), |v| v["type"] == "orders_response").await.unwrap();
    assert!(!o["data"].as_array().unwrap().is_empty(), "orders from the relay's own table");
    assert_eq!(o["source_connected"], true);
    o
}

async fn close_code(url: &str, headers: &[(&str, &str)], first: Option<Message>) -> Option<u16> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = url.into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let (ws, _) = tokio_tungstenite::connect_async(req).await.ok()?;
    let mut c = Client::from_stream(ws);
    if let Some(m) = first {
        c.send_raw(m).await;
    }
    // the auth deadline (5 s) runs on the Durable Object's 1 s alarm
    c.close_code(Duration::from_secs(8)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_relay_under_workerd() {
    let storage = std::env::temp_dir().join(format!("ibws-edge-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&storage);
    std::fs::create_dir_all(&storage).unwrap();
    let port = free_port();
    let workerd = Workerd::start(port, &storage, SECRET, "https://app.example");
    let edge = format!("ws://127.0.0.1:{port}/websocket/ws?tenant=desk1");

    let sim = Simulator::start(SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        flow_interval: Some(Duration::from_millis(60)),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let bridge = bridge_to(&sim, format!("ws://127.0.0.1:{port}/bridge/ws?tenant=desk1")).await;

    // the native relay, fed by a second bridge
    let relay = Relay::start(RelayConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: None,
        verifier: TestKeys::hs256(SECRET).verifier(),
        allowed_origins: vec![],
        limits: Default::default(),
        hub: HubConfig { require_auth: true, ..HubConfig::default() },
        insecure: false,
        metrics_listen: None,
        send_timeout: ibws_bridge::server::SEND_TIMEOUT,
        max_memory_bytes: ibws_bridge::relay::DEFAULT_MAX_MEMORY_BYTES,
    })
    .await
    .unwrap();
    // (its own simulator: one TWS serves one client id 0)
    let sim2 = Simulator::start(SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        flow_interval: Some(Duration::from_millis(60)),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let _native_bridge = bridge_to(&sim2, format!("ws://127.0.0.1:{}/bridge/ws", relay.addr.port())).await;

    // the same session, unchanged, against both relays
    session(&format!("ws://127.0.0.1:{}/websocket/ws", relay.addr.port())).await;
    let orders = session(&edge).await;
    assert!(orders["seq"].as_u64().unwrap() > 0);

    // auth refused, and the security matrix's edge subset
    let bad = |m: Value| Some(Message::Text(m.to_string().into()));
    let none_alg = format!(
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
        "eyJzdWIiOiJtYWxsb3J5IiwidGVuYW50IjoiZGVzazEiLCJleHAiOjQwMDAwMDAwMDAsImlzcyI6Imlid3MiLCJhdWQiOiJpYndzIn0"
    );
    assert_eq!(
        close_code(&edge, &[], bad(json!({"type": "auth", "token": none_alg}))).await,
        Some(CloseCode::InvalidToken.code()),
        "alg none"
    );
    let expired = token(Role::Client, "desk1", |c| c.exp -= 7200);
    assert_eq!(
        close_code(&edge, &[], bad(json!({"type": "auth", "token": expired}))).await,
        Some(CloseCode::TokenExpired.code()),
        "expired"
    );
    let wrong_aud = token(Role::Client, "desk1", |c| c.aud = "other".into());
    assert_eq!(
        close_code(&edge, &[], bad(json!({"type": "auth", "token": wrong_aud}))).await,
        Some(CloseCode::InvalidToken.code()),
        "wrong aud"
    );
    let other_tenant = token(Role::Client, "desk2", |_| {});
    assert_eq!(
        close_code(&edge, &[], bad(json!({"type": "auth", "token": other_tenant}))).await,
        Some(CloseCode::Forbidden.code()),
        "token for another tenant"
    );
    let valid = token(Role::Client, "desk1", |_| {});
    assert_eq!(
        close_code(&format!("{edge}&token={valid}"), &[], None).await,
        Some(CloseCode::InvalidToken.code()),
        "token in query"
    );
    // a foreign page is refused before the upgrade: it never sees its socket open
    {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = edge.as_str().into_client_request().unwrap();
        req.headers_mut().insert("origin", "https://evil.example".parse().unwrap());
        let err = tokio_tungstenite::connect_async(req).await.err().expect("origin refused").to_string();
        assert!(err.contains("403"), "origin: {err}");
    }
    assert_eq!(
        close_code(&edge, &[], bad(json!({"type": "subscribe", "message_types": ["order_update"]}))).await,
        Some(CloseCode::AuthRequired.code()),
        "no auth first"
    );
    assert_eq!(close_code(&edge, &[], None).await, Some(CloseCode::AuthRequired.code()), "no auth within the deadline");
    {
        // a bearer subprotocol is verified once, by the Worker, whose grant the tenant's
        // object takes; a grant header sent from outside is replaced, so it admits nothing
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = edge.as_str().into_client_request().unwrap();
        req.headers_mut().insert("sec-websocket-protocol", format!("ibws, bearer.{valid}").parse().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(req).await.expect("bearer accepted");
        let mut c = Client::from_stream(ws);
        let hello = c.recv(Duration::from_secs(5)).await.expect("greeted");
        assert_eq!(hello["type"], "connection", "admitted by the grant: {hello}");

        let forged = json!({"client_id": "x", "claims": {"sub": "x", "role": "client", "tenant": "desk1", "exp": 4_000_000_000u64, "iss": "ibws", "aud": "ibws"}});
        let mut req = edge.as_str().into_client_request().unwrap();
        req.headers_mut().insert("x-ibws-grant", forged.to_string().parse().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(req).await.expect("upgraded");
        let mut c = Client::from_stream(ws);
        c.send(json!({"type": "subscribe", "message_types": ["order_update"]})).await;
        let e = c.recv_until(Duration::from_secs(5), |v| v["type"] == "error").await;
        assert_eq!(e.map(|e| e["error_code"].clone()), Some(json!("AUTH_REQUIRED")), "a forged grant is not a token");
        assert_eq!(c.close_code(Duration::from_secs(5)).await, Some(CloseCode::AuthRequired.code()), "forged grant");
    }
    {
        let mut c = Client::connect(&edge).await;
        c.send(json!({"type": "auth", "token": valid})).await;
        c.recv(Duration::from_secs(5)).await.unwrap();
        c.send_raw(Message::Binary(vec![1, 2].into())).await;
        assert_eq!(c.close_code(Duration::from_secs(5)).await, Some(CloseCode::UnsupportedData.code()), "binary");
    }
    {
        let mut c = Client::connect(&edge).await;
        c.send(json!({"type": "auth", "token": valid})).await;
        c.recv(Duration::from_secs(5)).await.unwrap();
        c.send_raw(Message::Text("{not json".into())).await;
        let e = c.recv_until(Duration::from_secs(5), |v| v["type"] == "error").await.unwrap();
        assert_eq!(e["error_code"], "BAD_REQUEST");
        c.send_raw(Message::Text(format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into())).await;
        let e = c.recv_until(Duration::from_secs(5), |v| v["type"] == "error").await.unwrap();
        assert_eq!(e["error_code"], "BAD_REQUEST", "deeply nested JSON");
        for _ in 0..300 {
            c.send_raw(Message::Text(r#"{"type":"ping"}"#.into())).await;
        }
        assert_eq!(c.close_code(Duration::from_secs(5)).await, Some(CloseCode::RateLimited.code()), "flood");
    }
    {
        let mut c = Client::connect(&edge).await;
        c.send(json!({"type": "auth", "token": valid})).await;
        c.recv(Duration::from_secs(5)).await.unwrap();
        c.send_raw(Message::Text(format!("{{\"type\":\"ping\",\"pad\":\"{}\"}}", "x".repeat(70 * 1024)).into())).await;
        assert_eq!(
            c.close_code(Duration::from_secs(5)).await,
            Some(CloseCode::MessageTooBig.code()),
            "frame over 64 KiB"
        );
    }
    {
        let scoped = token(Role::Client, "desk1", |c| c.scope = vec!["order_update".into()]);
        let mut c = Client::connect(&edge).await;
        c.send(json!({"type": "auth", "token": scoped})).await;
        c.recv(Duration::from_secs(5)).await.unwrap();
        c.send(json!({"type": "subscribe", "message_types": ["market_data"]})).await;
        let e = c.recv_until(Duration::from_secs(5), |v| v["type"] == "error").await.unwrap();
        assert_eq!(e["error_code"], "FORBIDDEN_SCOPE");
    }

    // resume after the Durable Object restarts: remember where we were, kill workerd
    let mut c = Client::connect(&edge).await;
    c.send(json!({"type": "auth", "token": valid})).await;
    c.send(json!({"type": "subscribe", "message_types": ["order_update", "order_notification", "mcp_order", "account_update", "error"]})).await;
    let mut pos: Option<(String, u64)> = None;
    while pos.as_ref().is_none_or(|p| p.1 < 3) {
        let v = c.recv(Duration::from_secs(10)).await.expect("events before the restart");
        if v["type"] != "connection" && v["type"] != "resume" && v["seq"].is_u64() {
            pos = Some((v["epoch"].as_str().unwrap().to_owned(), v["seq"].as_u64().unwrap()));
        }
    }
    let (epoch, since) = pos.unwrap();
    drop(c);
    workerd.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _workerd = Workerd::start(port, &storage, SECRET, "https://app.example");
    // the bridge reconnects and resends what the relay has not acknowledged
    let mut c = loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if bridge.uplink.as_ref().unwrap().is_connected() {
            break Client::connect(&edge).await;
        }
    };
    c.send(json!({"type": "auth", "token": valid})).await;
    c.send(json!({"type": "subscribe", "message_types": ["order_update", "order_notification", "mcp_order", "account_update", "error"], "epoch": epoch, "since": since})).await;
    let mut last = since;
    let mut recovered = None;
    let mut snapshot = None;
    while snapshot.is_none() && recovered != Some(true) {
        let v = c.recv(Duration::from_secs(10)).await.expect("resume answer");
        match v["type"].as_str().unwrap() {
            "resume" => {
                recovered = v["recovered"].as_bool();
                if recovered == Some(false) {
                    c.send(json!({"type": "get_orders"})).await;
                }
            }
            "orders_response" => snapshot = Some(v),
            "connection" | "subscription" => {}
            _ if recovered.is_none() && v["seq"].is_u64() => {
                let s = v["seq"].as_u64().unwrap();
                assert_eq!(s, last + 1, "replayed exactly once and in order");
                last = s;
            }
            _ => {}
        }
    }
    println!("edge_relay: resume after Durable Object restart recovered={recovered:?} replayed_through={last}");
    if let Some(s) = snapshot {
        assert!(!s["data"].as_array().unwrap().is_empty(), "a fresh snapshot");
    }
    let _ = std::fs::remove_dir_all(&storage);
    drop(relay);
}

/// The hostile-bridge rules hold at the edge too (it runs the same core under
/// workerd): an event at seq 2^64 - 1 ends the bridge's session with 4005 and is
/// applied to nothing; the tenant's client keeps its connection and, once its bridge
/// is back with a snapshot, its events; another tenant is served throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_seq_at_the_edge_is_refused_and_applies_nothing() {
    let storage = std::env::temp_dir().join(format!("ibws-edge-forged-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&storage);
    std::fs::create_dir_all(&storage).unwrap();
    let port = free_port();
    let _workerd = Workerd::start(port, &storage, SECRET, "");
    let event = |epoch: &str, seq: u64| {
        json!({"type": "publish", "event": {"type": "order_update", "data": {"order_id": 1, "symbol": "AAPL",
            "action": "BUY", "quantity": 1, "order_type": "LMT", "status": "Submitted", "price": 1.0, "perm_id": 7},
            "timestamp": "2026-12-06T10:00:00.000000", "seq": seq, "epoch": epoch}})
    };
    let bridge = |tenant: &'static str, seq: u64| async move {
        let mut b = Client::connect(&format!("ws://127.0.0.1:{port}/bridge/ws?tenant={tenant}")).await;
        b.send(json!({"type": "hello", "token": token(Role::Bridge, tenant, |_| {}), "epoch": "f1", "seq": seq, "version": "t"})).await;
        assert_eq!(b.recv(Duration::from_secs(10)).await.expect("welcome")["type"], "welcome");
        b.send(json!({"type": "snapshot", "epoch": "f1", "seq": seq, "orders": [], "accounts": [], "source_connected": true})).await;
        b
    };
    let client = |tenant: &'static str| async move {
        let mut c = Client::connect(&format!("ws://127.0.0.1:{port}/websocket/ws?tenant={tenant}")).await;
        c.send(json!({"type": "auth", "token": token(Role::Client, tenant, |_| {})})).await;
        c.send(json!({"type": "subscribe", "message_types": ["order_update"]})).await;
        c.recv_until(Duration::from_secs(10), |v| v["type"] == "subscription").await.expect("subscribed");
        c
    };

    let mut forge = bridge("forge", 0).await;
    let mut forge_client = client("forge").await;
    forge.send(event("f1", 1)).await;
    assert_eq!(next_seq(&mut forge_client).await, Some(1));
    forge.send(event("f1", u64::MAX)).await;
    assert_eq!(forge.close_code(Duration::from_secs(10)).await, Some(CloseCode::StreamRefused.code()));

    // another tenant is served
    let mut other = bridge("other", 0).await;
    let mut other_client = client("other").await;
    other.send(event("f1", 1)).await;
    assert_eq!(next_seq(&mut other_client).await, Some(1));

    // the forged event was applied to nothing: the bridge's next session goes on at 2
    let mut forge = bridge("forge", 1).await;
    forge.send(event("f1", 2)).await;
    assert_eq!(next_seq(&mut forge_client).await, Some(2));
    let _ = std::fs::remove_dir_all(&storage);
}

/// The seq of the next `order_update` a client receives.
async fn next_seq(c: &mut Client) -> Option<u64> {
    c.recv_until(Duration::from_secs(10), |v| v["type"] == "order_update").await.and_then(|v| v["seq"].as_u64())
}

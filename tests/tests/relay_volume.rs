//! A real account's size through the uplink: a bridge holding 10,000 orders (a
//! snapshot of about 3 MB, far over the relay's 64 KiB frame cap) connects, the relay
//! holds every order and serves all 10,000 to a client's `get_orders`; after the uplink
//! is cut, it reconnects once and stays up (no reconnect loop). Also: a 10 MB TWS
//! message reaches clients cut to size.

use std::time::{Duration, Instant};

use ibws_bridge::app::{Bridge, BridgeConfig};
use ibws_tests::{test_uplink, TestKeys};
use ibws_tws_io::sim::{SimConfig, Simulator};

const ORDERS: usize = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_larger_than_a_frame_reaches_the_relay_whole() {
    let keys = TestKeys::ed25519();
    let (relay, ca) = ibws_tests::test_relay(&keys).await;
    let sim =
        Simulator::start(SimConfig { listen: "127.0.0.1:0".parse().unwrap(), orders: ORDERS, ..SimConfig::default() })
            .await
            .unwrap();
    let bridge = Bridge::start(BridgeConfig {
        tws: sim.addr().to_string(),
        listen: "127.0.0.1:0".parse().unwrap(),
        uplink: Some(test_uplink(relay.addr.port(), &keys, "desk1", &ca)),
        ..BridgeConfig::default()
    })
    .await
    .unwrap();
    let uplink = bridge.uplink.clone().unwrap();
    let relay_orders = || relay.tenants.get_or_create("desk1").with(|h| h.order_count());
    let bridge_head = || bridge.hub.with(|h| h.position().1);
    let relay_head = || relay.tenants.get_or_create("desk1").with(|h| h.position().1);

    // the bridge sees every order, then the relay holds them all
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(bridge.hub.with(|h| h.order_count()) == ORDERS && relay_orders() == ORDERS && relay_head() == bridge_head())
    {
        assert!(Instant::now() < deadline, "relay holds {} of {ORDERS} orders", relay_orders());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // a client of the relay gets all of them
    let token = keys.token("alice", ibws_shared::auth::Role::Client, "desk1", &[]);
    let url = format!("wss://localhost:{}/websocket/ws", relay.addr.port());
    let mut c = ibws_tests::Client::connect_tls(&url, &ca, &[]).await.expect("connect");
    c.send(serde_json::json!({"type": "auth", "token": token})).await;
    c.recv_until(Duration::from_secs(5), |v| v["type"] == "connection").await.expect("authenticated");
    c.send(serde_json::json!({"type": "get_orders"})).await;
    let r = c.recv_until(Duration::from_secs(30), |v| v["type"] == "orders_response").await.expect("orders");
    assert_eq!(r["data"].as_array().unwrap().len(), ORDERS);

    // the reconnect sends the whole snapshot again, in parts, and the link stays up
    let connects = uplink.stats().connects.load(std::sync::atomic::Ordering::Relaxed);
    uplink.cut();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(uplink.is_connected(), "the uplink is up after the cut");
    let after = uplink.stats().connects.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(after, connects + 1, "exactly one reconnect, not a loop");
    assert_eq!(relay_orders(), ORDERS);
    assert!(relay.tenants.get_or_create("desk1").with(|h| h.source_connected()));

    // a runaway TWS message is cut at the source, so the uplink carries it
    sim.apply(|_| {
        vec![ibws_tws_io::sim::engine::SimEvent {
            audience: ibws_tws_io::sim::engine::Audience::All,
            msg: ibws_tws::Incoming::Error(ibws_tws::types::TwsError {
                req_id: -1,
                code: 321,
                message: "x".repeat(10 << 20),
                ..Default::default()
            }),
        }]
    });
    let before = relay_head();
    let deadline = Instant::now() + Duration::from_secs(30);
    while relay_head() <= before || relay_head() != bridge_head() {
        assert!(Instant::now() < deadline, "the error event reached the relay");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(uplink.stats().connects.load(std::sync::atomic::Ordering::Relaxed), after, "no reconnect");
}

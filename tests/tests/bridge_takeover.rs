//! One bridge per tenant: while the tenant's bridge answers its liveness ping, a second
//! connection with a valid bridge token is refused (4503) and counted; once the bridge
//! stops answering (a half-open socket), a newcomer takes over within the liveness
//! timeout, and that is counted too. Both show on the relay's metrics listener.

use std::time::{Duration, Instant};

use ibws_shared::auth::Role;
use ibws_shared::protocol::CloseCode;
use ibws_tests::{Client, Next, TestKeys};
use serde_json::json;

async fn metric(addr: std::net::SocketAddr, name: &str) -> u64 {
    ibws_tests::chaos::metric(addr.port(), name).await.expect(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_bridge_keeps_its_tenant_and_a_dead_one_is_taken_over() {
    let keys = TestKeys::ed25519();
    let (relay, ca) = ibws_tests::test_relay(&keys).await;
    let metrics = relay.metrics_addr.unwrap();
    let url = format!("wss://localhost:{}/bridge/ws", relay.addr.port());
    let hello = |epoch: &str| json!({"type": "hello", "token": keys.token("bridge", Role::Bridge, "desk1", &[]), "epoch": epoch, "seq": 0, "version": "t"});

    // bridge A connects and keeps reading (so it answers pings)
    let mut a = Client::connect_tls(&url, &ca, &[]).await.unwrap();
    a.send(hello("a")).await;
    assert_eq!(a.recv(Duration::from_secs(5)).await.unwrap()["type"], "welcome");
    let (stall_tx, mut stall) = tokio::sync::watch::channel(false);
    let reader = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stall.changed() => {
                    // stop reading, keep the socket: pings go unanswered
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    return a;
                }
                n = a.next_frame(Duration::from_millis(100)) => if let Next::Closed(_) = n { return a },
            }
        }
    });

    // bridge B, while A is alive: refused
    let mut b = Client::connect_tls(&url, &ca, &[]).await.unwrap();
    b.send(hello("b")).await;
    assert_eq!(b.close_code(Duration::from_secs(8)).await, Some(CloseCode::ConnectionLimit.code()));
    assert_eq!(metric(metrics, "ibws_bridges_refused_total").await, 1);
    assert_eq!(metric(metrics, "ibws_bridge_takeovers_total").await, 0);

    // A stops answering; bridge C takes over within the liveness timeout
    stall_tx.send_replace(true);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t0 = Instant::now();
    let mut c = Client::connect_tls(&url, &ca, &[]).await.unwrap();
    c.send(hello("c")).await;
    let w = c.recv(Duration::from_secs(10)).await.expect("welcome for the newcomer");
    assert_eq!(w["type"], "welcome");
    let waited = t0.elapsed();
    assert!(waited >= Duration::from_secs(2), "the newcomer waited for the liveness check ({waited:?})");
    assert_eq!(metric(metrics, "ibws_bridge_takeovers_total").await, 1);
    // C's stream is the tenant's now
    let ev = json!({"type": "error", "message": "m", "error_code": "X", "timestamp": "2025-01-01T00:00:00.000000", "seq": 1, "epoch": "c"});
    c.send(json!({"type": "snapshot", "epoch": "c", "seq": 0, "orders": [], "accounts": [], "source_connected": true}))
        .await;
    c.send(json!({"type": "publish", "event": ev})).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while relay.tenants.get_or_create("desk1").with(|h| h.position().0.to_owned()) != "c" {
        assert!(Instant::now() < deadline, "the newcomer's events land");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    reader.abort();
}

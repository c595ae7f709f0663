//! simulator -> bridge -> TLS uplink -> native relay -> 100 TLS clients, while the
//! uplink is cut mid-stream and the relay is killed and restarted. Every client must
//! end with every event exactly once and in order, or with `recovered: false`
//! followed by a snapshot; and at the end every client's snapshot equals the
//! simulator's truth.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ibws_bridge::app::{Bridge, BridgeConfig};
use ibws_bridge::relay::{Relay, RelayConfig};
use ibws_bridge::server::LimitConfig;
use ibws_shared::auth::Role;
use ibws_shared::hub::HubConfig;
use ibws_tests::{test_uplink, Client, Next, TestKeys};
use ibws_tws_io::sim::{SimConfig, Simulator};
use serde_json::{json, Value};

const CLIENTS: usize = 100;

type Table = BTreeMap<i64, (String, f64, f64)>;

fn table(orders: &Value) -> Table {
    orders
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let perm = o["perm_id"].as_i64().unwrap();
            (
                perm,
                (
                    o["status"].as_str().unwrap().to_owned(),
                    o["filled"].as_f64().unwrap(),
                    o["remaining"].as_f64().unwrap(),
                ),
            )
        })
        .collect()
}

fn truth(sim: &Simulator) -> Table {
    sim.orders()
        .into_iter()
        .map(|o| (o.order.perm_id, (o.status.status.clone(), o.status.filled, o.status.remaining)))
        .collect()
}

#[derive(Default, Debug)]
struct Report {
    events: u64,
    resumes_ok: u64,
    resumes_refused: u64,
    reconnects: u64,
    /// Sessions the client ended itself (its own network blinking): exactly one.
    blinks: u64,
    /// Sessions the relay ended (or that broke under the client).
    server_drops: u64,
    /// Connection attempts that failed (nothing listening: the relay was down).
    failed_connects: u64,
    /// The answer to the resume after the blink: recovered or not, and whether it came
    /// from another relay instance than the connection the client blinked on (which
    /// excuses a refusal: the restarted relay holds no replay).
    blink_resume: Option<(bool, bool)>,
    /// Where the client stood when it blinked, and the answer it got (for a failure's
    /// message).
    blink_detail: String,
    last: (String, u64),
    final_table: Table,
}

/// One client: connects, authenticates, subscribes (resuming when it has a position),
/// checks every event is the next one, and reconnects whenever the socket drops.
async fn client(
    url: String,
    ca: String,
    token: String,
    stop: Arc<AtomicBool>,
    head: Arc<AtomicU64>,
    drop_after: u64,
    relay_gen: Arc<AtomicU64>,
) -> Report {
    let mut r = Report::default();
    // the relay instance the client blinked on, until its resume is answered
    let mut blink_gen: Option<u64> = None;
    let mut dropped_once = false;
    let mut pos: Option<(String, u64)> = None;
    let all = ["order_update", "order_notification", "mcp_order", "account_update", "market_data", "error"];
    loop {
        let connected = Client::connect_tls(&url, &ca, &[]).await;
        // which relay instance this connection reached (see `relay_gen`)
        let conn_gen = relay_gen.load(Ordering::SeqCst);
        let Ok(mut c) = connected else {
            r.failed_connects += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let sent = c.try_send(json!({"type": "auth", "token": token})).await
            && match &pos {
                Some((e, s)) => {
                    c.try_send(json!({"type": "subscribe", "message_types": all, "epoch": e, "since": s})).await
                }
                None => {
                    c.try_send(json!({"type": "subscribe", "message_types": all})).await
                        && c.try_send(json!({"type": "get_orders"})).await
                }
            };
        if !sent {
            r.reconnects += 1;
            r.server_drops += 1;
            continue;
        }
        let mut blinked = false;
        let mut awaiting_snapshot = pos.is_none();
        loop {
            let v = match c.next_frame(Duration::from_millis(500)).await {
                Next::Frame(v) => v,
                Next::Closed(_) => break,
                Next::Silent => {
                    if stop.load(Ordering::SeqCst)
                        && pos.as_ref().is_some_and(|p| p.1 == head.load(Ordering::SeqCst))
                        && !awaiting_snapshot
                    {
                        if !c.try_send(json!({"type": "get_orders"})).await {
                            break;
                        }
                        let o = c
                            .recv_until(Duration::from_secs(5), |v| v["type"] == "orders_response")
                            .await
                            .expect("final snapshot");
                        assert_eq!(o["seq"].as_u64(), pos.as_ref().map(|p| p.1), "final snapshot at the head");
                        r.final_table = table(&o["data"]);
                        r.last = pos.unwrap();
                        return r;
                    }
                    // Silence alone does not mean a dead socket; probe it.
                    if !c.try_send(json!({"type": "ping"})).await {
                        break;
                    }
                    continue;
                }
            };
            match v["type"].as_str().unwrap_or("") {
                "orders_response" => {
                    pos = Some((v["epoch"].as_str().unwrap().to_owned(), v["seq"].as_u64().unwrap()));
                    awaiting_snapshot = false;
                }
                "resume" => {
                    if let Some(g) = blink_gen.take() {
                        let restarted = conn_gen != g;
                        r.blink_resume = Some((v["recovered"] == true, restarted));
                        r.blink_detail = format!("blinked at {pos:?}, answered {v}");
                    }
                    if v["recovered"] == true {
                        let here = pos.as_ref().expect("resumed from a position");
                        assert_eq!(
                            (here.0.as_str(), here.1),
                            (v["epoch"].as_str().unwrap(), v["seq"].as_u64().unwrap()),
                            "recovered means at the head"
                        );
                        r.resumes_ok += 1;
                    } else {
                        r.resumes_refused += 1;
                        awaiting_snapshot = true;
                        if !c.try_send(json!({"type": "get_orders"})).await {
                            break;
                        }
                    }
                }
                "connection" => {}
                _ if v["seq"].is_u64() && !awaiting_snapshot => {
                    let (e, s) = (v["epoch"].as_str().unwrap(), v["seq"].as_u64().unwrap());
                    let here = pos.as_mut().expect("position known");
                    assert_eq!(e, here.0, "event from another epoch without a resume frame");
                    assert_eq!(s, here.1 + 1, "every event exactly once and in order");
                    here.1 = s;
                    r.events += 1;
                    if !dropped_once && r.events == drop_after {
                        // the client's own network blinks: it must resume without loss
                        dropped_once = true;
                        blinked = true;
                        blink_gen = Some(conn_gen);
                        break;
                    }
                }
                _ => {}
            }
        }
        r.reconnects += 1;
        if blinked {
            r.blinks += 1;
        } else {
            r.server_drops += 1;
        }
        tokio::time::sleep(Duration::from_millis(50 + rand_ms())).await;
    }
}

fn rand_ms() -> u64 {
    (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() % 200) as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_survive_uplink_cuts_and_relay_restarts() {
    let keys = TestKeys::ed25519();
    let (ca, cert, key) = ibws_bridge::tls::self_signed(&["localhost"]).unwrap();
    let tls = ibws_bridge::tls::server_config(cert.as_bytes(), key.as_bytes()).unwrap();
    let relay_cfg = |listen: std::net::SocketAddr| RelayConfig {
        listen,
        tls: Some(tls.clone()),
        verifier: keys.verifier(),
        allowed_origins: vec![],
        limits: LimitConfig {
            max_per_ip: 1_000,
            handshake_burst: 1_000,
            handshakes_per_sec: 500,
            max_pending_per_ip: 1_000,
            ..LimitConfig::default()
        },
        hub: HubConfig { require_auth: true, max_clients_per_subject: 1_000, ..HubConfig::default() },
        insecure: false,
        metrics_listen: None,
        send_timeout: ibws_bridge::server::SEND_TIMEOUT,
        max_memory_bytes: ibws_bridge::relay::DEFAULT_MAX_MEMORY_BYTES,
    };
    let relay = Relay::start(relay_cfg("127.0.0.1:0".parse().unwrap())).await.unwrap();
    let relay_addr = relay.addr;
    let sim = Simulator::start(SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        flow_interval: Some(Duration::from_millis(25)),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let bridge = Bridge::start(BridgeConfig {
        tws: sim.addr().to_string(),
        listen: "127.0.0.1:0".parse().unwrap(),
        uplink: Some(test_uplink(relay_addr.port(), &keys, "desk1", &ca)),
        ..BridgeConfig::default()
    })
    .await
    .unwrap();
    let uplink = bridge.uplink.clone().unwrap();

    let url = format!("wss://localhost:{}/websocket/ws", relay_addr.port());
    let stop = Arc::new(AtomicBool::new(false));
    let head = Arc::new(AtomicU64::new(u64::MAX));
    let token = keys.token("alice", Role::Client, "desk1", &[]);
    // which relay instance a connection reached: bumped once the first relay is gone
    // and before the second listens, so a connection made at 0 reached the first and
    // one made at 1 the second. A client that blinked on the first and was answered by
    // the second is told recovered:false, rightly.
    let relay_gen = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..CLIENTS as u64)
        .map(|i| {
            let c =
                client(url.clone(), ca.clone(), token.clone(), stop.clone(), head.clone(), 20 + i, relay_gen.clone());
            tokio::spawn(c)
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(2)).await;
    uplink.cut();
    tokio::time::sleep(Duration::from_secs(2)).await;
    drop(relay); // killed: every socket drops at once
    tokio::time::sleep(Duration::from_millis(700)).await;
    relay_gen.fetch_add(1, Ordering::SeqCst);
    let relay = Relay::start(relay_cfg(relay_addr)).await.expect("relay restarts on the same port");
    tokio::time::sleep(Duration::from_secs(1)).await;
    uplink.cut();
    tokio::time::sleep(Duration::from_secs(2)).await;

    // quiesce: no more flow; wait for the relay to hold everything the bridge has
    sim.set_flow(false);
    let bridge_head = || bridge.hub.with(|h| (h.position().0.to_owned(), h.position().1));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let b = bridge_head();
        let r = relay.tenants.get_or_create("desk1").with(|h| (h.position().0.to_owned(), h.position().1));
        if b == r && uplink.backlog().0 == 0 {
            head.store(r.1, Ordering::SeqCst);
            break;
        }
        assert!(Instant::now() < deadline, "relay caught up: bridge {b:?} relay {r:?}");
    }
    stop.store(true, Ordering::SeqCst);
    let expected = truth(&sim);
    assert!(!expected.is_empty());
    let (mut events, mut ok, mut refused, mut reconnects, mut across_restart) = (0, 0, 0, 0, 0);
    for t in tasks {
        let r =
            tokio::time::timeout(Duration::from_secs(30), t).await.expect("client finished").expect("client task ok");
        assert_eq!(r.final_table, expected, "client's final snapshot equals the simulator's truth");
        assert_eq!(r.last.1, head.load(Ordering::SeqCst));
        // Every client blinked once, and every client met the relay restart: it was
        // dropped by it, or (its blink falling in the restart, so it was between
        // sessions) found nothing listening when it reconnected. Either way it came
        // back to the new relay, which the final snapshot above shows.
        assert_eq!(r.blinks, 1, "every client blinked exactly once: {r:?}");
        assert!(r.server_drops + r.failed_connects >= 1, "the relay restart reached every client: {r:?}");
        // its blink is resumed with every missed event, unless the relay restarted
        // between the blink and the answer
        match r.blink_resume {
            Some((true, _)) => {}
            Some((false, true)) => across_restart += 1,
            other => {
                panic!("a blink answered by the relay it blinked on must resume in full: {other:?}: {}", r.blink_detail)
            }
        }
        events += r.events;
        ok += r.resumes_ok;
        refused += r.resumes_refused;
        reconnects += r.reconnects;
    }
    println!("relay_chaos: clients={CLIENTS} events={events} reconnects={reconnects} resumes_recovered={ok} resumes_refused={refused} blinks_across_the_restart={across_restart} head={}", head.load(Ordering::SeqCst));
    assert!(ok + across_restart >= CLIENTS as u64, "clients that blinked resumed with every missed event");
    assert!(refused >= CLIENTS as u64, "the restarted relay could not replay, so clients resnapshotted");
}

//! One tenant cannot take the relay down. Against `ibws relay` (the binary, TLS,
//! Ed25519 tokens, set up as README says):
//!
//! - the review's reproduction: a bridge of tenant `forge` publishes an event at seq
//!   2^64 - 1 to a subscribed client. The relay refuses it (4005, counted per tenant)
//!   and applies nothing; another tenant's bridge and clients connect, authenticate
//!   and are served; `forge`'s client keeps its connection and, once its bridge is
//!   back with a snapshot, its events; the other ways to break a stream (a gap, a seq
//!   above 2^53 - 1, an epoch without a snapshot) are refused the same way; SIGTERM
//!   ends the relay within its bound.
//! - one tenant kept busy (its bridge publishing as fast as it can to many clients,
//!   half of which never read) while a second tenant's clients connect, authenticate
//!   and receive events: their latency is printed beside the same measure with no busy
//!   tenant, and must stay far from starvation; then SIGTERM, with the busy tenant still
//!   publishing, ends the relay within its bound. `IBWS_BUSY_CLIENTS` sets the busy
//!   tenant's clients (default 200; the figure is 1,000).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use ibws_shared::auth::Role;
use ibws_shared::protocol::CloseCode;
use ibws_tests::process::{built_ibws_bin, Proc};
use ibws_tests::{free_port, Client, TestKeys};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// A relay under test: its ports, CA and token keys (and its process, when it is the
/// `ibws` binary rather than a relay in this process).
struct Relay {
    proc: Option<Proc>,
    at: RelayAt,
    log: PathBuf,
}

/// Where a relay listens and what its clients need: enough to reach it from another
/// thread.
#[derive(Clone)]
struct RelayAt {
    port: u16,
    metrics: u16,
    ca: String,
    keys: TestKeys,
}

impl std::ops::Deref for Relay {
    type Target = RelayAt;
    fn deref(&self) -> &RelayAt {
        &self.at
    }
}

/// `ibws relay` on loopback with TLS and Ed25519 tokens, limits per address raised
/// for the many loopback clients of a test.
fn start_relay(name: &str) -> Relay {
    let dir = ibws_tests::repo_root().join("target").join(format!("hostile-bridge-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let keys = TestKeys::ed25519();
    std::fs::write(dir.join("jwt.pub"), &keys.public_pem).unwrap();
    let (ca, cert, key) = ibws_bridge::tls::self_signed(&["localhost"]).unwrap();
    std::fs::write(dir.join("cert.pem"), &cert).unwrap();
    std::fs::write(dir.join("key.pem"), &key).unwrap();
    let (port, metrics) = (free_port(), free_port());
    let path = |f: &str| dir.join(f).display().to_string();
    let args: Vec<String> = [
        "relay",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--tls-cert",
        &path("cert.pem"),
        "--tls-key",
        &path("key.pem"),
        "--jwt-public-key",
        &path("jwt.pub"),
        "--metrics-listen",
        &format!("127.0.0.1:{metrics}"),
        "--max-per-ip",
        "5000",
        "--max-pending-per-ip",
        "5000",
        "--handshake-burst",
        "5000",
        "--handshakes-per-sec",
        "5000",
        "--max-per-subject",
        "5000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let log = dir.join("relay.log");
    let mut proc = Proc::spawn(&built_ibws_bin(), &args, &log);
    proc.wait_listening(port, &log);
    Relay { proc: Some(proc), at: RelayAt { port, metrics, ca, keys }, log }
}

fn unix_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as u64
}

/// An order_update at `(epoch, seq)`; its order_ref carries the send time (µs).
fn publish(epoch: &str, seq: u64) -> Value {
    let event = json!({"type": "order_update", "data": {"order_id": seq % 50 + 1, "symbol": "AAPL", "action": "BUY",
        "quantity": 100, "order_type": "LMT", "status": "Submitted", "price": 187.25, "perm_id": 1000 + seq % 50,
        "account": "DU1", "order_ref": unix_us().to_string()},
        "timestamp": "2026-12-06T10:00:00.000000", "seq": seq, "epoch": epoch});
    json!({"type": "publish", "event": event})
}

fn snapshot(epoch: &str, seq: u64) -> Value {
    json!({"type": "snapshot", "epoch": epoch, "seq": seq, "orders": [], "accounts": [], "source_connected": true})
}

impl RelayAt {
    /// A bridge of `tenant`, welcomed, its stream begun with a snapshot at `seq`.
    async fn bridge(&self, tenant: &str, epoch: &str, seq: u64) -> Client {
        let url = format!("wss://localhost:{}/bridge/ws", self.port);
        let mut b = Client::connect_tls(&url, &self.ca, &[]).await.expect("bridge connects");
        let token = self.keys.token(&format!("{tenant}-bridge"), Role::Bridge, tenant, &[]);
        b.send(json!({"type": "hello", "token": token, "epoch": epoch, "seq": seq, "version": "t"})).await;
        let w = b.recv(Duration::from_secs(10)).await.expect("welcome");
        assert_eq!(w["type"], "welcome", "{w}");
        b.send(snapshot(epoch, seq)).await;
        b
    }

    /// A client of `tenant`, authenticated and subscribed to `order_update`.
    async fn client(&self, tenant: &str, sub: &str) -> Client {
        let url = format!("wss://localhost:{}/websocket/ws", self.port);
        let mut c = Client::connect_tls(&url, &self.ca, &[]).await.expect("client connects");
        c.send(json!({"type": "auth", "token": self.keys.token(sub, Role::Client, tenant, &[])})).await;
        c.send(json!({"type": "subscribe", "message_types": ["order_update"]})).await;
        c.recv_until(Duration::from_secs(10), |v| v["type"] == "subscription").await.expect("subscribed");
        c
    }

    async fn metric(&self, name: &str) -> Option<u64> {
        ibws_tests::chaos::metric(self.metrics, name).await
    }
}

async fn next_event(c: &mut Client, within: Duration) -> Option<Value> {
    c.recv_until(within, |v| v["type"] == "order_update").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_forged_frame_from_one_tenant_stops_nothing() {
    let mut relay = start_relay("forged");
    let mut forge = relay.bridge("forge", "f1", 0).await;
    let mut forge_client = relay.client("forge", "alice").await;
    forge.send(publish("f1", 1)).await;
    assert_eq!(next_event(&mut forge_client, Duration::from_secs(5)).await.expect("event 1")["seq"], 1);

    // the review's frame; then the other ways to break a stream, each from a
    // reconnected bridge of the same tenant
    let forged: [(&str, Value); 4] = [
        ("seq 2^64 - 1", publish("f1", u64::MAX)),
        ("seq 2^53", publish("f1", 1 << 53)),
        ("a gap", publish("f1", 5)),
        ("an epoch without a snapshot", publish("f2", 2)),
    ];
    for (i, (what, frame)) in forged.into_iter().enumerate() {
        if i > 0 {
            forge = relay.bridge("forge", "f1", 1).await;
        }
        forge.send(frame).await;
        assert_eq!(
            forge.close_code(Duration::from_secs(5)).await,
            Some(CloseCode::StreamRefused.code()),
            "{what}: the bridge is refused with 4005"
        );
    }
    let refused = relay.metric("ibws_stream_violations_total{tenant=\"forge\"}").await;
    assert_eq!(refused, Some(4), "counted for the tenant");

    // every other tenant is served as before: handshake, auth, events
    let t0 = Instant::now();
    let mut other = relay.bridge("other", "o1", 0).await;
    let mut other_client = relay.client("other", "bob").await;
    other.send(publish("o1", 1)).await;
    let v = next_event(&mut other_client, Duration::from_secs(5)).await.expect("another tenant's event");
    assert_eq!(v["seq"], 1);
    println!("another tenant after the forged frames: bridge, client and first event in {:?}", t0.elapsed());

    // forge's client kept its connection; nothing forged reached it, and its bridge's
    // next session (a snapshot at its head) goes on from there
    let mut forge = relay.bridge("forge", "f1", 1).await;
    forge.send(publish("f1", 2)).await;
    let v = next_event(&mut forge_client, Duration::from_secs(5)).await.expect("forge's next event");
    assert_eq!((v["seq"].as_u64(), v["epoch"].as_str()), (Some(2), Some("f1")), "no forged event was applied");

    // and SIGTERM ends the relay within its bound (5 s for the clients' closing
    // handshakes, plus the process's own exit)
    let took = relay.proc.as_mut().expect("a process").terminate(Duration::from_secs(8));
    assert!(took.is_some(), "the relay exits after SIGTERM (log: {})", relay.log.display());
    println!("SIGTERM to exit: {:?}", took.unwrap());
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The quiet tenant's measure: `joiners` clients connect, authenticate and subscribe
/// (each timed), then its bridge publishes `events` events 20 ms apart, each timed
/// from its send to its arrival at every client.
async fn quiet_tenant_round(relay: &RelayAt, epoch: &str, joiners: usize, events: u64) -> (Vec<f64>, Vec<f64>) {
    let mut bridge = relay.bridge("quiet", epoch, 0).await;
    let mut joins = Vec::new();
    let mut clients = Vec::new();
    for i in 0..joiners {
        let t0 = Instant::now();
        clients.push(relay.client("quiet", &format!("q{i}")).await);
        joins.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    let readers: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            tokio::spawn(async move {
                let mut lat = Vec::new();
                while (lat.len() as u64) < events {
                    let Some(v) = next_event(&mut c, Duration::from_secs(20)).await else { break };
                    let sent: u64 = v["data"]["order_ref"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
                    lat.push(unix_us().saturating_sub(sent) as f64 / 1e3);
                }
                lat
            })
        })
        .collect();
    for seq in 1..=events {
        bridge.send(publish(epoch, seq)).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut lat = Vec::new();
    for r in readers {
        let l = r.await.unwrap();
        assert_eq!(l.len() as u64, events, "every quiet client got every event");
        lat.extend(l);
    }
    lat.sort_by(f64::total_cmp);
    joins.sort_by(f64::total_cmp);
    (joins, lat)
}

/// [`quiet_tenant_round`] on a thread and runtime of its own, so that what it measures
/// is the relay, not this process's runtime busy with the load it generates.
fn quiet_tenant(relay: &RelayAt, epoch: &'static str) -> std::thread::JoinHandle<(Vec<f64>, Vec<f64>)> {
    let relay = relay.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(quiet_tenant_round(&relay, epoch, 10, 50))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_tenant_does_not_starve_another() {
    let busy_clients: usize = std::env::var("IBWS_BUSY_CLIENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let mut relay = start_relay("busy");
    let (joins0, lat0) = quiet_tenant(&relay, "q0").join().unwrap();

    // the busy tenant: clients subscribed to everything it publishes, half reading,
    // half never reading; its bridge publishes as fast as the relay takes frames
    let mut readers = Vec::new();
    let mut stalled = Vec::new();
    for i in 0..busy_clients {
        let c = relay.client("busy", &format!("b{i}")).await;
        if i % 2 == 0 {
            readers.push(c);
        } else {
            stalled.push(c);
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let delivered = Arc::new(AtomicU64::new(0));
    let reader_tasks: Vec<_> = readers
        .into_iter()
        .map(|c| {
            let (stop, delivered) = (stop.clone(), delivered.clone());
            tokio::spawn(async move {
                // frames are counted, not parsed (this process shares the two cores
                // with the relay); a reader too slow for the flood is dropped by the
                // relay (its send deadline), which is the relay doing its job: the
                // task then ends
                let mut ws = c.into_inner();
                while !stop.load(Ordering::Relaxed) {
                    match tokio::time::timeout(Duration::from_millis(200), ws.next()).await {
                        Ok(Some(Ok(Message::Text(_)))) => {
                            delivered.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(Some(Ok(_))) | Err(_) => {}
                        Ok(Some(Err(_)) | None) => return,
                    }
                }
            })
        })
        .collect();
    let bridge = relay.bridge("busy", "b1", 0).await;
    let publisher = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut ws = bridge.into_inner();
            let mut seq = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..64 {
                    seq += 1;
                    if ws.feed(Message::Text(publish("b1", seq).to_string().into())).await.is_err() {
                        return seq;
                    }
                }
                if ws.flush().await.is_err() {
                    return seq;
                }
            }
            seq
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let quiet = quiet_tenant(&relay, "q1");
    let (joins1, lat1) = tokio::task::spawn_blocking(move || quiet.join().unwrap()).await.unwrap();
    // SIGTERM while the busy tenant is still at it: the relay exits within its bound
    let proc = relay.proc.as_mut().expect("a process");
    let took = tokio::task::block_in_place(|| proc.terminate(Duration::from_secs(8)));
    assert!(took.is_some(), "the relay exits after SIGTERM under load (log: {})", relay.log.display());
    stop.store(true, Ordering::Relaxed);
    let published = publisher.await.unwrap();
    for t in reader_tasks {
        t.await.unwrap();
    }
    drop(stalled);
    let show = |name: &str, v: &[f64]| {
        format!(
            "{name} p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            percentile(v, 0.5),
            percentile(v, 0.99),
            v.last().copied().unwrap_or(f64::NAN)
        )
    };
    println!("quiet tenant alone: {}; {}", show("join", &joins0), show("event", &lat0));
    println!("SIGTERM to exit while the busy tenant published: {:?}", took.unwrap());
    println!(
        "quiet tenant beside a busy one ({busy_clients} clients, {published} events published, {} delivered): {}; {}",
        delivered.load(Ordering::Relaxed),
        show("join", &joins1),
        show("event", &lat1)
    );
    assert!(delivered.load(Ordering::Relaxed) > 0, "the busy tenant was busy");
    // starvation would be seconds or never; these bounds are far from both the quiet
    // figures and that
    assert!(percentile(&joins1, 0.99) < 5_000.0, "the quiet tenant's clients connect and authenticate");
    assert!(percentile(&lat1, 0.99) < 2_000.0, "the quiet tenant's events arrive");
}

/// The relay's memory budget covers every tenant together: a tenant whose bridge
/// sends large events past it gives up its oldest replay events (its client resuming
/// from the start is told `recovered: false`, and /metrics names the tenant), while a
/// small tenant's stream is untouched (its client resumes from seq 0 in full).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_budget_spans_tenants_and_the_largest_gives_up_first() {
    const BUDGET: usize = 16 << 20;
    let keys = TestKeys::ed25519();
    let (ca, cert, key) = ibws_bridge::tls::self_signed(&["localhost"]).unwrap();
    let relay = ibws_bridge::relay::Relay::start(ibws_bridge::relay::RelayConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Some(ibws_bridge::tls::server_config(cert.as_bytes(), key.as_bytes()).unwrap()),
        verifier: keys.verifier(),
        allowed_origins: vec![],
        limits: ibws_bridge::server::LimitConfig::default(),
        hub: ibws_shared::hub::HubConfig { require_auth: true, ..ibws_shared::hub::HubConfig::default() },
        insecure: false,
        metrics_listen: Some("127.0.0.1:0".parse().unwrap()),
        send_timeout: ibws_bridge::server::SEND_TIMEOUT,
        max_memory_bytes: BUDGET,
    })
    .await
    .unwrap();
    let r = RelayAt { port: relay.addr.port(), metrics: relay.metrics_addr.unwrap().port(), ca, keys };
    // a small tenant: 20 events
    let mut small = r.bridge("small", "s1", 0).await;
    for seq in 1..=20 {
        small.send(publish("s1", seq)).await;
    }
    // a large one: 400 events of ~60 KB (24 MB of text, past the 16 MB budget)
    let mut large = r.bridge("large", "l1", 0).await;
    let pad = "x".repeat(60_000);
    for seq in 1..=400u64 {
        let mut f = publish("l1", seq);
        f["event"]["data"]["order_ref"] = pad.clone().into();
        large.send(f).await;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while relay.tenants.get_or_create("large").with(|h| h.position().1) < 400 {
        assert!(Instant::now() < deadline, "the large tenant's events land");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let held = relay.tenants.held_bytes();
    println!("held by both tenants: {:.1} MB of a {} MB budget", held as f64 / 1e6, BUDGET >> 20);
    assert!(held <= BUDGET, "within the budget: {held}");
    let evicted = r.metric("ibws_memory_evicted_events_total{tenant=\"large\"}").await.unwrap_or(0);
    assert!(evicted > 0, "the large tenant gave up events, and /metrics says so");
    assert_eq!(r.metric("ibws_memory_evicted_events_total{tenant=\"small\"}").await, None, "not the small one");

    let resume = |tenant: &'static str, epoch: &'static str| {
        let r = &r;
        async move {
            let mut c = r.client(tenant, "reader").await;
            c.send(json!({"type": "resume", "epoch": epoch, "since": 0})).await;
            c.recv_until(Duration::from_secs(10), |v| v["type"] == "resume").await.expect("resume answer")
        }
    };
    assert_eq!(resume("large", "l1").await["recovered"], false, "the large tenant's start is gone: said so");
    let v = resume("small", "s1").await;
    assert_eq!((v["recovered"].as_bool(), v["replayed"].as_u64()), (Some(true), Some(20)), "the small tenant is whole");
}

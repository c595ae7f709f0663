//! Latency from a TWS frame to the notification reaching WebSocket clients, at 100
//! clients (and at 1, for comparison), through the real stack: simulator socket ->
//! bridge driver -> notifier -> hub -> WebSocket -> client.
//!
//! t0 is taken just before the simulator emits the frame; t1 when a client has read
//! the notification. So each sample includes the simulator's own hop, both loopback
//! TCP hops and the client's read: an upper bound on "arrival at the bridge to leaving
//! its socket". Run: `cargo bench -p ibws-tests --bench bridge_latency`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use ibws_bridge::app::{Bridge, BridgeConfig};
use ibws_bridge::sim::{SimConfig, Simulator};
use ibws_bridge::tws::outgoing::OrderTicket;
use tokio_tungstenite::tungstenite::Message;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        for clients in [1usize, 100] {
            run(clients, 400).await;
        }
    });
}

async fn run(clients: usize, rounds: usize) {
    let sim =
        Simulator::start(SimConfig { listen: "127.0.0.1:0".parse().unwrap(), ..SimConfig::default() }).await.unwrap();
    let bridge = Bridge::start(BridgeConfig {
        tws: sim.addr().to_string(),
        listen: "127.0.0.1:0".parse().unwrap(),
        ..BridgeConfig::default()
    })
    .await
    .unwrap();
    while !bridge.status.tws_connected.load(std::sync::atomic::Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let perm = sim.place(0, "AAPL", OrderTicket::limit("BUY", 100.0, 100.0));
    tokio::time::sleep(Duration::from_millis(200)).await;

    let url = format!("ws://{}/websocket/ws", bridge.addr);
    let samples: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    let ready = Arc::new(tokio::sync::Barrier::new(clients + 1));
    for _ in 0..clients {
        let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        let samples = samples.clone();
        let ready = ready.clone();
        tasks.push(tokio::spawn(async move {
            ws.send(Message::Text(r#"{"type":"subscribe","message_types":["order_notification"]}"#.into()))
                .await
                .unwrap();
            loop {
                match ws.next().await {
                    Some(Ok(Message::Text(t))) if t.contains("\"subscription\"") => break,
                    Some(Ok(_)) => {}
                    other => panic!("connection ended before subscribing: {other:?}"),
                }
            }
            ready.wait().await;
            let mut got = 0;
            while got < rounds {
                match ws.next().await {
                    Some(Ok(Message::Text(t))) => {
                        let now = Instant::now();
                        // cheap extraction, so client work does not dominate the tail
                        let s = t.as_str();
                        if s.contains("\"event\":\"modified\"") {
                            let p = &s[s.find("\"price\":").unwrap() + 8..];
                            let price: f64 = p[..p.find([',', '}']).unwrap()].parse().unwrap();
                            samples.lock().unwrap().push(((price * 100.0).round() as u64, now));
                            got += 1;
                        }
                    }
                    Some(Ok(_)) => {}
                    _ => break,
                }
            }
        }));
    }
    ready.wait().await;
    let mut sent = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let price = 100.0 + (i + 1) as f64 / 100.0;
        let t0 = Instant::now();
        sim.modify(perm, Some(price), None);
        sent.push(((price * 100.0).round() as u64, t0));
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
    let sent: std::collections::HashMap<u64, Instant> = sent.into_iter().collect();
    let mut lat: Vec<f64> = samples
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(k, t1)| sent.get(k).map(|t0| t1.duration_since(*t0).as_secs_f64() * 1e6))
        .collect();
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "bridge_latency: clients={clients} samples={} p50_us={:.0} p90_us={:.0} p99_us={:.0} max_us={:.0}",
        lat.len(),
        pct(0.50),
        pct(0.90),
        pct(0.99),
        lat[lat.len() - 1]
    );
}

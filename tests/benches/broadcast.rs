//! Broadcast throughput over real WebSocket connections: ibws's local endpoint versus
//! Node's `ws` 8.23 (the peer reference.md measured), in the same run, on the same
//! machine, with the same 1,000 Rust clients and the same ~300-byte frame. Run:
//! `cargo bench -p ibws-tests --bench broadcast` (needs `npm ci` in tests/browser).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use ibws_bridge::app::{Bridge, BridgeConfig};
use ibws_shared::hub::StampedEvent;
use ibws_shared::protocol::{Num, OrderData, OrderUpdate, ServerFrame};
use tokio::io::AsyncBufReadExt;
use tokio_tungstenite::tungstenite::Message;

const CLIENTS: usize = 1_000;
const MESSAGES: usize = 500;

fn frame(epoch: &str, seq: u64) -> ServerFrame {
    let mut f = ServerFrame::OrderUpdate(OrderUpdate {
        data: OrderData {
            order_id: 12345,
            symbol: "AAPL".into(),
            action: "BUY".into(),
            quantity: Num(100.0),
            order_type: "LMT".into(),
            status: "Submitted".into(),
            filled: Some(Num(40.0)),
            remaining: Some(Num(60.0)),
            avg_fill_price: Some(Num(150.2)),
            price: Some(Num(150.25)),
            perm_id: Some(1_000_000_001),
            account: Some("DU1234567".into()),
            client_id: Some(0),
            ..Default::default()
        },
        timestamp: "2026-11-22T10:30:45.123456".into(),
        seq: None,
        epoch: None,
    });
    f.set_position(epoch, seq);
    f
}

/// Connects `n` clients; each counts `expect` frames after its greeting.
async fn clients(url: &str, n: usize, expect: usize, subscribe: bool) -> Vec<tokio::task::JoinHandle<()>> {
    let ready = Arc::new(tokio::sync::Barrier::new(n + 1));
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("connect");
        let ready = ready.clone();
        tasks.push(tokio::spawn(async move {
            if subscribe {
                ws.send(Message::Text(r#"{"type":"subscribe","message_types":["order_update"]}"#.into()))
                    .await
                    .unwrap();
                loop {
                    match ws.next().await {
                        Some(Ok(Message::Text(t))) if t.contains("\"subscription\"") => break,
                        Some(Ok(_)) => {}
                        other => panic!("ended before subscribing: {other:?}"),
                    }
                }
            }
            ready.wait().await;
            let mut got = 0;
            while got < expect {
                match ws.next().await {
                    Some(Ok(Message::Text(_))) => got += 1,
                    Some(Ok(_)) => {}
                    other => panic!("ended after {got} frames: {other:?}"),
                }
            }
        }));
    }
    ready.wait().await;
    tasks
}

async fn finish(name: &str, t0: Instant, tasks: Vec<tokio::task::JoinHandle<()>>) -> f64 {
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(120), t).await.expect("clients finish").expect("client ok");
    }
    let el = t0.elapsed();
    let rate = (CLIENTS * MESSAGES) as f64 / el.as_secs_f64();
    println!(
        "broadcast: server={name} clients={CLIENTS} messages={MESSAGES} seconds={:.2} deliveries_per_sec={rate:.0}",
        el.as_secs_f64()
    );
    rate
}

async fn ibws() -> f64 {
    // no TWS behind it: the bench publishes straight into the hub
    let bridge = Bridge::start(BridgeConfig {
        tws: "127.0.0.1:9".into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        ..BridgeConfig::default()
    })
    .await
    .unwrap();
    let url = format!("ws://{}/websocket/ws", bridge.addr);
    let tasks = clients(&url, CLIENTS, MESSAGES, true).await;
    let epoch = bridge.hub.with(|h| h.position().0.to_owned());
    let base = bridge.hub.with(|h| h.position().1);
    let t0 = Instant::now();
    for i in 1..=MESSAGES as u64 {
        let ev = StampedEvent::new(frame(&epoch, base + i)).unwrap();
        bridge.hub.with(|h| h.publish(ev, ibws_bridge::clock::now()));
        if i % 50 == 0 {
            tokio::task::yield_now().await;
        }
    }
    finish("ibws", t0, tasks).await
}

async fn node_ws() -> Option<f64> {
    let script = ibws_tests::repo_root().join("tests/browser/ws-broadcast.mjs");
    let mut child = tokio::process::Command::new("node")
        .arg(&script)
        .arg("0")
        .current_dir(ibws_tests::browser_dir())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .ok()?;
    let mut lines = tokio::io::BufReader::new(child.stdout.take()?).lines();
    let port = lines.next_line().await.ok()??.strip_prefix("ready ")?.to_owned();
    let url = format!("ws://127.0.0.1:{port}/");
    let tasks = clients(&url, CLIENTS, MESSAGES, false).await;
    let (mut ctl, _) = tokio_tungstenite::connect_async(&url).await.ok()?;
    let payload = frame("e", 0).to_json();
    let t0 = Instant::now();
    ctl.send(Message::Text(serde_json::json!({"go": MESSAGES, "payload": payload}).to_string().into())).await.ok()?;
    let rate = finish("node-ws-8.23", t0, tasks).await;
    let _ = child.kill().await;
    Some(rate)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let ours = ibws().await;
        match node_ws().await {
            Some(node) => println!("broadcast: ratio ibws/node-ws = {:.2}", ours / node),
            None => println!("broadcast: node-ws peer not run (node or tests/browser/node_modules missing)"),
        }
    });
}

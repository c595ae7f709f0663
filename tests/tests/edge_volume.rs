//! The edge relay under workerd at a real account's volume: 5,000 events of about
//! 2 KB each (10 MB of stream, more than any single storage value may hold) from a
//! bridge, each acknowledged only once stored; then workerd is killed (kill -9, every
//! Durable Object with it) and started again on the same storage, and a client that
//! resumes from early in the stream gets every event after it, in order, with
//! `recovered: true`. Also: a client that never sends a frame after `auth` is still
//! served 65 s later (no idle reaping at the edge), and the relay acks at a rate that
//! does not fall as the ring fills.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use ibws_shared::auth::Role;
use ibws_tests::{free_port, Client, TestKeys, Workerd};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "edge-volume-secret-0123456789abcdef0123";
const EVENTS: u64 = 5_000;

fn token(role: Role) -> String {
    TestKeys::hs256(SECRET).token_with(|c| {
        c.role = role;
        c.tenant = "desk1".into();
    })
}

/// An `order_update` of about 2 KB (a long order_ref, as free text can be).
fn publish(seq: u64) -> String {
    let id = seq % 700 + 1;
    format!(
        r#"{{"type":"publish","event":{{"type":"order_update","data":{{"order_id":{id},"symbol":"AAPL","action":"BUY","quantity":100,"order_type":"LMT","status":"Submitted","filled":0,"remaining":100,"avg_fill_price":0,"price":187.25,"perm_id":{perm},"account":"DU1234567","client_id":0,"order_ref":"{pad}"}},"timestamp":"2026-12-01 10:00:00.000","seq":{seq},"epoch":"E1"}}}}"#,
        perm = 1_000_000 + id,
        pad = "r".repeat(1_700)
    )
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A bridge session after `hello` (and a snapshot when the relay holds another
/// epoch), and the seq its `welcome` said the relay holds.
async fn bridge(port: u16) -> (Ws, u64) {
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/bridge/ws?tenant=desk1")).await.unwrap();
    let hello = json!({"type": "hello", "token": token(Role::Bridge), "epoch": "E1", "seq": 0, "version": "test"});
    ws.send(Message::Text(hello.to_string().into())).await.unwrap();
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if v["type"] == "welcome" {
                    // a stream the relay does not hold yet begins with a snapshot
                    if v["epoch"] != "E1" {
                        let snap = json!({"type": "snapshot", "epoch": "E1", "seq": 0, "orders": [], "accounts": [], "source_connected": true});
                        ws.send(Message::Text(snap.to_string().into())).await.unwrap();
                    }
                    return (ws, v["seq"].as_u64().unwrap());
                }
            }
            Some(Ok(_)) => {}
            other => panic!("no welcome: {other:?}"),
        }
    }
}

/// Reads acks until `seq` is acknowledged; returns the time each thousand took.
async fn acked_through<S>(ws: &mut S, seq: u64, start: Instant) -> Vec<f64>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let mut marks = Vec::new();
    let mut next_mark = 1_000;
    loop {
        let m = tokio::time::timeout(Duration::from_secs(60), ws.next()).await.expect("acks keep coming");
        let Some(Ok(Message::Text(t))) = m else { panic!("bridge socket ended: {m:?}") };
        let v: Value = serde_json::from_str(t.as_str()).unwrap();
        if v["type"] == "ack" {
            let s = v["seq"].as_u64().unwrap();
            while s >= next_mark && next_mark <= seq {
                marks.push(start.elapsed().as_secs_f64());
                next_mark += 1_000;
            }
            if s >= seq {
                return marks;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_kill_9_and_resume_completely() {
    let storage = std::env::temp_dir().join(format!("ibws-edge-volume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&storage);
    std::fs::create_dir_all(&storage).unwrap();
    let port = free_port();
    let workerd = Workerd::start(port, &storage, SECRET, "");
    let edge = format!("ws://127.0.0.1:{port}/websocket/ws?tenant=desk1");

    // a seed-style client: authenticates, subscribes, then never sends another frame
    let mut silent = Client::connect(&edge).await;
    silent.send(json!({"type": "auth", "token": token(Role::Client)})).await;
    silent.send(json!({"type": "subscribe", "message_types": ["order_update"]})).await;
    silent.recv_until(Duration::from_secs(5), |v| v["type"] == "subscription").await.expect("subscribed");

    let (b, _) = bridge(port).await;
    let start = Instant::now();
    let (mut tx, mut rx) = b.split();
    let sender = tokio::spawn(async move {
        for s in 1..=EVENTS {
            tx.feed(Message::Text(publish(s).into())).await.unwrap();
            if s % 50 == 0 {
                tx.flush().await.unwrap();
            }
        }
        tx.flush().await.unwrap();
        tx
    });
    let marks = acked_through(&mut rx, EVENTS, start).await;
    let tx = sender.await.unwrap();
    let total = start.elapsed().as_secs_f64();
    let per_thousand: Vec<String> =
        marks.windows(2).map(|w| format!("{:.0}", 1_000.0 / (w[1] - w[0]).max(1e-6))).collect();
    println!(
        "edge_volume: {EVENTS} events of ~2 KB acked in {total:.2} s ({:.0}/s); acks/s per thousand after the first: {}",
        EVENTS as f64 / total,
        per_thousand.join(", ")
    );
    // the silent client got every event, in order
    let mut last = 0;
    while last < EVENTS {
        let v = silent.recv(Duration::from_secs(20)).await.expect("the silent client is served");
        if v["type"] == "order_update" {
            assert_eq!(v["seq"].as_u64(), Some(last + 1));
            last += 1;
        }
    }
    drop(tx);
    drop(rx);

    // kill -9 with everything acknowledged, start again on the same storage
    workerd.kill();
    let _workerd = Workerd::start(port, &storage, SECRET, "");
    let mut c = Client::connect(&edge).await;
    c.send(json!({"type": "auth", "token": token(Role::Client)})).await;
    c.send(json!({"type": "subscribe", "message_types": ["order_update"], "epoch": "E1", "since": 100})).await;
    let mut next = 101;
    let mut recovered = None;
    while next <= EVENTS || recovered.is_none() {
        let v = c.recv(Duration::from_secs(20)).await.expect("the replay completes");
        match v["type"].as_str() {
            Some("order_update") => {
                assert_eq!(v["seq"].as_u64(), Some(next), "every acknowledged event, once, in order");
                next += 1;
            }
            Some("resume") => recovered = v["recovered"].as_bool(),
            _ => {}
        }
    }
    assert_eq!(recovered, Some(true), "a complete replay says so");
    // and the bridge is welcomed at the stored position
    let (mut b, held) = bridge(port).await;
    assert_eq!(held, EVENTS, "welcome names the last acknowledged seq");
    drop(b.close(None).await);

    // the silent client from before the restart is gone with the process; a new one
    // that stays silent for longer than any idle timeout is still served
    let mut quiet = Client::connect(&edge).await;
    quiet.send(json!({"type": "auth", "token": token(Role::Client)})).await;
    quiet.send(json!({"type": "subscribe", "message_types": ["order_update"]})).await;
    quiet.recv_until(Duration::from_secs(5), |v| v["type"] == "subscription").await.expect("subscribed");
    tokio::time::sleep(Duration::from_secs(65)).await;
    let (mut b, _) = bridge(port).await;
    b.send(Message::Text(publish(EVENTS + 1).into())).await.unwrap();
    let v = quiet
        .recv_until(Duration::from_secs(10), |v| v["type"] == "order_update")
        .await
        .expect("a client silent for 65 s still gets events");
    assert_eq!(v["seq"].as_u64(), Some(EVENTS + 1));
    let _ = std::fs::remove_dir_all(&storage);
}

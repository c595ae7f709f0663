//! A real trader's volume on the local endpoint, through the whole pipeline (simulated
//! TWS -> bridge -> hub -> WebSocket clients): a burst far larger than any per-client
//! queue reaches every client in order; `get_orders` with 10,000 orders answers every
//! client; a resume across 9,999 events is recovered with all of them; a 10 MB TWS
//! text closes no client; a client that never reads is dropped within its send
//! deadline and its slot freed.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use ibws_bridge::app::{Bridge, BridgeConfig};
use ibws_tests::{Client, Next};
use ibws_tws_io::sim::{SimConfig, Simulator};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// `send_timeout` is the bridge's send deadline. Tests that are not about it give a
/// generous one: these tests run beside each other on two cores in a debug build, and
/// a reader parsing megabytes of JSON can be starved for seconds.
async fn start(orders: usize, send_timeout: Duration) -> (Simulator, Bridge, String) {
    let sim = Simulator::start(SimConfig { listen: "127.0.0.1:0".parse().unwrap(), orders, ..SimConfig::default() })
        .await
        .unwrap();
    let bridge = Bridge::start(BridgeConfig {
        tws: sim.addr().to_string(),
        listen: "127.0.0.1:0".parse().unwrap(),
        send_timeout,
        ..BridgeConfig::default()
    })
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while bridge.hub.with(|h| h.order_count()) < orders || !bridge.hub.with(|h| h.source_connected()) {
        assert!(Instant::now() < deadline, "bridge holds {} of {orders} orders", bridge.hub.with(|h| h.order_count()));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = format!("ws://{}/websocket/ws", bridge.addr);
    (sim, bridge, url)
}

async fn subscribed(url: &str, resume: Option<(&str, u64)>) -> Client {
    let mut c = Client::connect(url).await;
    let hello = c.recv(Duration::from_secs(5)).await.expect("connection frame");
    assert_eq!(hello["type"], "connection");
    let mut sub = json!({"type": "subscribe", "message_types": ["order_update", "order_notification", "mcp_order", "account_update", "market_data", "error"]});
    if let Some((e, s)) = resume {
        sub["epoch"] = json!(e);
        sub["since"] = json!(s);
    }
    c.send(sub).await;
    c
}

/// Waits until the stream has been still for 3 s; returns its head.
async fn settle(bridge: &Bridge) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut head = position(bridge).1;
    loop {
        tokio::time::sleep(Duration::from_millis(3_000)).await;
        let h = position(bridge).1;
        if h == head {
            return h;
        }
        head = h;
        assert!(Instant::now() < deadline, "the stream never settles");
    }
}

fn position(bridge: &Bridge) -> (String, u64) {
    bridge.hub.with(|h| {
        let (e, s) = h.position();
        (e.to_owned(), s)
    })
}

/// Reads events until the client stands at `head`: every seq in order, none missing.
async fn read_to(c: &mut Client, from: u64, head: u64) -> (u64, Vec<Value>) {
    let mut next = from + 1;
    let mut other = Vec::new();
    while next <= head {
        match c.next_frame(Duration::from_secs(30)).await {
            Next::Frame(v) => match v["seq"].as_u64() {
                Some(s) => {
                    assert_eq!(s, next, "gap or duplicate: {v}");
                    next += 1;
                }
                None => other.push(v),
            },
            Next::Silent => panic!("silent at seq {next} of {head}"),
            Next::Closed(code) => panic!("closed ({code:?}) at seq {next} of {head}"),
        }
    }
    (next - 1, other)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_reaches_every_client_in_order_and_closes_none() {
    let (sim, bridge, url) = start(0, Duration::from_secs(60)).await;
    let mut clients = Vec::new();
    for _ in 0..25 {
        clients.push(subscribed(&url, None).await);
    }
    for c in clients.iter_mut() {
        c.recv_until(Duration::from_secs(5), |v| v["type"] == "subscription").await.expect("subscribed");
    }
    let (_, start) = position(&bridge);
    // one burst of TWS traffic: ~20,000 events at once (the old per-client queue held
    // 4,096 frames; this closed every client)
    sim.set_flow(false);
    for _ in 0..21 {
        sim.apply(|e| (0..1_000).flat_map(|_| e.random_step()).collect::<Vec<_>>());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // every client reads on its own, as real ones do, until it stands at the head the
    // stream settles on (no silence heuristic: a loaded machine may pause a reader)
    let (head_tx, head_rx) = tokio::sync::watch::channel(None::<u64>);
    let readers: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            let head_rx = head_rx.clone();
            tokio::spawn(async move {
                let mut at = start;
                let deadline = Instant::now() + Duration::from_secs(180);
                loop {
                    if head_rx.borrow().is_some_and(|h| at >= h) {
                        return at;
                    }
                    assert!(Instant::now() < deadline, "stuck at seq {at}, head {:?}", *head_rx.borrow());
                    match c.next_frame(Duration::from_secs(1)).await {
                        Next::Frame(v) => {
                            if let Some(s) = v["seq"].as_u64() {
                                assert_eq!(s, at + 1, "gap or duplicate: {v}");
                                at = s;
                            }
                        }
                        Next::Silent => {}
                        Next::Closed(code) => panic!("closed ({code:?}) at seq {at}"),
                    }
                }
            })
        })
        .collect();
    let head = settle(&bridge).await;
    head_tx.send_replace(Some(head));
    let mut ends = Vec::new();
    for r in readers {
        ends.push(r.await.unwrap());
    }
    assert!(head - start >= 15_000, "burst of {} events", head - start);
    // every seq was read in order up to the head; a client may already hold an event
    // that came after the stream settled (a late timer in the bridge or the simulator)
    assert!(ends.iter().all(|e| *e >= head), "every client reached the head {head}: {ends:?}");
    let closed = bridge.hub.with(|h| h.stats().slow_consumers_closed + h.stats().slow_consumers_resynced);
    assert_eq!(closed, 0, "no client was slow");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_orders_with_ten_thousand_orders_answers_every_client() {
    let (_sim, bridge, url) = start(10_000, Duration::from_secs(60)).await;
    let mut clients = Vec::new();
    for _ in 0..20 {
        let mut c = Client::connect(&url).await;
        c.recv(Duration::from_secs(5)).await.expect("connection frame");
        c.send(json!({"type": "get_orders"})).await;
        clients.push(c);
    }
    for c in clients.iter_mut() {
        let r = c.recv_until(Duration::from_secs(60), |v| v["type"] == "orders_response").await.expect("answered");
        assert_eq!(r["data"].as_array().unwrap().len(), 10_000);
        c.send(json!({"type": "ping"})).await;
        assert!(c.recv_until(Duration::from_secs(5), |v| v["type"] == "pong").await.is_some(), "still open");
    }
    assert_eq!(bridge.hub.with(|h| h.stats().slow_consumers_closed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_across_9999_events_is_recovered_with_all_of_them() {
    let (sim, bridge, url) = start(0, Duration::from_secs(60)).await;
    sim.set_flow(false);
    let (epoch, since) = position(&bridge);
    // publish at least 9,999 events while no client is connected
    let target = since + 9_999;
    while position(&bridge).1 < target {
        sim.apply(|e| (0..200).flat_map(|_| e.random_step()).collect::<Vec<_>>());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let head = settle(&bridge).await;
    assert!(head - since >= 9_999, "{} events published", head - since);
    let since = head - 9_999;
    let mut c = subscribed(&url, Some((&epoch, since))).await;
    let (at, other) = read_to(&mut c, since, head).await;
    assert_eq!(at, head);
    let resume = match other.iter().find(|v| v["type"] == "resume") {
        Some(r) => r.clone(),
        None => c.recv_until(Duration::from_secs(10), |v| v["type"] == "resume").await.expect("resume frame"),
    };
    assert_eq!(resume["recovered"], true, "{resume}");
    assert_eq!(resume["seq"], head);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_megabytes_of_tws_text_close_no_client() {
    let (sim, bridge, url) = start(0, Duration::from_secs(60)).await;
    sim.set_flow(false);
    let mut clients = Vec::new();
    for _ in 0..10 {
        let mut c = subscribed(&url, None).await;
        c.recv_until(Duration::from_secs(5), |v| v["type"] == "subscription").await.expect("subscribed");
        clients.push(c);
    }
    sim.notice(321, &"x".repeat(10 << 20));
    for c in clients.iter_mut() {
        let e = c
            .recv_until(Duration::from_secs(10), |v| v["type"] == "error" && v["tws_code"] == 321)
            .await
            .expect("the error event");
        assert!(e["message"].as_str().unwrap().len() < 4200);
        c.send(json!({"type": "ping"})).await;
        assert!(c.recv_until(Duration::from_secs(5), |v| v["type"] == "pong").await.is_some(), "still open");
    }
    assert_eq!(bridge.hub.with(|h| h.stats().clients_closed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_dropped_within_its_send_deadline() {
    let (sim, bridge, url) = start(0, Duration::from_secs(2)).await;
    sim.set_flow(false);
    let ws = unread_client(&bridge, &url).await;
    let clients = || bridge.hub.with(|h| h.client_count());
    assert_eq!(clients(), 1);
    // a healthy client beside it keeps being served
    let mut good = subscribed(&url, None).await;
    good.recv_until(Duration::from_secs(5), |v| v["type"] == "subscription").await.unwrap();
    let (_, mut good_at) = position(&bridge);
    let stuck_since = Instant::now();
    let mut freed = None;
    while Instant::now() - stuck_since < Duration::from_secs(30) {
        sim.apply(|e| (0..300).flat_map(|_| e.random_step()).collect::<Vec<_>>());
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (_, head) = position(&bridge);
        good_at = read_to(&mut good, good_at, head).await.0;
        if clients() == 1 {
            freed = Some(Instant::now() - stuck_since);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let freed = freed.expect("the stuck client's slot was freed");
    assert!(freed < Duration::from_secs(15), "freed after {freed:?}");
    // and the drop is counted where an operator looks
    let metrics = get(bridge.addr, "/metrics").await;
    assert!(metrics.contains("ibws_limit_hits_total{limit=\"send_timeout\"} 1\n"), "{metrics}");
    assert!(metrics.contains("ibws_limit_hits_total{limit=\"max_connections\"} 0\n"), "{metrics}");
    drop(ws);
}

/// A raw client with a 4 KiB receive buffer, subscribed to everything, that reads
/// nothing more than its connection frame until the test makes it.
async fn unread_client(
    bridge: &Bridge,
    url: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(bridge.addr).await.unwrap();
    let (mut ws, _) =
        tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(tcp)).await.unwrap();
    ws.next().await.unwrap().unwrap(); // connection frame
    let sub = json!({"type": "subscribe", "message_types": ["order_update", "order_notification", "market_data", "account_update", "error"]});
    ws.send(Message::Text(sub.to_string().into())).await.unwrap();
    ws
}

/// The body of a plain `GET` on the local endpoint.
async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

/// Shutdown waits for clients to receive their close frames: a client with a backlog
/// that starts reading only after the old fixed 300 ms wait still ends with 4000
/// "server restarting", not a cut connection, even though the bridge is dropped as
/// soon as `shutdown` returns (as `ibws` exits).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_until_a_client_behind_a_backlog_has_its_close_frame() {
    let (sim, bridge, url) = start(0, Duration::from_secs(60)).await;
    sim.set_flow(false);
    let mut ws = unread_client(&bridge, &url).await;
    // a backlog of a few thousand events owed to a client that is not reading
    let (_, start_seq) = position(&bridge);
    while position(&bridge).1 < start_seq + 3_000 {
        sim.apply(|e| (0..300).flat_map(|_| e.random_step()).collect::<Vec<_>>());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    settle(&bridge).await;
    let stopping = tokio::spawn(async move {
        let t0 = Instant::now();
        bridge.shutdown().await;
        let took = t0.elapsed();
        drop(bridge); // what `ibws` does next: exit
        took
    });
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut events = 0u64;
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await.expect("the server went silent") {
            Some(Ok(Message::Text(_))) => events += 1,
            Some(Ok(Message::Close(f))) => break f.map(|f| u16::from(f.code)),
            Some(Ok(_)) => {}
            other => panic!("connection cut without a close frame after {events} frames: {other:?}"),
        }
    };
    assert_eq!(code, Some(ibws_shared::protocol::CloseCode::ServerRestarting.code()), "server restarting");
    let _ = ws.flush().await; // our answer to the close
    let took = stopping.await.unwrap();
    assert!(events > 1_000, "the backlog was delivered first ({events} frames)");
    assert!(took >= Duration::from_millis(800), "shutdown returned after {took:?}, before the client read its close");
}

/// A client that pings while large answers stream (and reads nothing for a while, so
/// the server's writes meet a full socket buffer) gets every frame whole and every pong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_during_a_large_answer_get_every_pong_and_every_frame_whole() {
    let (_sim, _bridge, url) = start(3_000, Duration::from_secs(60)).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let mut answers = 0;
    let mut pongs = 0;
    // the client reads nothing for a while, so the server's writes meet a full socket
    // buffer while pings keep coming
    for round in 0..10u8 {
        ws.send(Message::Text(json!({"type": "get_orders"}).to_string().into())).await.unwrap();
        for i in 0..100u8 {
            ws.send(Message::Ping(vec![round, i].into())).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while answers < 10 || pongs < 1000 {
        let left = deadline.saturating_duration_since(Instant::now());
        let m = tokio::time::timeout(left, ws.next()).await.expect("everything arrives in time");
        match m.expect("open").expect("a well-formed stream") {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(t.as_str()).expect("every frame whole JSON");
                if v["type"] == "orders_response" {
                    assert_eq!(v["data"].as_array().unwrap().len(), 3_000);
                    answers += 1;
                }
            }
            Message::Pong(p) => {
                assert_eq!(p.len(), 2);
                pongs += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((answers, pongs), (10, 1000));
}

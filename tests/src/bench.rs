//! The peer benchmark: ibws against Bun, Node `ws` and Python `websockets`, every
//! server its own process, one Rust load generator driving them all.
//!
//! Each server is fed through its real publish path: ibws through a bridge connection
//! on the relay's `/bridge/ws` (hello, snapshot, `publish` frames), the peers through a
//! publisher socket on `/pub` whose frames they broadcast to `/sub`. Every event is the
//! same ~310-byte `order_update` whose `timestamp` is the moment the load generator
//! sent it, so a subscriber's latency is its receive time minus that stamp, without
//! parsing JSON. Scenarios (reference.md and the volume issue):
//! - A, fan-out: N subscribers, E events as fast as the server accepts them: deliveries
//!   per second and the share delivered;
//! - B, latency: N subscribers at R events/s for S seconds: p50 / p99 / p99.9 / max;
//! - C, memory: N idle subscribed connections: the server's RSS growth per connection;
//! - D, the bridge end to end (ibws only): a simulated TWS in this process changes an
//!   order's price, `ibws bridge` (its own process) turns the frame into an
//!   `order_notification` for N local clients: latency from just before the simulator
//!   writes the frame to a client having read the notification; beside it, the same
//!   clients fed a ready-made event by every plain `ws://` server, ibws's relay and the
//!   peers ([`forward_rounds`]): what this machine allows any server for the fan-out;
//! - E, event memory (ibws only): a relay's RSS growth over the bytes of event text it
//!   keeps, for large events.
//!
//! Runs are interleaved (A for every server, then again), each printed as one line;
//! [`summarize`] prints the median, range and the ratio ibws / peer per metric.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use ibws_shared::auth::Role;
use ibws_shared::protocol::format_timestamp;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::Connector;

use crate::epoll_clients::{self, EpollClient};
use crate::latency::{field, parse_timestamp_us, raise_fd_limit, unix_us, Histogram};
use crate::process::Proc;
use crate::{free_port, repo_root, TestKeys};

/// A server under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Server {
    /// `ibws relay`, plain ws on loopback.
    Ibws,
    /// `ibws relay` with TLS.
    IbwsTls,
    /// The edge relay (wasm) under `workerd`, Durable Object storage on disk.
    Edge,
    Bun,
    /// Bun with its `tls` option and the same kind of certificate as `ibws-wss`: the peer
    /// for the TLS rows.
    BunTls,
    Node,
    Python,
}

impl Server {
    pub const ALL: [Server; 7] =
        [Server::Ibws, Server::IbwsTls, Server::Edge, Server::Bun, Server::BunTls, Server::Node, Server::Python];

    pub fn name(self) -> &'static str {
        match self {
            Server::Ibws => "ibws",
            Server::IbwsTls => "ibws-wss",
            Server::Edge => "ibws-edge-workerd",
            Server::Bun => "bun-1.4",
            Server::BunTls => "bun-wss-1.4",
            Server::Node => "node-ws-8.23",
            Server::Python => "python-websockets-17",
        }
    }

    pub fn parse(s: &str) -> Option<Server> {
        Server::ALL.into_iter().find(|v| v.name() == s || v.name().starts_with(s))
    }

    /// Speaks ibws's protocol (auth, subscribe, a bridge publishing).
    fn is_ibws(self) -> bool {
        matches!(self, Server::Ibws | Server::IbwsTls | Server::Edge)
    }
}

/// Where the peers' programs are (tests/bench, installed by `tests/run`).
pub fn bench_dir() -> PathBuf {
    repo_root().join("tests/bench")
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A running server process and how to reach it.
struct Running {
    proc: Proc,
    port: u16,
    tls: Option<Arc<rustls::ClientConfig>>,
    client_token: String,
    bridge_token: String,
    /// Keys to mint one client token per subscriber (the edge caps connections per
    /// token subject at 100, as a relay should).
    keys: Option<TestKeys>,
    subject: AtomicU64,
}

fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0)
}

impl Running {
    async fn start(server: Server, ibws: &Path, work: &Path, clients: usize) -> Running {
        std::fs::create_dir_all(work).expect("work dir");
        let port = free_port();
        let log = work.join(format!("{}.log", server.name()));
        let dir = bench_dir();
        let mut tls = None;
        let (mut client_token, mut bridge_token) = (String::new(), String::new());
        let mut keys = None;
        let mut proc = match server {
            Server::Edge => {
                let secret = format!("bench-secret-{:032x}", unix_us());
                let k = TestKeys::hs256(&secret);
                bridge_token = k.token("bench-bridge", Role::Bridge, "desk1", &[]);
                keys = Some(k);
                let storage = work.join("do-storage");
                let _ = std::fs::remove_dir_all(&storage);
                std::fs::create_dir_all(&storage).expect("storage dir");
                let config = crate::Workerd::config(port, &storage, &secret, "");
                Proc::spawn(&crate::Workerd::bin(), &["serve".into(), config.display().to_string()], &log)
            }
            Server::Ibws | Server::IbwsTls => {
                let secret = format!("bench-secret-{:032x}", unix_us());
                let keys = TestKeys::hs256(&secret);
                let secret_file = work.join("jwt.secret");
                std::fs::write(&secret_file, &secret).expect("write secret");
                client_token = keys.token("bench-client", Role::Client, "desk1", &[]);
                bridge_token = keys.token("bench-bridge", Role::Bridge, "desk1", &[]);
                let big = (clients * 2 + 100).to_string();
                let mut args: Vec<String> = vec!["relay".into(), "--listen".into(), format!("127.0.0.1:{port}")];
                if server == Server::IbwsTls {
                    let (ca, cert, key) = ibws_bridge::tls::self_signed(&["localhost"]).expect("certificate");
                    let (c, k) = (work.join("cert.pem"), work.join("key.pem"));
                    std::fs::write(&c, &cert).expect("cert");
                    std::fs::write(&k, &key).expect("key");
                    args.extend(["--tls-cert".into(), c.display().to_string()]);
                    args.extend(["--tls-key".into(), k.display().to_string()]);
                    tls = Some(ibws_bridge::tls::client_config(Some(ca.as_bytes())).expect("client TLS"));
                }
                for flag in [
                    "--max-connections",
                    "--max-per-ip",
                    "--max-per-subject",
                    "--max-clients-per-tenant",
                    "--handshake-burst",
                    "--handshakes-per-sec",
                    "--max-pending-per-ip",
                ] {
                    args.extend([flag.to_owned(), big.clone()]);
                }
                args.extend(["--jwt-secret-file".into(), secret_file.display().to_string()]);
                args.extend(["--metrics-listen".into(), "off".into()]);
                Proc::spawn(ibws, &args, &log)
            }
            Server::Bun => Proc::spawn(
                &dir.join("node_modules/.bin/bun"),
                &[dir.join("servers/bun-pubsub.js").display().to_string(), port.to_string()],
                &log,
            ),
            Server::BunTls => {
                let (ca, cert, key) = ibws_bridge::tls::self_signed(&["localhost"]).expect("certificate");
                let (c, k) = (work.join("cert.pem"), work.join("key.pem"));
                std::fs::write(&c, &cert).expect("cert");
                std::fs::write(&k, &key).expect("key");
                tls = Some(ibws_bridge::tls::client_config(Some(ca.as_bytes())).expect("client TLS"));
                Proc::spawn(
                    &dir.join("node_modules/.bin/bun"),
                    &[
                        dir.join("servers/bun-pubsub.js").display().to_string(),
                        port.to_string(),
                        c.display().to_string(),
                        k.display().to_string(),
                    ],
                    &log,
                )
            }
            Server::Node => Proc::spawn(
                Path::new("node"),
                &[dir.join("servers/node-ws.mjs").display().to_string(), port.to_string()],
                &log,
            ),
            Server::Python => Proc::spawn(
                &dir.join(".venv/bin/python"),
                &[dir.join("servers/py-websockets.py").display().to_string(), port.to_string()],
                &log,
            ),
        };
        proc.wait_listening(port, &log);
        tokio::time::sleep(Duration::from_millis(300)).await;
        Running { proc, port, tls, client_token, bridge_token, keys, subject: AtomicU64::new(0) }
    }

    /// The token a subscriber authenticates with.
    fn client_token(&self) -> String {
        match &self.keys {
            Some(k) => {
                let n = self.subject.fetch_add(1, Ordering::Relaxed);
                k.token(&format!("bench-client-{n}"), Role::Client, "desk1", &[])
            }
            None => self.client_token.clone(),
        }
    }

    fn url(&self, server: Server, path: &str) -> String {
        let scheme = if self.tls.is_some() { "wss" } else { "ws" };
        let path = match (server, path) {
            (Server::Edge, "sub") => "websocket/ws?tenant=desk1",
            (Server::Edge, _) => "bridge/ws?tenant=desk1",
            (s, "sub") if s.is_ibws() => "websocket/ws",
            (s, _) if s.is_ibws() => "bridge/ws",
            (_, p) => p,
        };
        format!("{scheme}://localhost:{}/{path}", self.port)
    }

    /// Opens a bridge session on ibws's `/bridge/ws`: `hello`, then an empty snapshot.
    async fn bridge_hello(&self, ws: &mut Ws) {
        let hello =
            format!(r#"{{"type":"hello","token":"{}","epoch":"bench","seq":0,"version":"bench"}}"#, self.bridge_token);
        ws.send(Message::Text(hello.into())).await.expect("hello");
        let snap = r#"{"type":"snapshot","epoch":"bench","seq":0,"orders":[],"accounts":[],"source_connected":true}"#;
        ws.send(Message::Text(snap.into())).await.expect("snapshot");
    }

    async fn connect(&self, url: &str) -> Ws {
        let req = url.into_client_request().expect("request");
        let connector = self.tls.clone().map(Connector::Rustls);
        let (ws, _) = tokio::time::timeout(
            Duration::from_secs(30),
            tokio_tungstenite::connect_async_tls_with_config(req, Some(ws_config()), true, connector),
        )
        .await
        .expect("connect in time")
        .expect("connect");
        ws
    }
}

/// Counters shared by every subscriber of one run.
#[derive(Default)]
struct Tally {
    subscribed: AtomicU64,
    delivered: AtomicU64,
    last_us: AtomicU64,
}

/// One subscriber: connects, subscribes (ibws: auth + subscribe), then counts events
/// and records their latency until `stop`.
async fn subscriber(
    run: Arc<Running>,
    server: Server,
    tally: Arc<Tally>,
    hist: Arc<Histogram>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    gate: tokio::sync::OwnedSemaphorePermit,
) {
    let mut ws = run.connect(&run.url(server, "sub")).await;
    if server.is_ibws() {
        let auth = format!(r#"{{"type":"auth","token":"{}"}}"#, run.client_token());
        ws.send(Message::Text(auth.into())).await.expect("auth");
        ws.send(Message::Text(r#"{"type":"subscribe","message_types":["order_update"]}"#.into())).await.expect("sub");
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) if t.as_str().contains("\"subscription\"") => break,
                Some(Ok(_)) => {}
                other => panic!("{}: subscribe failed: {other:?}", server.name()),
            }
        }
    }
    drop(gate);
    tally.subscribed.fetch_add(1, Ordering::Relaxed);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            m = ws.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    let t = t.as_str();
                    let event = t.contains("\"order_update\"");
                    if let Some(sent) = field(t, "\"timestamp\":").and_then(parse_timestamp_us).filter(|_| event) {
                        let now = unix_us();
                        hist.record((now - sent).max(0) as u64);
                        tally.delivered.fetch_add(1, Ordering::Relaxed);
                        tally.last_us.fetch_max(now as u64, Ordering::Relaxed);
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            }
        }
    }
}

/// The event every server carries: an order_update of about 310 bytes, stamped now.
fn event(seq: u64) -> String {
    let ts = format_timestamp(unix_us(), 0);
    let id = seq % 500 + 1;
    format!(
        r#"{{"type":"order_update","data":{{"order_id":{id},"symbol":"AAPL","action":"BUY","quantity":100,"order_type":"LMT","status":"Submitted","filled":0,"remaining":100,"avg_fill_price":0,"price":187.25,"perm_id":{perm},"account":"DU1234567","client_id":0,"order_ref":"bench"}},"timestamp":"{ts}","seq":{seq},"epoch":"bench"}}"#,
        perm = 1_000_000 + id
    )
}

/// Event `seq` as the publisher sends it: ibws's bridge wraps it in a `publish`
/// frame, the peers broadcast the text as it is.
fn publish_text(server: Server, seq: u64) -> String {
    let e = event(seq);
    if server.is_ibws() {
        format!(r#"{{"type":"publish","event":{e}}}"#)
    } else {
        e
    }
}

/// Publishes `count` events, `rate` per second (0: as fast as the server takes
/// them). ibws: as a bridge on `/bridge/ws`; peers: on `/pub`. The publisher's socket
/// stays open while the returned guard lives.
async fn publish(run: &Running, server: Server, count: u64, rate: u32) -> Box<dyn std::any::Any + Send> {
    let mut ws = run.connect(&run.url(server, "pub")).await;
    if server.is_ibws() {
        run.bridge_hello(&mut ws).await;
    }
    let (mut tx, mut rx) = ws.split();
    // acks and welcome are read and dropped, so the server never blocks on us
    let drain = tokio::spawn(async move { while let Some(Ok(_)) = rx.next().await {} });
    let interval = (rate > 0).then(|| Duration::from_secs_f64(1.0 / f64::from(rate)));
    let start = Instant::now();
    for seq in 1..=count {
        if let Some(i) = interval {
            let due = start + i * (seq as u32 - 1);
            tokio::time::sleep_until(due.into()).await;
        }
        let text = publish_text(server, seq);
        if rate > 0 {
            tx.send(Message::Text(text.into())).await.expect("publish");
        } else {
            tx.feed(Message::Text(text.into())).await.expect("publish");
            if seq % 64 == 0 {
                tx.flush().await.expect("publish");
            }
        }
    }
    tx.flush().await.expect("publish");
    Box::new((tx, drain))
}

/// One measured run.
#[derive(Clone, Debug)]
pub struct Sample {
    pub scenario: String,
    pub server: Server,
    pub metrics: BTreeMap<&'static str, f64>,
}

impl Sample {
    pub fn line(&self) -> String {
        let m: Vec<String> = self.metrics.iter().map(|(k, v)| format!("{k}={v:.3}")).collect();
        format!("bench: scenario={} server={} {}", self.scenario, self.server.name(), m.join(" "))
    }
}

/// Connects `n` subscribers (`parallel` handshakes at a time); returns their tasks.
async fn subscribers(
    run: &Arc<Running>,
    server: Server,
    n: usize,
    tally: &Arc<Tally>,
    hist: &Arc<Histogram>,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let gate = Arc::new(tokio::sync::Semaphore::new(200));
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let permit = gate.clone().acquire_owned().await.expect("semaphore");
        tasks.push(tokio::spawn(subscriber(run.clone(), server, tally.clone(), hist.clone(), stop.clone(), permit)));
    }
    let t0 = Instant::now();
    while tally.subscribed.load(Ordering::Relaxed) < n as u64 {
        assert!(t0.elapsed() < Duration::from_secs(300), "{}: subscribers never all connected", server.name());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tasks
}

/// Scenario A: `subs` subscribers, `events` events as fast as accepted.
pub async fn fan_out(server: Server, ibws: &Path, work: &Path, subs: usize, events: u64) -> Sample {
    raise_fd_limit();
    let run = Arc::new(Running::start(server, ibws, work, subs).await);
    let (tally, hist) = (Arc::new(Tally::default()), Arc::new(Histogram::new()));
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let tasks = subscribers(&run, server, subs, &tally, &hist, &stop).await;
    let start_us = unix_us() as u64;
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (run, peak) = (run.clone(), peak.clone());
        tokio::spawn(async move {
            loop {
                peak.fetch_max(run.proc.rss_bytes().unwrap_or(0), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let _publisher = publish(&run, server, events, 0).await;
    let want = subs as u64 * events;
    // until everything arrived, or nothing arrived for 5 s
    let mut last = (0, Instant::now());
    loop {
        let got = tally.delivered.load(Ordering::Relaxed);
        if got >= want {
            break;
        }
        if got != last.0 {
            last = (got, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(5) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sampler.abort();
    let delivered = tally.delivered.load(Ordering::Relaxed);
    let secs = (tally.last_us.load(Ordering::Relaxed).saturating_sub(start_us)) as f64 / 1e6;
    stop_tx.send_replace(true);
    for t in tasks {
        t.abort();
    }
    let mut metrics = BTreeMap::new();
    metrics.insert("deliveries_per_sec", delivered as f64 / secs.max(1e-6));
    metrics.insert("delivered_pct", delivered as f64 * 100.0 / want as f64);
    metrics.insert("peak_rss_mib", peak.load(Ordering::Relaxed) as f64 / 1048576.0);
    Sample { scenario: format!("A_fanout_{subs}x{events}"), server, metrics }
}

/// p50 / p99 / p99.9 / max in ms, and the share of `expected` deliveries recorded.
fn latency_metrics(hist: &Histogram, expected: u64) -> BTreeMap<&'static str, f64> {
    let (n, p50, p99, p999, max) = hist.take_percentiles();
    let mut metrics = BTreeMap::new();
    metrics.insert("p50_ms", p50 as f64 / 1000.0);
    metrics.insert("p99_ms", p99 as f64 / 1000.0);
    metrics.insert("p999_ms", p999 as f64 / 1000.0);
    metrics.insert("max_ms", max as f64 / 1000.0);
    metrics.insert("delivered_pct", n as f64 * 100.0 / expected.max(1) as f64);
    metrics
}

/// Scenario B: `subs` subscribers at `rate` events/s for `secs`.
pub async fn latency(server: Server, ibws: &Path, work: &Path, subs: usize, rate: u32, secs: u64) -> Sample {
    raise_fd_limit();
    let run = Arc::new(Running::start(server, ibws, work, subs).await);
    let (tally, hist) = (Arc::new(Tally::default()), Arc::new(Histogram::new()));
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let tasks = subscribers(&run, server, subs, &tally, &hist, &stop).await;
    let events = u64::from(rate) * secs;
    let _publisher = publish(&run, server, events, rate).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop_tx.send_replace(true);
    for t in tasks {
        t.abort();
    }
    let metrics = latency_metrics(&hist, events * subs as u64);
    Sample { scenario: format!("B_latency_{subs}x{rate}per_s"), server, metrics }
}

/// Scenario C: `subs` idle subscribed connections: server RSS growth per connection.
pub async fn idle_memory(server: Server, ibws: &Path, work: &Path, subs: usize) -> Sample {
    raise_fd_limit();
    let run = Arc::new(Running::start(server, ibws, work, subs).await);
    let _publisher = if server.is_ibws() {
        // the tenant exists (a bridge has said hello) before the clients come
        Some(publish(&run, server, 1, 0).await)
    } else {
        None
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = run.proc.rss_bytes().unwrap_or(0);
    let (tally, hist) = (Arc::new(Tally::default()), Arc::new(Histogram::new()));
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let tasks = subscribers(&run, server, subs, &tally, &hist, &stop).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = run.proc.rss_bytes().unwrap_or(0);
    stop_tx.send_replace(true);
    for t in tasks {
        t.abort();
    }
    let mut metrics = BTreeMap::new();
    metrics.insert("bytes_per_conn", after.saturating_sub(before) as f64 / subs as f64);
    metrics.insert("rss_mib", after as f64 / 1048576.0);
    Sample { scenario: format!("C_idle_{subs}"), server, metrics }
}

/// Scenario E (ibws only): what a relay holds per byte of event it keeps. One bridge
/// publishes `events` events of about `size` bytes: `error` events (the replay ring
/// only) or `order_update`s of distinct orders (the ring and the order table). The
/// relay's RSS growth over the bytes of event text published.
pub async fn event_memory(ibws: &Path, work: &Path, events: u64, size: usize, orders: bool) -> Sample {
    let run = Running::start(Server::Ibws, ibws, work, 10).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = run.proc.rss_bytes().unwrap_or(0);
    let mut ws = run.connect(&run.url(Server::Ibws, "pub")).await;
    run.bridge_hello(&mut ws).await;
    let filler = "x".repeat(size);
    let mut text_bytes = 0usize;
    for seq in 1..=events {
        let ts = format_timestamp(unix_us(), 0);
        let e = if orders {
            format!(
                r#"{{"type":"order_update","data":{{"order_id":{seq},"symbol":"AAPL","action":"BUY","quantity":100,"order_type":"LMT","status":"Submitted","filled":0,"remaining":100,"avg_fill_price":0,"price":187.25,"perm_id":{seq},"account":"DU1234567","client_id":0,"order_ref":"{filler}"}},"timestamp":"{ts}","seq":{seq},"epoch":"bench"}}"#
            )
        } else {
            format!(
                r#"{{"type":"error","message":"{filler}","error_code":"TWS_ERROR","timestamp":"{ts}","seq":{seq},"epoch":"bench"}}"#
            )
        };
        text_bytes += e.len();
        ws.send(Message::Text(format!(r#"{{"type":"publish","event":{e}}}"#).into())).await.expect("publish");
    }
    // the relay acks what it holds: wait for the last ack
    let t0 = Instant::now();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Text(t))))
                if field(t.as_str(), "\"seq\":").and_then(|s| s.parse::<u64>().ok()) == Some(events) =>
            {
                break
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("relay stopped acking: {other:?}"),
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "no ack for the last event");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = run.proc.rss_bytes().unwrap_or(0);
    let mut metrics = BTreeMap::new();
    metrics.insert("rss_growth_mib", after.saturating_sub(before) as f64 / 1048576.0);
    metrics.insert("event_text_mib", text_bytes as f64 / 1048576.0);
    metrics.insert("growth_over_text", after.saturating_sub(before) as f64 / text_bytes as f64);
    let what = if orders { "orders" } else { "errors" };
    Sample { scenario: format!("E_memory_{events}x{size}B_{what}"), server: Server::Ibws, metrics }
}

/// The body of `GET /healthz` on a local endpoint.
fn healthz(port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// Scenario D: `ibws bridge` between the simulator and `clients` local clients;
/// `rounds` price changes, one every 5 ms, with `orders` more working orders in the
/// book (a real account's day). Latency runs from the moment the simulator begins
/// writing the change's TWS frame to the moment a client has the notification;
/// `p99_from_call_ms` also counts the simulator's own hop inside this process (from
/// the call that makes the change to its frame). Per round, `first_p50_ms` is the
/// first client's latency (the path through the bridge) and `spread_p50_ms` the time
/// from the first client to the last (the fan-out). The clients are plain sockets read
/// by one thread with epoll ([`epoll_clients`]), so a sample is stamped when its bytes
/// reach this process rather than after a runtime has scheduled a task per client.
pub async fn bridge_end_to_end(ibws: &Path, work: &Path, clients: usize, rounds: usize, orders: usize) -> Sample {
    use ibws_tws::outgoing::OrderTicket;
    use ibws_tws_io::sim::{SimConfig, Simulator};
    raise_fd_limit();
    std::fs::create_dir_all(work).expect("work dir");
    let sim = Simulator::start(SimConfig { listen: "127.0.0.1:0".parse().expect("addr"), ..SimConfig::default() })
        .await
        .expect("simulator");
    sim.set_flow(false);
    let port = free_port();
    let args: Vec<String> =
        vec!["bridge".into(), "--tws".into(), sim.addr().to_string(), "--listen".into(), format!("127.0.0.1:{port}")];
    let log = work.join("ibws-bridge.log");
    let mut proc = Proc::spawn(ibws, &args, &log);
    proc.wait_listening(port, &log);
    let perm = sim.place(0, "AAPL", OrderTicket::limit("BUY", 100.0, 100.0));
    for i in 0..orders {
        sim.place(0, "MSFT", OrderTicket::limit("BUY", 1.0 + (i % 100) as f64, 50.0));
    }
    // the bridge is connected to the simulator once its health says so, and has the
    // book once its stream stops moving
    let t0 = Instant::now();
    let (mut seq, mut still_since) = (None, Instant::now());
    loop {
        assert!(t0.elapsed() < Duration::from_secs(120), "the bridge never connected to the simulator");
        let h = healthz(port).filter(|b| b.contains("\"tws_connected\":true"));
        let now_seq = h.as_deref().and_then(|b| field(b, "\"seq\":")).and_then(|s| s.parse::<u64>().ok());
        if now_seq.is_some() && now_seq != seq {
            (seq, still_since) = (now_seq, Instant::now());
        } else if seq.is_some_and(|s| s as usize > orders) && still_since.elapsed() > Duration::from_millis(500) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let hello = vec![r#"{"type":"subscribe","message_types":["order_notification"]}"#.to_owned()];
    let (reader, ready) = round_clients(addr, "/websocket/ws", hello, true, clients, rounds, |t| {
        // the round is the price it set
        let p =
            field(t, "\"price\":").and_then(|p| p.parse::<f64>().ok()).filter(|_| t.contains("\"event\":\"modified\""));
        p.map(|p| (p * 100.0).round() as u64)
    });
    if ready.await.is_err() {
        let e = reader.await.expect("client reader").err();
        panic!("the clients could not connect to the bridge and subscribe: {e:?}");
    }
    let mut sent = std::collections::HashMap::with_capacity(rounds);
    let mut calls = std::collections::HashMap::with_capacity(rounds);
    for i in 0..rounds {
        let price = 100.0 + (i + 1) as f64 / 100.0;
        let _ = sim.take_first_event_write();
        let call = Instant::now();
        sim.modify(perm, Some(price), None);
        tokio::time::sleep(Duration::from_millis(5)).await;
        // a frame not out within the round (never seen here) counts from the call
        let frame = sim.take_first_event_write().unwrap_or(call);
        let key = (price * 100.0).round() as u64;
        sent.insert(key, frame);
        calls.insert(key, call);
    }
    let got = reader.await.expect("client reader").expect("client sockets");
    drop(proc);
    let mut metrics = round_metrics(&got, &sent, clients, rounds);
    let from_call = Histogram::new();
    for (k, t1) in &got {
        if let Some(call) = calls.get(k) {
            from_call.record(t1.saturating_duration_since(*call).as_micros() as u64);
        }
    }
    metrics.insert("p99_from_call_ms", from_call.take_percentiles().2 as f64 / 1000.0);
    let scenario = match orders {
        0 => format!("D_bridge_{clients}_clients"),
        n => format!("D_bridge_{clients}_clients_{n}_orders"),
    };
    Sample { scenario, server: Server::Ibws, metrics }
}

/// What a round's clients read: the round's key and when the read returned.
type Reads = Vec<(u64, Instant)>;

/// Connects `clients` plain WebSocket clients to `addr{path}` on a thread of their own
/// (see [`epoll_clients`]: a sample is stamped when its bytes reach this process, not
/// after a runtime has scheduled a task per client), sends each the `hello` messages,
/// waits for `"subscription"` if `confirm`, then reads every client until each has
/// `rounds` messages that `round_of` gives a key. The receiver fires once every client
/// is ready (or the connecting failed: the reader's result says why).
fn round_clients(
    addr: std::net::SocketAddr,
    path: &'static str,
    hello: Vec<String>,
    confirm: bool,
    clients: usize,
    rounds: usize,
    round_of: impl Fn(&str) -> Option<u64> + Send + 'static,
) -> (tokio::task::JoinHandle<std::io::Result<Reads>>, tokio::sync::oneshot::Receiver<()>) {
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let reader = tokio::task::spawn_blocking(move || -> std::io::Result<Reads> {
        let mut conns = Vec::with_capacity(clients);
        for _ in 0..clients {
            let mut c = EpollClient::connect(addr, path, Duration::from_secs(10))?;
            for m in &hello {
                c.send_text(m)?;
            }
            if confirm {
                c.read_until(|t| t.contains("\"subscription\""))?;
            }
            conns.push(c);
        }
        let _ = ready_tx.send(());
        let mut got = Vec::with_capacity(clients * rounds);
        let mut counts = vec![0usize; clients];
        let deadline = Instant::now() + Duration::from_millis(5 * rounds as u64 + 10_000);
        epoll_clients::read_all(&mut conns, deadline, |i, t, at| {
            if let Some(k) = round_of(t) {
                got.push((k, at));
                counts[i] += 1;
            }
            counts[i] >= rounds
        })?;
        Ok(got)
    });
    (reader, ready_rx)
}

/// Latency of every read from its round's send (`sent`, by key), and per round the
/// first client's latency and the spread from the first client to the last.
fn round_metrics(
    got: &Reads,
    sent: &std::collections::HashMap<u64, Instant>,
    clients: usize,
    rounds: usize,
) -> BTreeMap<&'static str, f64> {
    let hist = Histogram::new();
    let mut per_round: std::collections::HashMap<u64, (u64, u64)> = std::collections::HashMap::new();
    for (k, t1) in got {
        if let Some(t0) = sent.get(k) {
            let us = t1.saturating_duration_since(*t0).as_micros() as u64;
            hist.record(us);
            let r = per_round.entry(*k).or_insert((us, us));
            *r = (r.0.min(us), r.1.max(us));
        }
    }
    let mut metrics = latency_metrics(&hist, (rounds * clients) as u64);
    let (first, spread) = (Histogram::new(), Histogram::new());
    for (lo, hi) in per_round.values() {
        first.record(*lo);
        spread.record(hi - lo);
    }
    metrics.insert("first_p50_ms", first.take_percentiles().1 as f64 / 1000.0);
    metrics.insert("spread_p50_ms", spread.take_percentiles().1 as f64 / 1000.0);
    metrics
}

/// Scenario D's yardstick: the same `clients` epoll clients, `rounds` events one every
/// 5 ms, each published through a server's publish path (ibws: a bridge on the relay's
/// `/bridge/ws`; peers: `/pub`). No TWS frame to decode and no order to merge: a
/// ready-made event is passed on, so for the peers this is what this machine allows
/// a server for the fan-out part of D. Latency runs from just before the publisher's
/// frame is written to a client having read the event. Plain `ws://` servers only (the
/// clients speak no TLS).
pub async fn forward_rounds(server: Server, ibws: &Path, work: &Path, clients: usize, rounds: usize) -> Option<Sample> {
    if matches!(server, Server::IbwsTls | Server::Edge | Server::BunTls) {
        return None;
    }
    raise_fd_limit();
    let run = Arc::new(Running::start(server, ibws, work, clients).await);
    let mut ws = run.connect(&run.url(server, "pub")).await;
    if server.is_ibws() {
        run.bridge_hello(&mut ws).await;
    }
    let (mut tx, mut rx) = ws.split();
    let drain = tokio::spawn(async move { while let Some(Ok(_)) = rx.next().await {} });
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], run.port).into();
    let (path, hello) = if server.is_ibws() {
        let auth = format!(r#"{{"type":"auth","token":"{}"}}"#, run.client_token());
        ("/websocket/ws", vec![auth, r#"{"type":"subscribe","message_types":["order_update"]}"#.to_owned()])
    } else {
        ("/sub", Vec::new())
    };
    // round 0 is not measured: it shows that every client is subscribed (the peers
    // do not confirm a subscription). Only the events count: a relay client that
    // subscribed before the relay took the bridge's snapshot is also told of the new
    // epoch (a `resume` frame with a `seq` of its own).
    let (reader, ready) = round_clients(addr, path, hello, server.is_ibws(), clients, rounds + 1, |t| {
        field(t, "\"seq\":").and_then(|s| s.parse::<u64>().ok()).filter(|_| t.contains("\"order_update\""))
    });
    if ready.await.is_err() {
        let e = reader.await.expect("client reader").err();
        panic!("{}: the clients could not connect and subscribe: {e:?}", server.name());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut sent = std::collections::HashMap::with_capacity(rounds + 1);
    for seq in 1..=rounds as u64 + 1 {
        let text = publish_text(server, seq);
        let at = Instant::now();
        tx.send(Message::Text(text.into())).await.expect("publish");
        if seq > 1 {
            sent.insert(seq, at);
        }
        tokio::time::sleep(Duration::from_millis(if seq == 1 { 200 } else { 5 })).await;
    }
    let got = reader.await.expect("client reader").expect("client sockets");
    drain.abort();
    let metrics = round_metrics(&got, &sent, clients, rounds);
    Some(Sample { scenario: format!("D_forward_{clients}_clients"), server, metrics })
}

/// Median, range and the ratio ibws / peer of every metric, one line each.
pub fn summarize(samples: &[Sample]) -> Vec<String> {
    let mut by: BTreeMap<(String, &'static str), BTreeMap<Server, Vec<f64>>> = BTreeMap::new();
    for s in samples {
        for (k, v) in &s.metrics {
            by.entry((s.scenario.clone(), k)).or_default().entry(s.server).or_default().push(*v);
        }
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut out = Vec::new();
    for ((scenario, metric), servers) in by {
        let ibws = servers.get(&Server::Ibws).map(|v| median(v));
        let ibws_tls = servers.get(&Server::IbwsTls).map(|v| median(v));
        for (server, v) in &servers {
            let (lo, hi) = (v.iter().cloned().fold(f64::MAX, f64::min), v.iter().cloned().fold(f64::MIN, f64::max));
            let m = median(v);
            let mut ratio = match (ibws, server.is_ibws()) {
                (Some(i), false) if m != 0.0 => format!(" ratio_ibws_over_peer={:.2}", i / m),
                _ => String::new(),
            };
            // the TLS rows: ibws over TLS against Bun over TLS, and against plain ibws
            match (server, ibws_tls, ibws) {
                (Server::BunTls, Some(t), _) if m != 0.0 => {
                    ratio += &format!(" ratio_ibws_wss_over_bun_wss={:.2}", t / m)
                }
                (Server::IbwsTls, _, Some(i)) if i != 0.0 => {
                    ratio += &format!(" ratio_ibws_wss_over_ibws={:.2}", m / i)
                }
                _ => {}
            }
            out.push(format!(
                "bench-summary: scenario={scenario} metric={metric} server={} runs={} median={m:.3} min={lo:.3} max={hi:.3}{ratio}",
                server.name(),
                v.len()
            ));
        }
    }
    out
}

/// CPU seconds (user + system) a process has used, from `/proc/<pid>/stat`.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // fields after the command's closing parenthesis; utime and stime are 14 and 15
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = [11, 12].iter().filter_map(|i| f.get(*i)?.parse::<f64>().ok()).sum();
    ticks / 100.0
}

/// Bytes a process has caused to be written to storage, from `/proc/<pid>/io`.
fn written_bytes(pid: u32) -> f64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
    io.lines().find_map(|l| l.strip_prefix("write_bytes:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0.0)
}

/// An `order_update` of about 450 bytes for order `id`.
fn ingest_event(seq: u64, id: u64) -> String {
    format!(
        r#"{{"type":"publish","event":{{"type":"order_update","data":{{"order_id":{id},"symbol":"AAPL","action":"BUY","quantity":100,"order_type":"LMT","status":"Submitted","filled":0,"remaining":100,"avg_fill_price":0,"price":187.25,"perm_id":{perm},"account":"DU1234567","client_id":0,"order_ref":"ingest {seq:08} ...........................................................................................................","parent_id":0}},"timestamp":"2026-12-01 10:00:00.000","seq":{seq},"epoch":"bench"}}}}"#,
        perm = 1_000_000 + id
    )
}

/// Scenario F (the edge relay only): a bridge publishes `events` ~450-byte
/// `order_update`s into one tenant as fast as the relay acknowledges them (each ack
/// means stored and durable); `distinct` makes every event a new order. Reports the
/// ack rate overall and over the first and last fifth of the stream, and workerd's CPU
/// and disk writes per event over the same stretches: flat numbers mean the cost of
/// an event does not grow with the ring.
pub async fn edge_ingest(ibws: &Path, work: &Path, events: u64, distinct: bool) -> Sample {
    let run = Running::start(Server::Edge, ibws, work, 1).await;
    let pid = run.proc.pid();
    let mut ws = run.connect(&run.url(Server::Edge, "pub")).await;
    run.bridge_hello(&mut ws).await;
    let (mut tx, mut rx) = ws.split();
    let fifth = (events / 5).max(1);
    let start = Instant::now();
    let reader = tokio::spawn(async move {
        // (acked seq, seconds, cpu seconds, bytes written) at the start and at every ack
        let mut marks = vec![(0u64, 0.0, cpu_secs(pid), written_bytes(pid))];
        while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(60), rx.next()).await {
            let Message::Text(t) = m else { continue };
            let Some(seq) = field(t.as_str(), "\"seq\":").and_then(|v| v.parse::<u64>().ok()) else { continue };
            if !t.as_str().contains("\"ack\"") {
                continue;
            }
            marks.push((seq, start.elapsed().as_secs_f64(), cpu_secs(pid), written_bytes(pid)));
            if seq >= events {
                break;
            }
        }
        marks
    });
    for seq in 1..=events {
        let id = if distinct { seq } else { seq % 500 + 1 };
        tx.feed(Message::Text(ingest_event(seq, id).into())).await.expect("publish");
        if seq % 64 == 0 {
            tx.flush().await.expect("publish");
        }
    }
    tx.flush().await.expect("publish");
    let marks = reader.await.expect("ack reader");
    let mut metrics = BTreeMap::new();
    let (first, last) = (marks[0], *marks.last().expect("a start mark"));
    metrics.insert("acked_pct", last.0.min(events) as f64 * 100.0 / events as f64);
    metrics.insert("acks_per_sec", last.0 as f64 / (last.1 - first.1).max(1e-6));
    // per event between two acks: rate, CPU ms, bytes written
    let span = |a: (u64, f64, f64, f64), b: (u64, f64, f64, f64)| {
        let n = b.0.saturating_sub(a.0).max(1) as f64;
        (n / (b.1 - a.1).max(1e-6), (b.2 - a.2) * 1e3 / n, (b.3 - a.3) / n)
    };
    // the first fifth: from the start to the first ack that covers it; the last: from
    // the last ack before the last fifth began to the end (acks come in batches, so
    // these stretches are at least a fifth long)
    let head = marks.iter().copied().find(|m| m.0 >= fifth);
    let tail_start = marks.iter().copied().rev().find(|m| m.0 <= last.0.saturating_sub(fifth));
    if let (Some(h), Some(t)) = (head, tail_start) {
        let (r0, c0, w0) = span(first, h);
        let (r1, c1, w1) = span(t, last);
        metrics.insert("acks_per_sec_first_fifth", r0);
        metrics.insert("acks_per_sec_last_fifth", r1);
        metrics.insert("cpu_ms_per_event_first_fifth", c0);
        metrics.insert("cpu_ms_per_event_last_fifth", c1);
        metrics.insert("disk_bytes_per_event_first_fifth", w0);
        metrics.insert("disk_bytes_per_event_last_fifth", w1);
    }
    drop(tx);
    let kind = if distinct { "distinct_orders" } else { "500_orders" };
    Sample { scenario: format!("F_edge_ingest_{events}_{kind}"), server: Server::Edge, metrics }
}

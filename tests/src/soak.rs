//! The soak: many authenticated TLS clients on one `ibws relay` process, fed a steady
//! event flow through the relay's real ingest (`/bridge/ws`), for a long time.
//!
//! The publisher speaks the bridge's uplink protocol and stamps every event's
//! `timestamp` with the time it sends it; each client checks that seqs arrive without
//! gaps and measures latency from that stamp. Every `sample` the relay's RSS is read
//! from `/proc`; every minute one line reports RSS, live connections, deliveries and
//! latency percentiles. A connection the soak did not close on purpose must never
//! drop. `ibws-soak` runs it from the command line (10,000 clients, 10 minutes);
//! `tests/tests/soak.rs` runs a short one in the suite.

use std::path::PathBuf;
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

use crate::latency::{field, parse_timestamp_us, raise_fd_limit, unix_us, Histogram};
use crate::process::{wait_port, Proc};
use crate::{free_port, TestKeys};

#[derive(Clone, Debug)]
pub struct SoakConfig {
    pub clients: usize,
    pub duration: Duration,
    /// Events per second from the publisher.
    pub rate: u32,
    /// How often RSS is sampled.
    pub sample: Duration,
    /// Handshakes in flight while the clients connect.
    pub connect_parallelism: usize,
    pub ibws: PathBuf,
    pub work_dir: PathBuf,
}

/// One minute (or the last, shorter, period) of the run.
#[derive(Clone, Debug)]
pub struct Period {
    pub minute: u32,
    pub rss_bytes: u64,
    pub connections: u64,
    pub delivered: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

#[derive(Clone, Debug, Default)]
pub struct SoakReport {
    pub clients: usize,
    pub connected: u64,
    pub seconds: f64,
    pub published: u64,
    pub delivered: u64,
    /// Connections that closed or failed although the soak never closed them.
    pub lost_connections: u64,
    /// Events a client never received (seq gaps).
    pub lost_events: u64,
    pub rss_start: u64,
    pub rss_end: u64,
    /// Least-squares slope of RSS over the steady phase, bytes per minute.
    pub rss_slope_per_min: f64,
    /// (seconds since the steady phase began, RSS bytes)
    pub rss_samples: Vec<(f64, u64)>,
    pub periods: Vec<Period>,
}

impl SoakReport {
    pub fn summary(&self) -> String {
        let p99: Vec<String> = self.periods.iter().map(|p| format!("{:.2}", p.p99_us as f64 / 1000.0)).collect();
        format!(
            "soak: clients={} connected={} seconds={:.0} published={} delivered={} lost_connections={} lost_events={} \
             rss_start_mib={:.1} rss_end_mib={:.1} rss_slope_kib_per_min={:.1} bytes_per_conn={} p99_ms_per_minute=[{}]",
            self.clients,
            self.connected,
            self.seconds,
            self.published,
            self.delivered,
            self.lost_connections,
            self.lost_events,
            self.rss_start as f64 / 1048576.0,
            self.rss_end as f64 / 1048576.0,
            self.rss_slope_per_min / 1024.0,
            if self.connected > 0 { self.rss_end.saturating_sub(self.rss_start) / self.connected } else { 0 },
            p99.join(","),
        )
    }
}

#[derive(Default)]
struct Counters {
    connected: AtomicU64,
    live: AtomicU64,
    lost_connections: AtomicU64,
    delivered: AtomicU64,
    lost_events: AtomicU64,
}

fn ws_config() -> WebSocketConfig {
    // A soak client reads small frames: a small read buffer keeps 10,000 of them cheap.
    WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0)
}

async fn client(
    url: String,
    tls: Arc<rustls::ClientConfig>,
    token: String,
    counters: Arc<Counters>,
    hist: Arc<Histogram>,
    stop: tokio::sync::watch::Receiver<bool>,
    // held until the client is subscribed (or failed): bounds handshakes in flight
    permit: tokio::sync::OwnedSemaphorePermit,
) -> bool {
    let req = url.into_client_request().expect("request");
    let connect =
        tokio_tungstenite::connect_async_tls_with_config(req, Some(ws_config()), true, Some(Connector::Rustls(tls)));
    let Ok(Ok((mut ws, _))) = tokio::time::timeout(Duration::from_secs(30), connect).await else { return false };
    let auth = format!(r#"{{"type":"auth","token":"{token}"}}"#);
    if ws.send(Message::Text(auth.into())).await.is_err()
        || ws.send(Message::Text(r#"{"type":"subscribe","message_types":["order_update"]}"#.into())).await.is_err()
    {
        return false;
    }
    // ready once the subscription is confirmed
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) if t.as_str().contains("\"subscription\"") => break,
            Ok(Some(Ok(_))) => continue,
            _ => return false,
        }
    }
    drop(permit);
    counters.connected.fetch_add(1, Ordering::Relaxed);
    counters.live.fetch_add(1, Ordering::Relaxed);
    let mut last_seq: Option<u64> = None;
    let mut stop = stop;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            m = ws.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    let t = t.as_str();
                    if let (Some(seq), Some(ts)) = (field(t, "\"seq\":"), field(t, "\"timestamp\":")) {
                        let now = unix_us();
                        if let (Ok(seq), Some(sent)) = (seq.parse::<u64>(), parse_timestamp_us(ts)) {
                            if let Some(l) = last_seq {
                                if seq > l + 1 {
                                    counters.lost_events.fetch_add(seq - l - 1, Ordering::Relaxed);
                                }
                            }
                            last_seq = Some(seq);
                            counters.delivered.fetch_add(1, Ordering::Relaxed);
                            hist.record((now - sent).max(0) as u64);
                        }
                    }
                }
                Some(Ok(_)) => {}
                // the server closed it, or the socket failed: not on purpose
                Some(Err(_)) | None => {
                    counters.live.fetch_sub(1, Ordering::Relaxed);
                    counters.lost_connections.fetch_add(1, Ordering::Relaxed);
                    return true;
                }
            }
        }
    }
    counters.live.fetch_sub(1, Ordering::Relaxed);
    let _ = ws.close(None).await;
    true
}

/// An order_update of about 310 bytes, stamped now.
fn publish_frame(seq: u64) -> String {
    let ts = format_timestamp(unix_us(), 0);
    let id = seq % 500 + 1;
    format!(
        r#"{{"type":"publish","event":{{"type":"order_update","data":{{"order_id":{id},"symbol":"AAPL","action":"BUY","quantity":100,"order_type":"LMT","status":"Submitted","filled":0,"remaining":100,"avg_fill_price":0,"price":187.25,"perm_id":{perm},"account":"DU1234567","client_id":0,"order_ref":"soak"}},"timestamp":"{ts}","seq":{seq},"epoch":"soak"}}}}"#,
        perm = 1_000_000 + id
    )
}

async fn publisher(
    url: String,
    tls: Arc<rustls::ClientConfig>,
    token: String,
    rate: u32,
    published: Arc<AtomicU64>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let req = url.into_client_request().expect("request");
    let (mut ws, _) = tokio_tungstenite::connect_async_tls_with_config(req, None, true, Some(Connector::Rustls(tls)))
        .await
        .expect("publisher connects to /bridge/ws");
    let hello = format!(r#"{{"type":"hello","token":"{token}","epoch":"soak","seq":0,"version":"soak"}}"#);
    ws.send(Message::Text(hello.into())).await.expect("hello");
    let snap = r#"{"type":"snapshot","epoch":"soak","seq":0,"orders":[],"accounts":[],"source_connected":true}"#;
    ws.send(Message::Text(snap.into())).await.expect("snapshot");
    let mut t = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seq = 0;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = t.tick() => {
                seq += 1;
                if ws.send(Message::Text(publish_frame(seq).into())).await.is_err() {
                    panic!("the relay dropped the publisher");
                }
                published.store(seq, Ordering::Relaxed);
            }
            // welcome and acks
            m = ws.next() => if m.is_none() { panic!("the relay closed the publisher") },
        }
    }
}

fn slope_per_min(samples: &[(f64, u64)]) -> f64 {
    let n = samples.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let mx = samples.iter().map(|s| s.0).sum::<f64>() / n;
    let my = samples.iter().map(|s| s.1 as f64).sum::<f64>() / n;
    let cov: f64 = samples.iter().map(|s| (s.0 - mx) * (s.1 as f64 - my)).sum();
    let var: f64 = samples.iter().map(|s| (s.0 - mx).powi(2)).sum();
    if var == 0.0 {
        0.0
    } else {
        cov / var * 60.0
    }
}

/// Runs the soak; progress goes to stderr.
pub async fn run(cfg: SoakConfig) -> SoakReport {
    raise_fd_limit();
    std::fs::create_dir_all(&cfg.work_dir).expect("work dir");
    let secret = format!("soak-secret-{:032x}", unix_us());
    let keys = TestKeys::hs256(&secret);
    let secret_file = cfg.work_dir.join("jwt.secret");
    std::fs::write(&secret_file, &secret).expect("write secret");
    let (ca, cert, key) = ibws_bridge::tls::self_signed(&["localhost"]).expect("certificate");
    let (cert_file, key_file) = (cfg.work_dir.join("cert.pem"), cfg.work_dir.join("key.pem"));
    std::fs::write(&cert_file, &cert).expect("write cert");
    std::fs::write(&key_file, &key).expect("write key");
    let port = free_port();
    let big = (cfg.clients * 2 + 100).to_string();
    let args: Vec<String> = [
        "relay",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--tls-cert",
        &cert_file.display().to_string(),
        "--tls-key",
        &key_file.display().to_string(),
        "--jwt-secret-file",
        &secret_file.display().to_string(),
        "--max-connections",
        &big,
        "--max-per-ip",
        &big,
        "--max-per-subject",
        &big,
        "--max-clients-per-tenant",
        &big,
        "--handshake-burst",
        &big,
        "--handshakes-per-sec",
        &big,
        "--max-pending-per-ip",
        &big,
        "--metrics-listen",
        "127.0.0.1:0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let relay = Proc::spawn(&cfg.ibws, &args, &cfg.work_dir.join("relay.log"));
    wait_port(port);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_start = relay.rss_bytes().unwrap_or(0);
    let tls = ibws_bridge::tls::client_config(Some(ca.as_bytes())).expect("client TLS");
    let counters = Arc::new(Counters::default());
    let hist = Arc::new(Histogram::new());
    let published = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);

    tokio::spawn(publisher(
        format!("wss://localhost:{port}/bridge/ws"),
        tls.clone(),
        keys.token("soak-bridge", Role::Bridge, "desk1", &[]),
        cfg.rate,
        published.clone(),
        stop_rx.clone(),
    ));

    let token = keys.token("soak-client", Role::Client, "desk1", &[]);
    let url = format!("wss://localhost:{port}/websocket/ws");
    let t0 = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(cfg.connect_parallelism.max(1)));
    let mut tasks = Vec::with_capacity(cfg.clients);
    for _ in 0..cfg.clients {
        let permit = gate.clone().acquire_owned().await.expect("semaphore");
        let (url, tls, token, c, h, stop) =
            (url.clone(), tls.clone(), token.clone(), counters.clone(), hist.clone(), stop_rx.clone());
        tasks.push(tokio::spawn(client(url, tls, token, c, h, stop, permit)));
    }
    while counters.connected.load(Ordering::Relaxed) + counters.lost_connections.load(Ordering::Relaxed)
        < cfg.clients as u64
        && t0.elapsed() < Duration::from_secs(600)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let connected = counters.connected.load(Ordering::Relaxed);
    eprintln!(
        "soak: {connected}/{} clients subscribed in {:.1}s; relay RSS {:.1} MiB",
        cfg.clients,
        t0.elapsed().as_secs_f64(),
        relay.rss_bytes().unwrap_or(0) as f64 / 1048576.0
    );
    hist.take(); // latencies from the ramp-up are not the steady state

    let steady = Instant::now();
    let mut report = SoakReport { clients: cfg.clients, connected, rss_start, ..SoakReport::default() };
    let mut minute = 0;
    let mut minute_start = Instant::now();
    let mut delivered_at_minute = counters.delivered.load(Ordering::Relaxed);
    while steady.elapsed() < cfg.duration {
        let left = cfg.duration.saturating_sub(steady.elapsed());
        tokio::time::sleep(cfg.sample.min(left)).await;
        let rss = relay.rss_bytes().unwrap_or(0);
        report.rss_samples.push((steady.elapsed().as_secs_f64(), rss));
        let period_over = minute_start.elapsed() >= Duration::from_secs(60) || steady.elapsed() >= cfg.duration;
        if period_over {
            minute += 1;
            let (_, p50, p99, max) = hist.take();
            let delivered = counters.delivered.load(Ordering::Relaxed);
            let p = Period {
                minute,
                rss_bytes: rss,
                connections: counters.live.load(Ordering::Relaxed),
                delivered: delivered - delivered_at_minute,
                p50_us: p50,
                p99_us: p99,
                max_us: max,
            };
            eprintln!(
                "soak: minute={} rss_mib={:.1} connections={} delivered={} p50_ms={:.2} p99_ms={:.2} max_ms={:.2} lost_connections={}",
                p.minute,
                p.rss_bytes as f64 / 1048576.0,
                p.connections,
                p.delivered,
                p.p50_us as f64 / 1000.0,
                p.p99_us as f64 / 1000.0,
                p.max_us as f64 / 1000.0,
                counters.lost_connections.load(Ordering::Relaxed),
            );
            report.periods.push(p);
            delivered_at_minute = delivered;
            minute_start = Instant::now();
        }
    }
    report.seconds = steady.elapsed().as_secs_f64();
    report.rss_end = relay.rss_bytes().unwrap_or(0);
    report.rss_slope_per_min = slope_per_min(&report.rss_samples);
    report.published = published.load(Ordering::Relaxed);
    report.lost_connections = counters.lost_connections.load(Ordering::Relaxed);
    report.lost_events = counters.lost_events.load(Ordering::Relaxed);
    report.delivered = counters.delivered.load(Ordering::Relaxed);
    stop_tx.send_replace(true);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    drop(relay);
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        for us in [0i64, 1_700_000_000_123_456, 1_764_579_600_000_001, 951_782_400_000_000] {
            assert_eq!(parse_timestamp_us(&format_timestamp(us, 0)), Some(us));
        }
        assert_eq!(field(r#"{"seq":42,"x":1}"#, "\"seq\":"), Some("42"));
        assert_eq!(
            field(r#"{"timestamp":"2025-01-01T00:00:00.000001"}"#, "\"timestamp\":"),
            Some("2025-01-01T00:00:00.000001")
        );
    }

    #[test]
    fn histogram_percentiles() {
        let h = Histogram::new();
        for us in 1..=100 {
            h.record(us * 100);
        }
        let (n, p50, p99, max) = h.take();
        assert_eq!((n, p50, p99, max), (100, 5_000, 9_900, 10_000));
        assert_eq!(h.take().0, 0);
    }

    #[test]
    fn slope() {
        let s: Vec<(f64, u64)> = (0..10).map(|i| (i as f64 * 6.0, 1000 + i * 100)).collect();
        assert!((slope_per_min(&s) - 1000.0).abs() < 1e-6);
    }
}

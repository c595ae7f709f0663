//! The connection driver: the codec on a tokio socket, kept alive on its own.
//!
//! Connect, handshake, startApi, wait for nextValidId (TWS drops requests sent before
//! it), then ask for everything the bridge needs: with client id 0,
//! reqAutoOpenOrders(true) so orders typed into TWS bind to us; reqAllOpenOrders,
//! reqCompletedOrders, reqExecutions, reqAccountUpdates per account, reqPositions and
//! market data for the watchlist. Orders that *other API clients* (an MCP agent, say)
//! place stream live only to TWS's "Master API client ID": set it to the bridge's
//! client id in TWS (Global Configuration > API > Settings) to see them as they happen;
//! without it they still appear at every reqAllOpenOrders (after each reconnect).
//!
//! After a lost socket or a TWS restart (daily), the driver reconnects with full-jitter
//! backoff and asks for everything again; the order state above it turns the replayed
//! orders into "no change" rather than new orders. 1101 (connectivity restored, data
//! lost) re-requests the subscriptions; 1100 / 1102 and the data-farm notices are
//! passed up, never a reason to drop the socket. An idle link is probed with
//! reqCurrentTime, and a link silent past the deadline is treated as dead. Sends go
//! through [`Throttle`] (50 messages/s).

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::frame::split_fields;
use super::handshake::{client_hello, parse_server_hello};
use super::incoming::{decode, Incoming};
use super::outgoing::{ExecutionFilter, Request};
use super::throttle::Throttle;
use super::types::Contract;
use super::FrameDecoder;
use ibws_shared::backoff::Backoff;

/// What the driver needs to know.
#[derive(Clone, Debug)]
pub struct DriverConfig {
    /// `host:port` of TWS or IB Gateway.
    pub addr: String,
    pub client_id: i64,
    /// Accounts to follow; empty means every managed account.
    pub accounts: Vec<String>,
    /// Symbols (US stocks on SMART) to stream market data for.
    pub watch: Vec<String>,
    pub connect_timeout: Duration,
    /// How long to wait for nextValidId after startApi.
    pub ready_timeout: Duration,
    /// Probe with reqCurrentTime after this much silence...
    pub idle_probe: Duration,
    /// ...and give the socket up after this much.
    pub dead_after: Duration,
    pub backoff: Backoff,
    pub max_msgs_per_sec: usize,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            addr: "127.0.0.1:7497".into(),
            client_id: 0,
            accounts: vec![],
            watch: vec![],
            connect_timeout: Duration::from_secs(5),
            ready_timeout: Duration::from_secs(10),
            idle_probe: Duration::from_secs(30),
            dead_after: Duration::from_secs(75),
            backoff: Backoff { base_ms: 250, cap_ms: 30_000 },
            max_msgs_per_sec: 50,
        }
    }
}

/// What happened on the link.
#[derive(Clone, Debug, PartialEq)]
pub enum LinkEvent {
    /// Trying to connect (attempt counts from 0 since the last success).
    Connecting { attempt: u32 },
    /// Handshake done and nextValidId received: requests are flowing.
    Connected { server_version: i32, connection_time: String, accounts: Vec<String>, next_valid_id: i64 },
    /// A decoded TWS message.
    Message(Incoming),
    /// A frame that did not decode; the connection goes on.
    Malformed { msg_id: String, error: String },
    /// The socket is gone; the driver will reconnect.
    Disconnected { reason: String },
}

/// A running driver.
pub struct DriverHandle {
    requests: mpsc::Sender<Request>,
    task: tokio::task::JoinHandle<()>,
}

impl DriverHandle {
    /// Queues a request (placeOrder, cancelOrder, ...) for the current connection.
    pub async fn send(&self, r: Request) -> bool {
        self.requests.send(r).await.is_ok()
    }

    pub fn abort(&self) {
        self.task.abort();
    }
}

impl Drop for DriverHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the driver; events go to `events` until the handle is dropped.
pub fn spawn(cfg: DriverConfig, events: mpsc::Sender<LinkEvent>) -> DriverHandle {
    let (tx, rx) = mpsc::channel(1024);
    let task = tokio::spawn(run(cfg, events, rx));
    DriverHandle { requests: tx, task }
}

async fn run(cfg: DriverConfig, events: mpsc::Sender<LinkEvent>, mut requests: mpsc::Receiver<Request>) {
    let mut attempt = 0u32;
    loop {
        if events.send(LinkEvent::Connecting { attempt }).await.is_err() {
            return;
        }
        let reason = match session(&cfg, &events, &mut requests, &mut attempt).await {
            Ok(()) => return, // consumer gone
            Err(reason) => reason,
        };
        if events.send(LinkEvent::Disconnected { reason: reason.clone() }).await.is_err() {
            return;
        }
        let delay = Duration::from_millis(cfg.backoff.delay_ms(attempt, rand::random::<f64>()));
        info!(%reason, attempt, delay_ms = delay.as_millis() as u64, "TWS link down; reconnecting");
        attempt = attempt.saturating_add(1);
        tokio::time::sleep(delay).await;
    }
}

/// The requests that (re)build the bridge's view of TWS.
pub fn startup_requests(cfg: &DriverConfig, accounts: &[String]) -> Vec<Request> {
    let mut v = Vec::new();
    if cfg.client_id == 0 {
        v.push(Request::ReqAutoOpenOrders { auto_bind: true });
    }
    v.push(Request::ReqAllOpenOrders);
    v.push(Request::ReqCompletedOrders { api_only: false });
    v.push(Request::ReqExecutions { req_id: EXECUTIONS_REQ_ID, filter: ExecutionFilter::default() });
    v.extend(subscriptions(cfg, accounts));
    v
}

/// The request id of the startup reqExecutions.
pub const EXECUTIONS_REQ_ID: i64 = 9_001;
/// Market data for watchlist entry `i` uses request id `MARKET_DATA_REQ_ID + i`.
pub const MARKET_DATA_REQ_ID: i64 = 10_000;

/// Account, position and market-data subscriptions (re-sent after 1101).
fn subscriptions(cfg: &DriverConfig, accounts: &[String]) -> Vec<Request> {
    let mut v = Vec::new();
    let follow: Vec<&String> =
        if cfg.accounts.is_empty() { accounts.iter().collect() } else { cfg.accounts.iter().collect() };
    // TWS streams one account at a time per client; with several, the last wins, so
    // the bridge follows the first and relies on reqPositions for the others.
    if let Some(a) = follow.first() {
        v.push(Request::ReqAccountUpdates { subscribe: true, account: (*a).clone() });
    }
    v.push(Request::ReqPositions);
    for (i, sym) in cfg.watch.iter().enumerate() {
        v.push(Request::ReqMktData {
            req_id: MARKET_DATA_REQ_ID + i as i64,
            contract: Contract {
                symbol: sym.clone(),
                sec_type: "STK".into(),
                exchange: "SMART".into(),
                currency: "USD".into(),
                ..Contract::default()
            },
            generic_ticks: String::new(),
            snapshot: false,
        });
    }
    v
}

/// The watched symbol a market-data request id stands for.
pub fn watch_symbol(watch: &[String], req_id: i64) -> Option<&str> {
    let i = req_id.checked_sub(MARKET_DATA_REQ_ID)?;
    watch.get(usize::try_from(i).ok()?).map(String::as_str)
}

struct Conn {
    stream: TcpStream,
    dec: FrameDecoder,
    buf: Vec<u8>,
    throttle: Throttle,
    version: i32,
    last_rx: Instant,
}

impl Conn {
    async fn read_frame(&mut self, deadline: Duration) -> Result<Vec<String>, String> {
        loop {
            if let Some(f) = self.dec.next_frame().map_err(|e| e.to_string())? {
                self.last_rx = Instant::now();
                return Ok(split_fields(&f));
            }
            let n = tokio::time::timeout(deadline, self.stream.read(&mut self.buf))
                .await
                .map_err(|_| "timed out waiting for TWS".to_owned())?
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("TWS closed the connection".into());
            }
            self.dec.extend(&self.buf[..n]);
        }
    }

    async fn send(&mut self, r: &Request) -> Result<(), String> {
        let wait = self.throttle.delay(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        self.throttle.record(Instant::now());
        self.stream.write_all(&r.encode(self.version)).await.map_err(|e| format!("write: {e}"))
    }
}

async fn session(
    cfg: &DriverConfig,
    events: &mpsc::Sender<LinkEvent>,
    requests: &mut mpsc::Receiver<Request>,
    attempt: &mut u32,
) -> Result<(), String> {
    let stream = tokio::time::timeout(cfg.connect_timeout, TcpStream::connect(&cfg.addr))
        .await
        .map_err(|_| format!("connect to {} timed out", cfg.addr))?
        .map_err(|e| format!("cannot connect to {}: {e}", cfg.addr))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut c = Conn {
        stream,
        dec: FrameDecoder::new(),
        buf: vec![0; 64 * 1024],
        throttle: Throttle::new(cfg.max_msgs_per_sec),
        version: 0,
        last_rx: Instant::now(),
    };
    c.stream.write_all(&client_hello()).await.map_err(|e| format!("write: {e}"))?;
    let hello = c.read_frame(cfg.ready_timeout).await?;
    let (version, connection_time) = parse_server_hello(&hello)
        .ok_or_else(|| "TWS answered the handshake with an unsupported version".to_owned())?;
    c.version = version;
    c.send(&Request::StartApi { client_id: cfg.client_id, optional_capabilities: String::new() }).await?;

    // Wait for nextValidId; keep what arrives before it.
    let mut accounts = Vec::new();
    let mut early = Vec::new();
    let ready_by = Instant::now() + cfg.ready_timeout;
    let next_valid_id = loop {
        let left = ready_by.saturating_duration_since(Instant::now());
        let fields = c.read_frame(left).await.map_err(|e| format!("{e} (before nextValidId)"))?;
        match decode(version, &fields) {
            Ok(Incoming::NextValidId(id)) => break id,
            Ok(Incoming::ManagedAccounts(a)) => accounts = a,
            Ok(Incoming::Error(e)) if e.code == 326 => {
                let _ = events.send(LinkEvent::Message(Incoming::Error(e))).await;
                return Err(format!("client id {} is already in use", cfg.client_id));
            }
            Ok(m) => early.push(m),
            Err(e) => warn!(error = %e, "malformed frame before nextValidId"),
        }
    };
    *attempt = 0;
    info!(server_version = version, %connection_time, ?accounts, "connected to TWS");
    if events
        .send(LinkEvent::Connected {
            server_version: version,
            connection_time,
            accounts: accounts.clone(),
            next_valid_id,
        })
        .await
        .is_err()
    {
        return Ok(());
    }
    for m in early {
        if events.send(LinkEvent::Message(m)).await.is_err() {
            return Ok(());
        }
    }
    for r in startup_requests(cfg, &accounts) {
        c.send(&r).await?;
    }

    let mut probe = tokio::time::interval(cfg.idle_probe.min(Duration::from_secs(5)).max(Duration::from_millis(100)));
    probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            // read_frame is cancel-safe: buffered bytes live in `c`, and the socket
            // read gives up nothing when dropped before it completes.
            frame = c.read_frame(Duration::from_secs(3600)) => {
                let fields = frame?;
                match decode(version, &fields) {
                    Ok(Incoming::Other(id)) => debug!(id, "skipping TWS message id ibws does not use"),
                    Ok(m) => {
                        let resubscribe = matches!(&m, Incoming::Error(e) if e.code == 1101);
                        if events.send(LinkEvent::Message(m)).await.is_err() {
                            return Ok(());
                        }
                        if resubscribe {
                            info!("TWS restored connectivity with data lost (1101): resubscribing");
                            for r in subscriptions(cfg, &accounts) {
                                c.send(&r).await?;
                            }
                        }
                    }
                    Err(e) => {
                        let msg_id = fields.first().cloned().unwrap_or_default();
                        warn!(%msg_id, error = %e, "malformed TWS frame skipped");
                        if events.send(LinkEvent::Malformed { msg_id, error: e.to_string() }).await.is_err() {
                            return Ok(());
                        }
                    }
                }
            }
            r = requests.recv() => match r {
                Some(r) => c.send(&r).await?,
                None => return Ok(()),
            },
            _ = probe.tick() => {
                if c.last_rx.elapsed() >= cfg.dead_after {
                    return Err(format!("TWS silent for {:?}", c.last_rx.elapsed()));
                }
                if c.last_rx.elapsed() >= cfg.idle_probe {
                    c.send(&Request::ReqCurrentTime).await?;
                }
            }
        }
    }
}

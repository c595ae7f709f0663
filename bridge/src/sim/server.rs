//! The simulator's TWS-compatible socket server.
//!
//! Each API connection gets the real handshake (server version, connection time),
//! then startApi, managedAccounts, nextValidId and the data-farm notices; requests are
//! answered from the [`Engine`]; events the engine produces are routed to sessions by
//! audience. Faults (dropped sockets, restarts, connectivity notices) are methods on
//! [`Simulator`] so tests and the demo can inject them.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch};
use tracing::{debug, info, warn};

use super::engine::{ib_time, Audience, Engine, SimEvent, SimOrder};
use crate::tws::frame::split_fields;
use crate::tws::handshake::{parse_client_range, server_hello};
use crate::tws::outgoing::OrderTicket;
use crate::tws::types::{Contract, TwsError};
use crate::tws::{FrameDecoder, Incoming, Request};

/// How the simulator runs.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub listen: SocketAddr,
    /// Seed of the random order flow and market data.
    pub seed: u64,
    pub account: String,
    /// Interval of the random order flow; `None` for scripted use only.
    pub flow_interval: Option<Duration>,
    /// Highest server version to answer with (the captures' TWS answered 176).
    pub server_version: i32,
    /// The client id that receives every client's order events (TWS's "Master API
    /// client ID" setting).
    pub master_client_id: i64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: "127.0.0.1:7497".parse().expect("valid address"),
            seed: 1,
            account: "DU1234567".into(),
            flow_interval: None,
            server_version: 176,
            master_client_id: 0,
        }
    }
}

struct Inner {
    cfg: SimConfig,
    engine: Mutex<Engine>,
    events: broadcast::Sender<Arc<SimEvent>>,
    generation: watch::Sender<u64>,
    accepting: AtomicBool,
    client_ids: Mutex<HashSet<i64>>,
    flow_on: AtomicBool,
    connection_time: Mutex<String>,
    addr: SocketAddr,
}

/// A running simulator. Cloning gives another handle to the same one.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

impl Simulator {
    /// Binds and starts serving (and, if configured, the random order flow).
    pub async fn start(cfg: SimConfig) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind(cfg.listen).await?;
        let addr = listener.local_addr()?;
        let (events, _) = broadcast::channel(8192);
        let inner = Arc::new(Inner {
            engine: Mutex::new(Engine::new(cfg.seed, &cfg.account)),
            events,
            generation: watch::channel(0).0,
            accepting: AtomicBool::new(true),
            client_ids: Mutex::new(HashSet::new()),
            flow_on: AtomicBool::new(true),
            connection_time: Mutex::new(ib_time(unix_now())),
            addr,
            cfg,
        });
        let sim = Simulator { inner };
        info!(%addr, "TWS simulator listening");
        let s = sim.clone();
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, peer)) => {
                        if !s.inner.accepting.load(Ordering::SeqCst) {
                            drop(stream); // "TWS is restarting"
                            continue;
                        }
                        let s2 = s.clone();
                        tokio::spawn(async move {
                            if let Err(e) = s2.session(stream).await {
                                debug!(%peer, error = %e, "simulator session ended");
                            }
                        });
                    }
                    Err(e) => warn!(error = %e, "simulator accept failed"),
                }
            }
        });
        if let Some(every) = sim.inner.cfg.flow_interval {
            let s = sim.clone();
            tokio::spawn(async move {
                let mut t = tokio::time::interval(every);
                loop {
                    t.tick().await;
                    if s.inner.flow_on.load(Ordering::SeqCst) {
                        s.apply(|e| e.random_step());
                    }
                }
            });
        }
        Ok(sim)
    }

    /// Pauses or resumes the random order flow.
    pub fn set_flow(&self, on: bool) {
        self.inner.flow_on.store(on, Ordering::SeqCst);
    }

    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    pub fn account(&self) -> String {
        self.inner.cfg.account.clone()
    }

    /// Runs an engine operation and routes what it caused.
    pub fn apply<T: IntoIterator<Item = SimEvent>>(&self, f: impl FnOnce(&mut Engine) -> T) {
        let events: Vec<SimEvent> = {
            let mut e = self.inner.engine.lock().expect("engine lock");
            e.set_time(unix_now());
            f(&mut e).into_iter().collect()
        };
        for ev in events {
            let _ = self.inner.events.send(Arc::new(ev));
        }
    }

    /// Every order the simulator holds (the truth tests compare against).
    pub fn orders(&self) -> Vec<SimOrder> {
        self.inner.engine.lock().expect("engine lock").orders().cloned().collect()
    }

    /// Places an order as if typed into TWS (owner 0) or sent by API client `owner`;
    /// returns its perm id.
    pub fn place(&self, owner: i64, symbol: &str, ticket: OrderTicket) -> i64 {
        let mut perm = 0;
        self.apply(|e| {
            let id = e.next_valid_id();
            let contract = e.contract_for(symbol).unwrap_or_else(|| Contract::stock(symbol, 0));
            let out = e.place(owner, id, contract, ticket);
            perm = e
                .orders()
                .find(|o| o.order.client_id == owner && o.order.order_id == id)
                .map(|o| o.order.perm_id)
                .unwrap_or(0);
            out
        });
        perm
    }

    pub fn submit(&self, perm: i64) {
        self.apply(|e| e.submit(perm));
    }
    pub fn fill(&self, perm: i64, qty: f64, price: f64) {
        self.apply(|e| e.fill(perm, qty, price));
    }
    pub fn modify(&self, perm: i64, price: Option<f64>, qty: Option<f64>) {
        self.apply(|e| e.modify(perm, price, qty));
    }
    pub fn cancel(&self, perm: i64) {
        self.apply(|e| e.cancel(perm));
    }
    pub fn reject(&self, perm: i64, reason: &str) {
        self.apply(|e| e.reject(perm, reason));
    }
    pub fn random_step(&self) {
        self.apply(|e| e.random_step());
    }

    /// Fault: every API socket is dropped (TWS crashed or the network blinked).
    pub fn drop_connections(&self) {
        self.inner.generation.send_modify(|g| *g += 1);
    }

    /// Fault: TWS restarts: sockets drop, connections are refused for `downtime`, then
    /// a new session starts (new connection time; order ids and orders carry on).
    pub async fn restart(&self, downtime: Duration) {
        self.inner.accepting.store(false, Ordering::SeqCst);
        self.drop_connections();
        tokio::time::sleep(downtime).await;
        *self.inner.connection_time.lock().expect("lock") = ib_time(unix_now());
        self.inner.accepting.store(true, Ordering::SeqCst);
    }

    /// Fault: TWS lost its link to IB (1100).
    pub fn connectivity_lost(&self) {
        self.notice(1100, "Connectivity between IB and Trader Workstation has been lost.");
    }

    /// Fault over: 1101 (data lost, resubscribe) or 1102 (data kept).
    pub fn connectivity_restored(&self, data_lost: bool) {
        if data_lost {
            self.notice(1101, "Connectivity between IB and TWS has been restored- data lost.");
        } else {
            self.notice(1102, "Connectivity between IB and TWS has been restored- data maintained.");
        }
    }

    fn notice(&self, code: i64, message: &str) {
        let msg = Incoming::Error(TwsError { req_id: -1, code, message: message.into(), ..TwsError::default() });
        let _ = self.inner.events.send(Arc::new(SimEvent { audience: Audience::All, msg }));
    }

    async fn session(&self, mut stream: TcpStream) -> std::io::Result<()> {
        stream.set_nodelay(true)?;
        let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_owned());
        let mut prefix = [0u8; 4];
        stream.read_exact(&mut prefix).await?;
        if &prefix != b"API\0" {
            return Err(bad("no API prefix"));
        }
        let mut dec = FrameDecoder::new();
        let mut buf = vec![0u8; 64 * 1024];
        let range = loop {
            if let Some(f) = dec.next_frame().map_err(|e| bad(&e.to_string()))? {
                break parse_client_range(&f).ok_or_else(|| bad("bad version range"))?;
            }
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            dec.extend(&buf[..n]);
        };
        let version = range.1.min(self.inner.cfg.server_version);
        if version < range.0 {
            return Err(bad("no common server version"));
        }
        let conn_time = self.inner.connection_time.lock().expect("lock").clone();
        stream.write_all(&server_hello(version, &conn_time)).await?;

        let mut generation = self.inner.generation.subscribe();
        generation.borrow_and_update();
        let mut events = self.inner.events.subscribe();
        let mut s =
            Session { version, client_id: None, auto_open: false, accounts: HashSet::new(), market: HashMap::new() };
        let result = self.serve(&mut stream, &mut dec, &mut buf, &mut s, &mut generation, &mut events).await;
        if let Some(id) = s.client_id {
            self.inner.client_ids.lock().expect("lock").remove(&id);
        }
        result
    }

    async fn serve(
        &self,
        stream: &mut TcpStream,
        dec: &mut FrameDecoder,
        buf: &mut [u8],
        s: &mut Session,
        generation: &mut watch::Receiver<u64>,
        events: &mut broadcast::Receiver<Arc<SimEvent>>,
    ) -> std::io::Result<()> {
        loop {
            while let Some(frame) =
                dec.next_frame().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?
            {
                let fields = split_fields(&frame);
                let Ok(req) = Request::decode(&fields) else {
                    continue;
                };
                let (out, close) = self.handle(s, req);
                let bytes: Vec<u8> = out.iter().flat_map(|m| m.encode(s.version)).collect();
                stream.write_all(&bytes).await?;
                if close {
                    return Ok(()); // client id in use: TWS closes the socket
                }
            }
            tokio::select! {
                n = stream.read(buf) => {
                    let n = n?;
                    if n == 0 {
                        return Ok(());
                    }
                    dec.extend(&buf[..n]);
                }
                ev = events.recv(), if s.client_id.is_some() => {
                    match ev {
                        Ok(ev) => {
                            if let Some(m) = s.route(&ev, self.inner.cfg.master_client_id) {
                                stream.write_all(&m.encode(s.version)).await?;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => return Ok(()),
                        Err(broadcast::error::RecvError::Closed) => return Ok(()),
                    }
                }
                _ = generation.changed() => return Ok(()),
            }
        }
    }

    /// Answers one request; `true` means "then close the socket".
    fn handle(&self, s: &mut Session, req: Request) -> (Vec<Incoming>, bool) {
        let master = self.inner.cfg.master_client_id;
        let mut e = self.inner.engine.lock().expect("engine lock");
        e.set_time(unix_now());
        let mut out = Vec::new();
        match req {
            Request::StartApi { client_id, .. } => {
                if s.client_id.is_some() {
                    return (out, false);
                }
                if !self.inner.client_ids.lock().expect("lock").insert(client_id) {
                    let msg = Incoming::Error(TwsError {
                        req_id: -1,
                        code: 326,
                        message: format!("Unable to connect as the client id is already in use.  Retry with a unique client id. ({client_id})"),
                        ..TwsError::default()
                    });
                    return (vec![msg], true);
                }
                s.client_id = Some(client_id);
                out.push(Incoming::ManagedAccounts(vec![e.account.clone()]));
                out.push(Incoming::NextValidId(e.next_valid_id()));
                for (code, farm) in [
                    (2104, "Market data farm connection is OK:usfarm"),
                    (2106, "HMDS data farm connection is OK:ushmds"),
                    (2158, "Sec-def data farm connection is OK:secdefnj"),
                ] {
                    out.push(Incoming::Error(TwsError {
                        req_id: -1,
                        code,
                        message: farm.into(),
                        ..TwsError::default()
                    }));
                }
            }
            _ if s.client_id.is_none() => {} // TWS ignores requests before startApi
            Request::ReqIds { .. } => out.push(Incoming::NextValidId(e.next_valid_id())),
            Request::ReqCurrentTime => out.push(Incoming::CurrentTime(unix_now())),
            Request::ReqAutoOpenOrders { auto_bind } => {
                if s.client_id == Some(0) {
                    s.auto_open = auto_bind;
                }
            }
            Request::ReqAllOpenOrders => out.extend(e.open_orders(|_| true)),
            Request::ReqOpenOrders => {
                let me = s.client_id.unwrap_or(-1);
                out.extend(e.open_orders(|owner| owner == me || me == master));
            }
            Request::ReqCompletedOrders { .. } => out.extend(e.completed_orders()),
            Request::ReqExecutions { req_id, .. } => out.extend(e.executions(req_id)),
            Request::ReqAccountUpdates { subscribe, account } => {
                let account = if account.is_empty() { e.account.clone() } else { account };
                if subscribe {
                    s.accounts.insert(account);
                    out.extend(e.account_snapshot());
                } else {
                    s.accounts.remove(&account);
                }
            }
            Request::ReqPositions => out.extend(e.positions()),
            Request::ReqMktData { req_id, contract, .. } => {
                let con = if contract.con_id != 0 {
                    e.contract_by_id(contract.con_id)
                } else {
                    e.contract_for(&contract.symbol)
                };
                match con {
                    Some(c) => {
                        s.market.insert(c.con_id, req_id);
                        out.extend(e.quote(c.con_id).into_iter().map(|m| with_req_id(m, req_id)));
                    }
                    None => out.push(Incoming::Error(TwsError {
                        req_id,
                        code: 200,
                        message: "No security definition has been found for the request".into(),
                        ..TwsError::default()
                    })),
                }
            }
            Request::CancelMktData { req_id } => s.market.retain(|_, r| *r != req_id),
            Request::PlaceOrder { order_id, contract, ticket } => {
                let owner = s.client_id.unwrap_or(0);
                let events = e.place(owner, order_id, contract, ticket);
                drop(e);
                for ev in events {
                    let _ = self.inner.events.send(Arc::new(ev));
                }
                return (out, false);
            }
            Request::CancelOrder { order_id } => {
                let owner = s.client_id.unwrap_or(0);
                let events = e.cancel_by_id(owner, order_id);
                drop(e);
                for ev in events {
                    let _ = self.inner.events.send(Arc::new(ev));
                }
                return (out, false);
            }
            Request::Other(id) => debug!(id, "simulator ignores request"),
        }
        (out, false)
    }
}

/// One API connection's subscriptions.
struct Session {
    version: i32,
    client_id: Option<i64>,
    auto_open: bool,
    accounts: HashSet<String>,
    market: HashMap<i64, i64>, // con_id -> req_id
}

impl Session {
    fn route(&self, ev: &SimEvent, master: i64) -> Option<Incoming> {
        let me = self.client_id?;
        match &ev.audience {
            Audience::All => Some(ev.msg.clone()),
            Audience::Order { owner } => {
                let visible = *owner == me || me == master || (me == 0 && self.auto_open && *owner == 0);
                visible.then(|| ev.msg.clone())
            }
            Audience::Account(a) => self.accounts.contains(a).then(|| ev.msg.clone()),
            Audience::Market(con_id) => self.market.get(con_id).map(|r| with_req_id(ev.msg.clone(), *r)),
        }
    }
}

fn with_req_id(m: Incoming, r: i64) -> Incoming {
    match m {
        Incoming::TickPrice { tick_type, price, size, attr_mask, .. } => {
            Incoming::TickPrice { req_id: r, tick_type, price, size, attr_mask }
        }
        Incoming::TickSize { tick_type, size, .. } => Incoming::TickSize { req_id: r, tick_type, size },
        Incoming::MarketDataType { data_type, .. } => Incoming::MarketDataType { req_id: r, data_type },
        other => other,
    }
}

//! The simulator's TWS-compatible socket server.
//!
//! Each API connection is a [`SimSession`] (the real handshake, startApi,
//! managedAccounts, nextValidId and the data-farm notices, requests answered from the
//! [`Engine`]) on a tokio socket; events the engine produces are routed to sessions by
//! audience. Faults (dropped sockets, restarts, connectivity notices, a desynchronised
//! frame, huge texts) are methods on [`Simulator`] so tests and the demo can inject
//! them.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch};
use tracing::{debug, info, warn};

use super::engine::{ib_time, AccountSpec, Audience, Engine, Quirks, SimEvent, SimOrder};
use super::session::{shorten_first_length, Desk, SimSession};
use ibws_tws::text::outgoing::OrderTicket;
use ibws_tws::types::{Contract, TwsError};
use ibws_tws::Incoming;

/// How the simulator runs.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub listen: SocketAddr,
    /// Seed of the random order flow and market data.
    pub seed: u64,
    /// The account, when `accounts` is empty.
    pub account: String,
    /// Several accounts, e.g. `DU111`, `DU222:EUR` (base currency after the colon).
    pub accounts: Vec<AccountSpec>,
    /// Working orders to start the day with (volume tests).
    pub orders: usize,
    /// Real-TWS behaviours to reproduce.
    pub quirks: Quirks,
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
            accounts: vec![],
            orders: 0,
            quirks: Quirks::default(),
            flow_interval: None,
            server_version: ibws_tws::versions::MAX_CLIENT_VERSION,
            master_client_id: 0,
        }
    }
}

impl SimConfig {
    /// The engine this configuration describes.
    pub fn engine(&self) -> Engine {
        let specs = if self.accounts.is_empty() {
            vec![AccountSpec { id: self.account.clone(), base: "USD".into() }]
        } else {
            self.accounts.clone()
        };
        let mut e = Engine::with_accounts(self.seed, &specs, self.quirks.clone());
        e.seed_orders(self.orders);
        e
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
    desync_next: AtomicBool,
    connection_time: Mutex<String>,
    addr: SocketAddr,
    /// When the first event frame since [`Simulator::take_first_event_write`] last
    /// looked began to be written to an API client.
    first_event_write: Mutex<Option<std::time::Instant>>,
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
        // a session that falls this far behind is dropped (TWS drops slow API clients too)
        let (events, _) = broadcast::channel(1 << 16);
        let inner = Arc::new(Inner {
            engine: Mutex::new(cfg.engine()),
            events,
            generation: watch::channel(0).0,
            accepting: AtomicBool::new(true),
            client_ids: Mutex::new(HashSet::new()),
            flow_on: AtomicBool::new(true),
            desync_next: AtomicBool::new(false),
            connection_time: Mutex::new(ib_time(unix_now())),
            addr,
            cfg,
            first_event_write: Mutex::new(None),
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

    /// When the first event frame (a TWS message caused by [`Simulator::apply`] and its
    /// kin) written since the last call began to go out on a client's socket; `None` if
    /// none has. Latency benchmarks stamp from the frame, not from the call that made it
    /// (that call wakes the session's task first, inside the generator's own runtime).
    pub fn take_first_event_write(&self) -> Option<std::time::Instant> {
        self.inner.first_event_write.lock().expect("lock").take()
    }

    /// Pauses or resumes the random order flow.
    pub fn set_flow(&self, on: bool) {
        self.inner.flow_on.store(on, Ordering::SeqCst);
    }

    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// The first account.
    pub fn account(&self) -> String {
        self.inner.engine.lock().expect("engine lock").account.clone()
    }

    /// Every account.
    pub fn accounts(&self) -> Vec<String> {
        self.inner.engine.lock().expect("engine lock").account_ids()
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

    /// Reads the engine (account values, say) without changing it.
    pub fn with_engine<T>(&self, f: impl FnOnce(&Engine) -> T) -> T {
        f(&self.inner.engine.lock().expect("engine lock"))
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
    /// Today's executions become `days` days old (a weekend passes).
    pub fn age_executions(&self, days: i64) {
        self.apply(|e| {
            e.age_executions(days);
            Vec::new()
        });
    }
    /// Sends the commissions [`Quirks::late_commissions`] held back.
    pub fn release_commissions(&self) {
        self.apply(|e| e.release_commissions());
    }
    /// The book of `symbol` empties (bid and ask of -1, size 0).
    pub fn quote_gap(&self, symbol: &str) {
        self.apply(|e| e.quote_gap(symbol));
    }

    /// Fault: every API socket is dropped (TWS crashed or the network blinked).
    pub fn drop_connections(&self) {
        self.inner.generation.send_modify(|g| *g += 1);
    }

    /// Fault: the next frame sent to each session carries a length prefix 3 bytes
    /// short; the client is out of sync from there on.
    pub fn desync_next_frame(&self) {
        self.inner.desync_next.store(true, Ordering::SeqCst);
    }

    /// Fault: TWS restarts: sockets drop, connections are refused for `downtime`, then
    /// a new session starts (new connection time; order ids and orders carry on).
    pub async fn restart(&self, downtime: Duration) {
        self.go_down();
        tokio::time::sleep(downtime).await;
        self.come_back();
    }

    /// The first half of a restart: sockets drop and connections are refused until
    /// [`Simulator::come_back`]; the engine runs on (fills while the bridge is away).
    pub fn go_down(&self) {
        self.inner.accepting.store(false, Ordering::SeqCst);
        self.drop_connections();
    }

    /// The second half of a restart: a new session (new connection time).
    pub fn come_back(&self) {
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

    /// An error message to every session (any code, any text: a 10 MB one too).
    pub fn notice(&self, code: i64, message: &str) {
        let msg = Incoming::Error(TwsError { req_id: -1, code, message: message.into(), ..TwsError::default() });
        let _ = self.inner.events.send(Arc::new(SimEvent { audience: Audience::All, msg }));
    }

    fn desk<'a>(&self, engine: &'a mut Engine, client_ids: &'a mut HashSet<i64>, conn_time: &'a str) -> Desk<'a> {
        Desk {
            engine,
            client_ids,
            max_version: self.inner.cfg.server_version,
            connection_time: conn_time,
            master_client_id: self.inner.cfg.master_client_id,
            now_unix: unix_now(),
        }
    }

    async fn session(&self, mut stream: TcpStream) -> std::io::Result<()> {
        stream.set_nodelay(true)?;
        let mut generation = self.inner.generation.subscribe();
        generation.borrow_and_update();
        let mut events = self.inner.events.subscribe();
        let mut s = SimSession::new();
        let result = self.serve(&mut stream, &mut s, &mut generation, &mut events).await;
        s.release(&mut self.inner.client_ids.lock().expect("lock"));
        result
    }

    async fn serve(
        &self,
        stream: &mut TcpStream,
        s: &mut SimSession,
        generation: &mut watch::Receiver<u64>,
        events: &mut broadcast::Receiver<Arc<SimEvent>>,
    ) -> std::io::Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            tokio::select! {
                n = stream.read(&mut buf) => {
                    let n = n?;
                    if n == 0 {
                        return Ok(());
                    }
                    let reply = {
                        let conn_time = self.inner.connection_time.lock().expect("lock").clone();
                        let mut engine = self.inner.engine.lock().expect("engine lock");
                        let mut ids = self.inner.client_ids.lock().expect("lock");
                        let mut desk = self.desk(&mut engine, &mut ids, &conn_time);
                        s.on_bytes(&buf[..n], &mut desk)
                    };
                    stream.write_all(&reply.bytes).await?;
                    for ev in reply.broadcast {
                        let _ = self.inner.events.send(Arc::new(ev));
                    }
                    if reply.close {
                        return Ok(()); // client id in use, or not a TWS client: TWS closes
                    }
                }
                ev = events.recv(), if s.client_id().is_some() => {
                    match ev {
                        Ok(ev) => {
                            let mut bytes = s.route(&ev, self.inner.cfg.master_client_id);
                            if !bytes.is_empty() {
                                if self.inner.desync_next.swap(false, Ordering::SeqCst) {
                                    shorten_first_length(&mut bytes);
                                }
                                self.inner.first_event_write.lock().expect("lock").get_or_insert_with(std::time::Instant::now);
                                stream.write_all(&bytes).await?;
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
}

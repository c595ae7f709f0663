//! The connection to TWS as a sans-IO state machine.
//!
//! [`TwsLink`] owns every decision about the connection; its driver only moves bytes
//! and sleeps. Inputs: "the socket opened", bytes read, "the socket closed", requests
//! from above, and the current time. Outputs: [`Action`]s (connect, send these bytes,
//! drop the socket), [`LinkEvent`]s for the order state above, and the next instant at
//! which [`TwsLink::handle_timeout`] must run. Because time is an input, the tests run
//! the link against the simulator's engine on a simulated clock: restarts, 1100/1101,
//! fills while away and a desynchronised stream in milliseconds, deterministically.
//!
//! What it does, in order:
//! - handshake (`API\0` + version range), startApi, then wait for nextValidId: TWS
//!   drops requests sent before it; messages that arrive earlier are kept and passed
//!   up after `Connected`;
//! - ask for everything the bridge needs: reqAutoOpenOrders (client id 0),
//!   reqAllOpenOrders, reqCompletedOrders, reqExecutions (this is the reconciliation:
//!   fills made while the bridge was away come back with the request's id), account
//!   values of *every* followed account with reqAccountUpdatesMulti (reqAccountUpdates
//!   follows one account per client, and only it carries portfolio prices, so the first
//!   account also gets it), reqPositions, market data for the watchlist;
//! - after 1101 (connectivity restored, data lost) ask for the subscriptions and the
//!   executions again; 1100 / 1102 are passed up, never a reason to drop the socket;
//! - detect a stream that lost sync (a frame that cannot be a text message, a frame
//!   still incomplete [`LinkConfig::partial_frame_timeout`] after its first byte) and a
//!   silent peer (reqCurrentTime after [`LinkConfig::idle_probe`], dropped after
//!   [`LinkConfig::dead_after`]), and reconnect with full-jitter backoff;
//! - pace every request through [`Throttle`] (TWS allows 50 messages per second).
//!
//! Orders that *other API clients* (an MCP agent, say) place stream live only to TWS's
//! "Master API client ID": set it to the bridge's client id in TWS (Global
//! Configuration > API > Settings) to see them as they happen; without it they still
//! appear at every reqAllOpenOrders (after each reconnect).

use std::collections::VecDeque;
use std::time::Duration;

pub use ibws_shared::time::Now;

use ibws_shared::backoff::Backoff;

use crate::frame::FrameDecoder;
use crate::handshake::{client_hello, parse_server_hello};
use crate::message::{decode_message, encode_request, MessageError};
use crate::text::incoming::Incoming;
use crate::text::outgoing::{ExecutionFilter, Request};
use crate::throttle::Throttle;
use crate::types::Contract;

/// What the link needs to know.
#[derive(Clone, Debug)]
pub struct LinkConfig {
    pub client_id: i64,
    /// Accounts to follow; empty means every managed account.
    pub accounts: Vec<String>,
    /// Symbols (US stocks on SMART) to stream market data for.
    pub watch: Vec<String>,
    /// How long the driver may take to open the socket.
    pub connect_timeout: Duration,
    /// How long to wait for the handshake answer, and then for nextValidId.
    pub ready_timeout: Duration,
    /// Probe with reqCurrentTime after this much silence...
    pub idle_probe: Duration,
    /// ...and give the socket up after this much.
    pub dead_after: Duration,
    /// A frame must be complete this long after its first byte arrived; otherwise its
    /// length prefix was garbage and the stream has lost sync.
    pub partial_frame_timeout: Duration,
    pub backoff: Backoff,
    pub max_msgs_per_sec: usize,
    /// Requests from above queued while the link is up, at most.
    pub max_queued_requests: usize,
    /// Seed of the reconnect jitter (the driver passes a random one).
    pub jitter_seed: u64,
    /// The highest server version to offer (a TWS that misbehaves at the top of the
    /// range is pinned lower).
    pub max_version: i32,
    /// Days of executions to reconcile after a connect, from server version 200 (TWS
    /// allows 1..=7; below 200 TWS sends today's only). 3 covers a weekend: fills of
    /// Friday evening reach clients when the bridge and TWS come back on Monday.
    pub reconcile_days: i64,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            client_id: 0,
            accounts: vec![],
            watch: vec![],
            connect_timeout: Duration::from_secs(5),
            ready_timeout: Duration::from_secs(10),
            idle_probe: Duration::from_secs(10),
            dead_after: Duration::from_secs(25),
            partial_frame_timeout: Duration::from_secs(3),
            backoff: Backoff { base_ms: 250, cap_ms: 30_000 },
            max_msgs_per_sec: 50,
            max_queued_requests: 4096,
            jitter_seed: 0x5eed,
            max_version: crate::versions::MAX_CLIENT_VERSION,
            reconcile_days: 3,
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
    /// The socket is gone (or the link dropped it); the link will reconnect.
    Disconnected { reason: String },
}

/// What the driver must do next.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Open a socket to TWS, then call [`TwsLink::on_connected`] or
    /// [`TwsLink::on_connect_failed`].
    Connect,
    /// Write these bytes to the socket.
    Send(Vec<u8>),
    /// Drop the socket (the link already counts it as gone).
    Close,
}

/// The request id of the startup reqExecutions; executions answering it are the
/// reconciliation, live ones carry -1.
pub const EXECUTIONS_REQ_ID: i64 = 9_001;
/// Market data for watchlist entry `i` uses request id `MARKET_DATA_REQ_ID + i`.
pub const MARKET_DATA_REQ_ID: i64 = 10_000;
/// reqAccountUpdatesMulti for followed account `i` uses `ACCOUNT_REQ_ID + i`.
pub const ACCOUNT_REQ_ID: i64 = 20_000;

/// The watched symbol a market-data request id stands for.
pub fn watch_symbol(watch: &[String], req_id: i64) -> Option<&str> {
    let i = req_id.checked_sub(MARKET_DATA_REQ_ID)?;
    watch.get(usize::try_from(i).ok()?).map(String::as_str)
}

#[derive(Debug)]
enum State {
    /// No socket; connect at `at`.
    Waiting { at: u64 },
    /// The driver is opening the socket.
    Connecting { deadline: u64 },
    /// Hello sent; waiting for the server's version.
    Handshake { deadline: u64 },
    /// startApi sent; waiting for nextValidId.
    AwaitingId { deadline: u64, accounts: Vec<String>, early: Vec<Incoming> },
    /// Requests are flowing.
    Ready { accounts: Vec<String> },
}

/// Early messages kept before nextValidId, at most (TWS sends a handful).
const MAX_EARLY: usize = 1024;

/// The TWS connection's state.
pub struct TwsLink {
    cfg: LinkConfig,
    state: State,
    attempt: u32,
    version: i32,
    dec: FrameDecoder,
    /// When the frame being received started arriving.
    partial_since: Option<u64>,
    last_rx: u64,
    probe_sent: bool,
    /// Bytes sent before the throttle applies (the handshake).
    raw: VecDeque<Vec<u8>>,
    /// Encoded requests waiting for the throttle.
    outbox: VecDeque<Vec<u8>>,
    throttle: Throttle,
    close_socket: bool,
    events: VecDeque<LinkEvent>,
    rng: u64,
    /// The latest instant any input carried.
    seen: u64,
    connection_time: String,
}

impl TwsLink {
    /// A link that connects as soon as it is polled.
    pub fn new(cfg: LinkConfig, now: Now) -> TwsLink {
        let now = now.mono_ms;
        TwsLink {
            throttle: Throttle::new(cfg.max_msgs_per_sec),
            rng: cfg.jitter_seed | 1,
            cfg,
            state: State::Waiting { at: now },
            attempt: 0,
            version: 0,
            dec: FrameDecoder::new(),
            partial_since: None,
            last_rx: now,
            probe_sent: false,
            raw: VecDeque::new(),
            outbox: VecDeque::new(),
            close_socket: false,
            events: VecDeque::new(),
            seen: now,
            connection_time: String::new(),
        }
    }

    pub fn config(&self) -> &LinkConfig {
        &self.cfg
    }

    /// Whether requests are flowing.
    pub fn is_ready(&self) -> bool {
        matches!(self.state, State::Ready { .. })
    }

    /// The server version negotiated on the current connection (0 before).
    pub fn server_version(&self) -> i32 {
        self.version
    }

    /// The next thing the driver must do, if any.
    pub fn poll_action(&mut self, now: Now) -> Option<Action> {
        let now = now.mono_ms;
        self.see(now);
        if std::mem::take(&mut self.close_socket) {
            return Some(Action::Close);
        }
        match self.state {
            State::Waiting { at } if now >= at => {
                self.state = State::Connecting { deadline: after(now, self.cfg.connect_timeout) };
                self.events.push_back(LinkEvent::Connecting { attempt: self.attempt });
                return Some(Action::Connect);
            }
            State::Waiting { .. } | State::Connecting { .. } => return None,
            _ => {}
        }
        if let Some(b) = self.raw.pop_front() {
            return Some(Action::Send(b));
        }
        if !self.outbox.is_empty() && self.throttle.delay(now).is_zero() {
            self.throttle.record(now);
            return self.outbox.pop_front().map(Action::Send);
        }
        None
    }

    /// The next event for the layers above.
    pub fn poll_event(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }

    /// When [`TwsLink::handle_timeout`] must run next (and the driver poll again).
    pub fn poll_timeout(&mut self) -> Option<u64> {
        let mut t = match &self.state {
            State::Waiting { at } => return Some(*at),
            State::Connecting { deadline } => return Some(*deadline),
            State::Handshake { deadline } | State::AwaitingId { deadline, .. } => Some(*deadline),
            State::Ready { .. } => {
                let probe = if self.probe_sent { None } else { Some(after(self.last_rx, self.cfg.idle_probe)) };
                earliest(probe, Some(after(self.last_rx, self.cfg.dead_after)))
            }
        };
        if let Some(p) = self.partial_since {
            t = earliest(t, Some(after(p, self.cfg.partial_frame_timeout)));
        }
        if !self.outbox.is_empty() {
            // when the throttle lets the next request go (the link has no clock: it
            // measures from the latest instant it was given)
            let wait = self.throttle.delay(self.seen);
            t = earliest(t, Some(after(self.seen, wait)));
        }
        t
    }

    /// Runs the deadlines that have passed.
    pub fn handle_timeout(&mut self, now: Now) {
        let now = now.mono_ms;
        self.see(now);
        match &self.state {
            State::Connecting { deadline } if now >= *deadline => {
                return self.lost(now, format!("connect timed out after {:?}", self.cfg.connect_timeout), false);
            }
            State::Handshake { deadline } if now >= *deadline => {
                return self.lost(now, "TWS did not answer the handshake".into(), true);
            }
            State::AwaitingId { deadline, .. } if now >= *deadline => {
                return self.lost(now, "timed out waiting for TWS (before nextValidId)".into(), true);
            }
            _ => {}
        }
        if !self.socket_open() {
            return;
        }
        if let Some(p) = self.partial_since {
            if since(now, p) >= self.cfg.partial_frame_timeout {
                let reason = format!(
                    "TWS stream out of sync: a frame still incomplete {:?} after its first byte ({} bytes buffered)",
                    self.cfg.partial_frame_timeout,
                    self.dec.partial_len()
                );
                return self.lost(now, reason, true);
            }
        }
        if self.is_ready() {
            let silent = since(now, self.last_rx);
            if silent >= self.cfg.dead_after {
                return self.lost(now, format!("TWS silent for {silent:?}"), true);
            }
            if silent >= self.cfg.idle_probe && !self.probe_sent {
                self.probe_sent = true;
                self.queue(Request::ReqCurrentTime);
            }
        }
    }

    /// The socket opened: start the handshake.
    pub fn on_connected(&mut self, now: Now) {
        let now = now.mono_ms;
        self.see(now);
        self.dec = FrameDecoder::new();
        self.partial_since = None;
        self.raw.clear();
        self.outbox.clear();
        self.last_rx = now;
        self.probe_sent = false;
        self.raw.push_back(client_hello(self.cfg.max_version));
        self.state = State::Handshake { deadline: after(now, self.cfg.ready_timeout) };
    }

    /// Opening the socket failed.
    pub fn on_connect_failed(&mut self, reason: String, now: Now) {
        let now = now.mono_ms;
        self.lost(now, reason, false);
    }

    /// The socket closed or failed (the driver has dropped it).
    pub fn on_closed(&mut self, reason: String, now: Now) {
        let now = now.mono_ms;
        if self.socket_open() {
            self.lost(now, reason, false);
        }
    }

    /// Bytes read from the socket.
    pub fn on_bytes(&mut self, bytes: &[u8], now: Now) {
        let now = now.mono_ms;
        self.see(now);
        if !self.socket_open() || bytes.is_empty() {
            return;
        }
        self.last_rx = now;
        self.probe_sent = false;
        self.dec.extend(bytes);
        loop {
            let frame = match self.dec.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => return self.lost(now, format!("TWS stream out of sync: {e}"), true),
            };
            self.on_frame(&frame, now);
            if !self.socket_open() {
                return;
            }
        }
        self.partial_since = match (self.dec.partial_len(), self.partial_since) {
            (0, _) => None,
            (_, Some(p)) => Some(p),
            (_, None) => Some(now),
        };
    }

    /// A request from above (placeOrder, cancelOrder, ...). Refused (false) unless the
    /// link is up and its queue has room: an order must never go out late, after a
    /// reconnect nobody saw.
    pub fn request(&mut self, r: Request) -> bool {
        if !self.is_ready() || self.outbox.len() >= self.cfg.max_queued_requests {
            return false;
        }
        self.queue(r);
        true
    }

    fn socket_open(&self) -> bool {
        matches!(self.state, State::Handshake { .. } | State::AwaitingId { .. } | State::Ready { .. })
    }

    fn queue(&mut self, r: Request) {
        self.outbox.push_back(encode_request(self.version, &r));
    }

    fn see(&mut self, now: u64) {
        if now > self.seen {
            self.seen = now;
        }
    }

    /// The connection is gone: say so, drop the socket if it is open, and wait.
    fn lost(&mut self, now: u64, reason: String, close: bool) {
        if close && self.socket_open() {
            self.close_socket = true;
        }
        self.raw.clear();
        self.outbox.clear();
        self.partial_since = None;
        self.dec = FrameDecoder::new();
        self.events.push_back(LinkEvent::Disconnected { reason });
        let jitter = self.jitter();
        let delay = self.cfg.backoff.delay_ms(self.attempt, jitter);
        self.attempt = self.attempt.saturating_add(1);
        self.state = State::Waiting { at: now.saturating_add(delay) };
    }

    fn jitter(&mut self) -> f64 {
        // xorshift64: deterministic for a given seed, which the tests rely on
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }

    fn on_frame(&mut self, payload: &[u8], now: u64) {
        if let State::Handshake { .. } = self.state {
            if let Err(e) = crate::frame::check_text_frame(payload) {
                return self.lost(now, format!("TWS handshake: {e}"), true);
            }
            let fields = crate::frame::split_fields(payload);
            let Some((version, _time)) = parse_server_hello(&fields) else {
                return self.lost(now, "TWS answered the handshake with an unsupported version".into(), true);
            };
            self.version = version;
            self.connection_time = fields.get(1).map(|t| t.to_string()).unwrap_or_default();
            self.queue(Request::StartApi { client_id: self.cfg.client_id, optional_capabilities: String::new() });
            self.state =
                State::AwaitingId { deadline: after(now, self.cfg.ready_timeout), accounts: vec![], early: vec![] };
            return;
        }
        let msg = match decode_message(self.version, payload) {
            Ok(m) => m,
            Err(MessageError::Frame(e)) => return self.lost(now, e.to_string(), true),
            Err(MessageError::Decode { msg_id, error }) => {
                self.events.push_back(LinkEvent::Malformed { msg_id, error: error.to_string() });
                return;
            }
        };
        match &mut self.state {
            State::AwaitingId { accounts, early, .. } => match msg {
                Incoming::NextValidId(id) => {
                    let accounts = std::mem::take(accounts);
                    let early = std::mem::take(early);
                    self.ready(accounts, early, id);
                }
                Incoming::ManagedAccounts(a) => *accounts = a,
                Incoming::Error(e) if e.code == 326 => {
                    let reason = format!("client id {} is already in use", self.cfg.client_id);
                    self.events.push_back(LinkEvent::Message(Incoming::Error(e)));
                    self.lost(now, reason, true);
                }
                m => {
                    if early.len() < MAX_EARLY {
                        early.push(m);
                    }
                }
            },
            State::Ready { accounts } => match msg {
                Incoming::Other(_) => {}
                Incoming::ManagedAccounts(a) => *accounts = a,
                Incoming::Error(e) if e.code == 1101 => {
                    let follow = self.followed(&self.current_accounts());
                    self.events.push_back(LinkEvent::Message(Incoming::Error(e)));
                    for r in resubscriptions(&self.cfg, &follow) {
                        self.queue(r);
                    }
                }
                m => self.events.push_back(LinkEvent::Message(m)),
            },
            _ => {}
        }
    }

    fn current_accounts(&self) -> Vec<String> {
        match &self.state {
            State::Ready { accounts } => accounts.clone(),
            _ => vec![],
        }
    }

    /// The accounts to follow: those configured, or every managed one.
    fn followed(&self, managed: &[String]) -> Vec<String> {
        if self.cfg.accounts.is_empty() {
            managed.to_vec()
        } else {
            self.cfg.accounts.clone()
        }
    }

    fn ready(&mut self, accounts: Vec<String>, early: Vec<Incoming>, next_valid_id: i64) {
        self.attempt = 0;
        self.events.push_back(LinkEvent::Connected {
            server_version: self.version,
            connection_time: self.connection_time.clone(),
            accounts: accounts.clone(),
            next_valid_id,
        });
        self.events.extend(early.into_iter().map(LinkEvent::Message));
        let follow = self.followed(&accounts);
        for r in startup_requests(&self.cfg, &follow) {
            self.queue(r);
        }
        self.state = State::Ready { accounts };
    }
}

/// `t` (monotonic ms) plus `d`.
fn after(t: u64, d: Duration) -> u64 {
    t.saturating_add(d.as_millis().min(u128::from(u64::MAX)) as u64)
}

/// How long from `t` to `now` (monotonic ms), zero if `t` is later.
fn since(now: u64, t: u64) -> Duration {
    Duration::from_millis(now.saturating_sub(t))
}

fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// The requests that (re)build the bridge's view of TWS after a connect.
pub fn startup_requests(cfg: &LinkConfig, follow: &[String]) -> Vec<Request> {
    let mut v = Vec::new();
    if cfg.client_id == 0 {
        v.push(Request::ReqAutoOpenOrders { auto_bind: true });
    }
    v.push(Request::ReqAllOpenOrders);
    v.push(Request::ReqCompletedOrders { api_only: false });
    v.push(Request::ReqExecutions { req_id: EXECUTIONS_REQ_ID, filter: reconcile_filter(cfg) });
    v.extend(subscriptions(cfg, follow));
    v
}

/// The executions to reconcile: today's, or from server version 200 (where the filter
/// carries it; below, the field is not sent) the last `reconcile_days` days.
fn reconcile_filter(cfg: &LinkConfig) -> ExecutionFilter {
    let days = cfg.reconcile_days.clamp(1, 7);
    ExecutionFilter { last_n_days: (days > 1).then_some(days), ..ExecutionFilter::default() }
}

/// After 1101: the subscriptions again (each cancelled first, so TWS never sees a
/// duplicate request id), and the executions, to reconcile fills made meanwhile.
fn resubscriptions(cfg: &LinkConfig, follow: &[String]) -> Vec<Request> {
    let mut v = Vec::new();
    for (i, _) in follow.iter().enumerate() {
        v.push(Request::CancelAccountUpdatesMulti { req_id: ACCOUNT_REQ_ID + i as i64 });
    }
    for (i, _) in cfg.watch.iter().enumerate() {
        v.push(Request::CancelMktData { req_id: MARKET_DATA_REQ_ID + i as i64 });
    }
    v.extend(subscriptions(cfg, follow));
    v.push(Request::ReqExecutions { req_id: EXECUTIONS_REQ_ID, filter: reconcile_filter(cfg) });
    v
}

/// Account, position and market-data subscriptions.
fn subscriptions(cfg: &LinkConfig, follow: &[String]) -> Vec<Request> {
    let mut v = Vec::new();
    // reqAccountUpdates streams one account per client and is the only source of
    // portfolio prices: the first account gets it; every account gets the Multi stream.
    if let Some(a) = follow.first() {
        v.push(Request::ReqAccountUpdates { subscribe: true, account: a.clone() });
    }
    for (i, a) in follow.iter().enumerate() {
        v.push(Request::ReqAccountUpdatesMulti {
            req_id: ACCOUNT_REQ_ID + i as i64,
            account: a.clone(),
            model_code: String::new(),
            ledger_and_nlv: false,
        });
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

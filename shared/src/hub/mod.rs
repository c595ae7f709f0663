//! The sans-IO hub: one state machine behind every ibws endpoint.
//!
//! The bridge's local server, the native relay and the edge relay each own a [`Hub`]
//! and drive it the same way, in the style of quinn-proto:
//!
//! 1. feed it what happened: [`Hub::connect`], [`Hub::on_text`], [`Hub::on_binary`],
//!    [`Hub::on_pong`], [`Hub::disconnect`], [`Hub::publish`], [`Hub::apply_snapshot`],
//!    [`Hub::tick`], always with the current time ([`Now`]);
//! 2. drain [`Hub::poll_output`]: [`Output::Wake`] says a client has frames queued
//!    (take them with [`Hub::take_frames`]), [`Output::Ping`] asks for a transport
//!    ping, [`Output::Close`] closes a client after sending its last frames;
//! 3. call [`Hub::handle_timeout`] at [`Hub::poll_timeout`] (asking again when
//!    [`Hub::take_deadline_moved`] says an input moved a deadline earlier).
//!
//! The hub never blocks and never waits on a client. The replay ring is the stream, and
//! a client's backlog is a cursor into it: publishing appends to the ring and wakes the
//! clients that were idle; [`Hub::take_frames`] walks a client's cursor forward,
//! picking the events it may see, interleaved with its replies. Live delivery and
//! replay are the same path, an idle client costs a few words, and a burst up to the
//! ring's size costs no memory per client. A client is slow only when its cursor falls
//! off the ring: one that speaks ibws's protocol is then told `resume` with
//! `recovered: false` and carries on from the head (it takes a fresh snapshot); a seed
//! client, which has no way to resynchronise, is closed with "slow consumer". Each
//! event is serialized once ([`StampedEvent`]) and its text shared by reference among
//! all recipients.

mod config;
mod event;
pub mod eviction;
mod journal;
mod order_table;
mod replay;
mod session;
pub mod stream_rules;
mod token_bucket;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

pub use config::HubConfig;
pub use event::{Frame, RingEvent, StampedEvent};
pub use eviction::EvictionIndex;
pub use journal::StreamChanges;
pub use order_table::OrderTable;
pub use replay::ReplayRing;
pub use session::Session;
pub use stream_rules::{StreamViolation, MAX_SAFE_SEQ};
pub use token_bucket::TokenBucket;

use crate::auth::{Claims, Role, TokenVerifier};
use crate::protocol::{
    format_timestamp, AccountState, ClientMessage, CloseCode, Connection, ErrorFrame, MessageType, OrderData,
    OrdersResponse, Pong, ResumeResult, ServerFrame, Snapshot, Subscription, Unsubscription,
};

/// A connection's id, chosen by the driver and unique among its live connections.
pub type ConnId = u64;

/// The current time, as the driver read it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Now {
    /// A monotonic clock in milliseconds, for deadlines.
    pub mono_ms: u64,
    /// Wall-clock microseconds since the Unix epoch, for timestamps and token expiry.
    pub unix_us: i64,
}

impl Now {
    fn unix_secs(self) -> u64 {
        (self.unix_us.max(0) / 1_000_000) as u64
    }
}

/// What the driver knows about a new connection.
#[derive(Clone, Debug, Default)]
pub struct ConnectInfo {
    /// The `client_id` query parameter, if any.
    pub client_id: Option<String>,
    /// Claims the driver already verified (e.g. from `Sec-WebSocket-Protocol`).
    pub claims: Option<Claims>,
}

/// Something the driver must do.
#[derive(Debug)]
pub enum Output {
    /// The client has queued frames; fetch them with [`Hub::take_frames`].
    Wake(ConnId),
    /// Send a transport-level ping to the client.
    Ping(ConnId),
    /// Send `frames`, then close with `code`; the hub has forgotten the client.
    Close { id: ConnId, code: CloseCode, frames: Vec<Frame> },
}

/// One client's state across a host's hibernation.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SessionState {
    pub client_id: String,
    pub claims: Option<Claims>,
    pub ready: bool,
    pub aware: bool,
    pub subs: u8,
}

/// The stream's state in storable form.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StreamState {
    pub epoch: String,
    pub seq: u64,
    /// The replay ring, oldest first, as wire JSON.
    pub events: Vec<String>,
    pub orders: Vec<OrderData>,
    pub accounts: Vec<AccountState>,
    pub source_connected: bool,
}

/// Counters for `/metrics`.
#[derive(Clone, Debug, Default)]
pub struct HubStats {
    pub events_published: u64,
    pub events_by_type: [u64; 6],
    pub duplicates_dropped: u64,
    pub frames_delivered: u64,
    pub slow_consumers_closed: u64,
    /// Clients that fell off the ring and were told `recovered: false` instead.
    pub slow_consumers_resynced: u64,
    pub clients_closed: u64,
    /// Clients refused because the stream served `max_clients` already.
    pub refused_max_clients: u64,
    /// Clients refused because their token's subject held `max_clients_per_subject`.
    pub refused_per_subject: u64,
    /// Events and snapshots refused for breaking the stream's rules
    /// ([`stream_rules`]): never applied.
    pub stream_violations: u64,
    /// Ring entries looked at by takes (each take looks at most [`TAKE_BUDGET_EVENTS`]).
    pub events_examined: u64,
    /// Events dropped from the ring to keep a process-wide memory budget.
    pub events_evicted_for_memory: u64,
}

/// The hub. See the module documentation.
pub struct Hub {
    cfg: HubConfig,
    verifier: Option<Arc<dyn TokenVerifier>>,
    // boxed: the table grows by doubling, and an empty slot then costs a pointer, not a session
    clients: HashMap<ConnId, Box<Session>>,
    per_subject: HashMap<String, usize>,
    epoch: String,
    seq: u64,
    ring: ReplayRing,
    orders: OrderTable,
    accounts: BTreeMap<String, AccountState>,
    source_connected: bool,
    out: VecDeque<Output>,
    next_sweep_ms: u64,
    /// An input made some client's deadline earlier (see [`Hub::take_deadline_moved`]).
    deadline_moved: bool,
    generated_ids: u64,
    stats: HubStats,
    /// The last unrestricted `orders_response`, shared by every client that asks at
    /// the same position.
    orders_cache: Option<(u64, Frame)>,
    /// The latest time any input carried (for frames built in [`Hub::take_frames`]).
    last_now: Now,
    /// Changes not yet stored, for hosts that store the stream row by row.
    journal: Option<journal::Journal>,
}

/// How often the hub sweeps its clients for deadlines.
const SWEEP_MS: u64 = 500;

/// Bytes of frames one [`Hub::take_frames`] hands out at most (at least one frame):
/// a writer takes, writes, and takes again, so a 10,000-event replay never sits in
/// memory twice.
pub const TAKE_BUDGET_BYTES: usize = 256 * 1024;

/// Ring entries one [`Hub::take_frames`] looks at, at most (whether it hands them out
/// or they are of no interest to the client): a take is bounded in work, not only in
/// bytes, so a client subscribed to a rare type does not walk a 50,000-event ring
/// under the hub's lock in one go.
pub const TAKE_BUDGET_EVENTS: usize = 4096;

impl Hub {
    /// A hub for stream `epoch`, starting at seq 0.
    pub fn new(cfg: HubConfig, verifier: Option<Arc<dyn TokenVerifier>>, epoch: String) -> Hub {
        Hub {
            ring: ReplayRing::bounded(cfg.replay_capacity, cfg.replay_max_bytes),
            orders: OrderTable::new(cfg.max_orders),
            cfg,
            verifier,
            clients: HashMap::new(),
            per_subject: HashMap::new(),
            epoch,
            seq: 0,
            accounts: BTreeMap::new(),
            source_connected: false,
            out: VecDeque::new(),
            next_sweep_ms: 0,
            deadline_moved: false,
            generated_ids: 0,
            stats: HubStats::default(),
            orders_cache: None,
            last_now: Now::default(),
            journal: None,
        }
    }

    pub fn config(&self) -> &HubConfig {
        &self.cfg
    }

    /// The stream position: epoch and the highest seq published.
    pub fn position(&self) -> (&str, u64) {
        (&self.epoch, self.seq)
    }

    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    pub fn stats(&self) -> &HubStats {
        &self.stats
    }

    pub fn source_connected(&self) -> bool {
        self.source_connected
    }

    /// All orders, unfiltered (for snapshots to a relay and for tests).
    pub fn orders(&self) -> Vec<OrderData> {
        self.orders.rows().into_iter().cloned().collect()
    }

    /// About what this stream holds in memory: its replay ring's text and its order
    /// table (the process-wide budget counts this; see `relay::MemoryBudget`).
    pub fn held_bytes(&self) -> usize {
        self.ring.bytes() + self.ring.len() * std::mem::size_of::<RingEvent>() + self.orders.held_bytes()
    }

    /// Drops the oldest replay events until about `bytes` are freed, to keep a
    /// process-wide memory budget: resume no longer reaches them, and a client that was
    /// owed them is resynced (`recovered: false`) or, if it cannot resync, closed, at
    /// its next take, as when it falls off the ring. Returns the events dropped.
    pub fn evict_for_memory(&mut self, bytes: usize) -> usize {
        let (n, _) = self.ring.evict_oldest(bytes);
        self.stats.events_evicted_for_memory += n as u64;
        if n > 0 {
            if let Some(j) = &mut self.journal {
                j.dirty = true;
            }
        }
        n
    }

    /// How many orders the table holds (without copying them).
    pub fn order_count(&self) -> usize {
        self.orders.len()
    }

    pub fn accounts(&self) -> Vec<AccountState> {
        self.accounts.values().cloned().collect()
    }

    /// A snapshot of the hub's state at its current position.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            epoch: self.epoch.clone(),
            seq: self.seq,
            orders: self.orders(),
            accounts: self.accounts(),
            source_connected: self.source_connected,
        }
    }

    /// Records whether the source (TWS, or the bridge) is connected.
    pub fn set_source_connected(&mut self, up: bool) {
        if let Some(j) = self.journal.as_mut().filter(|_| self.source_connected != up) {
            j.dirty = true;
        }
        self.source_connected = up;
    }

    // ----- storage (hosts that keep the stream on disk) -----

    /// Starts recording changes for [`Hub::take_changes`].
    pub fn enable_journal(&mut self) {
        self.journal.get_or_insert_with(Default::default);
    }

    /// The changes since the last take, or `None` when nothing changed. The host
    /// stores them (in one transaction) before it acknowledges the stream position.
    pub fn take_changes(&mut self) -> Option<StreamChanges> {
        let j = self.journal.as_mut()?;
        if !j.dirty {
            return None;
        }
        let j = std::mem::take(j);
        let keep_from = self.ring.first_seq().unwrap_or(self.seq + 1);
        let mut orders: Vec<(i64, Option<OrderData>)> =
            j.orders.into_iter().map(|k| (k, self.orders.get(k).cloned())).collect();
        orders.sort_by_key(|(k, _)| *k);
        Some(StreamChanges {
            epoch: self.epoch.clone(),
            seq: self.seq,
            source_connected: self.source_connected,
            clear_events: j.clear_events,
            clear_tables: j.clear_tables,
            events: j.events.into_iter().filter(|(s, _)| *s >= keep_from).collect(),
            keep_from,
            orders,
            accounts: j.accounts.iter().filter_map(|a| self.accounts.get(a).cloned()).collect(),
        })
    }

    fn stamp(&self, now: Now) -> String {
        format_timestamp(now.unix_us, self.cfg.utc_offset_secs)
    }

    /// A new, unauthenticated, unsubscribed session with its clocks started now.
    fn fresh_session(&self, client_id: String, now: Now) -> Session {
        Session {
            client_id,
            claims: None,
            ready: false,
            aware: false,
            subs: 0,
            last_seen_ms: now.mono_ms,
            next_ping_ms: now.mono_ms.saturating_add(self.cfg.heartbeat_interval_ms),
            auth_deadline_ms: now.mono_ms.saturating_add(self.cfg.auth_deadline_ms),
            bucket: TokenBucket::new(self.cfg.rate_burst, self.cfg.rate_per_sec, now.mono_ms),
            cursor: self.seq + 1,
            replies: VecDeque::new(),
            reply_bytes: 0,
            armed: true,
            lost: false,
        }
    }

    // ----- hibernation (hosts that sleep, like Durable Objects) -----

    /// What must survive for one client while its host sleeps.
    pub fn session_state(&self, id: ConnId) -> Option<SessionState> {
        self.clients.get(&id).map(|s| SessionState {
            client_id: s.client_id.clone(),
            claims: s.claims.clone(),
            ready: s.ready,
            aware: s.aware,
            subs: s.subs,
        })
    }

    /// Re-creates a client after the host woke up (no greeting: it already had one).
    pub fn restore_session(&mut self, id: ConnId, st: SessionState, now: Now) {
        self.deadline_moved = true;
        if let Some(c) = &st.claims {
            *self.per_subject.entry(c.sub.clone()).or_default() += 1;
        }
        self.clients.insert(
            id,
            Box::new(Session {
                claims: st.claims,
                ready: st.ready,
                aware: st.aware,
                subs: st.subs,
                ..self.fresh_session(st.client_id, now)
            }),
        );
    }

    /// The stream (position, replay ring, tables) in a form a host can store.
    pub fn stream_state(&self) -> StreamState {
        StreamState {
            epoch: self.epoch.clone(),
            seq: self.seq,
            events: self.ring.iter().map(|e| e.json.to_string()).collect(),
            orders: self.orders(),
            accounts: self.accounts(),
            source_connected: self.source_connected,
        }
    }

    /// Restores a stored stream; events that do not parse are dropped, and the ring
    /// keeps only a contiguous run ending at `seq`.
    pub fn restore_stream(&mut self, st: StreamState) {
        self.orders_cache = None;
        self.epoch = st.epoch;
        // stored by this hub, so within bounds; clamped all the same
        self.seq = st.seq.min(MAX_SAFE_SEQ);
        self.orders.replace(&st.orders);
        self.accounts = st.accounts.into_iter().map(|a| (a.account.clone(), a)).collect();
        self.source_connected = st.source_connected;
        self.ring.clear();
        let events: Vec<Arc<StampedEvent>> = st
            .events
            .iter()
            .filter_map(|j| serde_json::from_str::<ServerFrame>(j).ok())
            .filter_map(StampedEvent::new)
            .filter(|e| e.epoch == self.epoch && e.seq <= self.seq)
            .collect();
        let mut expect = self.seq + 1;
        let mut keep = Vec::new();
        for e in events.into_iter().rev() {
            if e.seq + 1 != expect {
                break;
            }
            expect = e.seq;
            keep.push(e);
        }
        for e in keep.into_iter().rev() {
            let r = self.ring_event(&e);
            self.ring.push(r);
        }
    }

    // ----- connections -----

    /// A client connected. With auth required and no pre-verified claims, it must send
    /// `auth` within the deadline; otherwise it is greeted at once.
    pub fn connect(&mut self, id: ConnId, info: ConnectInfo, now: Now) {
        let client_id = info.client_id.filter(|c| !c.is_empty() && c.len() <= 128).unwrap_or_else(|| {
            self.generated_ids += 1;
            format!("client_{}_{}", now.unix_us / 1000, self.generated_ids)
        });
        if self.clients.len() >= self.cfg.max_clients {
            self.stats.refused_max_clients += 1;
            let frames = vec![self.refusal(CloseCode::ConnectionLimit, now)];
            self.out.push_back(Output::Close { id, code: CloseCode::ConnectionLimit, frames });
            return;
        }
        let session = self.fresh_session(client_id, now);
        self.clients.insert(id, Box::new(session));
        self.deadline_moved = true;
        match info.claims {
            Some(c) => self.admit(id, c, now),
            None if !self.cfg.require_auth => self.greet(id, now),
            None => {}
        }
    }

    /// Checks role, tenant and per-subject limits for freshly verified claims.
    fn admit(&mut self, id: ConnId, claims: Claims, now: Now) {
        if claims.role != Role::Client || self.cfg.tenant.as_ref().is_some_and(|t| *t != claims.tenant) {
            self.close(id, CloseCode::Forbidden, now);
            return;
        }
        let n = self.per_subject.get(&claims.sub).copied().unwrap_or(0);
        if n >= self.cfg.max_clients_per_subject {
            self.stats.refused_per_subject += 1;
            self.close(id, CloseCode::ConnectionLimit, now);
            return;
        }
        self.per_subject.insert(claims.sub.clone(), n + 1);
        if let Some(s) = self.clients.get_mut(&id) {
            s.claims = Some(claims);
            self.deadline_moved = true;
            // A client that authenticates speaks ibws's protocol.
            s.aware = true;
        }
        self.greet(id, now);
    }

    fn greet(&mut self, id: ConnId, now: Now) {
        let Some(s) = self.clients.get_mut(&id) else {
            return;
        };
        s.ready = true;
        let frame = ServerFrame::Connection(Connection {
            status: "connected".into(),
            message: "WebSocket连接成功".into(),
            timestamp: format_timestamp(now.unix_us, self.cfg.utc_offset_secs),
            client_id: s.client_id.clone(),
            epoch: Some(self.epoch.clone()),
            seq: Some(self.seq),
            heartbeat_interval_ms: Some(self.cfg.heartbeat_interval_ms),
        });
        self.reply(id, &frame, now);
    }

    /// The client's socket closed.
    pub fn disconnect(&mut self, id: ConnId) {
        if let Some(s) = self.clients.remove(&id) {
            self.release_subject(&s);
        }
    }

    fn release_subject(&mut self, s: &Session) {
        if let Some(c) = &s.claims {
            if let Some(n) = self.per_subject.get_mut(&c.sub) {
                *n -= 1;
                if *n == 0 {
                    self.per_subject.remove(&c.sub);
                }
            }
        }
    }

    /// Closes a client: queued frames still go out, then the close frame.
    fn close(&mut self, id: ConnId, code: CloseCode, now: Now) {
        let Some(mut s) = self.clients.remove(&id) else {
            return;
        };
        self.release_subject(&s);
        self.stats.clients_closed += 1;
        if !s.ready {
            // refused before it was admitted: told why, as every relay tells it
            let frames = vec![self.refusal(code, now)];
            self.out.push_back(Output::Close { id, code, frames });
            return;
        }
        // what it is owed still goes out before the close frame (within one budget)
        let mut frames = Vec::new();
        if code != CloseCode::SlowConsumer && !self.fell_off(&s) {
            let mut examined = 0;
            self.collect(&mut s, &mut frames, TAKE_BUDGET_BYTES, &mut examined);
            self.stats.events_examined += examined;
        }
        self.out.push_back(Output::Close { id, code, frames });
    }

    /// The `error` frame that goes before the close of a client refused before it was
    /// admitted ([`crate::relay::first_auth`]).
    fn refusal(&self, code: CloseCode, now: Now) -> Frame {
        crate::relay::first_auth::refusal(code, now.unix_us, self.cfg.utc_offset_secs).into()
    }

    /// Closes one client with `code` (a host refusing it, e.g. a bad token).
    pub fn close_client(&mut self, id: ConnId, code: CloseCode, now: Now) {
        self.close(id, code, now);
    }

    /// Closes every client with `code` (shutdown).
    pub fn close_all(&mut self, code: CloseCode, now: Now) {
        let ids: Vec<ConnId> = self.clients.keys().copied().collect();
        for id in ids {
            self.close(id, code, now);
        }
    }

    // ----- outbound -----

    /// Wakes a client's driver if it is waiting.
    fn wake(out: &mut VecDeque<Output>, id: ConnId, s: &mut Session) {
        if s.armed {
            s.armed = false;
            out.push_back(Output::Wake(id));
        }
    }

    /// Queues a reply for one client, after the events up to the current seq; closes
    /// it as a slow consumer when its replies overflow (it asks and never reads).
    fn enqueue(&mut self, id: ConnId, frame: Frame, now: Now) -> bool {
        let Some(s) = self.clients.get_mut(&id) else {
            return false;
        };
        if s.replies.len() >= self.cfg.max_queue_frames || s.reply_bytes + frame.len() > self.cfg.max_queue_bytes {
            self.stats.slow_consumers_closed += 1;
            self.close(id, CloseCode::SlowConsumer, now);
            return false;
        }
        s.reply_bytes += frame.len();
        s.replies.push_back((self.seq, frame));
        Self::wake(&mut self.out, id, s);
        true
    }

    fn reply(&mut self, id: ConnId, frame: &ServerFrame, now: Now) {
        self.enqueue(id, frame.to_json().into(), now);
    }

    fn reply_error(&mut self, id: ConnId, message: String, code: Option<&str>, now: Now) {
        let frame = ServerFrame::Error(ErrorFrame {
            message,
            error_code: code.map(str::to_owned),
            timestamp: self.stamp(now),
            tws_code: None,
            req_id: None,
            account: None,
            seq: None,
            epoch: None,
        });
        self.reply(id, &frame, now);
    }

    /// Moves up to [`TAKE_BUDGET_BYTES`] of what a client is owed into `into`: events
    /// from its cursor that it may see, interleaved with its replies in stream order.
    /// When something is left, another [`Output::Wake`] follows, so a driver may take
    /// once per wake (or until a take comes back empty). A client whose cursor fell off
    /// the ring is resynced (`resume`, `recovered: false`) or, if it cannot resync,
    /// closed.
    pub fn take_frames(&mut self, id: ConnId, into: &mut Vec<Frame>) {
        let Some(mut s) = self.clients.remove(&id) else {
            return;
        };
        let before = into.len();
        if self.fell_off(&s) {
            if !s.aware {
                self.clients.insert(id, s);
                self.stats.slow_consumers_closed += 1;
                self.close(id, CloseCode::SlowConsumer, Now::default());
                return;
            }
            self.stats.slow_consumers_resynced += 1;
            s.lost = false;
            s.cursor = self.seq + 1;
            for r in s.replies.iter_mut() {
                r.0 = r.0.min(self.seq);
            }
            // after the replies it already had (they are older), before any new event
            let f = self.resume_frame(false, 0, self.last_now);
            s.reply_bytes += f.len();
            s.replies.push_back((self.seq, f));
        }
        let mut examined = 0;
        let more = self.collect(&mut s, into, TAKE_BUDGET_BYTES, &mut examined);
        self.stats.events_examined += examined;
        self.stats.frames_delivered += (into.len() - before) as u64;
        if more {
            self.out.push_back(Output::Wake(id));
        } else {
            s.armed = true;
        }
        self.clients.insert(id, s);
    }

    /// Whether events `s` is owed are gone (evicted from the ring, or dropped with it).
    fn fell_off(&self, s: &Session) -> bool {
        s.lost || (s.cursor <= self.seq && self.ring.first_seq().is_none_or(|f| s.cursor < f))
    }

    /// Moves what `s` is owed into `into`, up to `budget` bytes (at least one frame)
    /// and [`TAKE_BUDGET_EVENTS`] ring entries looked at; true when something is left.
    /// The work is bounded by what the ring holds, never by seq values: a cursor
    /// behind the ring's first event jumps to it (the caller has already resynced or
    /// closed a client that was owed what lies before), and one over an empty ring
    /// jumps to the head.
    fn collect(&self, s: &mut Session, into: &mut Vec<Frame>, budget: usize, examined: &mut u64) -> bool {
        let mut bytes = 0usize;
        let mut steps = 0usize;
        let more = loop {
            let boundary = s.replies.front().map_or(self.seq, |r| r.0);
            if s.cursor <= boundary {
                let first = self.ring.first_seq().unwrap_or(boundary + 1);
                if s.cursor < first {
                    s.cursor = first.min(boundary + 1);
                }
            }
            while s.cursor <= boundary {
                if (bytes >= budget && bytes > 0) || steps >= TAKE_BUDGET_EVENTS {
                    break;
                }
                let seq = s.cursor;
                s.cursor += 1;
                steps += 1;
                if let Some(e) = self.ring.get(seq) {
                    if s.ready && s.subscribed(e.kind) && s.may_see_event(e) {
                        bytes += e.json.len();
                        into.push(e.json.clone());
                    }
                }
            }
            if s.cursor <= boundary {
                break true;
            }
            if bytes >= budget && bytes > 0 && !s.replies.is_empty() {
                break true;
            }
            match s.replies.pop_front() {
                Some((_, f)) => {
                    s.reply_bytes -= f.len();
                    bytes += f.len();
                    into.push(f);
                }
                None => {
                    // an idle client keeps no reply queue (most clients are idle)
                    s.replies = VecDeque::new();
                    break false;
                }
            }
        };
        *examined += steps as u64;
        more
    }

    fn resume_frame(&self, recovered: bool, replayed: u64, now: Now) -> Frame {
        ServerFrame::Resume(ResumeResult {
            recovered,
            epoch: self.epoch.clone(),
            seq: self.seq,
            replayed,
            timestamp: self.stamp(now),
        })
        .to_json()
        .into()
    }

    /// The next thing the driver must do, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    // ----- inbound -----

    /// The client sent a pong or any other sign of life below the JSON layer.
    pub fn on_pong(&mut self, id: ConnId, now: Now) {
        if let Some(s) = self.clients.get_mut(&id) {
            s.last_seen_ms = now.mono_ms;
        }
    }

    /// The client sent a binary frame: not part of the protocol.
    pub fn on_binary(&mut self, id: ConnId, _len: usize, now: Now) {
        self.close(id, CloseCode::UnsupportedData, now);
    }

    /// The transport refused a frame over its size limit.
    pub fn on_oversized(&mut self, id: ConnId, now: Now) {
        self.close(id, CloseCode::MessageTooBig, now);
    }

    /// The client sent a text frame.
    pub fn on_text(&mut self, id: ConnId, text: &str, now: Now) {
        self.see(now);
        let Some(s) = self.clients.get_mut(&id) else {
            return;
        };
        s.last_seen_ms = now.mono_ms;
        if text.len() > self.cfg.max_frame_bytes {
            self.close(id, CloseCode::MessageTooBig, now);
            return;
        }
        if !s.bucket.take(now.mono_ms) {
            self.close(id, CloseCode::RateLimited, now);
            return;
        }
        if !s.ready {
            // not yet admitted: only a first `auth` gets a client in
            return self.first_message(id, text, now);
        }
        let msg = match ClientMessage::parse(text) {
            Ok(m) => m,
            Err(e) => return self.reply_error(id, e.to_string(), Some("BAD_REQUEST"), now),
        };
        match msg {
            ClientMessage::Auth { token } => {
                if let Some(s) = self.clients.get_mut(&id) {
                    s.aware = true;
                }
                self.handle_auth(id, &token, now)
            }
            ClientMessage::Subscribe { message_types, epoch, since } => {
                self.handle_subscribe(id, &message_types, now);
                if let (Some(epoch), Some(since)) = (epoch, since) {
                    if let Some(s) = self.clients.get_mut(&id) {
                        s.aware = true;
                    }
                    self.handle_resume(id, &epoch, since, now);
                }
            }
            ClientMessage::Unsubscribe { message_types } => self.handle_unsubscribe(id, &message_types, now),
            ClientMessage::Ping {} => {
                let f = ServerFrame::Pong(Pong { timestamp: self.stamp(now) });
                self.reply(id, &f, now);
            }
            ClientMessage::GetOrders {} => self.handle_get_orders(id, now),
            ClientMessage::Resume { epoch, since } => {
                if let Some(s) = self.clients.get_mut(&id) {
                    s.aware = true;
                }
                self.handle_resume(id, &epoch, since, now)
            }
        }
    }

    /// The first message of a client that must authenticate: the relay core's verdict
    /// ([`crate::relay::first_auth::verdict`]), then admission or the refusal.
    fn first_message(&mut self, id: ConnId, text: &str, now: Now) {
        let first = crate::relay::first_auth::First::Text(text);
        let verdict = match self.verifier.clone() {
            Some(v) => crate::relay::first_auth::verdict(first, v.as_ref(), now.unix_secs()),
            None => Err(CloseCode::AuthRequired),
        };
        match verdict {
            Ok(claims) => {
                if let Some(s) = self.clients.get_mut(&id) {
                    s.aware = true;
                }
                self.admit(id, claims, now)
            }
            Err(code) => self.close(id, code, now),
        }
    }

    fn handle_auth(&mut self, id: ConnId, token: &str, now: Now) {
        let Some(verifier) = self.verifier.clone() else {
            // Endpoints without auth have nothing to check a token against.
            self.reply_error(id, "auth is not enabled on this endpoint".into(), Some("AUTH_DISABLED"), now);
            return;
        };
        // a later `auth` on an admitted session (a first one is `first_message`'s)
        let claims = match verifier.verify(token, now.unix_secs()) {
            Ok(c) => c,
            Err(e) => return self.close(id, e.close_code(), now),
        };
        let Some(s) = self.clients.get_mut(&id) else {
            return;
        };
        match &s.claims {
            None if self.cfg.require_auth => self.admit(id, claims, now),
            None => {
                // Auth on an open endpoint: record the claims so scopes apply.
                s.claims = Some(claims);
                self.deadline_moved = true;
            }
            Some(old) => {
                // Refresh: same identity, new expiry and possibly narrower scope.
                if old.sub != claims.sub || old.tenant != claims.tenant || claims.role != Role::Client {
                    return self.close(id, CloseCode::Forbidden, now);
                }
                let allowed: u8 =
                    MessageType::ALL.into_iter().filter(|t| claims.allows_type(*t)).fold(0, |m, t| m | t.bit());
                s.subs &= allowed;
                s.claims = Some(claims);
                self.deadline_moved = true;
            }
        }
    }

    fn handle_subscribe(&mut self, id: ConnId, names: &[String], now: Now) {
        let Some(s) = self.clients.get_mut(&id) else {
            return;
        };
        let mut unknown = Vec::new();
        let mut forbidden = Vec::new();
        let mut over_limit = false;
        for n in names.iter().take(32) {
            match MessageType::parse(n) {
                None => unknown.push(n.chars().take(64).collect::<String>()),
                Some(t) if !s.may_subscribe(t) => forbidden.push(t.as_str()),
                Some(t) => {
                    if !s.subscribed(t) && (s.subs.count_ones() as usize) >= self.cfg.max_subscriptions {
                        over_limit = true;
                    } else {
                        s.subs |= t.bit();
                    }
                }
            }
        }
        let subscribed = s.subscribed_names();
        if !unknown.is_empty() {
            self.reply_error(
                id,
                format!("unknown message types: {}", unknown.join(", ")),
                Some("UNKNOWN_MESSAGE_TYPE"),
                now,
            );
        }
        if !forbidden.is_empty() {
            self.reply_error(
                id,
                format!("not allowed by token scope: {}", forbidden.join(", ")),
                Some("FORBIDDEN_SCOPE"),
                now,
            );
        }
        if over_limit {
            self.reply_error(id, "subscription limit reached".into(), Some("SUBSCRIPTION_LIMIT"), now);
        }
        let f = ServerFrame::Subscription(Subscription {
            status: "success".into(),
            subscribed_types: subscribed,
            timestamp: self.stamp(now),
        });
        self.reply(id, &f, now);
    }

    fn handle_unsubscribe(&mut self, id: ConnId, names: &[String], now: Now) {
        let Some(s) = self.clients.get_mut(&id) else {
            return;
        };
        for t in names.iter().filter_map(|n| MessageType::parse(n)) {
            s.subs &= !t.bit();
        }
        let f = ServerFrame::Unsubscription(Unsubscription {
            status: "success".into(),
            remaining_types: s.subscribed_names(),
            timestamp: self.stamp(now),
        });
        self.reply(id, &f, now);
    }

    fn handle_get_orders(&mut self, id: ConnId, now: Now) {
        let Some(s) = self.clients.get(&id) else {
            return;
        };
        // Order rows only for a scope with an order type in it, and only the rows of
        // accounts the token allows (rows without an account: unrestricted tokens only).
        let unrestricted = s.claims.as_ref().is_none_or(|c| c.allows_all_accounts())
            && s.may_see_orders()
            && s.may_subscribe(MessageType::AccountUpdate);
        if unrestricted {
            // serialized once per stream position, shared by every client asking there
            if let Some((seq, f)) = &self.orders_cache {
                if *seq == self.seq {
                    let f = f.clone();
                    self.enqueue(id, f, now);
                    return;
                }
            }
        }
        let data = if s.may_see_orders() {
            self.orders.rows().into_iter().filter(|o| s.may_see_order_row(o.account.as_deref())).cloned().collect()
        } else {
            Vec::new()
        };
        let accounts = self
            .accounts
            .values()
            .filter(|a| s.may_see(MessageType::AccountUpdate, Some(&a.account)))
            .cloned()
            .collect();
        let f: Frame = ServerFrame::OrdersResponse(OrdersResponse {
            data,
            timestamp: self.stamp(now),
            seq: Some(self.seq),
            epoch: Some(self.epoch.clone()),
            source_connected: Some(self.source_connected),
            accounts: Some(accounts),
        })
        .to_json()
        .into();
        if unrestricted {
            self.orders_cache = Some((self.seq, f.clone()));
        }
        self.enqueue(id, f, now);
    }

    /// Resumes a client after `since` of `epoch`: its cursor goes back to `since + 1`
    /// when the ring reaches that far (the replay is then simply what it is owed, taken
    /// like live events), and `resume` follows the replayed events.
    fn handle_resume(&mut self, id: ConnId, epoch: &str, since: u64, now: Now) {
        let Some(s) = self.clients.get(&id) else {
            return;
        };
        let replayed = if epoch == self.epoch {
            self.ring
                .since(since, self.seq)
                .map(|events| events.filter(|e| s.subscribed(e.kind) && s.may_see_event(e)).count() as u64)
        } else {
            None
        };
        let s = self.clients.get_mut(&id).expect("checked");
        if replayed.is_some() {
            s.cursor = since + 1;
            s.lost = false;
            // replies already queued (the `subscription` answer) stay before the replay
            for r in s.replies.iter_mut() {
                r.0 = r.0.min(since);
            }
        }
        let f = self.resume_frame(replayed.is_some(), replayed.unwrap_or(0), now);
        self.enqueue(id, f, now);
    }

    // ----- the source -----

    /// Where the stream begins (the bridge's own hub): stamps `frame` as the stream's
    /// next event (this hub's epoch, head + 1), serialises it once and publishes it.
    /// The hub is the one owner of the position; the stamped event is returned for the
    /// other places it goes (the uplink). `Ok(None)` for a frame that is not an event.
    pub fn originate(
        &mut self,
        mut frame: ServerFrame,
        now: Now,
    ) -> Result<Option<Arc<StampedEvent>>, StreamViolation> {
        frame.set_position(&self.epoch, self.seq.saturating_add(1));
        let Some(ev) = StampedEvent::new(frame) else {
            return Ok(None);
        };
        self.publish(ev.clone(), now)?;
        Ok(Some(ev))
    }

    /// Publishes a stamped event, if it is the stream's next ([`stream_rules`]):
    /// `Ok(true)` when applied, `Ok(false)` for a resend of an event the stream already
    /// has (dropped), and an error, with nothing applied, for anything else: a gap, a
    /// seq behind the replay window or beyond [`MAX_SAFE_SEQ`], another epoch (a new
    /// epoch begins only with [`Hub::apply_snapshot`]).
    pub fn publish(&mut self, ev: Arc<StampedEvent>, now: Now) -> Result<bool, StreamViolation> {
        self.see(now);
        let window = self.cfg.replay_capacity as u64;
        match stream_rules::check_event(&self.epoch, self.seq, window, &ev.epoch, ev.seq) {
            stream_rules::Verdict::Next => {}
            stream_rules::Verdict::Duplicate => {
                self.stats.duplicates_dropped += 1;
                return Ok(false);
            }
            stream_rules::Verdict::Refuse(v) => {
                self.stats.stream_violations += 1;
                return Err(v);
            }
        }
        self.seq = ev.seq;
        self.stats.events_published += 1;
        self.stats.events_by_type[ev.kind as usize] += 1;
        // the account an error is about is looked up before the order table moves on
        let ring_event = self.ring_event(&ev);
        // the order table takes each order's row from its `order_update` (the whole row);
        // notifications about an order (created, modified, cancelled, an agent's) come
        // beside one and change no row themselves
        if let ServerFrame::OrderUpdate(u) = &ev.frame {
            let touched = self.orders.put(&u.data);
            if let Some(j) = &mut self.journal {
                j.orders.extend(touched.into_iter().flatten());
            }
        }
        if let ServerFrame::AccountUpdate(a) = &ev.frame {
            self.accounts.entry(a.data.account.clone()).or_default().merge(&a.data);
            if let Some(acc) = self.accounts.get_mut(&a.data.account) {
                acc.account = a.data.account.clone();
            }
            if let Some(j) = &mut self.journal {
                j.accounts.insert(a.data.account.clone());
            }
        }
        if let Some(j) = &mut self.journal {
            j.events.push((ev.seq, ev.json.clone()));
            j.dirty = true;
        }
        // wake the idle clients that want it; idle ones that do not move past it
        for (id, s) in self.clients.iter_mut() {
            if !s.armed {
                continue; // its driver is taking already, and will come back for this
            }
            if s.ready && s.subscribed(ring_event.kind) && s.may_see_event(&ring_event) {
                s.armed = false;
                self.out.push_back(Output::Wake(*id));
            } else if s.cursor == ev.seq && s.replies.is_empty() {
                s.cursor = ev.seq + 1;
            }
        }
        self.ring.push(ring_event);
        Ok(true)
    }

    /// What the ring keeps of `ev`. An `error` that names no account but refers to a
    /// request (TWS's `req_id` is the order id for an order's errors) is about the
    /// account of the order with that id, as this hub's order table knows it; when the
    /// table does not know it (or the id is ambiguous), only clients allowed every
    /// account may see it.
    fn ring_event(&self, ev: &StampedEvent) -> RingEvent {
        let mut r = RingEvent::from(ev);
        if let ServerFrame::Error(e) = &ev.frame {
            if let (None, Some(req)) = (&e.account, e.req_id.filter(|id| *id > 0)) {
                match self.orders.account_of_order_id(req) {
                    Some(a) => r.account = Some(a.into()),
                    None => r.all_accounts_only = true,
                }
            }
        }
        r
    }

    /// Replaces the order and account tables with a snapshot. A snapshot of another
    /// epoch, or one ahead of the stream, resets the replay ring. Clients that speak
    /// our protocol (they sent `auth` or `resume`) are told of a new epoch at once with
    /// an unsolicited `resume` frame saying `recovered: false`, so they resnapshot now
    /// rather than at the next event.
    ///
    /// A snapshot whose seq is beyond [`MAX_SAFE_SEQ`] is refused, with nothing applied.
    pub fn apply_snapshot(&mut self, snap: &Snapshot, now: Now) -> Result<(), StreamViolation> {
        self.see(now);
        if let Err(v) = stream_rules::check_snapshot(snap.seq) {
            self.stats.stream_violations += 1;
            return Err(v);
        }
        let new_epoch = snap.epoch != self.epoch;
        self.epoch = snap.epoch.clone();
        if new_epoch || snap.seq != self.seq {
            self.restart_stream(snap.seq);
        }
        self.orders_cache = None;
        self.orders.replace(&snap.orders);
        self.accounts = snap.accounts.iter().map(|a| (a.account.clone(), a.clone())).collect();
        self.source_connected = snap.source_connected;
        if let Some(j) = &mut self.journal {
            j.clear_tables = true;
            j.orders = self.orders.keys().collect();
            j.accounts = self.accounts.keys().cloned().collect();
            j.dirty = true;
        }
        if new_epoch {
            self.announce_epoch(now);
        }
        Ok(())
    }

    /// The ring is emptied and the stream goes on after `seq`. Clients that were idle
    /// simply continue from there; a client with a backlog has lost it, and is resynced
    /// or closed at its next take. Queued replies keep their place before new events.
    fn restart_stream(&mut self, seq: u64) {
        let old_head = self.seq;
        self.ring.clear();
        if let Some(j) = &mut self.journal {
            j.restart();
        }
        self.orders_cache = None;
        self.seq = seq;
        for s in self.clients.values_mut() {
            if s.cursor <= old_head && !s.armed {
                s.lost = true;
            }
            s.cursor = seq + 1;
            for r in s.replies.iter_mut() {
                r.0 = r.0.min(seq);
            }
        }
    }

    fn see(&mut self, now: Now) {
        if now.mono_ms >= self.last_now.mono_ms {
            self.last_now = now;
        }
    }

    /// Tells clients that speak our protocol that the stream restarted: an unsolicited
    /// `resume` with `recovered: false`, so they take a fresh snapshot now.
    fn announce_epoch(&mut self, now: Now) {
        let frame = self.resume_frame(false, 0, now);
        let aware: Vec<ConnId> = self.clients.iter().filter(|(_, s)| s.ready && s.aware).map(|(id, _)| *id).collect();
        for id in aware {
            self.enqueue(id, frame.clone(), now);
        }
    }

    // ----- time -----

    /// When [`Hub::handle_timeout`] must next run (monotonic ms): the earliest deadline
    /// of any client (its auth deadline, idle timeout, token expiry, next transport
    /// ping), but not before [`SWEEP_MS`] after the last run, so deadlines close
    /// together are handled in one pass; `None` when no client has one (a host may
    /// sleep). It scans every client, so a host asks again after a run, and after
    /// [`Hub::take_deadline_moved`] says an input made a deadline earlier, not after
    /// every event.
    pub fn poll_timeout(&self, now: Now) -> Option<u64> {
        let now_unix_ms = now.unix_us.div_euclid(1000);
        self.clients
            .values()
            .filter_map(|s| {
                let auth = (!s.ready && self.cfg.require_auth).then_some(s.auth_deadline_ms);
                let idle = (self.cfg.idle_timeout_ms != u64::MAX).then(|| s.last_seen_ms + self.cfg.idle_timeout_ms);
                let ping = self.cfg.transport_pings.then_some(s.next_ping_ms);
                let expiry = s.claims.as_ref().map(|c| {
                    let in_ms = (c.exp as i64).saturating_mul(1000).saturating_sub(now_unix_ms).max(0);
                    now.mono_ms.saturating_add(in_ms as u64)
                });
                [auth, idle, ping, expiry].into_iter().flatten().min()
            })
            .min()
            .map(|d| d.max(self.next_sweep_ms))
    }

    /// True (once) when an input since the last call may have made a deadline earlier
    /// than the last [`Hub::poll_timeout`] said (a client connected or was given a
    /// token): a host sleeping until that answer asks again.
    pub fn take_deadline_moved(&mut self) -> bool {
        std::mem::take(&mut self.deadline_moved)
    }

    /// Runs the deadlines that are due: auth deadlines, idle clients, token expiry,
    /// transport pings (a call before [`Hub::poll_timeout`]'s moment does nothing).
    pub fn handle_timeout(&mut self, now: Now) {
        self.see(now);
        if now.mono_ms < self.next_sweep_ms {
            return;
        }
        self.sweep(now);
    }

    fn sweep(&mut self, now: Now) {
        self.see(now);
        self.next_sweep_ms = now.mono_ms + SWEEP_MS;
        let unix = now.unix_secs();
        let mut closes = Vec::new();
        for (id, s) in self.clients.iter_mut() {
            if !s.ready && self.cfg.require_auth && now.mono_ms >= s.auth_deadline_ms {
                closes.push((*id, CloseCode::AuthRequired));
            } else if now.mono_ms.saturating_sub(s.last_seen_ms) >= self.cfg.idle_timeout_ms {
                closes.push((*id, CloseCode::HeartbeatTimeout));
            } else if s.claims.as_ref().is_some_and(|c| c.exp <= unix) {
                closes.push((*id, CloseCode::TokenExpired));
            } else if self.cfg.transport_pings && now.mono_ms >= s.next_ping_ms {
                s.next_ping_ms = now.mono_ms.saturating_add(self.cfg.heartbeat_interval_ms);
                self.out.push_back(Output::Ping(*id));
            }
        }
        for (id, code) in closes {
            self.close(id, code, now);
        }
    }
}

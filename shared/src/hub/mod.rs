//! The sans-IO hub: one state machine behind every ibws endpoint.
//!
//! The bridge's local server, the native relay and the edge relay each own a [`Hub`]
//! and drive it the same way, in the style of quinn-proto:
//!
//! 1. feed it what happened: [`Hub::connect`], [`Hub::on_text`], [`Hub::on_binary`],
//!    [`Hub::on_pong`], [`Hub::disconnect`], [`Hub::publish`], [`Hub::apply_snapshot`],
//!    [`Hub::originate`], always with the current time ([`Now`]);
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
//!
//! Layout: this file holds the hub's state and accessors; `connections` (connect,
//! admission, the greeting, closes), `commands/` (what a client sends: one file per
//! command), `delivery` (replies and the walk along the ring), `publish` (the source:
//! events, snapshots, epochs), `time` (deadlines), `storage` and `hibernation` (for
//! hosts that write the stream to disk or sleep) each add one part of its behaviour;
//! `session`, `replay`, `order_table`, `stream_rules`, `journal`, `eviction` and
//! `token_bucket` are the pieces of state they work on.

mod commands;
mod config;
mod connections;
mod delivery;
mod event;
pub mod eviction;
mod hibernation;
mod journal;
mod order_table;
mod publish;
mod replay;
mod session;
mod storage;
pub mod stream_rules;
mod time;
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

pub use crate::time::Now;

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

    pub(in crate::hub) fn stamp(&self, now: Now) -> String {
        format_timestamp(now.unix_us, self.cfg.utc_offset_secs)
    }

    /// A new, unauthenticated, unsubscribed session with its clocks started now.
    pub(in crate::hub) fn fresh_session(&self, client_id: String, now: Now) -> Session {
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
}

//! Hub limits and timings, with safe defaults.

/// Everything a hub enforces. Defaults follow reference.md section 3 (Centrifugo's and
/// OWASP's conventions).
#[derive(Clone, Debug)]
pub struct HubConfig {
    /// Clients must `auth` before anything else (remote endpoints).
    pub require_auth: bool,
    /// How long an unauthenticated client may take to send `auth`.
    pub auth_deadline_ms: u64,
    /// How often the server pings each client.
    pub heartbeat_interval_ms: u64,
    /// A client silent (no frame, no pong) this long is closed; `u64::MAX`: never (the
    /// edge, where the platform closes dead sockets and clients may never send).
    pub idle_timeout_ms: u64,
    /// The host sends transport pings ([`super::Output::Ping`]) every
    /// `heartbeat_interval_ms`. Off where the host cannot (a hibernating Durable
    /// Object): then no ping deadline wakes it.
    pub transport_pings: bool,
    /// Largest inbound text frame.
    pub max_frame_bytes: usize,
    /// Token bucket on inbound frames: burst size.
    pub rate_burst: u32,
    /// Token bucket on inbound frames: sustained frames per second.
    pub rate_per_sec: u32,
    /// Most message types one client may subscribe to.
    pub max_subscriptions: usize,
    /// Replies (answers to requests, notices) waiting for one client, at most. Events
    /// are not queued per client: a client's backlog is its cursor into the ring.
    pub max_queue_frames: usize,
    /// Bytes of replies waiting for one client, at most (a `get_orders` answer of
    /// 10,000 orders is about 4 MB).
    pub max_queue_bytes: usize,
    /// Events kept for `resume`, and the most a client may fall behind before it is
    /// told `recovered: false` (or, if it does not speak ibws's protocol, closed).
    pub replay_capacity: usize,
    /// Bytes of event text the ring keeps, at most (the ring drops its oldest events
    /// past either bound).
    pub replay_max_bytes: usize,
    /// Orders kept in the table (terminal ones are evicted first).
    pub max_orders: usize,
    /// Connections in total.
    pub max_clients: usize,
    /// Connections per token subject.
    pub max_clients_per_subject: usize,
    /// Offset applied to timestamps (seed frames use local time).
    pub utc_offset_secs: i32,
    /// When set, only tokens for this tenant are accepted.
    pub tenant: Option<String>,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            require_auth: false,
            auth_deadline_ms: 5_000,
            heartbeat_interval_ms: 25_000,
            idle_timeout_ms: 60_000,
            transport_pings: true,
            max_frame_bytes: 64 * 1024,
            rate_burst: 50,
            rate_per_sec: 20,
            max_subscriptions: 6,
            max_queue_frames: 256,
            max_queue_bytes: 16 * 1024 * 1024,
            replay_capacity: 50_000,
            replay_max_bytes: 64 * 1024 * 1024,
            max_orders: 10_000,
            max_clients: 10_000,
            max_clients_per_subject: 100,
            utc_offset_secs: 0,
            tenant: None,
        }
    }
}

//! The simulated TWS in memory, wired to a [`TwsLink`] on a simulated clock.
//!
//! [`MemoryTws`] is the socket server without sockets: connections are numbers, bytes
//! are vectors. [`LinkHarness`] drives a link against it the way the tokio driver
//! drives one against a socket, except that time only moves when the test says so:
//! a TWS restart, a 30-second silence or a desynchronised stream take microseconds of
//! real time and come out the same on every run.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use ibws_shared::time::Now;

use super::engine::{Audience, Engine, SimEvent};
use super::session::{shorten_first_length, Desk, SimSession};
use ibws_tws::link::{Action, LinkConfig, LinkEvent, TwsLink};
use ibws_tws::types::TwsError;
use ibws_tws::Incoming;

/// The server versions the link and trading-day tests run at: the lowest ibws offers,
/// the one older TWS builds (and ib_async 2) settle on, the highest of the text
/// encoding alone, one where encodings mix (orders and executions in protobuf,
/// commission reports, account values and the session's messages in text), and the
/// highest, where every request and reply is protobuf. Events must be the same at
/// each, except the fields a version adds.
pub const TEST_VERSIONS: [i32; 5] = [
    157,
    176,
    ibws_tws::versions::TEXT_ONLY_MAX,
    ibws_tws::versions::PROTOBUF_MARKET_DATA,
    ibws_tws::versions::MAX_CLIENT_VERSION,
];

thread_local! {
    static ANSWER_AT: std::cell::Cell<i32> = const { std::cell::Cell::new(ibws_tws::versions::MAX_CLIENT_VERSION) };
}

/// Runs `test` once per version of [`TEST_VERSIONS`]: every [`MemoryTws`] made on this
/// thread meanwhile answers at most that version (see [`answering_version`]).
pub fn each_version(test: impl Fn()) {
    for v in TEST_VERSIONS {
        ANSWER_AT.set(v);
        eprintln!("server version {v}");
        test();
    }
    ANSWER_AT.set(ibws_tws::versions::MAX_CLIENT_VERSION);
}

/// The highest version a [`MemoryTws`] made now on this thread answers with.
pub fn answering_version() -> i32 {
    ANSWER_AT.get()
}

struct Conn {
    session: SimSession,
    to_client: Vec<u8>,
}

/// The simulated TWS's connections, in memory.
pub struct MemoryTws {
    pub engine: Engine,
    client_ids: HashSet<i64>,
    conns: BTreeMap<u64, Conn>,
    next_conn: u64,
    /// Refuses connections while false (TWS restarting).
    pub accepting: bool,
    pub max_version: i32,
    pub master_client_id: i64,
    pub connection_time: String,
    pub now_unix: i64,
    desync_next: bool,
}

impl MemoryTws {
    pub fn new(engine: Engine) -> MemoryTws {
        MemoryTws {
            engine,
            client_ids: HashSet::new(),
            conns: BTreeMap::new(),
            next_conn: 1,
            accepting: true,
            max_version: answering_version(),
            master_client_id: 0,
            connection_time: "20261201 09:30:00 UTC".into(),
            now_unix: 1_796_117_400,
            desync_next: false,
        }
    }

    /// Accepts a connection, unless TWS is down.
    pub fn connect(&mut self) -> Option<u64> {
        if !self.accepting {
            return None;
        }
        let id = self.next_conn;
        self.next_conn += 1;
        self.conns.insert(id, Conn { session: SimSession::new(), to_client: Vec::new() });
        Some(id)
    }

    pub fn is_open(&self, conn: u64) -> bool {
        self.conns.contains_key(&conn)
    }

    /// The client closed its socket.
    pub fn close(&mut self, conn: u64) {
        if let Some(mut c) = self.conns.remove(&conn) {
            c.session.release(&mut self.client_ids);
        }
    }

    /// Every socket drops (TWS crashed, or restarts).
    pub fn drop_all(&mut self) {
        let ids: Vec<u64> = self.conns.keys().copied().collect();
        for id in ids {
            self.close(id);
        }
    }

    /// Bytes from a client.
    pub fn from_client(&mut self, conn: u64, bytes: &[u8]) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let mut desk = Desk {
            engine: &mut self.engine,
            client_ids: &mut self.client_ids,
            max_version: self.max_version,
            connection_time: &self.connection_time,
            master_client_id: self.master_client_id,
            now_unix: self.now_unix,
        };
        let reply = c.session.on_bytes(bytes, &mut desk);
        c.to_client.extend(reply.bytes);
        if reply.close {
            self.close(conn);
        }
        self.route(reply.broadcast);
    }

    /// Bytes waiting for a client.
    pub fn take_to_client(&mut self, conn: u64) -> Vec<u8> {
        self.conns.get_mut(&conn).map(|c| std::mem::take(&mut c.to_client)).unwrap_or_default()
    }

    /// Raw bytes to a client, as they are (fault injection).
    pub fn send_raw(&mut self, conn: u64, bytes: &[u8]) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.to_client.extend_from_slice(bytes);
        }
    }

    /// Runs an engine operation and routes what it caused.
    pub fn apply(&mut self, f: impl FnOnce(&mut Engine) -> Vec<SimEvent>) {
        self.engine.set_time(self.now_unix);
        let events = f(&mut self.engine);
        self.route(events);
    }

    /// An error message to every session.
    pub fn notice(&mut self, code: i64, message: &str) {
        let msg = Incoming::Error(TwsError { req_id: -1, code, message: message.into(), ..TwsError::default() });
        self.route(vec![SimEvent { audience: Audience::All, msg }]);
    }

    /// The next frame to each session has a length prefix 3 bytes short.
    pub fn desync_next_frame(&mut self) {
        self.desync_next = true;
    }

    fn route(&mut self, events: Vec<SimEvent>) {
        for ev in events {
            for c in self.conns.values_mut() {
                let mut bytes = c.session.route(&ev, self.master_client_id);
                if bytes.is_empty() {
                    continue;
                }
                if std::mem::take(&mut self.desync_next) {
                    shorten_first_length(&mut bytes);
                }
                c.to_client.extend(bytes);
            }
        }
    }
}

/// A [`TwsLink`] connected to a [`MemoryTws`] on a simulated clock.
pub struct LinkHarness {
    pub tws: MemoryTws,
    pub link: TwsLink,
    /// The simulated time (starts at 1 s of an arbitrary monotonic clock).
    pub now: Now,
    start: Now,
    conn: Option<u64>,
    events: Vec<(Duration, LinkEvent)>,
}

impl LinkHarness {
    pub fn new(tws: MemoryTws, cfg: LinkConfig) -> LinkHarness {
        let now = Now { mono_ms: 1_000, unix_us: 1_700_000_000_000_000 };
        LinkHarness { tws, link: TwsLink::new(cfg, now), now, start: now, conn: None, events: Vec::new() }
    }

    /// Simulated time since the start.
    pub fn elapsed(&self) -> Duration {
        Duration::from_millis(self.now.mono_ms - self.start.mono_ms)
    }

    /// Moves the simulated clock `d` forward.
    pub fn advance(&mut self, d: Duration) {
        self.now = self.now.plus_ms(d.as_millis() as u64);
    }

    /// The connection the link holds, if any.
    pub fn conn(&self) -> Option<u64> {
        self.conn
    }

    /// Carries out everything the link and TWS can do without time passing.
    pub fn pump(&mut self) {
        for _ in 0..100_000 {
            let mut progressed = false;
            while let Some(a) = self.link.poll_action(self.now) {
                progressed = true;
                match a {
                    Action::Connect => match self.tws.connect() {
                        Some(c) => {
                            self.conn = Some(c);
                            self.link.on_connected(self.now);
                        }
                        None => self.link.on_connect_failed("connection refused".into(), self.now),
                    },
                    Action::Send(b) => {
                        if let Some(c) = self.conn {
                            self.tws.from_client(c, &b);
                        }
                    }
                    Action::Close => {
                        if let Some(c) = self.conn.take() {
                            self.tws.close(c);
                        }
                    }
                }
            }
            if let Some(c) = self.conn {
                let bytes = self.tws.take_to_client(c);
                if !bytes.is_empty() {
                    progressed = true;
                    self.link.on_bytes(&bytes, self.now);
                }
                if !self.tws.is_open(c) && self.conn == Some(c) {
                    self.conn = None;
                    self.link.on_closed("TWS closed the connection".into(), self.now);
                    progressed = true;
                }
            }
            let at = self.elapsed();
            while let Some(ev) = self.link.poll_event() {
                progressed = true;
                self.events.push((at, ev));
            }
            if !progressed {
                return;
            }
        }
        panic!("link and TWS did not settle");
    }

    /// Lets `d` of simulated time pass, running every deadline on the way.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now.mono_ms + d.as_millis() as u64;
        loop {
            self.pump();
            let next = self.link.poll_timeout().map_or(end, |t| t.min(end)).max(self.now.mono_ms);
            let to = if next == self.now.mono_ms { next + 1 } else { next }.min(end);
            self.advance(Duration::from_millis(to - self.now.mono_ms));
            self.link.handle_timeout(self.now);
            self.pump();
            if self.now.mono_ms >= end {
                return;
            }
        }
    }

    /// Events so far (with the simulated time each came at), emptied.
    pub fn take_events(&mut self) -> Vec<(Duration, LinkEvent)> {
        std::mem::take(&mut self.events)
    }
}

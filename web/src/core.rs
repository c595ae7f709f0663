//! The browser client's logic, free of I/O (and of JavaScript), so it is tested
//! natively: connection state, reconnect with full-jitter backoff by the close-code
//! table, heartbeats and dead-connection detection, token refresh, subscriptions that
//! survive reconnects, and resume from the last `seq` / `epoch`.
//!
//! The driver ([`crate::client`]) feeds it socket events, frame summaries (type, seq,
//! epoch, recovered) and the time, and carries out the [`Effect`]s it returns.

use std::collections::VecDeque;

use ibws_shared::backoff::Backoff;
use ibws_shared::close_code::CloseCode;

/// Timing and limits.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Send `ping` when nothing was sent for this long.
    pub heartbeat_ms: u64,
    /// Treat the socket as dead when nothing arrived for this long.
    pub dead_after_ms: u64,
    /// Refresh the token this long before it expires.
    pub refresh_before_ms: u64,
    pub backoff: Backoff,
    /// Requests (subscribe, get_orders, ...) awaiting an answer, at most.
    pub max_pending: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            heartbeat_ms: 10_000,
            dead_after_ms: 25_000,
            refresh_before_ms: 60_000,
            backoff: Backoff::default(),
            max_pending: 64,
        }
    }
}

/// Connection states reported to the app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Connecting,
    Open,
    Reconnecting,
    Closed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Connecting => "connecting",
            State::Open => "open",
            State::Reconnecting => "reconnecting",
            State::Closed => "closed",
        }
    }
}

/// Requests whose answer resolves a promise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Subscribe,
    Unsubscribe,
    GetOrders,
}

/// What the driver must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Open a socket to the server.
    Connect,
    /// Send this text frame.
    Send(String),
    /// Close the current socket (it is dead or must be replaced).
    CloseSocket,
    /// Call `on_timer` at this time (ms).
    TimerAt(u64),
    /// Ask the app for a token (`getToken()`), then call `set_token`.
    NeedToken,
    /// Report a state change (with the close code and reason that caused it).
    State { state: State, code: Option<u16>, reason: String },
    /// Pass the current frame to the app's callbacks for its type.
    Deliver,
    /// The server could not replay what was missed: the app should rebuild from the
    /// snapshot the client is fetching now (delivered with [`Effect::Snapshot`]).
    Resnapshot,
    /// The current frame is the fresh snapshot after a resnapshot.
    Snapshot,
    /// Resolve the oldest pending request (the current frame is its answer).
    Resolve(Op),
    /// Reject `n` pending requests: the connection they were sent on is gone.
    RejectPending(usize),
}

/// The fields of a server frame the core needs.
#[derive(Clone, Debug, Default)]
pub struct FrameInfo<'a> {
    pub ty: &'a str,
    pub epoch: Option<&'a str>,
    pub seq: Option<u64>,
    pub recovered: Option<bool>,
}

/// A JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(HEX[(c as usize >> 4) & 15] as char);
                out.push(HEX[c as usize & 15] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn types_json<'a>(types: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<String> = types.map(|t| json_str(t)).collect();
    let mut s = String::from("[");
    s.push_str(&v.join(","));
    s.push(']');
    s
}

/// Decimal digits of `n`, without the formatting machinery (it is large in wasm).
fn digits(mut n: u64) -> String {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf[i..].iter().map(|&b| b as char).collect()
}

fn dedup(v: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(v.len());
    for s in v {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

fn auth_frame(token: &str) -> String {
    let mut s = String::from("{\"type\":\"auth\",\"token\":");
    s.push_str(&json_str(token));
    s.push('}');
    s
}

fn subscribe_frame(kind: &str, types: String, resume: Option<(&str, u64)>) -> String {
    let mut s = String::from("{\"type\":\"");
    s.push_str(kind);
    s.push_str("\",\"message_types\":");
    s.push_str(&types);
    if let Some((e, since)) = resume {
        s.push_str(",\"epoch\":");
        s.push_str(&json_str(e));
        s.push_str(",\"since\":");
        s.push_str(&digits(since));
    }
    s.push('}');
    s
}

#[derive(Debug)]
pub struct ClientCore {
    cfg: Config,
    state: State,
    /// Desired subscriptions, in the order first asked for (a small set).
    subs: Vec<String>,
    pos: Option<(String, u64)>,
    token: Option<String>,
    token_exp_ms: Option<u64>,
    wants_token: bool,
    token_requested: bool,
    attempt: u32,
    retry_at: Option<u64>,
    last_rx: u64,
    last_tx: u64,
    pending: VecDeque<(Op, bool)>,
    awaiting_snapshot: bool,
    socket_open: bool,
    greeted: bool,
    /// The app called `close()`: nothing opens a connection again, whatever was
    /// already on its way (the first connect on the next tick, a token, a retry).
    stopped: bool,
}

impl ClientCore {
    /// `wants_token`: the app gave a token or a `getToken()` callback, so every
    /// connection starts with `auth`.
    pub fn new(cfg: Config, subs: Vec<String>, token: Option<String>, wants_token: bool) -> Self {
        ClientCore {
            cfg,
            state: State::Closed,
            subs: dedup(subs),
            pos: None,
            token_exp_ms: token.as_deref().and_then(jwt_exp_ms),
            token,
            wants_token,
            token_requested: false,
            attempt: 0,
            retry_at: None,
            last_rx: 0,
            last_tx: 0,
            pending: VecDeque::new(),
            awaiting_snapshot: false,
            socket_open: false,
            greeted: false,
            stopped: false,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The last stream position seen: (epoch, seq).
    pub fn position(&self) -> Option<(&str, u64)> {
        self.pos.as_ref().map(|(e, s)| (e.as_str(), *s))
    }

    pub fn subscriptions(&self) -> impl Iterator<Item = &String> {
        self.subs.iter()
    }

    fn set_state(&mut self, s: State, code: Option<u16>, reason: &str, out: &mut Vec<Effect>) {
        if self.state != s {
            self.state = s;
            out.push(Effect::State { state: s, code, reason: reason.to_owned() });
        }
    }

    fn send(&mut self, text: String, now: u64, out: &mut Vec<Effect>) {
        self.last_tx = now;
        out.push(Effect::Send(text));
    }

    /// Starts connecting; nothing once the app closed the client (`close()` wins in
    /// every state, including before the first connect).
    pub fn connect(&mut self, now: u64) -> Vec<Effect> {
        let mut out = Vec::new();
        if self.stopped {
            return out;
        }
        self.retry_at = None;
        self.set_state(State::Connecting, None, "", &mut out);
        if self.wants_token && self.token.is_none() {
            self.token_requested = true;
            out.push(Effect::NeedToken);
            return out;
        }
        self.socket_open = false;
        self.greeted = false;
        self.last_rx = now;
        out.push(Effect::Connect);
        out.push(Effect::TimerAt(now + self.cfg.dead_after_ms));
        out
    }

    /// The app's `getToken()` answered.
    pub fn set_token(&mut self, token: String, now: u64) -> Vec<Effect> {
        self.token_exp_ms = jwt_exp_ms(&token);
        self.token = Some(token);
        self.token_requested = false;
        let mut out = Vec::new();
        match self.state {
            State::Connecting if !self.socket_open => out.extend(self.connect(now)),
            State::Open => {
                // in-band refresh
                let t = self.token.clone().unwrap_or_default();
                self.send(auth_frame(&t), now, &mut out);
            }
            _ => {}
        }
        if let Some(exp) = self.token_exp_ms {
            out.push(Effect::TimerAt(exp.saturating_sub(self.cfg.refresh_before_ms).max(now + 1)));
        }
        out
    }

    /// The socket opened: authenticate, subscribe (resuming where we were).
    pub fn on_open(&mut self, now: u64) -> Vec<Effect> {
        let mut out = Vec::new();
        self.socket_open = true;
        self.last_rx = now;
        if let Some(t) = self.token.clone() {
            self.send(auth_frame(&t), now, &mut out);
        }
        if !self.subs.is_empty() {
            let types = types_json(self.subs.iter());
            let text = subscribe_frame("subscribe", types, self.pos.as_ref().map(|(e, s)| (e.as_str(), *s)));
            self.send(text, now, &mut out);
            self.pending.push_back((Op::Subscribe, true));
        }
        if self.pos.is_none() {
            // learn our position (and the current orders) to resume from later
            self.send("{\"type\":\"get_orders\"}".into(), now, &mut out);
            self.pending.push_back((Op::GetOrders, true));
            self.awaiting_snapshot = true;
        }
        out.push(Effect::TimerAt(now + self.cfg.heartbeat_ms.min(self.cfg.dead_after_ms)));
        out
    }

    /// The socket closed (or failed) with `code`.
    pub fn on_close(&mut self, code: u16, reason: &str, now: u64) -> Vec<Effect> {
        let mut out = Vec::new();
        self.socket_open = false;
        self.greeted = false;
        let mine = self.pending.iter().filter(|(_, internal)| !internal).count();
        self.pending.clear();
        if mine > 0 {
            out.push(Effect::RejectPending(mine));
        }
        if self.state == State::Closed {
            return out;
        }
        if code == CloseCode::TokenExpired.code() && self.wants_token {
            self.token = None;
            self.set_state(State::Reconnecting, Some(code), reason, &mut out);
            self.retry_at = Some(now);
            out.push(Effect::TimerAt(now));
            return out;
        }
        if !CloseCode::should_reconnect(code) {
            self.set_state(State::Closed, Some(code), reason, &mut out);
            return out;
        }
        self.set_state(State::Reconnecting, Some(code), reason, &mut out);
        let delay = self.cfg.backoff.delay_ms(self.attempt, rand01(now, self.attempt));
        self.attempt = self.attempt.saturating_add(1);
        self.retry_at = Some(now + delay);
        out.push(Effect::TimerAt(now + delay));
        out
    }

    /// A frame arrived.
    pub fn on_frame(&mut self, f: &FrameInfo, now: u64) -> Vec<Effect> {
        let mut out = Vec::new();
        self.last_rx = now;
        match f.ty {
            "connection" => {
                self.greeted = true;
                self.attempt = 0;
                self.set_state(State::Open, None, "", &mut out);
            }
            "pong" => {}
            "subscription" => self.resolve(Op::Subscribe, &mut out),
            "unsubscription" => self.resolve(Op::Unsubscribe, &mut out),
            "orders_response" => {
                if let (Some(e), Some(s)) = (f.epoch, f.seq) {
                    self.pos = Some((e.to_owned(), s));
                }
                if self.awaiting_snapshot {
                    self.awaiting_snapshot = false;
                    out.push(Effect::Snapshot);
                }
                self.resolve(Op::GetOrders, &mut out);
            }
            "resume" => {
                if f.recovered != Some(true) {
                    self.awaiting_snapshot = true;
                    if let (Some(e), Some(s)) = (f.epoch, f.seq) {
                        self.pos = Some((e.to_owned(), s));
                    }
                    out.push(Effect::Resnapshot);
                    self.send("{\"type\":\"get_orders\"}".into(), now, &mut out);
                    self.pending.push_back((Op::GetOrders, true));
                }
            }
            _ => match (f.epoch, f.seq) {
                (Some(e), Some(s)) => {
                    let dup = self.pos.as_ref().is_some_and(|(pe, ps)| pe == e && s <= *ps);
                    // A server announces a new epoch with a `resume` frame first; an
                    // event of another epoch without one means the stream restarted
                    // under us (a server without the announcement, or a bug): never
                    // apply it on top of the old state silently.
                    let foreign = !self.awaiting_snapshot && self.pos.as_ref().is_some_and(|(pe, _)| pe != e);
                    if !dup {
                        self.pos = Some((e.to_owned(), s));
                        out.push(Effect::Deliver);
                    }
                    if foreign {
                        self.awaiting_snapshot = true;
                        out.push(Effect::Resnapshot);
                        self.send("{\"type\":\"get_orders\"}".into(), now, &mut out);
                        self.pending.push_back((Op::GetOrders, true));
                    }
                }
                _ => out.push(Effect::Deliver),
            },
        }
        out
    }

    fn resolve(&mut self, op: Op, out: &mut Vec<Effect>) {
        if let Some(i) = self.pending.iter().position(|(o, _)| *o == op) {
            if let Some((_, false)) = self.pending.remove(i) {
                out.push(Effect::Resolve(op));
            }
        }
    }

    /// Timers: reconnect, heartbeat, dead-connection detection, token refresh.
    pub fn on_timer(&mut self, now: u64) -> Vec<Effect> {
        let mut out = Vec::new();
        if let Some(at) = self.retry_at {
            if now >= at && self.state == State::Reconnecting {
                return self.connect(now);
            }
            out.push(Effect::TimerAt(at));
            return out;
        }
        if matches!(self.state, State::Open | State::Connecting) {
            if now.saturating_sub(self.last_rx) >= self.cfg.dead_after_ms {
                out.push(Effect::CloseSocket);
                out.extend(self.on_close(CloseCode::HeartbeatTimeout.code(), "no traffic from the server", now));
                return out;
            }
            if self.socket_open && now.saturating_sub(self.last_tx) >= self.cfg.heartbeat_ms {
                self.send("{\"type\":\"ping\"}".into(), now, &mut out);
            }
            if self.wants_token && !self.token_requested {
                if let Some(exp) = self.token_exp_ms {
                    if now + self.cfg.refresh_before_ms >= exp {
                        self.token_requested = true;
                        out.push(Effect::NeedToken);
                    }
                }
            }
            let next_hb = self.last_tx + self.cfg.heartbeat_ms;
            let dead = self.last_rx + self.cfg.dead_after_ms;
            out.push(Effect::TimerAt(next_hb.min(dead).max(now + 1)));
        }
        out
    }

    fn can_queue(&self) -> bool {
        self.pending.len() < self.cfg.max_pending
    }

    /// The app subscribes; `None` when too many requests are pending.
    pub fn subscribe(&mut self, types: Vec<String>, now: u64) -> Option<Vec<Effect>> {
        if !self.can_queue() {
            return None;
        }
        let mut out = Vec::new();
        let text = subscribe_frame("subscribe", types_json(types.iter()), None);
        for t in types {
            if !self.subs.contains(&t) {
                self.subs.push(t);
            }
        }
        if self.socket_open {
            self.send(text, now, &mut out);
            self.pending.push_back((Op::Subscribe, false));
        } else {
            // sent on (re)connect; the promise resolves with the state we will have
            out.push(Effect::Resolve(Op::Subscribe));
        }
        Some(out)
    }

    pub fn unsubscribe(&mut self, types: Vec<String>, now: u64) -> Option<Vec<Effect>> {
        if !self.can_queue() {
            return None;
        }
        let mut out = Vec::new();
        self.subs.retain(|s| !types.contains(s));
        if self.socket_open {
            self.send(subscribe_frame("unsubscribe", types_json(types.iter()), None), now, &mut out);
            self.pending.push_back((Op::Unsubscribe, false));
        } else {
            out.push(Effect::Resolve(Op::Unsubscribe));
        }
        Some(out)
    }

    /// The app asks for orders; `None` when it cannot be sent now.
    pub fn get_orders(&mut self, now: u64) -> Option<Vec<Effect>> {
        if !self.can_queue() || !self.socket_open {
            return None;
        }
        let mut out = Vec::new();
        self.send("{\"type\":\"get_orders\"}".into(), now, &mut out);
        self.pending.push_back((Op::GetOrders, false));
        Some(out)
    }

    /// The app closes the client for good.
    pub fn close(&mut self) -> Vec<Effect> {
        let mut out = Vec::new();
        self.stopped = true;
        self.retry_at = None;
        self.set_state(State::Closed, Some(1000), "closed by the app", &mut out);
        out.push(Effect::CloseSocket);
        out
    }
}

/// A cheap, deterministic-per-moment jitter source (the driver's clock is the seed);
/// the backoff only needs spread, not secrecy.
fn rand01(now: u64, attempt: u32) -> f64 {
    let mut x = now ^ (u64::from(attempt) << 32) ^ 0x9e37_79b9_7f4a_7c15;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// The `exp` of a JWT, in ms, read without verifying (the server verifies).
pub fn jwt_exp_ms(token: &str) -> Option<u64> {
    let payload = token.split('.').nth(1)?;
    let bytes = b64url_decode(payload)?;
    let text = std::str::from_utf8(&bytes).ok()?;
    let i = text.find("\"exp\"")? + 5;
    let rest = text[i..].trim_start().strip_prefix(':')?.trim_start();
    let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    rest[..end].parse::<u64>().ok().map(|s| s * 1000)
}

fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            b'=' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests;

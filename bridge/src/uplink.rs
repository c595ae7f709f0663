//! The bridge's uplink to a relay: it dials out (so a bridge behind NAT is reachable),
//! authenticates with a `bridge`-role token, and delivers every event at least once.
//!
//! Every decision (the buffer of unacknowledged events, what to resend after a
//! reconnect, snapshot then events, a gap that forces a new session, ack regressions,
//! the dial and welcome deadlines, the backoff) is the sans-IO
//! [`UplinkSession`](ibws_shared::relay::UplinkSession), the counterpart of the
//! relay's `BridgeSession`. This driver dials, moves frames between the socket and the
//! session, logs what the session reports, and sleeps until its next deadline.
//!
//! An `ack` promises the relay holds the event (in memory for the native relay, in
//! Durable Object storage for the edge relay). A relay that later welcomes the bridge
//! in the same epoch below what it acknowledged has broken that promise; it is logged
//! and counted (`ibws_uplink_ack_regressions_total`), and the chaos harness fails on it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use ibws_shared::backoff::Backoff;
use ibws_shared::hub::StampedEvent;
use ibws_shared::relay::{UplinkCounters, UplinkEvent, UplinkSession, UplinkSettings};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};
use tracing::{error, info, warn};

use crate::clock;
use crate::server::SharedHub;
use crate::start_error::StartError;

#[derive(Clone)]
pub struct UplinkConfig {
    /// `wss://relay.example:8443/bridge/ws`
    pub url: String,
    pub token: String,
    pub tls: Arc<rustls::ClientConfig>,
    /// Unacknowledged events kept for resending.
    pub buffer_cap: usize,
    pub backoff: Backoff,
}

/// Checks a `--relay` URL: `wss://`, or plain `ws://` only to a loopback host, and no
/// user info (a URL like `ws://127.0.0.1@evil:8443/` names the host after the `@`).
/// Returns the URL as parsed.
pub fn check_relay_url(raw: &str) -> Result<String, StartError> {
    let bad = |problem: &str| StartError::RelayUrl { url: raw.to_owned(), problem: problem.to_owned() };
    let u = url::Url::parse(raw.trim())
        .map_err(|e| bad(&format!("not a URL ({e}); e.g. wss://relay.example.com:8443/bridge/ws")))?;
    if !u.username().is_empty() || u.password().is_some() {
        return Err(bad("must not contain user info (user@host); the token goes in --relay-token-file"));
    }
    let loopback = match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        None => return Err(bad("names no host; a relay URL looks like wss://relay.example.com:8443/bridge/ws")),
    };
    match u.scheme() {
        "wss" => Ok(u.into()),
        "ws" if loopback => Ok(u.into()),
        "ws" => Err(bad("must be wss:// (TLS): plain ws:// would send account data in the clear; it is allowed only to a loopback host")),
        other => Err(bad(&format!("must be a wss:// URL, not {other}://"))),
    }
}

/// The uplink's counters, for `/metrics` (a mirror of the session's, kept by the
/// driver so readers never wait on the session).
#[derive(Debug, Default)]
pub struct UplinkStats {
    pub connected: AtomicBool,
    /// The highest seq the relay acknowledged (in the bridge's current epoch).
    pub acked_seq: AtomicU64,
    pub connects: AtomicU64,
    /// Events sent again after a reconnect to fill the relay's gap.
    pub resent: AtomicU64,
    /// Times a relay welcomed the bridge below a seq it had acknowledged in the same
    /// epoch: it lost events it promised to hold.
    pub ack_regressions: AtomicU64,
    /// Why the uplink last went down, while it is down.
    down_reason: std::sync::Mutex<Option<String>>,
}

impl UplinkStats {
    /// Why the uplink is down, while it is down.
    pub fn last_error(&self) -> Option<String> {
        if self.connected.load(Ordering::Relaxed) {
            return None;
        }
        self.down_reason.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn mirror(&self, c: UplinkCounters) {
        self.connected.store(c.connected, Ordering::Relaxed);
        self.acked_seq.store(c.acked_seq, Ordering::Relaxed);
        self.connects.store(c.connects, Ordering::Relaxed);
        self.resent.store(c.resent, Ordering::Relaxed);
        self.ack_regressions.store(c.ack_regressions, Ordering::Relaxed);
    }
}

/// Handle to a running uplink.
#[derive(Clone)]
pub struct Uplink {
    session: Arc<Mutex<UplinkSession>>,
    /// The session has something to send, or a new deadline.
    more: Arc<Notify>,
    cut: Arc<Notify>,
    stats: Arc<UplinkStats>,
}

impl Uplink {
    /// Starts dialing the relay.
    pub fn spawn(cfg: UplinkConfig, hub: SharedHub, stats: Arc<UplinkStats>) -> (Uplink, tokio::task::JoinHandle<()>) {
        let settings = UplinkSettings { token: cfg.token.clone(), buffer_cap: cfg.buffer_cap, backoff: cfg.backoff };
        let session = UplinkSession::new(settings, rand::random::<u64>(), clock::now());
        let up = Uplink {
            session: Arc::new(Mutex::new(session)),
            more: Arc::new(Notify::new()),
            cut: Arc::new(Notify::new()),
            stats,
        };
        let task = tokio::spawn(run(cfg, hub, up.clone()));
        (up, task)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, UplinkSession> {
        self.session.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues events for the relay (called by the pipeline after the local hub).
    pub fn push(&self, events: &[Arc<StampedEvent>]) {
        self.lock().push(events, clock::now());
        self.more.notify_one();
    }

    /// The TWS link went up or down.
    pub fn set_source(&self, up: bool) {
        self.lock().set_source(up);
        self.more.notify_one();
    }

    /// Chaos hook: drops the current relay connection (the uplink reconnects).
    pub fn cut(&self) {
        self.cut.notify_one();
    }

    pub fn is_connected(&self) -> bool {
        self.stats.connected.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> &UplinkStats {
        &self.stats
    }

    /// Events waiting for an acknowledgement, and events lost to overflow so far.
    pub fn backlog(&self) -> (usize, u64) {
        self.lock().backlog()
    }

    /// Logs what the session reports and mirrors its counters.
    fn report(&self) {
        let mut s = self.lock();
        while let Some(e) = s.poll_event() {
            match e {
                UplinkEvent::Connected { tenant, relay_seq, bridge_seq, resent } => {
                    info!(%tenant, relay_seq, bridge_seq, resent, "relay uplink connected")
                }
                UplinkEvent::AckRegression { tenant, relay_seq, acked } => {
                    error!(%tenant, relay_seq, acked, "the relay lost events it had acknowledged as stored")
                }
                UplinkEvent::StreamRefused => error!(
                    "the relay refused this bridge's stream (4005: a gap or a seq out of range); reconnecting with a snapshot"
                ),
                UplinkEvent::Down { why, delay_ms } => {
                    warn!(error = %why, delay_ms, "relay uplink down; reconnecting");
                    *self.stats.down_reason.lock().unwrap_or_else(|e| e.into_inner()) = Some(why.to_string());
                }
            }
        }
        self.stats.mirror(s.counters());
    }
}

type RelaySocket = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn run(cfg: UplinkConfig, hub: SharedHub, up: Uplink) {
    let wscfg = WebSocketConfig::default().max_message_size(Some(64 << 20)).max_frame_size(Some(64 << 20));
    let mut ws: Option<RelaySocket> = None;
    loop {
        if up.lock().poll_dial(clock::now()) {
            let connect = tokio_tungstenite::connect_async_tls_with_config(
                cfg.url.as_str(),
                Some(wscfg),
                true,
                Some(Connector::Rustls(cfg.tls.clone())),
            );
            let deadline = up.lock().poll_timeout();
            tokio::select! {
                r = connect => match r {
                    Ok((s, _)) => {
                        let position = hub.with(|h| (h.position().0.to_owned(), h.position().1));
                        up.lock().on_connected((&position.0, position.1), clock::now());
                        ws = Some(s);
                    }
                    Err(e) => up.lock().on_closed(&format!("connect: {e}"), None, clock::now()),
                },
                _ = clock::sleep_until(deadline) => up.lock().handle_timeout(clock::now()),
            }
        }
        if let Some(s) = ws.as_mut() {
            if let Err(e) = send_due(s, &up).await {
                up.lock().on_closed(&e.to_string(), None, clock::now());
            }
        }
        if up.lock().is_down() {
            ws = None;
        }
        up.report();
        let deadline = up.lock().poll_timeout();
        tokio::select! {
            _ = up.more.notified() => {}
            _ = clock::sleep_until(deadline) => up.lock().handle_timeout(clock::now()),
            _ = up.cut.notified() => up.lock().on_closed("uplink cut", None, clock::now()),
            msg = async { ws.as_mut().expect("guarded").next().await }, if ws.is_some() => {
                let now = clock::now();
                match msg {
                    Some(Ok(Message::Text(t))) => up.lock().on_text(t.as_str(), || hub.with(|h| h.snapshot()), now),
                    Some(Ok(Message::Close(f))) => {
                        up.lock().on_closed("relay closed the uplink", f.as_ref().map(|f| u16::from(f.code)), now)
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => up.lock().on_closed(&e.to_string(), None, now),
                    None => up.lock().on_closed("relay closed the uplink", None, now),
                }
            }
        }
    }
}

/// Sends every frame the session has queued, then flushes.
async fn send_due(ws: &mut RelaySocket, up: &Uplink) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let mut sent = false;
    loop {
        // taken one at a time, so the session is never locked across an await
        let Some(f) = up.lock().poll_transmit() else { break };
        ws.feed(Message::Text(f.into())).await?;
        sent = true;
    }
    if sent {
        ws.flush().await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_relay_url;

    #[test]
    fn relay_urls_are_parsed_not_prefix_matched() {
        for ok in [
            "wss://relay.example.com:8443/bridge/ws",
            "ws://127.0.0.1:8443/bridge/ws",
            "ws://localhost:8443/bridge/ws?tenant=desk1",
            "ws://[::1]:8443/bridge/ws",
        ] {
            assert!(check_relay_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ws://127.0.0.1@127.0.0.2:8443/bridge/ws",
            "wss://user:pass@relay.example.com/bridge/ws",
            "ws://127.0.0.1.evil.example/bridge/ws",
            "ws://localhost.evil.example/bridge/ws",
            "ws://10.0.0.1:8443/bridge/ws",
            "http://relay.example.com/bridge/ws",
            "not a url",
        ] {
            assert!(check_relay_url(bad).is_err(), "{bad}");
        }
    }
}

//! The bridge's uplink to a relay: it dials out (so a bridge behind NAT is reachable),
//! authenticates with a `bridge`-role token, and delivers every event at least once.
//!
//! Events wait in a bounded buffer until the relay acknowledges them. On every
//! (re)connect the relay's `welcome` says the highest seq it holds; if the buffer still
//! reaches back to it, the missing events are resent (the relay drops any duplicates
//! by seq) and the relay's replay ring stays whole; then the bridge sends its snapshot.
//! If the buffer overflowed while the relay was away, the gap cannot be filled: the
//! snapshot moves the relay's stream past it and clears its replay ring, so a client
//! that resumes across the gap is told `recovered: false` and takes a fresh snapshot,
//! never a silent hole.
//!
//! An `ack` promises the relay holds the event (in memory for the native relay, in
//! Durable Object storage for the edge relay). A relay that later welcomes the bridge
//! in the same epoch below what it acknowledged has broken that promise; the uplink
//! logs it and counts it (`ibws_uplink_ack_regressions_total`), and the chaos harness
//! fails on it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::start_error::StartError;
use futures_util::{SinkExt, StreamExt};
use ibws_shared::backoff::Backoff;
use ibws_shared::hub::StampedEvent;
use ibws_shared::protocol::{split_snapshot, BridgeFrame, CloseCode, RelayFrame};
use tokio::sync::{watch, Notify};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::Connector;
use tracing::{error, info, warn};

use crate::server::SharedHub;

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

/// The largest snapshot frame sent whole; larger snapshots go in parts of this size,
/// under the 64 KiB frame cap relays apply to every inbound frame.
const SNAPSHOT_PART_BYTES: usize = 48 * 1024;

struct Buffer {
    events: VecDeque<Arc<StampedEvent>>,
    cap: usize,
    dropped: u64,
    /// The highest position the relay acknowledged, across connections.
    acked: Option<(String, u64)>,
}

/// The uplink's counters, for `/metrics`.
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
}

/// Handle to a running uplink.
#[derive(Clone)]
pub struct Uplink {
    buf: Arc<Mutex<Buffer>>,
    more: Arc<Notify>,
    source: Arc<watch::Sender<bool>>,
    cut: Arc<Notify>,
    stats: Arc<UplinkStats>,
}

impl Uplink {
    /// Starts dialing the relay.
    pub fn spawn(cfg: UplinkConfig, hub: SharedHub, stats: Arc<UplinkStats>) -> (Uplink, tokio::task::JoinHandle<()>) {
        let buf = Buffer { events: VecDeque::new(), cap: cfg.buffer_cap.max(1), dropped: 0, acked: None };
        let up = Uplink {
            buf: Arc::new(Mutex::new(buf)),
            more: Arc::new(Notify::new()),
            source: Arc::new(watch::channel(false).0),
            cut: Arc::new(Notify::new()),
            stats,
        };
        let task = tokio::spawn(run(cfg, hub, up.clone()));
        (up, task)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buffer> {
        self.buf.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues events for the relay (called by the pipeline after the local hub).
    pub fn push(&self, events: &[Arc<StampedEvent>]) {
        let mut b = self.lock();
        for e in events {
            if b.events.len() == b.cap {
                b.events.pop_front();
                b.dropped += 1;
            }
            b.events.push_back(e.clone());
        }
        drop(b);
        self.more.notify_one();
    }

    /// The TWS link went up or down.
    pub fn set_source(&self, up: bool) {
        self.source.send_replace(up);
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
        let b = self.lock();
        (b.events.len(), b.dropped)
    }

    fn ack(&self, epoch: &str, seq: u64) {
        let mut b = self.lock();
        while b.events.front().is_some_and(|e| e.seq <= seq) {
            b.events.pop_front();
        }
        if b.acked.as_ref().is_none_or(|(e, s)| e != epoch || *s < seq) {
            b.acked = Some((epoch.to_owned(), seq));
            self.stats.acked_seq.store(seq, Ordering::Relaxed);
        }
    }

    /// Checks a relay's `welcome` against what it acknowledged before: the seq it had
    /// acknowledged, when it now holds less of the same epoch than it promised.
    fn welcome_regressed(&self, epoch: &str, seq: u64) -> Option<u64> {
        let b = self.lock();
        match &b.acked {
            Some((e, acked)) if e == epoch && seq < *acked => Some(*acked),
            _ => None,
        }
    }

    /// Buffered events with `after < seq <= upto`, and whether they start right after
    /// `after` (no gap).
    fn range(&self, after: u64, upto: u64) -> (Vec<Arc<StampedEvent>>, bool) {
        let b = self.lock();
        // seqs are increasing in the buffer: find the start without scanning it all
        let start = b.events.partition_point(|e| e.seq <= after);
        let v: Vec<_> = b.events.range(start..).take_while(|e| e.seq <= upto).cloned().collect();
        let contiguous = after >= upto || v.first().is_some_and(|e| e.seq == after + 1);
        (v, contiguous)
    }
}

fn publish_text(ev: &StampedEvent) -> Message {
    // The event is already serialized; wrap it without parsing it again.
    Message::Text(format!("{{\"type\":\"publish\",\"event\":{}}}", ev.json).into())
}

fn frame_text(f: &BridgeFrame) -> Message {
    Message::Text(serde_json::to_string(f).expect("bridge frames serialize").into())
}

async fn run(cfg: UplinkConfig, hub: SharedHub, up: Uplink) {
    let mut attempt = 0u32;
    loop {
        match session(&cfg, &hub, &up, &mut attempt).await {
            Ok(()) => return,
            Err(e) => {
                up.stats.connected.store(false, Ordering::Relaxed);
                let delay = Duration::from_millis(cfg.backoff.delay_ms(attempt, rand::random::<f64>()));
                warn!(error = %e, delay_ms = delay.as_millis() as u64, "relay uplink down; reconnecting");
                attempt = attempt.saturating_add(1);
                tokio::time::sleep(delay).await;
            }
        }
    }
}

async fn session(cfg: &UplinkConfig, hub: &SharedHub, up: &Uplink, attempt: &mut u32) -> Result<(), String> {
    let wscfg = WebSocketConfig::default().max_message_size(Some(64 << 20)).max_frame_size(Some(64 << 20));
    let connect = tokio_tungstenite::connect_async_tls_with_config(
        cfg.url.as_str(),
        Some(wscfg),
        true,
        Some(Connector::Rustls(cfg.tls.clone())),
    );
    let (mut ws, _) = tokio::time::timeout(Duration::from_secs(10), connect)
        .await
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|e| format!("connect: {e}"))?;
    let (epoch, head) = hub.with(|h| (h.position().0.to_owned(), h.position().1));
    let hello = BridgeFrame::Hello {
        token: cfg.token.clone(),
        epoch: epoch.clone(),
        seq: head,
        version: env!("CARGO_PKG_VERSION").into(),
    };
    ws.send(frame_text(&hello)).await.map_err(|e| e.to_string())?;
    let welcome = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => return serde_json::from_str::<RelayFrame>(t.as_str()).ok(),
                Some(Ok(Message::Close(f))) => {
                    warn!(code = ?f.as_ref().map(|f| u16::from(f.code)), "relay refused the bridge");
                    return None;
                }
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    })
    .await
    .ok()
    .flatten();
    let Some(RelayFrame::Welcome { tenant, epoch: r_epoch, seq: r_seq }) = welcome else {
        return Err("no welcome from the relay".into());
    };
    *attempt = 0;
    up.stats.connected.store(true, Ordering::Relaxed);
    up.stats.connects.fetch_add(1, Ordering::Relaxed);
    if let Some(acked) = up.welcome_regressed(&r_epoch, r_seq) {
        up.stats.ack_regressions.fetch_add(1, Ordering::Relaxed);
        error!(%tenant, relay_seq = r_seq, acked, "the relay lost events it had acknowledged as stored");
    }

    // A consistent view: the snapshot at seq S, the events up to S first when they fill
    // the relay's gap exactly, then the snapshot, then everything after S.
    let snap = hub.with(|h| h.snapshot());
    let s = snap.seq;
    let mut resent = 0;
    if r_epoch == epoch && r_seq <= s {
        let (missing, contiguous) = up.range(r_seq, s);
        if contiguous {
            for e in &missing {
                ws.feed(publish_text(e)).await.map_err(|e| e.to_string())?;
            }
            resent = missing.len();
            up.stats.resent.fetch_add(resent as u64, Ordering::Relaxed);
        }
    }
    // A large snapshot goes in parts, each under the relay's frame cap.
    for f in split_snapshot(snap, SNAPSHOT_PART_BYTES) {
        ws.feed(frame_text(&f)).await.map_err(|e| e.to_string())?;
    }
    ws.flush().await.map_err(|e| e.to_string())?;
    info!(%tenant, relay_seq = r_seq, bridge_seq = s, resent, "relay uplink connected");
    let mut last_sent = s;
    let mut source = up.source.subscribe();
    let connected = *source.borrow_and_update();
    ws.send(frame_text(&BridgeFrame::Source { connected })).await.map_err(|e| e.to_string())?;
    loop {
        let (pending, contiguous) = up.range(last_sent, u64::MAX);
        if !pending.is_empty() && !contiguous {
            // events dropped from a full buffer before they were sent: the relay
            // refuses a gap (4005), so start a new session, which begins with a snapshot
            return Err("uplink buffer overflowed before events were sent; resyncing with a snapshot".into());
        }
        if !pending.is_empty() {
            for e in &pending {
                ws.feed(publish_text(e)).await.map_err(|e| e.to_string())?;
            }
            ws.flush().await.map_err(|e| e.to_string())?;
            last_sent = pending.last().map(|e| e.seq).unwrap_or(last_sent);
        }
        tokio::select! {
            _ = up.more.notified() => {}
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    if let Ok(RelayFrame::Ack { epoch: e, seq }) = serde_json::from_str::<RelayFrame>(t.as_str()) {
                        if e == epoch {
                            up.ack(&e, seq);
                        }
                    }
                }
                Some(Ok(Message::Close(f))) => {
                    let code = f.as_ref().map(|f| u16::from(f.code));
                    if code == Some(CloseCode::StreamRefused.code()) {
                        error!(%tenant, "the relay refused this bridge's stream (4005: a gap or a seq out of range); reconnecting with a snapshot");
                    }
                    return Err(format!("relay closed the uplink ({code:?})"));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("relay closed the uplink".into()),
            },
            r = source.changed() => {
                if r.is_ok() {
                    let connected = *source.borrow_and_update();
                    ws.send(frame_text(&BridgeFrame::Source { connected })).await.map_err(|e| e.to_string())?;
                }
            }
            _ = up.cut.notified() => return Err("uplink cut".into()),
        }
    }
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

//! The WebSocket + HTTP server every ibws endpoint runs: the bridge's local endpoint
//! (loopback, no auth, seed-compatible), the bridge's remote endpoint and the relay
//! (TLS, JWT, exact Origin allowlist, limits).
//!
//! One port serves `/websocket/ws` (clients), `/bridge/ws` (bridges, relay only) and
//! `/healthz`; the local endpoint also serves `/metrics`, `/status` and the dashboard
//! ([`Routes`]): nothing about an account answers without a token on a listener
//! reachable from beyond loopback. Refusals after the WebSocket upgrade use the close
//! codes of `ibws_shared::protocol::CloseCode`, so browser clients (which never see an
//! HTTP status of a failed upgrade) learn why.

mod assets;
pub(crate) mod bridge_refusal;
pub(crate) mod client_socket;
pub mod http;
mod metrics;
mod shared_hub;
mod status_page;
mod tenants;
pub(crate) mod ws;
pub mod ws_frames;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ibws_shared::auth::{Claims, TokenVerifier};
use ibws_shared::hub::ConnectInfo;
use ibws_shared::protocol::CloseCode;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, info, warn};

use crate::tls_stream::accept as accept_tls;
use client_socket::ClientSocket;
use ibws_shared::relay::first_auth::{self, verdict, First};
pub use ibws_shared::relay::limits::{ConnGuard, ConnLimiter, LimitConfig, PendingGuard};
use ibws_shared::relay::{admit, Admission, Refused, Request};
pub use ibws_shared::relay::{HostPolicy, OriginPolicy};
pub use shared_hub::SharedHub;
pub use tenants::{Hubs, TenantMap};

/// Link state the pages report.
#[derive(Default)]
pub struct Status {
    pub tws_addr: String,
    /// The bridge's uplink to a relay, when it has one.
    pub uplink: Option<Arc<crate::uplink::UplinkStats>>,
    /// Relay: bridges that took a tenant over from one that failed its liveness check.
    pub bridge_takeovers: std::sync::atomic::AtomicU64,
    /// Relay: second bridges refused because the tenant's bridge was alive.
    pub bridges_refused: std::sync::atomic::AtomicU64,
    /// Why the link to TWS went down, while it is down (the dashboard shows it).
    pub tws_down_reason: std::sync::Mutex<Option<String>>,
}

/// Which HTTP routes a listener answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routes {
    /// The local endpoint (loopback): the upgrade, `/healthz` with the stream position,
    /// `/metrics`, the dashboard and `/status`.
    Local,
    /// A listener reachable from beyond loopback (the remote endpoint, the relay): only
    /// the upgrade (which demands a token) and a `/healthz` that says nothing about any
    /// account. Everything else is 404.
    Public,
    /// A relay's operator listener (`--metrics-listen`, loopback by default):
    /// `/metrics`, `/status`, `/healthz`; no upgrade.
    Metrics,
}

/// How an endpoint treats connections.
pub struct Policy {
    pub routes: Routes,
    /// When set, every request's `Host` must be a loopback name or address (with or
    /// without a port) or one of these: a web page that rebinds its DNS name to
    /// 127.0.0.1 reaches the local endpoint with its own name as `Host`.
    pub hosts: Option<HostPolicy>,
    /// When set, clients must present a valid token (first message or
    /// `Sec-WebSocket-Protocol: bearer.<JWT>`); tokens in the query string are refused.
    pub auth: Option<Arc<dyn TokenVerifier>>,
    pub origins: OriginPolicy,
    pub limits: Arc<ConnLimiter>,
    pub max_frame: usize,
    pub auth_deadline: Duration,
    /// A write to a client must complete within this; a client that stops reading
    /// is dropped when it passes, and its slot freed.
    pub send_timeout: Duration,
}

/// The default of [`Policy::send_timeout`].
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// A bridge link's buffers (`/bridge/ws`, tungstenite): bridges are few (one live per
/// tenant) and publish bursts of events, so reads take up to 16 KiB at a time (the read
/// size is also tungstenite's most per read call) and writes are gathered up to 16
/// KiB. Frames are at most `max_frame`: a large snapshot comes in parts. (Clients'
/// connections do not use tungstenite: see `ws_frames`.)
pub fn bridge_ws_config(max_frame: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .write_buffer_size(16 * 1024)
        .max_message_size(Some(max_frame))
        .max_frame_size(Some(max_frame))
}

impl Policy {
    /// The seed-compatible local endpoint: no auth, loopback origins. Every local
    /// client shares one address, so the per-address limits are the total ones.
    pub fn local(allowed_origins: Vec<String>, allowed_hosts: Vec<String>, max_frame: usize) -> Policy {
        let total = LimitConfig::default().max_connections;
        Policy {
            routes: Routes::Local,
            hosts: Some(HostPolicy { allowed: allowed_hosts }),
            auth: None,
            origins: OriginPolicy::local(allowed_origins),
            limits: ConnLimiter::new(LimitConfig {
                max_connections: total,
                max_per_ip: total,
                handshake_burst: 1_000,
                handshakes_per_sec: 500,
                max_pending_per_ip: 1_000,
            }),
            max_frame,
            auth_deadline: Duration::from_secs(5),
            send_timeout: SEND_TIMEOUT,
        }
    }
}

/// What a connection on `/bridge/ws` is handed to (the relay's ingest).
pub type BridgeHandler =
    Arc<dyn Fn(WebSocketStream<BoxedIo>, IpAddr) -> futures_util::future::BoxFuture<'static, ()> + Send + Sync>;

/// Any byte stream (plain TCP or TLS).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}
pub type BoxedIo = Box<dyn Io>;

/// One listening endpoint.
#[derive(Clone)]
pub struct Endpoint {
    pub hubs: Hubs,
    pub policy: Arc<Policy>,
    pub status: Arc<Status>,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub bridges: Option<BridgeHandler>,
    /// MCP over streamable HTTP at `/mcp` (`ibws mcp --transport http`; local only).
    pub mcp: Option<Arc<crate::agent::McpHttp>>,
    /// Flips to true when the owner stops: every connection is dropped at once.
    pub stop: watch::Receiver<bool>,
}

/// Creates the stop signal for an [`Endpoint`]; send `true` to stop it.
pub fn stop_signal() -> (watch::Sender<bool>, watch::Receiver<bool>) {
    watch::channel(false)
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow_and_update() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

impl Endpoint {
    /// Accepts connections until the listener fails.
    pub async fn serve(self, listener: TcpListener) {
        let stop = self.stop.clone();
        tokio::select! {
            _ = self.accept_loop(listener) => {}
            _ = stopped(stop) => {}
        }
    }

    async fn accept_loop(self, listener: TcpListener) {
        loop {
            match listener.accept().await {
                Ok((tcp, peer)) => {
                    // Idle sockets from one address cannot pile up before the head
                    // deadline: past its share, a new one is closed at once.
                    let Some(pending) = self.policy.limits.pending(peer.ip()) else {
                        drop(tcp);
                        continue;
                    };
                    let _ = tcp.set_nodelay(true);
                    let ep = self.clone();
                    let stop = self.stop.clone();
                    tokio::spawn(async move {
                        tokio::select! {
                            _ = ep.connection(tcp, peer, pending) => {}
                            _ = stopped(stop) => {}
                        }
                    });
                }
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    async fn connection(&self, tcp: tokio::net::TcpStream, peer: SocketAddr, pending: PendingGuard) {
        let stream: BoxedIo = match &self.tls {
            Some(config) => {
                match tokio::time::timeout(Duration::from_secs(10), accept_tls(tcp, config.clone())).await {
                    Ok(Ok(s)) => Box::new(s),
                    Ok(Err(e)) => {
                        debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                }
            }
            None => Box::new(tcp),
        };
        self.handle(stream, peer, pending).await
    }

    async fn handle(&self, mut stream: BoxedIo, peer: SocketAddr, pending: PendingGuard) {
        let head = http::read_head(&mut stream, Duration::from_secs(10)).await;
        drop(pending);
        let (head, rest) = match head {
            Ok(h) => h,
            Err(e) => {
                debug!(%peer, ?e, "bad request head");
                let _ = http::respond(&mut stream, "400 Bad Request", "text/plain", b"bad request\n").await;
                return;
            }
        };
        if let Some(hosts) = &self.policy.hosts {
            if !hosts.permits(head.header("host")) {
                info!(%peer, "request refused: Host is not a loopback name");
                let _ = http::respond(&mut stream, "403 Forbidden", "text/plain", b"host not allowed\n").await;
                return;
            }
        }
        let routes = self.policy.routes;
        let pages = routes != Routes::Public;
        let upgrades = routes != Routes::Metrics;
        let result = match (head.method.as_str(), head.path.as_str()) {
            ("GET", "/websocket/ws") if upgrades && head.is_websocket_upgrade() => {
                return self.client(stream, head, peer.ip()).await
            }
            ("GET", "/bridge/ws") if upgrades && head.is_websocket_upgrade() && self.bridges.is_some() => {
                return self.bridge(stream, head, peer.ip()).await
            }
            ("GET", "/websocket/ws" | "/bridge/ws") if upgrades => {
                http::respond(&mut stream, "426 Upgrade Required", "text/plain", b"WebSocket upgrade required\n").await
            }
            ("POST" | "GET" | "DELETE", crate::agent::http::PATH) if pages && self.mcp.is_some() => {
                let mcp = self.mcp.clone().expect("guarded");
                return mcp.serve(stream, head, rest).await;
            }
            ("GET", "/healthz") => {
                let body = if routes == Routes::Public { r#"{"status":"ok"}"#.to_owned() } else { self.health_json() };
                http::respond(&mut stream, "200 OK", "application/json", body.as_bytes()).await
            }
            ("GET", "/metrics") if pages => {
                let body = metrics::render(&self.hubs, &self.status, &self.policy.limits);
                http::respond(&mut stream, "200 OK", "text/plain; version=0.0.4", body.as_bytes()).await
            }
            ("GET", path) if pages && assets::get(path).is_some() => {
                let (ctype, body) = assets::get(path).unwrap_or(("text/plain", b""));
                http::respond(&mut stream, "200 OK", ctype, body).await
            }
            ("GET", "/favicon.ico") => http::respond(&mut stream, "204 No Content", "image/x-icon", b"").await,
            ("GET", "/" | "/status") if pages => {
                let body = status_page::render(&self.hubs, &self.status);
                http::respond(&mut stream, "200 OK", "text/html; charset=utf-8", body.as_bytes()).await
            }
            _ => http::respond(&mut stream, "404 Not Found", "text/plain", b"not found\n").await,
        };
        if let Err(e) = result {
            debug!(%peer, error = %e, "response failed");
        }
    }

    fn health_json(&self) -> String {
        let hubs = self.hubs.all();
        let clients: usize = hubs.iter().map(|(_, h)| h.with(|h| h.client_count())).sum();
        let mut v = serde_json::json!({
            "status": "ok",
            "tws_connected": self.hubs.tws_connected(),
            "clients": clients,
        });
        if let Some(why) = self.status.tws_down_reason.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            v["tws_down_reason"] = why.into();
        }
        if let Some(u) = &self.status.uplink {
            // the bridge's link to its relay (the dashboard shows it beside TWS's)
            v["relay"] = serde_json::json!({
                "connected": u.connected.load(Ordering::Relaxed),
                "acked_seq": u.acked_seq.load(Ordering::Relaxed),
            });
            if let Some(why) = u.last_error() {
                v["relay"]["last_error"] = why.into();
            }
        }
        if let Hubs::Single(h) = &self.hubs {
            let (epoch, seq) = h.with(|h| (h.position().0.to_owned(), h.position().1));
            v["epoch"] = epoch.into();
            v["seq"] = seq.into();
        } else {
            v["tenants"] = hubs.len().into();
        }
        v.to_string()
    }

    /// Answers the upgrade (echoing the `ibws` subprotocol when offered). Never echoes
    /// a token. False (after answering with an error) when the request cannot upgrade.
    async fn accept_upgrade(&self, stream: &mut BoxedIo, head: &http::RequestHead) -> bool {
        let Some(key) = head.header("sec-websocket-key") else { return false };
        if head.header("sec-websocket-version") != Some("13") {
            let _ =
                http::respond(stream, "426 Upgrade Required", "text/plain", b"WebSocket version 13 required\n").await;
            return false;
        }
        let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
        let proto =
            if head.header_has("sec-websocket-protocol", "ibws") { "Sec-WebSocket-Protocol: ibws\r\n" } else { "" };
        let resp = format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n{proto}\r\n");
        stream.write_all(resp.as_bytes()).await.is_ok()
    }

    /// A bridge's upgrade: tungstenite's WebSocket (a few long-lived links with large
    /// frames; their limits are set by the relay's ingest).
    async fn upgrade(&self, mut stream: BoxedIo, head: &http::RequestHead) -> Option<WebSocketStream<BoxedIo>> {
        if !self.accept_upgrade(&mut stream, head).await {
            return None;
        }
        let cfg = bridge_ws_config(self.policy.max_frame);
        Some(WebSocketStream::from_raw_socket(stream, Role::Server, Some(cfg)).await)
    }

    /// A client's upgrade: its socket (see [`client_socket`]).
    async fn upgrade_client(&self, mut stream: BoxedIo, head: &http::RequestHead) -> Option<ClientSocket> {
        if !self.accept_upgrade(&mut stream, head).await {
            return None;
        }
        Some(ClientSocket::new(stream, self.policy.max_frame))
    }

    /// The shared relay core's decision on an upgrade request
    /// (`ibws_shared::relay::admission`, the same the edge relay's Worker asks).
    fn admission(&self, head: &http::RequestHead, now: ibws_shared::hub::Now) -> Admission {
        let facts = Request {
            path: &head.path,
            query: &head.query,
            upgrade: true,
            origin: head.header("origin"),
            protocols: head.header("sec-websocket-protocol"),
        };
        admit(&facts, &self.policy.origins, self.policy.auth.as_deref(), (now.unix_us / 1_000_000) as u64)
    }

    async fn client(&self, stream: BoxedIo, head: http::RequestHead, ip: IpAddr) {
        let p = &self.policy;
        let now = crate::clock::now();
        // The decision is the shared relay core's; only limits are this host's own.
        let (mut refusal, pre_claims) = match self.admission(&head, now) {
            Admission::Accept { claims, .. } => (None, claims),
            Admission::Refused(Refused::Close { code, reason }) => (Some((code, reason)), None),
            Admission::Refused(Refused::Http { status, body }) => {
                match head.header("origin").filter(|o| status == 403 && !p.origins.permits(Some(o))) {
                    Some(origin) => {
                        // the page's origin (a header, not a secret), cut and escaped
                        let origin: String = origin.chars().take(200).collect();
                        info!(
                            %ip,
                            status,
                            ?origin,
                            "WebSocket refused: this page's origin is not allowed; allow it with \
                             --allowed-origins (the local endpoint, a relay) or --remote-allowed-origins \
                             (a bridge's remote endpoint)"
                        );
                    }
                    None => info!(%ip, status, "WebSocket refused before the upgrade"),
                }
                let mut stream = stream;
                let _ = http::respond(&mut stream, http::status_line(status), "text/plain", body.as_bytes()).await;
                return;
            }
            Admission::Health => return,
        };
        // Limits are decided before the token's verdict is told.
        let mut guard = None;
        if !p.limits.admit_handshake(ip, now.mono_ms) {
            refusal = Some((CloseCode::RateLimited, "too many connection attempts; retry later"));
        } else {
            match p.limits.acquire(ip) {
                Ok(g) => guard = Some(g),
                Err(code) => refusal = Some((code, "connection limit reached")),
            }
        }
        let Some(mut socket) = self.upgrade_client(stream, &head).await else { return };
        let deadline = p.send_timeout;
        if let Some((code, msg)) = refusal {
            refuse(&mut socket, code, Some(msg), deadline).await;
            return;
        }
        let mut early = Vec::new();
        let claims = match (&p.auth, pre_claims) {
            (None, _) => None,
            (Some(_), Some(c)) => Some(c),
            (Some(v), None) => match first_message_auth(&mut socket, v.as_ref(), p.auth_deadline, &mut early).await {
                Ok(c) => Some(c),
                Err(AuthFailure::Refused(code)) => {
                    refuse(&mut socket, code, None, deadline).await;
                    return;
                }
                Err(AuthFailure::Broken(v)) => {
                    // a broken frame is the transport's error, whatever came before it
                    let (code, reason) = v.close();
                    socket.close_with(code, reason, None, deadline).await;
                    return;
                }
            },
        };
        let Some(hub) = self.hubs.for_client(claims.as_ref().map(|c| c.tenant.as_str())) else {
            refuse(&mut socket, CloseCode::Forbidden, Some("no tenant"), deadline).await;
            return;
        };
        let info = ConnectInfo { client_id: head.query_param("client_id"), claims };
        // The connection lives on in a task of its own, sized for what it holds from
        // now on: a task is as large as the largest state of its future, and the
        // handshake's (TLS, request head, upgrade, auth) would otherwise be carried by
        // every idle connection for its whole life.
        drop(head);
        let conn = ws::Conn::open(socket, hub, info, early, guard, self.policy.send_timeout);
        tokio::spawn(ws::run(conn, self.stop.clone()));
    }

    async fn bridge(&self, mut stream: BoxedIo, head: http::RequestHead, ip: IpAddr) {
        let now = crate::clock::now();
        match self.admission(&head, now) {
            Admission::Accept { .. } => {}
            Admission::Refused(Refused::Close { code, reason }) => {
                if let Some(mut ws) = self.upgrade(stream, &head).await {
                    bridge_refusal::close_with(&mut ws, code, Some(reason)).await;
                }
                return;
            }
            Admission::Refused(Refused::Http { status, body }) => {
                let _ = http::respond(&mut stream, http::status_line(status), "text/plain", body.as_bytes()).await;
                return;
            }
            Admission::Health => return,
        }
        if !self.policy.limits.admit_handshake(ip, now.mono_ms) {
            if let Some(mut ws) = self.upgrade(stream, &head).await {
                bridge_refusal::close_with(&mut ws, CloseCode::RateLimited, None).await;
            }
            return;
        }
        let Some(ws) = self.upgrade(stream, &head).await else { return };
        if let Some(h) = &self.bridges {
            h(ws, ip).await;
        }
    }
}

/// Sends a refusal: an `error` frame saying why (the relay core's words for `code`
/// unless `message` is given), then the close frame with `code`.
async fn refuse(socket: &mut ClientSocket, code: CloseCode, message: Option<&str>, deadline: Duration) {
    let now = crate::clock::now();
    let why = message.unwrap_or(first_auth::why(code));
    let error = ibws_shared::relay::refusal_frame(code, why, now.unix_us, crate::clock::utc_offset_secs());
    socket.close_with(code.code(), code.reason(), Some(error.into()), deadline).await;
}

/// Why a client's first-message auth did not let it in.
enum AuthFailure {
    /// Closed with one of our codes (auth required, unsupported data, too big, ...).
    Refused(CloseCode),
    /// The client broke RFC 6455: closed with the transport's code (1002, 1007).
    Broken(ws_frames::Violation),
}

impl From<CloseCode> for AuthFailure {
    fn from(c: CloseCode) -> Self {
        AuthFailure::Refused(c)
    }
}

/// Waits for `{"type":"auth","token":...}` as the first message. Messages the client
/// sent right behind it (read with it) are kept in `early`, in order, for the hub.
async fn first_message_auth(
    socket: &mut ClientSocket,
    v: &dyn TokenVerifier,
    deadline: Duration,
    early: &mut Vec<ws::EarlyMessage>,
) -> Result<Claims, AuthFailure> {
    use client_socket::ReadEnd;
    use ws_frames::{Incoming, Violation};
    // This driver only reads the first frame (and keeps what came behind it); what it
    // means is the relay core's verdict, the hub's too.
    enum Got {
        Text(String),
        Binary,
    }
    let first = tokio::time::timeout(deadline, async {
        let mut first: Option<Got> = None;
        loop {
            let end = socket
                .read(|m| match (m, &first) {
                    (Incoming::Text(t), None) => first = Some(Got::Text(t.to_owned())),
                    (Incoming::Binary(_), None) => first = Some(Got::Binary),
                    (Incoming::Text(t), Some(_)) => early.push(ws::EarlyMessage::Text(t.to_owned())),
                    (Incoming::Binary(n), Some(_)) => early.push(ws::EarlyMessage::Binary(n)),
                    _ => {}
                })
                .await;
            match end {
                ReadEnd::Violation(Violation::TooBig) => return Ok(None),
                ReadEnd::Violation(v) => return Err(AuthFailure::Broken(v)),
                ReadEnd::Progress => {}
                _ => return Err(AuthFailure::Refused(CloseCode::AuthRequired)),
            }
            if first.is_some() {
                return Ok(first);
            }
            if socket.owes() && !socket.flush_owed(deadline).await {
                return Err(AuthFailure::Refused(CloseCode::AuthRequired));
            }
        }
    })
    .await
    .map_err(|_| AuthFailure::Refused(CloseCode::AuthRequired))??;
    let first = match &first {
        Some(Got::Text(t)) => First::Text(t),
        Some(Got::Binary) => First::Binary,
        None => First::TooBig,
    };
    Ok(verdict(first, v, (crate::clock::now().unix_us / 1_000_000) as u64)?)
}

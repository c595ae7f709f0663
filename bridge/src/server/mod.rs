//! The bridge's local endpoint: one port for the seed-compatible WebSocket
//! (`/websocket/ws?client_id=...`), `/healthz`, `/metrics` and the status page `/`.

mod http;
mod metrics;
mod shared_hub;
mod status_page;
mod ws;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ibws_shared::hub::ConnectInfo;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info, warn};

pub use shared_hub::SharedHub;

/// Who may open the WebSocket from a browser.
#[derive(Clone, Debug, Default)]
pub struct OriginPolicy {
    /// Exact origins allowed besides loopback pages (`http://localhost:*`,
    /// `http://127.0.0.1:*`, `http://[::1]:*`).
    pub allowed: Vec<String>,
}

impl OriginPolicy {
    /// Non-browser clients send no Origin and are allowed. A browser page may connect
    /// only from loopback or an allowed origin, so a web site a trader happens to have
    /// open cannot read their orders from the local endpoint.
    pub fn permits(&self, origin: Option<&str>) -> bool {
        let Some(o) = origin else { return true };
        if self.allowed.iter().any(|a| a == o || a == "*") {
            return true;
        }
        let host = o
            .strip_prefix("http://")
            .or_else(|| o.strip_prefix("https://"))
            .unwrap_or("");
        let host = if host.starts_with('[') {
            host.split(']').next().map(|h| &h[1..]).unwrap_or("")
        } else {
            host.split(':').next().unwrap_or("")
        };
        matches!(host, "localhost" | "127.0.0.1" | "::1")
    }
}

/// Link state the pages report.
#[derive(Default)]
pub struct Status {
    pub tws_connected: AtomicBool,
    pub tws_addr: String,
}

/// Everything a connection handler needs.
#[derive(Clone)]
pub struct Endpoint {
    pub hub: SharedHub,
    pub origins: OriginPolicy,
    pub status: Arc<Status>,
    pub max_frame: usize,
}

impl Endpoint {
    /// Accepts connections until the listener fails.
    pub async fn serve(self, listener: TcpListener) {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    let ep = self.clone();
                    tokio::spawn(async move { ep.handle(stream, peer).await });
                }
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    async fn handle(&self, mut stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let head = match http::read_head(&mut stream, Duration::from_secs(10)).await {
            Ok(h) => h,
            Err(e) => {
                debug!(%peer, ?e, "bad request head");
                let _ = http::respond(
                    &mut stream,
                    "400 Bad Request",
                    "text/plain",
                    b"bad request\n",
                )
                .await;
                return;
            }
        };
        let result = match (head.method.as_str(), head.path.as_str()) {
            ("GET", "/websocket/ws") if head.is_websocket_upgrade() => {
                return self.upgrade(stream, head, peer.ip()).await
            }
            ("GET", "/websocket/ws") => {
                http::respond(
                    &mut stream,
                    "426 Upgrade Required",
                    "text/plain",
                    b"WebSocket upgrade required\n",
                )
                .await
            }
            ("GET", "/healthz") => {
                let body = self.health_json();
                http::respond(&mut stream, "200 OK", "application/json", body.as_bytes()).await
            }
            ("GET", "/metrics") => {
                let body = metrics::render(&self.hub, &self.status);
                http::respond(
                    &mut stream,
                    "200 OK",
                    "text/plain; version=0.0.4",
                    body.as_bytes(),
                )
                .await
            }
            ("GET", "/") => {
                let body = status_page::render(&self.hub, &self.status);
                http::respond(
                    &mut stream,
                    "200 OK",
                    "text/html; charset=utf-8",
                    body.as_bytes(),
                )
                .await
            }
            _ => http::respond(&mut stream, "404 Not Found", "text/plain", b"not found\n").await,
        };
        if let Err(e) = result {
            debug!(%peer, error = %e, "response failed");
        }
    }

    fn health_json(&self) -> String {
        let (epoch, seq, clients) = self.hub.with(|h| {
            let (e, s) = h.position();
            (e.to_owned(), s, h.client_count())
        });
        serde_json::json!({
            "status": "ok",
            "tws_connected": self.status.tws_connected.load(Ordering::Relaxed),
            "clients": clients,
            "epoch": epoch,
            "seq": seq,
        })
        .to_string()
    }

    async fn upgrade(&self, mut stream: TcpStream, head: http::RequestHead, ip: IpAddr) {
        if !self.origins.permits(head.header("origin")) {
            info!(%ip, "WebSocket refused: origin not allowed");
            let _ = http::respond(
                &mut stream,
                "403 Forbidden",
                "text/plain",
                b"origin not allowed\n",
            )
            .await;
            return;
        }
        let Some(key) = head.header("sec-websocket-key").map(str::to_owned) else {
            let _ = http::respond(
                &mut stream,
                "400 Bad Request",
                "text/plain",
                b"missing Sec-WebSocket-Key\n",
            )
            .await;
            return;
        };
        if head.header("sec-websocket-version") != Some("13") {
            let _ = http::respond(
                &mut stream,
                "426 Upgrade Required",
                "text/plain",
                b"WebSocket version 13 required\n",
            )
            .await;
            return;
        }
        let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
        let resp = format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n");
        if stream.write_all(resp.as_bytes()).await.is_err() {
            return;
        }
        let info = ConnectInfo {
            client_id: head.query_param("client_id"),
            claims: None,
        };
        ws::run(stream, self.hub.clone(), info, self.max_frame).await;
    }
}

/// Runs the hub's timers (pings, idle clients, deadlines).
pub async fn run_hub_timers(hub: SharedHub) {
    let mut t = tokio::time::interval(Duration::from_millis(250));
    loop {
        t.tick().await;
        let now = crate::clock::now();
        hub.with(|h| h.tick(now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let p = OriginPolicy {
            allowed: vec!["https://app.example".into()],
        };
        assert!(p.permits(None));
        assert!(p.permits(Some("http://localhost:8000")));
        assert!(p.permits(Some("http://127.0.0.1:3000")));
        assert!(p.permits(Some("http://[::1]:8000")));
        assert!(p.permits(Some("https://app.example")));
        assert!(!p.permits(Some("https://evil.example")));
        assert!(!p.permits(Some("http://localhost.evil.example")));
        assert!(!p.permits(Some("null")));
    }
}

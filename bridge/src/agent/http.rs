//! MCP over streamable HTTP on the bridge's loopback listener (`ibws mcp --transport
//! http`): `POST`/`GET`/`DELETE /mcp`, served by `rmcp`'s streamable HTTP service.
//!
//! Every request passes the local endpoint's rules first (a loopback `Host`, an allowed
//! `Origin` when a browser sends one) and then must carry the MCP token
//! (`Authorization: Bearer ...`, compared in constant time); anything else is refused
//! before `rmcp` sees a byte. One request per connection (`Connection: close`), bodies
//! up to [`MAX_BODY`], read within [`BODY_TIMEOUT`].

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::{debug, info};

use super::IbwsMcp;
use crate::server::http::{respond, RequestHead};
use crate::server::{BoxedIo, OriginPolicy};

/// Largest request body (a JSON-RPC message).
pub const MAX_BODY: usize = 1024 * 1024;
/// A body must arrive within this long after its head.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// The path MCP is served at.
pub const PATH: &str = "/mcp";

/// The MCP endpoint of one bridge.
pub struct McpHttp {
    service: StreamableHttpService<IbwsMcp, LocalSessionManager>,
    token: String,
    origins: OriginPolicy,
}

/// Equal in time independent of where the inputs differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl McpHttp {
    /// `allowed_hosts`: the bridge's extra host names (loopback ones are always allowed).
    pub fn new(server: IbwsMcp, token: String, origins: OriginPolicy, allowed_hosts: &[String]) -> McpHttp {
        let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
        hosts.extend(allowed_hosts.iter().cloned());
        let config = StreamableHttpServerConfig::default().with_allowed_hosts(hosts);
        let service = StreamableHttpService::new(move || Ok(server.clone()), Arc::default(), config);
        McpHttp { service, token, origins }
    }

    fn authorised(&self, head: &RequestHead) -> bool {
        let given = head.header("authorization").and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("");
        same(given.trim().as_bytes(), self.token.as_bytes())
    }

    /// Serves one request whose head was read (the local endpoint checked its `Host`);
    /// `rest` is what arrived after the head.
    pub async fn serve(&self, mut stream: BoxedIo, head: RequestHead, mut rest: Vec<u8>) {
        if !self.origins.permits(head.header("origin")) {
            info!("MCP request refused: Origin not allowed");
            let _ = respond(&mut stream, "403 Forbidden", "text/plain", b"origin not allowed\n").await;
            return;
        }
        if !self.authorised(&head) {
            info!("MCP request refused: no or wrong token");
            let _ = stream
                .write_all(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .await;
            return;
        }
        if head.header_has("transfer-encoding", "chunked") {
            let _ = respond(&mut stream, "411 Length Required", "text/plain", b"send Content-Length\n").await;
            return;
        }
        let len = match head.header("content-length").map(|v| v.trim().parse::<usize>()) {
            None => 0,
            Some(Ok(n)) if n <= MAX_BODY => n,
            Some(Ok(_)) => {
                let _ = respond(&mut stream, "413 Content Too Large", "text/plain", b"body too large\n").await;
                return;
            }
            Some(Err(_)) => {
                let _ = respond(&mut stream, "400 Bad Request", "text/plain", b"bad Content-Length\n").await;
                return;
            }
        };
        if rest.len() > len {
            rest.truncate(len); // one request per connection: anything after it is dropped
        }
        let read = async {
            let mut chunk = [0u8; 8192];
            while rest.len() < len {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                rest.extend_from_slice(&chunk[..n.min(len - rest.len())]);
            }
            Ok::<_, std::io::Error>(())
        };
        match tokio::time::timeout(BODY_TIMEOUT, read).await {
            Ok(Ok(())) => {}
            _ => {
                let _ = respond(&mut stream, "400 Bad Request", "text/plain", b"incomplete body\n").await;
                return;
            }
        }
        let target = if head.query.is_empty() { head.path.clone() } else { format!("{}?{}", head.path, head.query) };
        let mut req = http::Request::builder().method(head.method.as_str()).uri(target);
        for (k, v) in &head.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let Ok(req) = req.body(Full::new(Bytes::from(rest))) else {
            let _ = respond(&mut stream, "400 Bad Request", "text/plain", b"bad request\n").await;
            return;
        };
        let mut resp = self.service.handle(req).await;
        let mut out = format!("HTTP/1.1 {}\r\n", resp.status());
        for (k, v) in resp.headers() {
            if k == http::header::CONTENT_LENGTH
                || k == http::header::CONNECTION
                || k == http::header::TRANSFER_ENCODING
            {
                continue;
            }
            out.push_str(&format!("{}: {}\r\n", k, v.to_str().unwrap_or("")));
        }
        // the body (JSON, or an event stream that lasts the session) ends with the connection
        out.push_str("Cache-Control: no-store\r\nConnection: close\r\n\r\n");
        if stream.write_all(out.as_bytes()).await.is_err() {
            return;
        }
        let body = resp.body_mut();
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame;
            if let Some(data) = frame.data_ref() {
                if stream.write_all(data).await.is_err() || stream.flush().await.is_err() {
                    debug!("MCP client went away");
                    return;
                }
            }
        }
        let _ = stream.shutdown().await;
    }
}

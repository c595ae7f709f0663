//! A live ibws stack for the browser client's tests (wasm-bindgen-test in Chromium):
//! a simulator with a random order flow, a bridge with its local endpoint, a remote
//! endpoint requiring a JWT, and a TCP proxy in front of the local endpoint that can
//! freeze its connections (a half-open socket, as on mobile networks and behind
//! proxies). A small HTTP control API (CORS-open, loopback only) lets the tests:
//!
//! - `GET /info`: endpoints (local, proxied, JWT-protected, and a native relay fed by
//!   the bridge's uplink, and the edge relay under `workerd`) and tokens as JSON;
//! - `GET /restart`: close every client with 4000 (server restarting), keeping the
//!   stream, so clients must resume with nothing lost;
//! - `GET /blackhole`: freeze every connection through the proxy.
//!
//! Usage: `ibws-test-server [control-address]` (default 127.0.0.1:18787). It prints
//! `ready <control URL>` when serving, and runs until SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ibws_bridge::app::{Bridge, BridgeConfig, RemoteConfig};
use ibws_bridge::relay::{Relay, RelayConfig};
use ibws_bridge::uplink::UplinkConfig;
use ibws_shared::auth::{mint, Claims, JwtVerifier, Role, SignKey, VerifyKey};
use ibws_shared::hub::HubConfig;
use ibws_shared::protocol::CloseCode;
use ibws_tws_io::sim::{SimConfig, Simulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const SECRET: &[u8] = b"ibws-test-server-secret-0123456789abcdef";

#[tokio::main]
async fn main() {
    let control: SocketAddr =
        std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:18787".into()).parse().expect("address");
    let sim = Simulator::start(SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        flow_interval: Some(Duration::from_millis(80)),
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    let verifier = Arc::new(JwtVerifier::new(VerifyKey::Hs256(SECRET.to_vec()), "ibws", "ibws", 30).unwrap());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let claims = Claims {
        sub: "browser-test".into(),
        role: Role::Client,
        tenant: "default".into(),
        scope: vec![],
        accounts: vec![],
        exp: now + 86_400,
        nbf: None,
        iat: Some(now),
        iss: "ibws".into(),
        aud: "ibws".into(),
    };
    // the native relay, fed by the bridge's uplink (plain ws on loopback)
    let relay = Relay::start(RelayConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: None,
        verifier: verifier.clone(),
        allowed_origins: vec!["*".into()],
        limits: Default::default(),
        hub: HubConfig { require_auth: true, ..HubConfig::default() },
        insecure: false,
        metrics_listen: None,
        send_timeout: ibws_bridge::server::SEND_TIMEOUT,
        max_memory_bytes: ibws_bridge::relay::DEFAULT_MAX_MEMORY_BYTES,
    })
    .await
    .expect("relay");
    let bridge_token =
        mint(&Claims { sub: "bridge".into(), role: Role::Bridge, ..claims.clone() }, &SignKey::Hs256(SECRET.to_vec()))
            .unwrap();
    let bridge = Bridge::start(BridgeConfig {
        uplink: Some(UplinkConfig {
            url: format!("ws://127.0.0.1:{}/bridge/ws", relay.addr.port()),
            token: bridge_token,
            tls: ibws_bridge::tls::client_config(None).unwrap(),
            buffer_cap: 100_000,
            backoff: Default::default(),
        }),
        tws: sim.addr().to_string(),
        listen: "127.0.0.1:0".parse().unwrap(),
        remote: Some(RemoteConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            tenant: "default".into(),
            tls: None,
            verifier,
            // the test runner serves its page from a random loopback port
            allowed_origins: vec!["*".into()],
            limits: Default::default(),
        }),
        ..BridgeConfig::default()
    })
    .await
    .expect("bridge");
    let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_addr = proxy.local_addr().unwrap();
    let frozen = Arc::new(AtomicU64::new(0));
    tokio::spawn(run_proxy(proxy, bridge.addr, frozen.clone()));

    // the edge relay under workerd, fed by its own simulator and bridge
    let sim_edge = Simulator::start(SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        flow_interval: Some(Duration::from_millis(80)),
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    let edge_storage = std::env::temp_dir().join(format!("ibws-test-server-edge-{}", std::process::id()));
    std::fs::create_dir_all(&edge_storage).unwrap();
    let edge_port = ibws_tests::free_port();
    let workerd = ibws_tests::Workerd::start(edge_port, &edge_storage, std::str::from_utf8(SECRET).unwrap(), "*");
    let edge_bridge = Bridge::start(BridgeConfig {
        tws: sim_edge.addr().to_string(),
        listen: "127.0.0.1:0".parse().unwrap(),
        uplink: Some(UplinkConfig {
            url: format!("ws://127.0.0.1:{edge_port}/bridge/ws?tenant=default"),
            token: mint(
                &Claims { sub: "bridge".into(), role: Role::Bridge, ..claims.clone() },
                &SignKey::Hs256(SECRET.to_vec()),
            )
            .unwrap(),
            tls: ibws_bridge::tls::client_config(None).unwrap(),
            buffer_cap: 100_000,
            backoff: Default::default(),
        }),
        ..BridgeConfig::default()
    })
    .await
    .expect("edge bridge");

    let token = mint(&claims, &SignKey::Hs256(SECRET.to_vec())).unwrap();
    let bad = mint(&claims, &SignKey::Hs256(b"another-secret-0123456789abcdef-xyz".to_vec())).unwrap();
    let info = serde_json::json!({
        "ws": format!("ws://127.0.0.1:{}/websocket/ws", bridge.addr.port()),
        "ws_proxy": format!("ws://127.0.0.1:{}/websocket/ws", proxy_addr.port()),
        "ws_auth": format!("ws://127.0.0.1:{}/websocket/ws", bridge.remote_addr.unwrap().port()),
        "ws_relay": format!("ws://127.0.0.1:{}/websocket/ws", relay.addr.port()),
        "ws_edge": format!("ws://127.0.0.1:{edge_port}/websocket/ws?tenant=default"),
        "valid_token": token,
        "invalid_token": bad,
    })
    .to_string();

    let listener = TcpListener::bind(control).await.expect("control address");
    println!("ready http://{}", listener.local_addr().unwrap());
    let bridge = Arc::new(bridge);
    let _relay = relay;
    let _edge = (workerd, edge_bridge, sim_edge);
    let serve = async {
        loop {
            let Ok((mut s, _)) = listener.accept().await else { continue };
            let (info, bridge, frozen) = (info.clone(), bridge.clone(), frozen.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]);
                let path = req.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let body = match path.as_str() {
                    "/info" => info,
                    "/restart" => {
                        bridge.hub.with(|h| h.close_all(CloseCode::ServerRestarting, ibws_bridge::clock::now()));
                        "{\"ok\":true}".into()
                    }
                    "/blackhole" => {
                        frozen.fetch_add(1, Ordering::SeqCst);
                        "{\"ok\":true}".into()
                    }
                    _ => "{\"error\":\"unknown\"}".into(),
                };
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nAccess-Control-Allow-Origin: *\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    };
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = serve => {}
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    // dropping the stack stops workerd too
    drop(_edge);
    let _ = std::fs::remove_dir_all(&edge_storage);
}

/// Forwards connections to `to`; connections opened before a blackhole freeze.
async fn run_proxy(l: TcpListener, to: SocketAddr, frozen: Arc<AtomicU64>) {
    loop {
        let Ok((client, _)) = l.accept().await else { continue };
        let generation = frozen.load(Ordering::SeqCst);
        let frozen = frozen.clone();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(to).await else { return };
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            let live = move || frozen.load(Ordering::SeqCst) == generation;
            let l2 = live.clone();
            let up = async move {
                let mut b = vec![0u8; 16 * 1024];
                while let Ok(n) = cr.read(&mut b).await {
                    if n == 0 || !live() {
                        break;
                    }
                    if sw.write_all(&b[..n]).await.is_err() {
                        break;
                    }
                }
            };
            let down = async move {
                let mut b = vec![0u8; 16 * 1024];
                while let Ok(n) = sr.read(&mut b).await {
                    if n == 0 || !l2() {
                        break;
                    }
                    if cw.write_all(&b[..n]).await.is_err() {
                        break;
                    }
                }
                // frozen: keep the client's socket open and silent
                std::future::pending::<()>().await;
            };
            tokio::join!(up, down);
        });
    }
}

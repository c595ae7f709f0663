//! The security matrix, run against the native relay and against the bridge's remote
//! endpoint, both over real TLS with a throwaway CA: bad tokens of every kind, tokens
//! in the query string, no auth in time, a foreign Origin, oversized / binary / invalid
//! / deeply nested frames, a subscription outside the token's scope, a message flood
//! and a connection flood. Each gets its documented close code or error frame; a good
//! client keeps receiving events throughout; and no token or message body reaches the
//! logs.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use ibws_bridge::app::{Bridge, BridgeConfig, RemoteConfig};
use ibws_bridge::relay::{Relay, RelayConfig};
use ibws_bridge::server::LimitConfig;
use ibws_bridge::uplink::UplinkConfig;
use ibws_shared::auth::Role;
use ibws_shared::hub::HubConfig;
use ibws_shared::protocol::CloseCode;
use ibws_tests::{Client, TestKeys};
use ibws_tws_io::sim::{SimConfig, Simulator};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

#[derive(Clone, Default)]
struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

const MARKER: &str = "BODY-MARKER-7f3a";

struct Target {
    name: &'static str,
    url: String,
    ca: String,
}

fn limits() -> LimitConfig {
    LimitConfig {
        max_connections: 1_000,
        max_per_ip: 20,
        handshake_burst: 200,
        handshakes_per_sec: 100,
        max_pending_per_ip: 8,
    }
}

fn hub_cfg() -> HubConfig {
    HubConfig { auth_deadline_ms: 1_000, require_auth: true, ..HubConfig::default() }
}

async fn expect_close(
    t: &Target,
    case: &str,
    headers: &[(&str, &str)],
    first: Option<Message>,
    url_suffix: &str,
    want: CloseCode,
) {
    let url = format!("{}{url_suffix}", t.url);
    let mut c =
        Client::connect_tls(&url, &t.ca, headers).await.unwrap_or_else(|e| panic!("{}: {case}: connect: {e}", t.name));
    if let Some(m) = first {
        c.send_raw(m).await;
    }
    let code = c.close_code(Duration::from_secs(5)).await;
    assert_eq!(code, Some(want.code()), "{}: {case}", t.name);
}

/// A token signed over a hand-made header and claims (to test what `mint` never makes).
fn sign_raw(keys: &TestKeys, header_b64: &str, claims_b64: &str) -> String {
    let input = format!("{header_b64}.{claims_b64}");
    let key = jsonwebtoken::EncodingKey::from_ed_pem(keys.private_pem.as_bytes()).unwrap();
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &key, jsonwebtoken::Algorithm::EdDSA).unwrap();
    format!("{input}.{sig}")
}

/// GET `path` over TLS on the target's port, no token: (status, body).
async fn https_get(t: &Target, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let port: u16 = t.url.split(':').nth(2).unwrap().split('/').next().unwrap().parse().unwrap();
    let tls = ibws_bridge::tls::client_config(Some(t.ca.as_bytes())).unwrap();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut s = tokio_rustls::TlsConnector::from(tls).connect(name, tcp).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default())
}

async fn authed(t: &Target, token: &str) -> Client {
    let mut c = Client::connect_tls(&t.url, &t.ca, &[]).await.expect("connect");
    c.send(json!({"type": "auth", "token": token})).await;
    let hello = c.recv(Duration::from_secs(5)).await.expect("connection frame");
    assert_eq!(hello["type"], "connection", "{}: {hello}", t.name);
    c
}

async fn matrix(t: &Target, keys: &TestKeys, good: &mut Client) {
    let claims_b64 = |v: serde_json::Value| b64(&v.to_string());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let body = claims_b64(json!({"sub": "mallory", "tenant": "desk1", "exp": now + 600, "iss": "ibws", "aud": "ibws"}));
    let auth = |tok: String| Some(Message::Text(json!({"type": "auth", "token": tok}).to_string().into()));

    // alg: none, in two spellings
    for alg in ["none", "NoNe"] {
        let tok = format!("{}.{}.", b64(&format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#)), body);
        expect_close(t, &format!("alg {alg}"), &[], auth(tok), "", CloseCode::InvalidToken).await;
    }
    // key confusion: HS256 "signed" with the Ed25519 public key
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    let confused = jsonwebtoken::encode(
        &header,
        &json!({"sub": "mallory", "tenant": "desk1", "exp": now + 600, "iss": "ibws", "aud": "ibws"}),
        &jsonwebtoken::EncodingKey::from_secret(keys.public_pem.as_bytes()),
    )
    .unwrap();
    expect_close(t, "key confusion", &[], auth(confused), "", CloseCode::InvalidToken).await;
    // expired, not yet valid, wrong audience, wrong issuer, no exp, bad signature
    let expired = keys.token_with(|c| c.exp = now - 120);
    expect_close(t, "expired", &[], auth(expired), "", CloseCode::TokenExpired).await;
    let nbf = keys.token_with(|c| c.nbf = Some(now + 600));
    expect_close(t, "nbf in the future", &[], auth(nbf), "", CloseCode::InvalidToken).await;
    let aud = keys.token_with(|c| c.aud = "someone-else".into());
    expect_close(t, "wrong aud", &[], auth(aud), "", CloseCode::InvalidToken).await;
    let iss = keys.token_with(|c| c.iss = "evil".into());
    expect_close(t, "wrong iss", &[], auth(iss), "", CloseCode::InvalidToken).await;
    let other = TestKeys::ed25519();
    let badsig = other.token("mallory", Role::Client, "desk1", &[]);
    expect_close(t, "bad signature", &[], auth(badsig), "", CloseCode::InvalidToken).await;
    let no_exp = {
        let h = b64(r#"{"alg":"EdDSA","typ":"JWT"}"#);
        let good_tok = keys.token("mallory", Role::Client, "desk1", &[]);
        let sig = good_tok.rsplit('.').next().unwrap().to_owned();
        format!("{h}.{}.{sig}", claims_b64(json!({"sub": "mallory", "iss": "ibws", "aud": "ibws"})))
    };
    expect_close(t, "no exp", &[], auth(no_exp), "", CloseCode::InvalidToken).await;
    // a bridge token cannot read as a client
    let bridge_tok = keys.token("bridge", Role::Bridge, "desk1", &[]);
    expect_close(t, "bridge role as client", &[], auth(bridge_tok), "", CloseCode::Forbidden).await;
    // a valid token in the query string is refused
    let valid = keys.token("alice", Role::Client, "desk1", &[]);
    expect_close(t, "token in query", &[], None, &format!("?token={valid}"), CloseCode::InvalidToken).await;
    // no auth within the deadline; a first message that is not auth
    expect_close(t, "no auth", &[], None, "", CloseCode::AuthRequired).await;
    let sub = Some(Message::Text(r#"{"type":"subscribe","message_types":["order_update"]}"#.into()));
    expect_close(t, "subscribe before auth", &[], sub, "", CloseCode::AuthRequired).await;
    // a foreign Origin: refused at the handshake (HTTP 403), the page never sees onopen
    let refused = Client::connect_tls(&t.url, &t.ca, &[("origin", "https://evil.example")]).await;
    let err = refused.err().unwrap_or_else(|| panic!("{}: a foreign origin was upgraded", t.name));
    assert!(err.contains("403"), "{}: foreign origin: {err}", t.name);
    // tokens this endpoint must refuse: no tenant claim, a `crit` header, iat far ahead
    let no_tenant = {
        let h = b64(r#"{"alg":"EdDSA","typ":"JWT"}"#);
        let c = json!({"sub": "mallory", "exp": now + 600, "iss": "ibws", "aud": "ibws"});
        sign_raw(keys, &h, &claims_b64(c))
    };
    expect_close(t, "no tenant claim", &[], auth(no_tenant), "", CloseCode::InvalidToken).await;
    let crit = {
        let h = b64(r#"{"alg":"EdDSA","typ":"JWT","crit":["exp"]}"#);
        let c = json!({"sub": "mallory", "tenant": "desk1", "exp": now + 600, "iss": "ibws", "aud": "ibws"});
        sign_raw(keys, &h, &claims_b64(c))
    };
    expect_close(t, "crit header", &[], auth(crit), "", CloseCode::InvalidToken).await;
    let future_iat = keys.token_with(|c| c.iat = Some(now + 10 * 365 * 86_400));
    expect_close(t, "iat ten years ahead", &[], auth(future_iat), "", CloseCode::InvalidToken).await;
    // plain HTTP routes say nothing about the account without a token
    for path in ["/status", "/", "/metrics", "/ibws_web.js", "/index.html"] {
        let (status, body) = https_get(t, path).await;
        assert_eq!(status, 404, "{}: GET {path} answered {status}: {body}", t.name);
    }
    let (status, body) = https_get(t, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#), "{}: /healthz", t.name);
    // order rows only for a scope with an order type
    {
        let md = keys.token("carol", Role::Client, "desk1", &["market_data"]);
        let mut c = authed(t, &md).await;
        c.send(json!({"type": "get_orders"})).await;
        let r = c.recv_until(Duration::from_secs(3), |v| v["type"] == "orders_response").await.expect("orders");
        assert_eq!(r["data"], json!([]), "{}: market_data scope got order rows", t.name);
    }
    // oversized, binary frames (before and after auth)
    let big = Some(Message::Text(format!("{{\"type\":\"auth\",\"token\":\"{}\"}}", "A".repeat(70 * 1024)).into()));
    expect_close(t, "frame over 64 KiB before auth", &[], big, "", CloseCode::MessageTooBig).await;
    expect_close(
        t,
        "binary before auth",
        &[],
        Some(Message::Binary(vec![1, 2, 3].into())),
        "",
        CloseCode::UnsupportedData,
    )
    .await;
    {
        let mut c = authed(t, &valid).await;
        c.send_raw(Message::Text(format!("{{\"type\":\"ping\",\"pad\":\"{}\"}}", "x".repeat(70 * 1024)).into())).await;
        assert_eq!(
            c.close_code(Duration::from_secs(5)).await,
            Some(CloseCode::MessageTooBig.code()),
            "{}: big after auth",
            t.name
        );
    }
    {
        let mut c = authed(t, &valid).await;
        c.send_raw(Message::Binary(vec![0; 16].into())).await;
        assert_eq!(
            c.close_code(Duration::from_secs(5)).await,
            Some(CloseCode::UnsupportedData.code()),
            "{}: binary",
            t.name
        );
    }
    // invalid and deeply nested JSON: an error frame, and the connection goes on
    {
        let mut c = authed(t, &valid).await;
        c.send_raw(Message::Text(format!("{{not json {MARKER}").into())).await;
        let e = c.recv_until(Duration::from_secs(3), |v| v["type"] == "error").await.expect("error frame");
        assert_eq!(e["error_code"], "BAD_REQUEST");
        assert!(!e.to_string().contains(MARKER), "the body is not echoed");
        c.send_raw(Message::Text(format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into())).await;
        let e = c.recv_until(Duration::from_secs(3), |v| v["type"] == "error").await.expect("error frame");
        assert_eq!(e["error_code"], "BAD_REQUEST");
        c.send(json!({"type": "ping"})).await;
        assert!(
            c.recv_until(Duration::from_secs(3), |v| v["type"] == "pong").await.is_some(),
            "{}: still served",
            t.name
        );
    }
    // a subscription outside the token's scope
    {
        let scoped = keys.token("bob", Role::Client, "desk1", &["order_update"]);
        let mut c = authed(t, &scoped).await;
        c.send(json!({"type": "subscribe", "message_types": ["order_update", "market_data"]})).await;
        let e = c.recv_until(Duration::from_secs(3), |v| v["type"] == "error").await.expect("scope error");
        assert_eq!(e["error_code"], "FORBIDDEN_SCOPE");
        let s = c.recv_until(Duration::from_secs(3), |v| v["type"] == "subscription").await.unwrap();
        assert_eq!(s["subscribed_types"], json!(["order_update"]));
    }
    // a message flood
    {
        let mut c = authed(t, &valid).await;
        for _ in 0..300 {
            c.send_raw(Message::Text(r#"{"type":"ping"}"#.into())).await;
        }
        assert_eq!(
            c.close_code(Duration::from_secs(5)).await,
            Some(CloseCode::RateLimited.code()),
            "{}: flood",
            t.name
        );
    }
    // a connection flood from one address
    {
        let mut conns = Vec::new();
        let mut refused = 0;
        for _ in 0..30 {
            match Client::connect_tls(&t.url, &t.ca, &[]).await {
                Ok(c) => conns.push(c),
                Err(_) => refused += 1,
            }
        }
        for c in conns.iter_mut() {
            if let Some(code) = c.close_code(Duration::from_millis(200)).await {
                assert!(
                    code == CloseCode::ConnectionLimit.code() || code == CloseCode::AuthRequired.code(),
                    "{}: {code}",
                    t.name
                );
                if code == CloseCode::ConnectionLimit.code() {
                    refused += 1;
                }
            }
        }
        assert!(refused >= 10, "{}: connection flood refused {refused} of 30", t.name);
        drop(conns);
    }
    // the good client was served all along
    good.send(json!({"type": "ping"})).await;
    assert!(
        good.recv_until(Duration::from_secs(5), |v| v["type"] == "pong").await.is_some(),
        "{}: good client alive",
        t.name
    );
    assert!(
        good.recv_until(Duration::from_secs(5), |v| v["seq"].is_u64()).await.is_some(),
        "{}: good client still gets events",
        t.name
    );
}

/// Plain HTTP GET on loopback with a chosen `Host`: (status, body).
async fn plain_get(port: u16, path: &str, host: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default())
}

async fn ops_get(addr: std::net::SocketAddr, path: &str) -> String {
    let (status, body) = plain_get(addr.port(), path, "127.0.0.1").await;
    assert_eq!(status, 200, "GET {path}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_matrix_on_relay_and_bridge_remote_endpoint() {
    let logs = LogBuf::default();
    let w = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || w.clone())
        .with_ansi(false)
        .init();

    let keys = TestKeys::ed25519();
    let (ca, cert, key) = ibws_bridge::tls::self_signed(&["localhost"]).unwrap();
    let server_tls = ibws_bridge::tls::server_config(cert.as_bytes(), key.as_bytes()).unwrap();

    let relay = Relay::start(RelayConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Some(server_tls.clone()),
        verifier: keys.verifier(),
        allowed_origins: vec!["https://app.example".into()],
        limits: limits(),
        hub: hub_cfg(),
        insecure: false,
        metrics_listen: Some("127.0.0.1:0".parse().unwrap()),
        send_timeout: ibws_bridge::server::SEND_TIMEOUT,
        max_memory_bytes: ibws_bridge::relay::DEFAULT_MAX_MEMORY_BYTES,
    })
    .await
    .unwrap();
    let sim = Simulator::start(SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        flow_interval: Some(Duration::from_millis(40)),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let bridge_token = keys.token("bridge-1", Role::Bridge, "desk1", &[]);
    let bridge = Bridge::start(BridgeConfig {
        tws: sim.addr().to_string(),
        listen: "127.0.0.1:0".parse().unwrap(),
        hub: hub_cfg(),
        remote: Some(RemoteConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            tenant: "desk1".into(),
            tls: Some(server_tls.clone()),
            verifier: keys.verifier(),
            allowed_origins: vec!["https://app.example".into()],
            limits: limits(),
        }),
        uplink: Some(UplinkConfig {
            url: format!("wss://localhost:{}/bridge/ws", relay.addr.port()),
            token: bridge_token.clone(),
            tls: ibws_bridge::tls::client_config(Some(ca.as_bytes())).unwrap(),
            buffer_cap: 10_000,
            backoff: Default::default(),
        }),
        ..BridgeConfig::default()
    })
    .await
    .unwrap();

    let good_token = keys.token("alice", Role::Client, "desk1", &[]);
    let targets = [
        Target { name: "relay", url: format!("wss://localhost:{}/websocket/ws", relay.addr.port()), ca: ca.clone() },
        Target {
            name: "bridge remote endpoint",
            url: format!("wss://localhost:{}/websocket/ws", bridge.remote_addr.unwrap().port()),
            ca: ca.clone(),
        },
    ];
    for t in &targets {
        // the browser way: the token in Sec-WebSocket-Protocol, and an allowed Origin
        let proto = format!("ibws, bearer.{good_token}");
        let mut good = Client::connect_tls(
            &t.url,
            &t.ca,
            &[("sec-websocket-protocol", &proto), ("origin", "https://app.example")],
        )
        .await
        .unwrap();
        let hello = good.recv(Duration::from_secs(5)).await.unwrap();
        assert_eq!(hello["type"], "connection", "{}", t.name);
        good.send(json!({"type": "subscribe", "message_types": ["order_update", "order_notification", "account_update", "market_data"]})).await;
        assert!(
            good.recv_until(Duration::from_secs(10), |v| v["seq"].is_u64()).await.is_some(),
            "{}: events flow",
            t.name
        );
        matrix(t, &keys, &mut good).await;
    }

    // the remote endpoint serves one tenant: a valid token for another is refused
    {
        let t = &targets[1];
        let desk2 = keys.token("dave", Role::Client, "desk2", &[]);
        let auth = Some(Message::Text(json!({"type": "auth", "token": desk2}).to_string().into()));
        expect_close(t, "token for another tenant", &[], auth, "", CloseCode::Forbidden).await;
    }
    // idle sockets that never send a request head: past 8 per address, closed at once
    {
        use tokio::io::AsyncReadExt;
        let mut idle = Vec::new();
        for _ in 0..40 {
            idle.push(tokio::net::TcpStream::connect(relay.addr).await.unwrap());
        }
        let mut closed = 0;
        for s in idle.iter_mut() {
            let mut b = [0u8; 1];
            if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(Duration::from_millis(300), s.read(&mut b)).await {
                closed += 1;
            }
        }
        assert!(closed >= 30, "only {closed} of 40 idle sockets were closed");
        drop(idle);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let t = &targets[0];
        let mut c = authed(t, &good_token).await; // the address is served again
        c.send(json!({"type": "ping"})).await;
        assert!(c.recv_until(Duration::from_secs(3), |v| v["type"] == "pong").await.is_some());
    }
    // the relay's tenant names and counts are on its metrics listener only
    {
        let m = relay.metrics_addr.expect("metrics listener");
        let body = ops_get(m, "/metrics").await;
        assert!(body.contains("ibws_clients"), "{body}");
        assert!(ops_get(m, "/status").await.contains("desk1"));
    }
    // DNS rebinding: the local endpoint answers loopback Host names only, on every route
    {
        let port = bridge.addr.port();
        for (host, ok) in
            [("evil.example", false), ("evil.example:80", false), ("127.0.0.1", true), ("localhost:1", true)]
        {
            let (status, _) = plain_get(port, "/status", host).await;
            assert_eq!(status == 200, ok, "Host {host}: {status}");
        }
        let (status, _) = plain_get(port, "/healthz", "evil.example").await;
        assert_eq!(status, 403);
        let url = format!("ws://127.0.0.1:{port}/websocket/ws");
        let mut req =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url.as_str()).unwrap();
        req.headers_mut().insert("host", "evil.example".parse().unwrap());
        let err = tokio_tungstenite::connect_async(req).await.err().expect("upgrade refused").to_string();
        assert!(err.contains("403"), "{err}");
    }

    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(text.contains("bridge connected"), "logs were captured");
    assert!(!text.contains(&good_token) && !text.contains(&bridge_token), "a token reached the logs");
    assert!(!text.contains(MARKER), "a message body reached the logs");
    assert!(!text.contains(&keys.private_pem), "a key reached the logs");
    drop(bridge);
    drop(relay);
}

//! No token, key or message body in the logs at any level: an `ibws relay` process at
//! `RUST_LOG=trace` serves a bridge (hello with its token, an event with a marker in
//! it) and a client (auth with its token, a malformed message with a marker), and its
//! whole log is then searched for them.

use std::time::Duration;

use ibws_shared::auth::Role;
use ibws_tests::process::{built_ibws_bin, wait_port, Proc};
use ibws_tests::{free_port, Client, TestKeys};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

const MARKER: &str = "BODY-MARKER-2c91";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_logs_no_token_or_body_even_at_trace() {
    let dir = ibws_tests::repo_root().join("target/log-hygiene");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let secret = "log-hygiene-secret-0123456789abcdef0123";
    std::fs::write(dir.join("jwt.secret"), secret).unwrap();
    let keys = TestKeys::hs256(secret);
    let (ca, cert, key) = ibws_bridge::tls::self_signed(&["localhost"]).unwrap();
    std::fs::write(dir.join("cert.pem"), &cert).unwrap();
    std::fs::write(dir.join("key.pem"), &key).unwrap();
    let port = free_port();
    let args: Vec<String> = [
        "relay",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--tls-cert",
        &dir.join("cert.pem").display().to_string(),
        "--tls-key",
        &dir.join("key.pem").display().to_string(),
        "--jwt-secret-file",
        &dir.join("jwt.secret").display().to_string(),
        "--metrics-listen",
        "off",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let log = dir.join("relay.log");
    let mut relay = Proc::spawn_logging(&built_ibws_bin(), &args, &log, "trace");
    wait_port(port);

    let bridge_token = keys.token("bridge-1", Role::Bridge, "desk1", &[]);
    let client_token = keys.token("alice", Role::Client, "desk1", &[]);
    let mut bridge = Client::connect_tls(&format!("wss://localhost:{port}/bridge/ws"), &ca, &[]).await.unwrap();
    bridge.send(json!({"type": "hello", "token": bridge_token, "epoch": "e1", "seq": 0, "version": "t"})).await;
    let welcome = bridge.recv(Duration::from_secs(5)).await.expect("welcome");
    assert_eq!(welcome["type"], "welcome");
    bridge.send(json!({"type": "snapshot", "epoch": "e1", "seq": 0, "orders": [], "accounts": [], "source_connected": true})).await;
    let mut client = Client::connect_tls(&format!("wss://localhost:{port}/websocket/ws"), &ca, &[]).await.unwrap();
    client.send(json!({"type": "auth", "token": client_token})).await;
    assert_eq!(client.recv(Duration::from_secs(5)).await.expect("connection")["type"], "connection");
    client.send(json!({"type": "subscribe", "message_types": ["error"]})).await;
    client.recv_until(Duration::from_secs(5), |v| v["type"] == "subscription").await.expect("subscribed");
    let event = json!({"type": "error", "message": MARKER, "error_code": "X", "timestamp": "2025-01-01T00:00:00.000000",
                       "seq": 1, "epoch": "e1"});
    bridge.send(json!({"type": "publish", "event": event})).await;
    let got = client.recv_until(Duration::from_secs(5), |v| v["type"] == "error" && v["seq"] == 1).await;
    assert_eq!(got.expect("the event arrived")["message"], MARKER);
    client.send_raw(Message::Text(format!("{{not json {MARKER}").into())).await;
    client.recv_until(Duration::from_secs(5), |v| v["error_code"] == "BAD_REQUEST").await.expect("bad request");
    tokio::time::sleep(Duration::from_millis(300)).await;
    relay.kill9();

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("TRACE") || text.contains("DEBUG"), "trace logging was on");
    assert!(text.contains("bridge connected"), "the relay logged the session");
    for (what, secret) in
        [("bridge token", bridge_token.as_str()), ("client token", client_token.as_str()), ("body", MARKER)]
    {
        assert!(!text.contains(secret), "the {what} reached the log at trace");
    }
    // the signature part alone must not leak either
    assert!(!text.contains(client_token.rsplit('.').next().unwrap()), "a token signature reached the log");
}

/// A page from an origin the bridge does not allow is refused, and the log says which
/// origin and which flag allows it; `ibws demo --allowed-origins` allows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_origin_is_named_in_the_log_with_the_flag_that_allows_it() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let dir = ibws_tests::repo_root().join("target/log-origin");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let args: Vec<String> = [
        "demo",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--allowed-origins",
        "http://devbox.local:5173",
        "--duration-secs",
        "30",
    ]
    .map(String::from)
    .to_vec();
    let log = dir.join("demo.log");
    let _demo = Proc::spawn(&built_ibws_bin(), &args, &log);
    wait_port(port);
    let url = format!("ws://127.0.0.1:{port}/websocket/ws");
    let with_origin = |origin: &str| {
        let mut req = url.as_str().into_client_request().unwrap();
        req.headers_mut().insert("origin", origin.parse().unwrap());
        req
    };
    let refused = tokio_tungstenite::connect_async(with_origin("http://evil.example")).await;
    assert!(refused.is_err(), "a foreign origin was let in");
    let allowed = tokio_tungstenite::connect_async(with_origin("http://devbox.local:5173")).await;
    assert!(allowed.is_ok(), "--allowed-origins did not allow the page: {:?}", allowed.err());
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("evil.example") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let line = text.lines().find(|l| l.contains("evil.example")).unwrap_or_else(|| panic!("not logged:\n{text}"));
    assert!(line.contains("--allowed-origins"), "{line}");
}

//! The server's own WebSocket framing (`bridge/src/server/ws_frames.rs`) on a real
//! socket, byte by byte as a client could send it: a message fragmented across TCP
//! writes with a ping between its fragments is served and the ping answered; frames
//! that break RFC 6455 close with 1002, text that is not UTF-8 with 1007, and a frame
//! announcing 10 MB with the hub's 4507 before any of it is sent. On an endpoint that
//! wants `auth` first, what arrives in the same write behind it follows the same rules.

use std::time::Duration;

use ibws_bridge::app::{Bridge, BridgeConfig};
use ibws_tests::epoll_clients::client_frame;
use ibws_tws_io::sim::{SimConfig, Simulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start() -> (Simulator, Bridge) {
    let sim =
        Simulator::start(SimConfig { listen: "127.0.0.1:0".parse().unwrap(), orders: 20, ..SimConfig::default() })
            .await
            .unwrap();
    let bridge = Bridge::start(BridgeConfig {
        tws: sim.addr().to_string(),
        listen: "127.0.0.1:0".parse().unwrap(),
        ..BridgeConfig::default()
    })
    .await
    .unwrap();
    (sim, bridge)
}

/// A client socket past the upgrade to `addr` (nothing read after the 101).
async fn upgrade(addr: std::net::SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "GET /websocket/ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    while !got.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        assert_eq!(s.read(&mut b).await.unwrap(), 1, "upgrade answered");
        got.push(b[0]);
    }
    assert!(got.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&got));
    s
}

/// A client socket of the local endpoint past the upgrade and its `connection` greeting.
async fn upgraded(bridge: &Bridge) -> TcpStream {
    let mut s = upgrade(bridge.addr).await;
    let (op, text) = frame(&mut s).await;
    assert_eq!(op, 1);
    assert!(String::from_utf8(text).unwrap().contains("\"connection\""));
    s
}

/// Reads one server frame: its opcode and payload.
async fn frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    tokio::time::timeout(Duration::from_secs(10), async {
        let mut h = [0u8; 2];
        s.read_exact(&mut h).await.expect("a frame header");
        assert_eq!(h[1] & 0x80, 0, "server frames are not masked");
        let len = match h[1] & 0x7f {
            126 => s.read_u16().await.unwrap() as usize,
            127 => s.read_u64().await.unwrap() as usize,
            n => n as usize,
        };
        let mut payload = vec![0u8; len];
        s.read_exact(&mut payload).await.unwrap();
        (h[0] & 0x0f, payload)
    })
    .await
    .expect("a frame within 10 s")
}

/// Reads frames until the close frame; returns its code.
async fn close_code(s: &mut TcpStream) -> u16 {
    loop {
        let (op, payload) = frame(s).await;
        if op == 8 {
            return u16::from_be_bytes([payload[0], payload[1]]);
        }
    }
}

#[tokio::test]
async fn fragments_across_writes_with_a_ping_between_are_served() {
    let (_sim, bridge) = start().await;
    let mut s = upgraded(&bridge).await;
    let msg = br#"{"type":"get_orders"}"#;
    let mut bytes = client_frame(false, 1, &msg[..5]);
    bytes.extend(client_frame(true, 9, b"are you there"));
    bytes.extend(client_frame(false, 0, &msg[5..12]));
    bytes.extend(client_frame(true, 0, &msg[12..]));
    // one byte per write: every frame boundary and every header split
    for b in bytes {
        s.write_all(&[b]).await.unwrap();
        s.flush().await.unwrap();
    }
    let (mut pong, mut orders) = (false, false);
    while !(pong && orders) {
        match frame(&mut s).await {
            (10, p) => {
                assert_eq!(p, b"are you there");
                pong = true;
            }
            (1, t) => orders |= String::from_utf8(t).unwrap().contains("\"orders_response\""),
            (op, _) => panic!("unexpected opcode {op}"),
        }
    }
}

#[tokio::test]
async fn frames_that_break_the_protocol_get_their_close_codes() {
    let (_sim, bridge) = start().await;
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("unmasked", vec![0x81, 0x02, b'h', b'i'], 1002),
        ("reserved opcode", client_frame(true, 3, b"x"), 1002),
        ("continuation of nothing", client_frame(true, 0, b"x"), 1002),
        ("fragmented ping", client_frame(false, 9, b"x"), 1002),
        ("text not UTF-8", client_frame(true, 1, &[0xc3, 0x28]), 1007),
        ("10 MB announced", vec![0x81, 0xff, 0, 0, 0, 0, 0, 0xa0, 0, 0, 1, 2, 3, 4], 4507),
    ];
    for (what, bytes, code) in cases {
        let mut s = upgraded(&bridge).await;
        s.write_all(&bytes).await.unwrap();
        assert_eq!(close_code(&mut s).await, code, "{what}");
    }
    // every refused client is gone (its task forgets it right after its close frame)
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while bridge.hub.with(|h| h.client_count()) > 0 {
        assert!(std::time::Instant::now() < deadline, "refused clients still counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// On an endpoint that wants `auth` as the first message, what the client sent in the
/// same write right behind it is the connection's: a request is answered, a binary
/// message is refused like any other (4506), and a broken frame gets the transport's
/// close code, not "auth required".
#[tokio::test]
async fn what_follows_auth_in_the_same_write_is_served_or_refused_by_its_own_rule() {
    use ibws_bridge::app::RemoteConfig;
    use ibws_shared::auth::Role;
    let keys = ibws_tests::TestKeys::hs256("frames-test-secret-of-at-least-32-bytes!");
    let sim = Simulator::start(SimConfig { listen: "127.0.0.1:0".parse().unwrap(), orders: 5, ..SimConfig::default() })
        .await
        .unwrap();
    let bridge = Bridge::start(BridgeConfig {
        tws: sim.addr().to_string(),
        listen: "127.0.0.1:0".parse().unwrap(),
        remote: Some(RemoteConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            tenant: "desk".into(),
            tls: None,
            verifier: keys.verifier(),
            allowed_origins: vec![],
            limits: Default::default(),
        }),
        ..BridgeConfig::default()
    })
    .await
    .unwrap();
    let remote = bridge.remote_addr.expect("remote endpoint");
    let auth = format!(r#"{{"type":"auth","token":"{}"}}"#, keys.token("alice", Role::Client, "desk", &[]));
    let cases: Vec<(&str, Vec<u8>, Option<u16>)> = vec![
        ("get_orders", client_frame(true, 1, br#"{"type":"get_orders"}"#), None),
        ("binary", client_frame(true, 2, b"\x00\x01"), Some(4506)),
        ("reserved opcode", client_frame(true, 3, b"x"), Some(1002)),
        ("text not UTF-8", client_frame(true, 1, &[0xc3, 0x28]), Some(1007)),
    ];
    for (what, behind, want) in cases {
        let mut s = upgrade(remote).await;
        let mut bytes = client_frame(true, 1, auth.as_bytes());
        bytes.extend_from_slice(&behind);
        s.write_all(&bytes).await.unwrap();
        match want {
            Some(code) => assert_eq!(close_code(&mut s).await, code, "{what}"),
            None => loop {
                let (op, payload) = frame(&mut s).await;
                assert_eq!(op, 1, "{what}: a text frame, not {op}");
                if String::from_utf8_lossy(&payload).contains("\"orders_response\"") {
                    break;
                }
            },
        }
    }
}

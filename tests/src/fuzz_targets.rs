//! The fuzz targets' bodies, one function per untrusted input the product parses.
//!
//! `fuzz/` (cargo-fuzz, nightly) calls these with generated inputs; on the stable
//! toolchain, `tests/tests/fuzz_regressions.rs` replays every seed and every input
//! that ever crashed (`fuzz/corpus/<target>/`, `fuzz/regressions/<target>/`) through
//! the same functions, so a crash found once stays fixed. Each function must never
//! panic, whatever the bytes: a panic is the bug the fuzzer reports.

use std::sync::{Arc, OnceLock};

use ibws_bridge::notify::{Notifier, NotifierConfig};
use ibws_bridge::server::http::parse_head;
use ibws_shared::auth::{JwtVerifier, Role, TokenVerifier, VerifyKey};
use ibws_shared::hub::{ConnectInfo, Hub, HubConfig, Now, Output, StampedEvent, MAX_SAFE_SEQ, TAKE_BUDGET_EVENTS};
use ibws_shared::protocol::{RelayFrame, ServerFrame};
use ibws_shared::relay::BridgeSession;
use ibws_tws::frame::split_fields;
use ibws_tws::message::{decode_message, decode_request};
use ibws_tws::{FrameDecoder, Request};
use ibws_tws_io::driver::LinkEvent;

/// Every target, by the name its corpus directory has.
pub const TARGETS: [(&str, fn(&[u8])); 6] = [
    ("tws_frames", tws_frames),
    ("client_message", client_message),
    ("bridge_frame", bridge_frame),
    ("jwt_verify", jwt_verify),
    ("http_head", http_head),
    ("ws_frames", ws_frames),
];

fn now(step: u64) -> Now {
    Now { mono_ms: 1_000_000 + step * 37, unix_us: 1_760_000_000_000_000 + step as i64 * 37_000 }
}

/// TWS bytes -> framing -> the envelope (text, or from server version 201 a binary id
/// and a text or protobuf body) -> every incoming message decoder -> the notifier
/// (order and account state, notifications). The first byte picks the server version.
pub fn tws_frames(data: &[u8]) {
    let Some((&v, stream)) = data.split_first() else { return };
    let version = 100 + i32::from(v) % (ibws_tws::versions::MAX_CLIENT_VERSION - 99);
    let max = ibws_tws::versions::MAX_CLIENT_VERSION;
    let mut notifier = Notifier::new(NotifierConfig::default());
    let connected = LinkEvent::Connected {
        server_version: version,
        connection_time: "20250101 09:30:00 UTC".into(),
        accounts: vec!["DU1".into(), "DU2".into()],
        next_valid_id: 1,
    };
    let _ = notifier.on_link(&connected, now(0));
    let mut d = FrameDecoder::new();
    // in two pieces, as a socket may deliver them
    let cut = stream.len() / 3;
    let mut step = 1;
    for piece in [&stream[..cut], &stream[cut..]] {
        d.extend(piece);
        loop {
            match d.next_frame() {
                Ok(Some(frame)) => {
                    let _ = decode_request(version, &frame);
                    let _ = Request::decode(&split_fields(&frame), max);
                    if let Ok(msg) = decode_message(version, &frame) {
                        let _ = notifier.on_link(&LinkEvent::Message(msg), now(step));
                    }
                    let _ = notifier.poll(now(step));
                    step += 1;
                }
                Ok(None) | Err(_) => break,
            }
        }
    }
}

const FUZZ_SECRET: &[u8] = b"ibws-fuzz-secret-of-at-least-32-bytes";

fn verifier() -> Arc<dyn TokenVerifier> {
    static V: OnceLock<Arc<dyn TokenVerifier>> = OnceLock::new();
    V.get_or_init(|| {
        Arc::new(JwtVerifier::new(VerifyKey::Hs256(FUZZ_SECRET.to_vec()), "ibws", "ibws", 30).expect("verifier"))
    })
    .clone()
}

fn event(seq: u64) -> Arc<StampedEvent> {
    let json = format!(
        r#"{{"type":"order_update","data":{{"order_id":{seq},"symbol":"AAPL","action":"BUY","quantity":100,"order_type":"LMT","status":"Submitted","price":1.5,"perm_id":{seq},"account":"DU1"}},"timestamp":"2025-01-01T09:30:00.000000","seq":{seq},"epoch":"e1"}}"#
    );
    let frame: ServerFrame = serde_json::from_str(&json).expect("event parses");
    StampedEvent::new(frame).expect("stamped")
}

/// Drains everything the hub asked for, taking frames for every client it woke, as a
/// driver would, and checks the hub's work: each take looks at no more than
/// [`TAKE_BUDGET_EVENTS`] ring entries, and the wakes end (a client is owed at most
/// the ring and its replies, so a bounded number of takes empties it). A hub that
/// breaks either panics here, which is what the fuzzer reports.
pub fn drain(hub: &mut Hub) -> usize {
    let mut frames = Vec::new();
    let mut takes = 0usize;
    while let Some(o) = hub.poll_output() {
        if let Output::Wake(id) = o {
            let before = hub.stats().events_examined;
            hub.take_frames(id, &mut frames);
            let examined = hub.stats().events_examined - before;
            assert!(examined <= TAKE_BUDGET_EVENTS as u64, "one take looked at {examined} ring entries");
            takes += 1;
            assert!(takes <= 100_000, "the hub keeps waking its clients");
            frames.clear();
        }
    }
    takes
}

/// Client text frames (one per line) into a hub with a stream and two clients: one on
/// an open endpoint, one that must authenticate. Every output is drained and every
/// woken client takes its frames, within the work bound ([`drain`]).
pub fn client_message(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for require_auth in [false, true] {
        let cfg = HubConfig { require_auth, replay_capacity: 16, max_orders: 16, ..HubConfig::default() };
        let mut hub = Hub::new(cfg, Some(verifier()), "e1".into());
        let mut seq = 0;
        for _ in 1..=3 {
            seq += 1;
            hub.publish(event(seq), now(0)).expect("the next event applies");
        }
        hub.connect(1, ConnectInfo { client_id: Some("fuzz".into()), claims: None }, now(0));
        for (i, line) in text.split('\n').enumerate() {
            let t = now(i as u64 + 1);
            hub.on_text(1, line, t);
            if i % 4 == 3 {
                seq += 1;
                hub.publish(event(seq), t).expect("the next event applies");
                hub.handle_timeout(t);
            }
            drain(&mut hub);
        }
    }
}

fn bridge_token() -> String {
    static T: OnceLock<String> = OnceLock::new();
    T.get_or_init(|| {
        let claims = ibws_shared::auth::Claims {
            sub: "fuzz-bridge".into(),
            role: Role::Bridge,
            tenant: "desk1".into(),
            scope: vec![],
            accounts: vec![],
            exp: 4_000_000_000,
            nbf: None,
            iat: Some(1_760_000_000),
            iss: "ibws".into(),
            aud: "ibws".into(),
        };
        ibws_shared::auth::mint(&claims, &ibws_shared::auth::SignKey::Hs256(FUZZ_SECRET.to_vec())).expect("mint")
    })
    .clone()
}

/// A hostile bridge: after a valid `hello`, every line is a frame from the bridge,
/// handled by the relay's own [`BridgeSession`] (the code the native and the edge
/// relay run) into a tenant hub with three clients (unrestricted, restricted to one
/// account, a seed client), each subscribed and taking its frames after every frame
/// ([`drain`]). A refused bridge reconnects (a new session) and goes on. Whatever the
/// frames, the stream position stays within 2^53 - 1 and every take is bounded.
pub fn bridge_frame(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let cfg = HubConfig { require_auth: false, replay_capacity: 16, max_orders: 16, ..HubConfig::default() };
    let mut hub = Hub::new(cfg, None, "relay-x".into());
    let restricted = ibws_shared::auth::Claims {
        sub: "c".into(),
        role: Role::Client,
        tenant: "desk1".into(),
        scope: vec![],
        accounts: vec!["DU1".into()],
        exp: 4_000_000_000,
        nbf: None,
        iat: None,
        iss: "ibws".into(),
        aud: "ibws".into(),
    };
    hub.connect(1, ConnectInfo::default(), now(0));
    hub.connect(2, ConnectInfo { client_id: None, claims: Some(restricted) }, now(0));
    hub.connect(3, ConnectInfo::default(), now(0));
    let sub = r#"{"type":"subscribe","message_types":["order_update","order_notification","error","account_update","market_data","mcp_order"]}"#;
    for id in [1, 2] {
        hub.on_text(id, sub, now(0));
        hub.on_text(id, r#"{"type":"resume","epoch":"relay-x","since":0}"#, now(0));
    }
    hub.on_text(3, sub, now(0));
    drain(&mut hub);
    let hello = format!(r#"{{"type":"hello","token":"{}","epoch":"e1","seq":0,"version":"fuzz"}}"#, bridge_token());
    let connect = |t| {
        let mut s = BridgeSession::new(None, 5_000, 16, t);
        s.on_hello(&hello, verifier().as_ref(), t).expect("a valid hello");
        s
    };
    let mut session = connect(now(0));
    for (i, line) in text.split('\n').enumerate() {
        let t = now(i as u64 + 1);
        let _ = serde_json::from_str::<RelayFrame>(line);
        if session.on_text(line, &mut hub, t).is_err() {
            session.on_closed(&mut hub, true);
            session = connect(t);
        }
        assert!(hub.position().1 <= MAX_SAFE_SEQ, "the stream reached seq {}", hub.position().1);
        hub.on_text(1, r#"{"type":"get_orders"}"#, t);
        if i % 3 == 2 {
            hub.on_text(2, r#"{"type":"resume","epoch":"e1","since":1}"#, t);
        }
        drain(&mut hub);
        let (e, s) = hub.position();
        let (e, s) = (e.to_owned(), s);
        let _ = session.stored(&e, s, t);
        let _ = session.poll_ack(t);
        let _ = hub.stream_state();
    }
}

/// Token verification with each key kind (HS256 and a public key), at two clocks.
pub fn jwt_verify(data: &[u8]) {
    static ED: OnceLock<Arc<dyn TokenVerifier>> = OnceLock::new();
    let ed = ED.get_or_init(|| {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("keygen");
        let key = VerifyKey::from_public_pem(kp.public_key_pem().as_bytes()).expect("public key");
        Arc::new(JwtVerifier::new(key, "ibws", "ibws", 30).expect("verifier"))
    });
    let token = String::from_utf8_lossy(data);
    for v in [verifier(), ed.clone()] {
        for clock in [0, 1_760_000_000] {
            let _ = v.verify(&token, clock);
        }
    }
}

/// The HTTP request head in front of every WebSocket upgrade, and what the server
/// reads from it.
pub fn http_head(data: &[u8]) {
    if let Ok(Some(head)) = parse_head(data) {
        let _ = head.is_websocket_upgrade();
        let _ = head.query_param("client_id");
        let _ = head.header_has("sec-websocket-protocol", "ibws");
        let _ = head.header("origin");
    }
}

/// A client's WebSocket bytes, split into reads where the first byte says, through the
/// server's frame decoder: never a panic, and never more held than one incomplete
/// frame and one message allow.
pub fn ws_frames(data: &[u8]) {
    use ibws_bridge::server::ws_frames::{Decoder, Incoming};
    const MAX: usize = 1024;
    let Some((&step, rest)) = data.split_first() else { return };
    let step = usize::from(step).max(1);
    let mut d = Decoder::new(MAX);
    let mut bytes = rest.to_vec();
    for piece in bytes.chunks_mut(step) {
        let len = piece.len();
        let _ = d.decode(piece, &mut |m| {
            if let Incoming::Text(t) = m {
                assert!(t.len() <= MAX);
            }
        });
        assert!(d.buffered() <= 2 * (2 * MAX + 14 + len), "decoder holds {} bytes", d.buffered());
    }
}

/// Seed inputs for every target: the real TWS capture (`tws/tests/fixtures`), the
/// seed protocol's own messages, and one well-formed example of each frame and token
/// kind. `(target, name, bytes)`.
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    use base64::Engine;
    let mut out = Vec::new();
    // TWS: each recorded response stream, at the capture's server version (176)
    let capture = crate::repo_root().join("tws/tests/fixtures/ib-paper-v176.json");
    let text = std::fs::read_to_string(&capture).unwrap_or_else(|e| panic!("{}: {e}", capture.display()));
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text).expect("the capture is JSON");
    for (k, v) in map {
        let mut bytes = vec![176 - 100];
        for s in v.as_array().into_iter().flatten().filter_map(|s| s.as_str()) {
            bytes.extend(base64::engine::general_purpose::STANDARD.decode(s).expect("the capture is base64"));
        }
        out.push(("tws_frames", format!("capture-{k}"), bytes));
    }
    let client = [
        r#"{"type":"subscribe","message_types":["order_update","order_notification","mcp_order"]}"#,
        r#"{"type":"unsubscribe","message_types":["order_update"]}"#,
        r#"{"type":"ping"}"#,
        r#"{"type":"get_orders"}"#,
        r#"{"type":"resume","epoch":"e1","since":1}"#,
        r#"{"type":"subscribe","message_types":["order_update"],"epoch":"e1","since":2}"#,
        r#"{"type":"auth","token":"x.y.z"}"#,
        r#"{"type":"nope"}"#,
    ];
    out.push(("client_message", "session".into(), client.join("\n").into_bytes()));
    for (i, m) in client.iter().enumerate() {
        out.push(("client_message", format!("message-{i}"), m.as_bytes().to_vec()));
    }
    let e = String::from_utf8_lossy(event(5).json.as_bytes()).into_owned();
    let bridge = [
        r#"{"type":"hello","token":"x.y.z","epoch":"e1","seq":4,"version":"0.1.0"}"#.to_owned(),
        r#"{"type":"snapshot","epoch":"e1","seq":4,"orders":[{"order_id":1,"symbol":"AAPL","action":"BUY","quantity":100,"order_type":"LMT","status":"Submitted","price":1.5,"perm_id":9}],"accounts":[],"source_connected":true}"#.to_owned(),
        format!(r#"{{"type":"publish","event":{e}}}"#),
        r#"{"type":"source","connected":false}"#.to_owned(),
        r#"{"type":"snapshot_part","epoch":"e1","seq":6,"orders":[],"accounts":[{"account":"DU1"}],"source_connected":true,"last":false}"#.to_owned(),
        r#"{"type":"snapshot_part","epoch":"e1","seq":6,"orders":[{"order_id":2,"symbol":"MSFT","action":"SELL","quantity":5,"order_type":"MKT","status":"Filled","price":null,"perm_id":10}],"last":true}"#.to_owned(),
        r#"{"type":"welcome","tenant":"desk1","epoch":"e1","seq":4}"#.to_owned(),
        r#"{"type":"ack","epoch":"e1","seq":5}"#.to_owned(),
    ];
    out.push(("bridge_frame", "session".into(), bridge.join("\n").into_bytes()));
    let claims = |role| ibws_shared::auth::Claims {
        sub: "fuzz".into(),
        role,
        tenant: "desk1".into(),
        scope: vec!["order_update".into()],
        accounts: vec!["DU1".into()],
        exp: 1_760_000_000 + 3600,
        nbf: None,
        iat: Some(1_760_000_000),
        iss: "ibws".into(),
        aud: "ibws".into(),
    };
    let hs = ibws_shared::auth::SignKey::Hs256(FUZZ_SECRET.to_vec());
    for (name, role) in [("client", Role::Client), ("bridge", Role::Bridge)] {
        if let Ok(t) = ibws_shared::auth::mint(&claims(role), &hs) {
            out.push(("jwt_verify", format!("hs256-{name}"), t.into_bytes()));
        }
    }
    out.push(("jwt_verify", "alg-none".into(), b"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0.".to_vec()));
    let heads = [
        "GET /websocket/ws?client_id=a%20b HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ibws, bearer.x.y.z\r\nOrigin: http://localhost:8000\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "GET /bridge/ws?tenant=desk1 HTTP/1.1\r\nHost: [::1]:8443\r\nConnection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\n\r\n",
    ];
    for (i, h) in heads.iter().enumerate() {
        out.push(("http_head", format!("head-{i}"), h.as_bytes().to_vec()));
    }
    // a client's frames (masked): a text message, a ping, a fragmented message with a
    // pong inside, a close; the first byte is the read size
    let masked = |first: u8, payload: &[u8]| {
        let mask = [0x11, 0x22, 0x33, 0x44];
        let mut f = vec![first, 0x80 | payload.len() as u8];
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    };
    let mut session = vec![7u8];
    session.extend(masked(0x81, client[0].as_bytes()));
    session.extend(masked(0x89, b"ping"));
    session.extend(masked(0x01, b"{\"type\":"));
    session.extend(masked(0x8a, b""));
    session.extend(masked(0x80, b"\"ping\"}"));
    session.extend(masked(0x88, &[0x03, 0xe8]));
    out.push(("ws_frames", "session".into(), session));
    out
}

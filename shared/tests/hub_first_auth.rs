//! A hub that requires a token and got none with the upgrade (the edge relay, the
//! bridge's remote endpoint) refuses a client's wrong first message as the native relay
//! does: the relay core's verdict, an `error` frame saying why, then the close code.

mod common;

use ibws_shared::auth::Role;
use ibws_shared::hub::{ConnectInfo, Hub, HubConfig, Now, Output};
use ibws_shared::protocol::CloseCode;
use ibws_shared::relay::first_auth;
use serde_json::{json, Value};

const NOW: Now = Now { mono_ms: 1_000, unix_us: 1_700_000_000_000_000 };

fn hub() -> Hub {
    let cfg = HubConfig { require_auth: true, tenant: Some("desk1".into()), ..HubConfig::default() };
    Hub::new(cfg, Some(common::verifier()), "e".into())
}

fn token(exp: u64) -> String {
    common::token(&common::claims("u", Role::Client, "desk1", exp))
}

/// The close the hub asked for, with its frames parsed.
fn closed(hub: &mut Hub) -> Option<(CloseCode, Vec<Value>)> {
    while let Some(o) = hub.poll_output() {
        if let Output::Close { code, frames, .. } = o {
            return Some((code, frames.iter().map(|f| serde_json::from_str(f).unwrap()).collect()));
        }
    }
    None
}

fn assert_refused(hub: &mut Hub, want: CloseCode, case: &str) {
    let (code, frames) = closed(hub).unwrap_or_else(|| panic!("{case}: not closed"));
    assert_eq!(code, want, "{case}");
    assert_eq!(frames.len(), 1, "{case}: one error frame before the close: {frames:?}");
    assert_eq!(frames[0]["type"], "error", "{case}");
    assert_eq!(frames[0]["message"], first_auth::why(want), "{case}");
}

#[test]
fn every_wrong_first_message_is_refused_with_the_reason() {
    let cases: Vec<(&str, String, CloseCode)> = vec![
        (
            "a command before auth",
            json!({"type": "subscribe", "message_types": ["order_update"]}).to_string(),
            CloseCode::AuthRequired,
        ),
        ("not JSON", "hello".into(), CloseCode::AuthRequired),
        ("a bad token", json!({"type": "auth", "token": "x.y.z"}).to_string(), CloseCode::InvalidToken),
        (
            "an expired token",
            json!({"type": "auth", "token": token(1_600_000_000)}).to_string(),
            CloseCode::TokenExpired,
        ),
    ];
    for (case, text, want) in cases {
        let mut h = hub();
        h.connect(1, ConnectInfo::default(), NOW);
        h.on_text(1, &text, NOW);
        assert_refused(&mut h, want, case);
    }
    let mut h = hub();
    h.connect(1, ConnectInfo::default(), NOW);
    h.on_binary(1, 3, NOW);
    assert_refused(&mut h, CloseCode::UnsupportedData, "binary");

    // silence past the deadline
    let mut h = hub();
    h.connect(1, ConnectInfo::default(), NOW);
    let deadline = h.poll_timeout(NOW).expect("an auth deadline");
    h.handle_timeout(Now { mono_ms: deadline, unix_us: NOW.unix_us + 5_000_000 });
    assert_refused(&mut h, CloseCode::AuthRequired, "no first message by the deadline");

    // and the right one gets in
    let mut h = hub();
    h.connect(1, ConnectInfo::default(), NOW);
    h.on_text(1, &json!({"type": "auth", "token": token(1_700_003_600)}).to_string(), NOW);
    assert!(closed(&mut h).is_none());
    assert_eq!(h.client_count(), 1);
}

use ibws_shared::auth::{mint, Claims, Role, SignKey};
use ibws_shared::hub::Now;
use ibws_shared::protocol::{AccountState, AccountUpdate, OrderData, OrderUpdate, ServerFrame};
use serde_json::Value;

use std::collections::BTreeMap;

use crate::edge::{route, verifier, Batch, EdgeConfig, EdgeRelay, Facts, Grant, Route, Rows};

const SECRET: &str = "edge-test-secret-0123456789abcdef0123";

fn config(tenant: &str) -> EdgeConfig {
    EdgeConfig {
        tenant: tenant.into(),
        jwt_secret: Some(SECRET.into()),
        jwt_public_key: None,
        issuer: "ibws".into(),
        audience: "ibws".into(),
        allowed_origins: vec![],
    }
}

fn relay() -> EdgeRelay {
    crate::crypto::install();
    EdgeRelay::new(config("desk1")).unwrap()
}

fn token(role: Role, tenant: &str) -> String {
    crate::crypto::install();
    mint(&claims(role, tenant), &SignKey::Hs256(SECRET.as_bytes().to_vec())).unwrap()
}

fn claims(role: Role, tenant: &str) -> Claims {
    Claims {
        sub: "t".into(),
        role,
        tenant: tenant.into(),
        scope: vec![],
        accounts: vec![],
        exp: 4_000_000_000,
        nbf: None,
        iat: None,
        iss: "ibws".into(),
        aud: "ibws".into(),
    }
}

const NOW: Now = Now { mono_ms: 1_000, unix_us: 1_700_000_000_000_000 };

fn publish(seq: u64, epoch: &str) -> String {
    let mut f = ServerFrame::OrderUpdate(OrderUpdate {
        data: OrderData {
            order_id: seq as i64,
            symbol: "AAPL".into(),
            perm_id: Some(seq as i64),
            ..Default::default()
        },
        timestamp: "t".into(),
        seq: None,
        epoch: None,
    });
    f.set_position(epoch, seq);
    format!("{{\"type\":\"publish\",\"event\":{}}}", f.to_json())
}

/// An account update for `account` saying `key` is `value`, at `seq`.
fn account(seq: u64, account: &str, key: &str, value: &str) -> String {
    let mut f = ServerFrame::AccountUpdate(AccountUpdate {
        data: AccountState {
            account: account.into(),
            values: [(key.to_owned(), value.to_owned())].into(),
            ..Default::default()
        },
        timestamp: "t".into(),
        seq: None,
        epoch: None,
    });
    f.set_position("B", seq);
    format!("{{\"type\":\"publish\",\"event\":{}}}", f.to_json())
}

/// An empty snapshot at seq 0 of `epoch`: how a bridge's stream begins.
fn snapshot(epoch: &str) -> String {
    format!(r#"{{"type":"snapshot","epoch":"{epoch}","seq":0,"orders":[],"accounts":[],"source_connected":true}}"#)
}

fn hello(tenant: &str, role: Role) -> String {
    format!(r#"{{"type":"hello","token":"{}","epoch":"B","seq":0,"version":"x"}}"#, token(role, tenant))
}

/// The frames socket `id` is sent in a batch, parsed.
fn sent(b: &Batch, id: u64) -> Vec<Value> {
    b.sends
        .iter()
        .filter(|row| row[0] == id)
        .flat_map(|row| row[1..].iter().map(|i| serde_json::from_str(&b.frames[*i as usize]).unwrap()))
        .collect()
}

/// The tables worker.js keeps in the Durable Object's SQLite, changed exactly as it
/// changes them, from the same JSON it gets (`takeChanges`).
#[derive(Default, Debug)]
struct Disk {
    meta: Option<(String, u64, bool)>,
    events: BTreeMap<u64, String>,
    orders: BTreeMap<i64, String>,
    accounts: BTreeMap<String, String>,
    /// Rows written, all tables.
    writes: usize,
}

impl Disk {
    fn apply(&mut self, rows: &Rows) {
        let c: Value = serde_json::from_str(&serde_json::to_string(rows).unwrap()).unwrap();
        let text = |v: &Value| v.as_str().expect("rows arrive as JSON text").to_owned();
        if c["clear_events"] == true {
            self.events.clear();
        }
        if c["clear_tables"] == true {
            self.orders.clear();
            self.accounts.clear();
        }
        let keep = c["keep_from"].as_u64().unwrap();
        self.events.retain(|s, _| *s >= keep);
        for e in c["events"].as_array().unwrap() {
            self.events.insert(e[0].as_u64().unwrap(), text(&e[1]));
            self.writes += 1;
        }
        for o in c["orders"].as_array().unwrap() {
            let k = o[0].as_i64().unwrap();
            if o[1].is_null() {
                self.orders.remove(&k);
            } else {
                self.orders.insert(k, text(&o[1]));
                self.writes += 1;
            }
        }
        for a in c["accounts"].as_array().unwrap() {
            self.accounts.insert(text(&a[0]), text(&a[1]));
            self.writes += 1;
        }
        self.meta =
            Some((c["epoch"].as_str().unwrap().into(), c["seq"].as_u64().unwrap(), c["source_connected"] == true));
    }

    fn store(&mut self, r: &mut EdgeRelay) -> Vec<(u64, String)> {
        match r.take_rows() {
            Some(rows) => {
                self.apply(&rows);
                r.stored(&rows.epoch, rows.seq)
            }
            None => vec![],
        }
    }

    fn restore_into(&self, r: &mut EdgeRelay) {
        let (e, s, up) = self.meta.clone().unwrap();
        r.restore_begin(e, s, up);
        for j in self.events.values() {
            r.restore_event(j.clone());
        }
        for j in self.orders.values() {
            r.restore_order(j);
        }
        for j in self.accounts.values() {
            r.restore_account(j);
        }
        r.restore_end();
    }
}

fn client(r: &mut EdgeRelay, id: u64) {
    let c = Claims { sub: format!("c{id}"), ..claims(Role::Client, "desk1") };
    let t = mint(&c, &SignKey::Hs256(SECRET.as_bytes().to_vec())).unwrap();
    // as the Worker's admission hands it over: a bearer token it verified
    let cfg = config("-");
    let v = verifier(&cfg).unwrap();
    let grant = match route(
        &cfg,
        v.as_ref(),
        &facts("/websocket/ws", &format!("client_id=c{id}"), None, Some(&format!("bearer.{t}"))),
        NOW,
    ) {
        Route::Forward { grant, .. } => grant,
        other => panic!("{other:?}"),
    };
    r.client_open_granted(id, &grant, NOW);
    r.client_text(id, r#"{"type":"subscribe","message_types":["order_update"]}"#, NOW);
}

#[test]
fn bridge_publishes_clients_receive_and_acks_wait_for_storage() {
    let mut r = relay();
    let mut rows = Disk::default();
    r.bridge_open(1, NOW);
    let w: Value = serde_json::from_str(&r.bridge_text(1, &hello("desk1", Role::Bridge), NOW).send[0]).unwrap();
    assert_eq!(w["type"], "welcome");
    r.client_open(7, None, None, NOW);
    r.client_text(7, &format!(r#"{{"type":"auth","token":"{}"}}"#, token(Role::Client, "desk1")), NOW);
    r.client_text(7, r#"{"type":"subscribe","message_types":["order_update"]}"#, NOW);
    r.drain();
    // the bridge's stream begins with its snapshot
    assert!(r.bridge_text(1, &snapshot("B"), NOW).close.is_none());
    let reply = r.bridge_text(1, &publish(1, "B"), NOW);
    assert!(reply.send.is_empty() && reply.close.is_none(), "no ack before the event is stored: {reply:?}");
    let acks = rows.store(&mut r);
    assert_eq!(acks.len(), 1);
    let ack: Value = serde_json::from_str(&acks[0].1).unwrap();
    assert_eq!((acks[0].0, ack["type"].as_str(), ack["seq"].as_u64()), (1, Some("ack"), Some(1)));
    assert!(rows.store(&mut r).is_empty(), "nothing new stored, nothing new acked");
    let got = sent(&r.drain(), 7);
    // the stream moved from the relay's placeholder epoch to the bridge's: an
    // authenticated client hears about it before the first event
    assert_eq!((got[0]["type"].as_str(), got[0]["recovered"].as_bool()), (Some("resume"), Some(false)));
    assert_eq!((got[1]["type"].as_str(), got[1]["seq"].as_u64()), (Some("order_update"), Some(1)));
}

#[test]
fn wrong_tokens_are_refused() {
    let mut r = relay();
    for (id, h, code) in
        [(1, hello("desk2", Role::Bridge), 4502), (2, hello("desk1", Role::Client), 4502), (3, publish(1, "B"), 4505)]
    {
        r.bridge_open(id, NOW);
        assert_eq!(r.bridge_text(id, &h, NOW).close.map(|c| c.0), Some(code), "{h}");
    }
    r.bridge_open(4, NOW);
    assert_eq!(r.bridge_binary(4).close.map(|c| c.0), Some(4506));
    // a forged grant (the Worker always replaces the header) admits nothing: auth first
    r.client_open_granted(9, "{not json", NOW);
    r.client_text(9, r#"{"type":"auth","token":"not.a.token"}"#, NOW);
    assert_eq!(r.drain().closes, vec![(9, 4500, "invalid token".to_owned())]);
}

#[test]
fn each_event_is_serialised_once_for_all_recipients() {
    let mut r = relay();
    r.bridge_open(1, NOW);
    r.bridge_text(1, &hello("desk1", Role::Bridge), NOW);
    r.bridge_text(1, &snapshot("B"), NOW);
    r.bridge_text(1, &publish(1, "B"), NOW);
    for id in 10..210 {
        client(&mut r, id);
    }
    r.drain();
    r.bridge_text(1, &publish(2, "B"), NOW);
    let b = r.drain();
    assert_eq!(b.sends.len(), 200);
    assert_eq!(b.frames.len(), 1, "one frame text for 200 recipients");
    assert!(b.sends.iter().all(|row| row[1..] == [0]));
}

#[test]
fn storage_writes_what_changed_and_restores_everything() {
    let mut r = relay();
    let mut rows = Disk::default();
    r.bridge_open(1, NOW);
    r.bridge_text(1, &hello("desk1", Role::Bridge), NOW);
    r.bridge_text(1, &snapshot("B"), NOW);
    rows.store(&mut r);
    // a full ring's worth: every write stays one event and one order, however full
    for s in 1..=12_000 {
        r.bridge_text(1, &publish(s, "B"), NOW);
        let before = rows.writes;
        rows.store(&mut r);
        assert_eq!(rows.writes - before, 2, "event {s}: one event row and one order row");
    }
    assert_eq!(rows.events.len(), 12_000);
    assert_eq!(rows.orders.len(), 10_000, "the order table's cap holds on disk too (evicted rows deleted)");
    // account values merge into one row per account
    r.bridge_text(1, &account(12_001, "DU1", "NetLiquidation:GBP", "100"), NOW);
    r.bridge_text(1, &account(12_002, "DU1", "CashBalance:GBP", "7"), NOW);
    r.bridge_text(1, &account(12_003, "DU2", "NetLiquidation:EUR", "5"), NOW);
    rows.store(&mut r);
    assert_eq!(rows.accounts.len(), 2);
    client(&mut r, 3);
    r.drain();
    let session = serde_json::to_string(&r.session_state(3).unwrap()).unwrap();
    let bridge = r.bridge_state(1);

    // the object is evicted and wakes up
    let mut woken = relay();
    rows.restore_into(&mut woken);
    woken.restore_session(3, serde_json::from_str(&session).unwrap(), NOW);
    woken.restore_bridge(1, bridge, NOW);
    assert_eq!(woken.hub().position(), ("B", 12_003));
    assert_eq!(woken.hub().order_count(), 10_000);
    let du1 = woken.hub().accounts().into_iter().find(|a| a.account == "DU1").expect("DU1 restored");
    assert_eq!(du1.values.get("NetLiquidation:GBP").map(String::as_str), Some("100"));
    assert_eq!(du1.values.get("CashBalance:GBP").map(String::as_str), Some("7"));
    woken.bridge_text(1, &publish(12_004, "B"), NOW);
    let got = sent(&woken.drain(), 3);
    assert_eq!(got.len(), 1, "the restored client is still subscribed");
    assert_eq!(got[0]["seq"], 12_004);
    assert_eq!(rows.store(&mut woken).len(), 1, "the restored bridge is acked");
    woken.client_text(3, r#"{"type":"resume","epoch":"B","since":9000}"#, NOW);
    // the client subscribed to order updates only: account updates are skipped
    let seqs: Vec<u64> = sent(&woken.drain(), 3).iter().filter_map(|v| v["seq"].as_u64()).collect();
    let want: Vec<u64> = (9_001..=12_000).chain([12_004]).collect();
    assert_eq!(seqs.len(), want.len() + 1, "3,001 replayed events and the resume frame");
    assert_eq!(seqs[..want.len()], want[..]);
}

#[test]
fn a_new_epoch_clears_the_stored_events() {
    let mut r = relay();
    let mut rows = Disk::default();
    r.bridge_open(1, NOW);
    r.bridge_text(1, &hello("desk1", Role::Bridge), NOW);
    r.bridge_text(1, &snapshot("B"), NOW);
    for s in 1..=5 {
        r.bridge_text(1, &publish(s, "B"), NOW);
    }
    rows.store(&mut r);
    r.bridge_text(1, &snapshot("C"), NOW);
    r.bridge_text(1, &publish(1, "C"), NOW);
    rows.store(&mut r);
    assert_eq!(rows.events.keys().copied().collect::<Vec<_>>(), vec![1]);
    assert_eq!(rows.meta.as_ref().map(|m| (m.0.as_str(), m.1)), Some(("C", 1)));
}

#[test]
fn a_silent_client_stays_and_an_idle_tenant_needs_no_alarm() {
    let mut r = relay();
    // nothing connected: nothing due
    assert_eq!(r.deadline(NOW), None);
    r.bridge_open(1, NOW);
    assert_eq!(r.deadline(NOW), Some(NOW.mono_ms + 5_000), "the bridge's hello deadline");
    r.bridge_text(1, &hello("desk1", Role::Bridge), NOW);
    r.bridge_text(1, &snapshot("B"), NOW);
    // a seed-style client: authenticated by its subprotocol, then never sends a frame
    client(&mut r, 2);
    r.drain();
    let exp_ms = 4_000_000_000u64 * 1000 - (NOW.unix_us / 1000) as u64 + NOW.mono_ms;
    assert_eq!(r.deadline(NOW), Some(exp_ms), "only token expiry is due");
    // an hour of events, sweeps in between, and no input from the client
    for minute in 1..=60u64 {
        let now = Now { mono_ms: NOW.mono_ms + minute * 60_000, unix_us: NOW.unix_us + (minute * 60_000_000) as i64 };
        r.bridge_text(1, &publish(minute, "B"), now);
        r.sweep(now);
        let b = r.drain();
        assert!(b.closes.is_empty(), "minute {minute}: {:?}", b.closes);
        assert_eq!(sent(&b, 2).iter().filter(|v| v["type"] == "order_update").count(), 1);
    }
    assert_eq!(r.client_count(), 1);
    // an unauthenticated client has a deadline, and is closed at it
    let t = Now { mono_ms: NOW.mono_ms + 61 * 60_000, unix_us: NOW.unix_us + 61 * 60_000_000 };
    r.take_deadline_moved();
    r.client_text(2, r#"{"type":"ping"}"#, t);
    assert!(!r.take_deadline_moved(), "a ping moves no deadline: no rescan");
    r.client_open(3, None, None, t);
    assert!(r.take_deadline_moved(), "a new client has an auth deadline: the host asks again");
    assert_eq!(r.deadline(t), Some(t.mono_ms + 5_000));
    let later = Now { mono_ms: t.mono_ms + 5_000, unix_us: t.unix_us + 5_000_000 };
    r.sweep(later);
    assert!(r.drain().closes.iter().any(|c| c.0 == 3 && c.1 == 4505));
}

#[test]
fn a_bridge_token_that_expires_ends_its_session() {
    let mut r = relay();
    let t = ibws_shared::auth::mint(
        &Claims { exp: (NOW.unix_us / 1_000_000) as u64 + 60, ..claims(Role::Bridge, "desk1") },
        &SignKey::Hs256(SECRET.as_bytes().to_vec()),
    )
    .unwrap();
    r.bridge_open(1, NOW);
    let h = format!(r#"{{"type":"hello","token":"{t}","epoch":"B","seq":0,"version":"x"}}"#);
    assert!(r.bridge_text(1, &h, NOW).close.is_none());
    assert_eq!(r.deadline(NOW), Some(NOW.mono_ms + 60_000));
    r.sweep(Now { mono_ms: NOW.mono_ms + 60_000, unix_us: NOW.unix_us + 60_000_000 });
    assert_eq!(r.drain().closes, vec![(1, 4501, "token expired".to_owned())]);
    assert_eq!(r.bridge_text(1, &publish(1, "B"), NOW).close.map(|c| c.0), Some(4505));
}

fn facts(path: &str, query: &str, origin: Option<&str>, protocols: Option<&str>) -> Facts {
    Facts {
        path: path.into(),
        query: query.into(),
        upgrade: true,
        origin: origin.map(Into::into),
        protocols: protocols.map(Into::into),
    }
}

#[test]
fn the_worker_routes_with_the_shared_admission() {
    let cfg = EdgeConfig { allowed_origins: vec!["https://app.example".into()], ..config("-") };
    let v = verifier(&cfg).unwrap();
    let route = |f: Facts| route(&cfg, v.as_ref(), &f, NOW);
    assert_eq!(route(facts("/healthz", "", None, None)), Route::Health);
    assert!(matches!(route(facts("/status", "", None, None)), Route::Http { status: 404, .. }));
    assert!(matches!(
        route(facts("/websocket/ws", "", Some("https://evil.example"), None)),
        Route::Http { status: 403, .. }
    ));
    let t = token(Role::Client, "desk1");
    assert!(matches!(
        route(facts("/websocket/ws", &format!("tenant=desk1&token={t}"), None, None)),
        Route::Refuse { code: 4500, .. }
    ));
    assert!(matches!(route(facts("/websocket/ws", "", None, Some("bearer.bad"))), Route::Refuse { code: 4500, .. }));
    assert!(matches!(route(facts("/websocket/ws", "", None, None)), Route::Refuse { code: 4505, .. }));
    match route(facts("/websocket/ws", "client_id=a", Some("https://app.example"), Some(&format!("ibws, bearer.{t}"))))
    {
        Route::Forward { tenant, bridge: false, echo_ibws: true, grant } => {
            assert_eq!(tenant, "desk1");
            // the verified claims travel to the tenant's object, which does not verify again
            let g: Grant = serde_json::from_str(&grant).unwrap();
            assert_eq!(g.client_id.as_deref(), Some("a"));
            assert_eq!(g.claims.map(|c| c.tenant), Some("desk1".into()));
        }
        other => panic!("{other:?}"),
    }
    match route(facts("/bridge/ws", "tenant=desk1", None, None)) {
        Route::Forward { tenant, bridge: true, echo_ibws: false, grant } => {
            assert_eq!(tenant, "desk1");
            assert_eq!(serde_json::from_str::<Grant>(&grant).unwrap(), Grant::default());
        }
        other => panic!("{other:?}"),
    }
}

/// A token signed by hand (the edge's provider does not sign these families), so the
/// edge's own verifiers are checked against independent signatures.
fn signed(alg: &str, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let header = b64(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#).as_bytes());
    let body = b64(serde_json::to_string(&claims(Role::Client, "desk1")).unwrap().as_bytes());
    let input = format!("{header}.{body}");
    let sig = b64(&sign(input.as_bytes()));
    format!("{input}.{sig}")
}

#[test]
fn the_edge_verifies_eddsa_and_es256_itself_and_refuses_forgeries() {
    use ed25519_dalek::pkcs8::EncodePublicKey as _;
    use ed25519_dalek::Signer as _;
    crate::crypto::install();
    let ed = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let ec = p256::ecdsa::SigningKey::from_slice(&[9; 32]).unwrap();
    let cases = [
        (
            ed.verifying_key().to_public_key_pem(Default::default()).unwrap(),
            signed("EdDSA", |m| ed.sign(m).to_bytes().to_vec()),
        ),
        (
            ec.verifying_key().to_public_key_pem(Default::default()).unwrap(),
            signed("ES256", |m| {
                let s: p256::ecdsa::Signature = p256::ecdsa::signature::Signer::sign(&ec, m);
                s.to_bytes().to_vec()
            }),
        ),
    ];
    for (pem, good) in cases {
        let cfg = EdgeConfig { jwt_secret: None, jwt_public_key: Some(pem), ..config("desk1") };
        let v = verifier(&cfg).unwrap();
        let now = (NOW.unix_us / 1_000_000) as u64;
        assert_eq!(v.verify(&good, now).map(|c| c.tenant), Ok("desk1".to_owned()), "{good}");
        // one signature character changed (well inside it, so it still decodes)
        let mut forged = good.clone().into_bytes();
        let i = forged.len() - 10;
        forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        assert!(v.verify(&forged, now).is_err(), "forged signature accepted");
        // an HS256 token made with the public key as the secret (algorithm confusion)
        let hs = token(Role::Client, "desk1");
        assert!(v.verify(&hs, now).is_err(), "HS256 accepted by a public-key verifier");
    }
}

#[test]
fn one_bridge_publishes_a_live_owner_keeps_its_tenant_and_a_silent_one_is_taken_over() {
    let mut r = relay();
    let welcome_of = |reply: &crate::edge::BridgeReply| {
        reply.send.iter().any(|f| serde_json::from_str::<Value>(f).unwrap()["type"] == "welcome")
    };
    r.bridge_open(1, NOW);
    assert!(welcome_of(&r.bridge_text(1, &hello("desk1", Role::Bridge), NOW)));
    assert!(r.bridge_text(1, &snapshot("B"), NOW).close.is_none());

    // a second bridge: no welcome; the owner is asked for a sign of life
    r.bridge_open(2, NOW);
    let reply = r.bridge_text(2, &hello("desk1", Role::Bridge), NOW);
    assert!(!welcome_of(&reply) && reply.close.is_none(), "{reply:?}");
    let b = r.drain();
    assert_eq!(sent(&b, 1), vec![serde_json::json!({"type": "ping"})]);
    // frames from the bridge that does not own the stream are applied to nothing
    r.bridge_text(2, &publish(1, "B"), NOW);
    assert_eq!(r.hub().position(), ("B", 0));
    // the owner answers: the newcomer is refused with 4503
    assert!(r.bridge_text(1, r#"{"type":"pong"}"#, NOW).close.is_none());
    let b = r.drain();
    assert_eq!(b.closes, vec![(2, 4503, "connection limit".to_owned())]);
    assert_eq!(sent(&b, 2)[0]["type"], "error");
    assert!(r.bridge_text(1, &publish(1, "B"), NOW).close.is_none());
    assert_eq!(r.hub().position(), ("B", 1));

    // a third while the owner stays silent: at the deadline, the owner is replaced
    r.bridge_open(3, NOW);
    r.bridge_text(3, &hello("desk1", Role::Bridge), NOW);
    r.drain();
    let deadline = r.deadline(NOW).expect("the liveness deadline");
    assert_eq!(deadline, NOW.mono_ms as u64 + ibws_shared::relay::publisher::LIVENESS_TIMEOUT_MS);
    let later = Now { mono_ms: deadline, unix_us: NOW.unix_us + 3_000_000 };
    r.sweep(later);
    let b = r.drain();
    assert!(b.closes.contains(&(1, 1001, "replaced by a newer bridge".to_owned())), "{:?}", b.closes);
    assert_eq!(sent(&b, 3)[0]["type"], "welcome");
    // the new owner's stream (a new epoch, so a snapshot first) applies
    assert!(r.bridge_text(3, &snapshot("C"), later).close.is_none());
    assert!(r.bridge_text(3, &publish(1, "C"), later).close.is_none());
    assert_eq!(r.hub().position(), ("C", 1));
    // the replaced socket's frames reach nothing
    assert!(r.bridge_text(1, &publish(2, "B"), later).close.is_some());
}

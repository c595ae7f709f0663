use super::*;

fn frame<'a>(ty: &'a str, epoch: Option<&'a str>, seq: Option<u64>, recovered: Option<bool>) -> FrameInfo<'a> {
    FrameInfo { ty, epoch, seq, recovered }
}

fn sends(effects: &[Effect]) -> Vec<String> {
    effects.iter().filter_map(|e| if let Effect::Send(s) = e { Some(s.clone()) } else { None }).collect()
}

fn open_client(core: &mut ClientCore) {
    let e = core.connect(0);
    assert!(e.contains(&Effect::Connect));
    core.on_open(1);
    core.on_frame(&frame("connection", Some("E"), Some(0), None), 2);
    core.on_frame(&frame("subscription", None, None, None), 3);
    let e = core.on_frame(&frame("orders_response", Some("E"), Some(5), None), 4);
    assert!(e.contains(&Effect::Snapshot));
}

#[test]
fn first_connect_subscribes_and_learns_the_position() {
    let mut c = ClientCore::new(Config::default(), vec!["order_update".into()], None, false);
    let e = c.connect(0);
    assert_eq!(e[0], Effect::State { state: State::Connecting, code: None, reason: String::new() });
    let e = c.on_open(1);
    assert_eq!(sends(&e), vec![r#"{"type":"subscribe","message_types":["order_update"]}"#, r#"{"type":"get_orders"}"#]);
    let e = c.on_frame(&frame("connection", Some("E"), Some(0), None), 2);
    assert!(e.iter().any(|x| matches!(x, Effect::State { state: State::Open, .. })));
    c.on_frame(&frame("subscription", None, None, None), 3);
    c.on_frame(&frame("orders_response", Some("E"), Some(5), None), 4);
    assert_eq!(c.position(), Some(("E", 5)));
    assert_eq!(c.on_frame(&frame("order_update", Some("E"), Some(6), None), 5), vec![Effect::Deliver]);
    assert_eq!(c.on_frame(&frame("order_update", Some("E"), Some(6), None), 6), vec![], "duplicates are dropped");
}

#[test]
fn reconnects_with_backoff_and_resumes() {
    let mut c = ClientCore::new(Config::default(), vec!["order_update".into()], None, false);
    open_client(&mut c);
    c.on_frame(&frame("order_update", Some("E"), Some(7), None), 10);
    let e = c.on_close(1006, "", 20);
    assert!(e.iter().any(|x| matches!(x, Effect::State { state: State::Reconnecting, code: Some(1006), .. })));
    let at = e.iter().find_map(|x| if let Effect::TimerAt(t) = x { Some(*t) } else { None }).unwrap();
    assert!((20 + 500..=20 + 1000).contains(&at), "first retry within base..2*base: {at}");
    assert!(c.on_timer(at - 1).iter().all(|x| *x != Effect::Connect), "not before the backoff");
    assert!(c.on_timer(at).contains(&Effect::Connect));
    let e = c.on_open(at + 1);
    assert_eq!(sends(&e), vec![r#"{"type":"subscribe","message_types":["order_update"],"epoch":"E","since":7}"#]);
}

#[test]
fn recovered_false_takes_a_snapshot() {
    let mut c = ClientCore::new(Config::default(), vec!["order_update".into()], None, false);
    open_client(&mut c);
    let e = c.on_frame(&frame("resume", Some("E2"), Some(40), Some(false)), 10);
    assert!(e.contains(&Effect::Resnapshot));
    assert_eq!(sends(&e), vec![r#"{"type":"get_orders"}"#]);
    let e = c.on_frame(&frame("orders_response", Some("E2"), Some(41), None), 11);
    assert!(e.contains(&Effect::Snapshot));
    assert!(!e.iter().any(|x| matches!(x, Effect::Resolve(_))), "the app did not ask for it");
    assert_eq!(c.position(), Some(("E2", 41)));
    assert!(c.on_frame(&frame("resume", Some("E2"), Some(41), Some(true)), 12).is_empty());
}

#[test]
fn an_event_of_another_epoch_without_a_resume_frame_takes_a_snapshot() {
    let mut c = ClientCore::new(Config::default(), vec!["order_update".into()], None, false);
    open_client(&mut c);
    let e = c.on_frame(&frame("order_update", Some("F"), Some(1), None), 10);
    assert!(e.contains(&Effect::Resnapshot), "{e:?}");
    assert_eq!(sends(&e), vec![r#"{"type":"get_orders"}"#]);
    // the snapshot then settles it, and events of the new epoch flow again
    let e = c.on_frame(&frame("orders_response", Some("F"), Some(3), None), 11);
    assert!(e.contains(&Effect::Snapshot));
    assert_eq!(c.on_frame(&frame("order_update", Some("F"), Some(4), None), 12), vec![Effect::Deliver]);
}

#[test]
fn close_codes_follow_the_table() {
    let mut c = ClientCore::new(Config::default(), vec![], None, false);
    open_client(&mut c);
    let e = c.on_close(4500, "invalid token", 10);
    assert!(e.iter().any(|x| matches!(x, Effect::State { state: State::Closed, code: Some(4500), .. })));
    assert!(!e.iter().any(|x| matches!(x, Effect::TimerAt(_))), "no reconnect after 4500");
    for code in [4000, 4001, 4002, 4003, 1001, 1006] {
        let mut c = ClientCore::new(Config::default(), vec![], None, false);
        open_client(&mut c);
        let e = c.on_close(code, "", 10);
        assert!(e.iter().any(|x| matches!(x, Effect::State { state: State::Reconnecting, .. })), "{code}");
    }
}

#[test]
fn expired_token_is_refreshed_then_reconnects() {
    let mut c = ClientCore::new(Config::default(), vec![], Some("a.e30.b".into()), true);
    open_client(&mut c);
    let e = c.on_close(4501, "token expired", 10);
    assert!(e.iter().any(|x| matches!(x, Effect::State { state: State::Reconnecting, .. })));
    let e = c.on_timer(10);
    assert_eq!(e.last(), Some(&Effect::NeedToken));
    let e = c.set_token("x.eyJleHAiOjE3MDAwMDAwMDB9.y".into(), 11);
    assert!(e.contains(&Effect::Connect));
    let e = c.on_open(12);
    assert!(sends(&e)[0].starts_with(r#"{"type":"auth","token":"x.eyJ"#));
}

#[test]
fn heartbeat_and_dead_connection() {
    let cfg = Config { heartbeat_ms: 100, dead_after_ms: 300, ..Config::default() };
    let mut c = ClientCore::new(cfg, vec![], None, false);
    open_client(&mut c);
    c.on_frame(&frame("pong", None, None, None), 50);
    let e = c.on_timer(120);
    assert_eq!(sends(&e), vec![r#"{"type":"ping"}"#]);
    let e = c.on_timer(349);
    assert!(!e.contains(&Effect::CloseSocket));
    let e = c.on_timer(350);
    assert!(e.contains(&Effect::CloseSocket), "silent past the deadline: dead");
    assert!(e.iter().any(|x| matches!(x, Effect::State { state: State::Reconnecting, code: Some(4002), .. })));
}

#[test]
fn token_refreshed_in_band_before_expiry() {
    // exp = 1000 s
    let token = "h.eyJleHAiOjEwMDB9.s".to_owned();
    assert_eq!(jwt_exp_ms(&token), Some(1_000_000));
    let mut c = ClientCore::new(
        Config { heartbeat_ms: 1_000_000, dead_after_ms: 10_000_000, ..Config::default() },
        vec![],
        Some(token),
        true,
    );
    open_client(&mut c);
    assert!(!c.on_timer(900_000).contains(&Effect::NeedToken));
    assert!(c.on_timer(940_000).contains(&Effect::NeedToken));
    let e = c.set_token("h.eyJleHAiOjIwMDB9.s".into(), 940_001);
    assert_eq!(sends(&e), vec![r#"{"type":"auth","token":"h.eyJleHAiOjIwMDB9.s"}"#]);
}

#[test]
fn pending_requests_are_bounded_and_rejected_on_close() {
    let mut c = ClientCore::new(Config { max_pending: 3, ..Config::default() }, vec![], None, false);
    open_client(&mut c);
    assert!(c.get_orders(10).is_some());
    assert!(c.get_orders(10).is_some());
    assert!(c.get_orders(10).is_some());
    assert!(c.get_orders(10).is_none(), "bounded");
    let e = c.on_frame(&frame("orders_response", Some("E"), Some(5), None), 11);
    assert!(e.contains(&Effect::Resolve(Op::GetOrders)));
    let e = c.on_close(1006, "", 12);
    assert!(e.contains(&Effect::RejectPending(2)));
}

#[test]
fn json_strings_are_escaped() {
    assert_eq!(json_str("a\"b\\c\n"), r#""a\"b\\c\n""#);
}

#[test]
fn close_wins_in_every_state() {
    // before the first connect (the driver starts on the next tick)
    let mut c = ClientCore::new(Config::default(), vec!["order_update".into()], None, false);
    c.close();
    assert_eq!(c.connect(5), vec![], "a close before the start keeps it closed");
    assert_eq!(c.state(), State::Closed);
    // connecting, open, reconnecting, waiting for a token
    let steps: [fn(&mut ClientCore); 4] = [
        |c| {
            c.connect(0);
        },
        open_client,
        |c| {
            open_client(c);
            c.on_close(1006, "gone", 10);
        },
        |c| {
            c.connect(0);
        },
    ];
    for (i, step) in steps.iter().enumerate() {
        let mut c = ClientCore::new(Config::default(), vec!["order_update".into()], None, i == 3);
        step(&mut c);
        let e = c.close();
        assert!(e.contains(&Effect::CloseSocket), "state {i}");
        assert_eq!(c.state(), State::Closed, "state {i}");
        // nothing that was on its way reopens it
        assert!(!c.connect(20).contains(&Effect::Connect), "state {i}");
        assert!(!c.on_timer(1_000_000).contains(&Effect::Connect), "state {i}");
        assert!(!c.set_token("t".into(), 30).contains(&Effect::Connect), "state {i}");
        assert!(!c.on_close(1006, "late", 40).iter().any(|e| matches!(e, Effect::Connect | Effect::State { .. })));
        assert_eq!(c.state(), State::Closed, "state {i}");
    }
}

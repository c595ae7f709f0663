//! The sans-IO link against the simulator's engine, in memory, on a simulated clock:
//! start-up, every managed account followed, a TWS restart with fills while away, 1101,
//! a desynchronised stream, the request throttle and huge texts. Each run takes
//! milliseconds of real time and is the same every time.

use std::time::Duration;

use ibws_tws::link::{Action, LinkConfig, LinkEvent, ACCOUNT_REQ_ID, EXECUTIONS_REQ_ID};
use ibws_tws::message::encode_request;
use ibws_tws::text::outgoing::OrderTicket;
use ibws_tws::{Incoming, Request};
use ibws_tws_io::sim::memory::{answering_version, each_version, LinkHarness, MemoryTws};
use ibws_tws_io::sim::{AccountSpec, Engine, Quirks};

fn accounts() -> Vec<AccountSpec> {
    vec!["DU111".parse().unwrap(), "DU222:EUR".parse().unwrap()]
}

fn harness(cfg: LinkConfig) -> LinkHarness {
    let engine = Engine::with_accounts(7, &accounts(), Quirks::default());
    LinkHarness::new(MemoryTws::new(engine), cfg)
}

fn messages(evs: &[(Duration, LinkEvent)]) -> Vec<&Incoming> {
    evs.iter()
        .filter_map(|(_, e)| match e {
            LinkEvent::Message(m) => Some(m),
            _ => None,
        })
        .collect()
}

fn place(h: &mut LinkHarness, owner: i64, symbol: &str, t: OrderTicket) -> i64 {
    let mut perm = 0;
    h.tws.apply(|e| {
        let id = e.next_valid_id();
        let c = e.contract_for(symbol).unwrap();
        let out = e.place(owner, id, c, t);
        perm = e.orders().find(|o| o.order.order_id == id).unwrap().order.perm_id;
        out
    });
    perm
}

#[test]
fn start_up_follows_every_managed_account() {
    each_version(|| {
        let mut h = harness(LinkConfig::default());
        h.run_for(Duration::from_secs(2));
        let evs = h.take_events();
        let connected = evs.iter().find_map(|(_, e)| match e {
            LinkEvent::Connected { accounts, server_version, .. } => Some((accounts.clone(), *server_version)),
            _ => None,
        });
        assert_eq!(connected, Some((vec!["DU111".to_owned(), "DU222".to_owned()], answering_version())));
        let msgs = messages(&evs);
        for (i, acct) in ["DU111", "DU222"].iter().enumerate() {
            let values = msgs
                .iter()
                .filter(|m| {
                    matches!(m, Incoming::AccountValueMulti { account, req_id, .. }
                    if account == acct && *req_id == ACCOUNT_REQ_ID + i as i64)
                })
                .count();
            assert!(values > 10, "{acct}: {values} values");
            assert!(msgs.iter().any(
                |m| matches!(m, Incoming::AccountUpdateMultiEnd { req_id } if *req_id == ACCOUNT_REQ_ID + i as i64)
            ));
        }
        assert!(msgs.iter().any(|m| matches!(m, Incoming::ExecDetailsEnd { req_id } if *req_id == EXECUTIONS_REQ_ID)));
    });
}

#[test]
fn the_startup_burst_respects_the_throttle() {
    each_version(|| {
        let watch: Vec<String> = (0..120).map(|i| format!("SYM{i}")).collect();
        let mut h = harness(LinkConfig { watch, max_msgs_per_sec: 50, ..LinkConfig::default() });
        h.run_for(Duration::from_secs(5));
        // every reqMktData for an unknown symbol is answered with error 200
        let answered: Vec<Duration> = h
            .take_events()
            .into_iter()
            .filter_map(|(t, e)| match e {
                LinkEvent::Message(Incoming::Error(err)) if err.code == 200 => Some(t),
                _ => None,
            })
            .collect();
        assert_eq!(answered.len(), 120);
        for w in answered.windows(51) {
            assert!(w[50] - w[0] >= Duration::from_millis(999), "more than 50 requests within a second");
        }
        assert!(*answered.last().unwrap() < Duration::from_secs(4));
    });
}

#[test]
fn a_restart_with_fills_while_away_reconnects_and_replays_them() {
    each_version(|| {
        let mut h = harness(LinkConfig::default());
        let perm = place(&mut h, 7, "MSFT", OrderTicket::limit("BUY", 200.0, 410.0).with_ref("mcp-1"));
        h.run_for(Duration::from_secs(2));
        h.take_events();

        h.tws.accepting = false;
        h.tws.drop_all();
        h.tws.apply(|e| e.fill(perm, 100.0, 150.25));
        h.run_for(Duration::from_secs(10));
        h.tws.connection_time = "20261201 09:45:00 UTC".into();
        h.tws.accepting = true;
        h.run_for(Duration::from_secs(31)); // backoff caps at 30 s
        let evs = h.take_events();
        assert!(matches!(evs.first(), Some((_, LinkEvent::Disconnected { .. }))), "{:?}", evs.first());
        let connected = evs.iter().filter(|(_, e)| matches!(e, LinkEvent::Connected { .. })).count();
        assert_eq!(connected, 1);
        let replayed: Vec<_> = messages(&evs)
            .into_iter()
            .filter_map(|m| match m {
                Incoming::ExecDetails(e) if e.perm_id == perm => Some(e.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(replayed.len(), 1, "the fill made while away comes back once");
        assert_eq!(replayed[0].req_id, EXECUTIONS_REQ_ID);
        assert_eq!((replayed[0].shares, replayed[0].price), (100.0, 150.25));
    });
}

#[test]
fn connectivity_restored_with_data_lost_resubscribes() {
    each_version(|| {
        let mut h = harness(LinkConfig { watch: vec!["AAPL".into()], ..LinkConfig::default() });
        h.run_for(Duration::from_secs(2));
        h.take_events();
        h.tws.notice(1100, "Connectivity between IB and Trader Workstation has been lost.");
        h.tws.notice(1101, "Connectivity between IB and TWS has been restored- data lost.");
        h.run_for(Duration::from_secs(2));
        let evs = h.take_events();
        assert!(
            !evs.iter().any(|(_, e)| matches!(e, LinkEvent::Disconnected { .. })),
            "1100/1101 never drop the socket"
        );
        let msgs = messages(&evs);
        let codes: Vec<i64> =
            msgs.iter().filter_map(|m| if let Incoming::Error(e) = m { Some(e.code) } else { None }).collect();
        assert_eq!(&codes[..2], &[1100, 1101]);
        for acct in ["DU111", "DU222"] {
            assert!(
                msgs.iter().any(|m| matches!(m, Incoming::AccountValueMulti { account, .. } if account == acct)),
                "{acct} values re-requested"
            );
        }
        assert!(msgs.iter().any(|m| matches!(m, Incoming::TickPrice { .. })), "market data re-requested");
        assert!(msgs.iter().any(|m| matches!(m, Incoming::ExecDetailsEnd { .. })), "executions reconciled");
    });
}

fn reconnect_after(h: &mut LinkHarness, fault: impl FnOnce(&mut LinkHarness)) -> (String, Duration) {
    h.run_for(Duration::from_secs(2));
    h.take_events();
    let start = h.elapsed();
    fault(h);
    h.run_for(Duration::from_secs(10));
    let evs = h.take_events();
    let reason = evs
        .iter()
        .find_map(|(_, e)| if let LinkEvent::Disconnected { reason } = e { Some(reason.clone()) } else { None })
        .expect("the link gave the socket up");
    let back = evs
        .iter()
        .find_map(|(t, e)| matches!(e, LinkEvent::Connected { .. }).then_some(*t))
        .expect("and connected again");
    (reason, back - start)
}

#[test]
fn a_short_length_prefix_is_detected_at_once() {
    each_version(|| {
        let mut h = harness(LinkConfig::default());
        let perm = place(&mut h, 0, "AAPL", OrderTicket::limit("BUY", 100.0, 190.0));
        let (reason, took) = reconnect_after(&mut h, |h| {
            h.tws.desync_next_frame();
            h.tws.apply(|e| e.submit(perm));
        });
        // the cut frame is text (no closing NUL) or protobuf (ends inside a field)
        assert!(reason.contains("does not end with a field terminator") || reason.contains("cut short"), "{reason}");
        // detected on the cut frame itself: back after the first backoff step (<= 250 ms)
        assert!(took < Duration::from_secs(1), "reconnected after {took:?}");
    });
}

#[test]
fn a_huge_bogus_length_is_detected_by_the_partial_frame_deadline() {
    each_version(|| {
        let mut h = harness(LinkConfig::default());
        let (reason, took) = reconnect_after(&mut h, |h| {
            // 5.4 MB announced, 13 bytes sent, then nothing: the reader would wait forever
            let conn = h.conn().unwrap();
            let mut bytes = 5_400_000u32.to_be_bytes().to_vec();
            bytes.extend_from_slice(b"4\x002\x00-1\x002104\x00");
            h.tws.send_raw(conn, &bytes);
        });
        assert!(reason.contains("out of sync"), "{reason}");
        assert!(took < Duration::from_secs(5), "reconnected after {took:?}");
    });
}

#[test]
fn a_silent_tws_is_probed_then_dropped() {
    each_version(|| {
        let mut h = harness(LinkConfig::default());
        h.run_for(Duration::from_secs(2));
        h.take_events();
        // from here on TWS hangs: the socket stays open, nothing is answered
        let probe = encode_request(h.link.server_version(), &Request::ReqCurrentTime);
        let start = h.now;
        let (mut probes, mut dropped) = (0, None);
        while dropped.is_none() && h.now.mono_ms - start.mono_ms < 120_000 {
            h.advance(Duration::from_millis(100));
            h.link.handle_timeout(h.now);
            while let Some(a) = h.link.poll_action(h.now) {
                if a == Action::Send(probe.clone()) {
                    probes += 1;
                }
            }
            while let Some(e) = h.link.poll_event() {
                if let LinkEvent::Disconnected { reason } = e {
                    dropped = Some((reason, Duration::from_millis(h.now.mono_ms - start.mono_ms)));
                }
            }
        }
        let (reason, after) = dropped.expect("a mute TWS is given up");
        assert!(reason.contains("silent"), "{reason}");
        assert_eq!(probes, 1, "probed once with reqCurrentTime first");
        let cfg = LinkConfig::default();
        assert!(after <= cfg.dead_after + Duration::from_millis(200), "{after:?}");
    });
}

#[test]
fn a_ten_megabyte_error_text_arrives_cut_with_a_marker() {
    each_version(|| {
        let mut h = harness(LinkConfig::default());
        h.run_for(Duration::from_secs(2));
        h.take_events();
        let huge = "x".repeat(10 * 1024 * 1024);
        h.tws.notice(399, &huge);
        h.run_for(Duration::from_secs(1));
        let evs = h.take_events();
        let text = messages(&evs)
            .into_iter()
            .find_map(|m| if let Incoming::Error(e) = m { (e.code == 399).then(|| e.message.clone()) } else { None })
            .expect("the error arrives");
        assert!(text.len() < 4200, "{} bytes", text.len());
        assert!(text.ends_with("… [truncated 10481664 bytes]"), "{}", &text[text.len() - 40..]);
        assert!(!evs.iter().any(|(_, e)| matches!(e, LinkEvent::Disconnected { .. })));
    });
}

#[test]
fn the_same_script_gives_the_same_events() {
    each_version(|| {
        let run = || {
            let mut h = harness(LinkConfig::default());
            let perm = place(&mut h, 0, "NVDA", OrderTicket::limit("SELL", 300.0, 121.0));
            h.run_for(Duration::from_secs(1));
            h.tws.drop_all();
            h.tws.apply(|e| e.fill(perm, 100.0, 121.0));
            h.run_for(Duration::from_secs(5));
            h.take_events()
        };
        assert_eq!(run(), run());
    });
}

#[test]
fn a_pinned_maximum_version_is_what_tws_answers_with() {
    for pinned in [157, 176, 178, 199] {
        let mut h = harness(LinkConfig { max_version: pinned, ..LinkConfig::default() });
        h.run_for(Duration::from_secs(2));
        let version = h.take_events().into_iter().find_map(|(_, e)| match e {
            LinkEvent::Connected { server_version, .. } => Some(server_version),
            _ => None,
        });
        assert_eq!(version, Some(pinned));
    }
}

//! A real account's day, from TWS frames to notifications, every number checked: the
//! link against the simulator's engine in memory on a simulated clock, its events
//! through the notifier. One test per defect of the TWS fidelity issue: executions on
//! the update they caused with their own commission, fills made while the bridge was
//! away, a non-USD base currency, every managed account, a desynchronised stream,
//! market-data sizes and "no bid", market orders without a price, huge free text.

use std::collections::BTreeMap;
use std::time::Duration;

use ibws_bridge::notify::{Notifier, NotifierConfig};
use ibws_shared::hub::Now;
use ibws_shared::protocol::{AccountState, Execution, OrderData, ServerFrame};
use ibws_tws::link::{LinkConfig, LinkEvent};
use ibws_tws::outgoing::OrderTicket;
use ibws_tws_io::sim::memory::{answering_version, each_version, LinkHarness, MemoryTws};
use ibws_tws_io::sim::{AccountSpec, Engine, Quirks, AGENT_CLIENT_ID};

struct Day {
    h: LinkHarness,
    notifier: Notifier,
    frames: Vec<(Duration, ServerFrame)>,
}

impl Day {
    fn new(accounts: &[&str], quirks: Quirks, watch: &[&str]) -> Day {
        let specs: Vec<AccountSpec> = accounts.iter().map(|a| a.parse().unwrap()).collect();
        let engine = Engine::with_accounts(3, &specs, quirks);
        let watch: Vec<String> = watch.iter().map(|s| s.to_string()).collect();
        let cfg = LinkConfig { watch: watch.clone(), ..LinkConfig::default() };
        let notifier = Notifier::new(NotifierConfig {
            watch,
            market_max_per_sec: 0,
            agents: Default::default(),
            accounts: vec![],
            utc_offset_secs: 0,
            client_id: 0,
        });
        Day { h: LinkHarness::new(MemoryTws::new(engine), cfg), notifier, frames: vec![] }
    }

    fn now(&self) -> Now {
        let ms = self.h.elapsed().as_millis() as u64;
        Now { mono_ms: 1_000 + ms, unix_us: 1_796_117_400_000_000 + ms as i64 * 1000 }
    }

    /// Lets `d` of simulated time pass in 5 ms steps, notifications collected.
    fn run(&mut self, d: Duration) {
        let end = self.h.elapsed() + d;
        while self.h.elapsed() < end {
            self.h.run_for(Duration::from_millis(5));
            for (_, ev) in self.h.take_events() {
                let now = self.now();
                let out = self.notifier.on_link(&ev, now);
                self.frames.extend(out.into_iter().map(|f| (self.h.elapsed(), f)));
            }
            let now = self.now();
            let out = self.notifier.poll(now);
            self.frames.extend(out.into_iter().map(|f| (self.h.elapsed(), f)));
        }
    }

    fn take(&mut self) -> Vec<ServerFrame> {
        std::mem::take(&mut self.frames).into_iter().map(|(_, f)| f).collect()
    }

    fn place(&mut self, owner: i64, symbol: &str, t: OrderTicket) -> i64 {
        let mut perm = 0;
        self.h.tws.apply(|e| {
            let id = e.next_valid_id();
            let c = e.contract_for(symbol).unwrap();
            let out = e.place(owner, id, c, t);
            perm = e.orders().find(|o| o.order.order_id == id && o.order.client_id == owner).unwrap().order.perm_id;
            out
        });
        perm
    }

    /// TWS goes down; `meanwhile` runs on the engine; TWS comes back after 10 s.
    fn restart(&mut self, meanwhile: impl FnOnce(&mut Engine) -> Vec<ibws_tws_io::sim::engine::SimEvent>) {
        self.h.tws.accepting = false;
        self.h.tws.drop_all();
        self.h.tws.apply(meanwhile);
        self.run(Duration::from_secs(10));
        self.h.tws.accepting = true;
        self.run(Duration::from_secs(35));
    }
}

fn updates(frames: &[ServerFrame], perm: i64) -> Vec<OrderData> {
    frames
        .iter()
        .filter_map(|f| match f {
            ServerFrame::OrderUpdate(u) if u.data.perm_id == Some(perm) => Some(u.data.clone()),
            _ => None,
        })
        .collect()
}

fn executions(frames: &[ServerFrame], perm: i64) -> Vec<(OrderData, Execution)> {
    updates(frames, perm).into_iter().filter_map(|d| d.execution.clone().map(|e| (d, e))).collect()
}

/// The defect: fills 50 then 150, orderStatus before execDetails, commissions late with
/// other frames between; each execution must ride on the update its fill caused.
fn two_fills(quirks: Quirks) {
    let mut day = Day::new(&["DU111"], quirks, &[]);
    let perm = day.place(AGENT_CLIENT_ID, "MSFT", OrderTicket::limit("BUY", 200.0, 410.5).with_ref("mcp-7"));
    day.run(Duration::from_secs(2));
    day.h.tws.apply(|e| e.submit(perm));
    day.run(Duration::from_millis(100));
    day.take();
    day.h.tws.apply(|e| e.fill(perm, 50.0, 410.45));
    let other = day.place(0, "AAPL", OrderTicket::limit("SELL", 10.0, 200.0)); // frames in between
    day.h.tws.apply(|e| e.fill(perm, 150.0, 410.0));
    day.h.tws.apply(|e| e.submit(other));
    day.h.tws.apply(|e| e.release_commissions());
    day.run(Duration::from_secs(2));
    let frames = day.take();

    let execs = executions(&frames, perm);
    let first: Vec<_> = execs.iter().filter(|(_, e)| e.exec_id.ends_with(".01.01")).collect();
    let second: Vec<_> = execs.iter().filter(|(_, e)| e.exec_id.ends_with(".01.02")).collect();
    // the update the fill caused carries it; at most one follow-up adds the commission
    let (d1, e1) = first[0];
    assert_eq!((d1.filled.unwrap().0, d1.status.as_str()), (50.0, "Submitted"), "{first:?}");
    assert_eq!((e1.shares.0, e1.price.0), (50.0, 410.45));
    let (d2, e2) = second[0];
    assert_eq!((d2.filled.unwrap().0, d2.status.as_str()), (200.0, "Filled"), "{second:?}");
    assert_eq!((e2.shares.0, e2.price.0), (150.0, 410.0));
    for (list, commission) in [(&first, 1.0), (&second, 1.0)] {
        assert!(list.len() <= 2, "{list:?}");
        let with: Vec<_> = list.iter().filter(|(_, e)| e.commission.is_some()).collect();
        assert_eq!(with.len(), 1, "exactly one report carries the commission: {list:?}");
        assert_eq!(with[0].1.commission.unwrap().0, commission);
        assert!(list.iter().all(|(_, e)| e.reconciled.is_none()), "live fills are not reconciled");
    }
    // no update about a fill goes out without its execution
    for d in updates(&frames, perm) {
        let filled = d.filled.unwrap().0;
        assert!(d.execution.is_some() || filled == 0.0, "fill update without execution: {d:?}");
    }
}

#[test]
fn executions_ride_on_the_update_they_caused_status_first_commission_late() {
    each_version(|| {
        two_fills(Quirks { late_commissions: true, status_before_exec: true });
    });
}

#[test]
fn executions_ride_on_the_update_they_caused_exec_first() {
    each_version(|| {
        two_fills(Quirks { late_commissions: false, status_before_exec: false });
        two_fills(Quirks { late_commissions: true, status_before_exec: false });
        two_fills(Quirks { late_commissions: false, status_before_exec: true });
    });
}

#[test]
fn fills_while_away_are_reported_once_marked_reconciled() {
    each_version(|| {
        let mut day = Day::new(&["DU111"], Quirks::default(), &[]);
        let perm = day.place(0, "AAPL", OrderTicket::limit("BUY", 100.0, 150.5));
        day.h.tws.apply(|e| e.submit(perm));
        day.run(Duration::from_secs(2));
        day.take();
        day.restart(|e| e.fill(perm, 100.0, 150.25));
        let frames = day.take();
        let codes: Vec<_> = frames
            .iter()
            .filter_map(|f| if let ServerFrame::Error(e) = f { e.error_code.clone() } else { None })
            .collect();
        assert_eq!(codes, ["TWS_DISCONNECTED", "TWS_RECONNECTED"]);
        let execs = executions(&frames, perm);
        assert_eq!(execs.len(), 1, "{execs:?}");
        let (d, e) = &execs[0];
        assert_eq!(e.reconciled, Some(true));
        assert_eq!((e.shares.0, e.price.0, e.commission.map(|c| c.0)), (100.0, 150.25, Some(1.0)));
        assert_eq!((d.status.as_str(), d.filled.unwrap().0, d.remaining.unwrap().0), ("Filled", 100.0, 0.0));

        // another reconnect: nothing new happened, nothing is reported again
        day.restart(|_| vec![]);
        let again = day.take();
        assert!(executions(&again, perm).is_empty(), "{:?}", executions(&again, perm));
        assert!(updates(&again, perm).is_empty(), "{:?}", updates(&again, perm));
    });
}

fn account_states(frames: &[ServerFrame]) -> BTreeMap<String, AccountState> {
    let mut m: BTreeMap<String, AccountState> = BTreeMap::new();
    for f in frames {
        if let ServerFrame::AccountUpdate(u) = f {
            m.entry(u.data.account.clone())
                .or_insert_with(|| AccountState { account: u.data.account.clone(), ..Default::default() })
                .merge(&u.data);
        }
    }
    m
}

#[test]
fn a_non_usd_base_account_has_stable_keys_from_the_first_frame() {
    each_version(|| {
        let mut day = Day::new(&["DU111", "DU222:EUR"], Quirks::default(), &[]);
        day.run(Duration::from_secs(2));
        let frames = day.take();
        // every managed account is followed
        let states = account_states(&frames);
        assert_eq!(states.keys().collect::<Vec<_>>(), ["DU111", "DU222"]);
        let truth: BTreeMap<String, String> = day
            .h
            .tws
            .engine
            .account_values("DU222")
            .into_iter()
            .map(|(k, v, c)| (if c.is_empty() { k } else { format!("{k}:{c}") }, v))
            .collect();
        let eur = &states["DU222"];
        assert_eq!(eur.values, truth, "every (key, currency) value exactly as TWS sent it");
        assert_eq!(eur.base_currency.as_deref(), Some("EUR"));
        assert_eq!(eur.values["Currency:BASE"], "BASE");
        assert_eq!(eur.values["Currency:USD"], "USD");
        assert_eq!(eur.values["CashBalance:USD"], "20000.00");
        assert_eq!(eur.values["CashBalance:EUR"], "250000.00");
        assert_ne!(eur.values["CashBalance:BASE"], eur.values["CashBalance:USD"]);
        assert_eq!(eur.value_in_base("NetLiquidation"), Some(eur.values["NetLiquidation:EUR"].as_str()));
        assert_eq!(eur.value_in_base("CashBalance"), Some(eur.values["CashBalance:BASE"].as_str()));
        // the first frame for the account already uses the final names
        let first = frames
            .iter()
            .find_map(|f| match f {
                ServerFrame::AccountUpdate(u) if u.data.account == "DU222" => Some(u.data.clone()),
                _ => None,
            })
            .unwrap();
        assert!(first.values.keys().all(|k| truth.contains_key(k)), "{:?}", first.values.keys());
        let usd = &states["DU111"];
        assert_eq!(usd.base_currency.as_deref(), Some("USD"));
        assert_eq!(usd.values["CashBalance:BASE"], usd.values["CashBalance:USD"]);

        // a restart with identical values changes nothing
        day.restart(|_| vec![]);
        let after = day.take();
        let changed: Vec<_> = after
            .iter()
            .filter_map(|f| if let ServerFrame::AccountUpdate(u) = f { Some(u.data.values.clone()) } else { None })
            .filter(|v| !v.is_empty())
            .collect();
        assert!(changed.is_empty(), "values flipped after a restart: {changed:?}");
    });
}

#[test]
fn only_the_configured_accounts_are_reported() {
    each_version(|| {
        let mut day = Day::new(&["DU111", "DU222:EUR"], Quirks::default(), &[]);
        day.notifier = Notifier::new(NotifierConfig { accounts: vec!["DU222".into()], ..NotifierConfig::default() });
        let perm =
            day.place(0, "AAPL", OrderTicket { account: "DU111".into(), ..OrderTicket::limit("BUY", 10.0, 190.0) });
        day.h.tws.apply(|e| e.submit(perm));
        day.h.tws.apply(|e| e.fill(perm, 10.0, 190.0)); // DU111 now has a position
        day.run(Duration::from_secs(2));
        let states = account_states(&day.take());
        assert_eq!(states.keys().collect::<Vec<_>>(), ["DU222"]);
    });
}

#[test]
fn a_desynchronised_stream_reconnects_within_five_seconds_with_events() {
    each_version(|| {
        let mut day = Day::new(&["DU111"], Quirks::default(), &[]);
        let perm = day.place(0, "AAPL", OrderTicket::limit("BUY", 100.0, 150.5));
        day.run(Duration::from_secs(2));
        day.take();
        let start = day.h.elapsed();
        day.h.tws.desync_next_frame();
        day.h.tws.apply(|e| e.submit(perm));
        day.run(Duration::from_secs(5));
        let events: Vec<(Duration, String)> = std::mem::take(&mut day.frames)
            .into_iter()
            .filter_map(|(t, f)| if let ServerFrame::Error(e) = f { Some((t - start, e.error_code?)) } else { None })
            .collect();
        let codes: Vec<&str> = events.iter().map(|(_, c)| c.as_str()).collect();
        assert_eq!(codes, ["TWS_DISCONNECTED", "TWS_RECONNECTED"]);
        assert!(events[1].0 < Duration::from_secs(5), "{events:?}");
        let order = day.notifier.orders().into_iter().find(|o| o.perm_id == Some(perm)).unwrap();
        assert_eq!(order.status, "Submitted", "the status lost in the cut frame comes back with the replay");
    });
}

#[test]
fn market_data_carries_sizes_and_no_bid_is_null() {
    each_version(|| {
        let mut day = Day::new(&["DU111"], Quirks::default(), &["AAPL"]);
        day.run(Duration::from_secs(2));
        let frames = day.take();
        let q = frames
            .iter()
            .rev()
            .find_map(|f| if let ServerFrame::MarketData(m) = f { Some(m.data.clone()) } else { None })
            .expect("a quote");
        assert_eq!(
            (q.bid_size.map(|n| n.0), q.ask_size.map(|n| n.0), q.last_size.map(|n| n.0)),
            (Some(300.0), Some(200.0), Some(100.0))
        );
        day.h.tws.apply(|e| e.quote_gap("AAPL"));
        day.run(Duration::from_millis(100));
        let frames = day.take();
        let ServerFrame::MarketData(m) = frames.last().unwrap() else { panic!("{frames:?}") };
        assert_eq!((m.data.bid, m.data.bid_size, m.data.ask, m.data.ask_size), (None, None, None, None));
        let json = serde_json::to_value(&m.data).unwrap();
        assert_eq!(json["bid"], serde_json::Value::Null, "{json}");
        assert!(json.as_object().unwrap().contains_key("bid"), "no bid is an explicit null: {json}");
        assert!(!json.to_string().contains("-1"), "{json}");
    });
}

#[test]
fn market_orders_have_no_price() {
    each_version(|| {
        let mut day = Day::new(&["DU111"], Quirks::default(), &[]);
        let perm = day.place(0, "TSLA", OrderTicket::market("BUY", 100.0));
        day.run(Duration::from_secs(2));
        assert_eq!(day.h.tws.engine.orders().find(|o| o.order.perm_id == perm).unwrap().order.lmt_price, Some(0.0));
        let frames = day.take();
        let created = frames
            .iter()
            .find_map(|f| match f {
                ServerFrame::OrderNotification(n) if n.data.perm_id == Some(perm) => Some(n.data.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(created.price, None);
        let json = serde_json::to_value(&created).unwrap();
        assert_eq!(json["price"], serde_json::Value::Null);
        let in_orders = day.notifier.orders().into_iter().find(|o| o.perm_id == Some(perm)).unwrap();
        assert_eq!(in_orders.price, None, "get_orders shows no price either");
    });
}

#[test]
fn ten_megabytes_of_error_text_become_a_bounded_event() {
    each_version(|| {
        let mut day = Day::new(&["DU111"], Quirks::default(), &[]);
        day.run(Duration::from_secs(2));
        day.take();
        // about 10 MB on the wire: TWS sends each é as \u00e9 (server version 176)
        day.h.tws.notice(399, &"é".repeat(1_650_000));
        day.run(Duration::from_millis(100));
        let frames = day.take();
        let ServerFrame::Error(e) = &frames[0] else { panic!("{frames:?}") };
        assert!(e.message.len() <= 4096 + 40, "{} bytes", e.message.len());
        assert!(e.message.ends_with(" bytes]") && e.message.contains("… [truncated "), "{}", &e.message[4000..]);
        assert!(serde_json::to_string(&frames[0]).unwrap().len() < 8 * 1024);
    });
}

#[test]
fn a_link_event_count_sanity_check() {
    each_version(|| {
        // the Day harness really drives the link: it connects once and stays up
        let mut day = Day::new(&["DU111"], Quirks::default(), &[]);
        day.run(Duration::from_secs(30));
        assert!(day.notifier.link_up());
        let evs = day.h.take_events();
        assert!(evs.iter().all(|(_, e)| !matches!(e, LinkEvent::Disconnected { .. })));
    });
}

#[test]
fn orders_fills_and_errors_carry_what_the_version_adds() {
    each_version(|| {
        let v = answering_version();
        let mut day = Day::new(&["DU111"], Quirks::default(), &[]);
        day.run(Duration::from_secs(2));
        let api = day.place(0, "AAPL", OrderTicket::limit("BUY", 10.0, 150.5));
        // typed in TWS's window: TWS binds it to client 0 with a negative id
        let typed = {
            let mut perm = 0;
            day.h.tws.apply(|e| {
                let c = e.contract_for("MSFT").unwrap();
                let id = -1_000_000 - e.next_valid_id();
                let out = e.place(0, id, c, OrderTicket::limit("SELL", 5.0, 420.0));
                perm = e.orders().find(|o| o.order.order_id == id).unwrap().order.perm_id;
                out
            });
            perm
        };
        day.h.tws.apply(|e| e.submit(api));
        day.h.tws.apply(|e| e.fill(api, 10.0, 150.5));
        day.h.tws.apply(|e| e.reject(typed, "Not enough shares to sell (simulated)."));
        day.run(Duration::from_secs(2));
        let frames = day.take();
        let row = updates(&frames, api).pop().unwrap();
        let typed_row = updates(&frames, typed).pop().unwrap();
        let (_, fill) = executions(&frames, api).pop().unwrap();
        let error = frames
            .iter()
            .find_map(|f| if let ServerFrame::Error(e) = f { Some(e.clone()) } else { None })
            .expect("the rejection");
        if v >= ibws_tws::versions::SUBMITTER {
            assert_eq!(row.submitter.as_deref(), Some(ibws_tws_io::sim::engine::SIM_USER));
        } else {
            assert_eq!(row.submitter, None);
        }
        if v >= ibws_tws::versions::CME_TAGGING_FIELDS_IN_OPEN_ORDER {
            assert_eq!((row.manual_order_indicator, typed_row.manual_order_indicator), (Some(0), Some(1)));
        } else {
            assert_eq!((row.manual_order_indicator, typed_row.manual_order_indicator), (None, None));
        }
        assert_eq!((row.source.as_deref(), typed_row.source.as_deref()), (Some("API"), Some("TWS")));
        assert_eq!((fill.shares.0, fill.price.0), (10.0, 150.5), "the fill decodes at {v}");
        if v >= ibws_tws::versions::ERROR_TIME {
            assert!(error.error_time.as_deref().is_some_and(|t| t.starts_with("20")), "{error:?}");
        } else {
            assert_eq!(error.error_time, None);
        }
        assert!(error.message.contains("Not enough shares"), "{error:?}");
    });
}

#[test]
fn fills_of_a_weekend_away_are_reconciled_from_version_200() {
    each_version(|| {
        let v = answering_version();
        let mut day = Day::new(&["DU111"], Quirks::default(), &[]);
        let perm = day.place(0, "AAPL", OrderTicket { tif: "GTC".into(), ..OrderTicket::limit("BUY", 100.0, 150.5) });
        day.h.tws.apply(|e| e.submit(perm));
        day.run(Duration::from_secs(2));
        day.take();
        // Friday evening: a partial fill while the bridge is away; then the weekend
        day.restart(|e| {
            let out = e.fill(perm, 40.0, 150.25);
            e.age_executions(2);
            out
        });
        let frames = day.take();
        let execs = executions(&frames, perm);
        let last = updates(&frames, perm).pop().expect("the order's state after the weekend");
        assert_eq!(last.filled.unwrap().0, 40.0, "the order's numbers come back at every version");
        if v >= ibws_tws::versions::PARAMETRIZED_DAYS_OF_EXECUTIONS {
            assert_eq!(execs.len(), 1, "{execs:?}");
            assert_eq!(execs[0].1.reconciled, Some(true));
            assert_eq!((execs[0].1.shares.0, execs[0].1.price.0), (40.0, 150.25));
        } else {
            assert!(execs.is_empty(), "below 200 TWS sends today's executions only: {execs:?}");
        }
    });
}

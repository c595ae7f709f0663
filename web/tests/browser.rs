//! The browser client in headless Chromium (wasm-bindgen-test) against a live ibws
//! stack: `ibws-test-server` (tests/src/bin), whose control URL is compiled in from
//! `IBWS_TEST_SERVER` by `tests/run`.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use ibws_web::client::IbwsClient;
use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const CONTROL: &str = match option_env!("IBWS_TEST_SERVER") {
    Some(s) => s,
    None => "http://127.0.0.1:18787",
};

fn get(v: &JsValue, k: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED)
}

async fn sleep(ms: i32) {
    let p = Promise::new(&mut |resolve, _| {
        let g = js_sys::global();
        let f: Function = get(&g, "setTimeout").unchecked_into();
        let _ = f.call2(&g, &resolve, &JsValue::from(ms));
    });
    let _ = JsFuture::from(p).await;
}

async fn control(path: &str) -> JsValue {
    let g = js_sys::global();
    let fetch: Function = get(&g, "fetch").unchecked_into();
    let resp = JsFuture::from(Promise::from(fetch.call1(&g, &JsValue::from_str(&format!("{CONTROL}{path}"))).unwrap()))
        .await
        .expect("control server reachable");
    let json: Function = get(&resp, "json").unchecked_into();
    JsFuture::from(Promise::from(json.call0(&resp).unwrap())).await.unwrap()
}

fn options(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &JsValue::from_str(k), v).unwrap();
    }
    o.into()
}

fn all_types() -> JsValue {
    ["order_update", "order_notification", "mcp_order", "account_update", "market_data", "error"]
        .iter()
        .map(|s| JsValue::from_str(s))
        .collect::<Array>()
        .into()
}

/// Records states and events of a client.
#[derive(Default)]
struct Log {
    states: Vec<(String, Option<u16>)>,
    events: Vec<(String, u64)>,
    resnapshots: u32,
}

fn watch(c: &IbwsClient) -> Rc<RefCell<Log>> {
    let log = Rc::new(RefCell::new(Log::default()));
    let l = log.clone();
    c.on_state(
        Closure::<dyn FnMut(String, JsValue)>::new(move |s: String, code: JsValue| {
            l.borrow_mut().states.push((s, code.as_f64().map(|c| c as u16)));
        })
        .into_js_value()
        .unchecked_into(),
    );
    let l = log.clone();
    c.on(
        "*",
        Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
            if let (Some(ep), Some(s)) = (get(&e, "epoch").as_string(), get(&e, "seq").as_f64()) {
                l.borrow_mut().events.push((ep, s as u64));
            }
        })
        .into_js_value()
        .unchecked_into(),
    );
    let l = log.clone();
    c.on_resnapshot(
        Closure::<dyn FnMut()>::new(move || l.borrow_mut().resnapshots += 1).into_js_value().unchecked_into(),
    );
    log
}

async fn until(what: &str, ms: i32, mut f: impl FnMut() -> bool) {
    let mut waited = 0;
    while !f() {
        assert!(waited < ms, "timed out waiting for {what}");
        sleep(50).await;
        waited += 50;
    }
}

#[wasm_bindgen_test]
async fn connects_subscribes_receives_and_gets_orders() {
    let info = control("/info").await;
    basic_session(IbwsClient::connect(
        &get(&info, "ws").as_string().unwrap(),
        options(&[("clientId", "wasm-test".into())]),
    ))
    .await;
}

/// The same session against the native relay (bridge -> uplink -> relay -> browser).
#[wasm_bindgen_test]
async fn the_same_session_against_the_native_relay() {
    let info = control("/info").await;
    let url = get(&info, "ws_relay").as_string().unwrap();
    basic_session(IbwsClient::connect(&url, options(&[("token", get(&info, "valid_token"))]))).await;
}

/// And against the edge relay (the same relay in wasm, in a Durable Object under workerd).
#[wasm_bindgen_test]
async fn the_same_session_against_the_edge_relay() {
    let info = control("/info").await;
    let url = get(&info, "ws_edge").as_string().expect("the test server runs the edge relay");
    basic_session(IbwsClient::connect(&url, options(&[("token", get(&info, "valid_token"))]))).await;
}

async fn basic_session(c: IbwsClient) {
    let log = watch(&c);
    until("open", 5000, || c.state() == "open").await;
    let subs = JsFuture::from(c.subscribe(Array::of2(&"order_update".into(), &"order_notification".into()).into()))
        .await
        .unwrap();
    let subs: Vec<String> = Array::from(&subs).iter().filter_map(|v| v.as_string()).collect();
    assert_eq!(subs, vec!["order_update", "order_notification"]);
    until("events", 10_000, || log.borrow().events.len() >= 3).await;
    let orders = JsFuture::from(c.get_orders()).await.unwrap();
    let orders = Array::from(&orders);
    assert!(orders.length() > 0, "orders table");
    assert!(get(&orders.get(0), "symbol").is_string());
    let remaining = JsFuture::from(c.unsubscribe(Array::of1(&"order_update".into()).into())).await.unwrap();
    assert_eq!(Array::from(&remaining).length(), 1);
    c.close();
}

#[wasm_bindgen_test]
async fn reconnects_after_a_server_restart_without_losing_an_event() {
    let info = control("/info").await;
    let c = IbwsClient::connect(&get(&info, "ws").as_string().unwrap(), options(&[("subscribe", all_types())]));
    let log = watch(&c);
    until("open", 5000, || c.state() == "open").await;
    until("events before", 10_000, || log.borrow().events.len() >= 5).await;
    control("/restart").await;
    until("reconnecting", 5000, || {
        log.borrow().states.iter().any(|(s, code)| s == "reconnecting" && *code == Some(4000))
    })
    .await;
    until("open again", 10_000, || c.state() == "open").await;
    let before = log.borrow().events.len();
    until("events after", 10_000, || log.borrow().events.len() >= before + 5).await;
    let l = log.borrow();
    for w in l.events.windows(2) {
        assert_eq!(w[0].0, w[1].0, "one epoch");
        assert_eq!(w[1].1, w[0].1 + 1, "no event lost or repeated across the restart");
    }
    assert_eq!(l.resnapshots, 0, "resumed, not resnapshotted");
    drop(l);
    c.close();
}

#[wasm_bindgen_test]
async fn heartbeat_detects_a_dead_connection() {
    let info = control("/info").await;
    let opts = options(&[("subscribe", all_types()), ("heartbeatMs", 300.into()), ("deadAfterMs", 1500.into())]);
    let c = IbwsClient::connect(&get(&info, "ws_proxy").as_string().unwrap(), opts);
    let log = watch(&c);
    until("open", 5000, || c.state() == "open").await;
    control("/blackhole").await;
    // the socket stays open but silent: only the heartbeat can notice
    until("dead connection detected", 6000, || {
        log.borrow().states.iter().any(|(s, code)| s == "reconnecting" && *code == Some(4002))
    })
    .await;
    until("open again", 10_000, || c.state() == "open").await;
    c.close();
}

#[wasm_bindgen_test]
async fn an_invalid_token_stops_the_client() {
    let info = control("/info").await;
    let c = IbwsClient::connect(
        &get(&info, "ws_auth").as_string().unwrap(),
        options(&[("token", get(&info, "invalid_token"))]),
    );
    let log = watch(&c);
    until("closed", 5000, || c.state() == "closed").await;
    sleep(1500).await;
    let l = log.borrow();
    assert_eq!(l.states.last(), Some(&("closed".to_owned(), Some(4500))));
    assert_eq!(
        l.states.iter().filter(|(s, _)| s == "connecting").count(),
        1,
        "no reconnect after 4500: {:?}",
        l.states
    );
}

#[wasm_bindgen_test]
async fn a_valid_token_is_accepted() {
    let info = control("/info").await;
    let c = IbwsClient::connect(
        &get(&info, "ws_auth").as_string().unwrap(),
        options(&[("token", get(&info, "valid_token")), ("subscribe", all_types())]),
    );
    let log = watch(&c);
    until("open", 5000, || c.state() == "open").await;
    until("events", 10_000, || !log.borrow().events.is_empty()).await;
    let orders = JsFuture::from(c.get_orders()).await.unwrap();
    assert!(Array::from(&orders).length() > 0);
    c.close();
}

//! The wasm driver: [`crate::core::ClientCore`] on the browser's WebSocket and timers,
//! exported to JavaScript (and usable from Rust) as [`IbwsClient`].

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use js_sys::{Array, Function, Promise, Reflect, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

use crate::core::{ClientCore, Config, Effect, FrameInfo, Op};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
// The protocol's types are generated from the Rust types (ibws-shared, ts-rs) into
// protocol.d.ts beside this file by the package build (web/npm).
import type { MessageType, ServerEvent, OrderData, OrdersResponse } from "./protocol.js";
export * from "./protocol.js";
export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

/** The event a handler for `T` receives: that type's frame ("*": any event). */
export type EventOf<T extends MessageType | "*"> = T extends "*" ? ServerEvent : Extract<ServerEvent, { type: T }>;

export interface IbwsClient {
  /** Calls `callback(event)` for every event of `type` ("*" for all), typed by it:
   *  `client.on("market_data", (e) => e.data.bid)`. */
  on<T extends MessageType | "*">(type: T, callback: (event: EventOf<T>) => void): void;
}

export interface ConnectOptions {
  /** A JWT for endpoints that require auth. */
  token?: string;
  /** Called for a token at start, before expiry and after close code 4501. */
  getToken?: () => Promise<string>;
  /** The seed's client_id query parameter. */
  clientId?: string;
  /** Subscriptions made on every (re)connect. */
  subscribe?: MessageType[];
  heartbeatMs?: number;
  deadAfterMs?: number;
}
"#;

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

fn get(v: &JsValue, k: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED)
}

struct Driver {
    core: ClientCore,
    url: String,
    ws: Option<WebSocket>,
    socket_closures: Vec<Box<dyn std::any::Any>>,
    handlers: Vec<(String, Function)>,
    on_state: Vec<Function>,
    on_snapshot: Vec<Function>,
    on_resnapshot: Vec<Function>,
    get_token: Option<Function>,
    pending: VecDeque<(Op, Function, Function)>,
    timer: Option<(i32, u64)>,
    timer_cb: Option<Closure<dyn FnMut()>>,
}

/// An ibws connection that keeps itself alive. See the TypeScript declarations for
/// the shapes of frames and options.
#[wasm_bindgen]
pub struct IbwsClient {
    inner: Rc<RefCell<Driver>>,
}

fn set_timeout(cb: &Closure<dyn FnMut()>, ms: u64) -> i32 {
    let g = js_sys::global();
    let f: Function = get(&g, "setTimeout").unchecked_into();
    f.call2(&g, cb.as_ref(), &JsValue::from_f64(ms as f64)).ok().and_then(|v| v.as_f64()).unwrap_or(0.0) as i32
}

fn clear_timeout(id: i32) {
    let g = js_sys::global();
    let f: Function = get(&g, "clearTimeout").unchecked_into();
    let _ = f.call1(&g, &JsValue::from_f64(f64::from(id)));
}

/// Runs effects. Never holds the borrow while calling into JavaScript, so app
/// callbacks may call the client again.
fn run(rc: &Rc<RefCell<Driver>>, effects: Vec<Effect>, frame: &JsValue) {
    for e in effects {
        match e {
            Effect::Connect => open_socket(rc),
            Effect::Send(text) => {
                let ws = rc.borrow().ws.clone();
                if let Some(ws) = ws {
                    let _ = ws.send_with_str(&text);
                }
            }
            Effect::CloseSocket => {
                let ws = {
                    let mut d = rc.borrow_mut();
                    d.socket_closures.clear();
                    d.ws.take()
                };
                if let Some(ws) = ws {
                    ws.set_onopen(None);
                    ws.set_onmessage(None);
                    ws.set_onclose(None);
                    ws.set_onerror(None);
                    let _ = ws.close();
                }
            }
            Effect::TimerAt(at) => schedule(rc, at),
            Effect::NeedToken => request_token(rc),
            Effect::State { state, code, reason } => {
                let cbs = rc.borrow().on_state.clone();
                let code = code.map(|c| JsValue::from_f64(f64::from(c))).unwrap_or(JsValue::UNDEFINED);
                for cb in cbs {
                    let _ = cb.call3(
                        &JsValue::NULL,
                        &JsValue::from_str(state.as_str()),
                        &code,
                        &JsValue::from_str(&reason),
                    );
                }
            }
            Effect::Deliver => {
                let ty = get(frame, "type").as_string().unwrap_or_default();
                let cbs: Vec<Function> = {
                    let d = rc.borrow();
                    d.handlers.iter().filter(|(t, _)| *t == ty || t == "*").map(|(_, f)| f.clone()).collect()
                };
                for cb in cbs {
                    let _ = cb.call1(&JsValue::NULL, frame);
                }
            }
            Effect::Snapshot => {
                let cbs = rc.borrow().on_snapshot.clone();
                for cb in cbs {
                    let _ = cb.call1(&JsValue::NULL, frame);
                }
            }
            Effect::Resnapshot => {
                let cbs = rc.borrow().on_resnapshot.clone();
                for cb in cbs {
                    let _ = cb.call0(&JsValue::NULL);
                }
            }
            Effect::Resolve(op) => {
                let p = {
                    let mut d = rc.borrow_mut();
                    d.pending.iter().position(|(o, _, _)| *o == op).and_then(|i| d.pending.remove(i))
                };
                if let Some((_, resolve, _)) = p {
                    let value = match op {
                        Op::GetOrders => get(frame, "data"),
                        Op::Subscribe => get(frame, "subscribed_types"),
                        Op::Unsubscribe => get(frame, "remaining_types"),
                    };
                    let _ = resolve.call1(&JsValue::NULL, &value);
                }
            }
            Effect::RejectPending(n) => {
                let rejected: Vec<_> = {
                    let mut d = rc.borrow_mut();
                    let n = n.min(d.pending.len());
                    d.pending.drain(..n).collect()
                };
                for (_, _, reject) in rejected {
                    let _ = reject.call1(&JsValue::NULL, &JsValue::from_str("connection closed"));
                }
            }
        }
    }
}

fn schedule(rc: &Rc<RefCell<Driver>>, at: u64) {
    let mut d = rc.borrow_mut();
    if let Some((id, when)) = d.timer {
        if when <= at {
            return; // an earlier timer will run and reschedule
        }
        clear_timeout(id);
    }
    if d.timer_cb.is_none() {
        let weak = Rc::downgrade(rc);
        d.timer_cb = Some(Closure::new(move || {
            if let Some(rc) = weak.upgrade() {
                rc.borrow_mut().timer = None;
                let effects = rc.borrow_mut().core.on_timer(now_ms());
                run(&rc, effects, &JsValue::UNDEFINED);
            }
        }));
    }
    let delay = at.saturating_sub(now_ms());
    if let Some(cb) = d.timer_cb.as_ref() {
        let id = set_timeout(cb, delay);
        d.timer = Some((id, at));
    }
}

fn request_token(rc: &Rc<RefCell<Driver>>) {
    let f = rc.borrow().get_token.clone();
    let Some(f) = f else {
        // Nothing can produce a new token: stop rather than retry forever.
        let effects = rc.borrow_mut().core.close();
        return run(rc, effects, &JsValue::UNDEFINED);
    };
    let promise = match f.call0(&JsValue::NULL) {
        Ok(p) => Promise::resolve(&p),
        Err(e) => Promise::reject(&e),
    };
    let (w1, w2) = (Rc::downgrade(rc), Rc::downgrade(rc));
    let ok = Closure::once(move |v: JsValue| {
        if let Some(rc) = w1.upgrade() {
            let effects = match v.as_string() {
                Some(t) => rc.borrow_mut().core.set_token(t, now_ms()),
                None => rc.borrow_mut().core.close(),
            };
            run(&rc, effects, &JsValue::UNDEFINED);
        }
    });
    let err = Closure::once(move |_: JsValue| {
        if let Some(rc) = w2.upgrade() {
            let effects = rc.borrow_mut().core.close();
            run(&rc, effects, &JsValue::UNDEFINED);
        }
    });
    let _ = promise.then2(&ok, &err);
    // the promise owns the callbacks now
    ok.forget();
    err.forget();
}

fn open_socket(rc: &Rc<RefCell<Driver>>) {
    let url = rc.borrow().url.clone();
    let ws = match WebSocket::new(&url) {
        Ok(ws) => ws,
        Err(_) => {
            let effects = rc.borrow_mut().core.on_close(1006, "cannot open socket", now_ms());
            return run(rc, effects, &JsValue::UNDEFINED);
        }
    };
    let weak: Weak<RefCell<Driver>> = Rc::downgrade(rc);
    let w = weak.clone();
    let onopen = Closure::<dyn FnMut()>::new(move || {
        if let Some(rc) = w.upgrade() {
            let effects = rc.borrow_mut().core.on_open(now_ms());
            run(&rc, effects, &JsValue::UNDEFINED);
        }
    });
    let w = weak.clone();
    let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        let Some(rc) = w.upgrade() else { return };
        let Some(text) = ev.data().as_string() else { return };
        let Ok(frame) = JSON::parse(&text) else { return };
        let ty = get(&frame, "type").as_string().unwrap_or_default();
        let epoch = get(&frame, "epoch").as_string();
        let seq = get(&frame, "seq").as_f64().map(|f| f as u64);
        let recovered = get(&frame, "recovered").as_bool();
        let info = FrameInfo { ty: &ty, epoch: epoch.as_deref(), seq, recovered };
        let effects = rc.borrow_mut().core.on_frame(&info, now_ms());
        run(&rc, effects, &frame);
    });
    let w = weak.clone();
    let me = ws.clone();
    let onclose = Closure::<dyn FnMut(CloseEvent)>::new(move |ev: CloseEvent| {
        let Some(rc) = w.upgrade() else { return };
        // ignore the close of a socket we already replaced
        if rc.borrow().ws.as_ref() != Some(&me) {
            return;
        }
        rc.borrow_mut().ws = None;
        let effects = rc.borrow_mut().core.on_close(ev.code(), &ev.reason(), now_ms());
        run(&rc, effects, &JsValue::UNDEFINED);
    });
    ws.set_onopen(Some(onopen.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    ws.set_onclose(Some(onclose.as_ref().unchecked_ref()));
    let mut d = rc.borrow_mut();
    d.socket_closures = vec![Box::new(onopen), Box::new(onmessage), Box::new(onclose)];
    d.ws = Some(ws);
}

/// The strings of a JS array; anything else (undefined, a string, ...) gives none.
fn string_list(v: &JsValue) -> Vec<String> {
    if !Array::is_array(v) {
        return Vec::new();
    }
    Array::from(v).iter().filter_map(|x| x.as_string()).collect()
}

#[wasm_bindgen]
impl IbwsClient {
    /// Connects to `url` (`ws://127.0.0.1:8000/websocket/ws` or a relay's `wss://`
    /// URL) and stays connected until `close()`.
    #[wasm_bindgen(unchecked_return_type = "IbwsClient")]
    pub fn connect(
        url: &str,
        // optional in the package's declarations (web/npm); a missing argument is undefined
        #[wasm_bindgen(unchecked_param_type = "ConnectOptions")] options: JsValue,
    ) -> IbwsClient {
        let opt = |k: &str| if options.is_object() { get(&options, k) } else { JsValue::UNDEFINED };
        let token = opt("token").as_string();
        let get_token = opt("getToken").dyn_into::<Function>().ok();
        let subs = string_list(&opt("subscribe"));
        let mut cfg = Config::default();
        if let Some(v) = opt("heartbeatMs").as_f64() {
            cfg.heartbeat_ms = v as u64;
        }
        if let Some(v) = opt("deadAfterMs").as_f64() {
            cfg.dead_after_ms = v as u64;
        }
        let mut url = url.to_owned();
        if let Some(id) = opt("clientId").as_string() {
            let enc: String = js_sys::encode_uri_component(&id).into();
            url.push_str(if url.contains('?') { "&" } else { "?" });
            url.push_str("client_id=");
            url.push_str(&enc);
        }
        let wants_token = token.is_some() || get_token.is_some();
        let inner = Rc::new(RefCell::new(Driver {
            core: ClientCore::new(cfg, subs, token, wants_token),
            url,
            ws: None,
            socket_closures: Vec::new(),
            handlers: Vec::new(),
            on_state: Vec::new(),
            on_snapshot: Vec::new(),
            on_resnapshot: Vec::new(),
            get_token,
            pending: VecDeque::new(),
            timer: None,
            timer_cb: None,
        }));
        // Start on the next tick, so callbacks registered right after connect() see
        // every state change.
        let weak = Rc::downgrade(&inner);
        let start = Closure::once_into_js(move || {
            if let Some(rc) = weak.upgrade() {
                let effects = rc.borrow_mut().core.connect(now_ms());
                run(&rc, effects, &JsValue::UNDEFINED);
            }
        });
        let g = js_sys::global();
        if let Ok(f) = get(&g, "setTimeout").dyn_into::<Function>() {
            let _ = f.call2(&g, &start, &JsValue::from_f64(0.0));
        }
        IbwsClient { inner }
    }

    /// Calls `callback(frame)` for every event of `type` (`"*"` for all events). Its
    /// TypeScript signature (generic over the event type) is in the custom section.
    #[wasm_bindgen(skip_typescript)]
    pub fn on(&self, ty: &str, callback: Function) {
        self.inner.borrow_mut().handlers.push((ty.to_owned(), callback));
    }

    /// Calls `callback(state, code, reason)` on every connection state change.
    #[wasm_bindgen(js_name = onState)]
    pub fn on_state(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(state: ConnectionState, code?: number, reason?: string) => void")]
        callback: Function,
    ) {
        self.inner.borrow_mut().on_state.push(callback);
    }

    /// Calls `callback(ordersResponse)` with each fresh snapshot: at first connect and
    /// after the server could not replay what was missed.
    #[wasm_bindgen(js_name = onSnapshot)]
    pub fn on_snapshot(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(snapshot: OrdersResponse) => void")] callback: Function,
    ) {
        self.inner.borrow_mut().on_snapshot.push(callback);
    }

    /// Calls `callback()` when events were missed and a snapshot is on its way.
    #[wasm_bindgen(js_name = onResnapshot)]
    pub fn on_resnapshot(&self, callback: Function) {
        self.inner.borrow_mut().on_resnapshot.push(callback);
    }

    fn request(&self, op: Op, effects: Option<Vec<Effect>>) -> Promise {
        let Some(effects) = effects else {
            return Promise::reject(&JsValue::from_str("not connected, or too many requests pending"));
        };
        let rc = self.inner.clone();
        let mut slot = None;
        let promise = Promise::new(&mut |resolve, reject| slot = Some((resolve, reject)));
        if let Some((resolve, reject)) = slot {
            rc.borrow_mut().pending.push_back((op, resolve, reject));
        }
        run(&rc, effects, &JsValue::UNDEFINED);
        promise
    }

    /// Subscribes; resolves with every subscribed type once the server confirms.
    #[wasm_bindgen(unchecked_return_type = "Promise<MessageType[]>")]
    pub fn subscribe(&self, #[wasm_bindgen(unchecked_param_type = "MessageType[]")] types: JsValue) -> Promise {
        let e = self.inner.borrow_mut().core.subscribe(string_list(&types), now_ms());
        self.request(Op::Subscribe, e)
    }

    /// Unsubscribes; resolves with the remaining types.
    #[wasm_bindgen(unchecked_return_type = "Promise<MessageType[]>")]
    pub fn unsubscribe(&self, #[wasm_bindgen(unchecked_param_type = "MessageType[]")] types: JsValue) -> Promise {
        let e = self.inner.borrow_mut().core.unsubscribe(string_list(&types), now_ms());
        self.request(Op::Unsubscribe, e)
    }

    /// The current order table.
    #[wasm_bindgen(js_name = getOrders, unchecked_return_type = "Promise<OrderData[]>")]
    pub fn get_orders(&self) -> Promise {
        let e = self.inner.borrow_mut().core.get_orders(now_ms());
        self.request(Op::GetOrders, e)
    }

    /// `"connecting"`, `"open"`, `"reconnecting"` or `"closed"`.
    #[wasm_bindgen(getter, unchecked_return_type = "ConnectionState")]
    pub fn state(&self) -> String {
        self.inner.borrow().core.state().as_str().to_owned()
    }

    /// The last stream position, `[epoch, seq]`, or undefined.
    #[wasm_bindgen(getter, unchecked_return_type = "[string, number] | undefined")]
    pub fn position(&self) -> JsValue {
        match self.inner.borrow().core.position() {
            Some((e, s)) => Array::of2(&JsValue::from_str(e), &JsValue::from_f64(s as f64)).into(),
            None => JsValue::UNDEFINED,
        }
    }

    /// Closes for good (no reconnect).
    pub fn close(&self) {
        let effects = self.inner.borrow_mut().core.close();
        run(&self.inner, effects, &JsValue::UNDEFINED);
    }
}

/// Decodes a frame into the typed Rust model (feature `typed`).
#[cfg(feature = "typed")]
pub fn decode_frame(frame: &JsValue) -> Result<ibws_shared::protocol::ServerFrame, JsValue> {
    serde_wasm_bindgen::from_value(frame.clone()).map_err(|e| JsValue::from_str(&e.to_string()))
}

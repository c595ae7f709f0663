//! The MCP tools' way into the bridge's pipeline. The pipeline owns the order truth
//! (the notifier's books), the TWS link and the [`Desk`]; a tool sends a [`DeskCall`]
//! and awaits its answer, so every call is decided in order with TWS's events, by the
//! one task that holds the state, and sent on the bridge's own TWS connection.

use std::collections::HashMap;

use ibws_shared::protocol::{OrderData, ServerFrame};
use ibws_tws::link::LinkEvent;
use ibws_tws::{Incoming, Request};
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::desk::{Change, Desk, Market, OrderRequest, Placement, Preview, Refusal, Send};
use crate::notify::{Notifier, Placed};

/// What a tool may read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    Accounts,
    Positions,
    OpenOrders,
    Executions,
    Quotes,
    /// This agent's own orders (the `ibws://orders` resource).
    OwnOrders,
}

/// The answer to a placement.
#[derive(Clone, Debug, PartialEq)]
pub struct Ticket {
    pub order_id: i64,
    /// An earlier call with the same idempotency key placed it: nothing was sent now.
    pub duplicate: bool,
    pub account: Option<String>,
}

pub type Reply<T> = oneshot::Sender<Result<T, Refusal>>;

/// A tool's request to the pipeline.
pub enum DeskCall {
    View(View, oneshot::Sender<Value>),
    Place {
        request: OrderRequest,
        idempotency_key: Option<String>,
        confirmation_id: Option<String>,
        reply: Reply<Ticket>,
    },
    Preview {
        request: OrderRequest,
        reply: Reply<Preview>,
    },
    Modify {
        order_id: i64,
        quantity: Option<f64>,
        limit_price: Option<f64>,
        stop_price: Option<f64>,
        reply: Reply<Ticket>,
    },
    Cancel {
        order_id: i64,
        reply: Reply<Ticket>,
    },
}

/// Calls waiting in the pipeline, at most; a tool finding the queue full is told so.
pub const MAX_QUEUED_CALLS: usize = 64;

/// The tools' end.
#[derive(Clone)]
pub struct DeskHandle {
    calls: mpsc::Sender<DeskCall>,
    events: broadcast::Sender<ServerFrame>,
}

impl DeskHandle {
    pub fn new() -> (DeskHandle, mpsc::Receiver<DeskCall>) {
        let (calls, rx) = mpsc::channel(MAX_QUEUED_CALLS);
        let (events, _) = broadcast::channel(1024);
        (DeskHandle { calls, events }, rx)
    }

    /// Sends a call and waits for its answer.
    pub async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> DeskCall) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.calls.try_send(make(tx)).ok()?;
        rx.await.ok()
    }

    /// Events about this agent's orders, as the bridge publishes them.
    pub fn subscribe(&self) -> broadcast::Receiver<ServerFrame> {
        self.events.subscribe()
    }

    pub(crate) fn events(&self) -> &broadcast::Sender<ServerFrame> {
        &self.events
    }
}

/// The pipeline's side: the desk, and the previews TWS has yet to answer.
pub struct DeskStation {
    pub desk: Desk,
    client_id: i64,
    watch: Vec<String>,
    accounts: Vec<String>,
    waiting: HashMap<i64, Reply<Preview>>,
    events: broadcast::Sender<ServerFrame>,
}

impl DeskStation {
    pub fn new(desk: Desk, handle: &DeskHandle, client_id: i64, watch: Vec<String>) -> DeskStation {
        DeskStation {
            desk,
            client_id,
            watch,
            accounts: vec![],
            waiting: HashMap::new(),
            events: handle.events().clone(),
        }
    }

    /// Follows the link: order ids, accounts, what-if answers (and their errors).
    pub fn on_link(&mut self, ev: &LinkEvent, now_ms: u64) {
        match ev {
            LinkEvent::Connected { next_valid_id, accounts, .. } => {
                self.accounts = accounts.clone();
                self.desk.set_next_id(Some(*next_valid_id));
            }
            LinkEvent::Disconnected { .. } => {
                self.desk.set_next_id(None);
                for (_, reply) in self.waiting.drain() {
                    let _ = reply.send(Err(Refusal("the TWS connection dropped before the preview came back".into())));
                }
            }
            LinkEvent::Message(Incoming::NextValidId(n)) => self.desk.set_next_id(Some(*n)),
            LinkEvent::Message(Incoming::ManagedAccounts(a)) => self.accounts = a.clone(),
            LinkEvent::Message(Incoming::OpenOrder(b)) if b.0.what_if && b.0.client_id == self.client_id => {
                if let Some(p) = self.desk.on_what_if(&b.0, &b.1, now_ms) {
                    if let Some(reply) = self.waiting.remove(&p.order_id) {
                        let _ = reply.send(Ok(p));
                    }
                }
            }
            LinkEvent::Message(Incoming::Error(e)) if self.desk.is_pending_preview(e.req_id) => {
                self.desk.forget_preview(e.req_id);
                if let Some(reply) = self.waiting.remove(&e.req_id) {
                    let _ = reply.send(Err(Refusal(format!("TWS refused the preview: {} ({})", e.message, e.code))));
                }
            }
            _ => {}
        }
    }

    /// Follows what the bridge published; events about this agent's orders go to
    /// its MCP session too.
    pub fn on_published(&mut self, frames: &[ServerFrame]) {
        for f in frames {
            self.desk.observe(f);
            let order = match f {
                ServerFrame::OrderUpdate(u) => Some(&u.data),
                ServerFrame::OrderNotification(n) => Some(&n.data),
                ServerFrame::McpOrder(m) => Some(&m.data),
                _ => None,
            };
            let own = match (order, f) {
                (Some(o), _) => o.client_id == Some(self.client_id) && self.desk.is_own(o.order_id),
                (None, ServerFrame::Error(e)) => e.req_id.is_some_and(|id| self.desk.is_own(id)),
                _ => false,
            };
            if own {
                let _ = self.events.send(f.clone());
            }
        }
    }

    /// Carries out one call; returns what to send to TWS (the caller sends it and
    /// tells the notifier what it placed).
    pub fn handle(&mut self, call: DeskCall, notifier: &mut Notifier, now_ms: u64) -> Option<Request> {
        let market = Market { accounts: &self.accounts, watch: &self.watch };
        match call {
            DeskCall::View(v, reply) => {
                let _ = reply.send(self.view(v, notifier));
                None
            }
            DeskCall::Place { request, idempotency_key, confirmation_id, reply } => {
                let r =
                    self.desk.place(request, idempotency_key.as_deref(), confirmation_id.as_deref(), &market, now_ms);
                match r {
                    Ok(Placement::Existing { order_id }) => {
                        let _ = reply.send(Ok(Ticket { order_id, duplicate: true, account: None }));
                        None
                    }
                    Ok(Placement::New(s)) => self.sent(*s, notifier, reply),
                    Err(e) => {
                        let _ = reply.send(Err(e));
                        None
                    }
                }
            }
            DeskCall::Preview { request, reply } => match self.desk.preview(request, &market, now_ms) {
                Ok(s) => {
                    // previews whose tool gave up waiting (it times out) are forgotten, so
                    // this holds at most the previews still being waited for
                    self.waiting.retain(|_, tx| !tx.is_closed());
                    self.waiting.insert(s.order_id, reply);
                    Some(s.request)
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                    None
                }
            },
            DeskCall::Modify { order_id, quantity, limit_price, stop_price, reply } => {
                let row = self.own_row(notifier, order_id);
                let market = Market { accounts: &self.accounts, watch: &self.watch };
                let change = Change { quantity, limit_price, stop_price };
                match self.desk.modify(order_id, row.as_ref(), change, &market, now_ms) {
                    Ok(s) => self.sent(s, notifier, reply),
                    Err(e) => {
                        let _ = reply.send(Err(e));
                        None
                    }
                }
            }
            DeskCall::Cancel { order_id, reply } => {
                let row = self.own_row(notifier, order_id);
                match self.desk.cancel(order_id, row.as_ref()) {
                    Ok(s) => self.sent(s, notifier, reply),
                    Err(e) => {
                        let _ = reply.send(Err(e));
                        None
                    }
                }
            }
        }
    }

    fn sent(&mut self, s: Send, notifier: &mut Notifier, reply: Reply<Ticket>) -> Option<Request> {
        notifier.placing(Placed {
            order_id: s.order_id,
            account: Some(s.account.clone()),
            agent: Some(self.desk.policy().agent.clone()),
        });
        let _ = reply.send(Ok(Ticket { order_id: s.order_id, duplicate: false, account: Some(s.account) }));
        Some(s.request)
    }

    fn own_row(&self, notifier: &Notifier, order_id: i64) -> Option<OrderData> {
        notifier.orders_iter().find(|o| o.order_id == order_id && o.client_id == Some(self.client_id)).cloned()
    }

    fn view(&self, v: View, notifier: &Notifier) -> Value {
        match v {
            View::Accounts => json!(notifier
                .accounts_iter()
                .map(|a| json!({"account": a.account, "base_currency": a.base_currency, "values": a.values}))
                .collect::<Vec<_>>()),
            View::Positions => json!(notifier
                .accounts_iter()
                .flat_map(|a| a.positions.iter().map(move |p| (a.account.clone(), p)))
                .map(|(account, p)| {
                    let mut v = serde_json::to_value(p).unwrap_or_default();
                    v["account"] = json!(account);
                    v
                })
                .collect::<Vec<_>>()),
            View::OpenOrders => {
                json!(notifier.orders_iter().filter(|o| !o.is_terminal()).map(OrderData::as_row).collect::<Vec<_>>())
            }
            View::OwnOrders => json!(notifier
                .orders_iter()
                .filter(|o| o.client_id == Some(self.client_id) && self.desk.is_own(o.order_id))
                .map(OrderData::as_row)
                .collect::<Vec<_>>()),
            View::Executions => json!(self.desk.fills().collect::<Vec<_>>()),
            View::Quotes => json!(self.desk.quotes()),
        }
    }
}

//! The agent's trading desk as a state machine free of I/O: every decision `ibws mcp`
//! makes about an agent's order is here (is trading on, is it inside the limits, has
//! this idempotency key placed an order already, is this confirmation id valid, which
//! order id to use, what the orderRef says), and the time is an input. The MCP tools
//! ask; the bridge's pipeline carries out the [`Request`] it returns on the TWS link.

use std::collections::{BTreeMap, HashMap, VecDeque};

use ibws_shared::protocol::{OrderData, ServerFrame};
use ibws_tws::outgoing::OrderTicket;
use ibws_tws::types::{Contract, Order, OrderState};
use ibws_tws::Request;
use serde::Serialize;

/// What the user allows an agent to do (`--agent-*` options). Trading is off unless
/// turned on; every limit applies to every order the agent places or modifies.
#[derive(Clone, Debug)]
pub struct TradingPolicy {
    /// The agent's name: it goes to TWS in each order's orderRef (`<prefix>:<name>`).
    pub agent: String,
    /// The orderRef prefix that marks an agent's order (the bridge's
    /// `--mcp-order-ref-prefix`).
    pub order_ref_prefix: String,
    pub trading: bool,
    /// Symbols the agent may trade; empty means the watchlist; `*` means any.
    pub symbols: Vec<String>,
    pub order_types: Vec<String>,
    pub max_quantity: f64,
    /// Price x quantity, in the contract's currency.
    pub max_notional: f64,
    pub max_orders_per_minute: usize,
    /// Accounts other than paper ones (IB paper account ids start with `D`).
    pub live_accounts: bool,
    /// Every order needs a preview first, and the confirmation id it returned.
    pub require_confirmation: bool,
}

impl Default for TradingPolicy {
    fn default() -> Self {
        TradingPolicy {
            agent: "agent".into(),
            order_ref_prefix: "mcp".into(),
            trading: false,
            symbols: vec![],
            order_types: vec!["LMT".into()],
            max_quantity: 100.0,
            max_notional: 10_000.0,
            max_orders_per_minute: 10,
            live_accounts: false,
            require_confirmation: false,
        }
    }
}

/// An order as an agent asks for it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OrderRequest {
    pub symbol: String,
    pub action: String,
    pub quantity: f64,
    pub order_type: String,
    pub limit_price: Option<f64>,
    pub stop_price: Option<f64>,
    pub tif: Option<String>,
    pub account: Option<String>,
}

/// What a modify changes; `None` keeps the order's value.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Change {
    pub quantity: Option<f64>,
    pub limit_price: Option<f64>,
    pub stop_price: Option<f64>,
}

/// Why a call placed nothing: said to the agent as a tool error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal(pub String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn refuse<T>(why: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal(why.into()))
}

/// What the desk is told of the world when it decides: the accounts this TWS login
/// manages and the watchlist (the last prices it follows itself, in [`Desk::observe`]).
pub struct Market<'a> {
    pub accounts: &'a [String],
    pub watch: &'a [String],
}

/// A decision to send something to TWS.
#[derive(Clone, Debug, PartialEq)]
pub struct Send {
    pub order_id: i64,
    pub request: Request,
    pub account: String,
}

/// The answer to a placement.
#[derive(Clone, Debug, PartialEq)]
pub enum Placement {
    /// Send this placeOrder.
    New(Box<Send>),
    /// The idempotency key placed this order already: nothing is sent again.
    Existing { order_id: i64 },
}

/// A what-if answer, as the agent sees it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Preview {
    pub order_id: i64,
    pub symbol: String,
    pub action: String,
    pub quantity: f64,
    pub order_type: String,
    pub limit_price: Option<f64>,
    pub account: String,
    pub commission: Option<f64>,
    pub commission_currency: String,
    pub init_margin_change: String,
    pub maint_margin_change: String,
    pub equity_with_loan_after: String,
    pub warning: String,
    /// Pass it to `place_order` to place exactly this order (once, within
    /// [`CONFIRMATION_TTL_MS`]).
    pub confirmation_id: String,
}

/// A fill, as `get_executions` lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fill {
    pub time: Option<String>,
    pub exec_id: String,
    pub order_id: i64,
    pub symbol: String,
    pub side: String,
    pub quantity: f64,
    pub price: f64,
    pub commission: Option<f64>,
    pub account: Option<String>,
    pub agent: bool,
}

/// Idempotency keys remembered, at most (the oldest is forgotten first).
pub const MAX_IDEMPOTENCY_KEYS: usize = 10_000;
/// Previews awaiting an answer or a confirmation, at most.
pub const MAX_PREVIEWS: usize = 256;
/// How long a preview's confirmation id stays valid.
pub const CONFIRMATION_TTL_MS: u64 = 120_000;
/// Orders of this agent remembered for modify and cancel, at most.
pub const MAX_OWN_ORDERS: usize = 10_000;
/// Fills kept for `get_executions`, at most (the oldest go first).
pub const MAX_FILLS: usize = 10_000;
/// Idempotency keys and confirmation ids longer than this are refused.
pub const MAX_KEY_LEN: usize = 128;

struct PendingPreview {
    request: OrderRequest,
    sent_ms: u64,
    /// Set once TWS answered: the id the agent may confirm with, and until when.
    confirmation: Option<(String, u64)>,
}

/// The desk's state.
pub struct Desk {
    policy: TradingPolicy,
    next_id: Option<i64>,
    /// Placement times within the last minute.
    recent: VecDeque<u64>,
    idempotency: HashMap<String, i64>,
    idempotency_order: VecDeque<String>,
    /// By the what-if order id.
    previews: BTreeMap<i64, PendingPreview>,
    /// Orders this agent placed: what to resend for a modify.
    own: BTreeMap<i64, (Contract, OrderTicket)>,
    fills: VecDeque<Fill>,
    quotes: BTreeMap<String, serde_json::Value>,
    rng: u64,
}

/// Paper accounts at IB start with `D` (`DU...` individual, `DF...` advisor).
pub fn is_paper(account: &str) -> bool {
    account.starts_with('D')
}

impl Desk {
    pub fn new(policy: TradingPolicy, seed: u64) -> Desk {
        Desk {
            policy,
            next_id: None,
            recent: VecDeque::new(),
            idempotency: HashMap::new(),
            idempotency_order: VecDeque::new(),
            previews: BTreeMap::new(),
            own: BTreeMap::new(),
            fills: VecDeque::new(),
            quotes: BTreeMap::new(),
            rng: seed | 1,
        }
    }

    pub fn policy(&self) -> &TradingPolicy {
        &self.policy
    }

    /// The orderRef every order of this agent carries.
    pub fn order_ref(&self) -> String {
        format!("{}:{}", self.policy.order_ref_prefix, self.policy.agent)
    }

    /// TWS said which order ids are free (nextValidId); `None` when the link is down.
    pub fn set_next_id(&mut self, next: Option<i64>) {
        self.next_id = match (self.next_id, next) {
            (Some(mine), Some(tws)) => Some(mine.max(tws)),
            (_, n) => n,
        };
    }

    fn take_id(&mut self) -> Result<i64, Refusal> {
        let Some(id) = self.next_id else {
            return refuse("TWS is not connected: nothing was placed");
        };
        self.next_id = Some(id + 1);
        Ok(id)
    }

    fn check(&self, r: &OrderRequest, m: &Market<'_>, now_ms: u64) -> Result<(String, f64), Refusal> {
        let p = &self.policy;
        if !p.trading {
            return refuse("trading is off for agents: the user must start ibws with --agent-trading");
        }
        let symbol = r.symbol.trim().to_ascii_uppercase();
        let allowed = if p.symbols.is_empty() { m.watch } else { &p.symbols[..] };
        if !allowed.iter().any(|s| s == "*" || s.eq_ignore_ascii_case(&symbol)) {
            return refuse(format!(
                "{symbol} is not among the symbols agents may trade ({}); see --agent-symbols",
                if allowed.is_empty() { "none".to_owned() } else { allowed.join(", ") }
            ));
        }
        if !matches!(r.action.as_str(), "BUY" | "SELL") {
            return refuse(format!("action must be BUY or SELL, not {:?}", r.action));
        }
        if !p.order_types.iter().any(|t| t.eq_ignore_ascii_case(&r.order_type)) {
            return refuse(format!(
                "order type {} is not allowed for agents (allowed: {}); see --agent-order-types",
                r.order_type,
                p.order_types.join(", ")
            ));
        }
        if !(r.quantity.is_finite() && r.quantity > 0.0) {
            return refuse("quantity must be a positive number");
        }
        if r.quantity > p.max_quantity {
            return refuse(format!(
                "quantity {} is above the agent limit of {}; see --agent-max-quantity",
                r.quantity, p.max_quantity
            ));
        }
        let needs_limit = matches!(r.order_type.as_str(), "LMT" | "STP LMT");
        let needs_stop = matches!(r.order_type.as_str(), "STP" | "STP LMT");
        if needs_limit && !r.limit_price.is_some_and(|x| x.is_finite() && x > 0.0) {
            return refuse(format!("a {} order needs a positive limit_price", r.order_type));
        }
        if needs_stop && !r.stop_price.is_some_and(|x| x.is_finite() && x > 0.0) {
            return refuse(format!("a {} order needs a positive stop_price", r.order_type));
        }
        let account = match &r.account {
            Some(a) if !a.is_empty() => a.clone(),
            _ => match m.accounts {
                [one] => one.clone(),
                [] => return refuse("TWS has not said which accounts it manages yet: nothing was placed"),
                many => return refuse(format!("several accounts ({}): name one in account", many.join(", "))),
            },
        };
        if !m.accounts.iter().any(|a| a == &account) {
            return refuse(format!("account {account} is not one this TWS login manages"));
        }
        if !p.live_accounts && !is_paper(&account) {
            return refuse(format!(
                "account {account} is not a paper account and agents may trade paper accounts only; \
                 see --agent-live-accounts"
            ));
        }
        // the notional at the worst price the order can trade at that the desk knows
        let price = r.limit_price.or(r.stop_price).or_else(|| self.last_price(&symbol));
        let Some(price) = price else {
            return refuse(format!(
                "no price for {symbol} to check the notional limit against: use a limit order, \
                 or watch the symbol (--watch) so a market order can be checked"
            ));
        };
        let notional = price * r.quantity;
        if notional > p.max_notional {
            return refuse(format!(
                "notional {notional:.2} is above the agent limit of {:.2}; see --agent-max-notional",
                p.max_notional
            ));
        }
        let in_last_minute = self.recent.iter().filter(|&&t| t + 60_000 > now_ms).count();
        if in_last_minute >= p.max_orders_per_minute {
            return refuse(format!(
                "{in_last_minute} orders in the last minute: the agent limit is {}; see --agent-max-orders-per-minute",
                p.max_orders_per_minute
            ));
        }
        Ok((account, notional))
    }

    fn ticket(&self, r: &OrderRequest, account: &str, what_if: bool) -> OrderTicket {
        let (lmt_price, aux_price) = match r.order_type.as_str() {
            "STP" => (None, r.stop_price),
            "STP LMT" => (r.limit_price, r.stop_price),
            "MKT" => (None, None),
            _ => (r.limit_price, None),
        };
        OrderTicket {
            action: r.action.clone(),
            total_quantity: r.quantity,
            order_type: r.order_type.clone(),
            lmt_price,
            aux_price,
            tif: r.tif.clone().unwrap_or_else(|| "DAY".into()),
            account: account.to_owned(),
            order_ref: self.order_ref(),
            transmit: true,
            what_if,
        }
    }

    fn remember_sent(&mut self, now_ms: u64) {
        while self.recent.front().is_some_and(|&t| t + 60_000 <= now_ms) {
            self.recent.pop_front();
        }
        self.recent.push_back(now_ms);
    }

    /// An agent's order: refused (nothing to send), already placed under this
    /// idempotency key, or a placeOrder to send. With `require_confirmation`, only a
    /// valid confirmation id from a preview of the same order places it.
    pub fn place(
        &mut self,
        mut r: OrderRequest,
        idempotency_key: Option<&str>,
        confirmation_id: Option<&str>,
        m: &Market<'_>,
        now_ms: u64,
    ) -> Result<Placement, Refusal> {
        normalise(&mut r);
        if let Some(k) = idempotency_key {
            if k.is_empty() || k.len() > MAX_KEY_LEN {
                return refuse(format!("idempotency_key must be 1 to {MAX_KEY_LEN} characters"));
            }
            if let Some(&order_id) = self.idempotency.get(k) {
                return Ok(Placement::Existing { order_id });
            }
        }
        // the preview this placement confirms; used up only when the order goes out
        let confirmed =
            match confirmation_id {
                Some(c) => {
                    let found = self
                        .previews
                        .iter()
                        .find(|(_, p)| p.confirmation.as_ref().is_some_and(|(id, until)| id == c && *until > now_ms));
                    match found {
                        Some((&id, p)) if p.request == r => Some(id),
                        Some(_) => return refuse("this confirmation id is for a different order: preview this one"),
                        None => return refuse("unknown, used or expired confirmation id: preview the order again"),
                    }
                }
                None if self.policy.require_confirmation => return refuse(
                    "the user requires a preview first: call preview_order, then place_order with its confirmation_id",
                ),
                None => None,
            };
        let (account, _) = self.check(&r, m, now_ms)?;
        let order_id = self.take_id()?;
        if let Some(id) = confirmed {
            self.previews.remove(&id);
        }
        self.remember_sent(now_ms);
        let contract = Contract::stock(&r.symbol, 0);
        let ticket = self.ticket(&r, &account, false);
        if self.own.len() == MAX_OWN_ORDERS {
            self.own.pop_first();
        }
        self.own.insert(order_id, (contract.clone(), ticket.clone()));
        if let Some(k) = idempotency_key {
            if self.idempotency_order.len() == MAX_IDEMPOTENCY_KEYS {
                if let Some(old) = self.idempotency_order.pop_front() {
                    self.idempotency.remove(&old);
                }
            }
            self.idempotency.insert(k.to_owned(), order_id);
            self.idempotency_order.push_back(k.to_owned());
        }
        Ok(Placement::New(Box::new(Send {
            order_id,
            request: Request::PlaceOrder { order_id, contract, ticket },
            account,
        })))
    }

    /// A what-if preview: checked like an order (a preview of an order the agent may
    /// not place is refused too) but counted against no limit; TWS books nothing.
    pub fn preview(&mut self, mut r: OrderRequest, m: &Market<'_>, now_ms: u64) -> Result<Send, Refusal> {
        normalise(&mut r);
        let (account, _) = self.check(&r, m, now_ms)?;
        let order_id = self.take_id()?;
        let ticket = self.ticket(&r, &account, true);
        // forget previews nobody confirmed, and the oldest when full
        self.previews.retain(|_, p| match &p.confirmation {
            Some((_, until)) => *until > now_ms,
            None => p.sent_ms + CONFIRMATION_TTL_MS > now_ms,
        });
        if self.previews.len() >= MAX_PREVIEWS {
            self.previews.pop_first();
        }
        self.previews.insert(order_id, PendingPreview { request: r.clone(), sent_ms: now_ms, confirmation: None });
        let contract = Contract::stock(&r.symbol, 0);
        Ok(Send { order_id, request: Request::PlaceOrder { order_id, contract, ticket }, account })
    }

    /// TWS answered a what-if order: the preview, with a one-time confirmation id.
    pub fn on_what_if(&mut self, o: &Order, st: &OrderState, now_ms: u64) -> Option<Preview> {
        let id = self.confirmation_id();
        let p = self.previews.get_mut(&o.order_id)?;
        if p.confirmation.is_some() {
            return None;
        }
        p.confirmation = Some((id.clone(), now_ms + CONFIRMATION_TTL_MS));
        let r = &p.request;
        Some(Preview {
            order_id: o.order_id,
            symbol: r.symbol.clone(),
            action: r.action.clone(),
            quantity: r.quantity,
            order_type: r.order_type.clone(),
            limit_price: r.limit_price,
            account: o.account.clone(),
            commission: st.commission,
            commission_currency: st.commission_currency.clone(),
            init_margin_change: st.margin[3].clone(),
            maint_margin_change: st.margin[4].clone(),
            equity_with_loan_after: st.margin[8].clone(),
            warning: st.warning_text.clone(),
            confirmation_id: id,
        })
    }

    /// Whether an order id is a preview TWS has not answered yet (its error is the
    /// preview's answer).
    pub fn is_pending_preview(&self, order_id: i64) -> bool {
        self.previews.get(&order_id).is_some_and(|p| p.confirmation.is_none())
    }

    pub fn forget_preview(&mut self, order_id: i64) {
        self.previews.remove(&order_id);
    }

    /// A modify of one of this agent's working orders: the same order id with the
    /// new quantity and prices, checked against every limit again.
    pub fn modify(
        &mut self,
        order_id: i64,
        row: Option<&OrderData>,
        change: Change,
        m: &Market<'_>,
        now_ms: u64,
    ) -> Result<Send, Refusal> {
        let Change { quantity, limit_price, stop_price } = change;
        let Some((contract, old)) = self.own.get(&order_id).cloned() else {
            return refuse(format!("order {order_id} was not placed by this agent: it can change only its own orders"));
        };
        if row.is_some_and(|o| o.is_terminal()) {
            return refuse(format!("order {order_id} is {}: nothing to modify", row.map_or("", |o| &o.status)));
        }
        let r = OrderRequest {
            symbol: contract.symbol.clone(),
            action: old.action.clone(),
            quantity: quantity.unwrap_or(old.total_quantity),
            order_type: old.order_type.clone(),
            limit_price: limit_price.or(match old.order_type.as_str() {
                "STP" | "MKT" => None,
                _ => old.lmt_price,
            }),
            stop_price: stop_price.or(match old.order_type.as_str() {
                "STP" => old.lmt_price.or(old.aux_price),
                _ => old.aux_price,
            }),
            tif: Some(old.tif.clone()),
            account: Some(old.account.clone()),
        };
        self.check(&r, m, now_ms)?;
        self.remember_sent(now_ms);
        let ticket = self.ticket(&r, &old.account, false);
        self.own.insert(order_id, (contract.clone(), ticket.clone()));
        Ok(Send { order_id, request: Request::PlaceOrder { order_id, contract, ticket }, account: old.account })
    }

    /// A cancel of one of this agent's orders.
    pub fn cancel(&mut self, order_id: i64, row: Option<&OrderData>) -> Result<Send, Refusal> {
        if !self.policy.trading {
            return refuse("trading is off for agents: the user must start ibws with --agent-trading");
        }
        let Some((_, t)) = self.own.get(&order_id) else {
            return refuse(format!("order {order_id} was not placed by this agent: it can cancel only its own orders"));
        };
        if row.is_some_and(|o| o.is_terminal()) {
            return refuse(format!("order {order_id} is {} already", row.map_or("", |o| &o.status)));
        }
        Ok(Send { order_id, request: Request::CancelOrder { order_id }, account: t.account.clone() })
    }

    /// Whether this order is one this agent placed.
    pub fn is_own(&self, order_id: i64) -> bool {
        self.own.contains_key(&order_id)
    }

    /// Follows what the bridge published: fills (for `get_executions`) and the latest
    /// quote per symbol (for `get_quotes` and the notional check of market orders).
    pub fn observe(&mut self, frame: &ServerFrame) {
        match frame {
            ServerFrame::OrderUpdate(u) => {
                let d = &u.data;
                let Some(e) = &d.execution else { return };
                if let Some(f) = self.fills.iter_mut().find(|f| f.exec_id == e.exec_id) {
                    // the commission arrives after the fill
                    if e.commission.is_some() {
                        f.commission = e.commission.map(|c| c.0);
                    }
                    return;
                }
                if self.fills.len() == MAX_FILLS {
                    self.fills.pop_front();
                }
                self.fills.push_back(Fill {
                    time: e.time.clone(),
                    exec_id: e.exec_id.clone(),
                    order_id: d.order_id,
                    symbol: d.symbol.clone(),
                    side: d.action.clone(),
                    quantity: e.shares.0,
                    price: e.price.0,
                    commission: e.commission.map(|c| c.0),
                    account: d.account.clone(),
                    agent: d.agent == Some(true),
                });
            }
            ServerFrame::MarketData(q) => {
                let v = serde_json::to_value(&q.data).unwrap_or_default();
                let entry = self.quotes.entry(q.symbol.clone()).or_insert_with(|| serde_json::json!({}));
                if let (Some(into), Some(from)) = (entry.as_object_mut(), v.as_object()) {
                    for (k, v) in from {
                        if !v.is_null() {
                            into.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
            _ => {}
        }
    }

    pub fn fills(&self) -> impl Iterator<Item = &Fill> {
        self.fills.iter()
    }

    pub fn quotes(&self) -> &BTreeMap<String, serde_json::Value> {
        &self.quotes
    }

    /// The last traded price of a symbol (else the midpoint), from the quotes seen.
    pub fn last_price(&self, symbol: &str) -> Option<f64> {
        let q = self.quotes.get(symbol)?;
        let f = |k: &str| q.get(k).and_then(serde_json::Value::as_f64);
        f("last").or_else(|| Some((f("bid")? + f("ask")?) / 2.0))
    }

    /// Unguessable enough for a one-time id that only this agent's session sees.
    fn confirmation_id(&mut self) -> String {
        let mut next = || {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            self.rng
        };
        format!("cf-{:016x}{:016x}", next(), next())
    }
}

fn normalise(r: &mut OrderRequest) {
    r.symbol = r.symbol.trim().to_ascii_uppercase();
    r.action = r.action.trim().to_ascii_uppercase();
    r.order_type = r.order_type.trim().to_ascii_uppercase();
    if let Some(t) = &mut r.tif {
        *t = t.trim().to_ascii_uppercase();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desk(f: impl FnOnce(&mut TradingPolicy)) -> Desk {
        let mut p = TradingPolicy { trading: true, agent: "t".into(), ..TradingPolicy::default() };
        f(&mut p);
        let mut d = Desk::new(p, 7);
        d.set_next_id(Some(100));
        d
    }

    const ACCOUNTS: [&str; 2] = ["DU1", "U2"];
    const WATCH: [&str; 1] = ["AAPL"];

    fn market() -> Market<'static> {
        static A: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        static W: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        Market {
            accounts: A.get_or_init(|| ACCOUNTS.map(String::from).to_vec()),
            watch: W.get_or_init(|| WATCH.map(String::from).to_vec()),
        }
    }

    fn lmt(qty: f64, price: f64) -> OrderRequest {
        OrderRequest {
            symbol: "aapl".into(),
            action: "buy".into(),
            quantity: qty,
            order_type: "lmt".into(),
            limit_price: Some(price),
            account: Some("DU1".into()),
            ..OrderRequest::default()
        }
    }

    fn change(quantity: Option<f64>, limit_price: Option<f64>) -> Change {
        Change { quantity, limit_price, stop_price: None }
    }

    fn refused(r: Result<Placement, Refusal>) -> String {
        match r {
            Err(Refusal(why)) => why,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn an_order_inside_the_limits_goes_out_with_the_agents_order_ref() {
        let mut d = desk(|_| {});
        let Ok(Placement::New(s)) = d.place(lmt(10.0, 150.0), None, None, &market(), 0) else { panic!() };
        assert_eq!(s.order_id, 100);
        let Request::PlaceOrder { ticket, contract, .. } = s.request else { panic!() };
        assert_eq!(
            (ticket.order_ref.as_str(), ticket.action.as_str(), contract.symbol.as_str()),
            ("mcp:t", "BUY", "AAPL")
        );
        assert!(!ticket.what_if && ticket.transmit);
    }

    #[test]
    fn every_guard_refuses_and_uses_no_order_id() {
        let mut off = desk(|p| p.trading = false);
        assert!(refused(off.place(lmt(1.0, 1.0), None, None, &market(), 0)).contains("trading is off"));
        let mut d = desk(|_| {});
        let m = market();
        let mut r = lmt(1.0, 1.0);
        r.symbol = "TSLA".into();
        assert!(refused(d.place(r, None, None, &m, 0)).contains("TSLA is not among"));
        let mut r = lmt(1.0, 1.0);
        r.order_type = "MKT".into();
        assert!(refused(d.place(r, None, None, &m, 0)).contains("order type MKT"));
        assert!(refused(d.place(lmt(101.0, 1.0), None, None, &m, 0)).contains("above the agent limit of 100"));
        assert!(refused(d.place(lmt(100.0, 100.01), None, None, &m, 0)).contains("notional 10001.00"));
        let mut r = lmt(1.0, 1.0);
        r.account = Some("U2".into());
        assert!(refused(d.place(r, None, None, &m, 0)).contains("not a paper account"));
        let mut r = lmt(1.0, 1.0);
        r.account = Some("DU9".into());
        assert!(refused(d.place(r, None, None, &m, 0)).contains("not one this TWS login manages"));
        let mut r = lmt(1.0, 1.0);
        r.account = None;
        assert!(refused(d.place(r, None, None, &m, 0)).contains("several accounts"));
        assert!(refused(d.place(lmt(0.0, 1.0), None, None, &m, 0)).contains("positive"));
        assert!(refused(d.place(lmt(1.0, f64::NAN), None, None, &m, 0)).contains("positive limit_price"));
        // nothing was sent, so the first order id is still free
        let Ok(Placement::New(s)) = d.place(lmt(1.0, 1.0), None, None, &m, 0) else { panic!() };
        assert_eq!(s.order_id, 100);
    }

    #[test]
    fn a_market_order_is_checked_at_the_last_price_seen_and_refused_without_one() {
        let mut d = desk(|p| p.order_types = vec!["MKT".into()]);
        let mkt = OrderRequest { order_type: "MKT".into(), limit_price: None, ..lmt(50.0, 0.0) };
        assert!(refused(d.place(mkt.clone(), None, None, &market(), 0)).contains("no price for AAPL"));
        let q = ibws_shared::protocol::MarketData {
            symbol: "AAPL".into(),
            data: ibws_shared::protocol::Quote { last: Some(ibws_shared::protocol::Num(250.0)), ..Default::default() },
            timestamp: String::new(),
            seq: None,
            epoch: None,
        };
        d.observe(&ServerFrame::MarketData(q));
        assert!(refused(d.place(mkt.clone(), None, None, &market(), 0)).contains("notional 12500.00"));
        let ok = OrderRequest { quantity: 40.0, ..mkt };
        assert!(matches!(d.place(ok, None, None, &market(), 0), Ok(Placement::New(_))));
    }

    #[test]
    fn the_same_idempotency_key_places_one_order() {
        let mut d = desk(|_| {});
        let Ok(Placement::New(s)) = d.place(lmt(1.0, 1.0), Some("k"), None, &market(), 0) else { panic!() };
        assert_eq!(
            d.place(lmt(1.0, 1.0), Some("k"), None, &market(), 5),
            Ok(Placement::Existing { order_id: s.order_id })
        );
        let Ok(Placement::New(t)) = d.place(lmt(1.0, 1.0), Some("k2"), None, &market(), 6) else { panic!() };
        assert_eq!(t.order_id, s.order_id + 1);
        assert!(refused(d.place(lmt(1.0, 1.0), Some(""), None, &market(), 7)).contains("idempotency_key"));
    }

    #[test]
    fn the_rate_limit_counts_the_last_minute_only() {
        let mut d = desk(|p| p.max_orders_per_minute = 2);
        for t in [0, 1_000] {
            assert!(matches!(d.place(lmt(1.0, 1.0), None, None, &market(), t), Ok(Placement::New(_))));
        }
        assert!(refused(d.place(lmt(1.0, 1.0), None, None, &market(), 59_999)).contains("2 orders in the last minute"));
        assert!(matches!(d.place(lmt(1.0, 1.0), None, None, &market(), 60_000), Ok(Placement::New(_))));
    }

    #[test]
    fn a_confirmation_places_exactly_the_previewed_order_once_before_it_expires() {
        let mut d = desk(|p| p.require_confirmation = true);
        assert!(refused(d.place(lmt(5.0, 10.0), None, None, &market(), 0)).contains("preview first"));
        let s = d.preview(lmt(5.0, 10.0), &market(), 0).unwrap();
        let Request::PlaceOrder { ticket, .. } = &s.request else { panic!() };
        assert!(ticket.what_if);
        assert!(d.is_pending_preview(s.order_id));
        let order = Order { order_id: s.order_id, account: "DU1".into(), what_if: true, ..Order::default() };
        let st = OrderState { commission: Some(1.0), ..OrderState::default() };
        let p = d.on_what_if(&order, &st, 10).unwrap();
        assert_eq!(d.on_what_if(&order, &st, 11), None, "one answer per preview");
        let other = lmt(6.0, 10.0);
        assert!(refused(d.place(other, None, Some(&p.confirmation_id), &market(), 20)).contains("different order"));
        assert!(matches!(
            d.place(lmt(5.0, 10.0), None, Some(&p.confirmation_id), &market(), 20),
            Ok(Placement::New(_))
        ));
        assert!(
            refused(d.place(lmt(5.0, 10.0), None, Some(&p.confirmation_id), &market(), 21)).contains("used or expired")
        );
        // an unused one expires
        let s = d.preview(lmt(5.0, 10.0), &market(), 100).unwrap();
        let order = Order { order_id: s.order_id, ..order };
        let p = d.on_what_if(&order, &st, 100).unwrap();
        let late = 100 + CONFIRMATION_TTL_MS;
        assert!(refused(d.place(lmt(5.0, 10.0), None, Some(&p.confirmation_id), &market(), late)).contains("expired"));
    }

    #[test]
    fn a_confirmation_refused_by_a_limit_stays_usable() {
        let mut d = desk(|p| p.max_orders_per_minute = 1);
        assert!(matches!(d.place(lmt(1.0, 1.0), None, None, &market(), 0), Ok(Placement::New(_))));
        let s = d.preview(lmt(5.0, 10.0), &market(), 0);
        // the preview itself is refused while the minute is full
        assert!(s.unwrap_err().0.contains("orders in the last minute"));
        let s = d.preview(lmt(5.0, 10.0), &market(), 60_000).unwrap();
        let order = Order { order_id: s.order_id, what_if: true, ..Order::default() };
        let p = d.on_what_if(&order, &OrderState::default(), 60_000).unwrap();
        d.place(lmt(1.0, 1.0), None, None, &market(), 60_001).unwrap();
        let id = Some(p.confirmation_id.as_str());
        assert!(refused(d.place(lmt(5.0, 10.0), None, id, &market(), 60_002)).contains("orders in the last minute"));
        assert!(matches!(d.place(lmt(5.0, 10.0), None, id, &market(), 120_001), Ok(Placement::New(_))));
    }

    #[test]
    fn an_agent_modifies_and_cancels_only_its_own_working_orders_within_the_limits() {
        let mut d = desk(|_| {});
        let Ok(Placement::New(s)) = d.place(lmt(10.0, 150.0), None, None, &market(), 0) else { panic!() };
        let m = d.modify(s.order_id, None, change(Some(12.0), Some(151.0)), &market(), 1).unwrap();
        let Request::PlaceOrder { order_id, ticket, .. } = m.request else { panic!() };
        assert_eq!((order_id, ticket.total_quantity, ticket.lmt_price), (s.order_id, 12.0, Some(151.0)));
        assert!(d.modify(s.order_id, None, change(Some(70.0), None), &market(), 2).unwrap_err().0.contains("notional"));
        assert!(d
            .modify(999, None, change(Some(1.0), None), &market(), 3)
            .unwrap_err()
            .0
            .contains("not placed by this agent"));
        assert!(d.cancel(999, None).unwrap_err().0.contains("not placed by this agent"));
        let done = OrderData { status: "Cancelled".into(), ..OrderData::default() };
        assert!(d.cancel(s.order_id, Some(&done)).unwrap_err().0.contains("already"));
        assert_eq!(d.cancel(s.order_id, None).unwrap().request, Request::CancelOrder { order_id: s.order_id });
    }

    #[test]
    fn nothing_is_placed_while_tws_is_down() {
        let mut d = desk(|_| {});
        d.set_next_id(None);
        assert!(refused(d.place(lmt(1.0, 1.0), None, None, &market(), 0)).contains("TWS is not connected"));
        // ids only move forward when TWS says a lower one after a reconnect
        d.set_next_id(Some(5));
        d.place(lmt(1.0, 1.0), None, None, &market(), 0).unwrap();
        d.set_next_id(Some(3));
        let Ok(Placement::New(s)) = d.place(lmt(1.0, 1.0), None, None, &market(), 0) else { panic!() };
        assert_eq!(s.order_id, 6);
    }
}

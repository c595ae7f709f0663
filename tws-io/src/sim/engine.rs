//! The simulated brokerage behind `ibws sim`: orders, fills, accounts, quotes.
//!
//! Sans-IO like the codec: every operation changes state and returns the TWS messages
//! it caused, each tagged with who should receive it ([`Audience`]). The server module
//! routes them to connected API sessions.

use std::collections::{BTreeMap, HashMap};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use ibws_tws::outgoing::OrderTicket;
use ibws_tws::types::*;
use ibws_tws::Incoming;

/// Who receives a message.
#[derive(Clone, Debug, PartialEq)]
pub enum Audience {
    /// About an order owned by API client `owner` (0 also covers orders placed in TWS).
    Order { owner: i64 },
    /// Account updates for `account`.
    Account(String),
    /// Market data for contract `con_id`.
    Market(i64),
    /// Every session (connectivity notices).
    All,
}

/// A message and its audience.
#[derive(Clone, Debug)]
pub struct SimEvent {
    pub audience: Audience,
    pub msg: Incoming,
}

/// The client id the simulator's own agent orders come from, like an MCP server
/// connected to TWS with its own client id.
pub const AGENT_CLIENT_ID: i64 = 7;

/// The TWS user the simulator's orders are submitted by (server version 198 on).
pub const SIM_USER: &str = "simtrader";

/// One order and everything TWS knows about it.
#[derive(Clone, Debug)]
pub struct SimOrder {
    pub order: Order,
    pub status: OrderStatus,
}

impl SimOrder {
    pub fn is_terminal(&self) -> bool {
        matches!(self.status.status.as_str(), "Filled" | "Cancelled" | "Inactive" | "ApiCancelled")
    }
}

/// A watched instrument and its last price.
#[derive(Clone, Debug)]
struct Instrument {
    contract: Contract,
    last: f64,
    volume: f64,
}

/// A simulated account: its id and base currency, e.g. `DU222:EUR` (USD if omitted).
#[derive(Clone, Debug, PartialEq)]
pub struct AccountSpec {
    pub id: String,
    pub base: String,
}

impl std::str::FromStr for AccountSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (id, base) = s.split_once(':').unwrap_or((s, "USD"));
        let ok_id = !id.is_empty() && id.len() <= 32 && id.chars().all(|c| c.is_ascii_alphanumeric());
        let ok_base = base.len() == 3 && base.chars().all(|c| c.is_ascii_uppercase());
        if !ok_id || !ok_base {
            return Err(format!("{s:?}: expected ACCOUNT or ACCOUNT:CUR, e.g. DU222:EUR"));
        }
        Ok(AccountSpec { id: id.to_owned(), base: base.to_owned() })
    }
}

/// Behaviours of real TWS that the simulator can switch on, so tests reproduce them.
#[derive(Clone, Debug, Default)]
pub struct Quirks {
    /// A fill's commissionReport is held back and sent after the next operation's
    /// messages, as TWS does (other frames arrive between an execution and its
    /// commission).
    pub late_commissions: bool,
    /// orderStatus for a fill is sent before its execDetails (TWS uses both orders).
    pub status_before_exec: bool,
}

/// One account's books.
#[derive(Clone, Debug)]
struct SimAccount {
    id: String,
    base: String,
    /// Cash by currency.
    cash: BTreeMap<String, f64>,
    /// con_id -> (quantity, average cost)
    positions: HashMap<i64, (f64, f64)>,
    realized: f64,
}

/// US dollars per unit of `currency` (fixed rates: enough for the books to add up).
pub fn usd_per(currency: &str) -> f64 {
    match currency {
        "EUR" => 1.08,
        "GBP" => 1.27,
        "CHF" => 1.13,
        "CAD" => 0.73,
        "JPY" => 0.0067,
        _ => 1.0,
    }
}

/// The whole simulated brokerage.
pub struct Engine {
    /// The first account: where orders without an account go.
    pub account: String,
    accounts: Vec<SimAccount>,
    quirks: Quirks,
    next_order_id: i64,
    next_perm_id: i64,
    next_exec: u64,
    /// By perm id.
    orders: BTreeMap<i64, SimOrder>,
    executions: Vec<(Execution, CommissionReport)>,
    /// Executions of earlier days (days ago, execution, report): what
    /// [`Engine::age_executions`] moved out of today's.
    past_executions: Vec<(i64, Execution, CommissionReport)>,
    /// Commissions held back by [`Quirks::late_commissions`].
    late: Vec<SimEvent>,
    instruments: Vec<Instrument>,
    rng: StdRng,
    now_unix: i64,
}

/// IB's fixed US stock rate: half a cent a share, a dollar at least.
fn commission_for(qty: f64) -> f64 {
    (qty * 0.005).max(1.0)
}

/// The market rule of every simulated stock (a cent from zero up).
pub const SIM_MARKET_RULE: i64 = 26;

const SYMBOLS: [(&str, i64, f64); 6] = [
    ("AAPL", 265598, 190.0),
    ("MSFT", 272093, 410.0),
    ("NVDA", 4815747, 120.0),
    ("TSLA", 76792991, 240.0),
    ("AMZN", 3691937, 180.0),
    ("SPY", 756733, 560.0),
];

impl Engine {
    /// One USD account.
    pub fn new(seed: u64, account: &str) -> Engine {
        Engine::with_accounts(seed, &[AccountSpec { id: account.to_owned(), base: "USD".into() }], Quirks::default())
    }

    /// Several accounts; one whose base is not USD holds cash in its base currency and
    /// in USD (the stocks' currency).
    pub fn with_accounts(seed: u64, specs: &[AccountSpec], quirks: Quirks) -> Engine {
        let accounts: Vec<SimAccount> = specs
            .iter()
            .map(|a| {
                let mut cash = BTreeMap::new();
                if a.base == "USD" {
                    cash.insert("USD".to_owned(), 1_000_000.0);
                } else {
                    cash.insert(a.base.clone(), 250_000.0);
                    cash.insert("USD".to_owned(), 20_000.0);
                }
                SimAccount { id: a.id.clone(), base: a.base.clone(), cash, positions: HashMap::new(), realized: 0.0 }
            })
            .collect();
        Engine {
            account: accounts.first().map(|a| a.id.clone()).unwrap_or_default(),
            accounts,
            quirks,
            next_order_id: 1,
            next_perm_id: 1_000_000_001,
            next_exec: 1,
            orders: BTreeMap::new(),
            executions: Vec::new(),
            past_executions: Vec::new(),
            late: Vec::new(),
            instruments: SYMBOLS
                .iter()
                .map(|(s, id, p)| Instrument { contract: Contract::stock(s, *id), last: *p, volume: 0.0 })
                .collect(),
            rng: StdRng::seed_from_u64(seed),
            now_unix: 0,
        }
    }

    /// Every account id, in configuration order (managedAccounts).
    pub fn account_ids(&self) -> Vec<String> {
        self.accounts.iter().map(|a| a.id.clone()).collect()
    }

    /// Starts the day with `n` working limit orders spread over symbols and accounts
    /// (placed in TWS, client id 0), for volume tests.
    pub fn seed_orders(&mut self, n: usize) -> Vec<SimEvent> {
        let mut out = Vec::new();
        for i in 0..n {
            let (sym, _, px) = SYMBOLS[i % SYMBOLS.len()];
            let contract = self.contract_for(sym).expect("known symbol");
            let account = self.accounts[i % self.accounts.len().max(1)].id.clone();
            let action = if i % 2 == 0 { "BUY" } else { "SELL" };
            let off = if action == "BUY" { -0.05 } else { 0.05 };
            let ticket = OrderTicket {
                account,
                ..OrderTicket::limit(action, (1 + i % 5) as f64 * 100.0, round2(px * (1.0 + off)))
            };
            let id = self.next_order_id;
            out.extend(self.place(0, id, contract, ticket));
        }
        out
    }

    /// Commissions held back by [`Quirks::late_commissions`], now due.
    pub fn release_commissions(&mut self) -> Vec<SimEvent> {
        std::mem::take(&mut self.late)
    }

    pub fn set_time(&mut self, unix_secs: i64) {
        self.now_unix = unix_secs;
    }

    /// The next order id an API client may use (nextValidId).
    pub fn next_valid_id(&self) -> i64 {
        self.next_order_id
    }

    pub fn orders(&self) -> impl Iterator<Item = &SimOrder> {
        self.orders.values()
    }

    pub fn contract_for(&self, symbol: &str) -> Option<Contract> {
        self.instruments.iter().find(|i| i.contract.symbol == symbol).map(|i| i.contract.clone())
    }

    pub fn contract_by_id(&self, con_id: i64) -> Option<Contract> {
        self.instruments.iter().find(|i| i.contract.con_id == con_id).map(|i| i.contract.clone())
    }

    fn find(&self, owner: i64, order_id: i64) -> Option<i64> {
        self.orders
            .values()
            .find(|o| o.order.client_id == owner && o.order.order_id == order_id)
            .map(|o| o.order.perm_id)
    }

    fn order_msgs(&self, perm: i64, out: &mut Vec<SimEvent>) {
        let o = &self.orders[&perm];
        let audience = Audience::Order { owner: o.order.client_id };
        let st = OrderState { status: o.status.status.clone(), ..OrderState::default() };
        out.push(SimEvent { audience: audience.clone(), msg: Incoming::OpenOrder(Box::new((o.order.clone(), st))) });
        out.push(SimEvent { audience, msg: Incoming::OrderStatus(o.status.clone()) });
    }

    fn status_msg(&self, perm: i64, out: &mut Vec<SimEvent>) {
        let o = &self.orders[&perm];
        out.push(SimEvent {
            audience: Audience::Order { owner: o.order.client_id },
            msg: Incoming::OrderStatus(o.status.clone()),
        });
    }

    /// A client (or TWS itself, owner 0) places or modifies an order. An order id the
    /// owner already used modifies that order, as in TWS.
    pub fn place(&mut self, owner: i64, order_id: i64, contract: Contract, t: OrderTicket) -> Vec<SimEvent> {
        let mut out = Vec::new();
        if let Some(perm) = self.find(owner, order_id) {
            return self.modify(perm, t.lmt_price, Some(t.total_quantity));
        }
        let contract = self.contract_for(&contract.symbol).unwrap_or(contract);
        if t.total_quantity <= 0.0 || !matches!(t.action.as_str(), "BUY" | "SELL") {
            out.push(SimEvent {
                audience: Audience::Order { owner },
                msg: Incoming::Error(TwsError {
                    req_id: order_id,
                    code: 201,
                    message: "Order rejected - reason:The order quantity or side is invalid.".into(),
                    error_time: Some(self.now_unix * 1000),
                    ..TwsError::default()
                }),
            });
            return out;
        }
        self.next_order_id = self.next_order_id.max(order_id + 1);
        let perm = self.next_perm_id;
        self.next_perm_id += 1;
        let mut order = self.order_of(owner, order_id, contract, t);
        // TWS reports a market order's limit price as 0
        if order.order_type == "MKT" {
            order.lmt_price = Some(order.lmt_price.unwrap_or(0.0));
        }
        order.perm_id = perm;
        // from server version 193 / 198 TWS says whether a person entered the order
        // (typed in its window: bound to client 0 with a negative id) and who submitted it
        order.manual_order_indicator = Some(i64::from(owner == 0 && order_id <= 0));
        order.submitter = SIM_USER.into();
        let status = OrderStatus {
            order_id,
            status: "PreSubmitted".into(),
            filled: 0.0,
            remaining: order.total_quantity,
            perm_id: perm,
            client_id: owner,
            ..OrderStatus::default()
        };
        self.orders.insert(perm, SimOrder { order, status });
        self.order_msgs(perm, &mut out);
        out
    }

    /// PreSubmitted -> Submitted.
    pub fn submit(&mut self, perm: i64) -> Vec<SimEvent> {
        let mut out = Vec::new();
        if let Some(o) = self.orders.get_mut(&perm) {
            if o.status.status == "PreSubmitted" {
                o.status.status = "Submitted".into();
                self.order_msgs(perm, &mut out);
            }
        }
        out
    }

    /// Changes price and/or quantity of a working order.
    pub fn modify(&mut self, perm: i64, price: Option<f64>, qty: Option<f64>) -> Vec<SimEvent> {
        let mut out = Vec::new();
        let Some(o) = self.orders.get_mut(&perm) else {
            return out;
        };
        if o.is_terminal() {
            return out;
        }
        if price.is_some() {
            o.order.lmt_price = price;
        }
        if let Some(q) = qty {
            if q > o.status.filled {
                o.order.total_quantity = q;
                o.status.remaining = q - o.status.filled;
            }
        }
        self.order_msgs(perm, &mut out);
        out
    }

    /// Fills `qty` (capped at what remains) at `price`.
    pub fn fill(&mut self, perm: i64, qty: f64, price: f64) -> Vec<SimEvent> {
        let mut out = Vec::new();
        let Some(o) = self.orders.get_mut(&perm) else {
            return out;
        };
        if o.is_terminal() || o.status.remaining <= 0.0 {
            return out;
        }
        let qty = qty.min(o.status.remaining);
        let filled = o.status.filled + qty;
        o.status.avg_fill_price = (o.status.avg_fill_price * o.status.filled + price * qty) / filled;
        o.status.filled = filled;
        o.status.remaining -= qty;
        o.status.last_fill_price = price;
        o.status.status = if o.status.remaining <= 0.0 { "Filled".into() } else { "Submitted".into() };
        // TWS numbers the executions of one order .01.01, .01.02, ...
        let nth = self.executions.iter().filter(|(e, _)| e.perm_id == perm).count()
            + self.past_executions.iter().filter(|(_, e, _)| e.perm_id == perm).count()
            + 1;
        let exec_id = format!("0000e0d5.{perm:08x}.01.{nth:02}");
        self.next_exec += 1;
        let commission = commission_for(qty);
        let side = if o.order.action == "BUY" { "BOT" } else { "SLD" };
        let exec = Execution {
            req_id: -1,
            order_id: o.order.order_id,
            contract: o.order.contract.clone(),
            exec_id: exec_id.clone(),
            time: ib_time(self.now_unix),
            account: o.order.account.clone(),
            exchange: "ISLAND".into(),
            side: side.into(),
            shares: qty,
            price,
            perm_id: perm,
            client_id: o.order.client_id,
            cum_qty: filled,
            avg_price: o.status.avg_fill_price,
            order_ref: o.order.order_ref.clone(),
            last_liquidity: 2,
            submitter: o.order.submitter.clone(),
            ..Execution::default()
        };
        let report = CommissionReport {
            exec_id,
            commission,
            currency: "USD".into(),
            realized_pnl: None,
            yield_: None,
            yield_redemption_date: 0,
        };
        let audience = Audience::Order { owner: o.order.client_id };
        let account = o.order.account.clone();
        let (con_id, signed) = (o.order.contract.con_id, if side == "BOT" { qty } else { -qty });
        // a commission held back from an earlier fill goes out after this one's frames
        let earlier = std::mem::take(&mut self.late);
        let exec_msg = SimEvent { audience: audience.clone(), msg: Incoming::ExecDetails(Box::new(exec.clone())) };
        if self.quirks.status_before_exec {
            self.status_msg(perm, &mut out);
            out.push(exec_msg);
        } else {
            out.push(exec_msg);
            self.status_msg(perm, &mut out);
        }
        if self.orders[&perm].is_terminal() {
            self.order_msgs(perm, &mut out);
        }
        let commission_msg = SimEvent { audience, msg: Incoming::CommissionReport(report.clone()) };
        if self.quirks.late_commissions {
            self.late.push(commission_msg);
        } else {
            out.push(commission_msg);
        }
        self.executions.push((exec, report));
        // the account follows the fill (stocks trade in USD)
        if let Some(acct) = self.accounts.iter_mut().find(|a| a.id == account) {
            let pos = acct.positions.entry(con_id).or_insert((0.0, 0.0));
            let new_qty = pos.0 + signed;
            if pos.0 == 0.0 || pos.0.signum() == signed.signum() {
                pos.1 = (pos.1 * pos.0.abs() + price * qty) / new_qty.abs().max(f64::MIN_POSITIVE);
            } else {
                acct.realized += (price - pos.1) * qty.min(pos.0.abs()) * pos.0.signum();
            }
            pos.0 = new_qty;
            *acct.cash.entry("USD".into()).or_insert(0.0) -= signed * price + commission;
        }
        if let Some(i) = self.instruments.iter_mut().find(|i| i.contract.con_id == con_id) {
            i.last = price;
            i.volume += qty;
        }
        out.extend(self.account_cycle(&account, Some(con_id)));
        out.extend(earlier);
        out
    }

    /// The order TWS makes of a client's ticket, its defaults filled in (DAY, the
    /// first account).
    fn order_of(&self, owner: i64, order_id: i64, contract: Contract, t: OrderTicket) -> Order {
        Order {
            order_id,
            contract,
            action: t.action,
            total_quantity: t.total_quantity,
            order_type: t.order_type,
            lmt_price: t.lmt_price,
            aux_price: t.aux_price,
            tif: if t.tif.is_empty() { "DAY".into() } else { t.tif },
            account: if t.account.is_empty() { self.account.clone() } else { t.account },
            order_ref: t.order_ref,
            client_id: owner,
            ..Order::default()
        }
    }

    /// Contract details of a simulated stock (by conId, else by symbol), as TWS
    /// answers reqContractDetails.
    pub fn contract_details(&self, c: &Contract) -> Option<ContractDetails> {
        let contract = if c.con_id != 0 { self.contract_by_id(c.con_id) } else { self.contract_for(&c.symbol) }?;
        Some(ContractDetails {
            market_name: "NMS".into(),
            min_tick: 0.01,
            order_types: "ACTIVETIM,AD,ADJUST,ALERT,ALGO,ALLOC,AON,AVGCOST,BASKET,DAY,GAT,GTC,GTD,IOC,LIT,LMT,MIT,MKT,MOC,MTL,NONALGO,OCA,REL,STP,STPLMT,TRAIL,TRAILLIMIT,WHATIF".into(),
            valid_exchanges: "SMART,NASDAQ,NYSE,ARCA,BATS,IEX".into(),
            long_name: format!("{} (simulated)", contract.symbol),
            industry: "Technology".into(),
            category: "Simulated".into(),
            subcategory: "Simulated".into(),
            time_zone_id: "US/Eastern".into(),
            trading_hours: String::new(),
            liquid_hours: String::new(),
            market_rule_ids: vec![SIM_MARKET_RULE.to_string(); 6].join(","),
            stock_type: "COMMON".into(),
            min_size: 1.0,
            size_increment: 1.0,
            suggested_size_increment: 100.0,
            contract: Contract { trading_class: "NMS".into(), ..contract },
        })
    }

    /// The price increments of a market rule: every simulated stock uses
    /// [`SIM_MARKET_RULE`], a cent from zero up.
    pub fn market_rule(&self, id: i64) -> Option<Vec<(f64, f64)>> {
        (id == SIM_MARKET_RULE).then(|| vec![(0.0, 0.01)])
    }

    /// A what-if order: TWS answers its placer with an openOrder whose state carries
    /// the margin and commission the order would cost, and books nothing.
    pub fn what_if(&self, owner: i64, order_id: i64, contract: Contract, t: OrderTicket) -> Incoming {
        let contract = self.contract_for(&contract.symbol).unwrap_or(contract);
        let price = t.lmt_price.filter(|p| *p > 0.0).or_else(|| self.last_price(contract.con_id)).unwrap_or(100.0);
        let notional = price * t.total_quantity;
        // Reg T: a quarter of the notional up front, the same to maintain
        let (init, maint) = (notional * 0.25, notional * 0.25);
        let equity = self
            .accounts
            .iter()
            .find(|a| a.id == t.account || t.account.is_empty())
            .map_or(0.0, |a| a.cash.iter().map(|(cur, v)| v * usd_per(cur)).sum::<f64>() / usd_per(&a.base));
        let f = |x: f64| format!("{x:.2}");
        let order = Order { what_if: true, ..self.order_of(owner, order_id, contract, t) };
        let st = OrderState {
            status: "PreSubmitted".into(),
            margin: [f(0.0), f(0.0), f(equity), f(init), f(maint), f(0.0), f(init), f(maint), f(equity)],
            commission: Some(commission_for(order.total_quantity)),
            commission_currency: "USD".into(),
            ..OrderState::default()
        };
        Incoming::OpenOrder(Box::new((order, st)))
    }

    /// reqGlobalCancel: every working order is cancelled, whichever client placed it.
    pub fn cancel_all(&mut self) -> Vec<SimEvent> {
        let working: Vec<i64> = self.orders.values().filter(|o| !o.is_terminal()).map(|o| o.order.perm_id).collect();
        working.into_iter().flat_map(|perm| self.cancel(perm)).collect()
    }

    /// Cancels a working order (TWS sends orderStatus Cancelled and error 202).
    pub fn cancel(&mut self, perm: i64) -> Vec<SimEvent> {
        let mut out = Vec::new();
        let Some(o) = self.orders.get_mut(&perm) else {
            return out;
        };
        if o.is_terminal() {
            return out;
        }
        o.status.status = "Cancelled".into();
        let (order_id, owner) = (o.order.order_id, o.order.client_id);
        self.order_msgs(perm, &mut out);
        out.push(SimEvent {
            audience: Audience::Order { owner },
            msg: Incoming::Error(TwsError {
                req_id: order_id,
                code: 202,
                message: "Order Canceled - reason:".into(),
                error_time: Some(self.now_unix * 1000),
                ..TwsError::default()
            }),
        });
        out
    }

    /// Cancels by the owner's order id (cancelOrder from an API client).
    pub fn cancel_by_id(&mut self, owner: i64, order_id: i64) -> Vec<SimEvent> {
        match self.find(owner, order_id).or_else(|| if owner == 0 { self.find_any(order_id) } else { None }) {
            Some(perm) => self.cancel(perm),
            None => vec![SimEvent {
                audience: Audience::Order { owner },
                msg: Incoming::Error(TwsError {
                    req_id: order_id,
                    code: 10147,
                    message: format!("OrderId {order_id} that needs to be cancelled is not found."),
                    ..TwsError::default()
                }),
            }],
        }
    }

    fn find_any(&self, order_id: i64) -> Option<i64> {
        self.orders.values().find(|o| o.order.order_id == order_id).map(|o| o.order.perm_id)
    }

    /// Rejects a working order, as TWS does for margin or price checks: error 201 and
    /// status Inactive.
    pub fn reject(&mut self, perm: i64, reason: &str) -> Vec<SimEvent> {
        let mut out = Vec::new();
        let Some(o) = self.orders.get_mut(&perm) else {
            return out;
        };
        if o.is_terminal() {
            return out;
        }
        o.status.status = "Inactive".into();
        let (order_id, owner) = (o.order.order_id, o.order.client_id);
        out.push(SimEvent {
            audience: Audience::Order { owner },
            msg: Incoming::Error(TwsError {
                req_id: order_id,
                code: 201,
                message: format!("Order rejected - reason:{reason}"),
                error_time: Some(self.now_unix * 1000),
                ..TwsError::default()
            }),
        });
        self.order_msgs(perm, &mut out);
        out
    }

    fn last_price(&self, con_id: i64) -> Option<f64> {
        self.instruments.iter().find(|i| i.contract.con_id == con_id).map(|i| i.last)
    }

    /// An account's values as TWS sends them: sorted by key; a key kept per currency
    /// comes once for `BASE` and once per currency; totals come in the base currency.
    /// The base currency is therefore only known when NetLiquidation arrives.
    pub fn account_values(&self, account: &str) -> Vec<(String, String, String)> {
        let Some(a) = self.accounts.iter().find(|a| a.id == account) else {
            return vec![];
        };
        let to_base = |usd: f64| usd / usd_per(&a.base);
        let mut mv_usd = 0.0;
        let mut unreal_usd = 0.0;
        for (con_id, (qty, cost)) in &a.positions {
            let last = self.last_price(*con_id).unwrap_or(*cost);
            mv_usd += qty * last;
            unreal_usd += (last - cost) * qty;
        }
        let cash_base: f64 = a.cash.iter().map(|(c, v)| to_base(v * usd_per(c))).sum();
        let net = cash_base + to_base(mv_usd);
        let mut rows: Vec<(String, String, String)> = Vec::new();
        let mut put = |k: &str, v: String, c: &str| rows.push((k.to_owned(), v, c.to_owned()));
        let base = a.base.as_str();
        put("AccountCode", a.id.clone(), "");
        put("AccountType", "INDIVIDUAL".into(), "");
        put("AvailableFunds", format!("{:.2}", net.max(0.0)), base);
        put("BuyingPower", format!("{:.2}", (net * 4.0).max(0.0)), base);
        put("CashBalance", format!("{cash_base:.2}"), "BASE");
        for (c, v) in &a.cash {
            put("CashBalance", format!("{v:.2}"), c);
        }
        put("Currency", "BASE".into(), "BASE");
        for c in a.cash.keys() {
            put("Currency", c.clone(), c);
        }
        put("ExchangeRate", "1.00".into(), "BASE");
        for c in a.cash.keys() {
            put("ExchangeRate", format!("{:.4}", usd_per(c) / usd_per(base)), c);
        }
        put("GrossPositionValue", format!("{:.2}", to_base(mv_usd.abs())), base);
        put("NetLiquidation", format!("{net:.2}"), base);
        put("RealizedPnL", format!("{:.2}", to_base(a.realized)), "BASE");
        put("RealizedPnL", format!("{:.2}", a.realized), "USD");
        put("TotalCashValue", format!("{cash_base:.2}"), base);
        put("UnrealizedPnL", format!("{:.2}", to_base(unreal_usd)), "BASE");
        put("UnrealizedPnL", format!("{unreal_usd:.2}"), "USD");
        rows
    }

    /// One TWS account update cycle: values, portfolio lines (all, or one contract),
    /// the account time.
    fn account_cycle(&self, account: &str, only: Option<i64>) -> Vec<SimEvent> {
        let aud = Audience::Account(account.to_owned());
        let mut out: Vec<SimEvent> = self
            .account_values(account)
            .into_iter()
            .map(|(key, value, currency)| SimEvent {
                audience: aud.clone(),
                msg: Incoming::AccountValue { key, value, currency, account: account.to_owned() },
            })
            .collect();
        let Some(a) = self.accounts.iter().find(|a| a.id == account) else {
            return out;
        };
        let mut lines: Vec<_> = a.positions.iter().filter(|(id, _)| only.is_none_or(|o| o == **id)).collect();
        lines.sort_by_key(|(id, _)| **id);
        for (con_id, (qty, cost)) in lines {
            let Some(i) = self.instruments.iter().find(|i| i.contract.con_id == *con_id) else {
                continue;
            };
            out.push(SimEvent {
                audience: aud.clone(),
                msg: Incoming::Portfolio(Box::new(PortfolioItem {
                    contract: i.contract.clone(),
                    position: *qty,
                    market_price: i.last,
                    market_value: qty * i.last,
                    average_cost: *cost,
                    unrealized_pnl: (i.last - cost) * qty,
                    realized_pnl: a.realized,
                    account: account.to_owned(),
                })),
            });
        }
        out.push(SimEvent { audience: aud, msg: Incoming::AccountTime(clock_hhmm(self.now_unix)) });
        out
    }

    /// The answer to reqAccountUpdates: a full cycle, then accountDownloadEnd.
    pub fn account_snapshot(&self, account: &str) -> Vec<Incoming> {
        let mut v: Vec<Incoming> = self.account_cycle(account, None).into_iter().map(|e| e.msg).collect();
        v.push(Incoming::AccountDownloadEnd(account.to_owned()));
        v
    }

    /// The answer to reqAccountUpdatesMulti: every value, then the end marker.
    pub fn account_values_multi(&self, req_id: i64, account: &str) -> Vec<Incoming> {
        let mut v: Vec<Incoming> = self
            .account_values(account)
            .into_iter()
            .map(|(key, value, currency)| Incoming::AccountValueMulti {
                req_id,
                account: account.to_owned(),
                model_code: String::new(),
                key,
                value,
                currency,
            })
            .collect();
        v.push(Incoming::AccountUpdateMultiEnd { req_id });
        v
    }

    fn position_items(&self, account: Option<&str>) -> Vec<PositionItem> {
        let mut v = Vec::new();
        for a in self.accounts.iter().filter(|a| account.is_none_or(|x| x == a.id)) {
            let mut lines: Vec<_> = a.positions.iter().filter(|(_, (q, _))| *q != 0.0).collect();
            lines.sort_by_key(|(id, _)| **id);
            for (con_id, (qty, cost)) in lines {
                if let Some(contract) = self.contract_by_id(*con_id) {
                    v.push(PositionItem { account: a.id.clone(), contract, position: *qty, avg_cost: *cost });
                }
            }
        }
        v
    }

    /// The answer to reqPositions: every account's positions.
    pub fn positions(&self) -> Vec<Incoming> {
        let mut v: Vec<Incoming> =
            self.position_items(None).into_iter().map(|p| Incoming::Position(Box::new(p))).collect();
        v.push(Incoming::PositionEnd);
        v
    }

    /// The answer to reqPositionsMulti for one account.
    pub fn positions_multi(&self, req_id: i64, account: &str) -> Vec<Incoming> {
        let mut v: Vec<Incoming> = self
            .position_items(Some(account))
            .into_iter()
            .map(|p| Incoming::PositionMulti { req_id, item: Box::new(p), model_code: String::new() })
            .collect();
        v.push(Incoming::PositionMultiEnd { req_id });
        v
    }

    /// Makes today's executions `days` days old (a weekend passing): TWS then reports
    /// them only to a reqExecutions that asks for that many days (server version 200).
    pub fn age_executions(&mut self, days: i64) {
        for p in &mut self.past_executions {
            p.0 += days;
        }
        for (e, c) in self.executions.drain(..) {
            self.past_executions.push((days, e, c));
        }
    }

    /// The answer to reqExecutions: today's executions, and those of the last
    /// `last_n_days` days when the request says (1 when it does not).
    pub fn executions(&self, req_id: i64, last_n_days: Option<i64>) -> Vec<Incoming> {
        let mut v = Vec::new();
        let days = last_n_days.unwrap_or(1).clamp(1, 7);
        let earlier = self.past_executions.iter().filter(|(ago, _, _)| *ago < days).map(|(_, e, c)| (e, c));
        for (e, c) in earlier.chain(self.executions.iter().map(|(e, c)| (e, c))) {
            v.push(Incoming::ExecDetails(Box::new(Execution { req_id, ..e.clone() })));
            v.push(Incoming::CommissionReport(c.clone()));
        }
        v.push(Incoming::ExecDetailsEnd { req_id });
        v
    }

    /// The answer to reqOpenOrders / reqAllOpenOrders: working orders the requester
    /// may see.
    pub fn open_orders(&self, visible: impl Fn(i64) -> bool) -> Vec<Incoming> {
        let mut v = Vec::new();
        for o in self.orders.values().filter(|o| !o.is_terminal() && visible(o.order.client_id)) {
            let st = OrderState { status: o.status.status.clone(), ..OrderState::default() };
            v.push(Incoming::OpenOrder(Box::new((o.order.clone(), st))));
            v.push(Incoming::OrderStatus(o.status.clone()));
        }
        v.push(Incoming::OpenOrderEnd);
        v
    }

    /// The answer to reqCompletedOrders.
    pub fn completed_orders(&self) -> Vec<Incoming> {
        let mut v = Vec::new();
        for o in self.orders.values().filter(|o| o.is_terminal()) {
            let st = OrderState {
                status: o.status.status.clone(),
                completed_time: ib_time(self.now_unix),
                completed_status: o.status.status.clone(),
                ..OrderState::default()
            };
            let order = Order { filled_quantity: Some(o.status.filled), ..o.order.clone() };
            v.push(Incoming::CompletedOrder(Box::new((order, st))));
        }
        v.push(Incoming::CompletedOrdersEnd);
        v
    }

    /// The first quote of a contract after reqMktData.
    pub fn quote(&self, con_id: i64) -> Vec<Incoming> {
        let Some(i) = self.instruments.iter().find(|i| i.contract.con_id == con_id) else {
            return vec![];
        };
        let spread = (i.last * 0.0002).max(0.01);
        vec![
            Incoming::MarketDataType { req_id: 0, data_type: 1 },
            Incoming::TickPrice {
                req_id: 0,
                tick_type: 1,
                price: round2(i.last - spread),
                size: Some(300.0),
                attr_mask: 0,
            },
            Incoming::TickPrice {
                req_id: 0,
                tick_type: 2,
                price: round2(i.last + spread),
                size: Some(200.0),
                attr_mask: 0,
            },
            Incoming::TickPrice { req_id: 0, tick_type: 4, price: round2(i.last), size: Some(100.0), attr_mask: 0 },
            Incoming::TickSize { req_id: 0, tick_type: 8, size: i.volume },
        ]
    }

    /// A random walk step for one instrument: bid, ask, last, sizes and volume.
    fn market_step(&mut self) -> Vec<SimEvent> {
        let n = self.rng.random_range(0..self.instruments.len());
        let drift = self.rng.random_range(-0.0015..0.0015);
        let size = f64::from(self.rng.random_range(1..10u32) * 100);
        let i = &mut self.instruments[n];
        i.last = round2((i.last * (1.0 + drift)).max(1.0));
        i.volume += size;
        let spread = (i.last * 0.0002).max(0.01);
        let aud = Audience::Market(i.contract.con_id);
        vec![
            Incoming::TickPrice {
                req_id: 0,
                tick_type: 1,
                price: round2(i.last - spread),
                size: Some(size),
                attr_mask: 0,
            },
            Incoming::TickPrice {
                req_id: 0,
                tick_type: 2,
                price: round2(i.last + spread),
                size: Some(size + 100.0),
                attr_mask: 0,
            },
            Incoming::TickPrice { req_id: 0, tick_type: 4, price: i.last, size: Some(size), attr_mask: 0 },
            Incoming::TickSize { req_id: 0, tick_type: 8, size: i.volume },
        ]
        .into_iter()
        .map(|msg| SimEvent { audience: aud.clone(), msg })
        .collect()
    }

    /// One step of the random order flow: a new order (some from the "agent"), or
    /// progress on a working one (submit, partial fill, fill, modify, cancel, reject),
    /// plus market ticks.
    pub fn random_step(&mut self) -> Vec<SimEvent> {
        let mut out = self.market_step();
        let working: Vec<i64> = self.orders.values().filter(|o| !o.is_terminal()).map(|o| o.order.perm_id).collect();
        let roll: f64 = self.rng.random();
        if working.len() < 3 || roll < 0.25 {
            let (sym, _, _) = SYMBOLS[self.rng.random_range(0..SYMBOLS.len())];
            let contract = self.contract_for(sym).expect("known symbol");
            let last = self.instruments.iter().find(|i| i.contract.symbol == sym).map(|i| i.last).unwrap_or(100.0);
            let agent = self.rng.random_bool(0.3);
            let market = self.rng.random_bool(0.25);
            let action = if self.rng.random_bool(0.5) { "BUY" } else { "SELL" };
            let qty = f64::from(self.rng.random_range(1..6u32) * 100);
            let offset = if action == "BUY" { -0.002 } else { 0.002 };
            let n_acc = self.accounts.len();
            let account =
                if n_acc > 1 { self.accounts[self.rng.random_range(0..n_acc)].id.clone() } else { String::new() };
            let ticket = OrderTicket {
                account,
                action: action.into(),
                total_quantity: qty,
                order_type: if market { "MKT".into() } else { "LMT".into() },
                lmt_price: (!market).then(|| round2(last * (1.0 + offset))),
                tif: "DAY".into(),
                order_ref: if agent { format!("mcp-agent-{}", self.next_order_id) } else { String::new() },
                transmit: true,
                ..OrderTicket::default()
            };
            // an order typed in TWS's window, bound to client 0, gets a negative id
            let (owner, id) = if agent { (AGENT_CLIENT_ID, self.next_order_id) } else { (0, -self.next_perm_id) };
            out.extend(self.place(owner, id, contract, ticket));
            out.append(&mut self.late);
            return out;
        }
        let perm = working[self.rng.random_range(0..working.len())];
        let o = self.orders[&perm].clone();
        let last = self
            .instruments
            .iter()
            .find(|i| i.contract.con_id == o.order.contract.con_id)
            .map(|i| i.last)
            .unwrap_or(100.0);
        // a market order fills at the market (TWS reports its limit price as 0)
        let is_market = o.order.order_type == "MKT";
        let price = match o.order.lmt_price {
            Some(p) if !is_market && p > 0.0 => p,
            _ => last,
        };
        let p: f64 = self.rng.random();
        let events = if o.status.status == "PreSubmitted" {
            self.submit(perm)
        } else if p < 0.45 {
            let part = (o.status.remaining / 2.0).max(100.0).round();
            self.fill(perm, part, price)
        } else if p < 0.65 {
            self.fill(perm, o.status.remaining, price)
        } else if p < 0.80 {
            // a market order has no price to move: it fills at the market instead
            if is_market {
                self.fill(perm, o.status.remaining, price)
            } else {
                let new_price = round2(price * (1.0 + self.rng.random_range(-0.003..0.003)));
                self.modify(perm, Some(new_price), None)
            }
        } else if p < 0.93 {
            self.cancel(perm)
        } else {
            self.reject(perm, "Insufficient buying power for this order (simulated).")
        };
        out.extend(events);
        out.append(&mut self.late);
        out
    }

    /// The book of `symbol` empties: TWS sends a bid (or ask) of -1 with size 0.
    pub fn quote_gap(&self, symbol: &str) -> Vec<SimEvent> {
        let Some(c) = self.contract_for(symbol) else {
            return vec![];
        };
        [1, 2]
            .into_iter()
            .map(|tick_type| SimEvent {
                audience: Audience::Market(c.con_id),
                msg: Incoming::TickPrice { req_id: 0, tick_type, price: -1.0, size: Some(0.0), attr_mask: 0 },
            })
            .collect()
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// TWS's execution time format, in UTC.
pub fn ib_time(unix: i64) -> String {
    let s = ibws_shared::protocol::format_timestamp(unix * 1_000_000, 0);
    // 2026-11-22T10:30:45.000000 -> 20261122 10:30:45 UTC
    format!("{}{}{} {} UTC", &s[0..4], &s[5..7], &s[8..10], &s[11..19])
}

fn clock_hhmm(unix: i64) -> String {
    let s = ibws_shared::protocol::format_timestamp(unix * 1_000_000, 0);
    s[11..16].to_owned()
}

#[cfg(test)]
mod random_flow_tests {
    use super::*;

    /// The demo's order flow trades at market prices: no fill at 0 (a market order's
    /// reported limit price), and no price collapses because of one.
    #[test]
    fn fills_are_at_market_prices_and_prices_stay_near_their_start() {
        for seed in 1..6 {
            let mut e =
                Engine::with_accounts(seed, &[AccountSpec { id: "DU1".into(), base: "USD".into() }], Quirks::default());
            let start: Vec<f64> = e.instruments.iter().map(|i| i.last).collect();
            for _ in 0..3_000 {
                e.random_step();
            }
            for (x, _) in &e.executions {
                assert!(x.price > 0.0, "seed {seed}: a fill at {} ({} {})", x.price, x.side, x.contract.symbol);
            }
            for (i, s) in e.instruments.iter().zip(start) {
                assert!(
                    i.last > s * 0.5 && i.last < s * 2.0,
                    "seed {seed}: {} went from {s} to {}",
                    i.contract.symbol,
                    i.last
                );
            }
            assert!(e.executions.len() > 100, "the flow fills orders");
        }
    }
}

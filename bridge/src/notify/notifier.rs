//! Turns link events into the six notification types.

use ibws_shared::hub::Now;
use ibws_shared::protocol::{
    format_timestamp, AccountState, AccountUpdate, ErrorFrame, MarketData, McpOrder, OrderData, OrderNotification,
    OrderUpdate, ServerFrame,
};

use super::errors::{classify, Severity};
use super::{AccountBook, MarketConflator, OrderBook, OrderChange};
use ibws_tws::frame::{truncate_text, MAX_FIELD_BYTES};
use ibws_tws::link::{watch_symbol, LinkEvent};
use ibws_tws::Incoming;

/// How orders placed by an AI agent are recognised: any MCP server that trades
/// through TWS sets an orderRef or uses its own client id.
#[derive(Clone, Debug)]
pub struct AgentRules {
    /// orderRef prefix, compared case-insensitively (default `mcp`); empty disables.
    pub order_ref_prefix: String,
    /// API client ids whose orders are agent orders.
    pub client_ids: Vec<i64>,
}

impl Default for AgentRules {
    fn default() -> Self {
        AgentRules { order_ref_prefix: "mcp".into(), client_ids: vec![] }
    }
}

impl AgentRules {
    /// The agent that placed the order, when an agent did: the name after the
    /// orderRef prefix (`mcp:claude` -> `claude`; `agent` when nothing follows), else
    /// `client <id>` for an agent recognised by its API client id.
    pub fn agent_of(&self, o: &OrderData) -> Option<String> {
        let p = self.order_ref_prefix.as_bytes();
        if let Some(r) = o.order_ref.as_deref() {
            if !p.is_empty() && r.len() >= p.len() && r.as_bytes()[..p.len()].eq_ignore_ascii_case(p) {
                let name = r[p.len()..].trim_start_matches([':', '-', '_', '/', '.', ' ']);
                return Some(if name.is_empty() { "agent".to_owned() } else { name.to_owned() });
            }
        }
        o.client_id.filter(|c| self.client_ids.contains(c)).map(|c| format!("client {c}"))
    }

    pub fn is_agent(&self, o: &OrderData) -> bool {
        self.agent_of(o).is_some()
    }
}

/// Where an order came from, for the row's `source`: an agent's (`MCP`), one typed in
/// TWS's own window (`TWS`: client 0 with an order id of 0, or the negative id TWS
/// gives a manual order it binds to client 0, or, from server version 193, TWS's
/// manual order indicator saying a person entered it), or a program's (`API`, on its
/// `client_id`).
pub fn source_of(o: &OrderData, agent: bool) -> &'static str {
    if agent {
        "MCP"
    } else if o.manual_order_indicator == Some(1) || (o.client_id.unwrap_or(0) == 0 && o.order_id <= 0) {
        "TWS"
    } else {
        "API"
    }
}

/// API client ids the bridge has told the user about, at most (each is logged once).
const MAX_CLIENTS_SEEN: usize = 256;
/// Orders placed through this bridge (by `ibws mcp`) remembered for their rejection,
/// which TWS may send before (or instead of) any order message.
const MAX_PLACED: usize = 4096;

/// What the bridge knows of an order it placed itself, before TWS reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct Placed {
    pub order_id: i64,
    pub account: Option<String>,
    pub agent: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct NotifierConfig {
    pub agents: AgentRules,
    /// Market-data frames per symbol per second, at most.
    pub market_max_per_sec: u32,
    /// The watchlist, in the order the driver requested it.
    pub watch: Vec<String>,
    /// Accounts to report values and positions of (`--accounts`); empty means all.
    pub accounts: Vec<String>,
    pub utc_offset_secs: i32,
    /// The bridge's own API client id: errors with an order id refer to its orders.
    pub client_id: i64,
}

/// The notification stage of the pipeline.
pub struct Notifier {
    cfg: NotifierConfig,
    orders: OrderBook,
    accounts: AccountBook,
    market: MarketConflator,
    link_up: bool,
    ever_connected: bool,
    outage_reported: bool,
    clients_seen: std::collections::BTreeSet<i64>,
    placed: std::collections::VecDeque<Placed>,
}

impl Notifier {
    pub fn new(cfg: NotifierConfig) -> Self {
        Notifier {
            market: MarketConflator::new(cfg.market_max_per_sec),
            cfg,
            orders: OrderBook::new(),
            accounts: AccountBook::new(),
            link_up: false,
            ever_connected: false,
            outage_reported: false,
            clients_seen: Default::default(),
            placed: Default::default(),
        }
    }

    pub fn link_up(&self) -> bool {
        self.link_up
    }

    /// The order truth, row by row (as the last `order_update` of each said).
    pub fn orders_iter(&self) -> impl Iterator<Item = &OrderData> {
        self.orders.orders()
    }

    pub fn accounts_iter(&self) -> impl Iterator<Item = &AccountState> {
        self.accounts.accounts()
    }

    pub fn orders(&self) -> Vec<OrderData> {
        self.orders.orders().cloned().collect()
    }

    pub fn accounts(&self) -> Vec<AccountState> {
        self.accounts.accounts().cloned().collect()
    }

    /// Remembers an order this bridge is about to place (for `ibws mcp`), so that a
    /// rejection names its account and agent even if TWS never reports the order.
    pub fn placing(&mut self, p: Placed) {
        if self.placed.len() == MAX_PLACED {
            self.placed.pop_front();
        }
        self.placed.push_back(p);
    }

    fn ts(&self, now: Now) -> String {
        format_timestamp(now.unix_us, self.cfg.utc_offset_secs)
    }

    fn error_event(
        &self,
        now: Now,
        message: String,
        code: &str,
        tws_code: Option<i64>,
        req_id: Option<i64>,
        error_time_ms: Option<i64>,
    ) -> ServerFrame {
        // an error about an order belongs to that order's account (and agent): the
        // book's row when TWS reported the order, else what this bridge placed
        let (account, agent) = match req_id {
            Some(id) => {
                match self.orders.orders().find(|o| o.order_id == id && o.client_id == Some(self.cfg.client_id)) {
                    Some(o) => (o.account.clone(), self.cfg.agents.agent_of(o)),
                    None => self
                        .placed
                        .iter()
                        .rev()
                        .find(|p| p.order_id == id)
                        .map(|p| (p.account.clone(), p.agent.clone()))
                        .unwrap_or_default(),
                }
            }
            None => (None, None),
        };
        ServerFrame::Error(ErrorFrame {
            message,
            error_code: Some(code.to_owned()),
            timestamp: self.ts(now),
            tws_code,
            req_id,
            account,
            agent,
            error_time: error_time_ms
                .filter(|ms| *ms > 0)
                .map(|ms| format_timestamp(ms.saturating_mul(1000), self.cfg.utc_offset_secs)),
            seq: None,
            epoch: None,
        })
    }

    /// Handles one link event; returns the notifications it causes, in order.
    pub fn on_link(&mut self, ev: &LinkEvent, now: Now) -> Vec<ServerFrame> {
        match ev {
            LinkEvent::Connecting { .. } => vec![],
            LinkEvent::Connected { .. } => {
                let was = std::mem::replace(&mut self.link_up, true);
                let reconnect = self.ever_connected && !was;
                self.ever_connected = true;
                self.outage_reported = false;
                if reconnect {
                    vec![self.error_event(now, "TWS connection restored".into(), "TWS_RECONNECTED", None, None, None)]
                } else {
                    vec![]
                }
            }
            LinkEvent::Disconnected { reason } => {
                let was = std::mem::replace(&mut self.link_up, false);
                if was {
                    self.outage_reported = true;
                    vec![self.error_event(
                        now,
                        format!("TWS connection lost: {reason}"),
                        "TWS_DISCONNECTED",
                        Some(504),
                        None,
                        None,
                    )]
                } else if !self.outage_reported {
                    self.outage_reported = true;
                    vec![self.error_event(
                        now,
                        format!("TWS unreachable: {reason}"),
                        "TWS_UNREACHABLE",
                        Some(502),
                        None,
                        None,
                    )]
                } else {
                    vec![]
                }
            }
            LinkEvent::Malformed { .. } => vec![],
            LinkEvent::Message(m) => self.on_message(m, now),
        }
    }

    fn followed(&self, account: &str) -> bool {
        self.cfg.accounts.is_empty() || self.cfg.accounts.iter().any(|a| a == account)
    }

    fn on_message(&mut self, m: &Incoming, now: Now) -> Vec<ServerFrame> {
        let account = match m {
            Incoming::AccountValue { account, .. } | Incoming::AccountValueMulti { account, .. } => Some(account),
            Incoming::Portfolio(p) => Some(&p.account),
            Incoming::Position(p) => Some(&p.account),
            Incoming::PositionMulti { item, .. } => Some(&item.account),
            _ => None,
        };
        if account.is_some_and(|a| !self.followed(a)) {
            return vec![]; // reqPositions answers for every account
        }
        let changes = match m {
            Incoming::OpenOrder(b) => self.orders.on_open_order(&b.0, &b.1, now.mono_ms),
            Incoming::CompletedOrder(b) => self.orders.on_completed_order(&b.0, &b.1, now.mono_ms),
            Incoming::OrderStatus(s) => self.orders.on_order_status(s, now.mono_ms),
            Incoming::ExecDetails(e) => self.orders.on_execution(e, now.mono_ms),
            Incoming::ExecDetailsEnd { .. } => self.orders.on_executions_end(),
            Incoming::CommissionReport(c) => self.orders.on_commission(c),
            Incoming::AccountValue { key, value, currency, account }
            | Incoming::AccountValueMulti { key, value, currency, account, .. } => {
                self.accounts.on_value(key, value, currency, account, now.mono_ms);
                vec![]
            }
            Incoming::PositionMulti { item, .. } => {
                self.accounts.on_position(item, now.mono_ms);
                vec![]
            }
            Incoming::Portfolio(p) => {
                self.accounts.on_portfolio(p, now.mono_ms);
                vec![]
            }
            Incoming::Position(p) => {
                self.accounts.on_position(p, now.mono_ms);
                vec![]
            }
            Incoming::AccountTime(_)
            | Incoming::AccountDownloadEnd(_)
            | Incoming::PositionEnd
            | Incoming::AccountUpdateMultiEnd { .. }
            | Incoming::PositionMultiEnd { .. } => return self.account_frames(now),
            Incoming::TickPrice { req_id, tick_type, price, size, .. } => {
                return self.tick_price(*req_id, *tick_type, *price, *size, now)
            }
            Incoming::TickSize { req_id, tick_type, size } => {
                return self.tick(*req_id, &[(*tick_type, Some(*size))], now)
            }
            Incoming::Error(e) => {
                let (code, severity) = classify(e.code, &e.message);
                if severity == Severity::Notice {
                    return vec![];
                }
                let req_id = (e.req_id >= 0).then_some(e.req_id);
                let message = truncate_text(&e.message, MAX_FIELD_BYTES);
                return vec![self.error_event(now, message, code, Some(e.code), req_id, e.error_time)];
            }
            _ => vec![],
        };
        changes.into_iter().flat_map(|c| self.frames_for(c, now)).collect()
    }

    /// One change set per account with changes, as `account_update` frames.
    fn account_frames(&mut self, now: Now) -> Vec<ServerFrame> {
        let ts = self.ts(now);
        self.accounts
            .flush(Some(&ts))
            .into_iter()
            .map(|data| {
                ServerFrame::AccountUpdate(AccountUpdate { data, timestamp: ts.clone(), seq: None, epoch: None })
            })
            .collect()
    }

    /// tickPrice carries the size that goes with the price (bid with bid size, ...);
    /// a price of -1 means "none" (an empty book side), so both become null.
    fn tick_price(&mut self, req_id: i64, tick_type: i64, price: f64, size: Option<f64>, now: Now) -> Vec<ServerFrame> {
        let price = (price != -1.0).then_some(price);
        // bid 1 -> bid size 0, ask 2 -> 3, last 4 -> 5; delayed 66/67/68 -> 69/70/71
        let size_type = match tick_type {
            1 => Some(0),
            2 => Some(3),
            4 => Some(5),
            66 => Some(69),
            67 => Some(70),
            68 => Some(71),
            _ => None,
        };
        let mut ticks = vec![(tick_type, price)];
        if let (Some(st), Some(sz)) = (size_type, size) {
            ticks.push((st, price.and(Some(sz))));
        }
        self.tick(req_id, &ticks, now)
    }

    fn tick(&mut self, req_id: i64, ticks: &[(i64, Option<f64>)], now: Now) -> Vec<ServerFrame> {
        let Some(symbol) = watch_symbol(&self.cfg.watch, req_id).map(str::to_owned) else {
            return vec![];
        };
        match self.market.on_ticks(&symbol, ticks, now.mono_ms) {
            Some(data) => vec![ServerFrame::MarketData(MarketData {
                symbol,
                data,
                timestamp: self.ts(now),
                seq: None,
                epoch: None,
            })],
            None => vec![],
        }
    }

    /// Whatever is due: conflated market data, fills whose partner message never came,
    /// account values streamed without an end-of-cycle marker.
    pub fn poll(&mut self, now: Now) -> Vec<ServerFrame> {
        let ts = self.ts(now);
        let mut out: Vec<ServerFrame> = self
            .market
            .poll(now.mono_ms)
            .into_iter()
            .map(|(symbol, data)| {
                ServerFrame::MarketData(MarketData { symbol, data, timestamp: ts.clone(), seq: None, epoch: None })
            })
            .collect();
        let changes = self.orders.poll(now.mono_ms);
        out.extend(changes.into_iter().flat_map(|c| self.frames_for(c, now)));
        if self.accounts.flush_due(now.mono_ms) {
            out.extend(self.account_frames(now));
        }
        out
    }

    /// When [`Notifier::poll`] should next run (monotonic ms).
    pub fn next_deadline(&self) -> Option<u64> {
        [self.market.next_deadline(), self.orders.next_deadline(), self.accounts.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Logs, once per API client id, that a program other than the bridge placed an
    /// order, and how to mark that program as an agent.
    fn note_client(&mut self, d: &OrderData, agent: bool) {
        let Some(c) = d.client_id.filter(|&c| c != self.cfg.client_id && !agent) else { return };
        if self.clients_seen.len() < MAX_CLIENTS_SEEN && self.clients_seen.insert(c) {
            tracing::info!(
                client_id = c,
                "an order from API client {c} (source API); if that program is an AI agent's MCP server, \
                 pass --mcp-client-ids {c} (or have it set an orderRef starting with the agent prefix)"
            );
        }
    }

    fn frames_for(&mut self, change: OrderChange, now: Now) -> Vec<ServerFrame> {
        let ts = self.ts(now);
        // whether an agent placed it, and where it came from, are decided here, once,
        // and travel with the row
        let mut name = None;
        let mut tag = |mut d: OrderData| {
            name = self.cfg.agents.agent_of(&d);
            d.agent = name.is_some().then_some(true);
            d.source = Some(source_of(&d, name.is_some()).to_owned());
            self.note_client(&d, name.is_some());
            d
        };
        let (data, event, action, message) = match change {
            OrderChange::Updated(data) => {
                let data = tag(data);
                return vec![ServerFrame::OrderUpdate(OrderUpdate { data, timestamp: ts, seq: None, epoch: None })];
            }
            OrderChange::Created(d) => (d, "created", "创建", "订单创建成功"),
            OrderChange::Modified(d) => (d, "modified", "修改", "订单修改成功"),
            OrderChange::Cancelled(d) => (d, "cancelled", "取消", "订单取消成功"),
        };
        let data = tag(data);
        // The seed's notification shape: no fill columns.
        let short = OrderData {
            filled: None,
            remaining: None,
            avg_fill_price: None,
            why_held: None,
            execution: None,
            last_fill_price: None,
            ..data
        };
        let mut out = vec![ServerFrame::OrderNotification(OrderNotification {
            action: action.to_owned(),
            data: short.clone(),
            message: message.to_owned(),
            timestamp: ts.clone(),
            event: Some(event.to_owned()),
            seq: None,
            epoch: None,
        })];
        if short.agent == Some(true) {
            let mcp_action = match (event, short.order_type.as_str()) {
                ("created", "LMT") => "MCP创建限价单",
                ("created", "MKT") => "MCP创建市价单",
                ("created", _) => "MCP创建订单",
                ("modified", _) => "MCP修改订单",
                _ => "MCP取消订单",
            };
            out.push(ServerFrame::McpOrder(McpOrder {
                action: mcp_action.to_owned(),
                message: mcp_action.replacen("MCP", "MCP ", 1),
                data: short,
                source: "MCP".into(),
                agent: name,
                timestamp: ts,
                event: Some(event.to_owned()),
                seq: None,
                epoch: None,
            }));
        }
        out
    }
}

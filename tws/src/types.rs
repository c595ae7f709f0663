//! Typed TWS data: contracts, orders, order states, executions.

/// The contract fields TWS repeats in most messages.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Contract {
    pub con_id: i64,
    pub symbol: String,
    pub sec_type: String,
    pub last_trade_date: String,
    pub strike: Option<f64>,
    pub right: String,
    pub multiplier: String,
    pub exchange: String,
    pub primary_exchange: String,
    pub currency: String,
    pub local_symbol: String,
    pub trading_class: String,
}

impl Contract {
    /// A US stock on SMART, as the simulator and the watchlist use.
    pub fn stock(symbol: &str, con_id: i64) -> Contract {
        Contract {
            con_id,
            symbol: symbol.to_owned(),
            sec_type: "STK".into(),
            exchange: "SMART".into(),
            primary_exchange: "NASDAQ".into(),
            currency: "USD".into(),
            local_symbol: symbol.to_owned(),
            trading_class: "NMS".into(),
            ..Contract::default()
        }
    }
}

/// An order as openOrder / completedOrder describe it. Fields ibws uses are typed;
/// the variable-length sections are kept raw so a frame can be walked (and
/// re-encoded) completely.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Order {
    pub order_id: i64,
    pub contract: Contract,
    pub action: String,
    pub total_quantity: f64,
    pub order_type: String,
    pub lmt_price: Option<f64>,
    pub aux_price: Option<f64>,
    pub tif: String,
    pub oca_group: String,
    pub account: String,
    pub open_close: String,
    pub origin: i64,
    pub order_ref: String,
    pub client_id: i64,
    pub perm_id: i64,
    pub outside_rth: bool,
    pub hidden: bool,
    pub parent_id: i64,
    pub delta_neutral_order_type: String,
    pub combo_legs_descrip: String,
    pub combo_legs: Vec<Vec<String>>,
    pub order_combo_leg_prices: Vec<String>,
    pub smart_combo_routing_params: Vec<(String, String)>,
    pub scale_price_increment: Option<f64>,
    pub hedge_type: String,
    pub delta_neutral_contract: Option<[String; 3]>,
    pub algo_strategy: String,
    pub algo_params: Vec<(String, String)>,
    pub what_if: bool,
    /// Each condition's fields, type first.
    pub conditions: Vec<Vec<String>>,
    pub cash_qty: Option<f64>,
    /// completedOrder only.
    pub filled_quantity: Option<f64>,
    pub parent_perm_id: Option<i64>,
    /// From server version 193 (openOrder): CME's manual order indicator, 1 when a
    /// person entered the order, 0 when a program did; `None` when TWS did not say.
    pub manual_order_indicator: Option<i64>,
    /// From server version 198: who submitted the order (a user name for orders
    /// typed in TWS; empty when TWS did not say).
    pub submitter: String,
}

/// The order state at the end of openOrder (and completedOrder).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OrderState {
    pub status: String,
    /// A what-if answer's margin figures, as TWS sends them (text): initial margin,
    /// maintenance margin and equity with loan, each before, change and after.
    pub margin: [String; 9],
    pub commission: Option<f64>,
    pub commission_currency: String,
    pub warning_text: String,
    /// completedOrder only.
    pub completed_time: String,
    pub completed_status: String,
}

/// orderStatus.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OrderStatus {
    pub order_id: i64,
    pub status: String,
    pub filled: f64,
    pub remaining: f64,
    pub avg_fill_price: f64,
    pub perm_id: i64,
    pub parent_id: i64,
    pub last_fill_price: f64,
    pub client_id: i64,
    pub why_held: String,
    pub mkt_cap_price: f64,
}

/// execDetails.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Execution {
    pub req_id: i64,
    pub order_id: i64,
    pub contract: Contract,
    pub exec_id: String,
    pub time: String,
    pub account: String,
    pub exchange: String,
    pub side: String,
    pub shares: f64,
    pub price: f64,
    pub perm_id: i64,
    pub client_id: i64,
    pub liquidation: i64,
    pub cum_qty: f64,
    pub avg_price: f64,
    pub order_ref: String,
    pub ev_rule: String,
    pub ev_multiplier: Option<f64>,
    pub model_code: String,
    pub last_liquidity: i64,
    pub pending_price_revision: bool,
    /// From server version 198: who submitted the order of this fill.
    pub submitter: String,
}

/// commissionReport.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CommissionReport {
    pub exec_id: String,
    pub commission: f64,
    pub currency: String,
    pub realized_pnl: Option<f64>,
    pub yield_: Option<f64>,
    pub yield_redemption_date: i64,
}

/// updatePortfolio.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PortfolioItem {
    pub contract: Contract,
    pub position: f64,
    pub market_price: f64,
    pub market_value: f64,
    pub average_cost: f64,
    pub unrealized_pnl: f64,
    pub realized_pnl: f64,
    pub account: String,
}

/// position.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PositionItem {
    pub account: String,
    pub contract: Contract,
    pub position: f64,
    pub avg_cost: f64,
}

/// error (message id 4).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TwsError {
    pub req_id: i64,
    pub code: i64,
    pub message: String,
    pub advanced_order_reject_json: String,
    /// Server versions from 194 stamp errors with a time (ms since the epoch).
    pub error_time: Option<i64>,
}

/// contractData: what TWS knows of a contract (the fields ibws and its simulator use;
/// the rest of the message is written empty).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContractDetails {
    pub contract: Contract,
    pub market_name: String,
    pub min_tick: f64,
    pub order_types: String,
    pub valid_exchanges: String,
    pub long_name: String,
    pub industry: String,
    pub category: String,
    pub subcategory: String,
    pub time_zone_id: String,
    pub trading_hours: String,
    pub liquid_hours: String,
    /// Comma-separated, one per valid exchange.
    pub market_rule_ids: String,
    pub stock_type: String,
    pub min_size: f64,
    pub size_increment: f64,
    pub suggested_size_increment: f64,
}

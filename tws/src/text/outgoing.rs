//! Requests a client sends to TWS: encoded by the bridge, decoded by the simulator.

use crate::fields::{DResult, FieldReader, FieldWriter};
use crate::frame::Field;
use crate::types::Contract;
use crate::versions as v;

/// Outgoing message ids.
pub mod id {
    pub const REQ_MKT_DATA: i64 = 1;
    pub const CANCEL_MKT_DATA: i64 = 2;
    pub const PLACE_ORDER: i64 = 3;
    pub const CANCEL_ORDER: i64 = 4;
    pub const REQ_OPEN_ORDERS: i64 = 5;
    pub const REQ_ACCOUNT_UPDATES: i64 = 6;
    pub const REQ_EXECUTIONS: i64 = 7;
    pub const REQ_IDS: i64 = 8;
    pub const REQ_CONTRACT_DATA: i64 = 9;
    pub const REQ_AUTO_OPEN_ORDERS: i64 = 15;
    pub const REQ_ALL_OPEN_ORDERS: i64 = 16;
    pub const REQ_CURRENT_TIME: i64 = 49;
    pub const REQ_GLOBAL_CANCEL: i64 = 58;
    pub const REQ_POSITIONS: i64 = 61;
    pub const START_API: i64 = 71;
    pub const REQ_POSITIONS_MULTI: i64 = 74;
    pub const CANCEL_POSITIONS_MULTI: i64 = 75;
    pub const REQ_ACCOUNT_UPDATES_MULTI: i64 = 76;
    pub const CANCEL_ACCOUNT_UPDATES_MULTI: i64 = 77;
    pub const REQ_MARKET_RULE: i64 = 91;
    pub const REQ_COMPLETED_ORDERS: i64 = 99;
}

/// The order fields a placeOrder carries that ibws and its simulator care about.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OrderTicket {
    pub action: String,
    pub total_quantity: f64,
    pub order_type: String,
    pub lmt_price: Option<f64>,
    pub aux_price: Option<f64>,
    pub tif: String,
    pub account: String,
    pub order_ref: String,
    pub transmit: bool,
    /// A margin and commission preview: TWS answers with an openOrder carrying the
    /// order state and never books the order.
    pub what_if: bool,
}

impl OrderTicket {
    /// A transmitted DAY limit order.
    pub fn limit(action: &str, quantity: f64, price: f64) -> OrderTicket {
        OrderTicket {
            action: action.to_owned(),
            total_quantity: quantity,
            order_type: "LMT".into(),
            lmt_price: Some(price),
            tif: "DAY".into(),
            transmit: true,
            ..OrderTicket::default()
        }
    }

    /// A transmitted DAY market order.
    pub fn market(action: &str, quantity: f64) -> OrderTicket {
        OrderTicket { order_type: "MKT".into(), lmt_price: None, ..OrderTicket::limit(action, quantity, 0.0) }
    }

    /// The same order with an orderRef (agents tag theirs, e.g. `mcp-...`).
    pub fn with_ref(self, order_ref: &str) -> OrderTicket {
        OrderTicket { order_ref: order_ref.to_owned(), ..self }
    }
}

/// Filter of reqExecutions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExecutionFilter {
    pub client_id: i64,
    pub account: String,
    /// `yyyymmdd hh:mm:ss`: only executions after this time.
    pub time: String,
    pub symbol: String,
    pub sec_type: String,
    pub exchange: String,
    pub side: String,
    /// From server version 200: executions of the last N days (TWS allows up to 7),
    /// not just today's.
    pub last_n_days: Option<i64>,
    /// From server version 200: executions of these days (`yyyymmdd`).
    pub specific_dates: Vec<i64>,
}

/// A client request.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    StartApi {
        client_id: i64,
        optional_capabilities: String,
    },
    ReqIds {
        num_ids: i64,
    },
    ReqCurrentTime,
    ReqAutoOpenOrders {
        auto_bind: bool,
    },
    ReqAllOpenOrders,
    ReqOpenOrders,
    ReqCompletedOrders {
        api_only: bool,
    },
    ReqExecutions {
        req_id: i64,
        filter: ExecutionFilter,
    },
    ReqAccountUpdates {
        subscribe: bool,
        account: String,
    },
    ReqPositions,
    /// Positions of one account (or model), streamed: one request per account.
    ReqPositionsMulti {
        req_id: i64,
        account: String,
        model_code: String,
    },
    CancelPositionsMulti {
        req_id: i64,
    },
    /// Account values of one account, streamed; any number may run at once, unlike
    /// reqAccountUpdates (one account per client).
    ReqAccountUpdatesMulti {
        req_id: i64,
        account: String,
        model_code: String,
        ledger_and_nlv: bool,
    },
    CancelAccountUpdatesMulti {
        req_id: i64,
    },
    ReqMktData {
        req_id: i64,
        contract: Contract,
        generic_ticks: String,
        snapshot: bool,
    },
    CancelMktData {
        req_id: i64,
    },
    PlaceOrder {
        order_id: i64,
        contract: Contract,
        ticket: OrderTicket,
    },
    CancelOrder {
        order_id: i64,
    },
    /// Cancel every open order, whichever client placed it.
    ReqGlobalCancel,
    /// Contract details of a contract (found by conId, or by symbol).
    ReqContractDetails {
        req_id: i64,
        contract: Contract,
    },
    /// The price increments of a market rule (contract details name its ids).
    ReqMarketRule {
        market_rule_id: i64,
    },
    /// A request the simulator does not implement (it answers nothing).
    Other(i64),
}

fn contract_12(w: &mut FieldWriter, c: &Contract) {
    w.int(c.con_id)
        .str(&c.symbol)
        .str(&c.sec_type)
        .str(&c.last_trade_date)
        .opt_f64(c.strike)
        .str(&c.right)
        .str(&c.multiplier)
        .str(&c.exchange)
        .str(&c.primary_exchange)
        .str(&c.currency)
        .str(&c.local_symbol)
        .str(&c.trading_class);
}

fn read_contract_12(r: &mut FieldReader) -> DResult<Contract> {
    Ok(Contract {
        con_id: r.int()?,
        symbol: r.string()?,
        sec_type: r.string()?,
        last_trade_date: r.string()?,
        strike: r.opt_f64()?,
        right: r.string()?,
        multiplier: r.string()?,
        exchange: r.string()?,
        primary_exchange: r.string()?,
        currency: r.string()?,
        local_symbol: r.string()?,
        trading_class: r.string()?,
    })
}

impl Request {
    /// Encodes for a server at `version`.
    pub fn encode(&self, version: i32) -> Vec<u8> {
        let mut w = FieldWriter::new();
        match self {
            Request::StartApi { client_id, optional_capabilities } => {
                w.int(id::START_API).int(2).int(*client_id).str(optional_capabilities);
            }
            Request::ReqIds { num_ids } => {
                w.int(id::REQ_IDS).int(1).int(*num_ids);
            }
            Request::ReqCurrentTime => {
                w.int(id::REQ_CURRENT_TIME).int(1);
            }
            Request::ReqAutoOpenOrders { auto_bind } => {
                w.int(id::REQ_AUTO_OPEN_ORDERS).int(1).bool(*auto_bind);
            }
            Request::ReqAllOpenOrders => {
                w.int(id::REQ_ALL_OPEN_ORDERS).int(1);
            }
            Request::ReqOpenOrders => {
                w.int(id::REQ_OPEN_ORDERS).int(1);
            }
            Request::ReqCompletedOrders { api_only } => {
                w.int(id::REQ_COMPLETED_ORDERS).bool(*api_only);
            }
            Request::ReqExecutions { req_id, filter: f } => {
                w.int(id::REQ_EXECUTIONS)
                    .int(3)
                    .int(*req_id)
                    .int(f.client_id)
                    .str(&f.account)
                    .str(&f.time)
                    .str(&f.symbol)
                    .str(&f.sec_type)
                    .str(&f.exchange)
                    .str(&f.side);
                if version >= v::PARAMETRIZED_DAYS_OF_EXECUTIONS {
                    w.opt_int(f.last_n_days).int(f.specific_dates.len() as i64);
                    for d in &f.specific_dates {
                        w.int(*d);
                    }
                }
            }
            Request::ReqAccountUpdates { subscribe, account } => {
                w.int(id::REQ_ACCOUNT_UPDATES).int(2).bool(*subscribe).str(account);
            }
            Request::ReqPositions => {
                w.int(id::REQ_POSITIONS).int(1);
            }
            Request::ReqPositionsMulti { req_id, account, model_code } => {
                w.int(id::REQ_POSITIONS_MULTI).int(1).int(*req_id).str(account).str(model_code);
            }
            Request::CancelPositionsMulti { req_id } => {
                w.int(id::CANCEL_POSITIONS_MULTI).int(1).int(*req_id);
            }
            Request::ReqAccountUpdatesMulti { req_id, account, model_code, ledger_and_nlv } => {
                w.int(id::REQ_ACCOUNT_UPDATES_MULTI)
                    .int(1)
                    .int(*req_id)
                    .str(account)
                    .str(model_code)
                    .bool(*ledger_and_nlv);
            }
            Request::CancelAccountUpdatesMulti { req_id } => {
                w.int(id::CANCEL_ACCOUNT_UPDATES_MULTI).int(1).int(*req_id);
            }
            Request::ReqMktData { req_id, contract, generic_ticks, snapshot } => {
                w.int(id::REQ_MKT_DATA).int(11).int(*req_id);
                contract_12(&mut w, contract);
                // no delta-neutral contract; generic ticks; snapshot; regulatory
                // snapshot; options
                w.bool(false).str(generic_ticks).bool(*snapshot).bool(false).str("");
            }
            Request::CancelMktData { req_id } => {
                w.int(id::CANCEL_MKT_DATA).int(2).int(*req_id);
            }
            Request::PlaceOrder { order_id, contract, ticket: t } => {
                encode_place_order(&mut w, version, *order_id, contract, t);
            }
            Request::CancelOrder { order_id } => {
                w.int(id::CANCEL_ORDER);
                if version < v::CME_TAGGING_FIELDS {
                    w.int(1);
                }
                w.int(*order_id);
                if version >= v::MANUAL_ORDER_TIME {
                    w.str(""); // manualOrderCancelTime
                }
                if (v::RFQ_FIELDS..v::UNDO_RFQ_FIELDS).contains(&version) {
                    w.str("").str("").str("");
                }
                if version >= v::CME_TAGGING_FIELDS {
                    w.str("").str(""); // extOperator, manualOrderIndicator (unset)
                }
            }
            Request::ReqGlobalCancel => {
                w.int(id::REQ_GLOBAL_CANCEL);
                if version < v::CME_TAGGING_FIELDS {
                    w.int(1);
                }
                if (v::MANUAL_ORDER_TIME..v::CME_TAGGING_FIELDS).contains(&version) {
                    w.str(""); // manualOrderCancelTime
                }
                if version >= v::CME_TAGGING_FIELDS {
                    w.str("").str(""); // extOperator, manualOrderIndicator (unset)
                }
            }
            Request::ReqContractDetails { req_id, contract: c } => {
                w.int(id::REQ_CONTRACT_DATA).int(8).int(*req_id);
                w.int(c.con_id).str(&c.symbol).str(&c.sec_type).str(&c.last_trade_date).opt_f64(c.strike);
                w.str(&c.right).str(&c.multiplier).str(&c.exchange).str(&c.primary_exchange).str(&c.currency);
                w.str(&c.local_symbol).str(&c.trading_class);
                w.bool(false).str("").str(""); // includeExpired, secIdType, secId
                if version >= v::BOND_ISSUERID {
                    w.str("");
                }
            }
            Request::ReqMarketRule { market_rule_id } => {
                w.int(id::REQ_MARKET_RULE).int(*market_rule_id);
            }
            Request::Other(n) => {
                w.int(*n);
            }
        }
        w.frame()
    }

    /// Decodes a request from a client that negotiated `version` (the simulator's
    /// side). Only the fields the simulator uses are read; the rest of a frame is
    /// ignored, except that a placeOrder is walked as far as its whatIf flag.
    pub fn decode(fields: &[Field<'_>], version: i32) -> DResult<Request> {
        let mut r = FieldReader::new(fields);
        let msg = r.int()?;
        Ok(match msg {
            id::START_API => {
                r.skip(1)?;
                let client_id = r.int()?;
                let optional_capabilities = if r.remaining() > 0 { r.string()? } else { String::new() };
                Request::StartApi { client_id, optional_capabilities }
            }
            id::REQ_IDS => {
                r.skip(1)?;
                Request::ReqIds { num_ids: r.int()? }
            }
            id::REQ_CURRENT_TIME => Request::ReqCurrentTime,
            id::REQ_AUTO_OPEN_ORDERS => {
                r.skip(1)?;
                Request::ReqAutoOpenOrders { auto_bind: r.bool()? }
            }
            id::REQ_ALL_OPEN_ORDERS => Request::ReqAllOpenOrders,
            id::REQ_OPEN_ORDERS => Request::ReqOpenOrders,
            id::REQ_COMPLETED_ORDERS => Request::ReqCompletedOrders { api_only: r.bool()? },
            id::REQ_EXECUTIONS => {
                r.skip(1)?;
                let req_id = r.int()?;
                let mut filter = ExecutionFilter {
                    client_id: r.int()?,
                    account: r.string()?,
                    time: r.string()?,
                    symbol: r.string()?,
                    sec_type: r.string()?,
                    exchange: r.string()?,
                    side: r.string()?,
                    ..ExecutionFilter::default()
                };
                if version >= v::PARAMETRIZED_DAYS_OF_EXECUTIONS {
                    filter.last_n_days = r.opt_int()?;
                    let n = r.count()?;
                    for _ in 0..n {
                        filter.specific_dates.push(r.int()?);
                    }
                }
                Request::ReqExecutions { req_id, filter }
            }
            id::REQ_ACCOUNT_UPDATES => {
                r.skip(1)?;
                Request::ReqAccountUpdates { subscribe: r.bool()?, account: r.string()? }
            }
            id::REQ_POSITIONS => Request::ReqPositions,
            id::REQ_POSITIONS_MULTI => {
                r.skip(1)?;
                Request::ReqPositionsMulti { req_id: r.int()?, account: r.string()?, model_code: r.string()? }
            }
            id::CANCEL_POSITIONS_MULTI => {
                r.skip(1)?;
                Request::CancelPositionsMulti { req_id: r.int()? }
            }
            id::REQ_ACCOUNT_UPDATES_MULTI => {
                r.skip(1)?;
                Request::ReqAccountUpdatesMulti {
                    req_id: r.int()?,
                    account: r.string()?,
                    model_code: r.string()?,
                    ledger_and_nlv: r.bool()?,
                }
            }
            id::CANCEL_ACCOUNT_UPDATES_MULTI => {
                r.skip(1)?;
                Request::CancelAccountUpdatesMulti { req_id: r.int()? }
            }
            id::REQ_MKT_DATA => {
                r.skip(1)?;
                let req_id = r.int()?;
                let contract = read_contract_12(&mut r)?;
                Request::ReqMktData { req_id, contract, generic_ticks: String::new(), snapshot: false }
            }
            id::CANCEL_MKT_DATA => {
                r.skip(1)?;
                Request::CancelMktData { req_id: r.int()? }
            }
            id::PLACE_ORDER => {
                let order_id = r.int()?;
                let contract = read_contract_12(&mut r)?;
                r.skip(2)?; // secIdType, secId
                let action = r.string()?;
                let total_quantity = r.f64()?;
                let order_type = r.string()?;
                let lmt_price = r.opt_f64()?;
                let aux_price = r.opt_f64()?;
                let tif = r.string()?;
                r.skip(1)?; // ocaGroup
                let account = r.string()?;
                r.skip(2)?; // openClose, origin
                let order_ref = r.string()?;
                let transmit = r.bool()?;
                let what_if = read_what_if(&mut r, version, &contract.sec_type)?;
                Request::PlaceOrder {
                    order_id,
                    contract,
                    ticket: OrderTicket {
                        action,
                        total_quantity,
                        order_type,
                        lmt_price,
                        aux_price,
                        tif,
                        account,
                        order_ref,
                        transmit,
                        what_if,
                    },
                }
            }
            id::REQ_GLOBAL_CANCEL => Request::ReqGlobalCancel,
            id::REQ_CONTRACT_DATA => {
                r.skip(1)?;
                let req_id = r.int()?;
                Request::ReqContractDetails { req_id, contract: read_contract_12(&mut r)? }
            }
            id::REQ_MARKET_RULE => Request::ReqMarketRule { market_rule_id: r.int()? },
            id::CANCEL_ORDER => {
                if version < v::CME_TAGGING_FIELDS {
                    r.skip(1)?;
                }
                Request::CancelOrder { order_id: r.int()? }
            }
            other => Request::Other(other),
        })
    }
}

/// Walks a placeOrder from the field after `transmit` to `whatIf`, over every
/// section whose presence the fields before it decide (combo legs, delta-neutral,
/// scale, hedge, algo), as the official clients write it.
fn read_what_if(r: &mut FieldReader, version: i32, sec_type: &str) -> DResult<bool> {
    // parentId, blockOrder, sweepToFill, displaySize, triggerMethod, outsideRth, hidden
    r.skip(7)?;
    if sec_type == "BAG" {
        let legs = r.count()?;
        r.skip(legs * 8)?;
        let leg_prices = r.count()?;
        r.skip(leg_prices)?;
        let params = r.count()?;
        r.skip(params * 2)?;
    }
    // sharesAllocation, discretionaryAmt, goodAfterTime, goodTillDate, faGroup,
    // faMethod, faPercentage (and faProfile before 177)
    r.skip(if version < v::FA_PROFILE_DESUPPORT { 8 } else { 7 })?;
    // modelCode .. volatilityType (22 fields), deltaNeutralOrderType, deltaNeutralAuxPrice
    r.skip(22)?;
    let delta_neutral_type = r.string()?;
    r.skip(1)?;
    if !delta_neutral_type.is_empty() {
        r.skip(8)?;
    }
    // continuousUpdate, referencePriceType, trailStopPrice, trailingPercent,
    // scaleInitLevelSize, scaleSubsLevelSize, then scalePriceIncrement
    r.skip(6)?;
    if r.opt_f64()?.is_some_and(|x| x > 0.0 && x < f64::MAX) {
        r.skip(7)?;
    }
    r.skip(3)?; // scaleTable, activeStartTime, activeStopTime
    if !r.string()?.is_empty() {
        r.skip(1)?; // hedgeParam
    }
    r.skip(4)?; // optOutSmartRouting, clearingAccount, clearingIntent, notHeld
    if r.bool()? {
        r.skip(3)?; // delta-neutral contract
    }
    if !r.string()?.is_empty() {
        let params = r.count()?;
        r.skip(params * 2)?;
    }
    r.skip(1)?; // algoId
    r.bool()
}

/// placeOrder for a plain (non-combo, unconditional) order, every field in the order
/// the server expects at `version`.
fn encode_place_order(w: &mut FieldWriter, version: i32, order_id: i64, c: &Contract, t: &OrderTicket) {
    w.int(id::PLACE_ORDER).int(order_id);
    contract_12(w, c);
    w.str("").str(""); // secIdType, secId
    w.str(&t.action).f64(t.total_quantity).str(&t.order_type).opt_f64(t.lmt_price).opt_f64(t.aux_price);
    w.str(&t.tif).str("").str(&t.account).str("").int(0).str(&t.order_ref).bool(t.transmit);
    // parentId, blockOrder, sweepToFill, displaySize, triggerMethod, outsideRth, hidden
    w.int(0).bool(false).bool(false).int(0).int(0).bool(false).bool(false);
    // deprecated sharesAllocation, discretionaryAmt, goodAfterTime, goodTillDate,
    // faGroup, faMethod, faPercentage
    w.str("").f64(0.0).str("").str("").str("").str("").str("");
    if version < v::FA_PROFILE_DESUPPORT {
        w.str("");
    }
    // modelCode, shortSaleSlot, designatedLocation, exemptCode, ocaType, rule80A,
    // settlingFirm, allOrNone, minQty, percentOffset, eTradeOnly, firmQuoteOnly,
    // nbboPriceCap, auctionStrategy, startingPrice, stockRefPrice, delta,
    // stockRangeLower, stockRangeUpper, overridePercentageConstraints, volatility,
    // volatilityType, deltaNeutralOrderType, deltaNeutralAuxPrice
    w.str("").int(0).str("").int(-1).int(0).str("").str("").bool(false).str("").str("");
    w.bool(false).bool(false).str("").int(0).str("").str("").str("").str("").str("");
    w.bool(false).str("").str("").str("").str("");
    // continuousUpdate, referencePriceType, trailStopPrice, trailingPercent,
    // scaleInitLevelSize, scaleSubsLevelSize, scalePriceIncrement
    w.bool(false).str("").str("").str("").str("").str("").str("");
    // scaleTable, activeStartTime, activeStopTime, hedgeType
    w.str("").str("").str("").str("");
    // optOutSmartRouting, clearingAccount, clearingIntent, notHeld
    w.bool(false).str("").str("").bool(false);
    // no delta-neutral contract, no algo strategy
    w.bool(false).str("");
    // algoId, whatIf, orderMiscOptions, solicited, randomizeSize, randomizePrice
    w.str("").bool(t.what_if).str("").bool(false).bool(false).bool(false);
    w.int(0); // no conditions
              // adjustedOrderType, triggerPrice, lmtPriceOffset, adjustedStopPrice,
              // adjustedStopLimitPrice, adjustedTrailingAmount, adjustableTrailingUnit,
              // extOperator, softDollarTier name and value, cashQty, four MiFID II fields,
              // dontUseAutoPriceForHedge, isOmsContainer, discretionaryUpToLimitPrice,
              // usePriceMgmtAlgo
    w.str("").str("").str("").str("").str("").str("").int(0).str("").str("").str("").str("");
    w.str("").str("").str("").str("").bool(false).bool(false).bool(false).str("");
    if version >= v::DURATION {
        w.str("");
    }
    if version >= v::POST_TO_ATS {
        w.str("");
    }
    if version >= v::AUTO_CANCEL_PARENT {
        w.bool(false);
    }
    if version >= v::ADVANCED_ORDER_REJECT {
        w.str("");
    }
    if version >= v::MANUAL_ORDER_TIME {
        w.str("");
    }
    // minTradeQty and the PEG BEST / PEG MID offsets go only with those order types
    if version >= v::CUSTOMER_ACCOUNT {
        w.str("");
    }
    if version >= v::PROFESSIONAL_CUSTOMER {
        w.bool(false);
    }
    if (v::RFQ_FIELDS..v::UNDO_RFQ_FIELDS).contains(&version) {
        w.str("").str("");
    }
    if version >= v::INCLUDE_OVERNIGHT {
        w.bool(false);
    }
    if version >= v::CME_TAGGING_FIELDS {
        w.str(""); // manualOrderIndicator: unset
    }
    if version >= v::IMBALANCE_ONLY {
        w.bool(false);
    }
}

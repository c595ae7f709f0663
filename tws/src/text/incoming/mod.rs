//! Messages TWS sends, decoded by server version, one decoder per message family;
//! and encoded, for the simulator.

mod accounts;
mod market_data;
mod orders;
mod reference;
mod session;

use crate::fields::{encode_unicode_escapes, DResult, DecodeError, FieldReader, FieldWriter};
use crate::frame::Field;
use crate::order_walk::{self, contract_11, Io};
use crate::types::*;
use crate::versions as v;

/// Incoming message ids.
pub mod id {
    pub const TICK_PRICE: i64 = 1;
    pub const TICK_SIZE: i64 = 2;
    pub const ORDER_STATUS: i64 = 3;
    pub const ERROR: i64 = 4;
    pub const OPEN_ORDER: i64 = 5;
    pub const ACCOUNT_VALUE: i64 = 6;
    pub const PORTFOLIO_VALUE: i64 = 7;
    pub const ACCOUNT_UPDATE_TIME: i64 = 8;
    pub const NEXT_VALID_ID: i64 = 9;
    pub const CONTRACT_DATA: i64 = 10;
    pub const EXECUTION_DATA: i64 = 11;
    pub const MANAGED_ACCTS: i64 = 15;
    pub const TICK_GENERIC: i64 = 45;
    pub const CONTRACT_DATA_END: i64 = 52;
    pub const TICK_STRING: i64 = 46;
    pub const CURRENT_TIME: i64 = 49;
    pub const OPEN_ORDER_END: i64 = 53;
    pub const ACCT_DOWNLOAD_END: i64 = 54;
    pub const EXECUTION_DATA_END: i64 = 55;
    pub const MARKET_DATA_TYPE: i64 = 58;
    pub const COMMISSION_REPORT: i64 = 59;
    pub const POSITION_DATA: i64 = 61;
    pub const POSITION_END: i64 = 62;
    pub const POSITION_MULTI: i64 = 71;
    pub const POSITION_MULTI_END: i64 = 72;
    pub const ACCOUNT_UPDATE_MULTI: i64 = 73;
    pub const ACCOUNT_UPDATE_MULTI_END: i64 = 74;
    pub const MARKET_RULE: i64 = 93;
    pub const COMPLETED_ORDER: i64 = 101;
    pub const COMPLETED_ORDERS_END: i64 = 102;
}

/// A decoded TWS message.
#[derive(Clone, Debug, PartialEq)]
pub enum Incoming {
    ManagedAccounts(Vec<String>),
    NextValidId(i64),
    Error(TwsError),
    OrderStatus(OrderStatus),
    OpenOrder(Box<(Order, OrderState)>),
    OpenOrderEnd,
    CompletedOrder(Box<(Order, OrderState)>),
    CompletedOrdersEnd,
    ExecDetails(Box<Execution>),
    ExecDetailsEnd {
        req_id: i64,
    },
    CommissionReport(CommissionReport),
    AccountValue {
        key: String,
        value: String,
        currency: String,
        account: String,
    },
    Portfolio(Box<PortfolioItem>),
    AccountTime(String),
    AccountDownloadEnd(String),
    Position(Box<PositionItem>),
    PositionEnd,
    /// A position from reqPositionsMulti.
    PositionMulti {
        req_id: i64,
        item: Box<PositionItem>,
        model_code: String,
    },
    PositionMultiEnd {
        req_id: i64,
    },
    /// An account value from reqAccountUpdatesMulti.
    AccountValueMulti {
        req_id: i64,
        account: String,
        model_code: String,
        key: String,
        value: String,
        currency: String,
    },
    AccountUpdateMultiEnd {
        req_id: i64,
    },
    TickPrice {
        req_id: i64,
        tick_type: i64,
        price: f64,
        size: Option<f64>,
        attr_mask: i64,
    },
    TickSize {
        req_id: i64,
        tick_type: i64,
        size: f64,
    },
    TickString {
        req_id: i64,
        tick_type: i64,
        value: String,
    },
    TickGeneric {
        req_id: i64,
        tick_type: i64,
        value: f64,
    },
    MarketDataType {
        req_id: i64,
        data_type: i64,
    },
    CurrentTime(i64),
    ContractDetails {
        req_id: i64,
        details: Box<ContractDetails>,
    },
    ContractDetailsEnd {
        req_id: i64,
    },
    /// Price increments from `low_edge` up: `(low_edge, increment)`.
    MarketRule {
        market_rule_id: i64,
        increments: Vec<(f64, f64)>,
    },
    /// A message id ibws does not use; skipped whole (frames are length-delimited).
    Other(i64),
}

/// Decodes one frame's fields (message id first): each message family has its own
/// decoder (`session`, `orders`, `accounts`, `market_data`, `reference`); an id none of them
/// knows is skipped whole ([`Incoming::Other`]).
pub fn decode(version: i32, fields: &[Field<'_>]) -> DResult<Incoming> {
    let mut r = FieldReader::new(fields);
    let msg_id = r.int()?;
    decode_fields(msg_id, version, &mut r)
}

/// Decodes the fields after the message id (from server version 201 the id is binary,
/// ahead of the text fields: see [`crate::message`]).
pub fn decode_body(msg_id: i64, version: i32, fields: &[Field<'_>]) -> DResult<Incoming> {
    decode_fields(msg_id, version, &mut FieldReader::new(fields))
}

fn decode_fields(msg_id: i64, version: i32, r: &mut FieldReader<'_>) -> DResult<Incoming> {
    session::decode(msg_id, version, r)
        .or_else(|| orders::decode(msg_id, version, r))
        .or_else(|| accounts::decode(msg_id, version, r))
        .or_else(|| market_data::decode(msg_id, version, r))
        .or_else(|| reference::decode(msg_id, version, r))
        .unwrap_or(Ok(Incoming::Other(msg_id)))
}

impl Incoming {
    /// Encodes as TWS would at `version` (the simulator's side of the protocol).
    pub fn encode(&self, version: i32) -> Vec<u8> {
        let mut w = FieldWriter::new();
        if reference::encode(self, version, &mut w) {
            return w.frame();
        }
        match self {
            Incoming::ManagedAccounts(a) => {
                w.int(id::MANAGED_ACCTS).int(1).str(&a.join(","));
            }
            Incoming::NextValidId(n) => {
                w.int(id::NEXT_VALID_ID).int(1).int(*n);
            }
            Incoming::Error(e) => {
                w.int(id::ERROR);
                if version < v::ERROR_TIME {
                    w.int(2);
                }
                // TWS's ASCII-7 form from 175 on
                let text = |s: &str| {
                    if version >= v::ENCODE_MSG_ASCII7 {
                        encode_unicode_escapes(s).into_owned()
                    } else {
                        s.to_owned()
                    }
                };
                w.int(e.req_id).int(e.code).str(&text(&e.message));
                if version >= v::ADVANCED_ORDER_REJECT {
                    w.str(&text(&e.advanced_order_reject_json));
                }
                if version >= v::ERROR_TIME {
                    w.opt_int(e.error_time);
                }
            }
            Incoming::OrderStatus(s) => {
                w.int(id::ORDER_STATUS)
                    .int(s.order_id)
                    .str(&s.status)
                    .f64(s.filled)
                    .f64(s.remaining)
                    .f64(s.avg_fill_price)
                    .int(s.perm_id)
                    .int(s.parent_id)
                    .f64(s.last_fill_price)
                    .int(s.client_id)
                    .str(&s.why_held)
                    .f64(s.mkt_cap_price);
            }
            Incoming::OpenOrder(b) => {
                let (mut o, mut st) = (b.0.clone(), b.1.clone());
                w.int(id::OPEN_ORDER);
                order_walk::open_order(&mut Io::Write(&mut w), version, &mut o, &mut st).expect("writing cannot fail");
            }
            Incoming::OpenOrderEnd => {
                w.int(id::OPEN_ORDER_END).int(1);
            }
            Incoming::CompletedOrder(b) => {
                let (mut o, mut st) = (b.0.clone(), b.1.clone());
                w.int(id::COMPLETED_ORDER);
                order_walk::completed_order(&mut Io::Write(&mut w), version, &mut o, &mut st)
                    .expect("writing cannot fail");
            }
            Incoming::CompletedOrdersEnd => {
                w.int(id::COMPLETED_ORDERS_END);
            }
            Incoming::ExecDetails(e) => {
                w.int(id::EXECUTION_DATA).int(e.req_id).int(e.order_id);
                let mut c = e.contract.clone();
                contract_11(&mut Io::Write(&mut w), &mut c).expect("writing cannot fail");
                w.str(&e.exec_id)
                    .str(&e.time)
                    .str(&e.account)
                    .str(&e.exchange)
                    .str(&e.side)
                    .f64(e.shares)
                    .f64(e.price)
                    .int(e.perm_id)
                    .int(e.client_id)
                    .int(e.liquidation)
                    .f64(e.cum_qty)
                    .f64(e.avg_price)
                    .str(&e.order_ref)
                    .str(&e.ev_rule)
                    .opt_f64(e.ev_multiplier)
                    .str(&e.model_code)
                    .int(e.last_liquidity);
                if version >= v::PENDING_PRICE_REVISION {
                    w.bool(e.pending_price_revision);
                }
                if version >= v::SUBMITTER {
                    w.str(&e.submitter);
                }
            }
            Incoming::ExecDetailsEnd { req_id } => {
                w.int(id::EXECUTION_DATA_END).int(1).int(*req_id);
            }
            Incoming::CommissionReport(c) => {
                w.int(id::COMMISSION_REPORT)
                    .int(1)
                    .str(&c.exec_id)
                    .f64(c.commission)
                    .str(&c.currency)
                    .opt_f64(c.realized_pnl)
                    .opt_f64(c.yield_)
                    .int(c.yield_redemption_date);
            }
            Incoming::AccountValue { key, value, currency, account } => {
                let value = if version >= v::ENCODE_MSG_ASCII7 { encode_unicode_escapes(value) } else { value.into() };
                w.int(id::ACCOUNT_VALUE).int(2).str(key).str(&value).str(currency).str(account);
            }
            Incoming::Portfolio(p) => {
                let c = &p.contract;
                w.int(id::PORTFOLIO_VALUE)
                    .int(8)
                    .int(c.con_id)
                    .str(&c.symbol)
                    .str(&c.sec_type)
                    .str(&c.last_trade_date)
                    .opt_f64(c.strike)
                    .str(&c.right)
                    .str(&c.multiplier)
                    .str(&c.primary_exchange)
                    .str(&c.currency)
                    .str(&c.local_symbol)
                    .str(&c.trading_class)
                    .f64(p.position)
                    .f64(p.market_price)
                    .f64(p.market_value)
                    .f64(p.average_cost)
                    .f64(p.unrealized_pnl)
                    .f64(p.realized_pnl)
                    .str(&p.account);
            }
            Incoming::AccountTime(t) => {
                w.int(id::ACCOUNT_UPDATE_TIME).int(1).str(t);
            }
            Incoming::AccountDownloadEnd(a) => {
                w.int(id::ACCT_DOWNLOAD_END).int(1).str(a);
            }
            Incoming::Position(p) => {
                w.int(id::POSITION_DATA).int(3).str(&p.account);
                let mut c = p.contract.clone();
                contract_11(&mut Io::Write(&mut w), &mut c).expect("writing cannot fail");
                w.f64(p.position).f64(p.avg_cost);
            }
            Incoming::PositionEnd => {
                w.int(id::POSITION_END).int(1);
            }
            Incoming::PositionMulti { req_id, item, model_code } => {
                w.int(id::POSITION_MULTI).int(1).int(*req_id).str(&item.account);
                let mut c = item.contract.clone();
                contract_11(&mut Io::Write(&mut w), &mut c).expect("writing cannot fail");
                w.f64(item.position).f64(item.avg_cost).str(model_code);
            }
            Incoming::PositionMultiEnd { req_id } => {
                w.int(id::POSITION_MULTI_END).int(1).int(*req_id);
            }
            Incoming::AccountValueMulti { req_id, account, model_code, key, value, currency } => {
                let value = if version >= v::ENCODE_MSG_ASCII7 { encode_unicode_escapes(value) } else { value.into() };
                let value = &*value;
                w.int(id::ACCOUNT_UPDATE_MULTI)
                    .int(1)
                    .int(*req_id)
                    .str(account)
                    .str(model_code)
                    .str(key)
                    .str(value)
                    .str(currency);
            }
            Incoming::AccountUpdateMultiEnd { req_id } => {
                w.int(id::ACCOUNT_UPDATE_MULTI_END).int(1).int(*req_id);
            }
            Incoming::TickPrice { req_id, tick_type, price, size, attr_mask } => {
                w.int(id::TICK_PRICE).int(6).int(*req_id).int(*tick_type).f64(*price).opt_f64(*size).int(*attr_mask);
            }
            Incoming::TickSize { req_id, tick_type, size } => {
                w.int(id::TICK_SIZE).int(6).int(*req_id).int(*tick_type).f64(*size);
            }
            Incoming::TickString { req_id, tick_type, value } => {
                w.int(id::TICK_STRING).int(6).int(*req_id).int(*tick_type).str(value);
            }
            Incoming::TickGeneric { req_id, tick_type, value } => {
                w.int(id::TICK_GENERIC).int(6).int(*req_id).int(*tick_type).f64(*value);
            }
            Incoming::MarketDataType { req_id, data_type } => {
                w.int(id::MARKET_DATA_TYPE).int(1).int(*req_id).int(*data_type);
            }
            Incoming::CurrentTime(t) => {
                w.int(id::CURRENT_TIME).int(1).int(*t);
            }
            Incoming::Other(n) => {
                w.int(*n);
            }
            Incoming::ContractDetails { .. } | Incoming::ContractDetailsEnd { .. } | Incoming::MarketRule { .. } => {
                unreachable!("written by reference::encode")
            }
        }
        w.frame()
    }
}

/// Decoding never panics; this helper makes that a checked property: it returns
/// `Err` for malformed frames and `Ok` otherwise, whatever the input.
pub fn decode_frame(version: i32, payload: &[u8]) -> Result<Incoming, DecodeError> {
    decode(version, &crate::frame::split_fields(payload))
}

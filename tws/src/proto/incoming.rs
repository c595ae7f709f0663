//! Messages from TWS in protobuf: decoded into the same [`Incoming`] the text codec
//! yields, and encoded (the simulator's side). Message ids are the text ones; the
//! envelope (the id plus 200) is [`crate::message`]'s.

use prost::Message;

use super::convert::*;
use super::schema as pb;
use crate::fields::{DResult, DecodeError};
use crate::text::incoming::{id, Incoming};
use crate::types::*;

fn parse<M: Message + Default>(body: &[u8], message: &'static str) -> DResult<M> {
    M::decode(body).map_err(|_| DecodeError::Protobuf { message })
}

/// Decodes the protobuf body of message `msg_id`; an id without a protobuf decoder
/// here is skipped whole ([`Incoming::Other`]), as the text codec skips one.
pub fn decode(msg_id: i64, body: &[u8]) -> DResult<Incoming> {
    Ok(match msg_id {
        id::ORDER_STATUS => {
            let m: pb::OrderStatus = parse(body, "OrderStatus")?;
            Incoming::OrderStatus(OrderStatus {
                order_id: int(m.order_id),
                status: text(&m.status),
                filled: qty(&m.filled),
                remaining: qty(&m.remaining),
                avg_fill_price: num(m.avg_fill_price),
                perm_id: m.perm_id.unwrap_or(0),
                parent_id: int(m.parent_id),
                last_fill_price: num(m.last_fill_price),
                client_id: int(m.client_id),
                why_held: text(&m.why_held),
                mkt_cap_price: num(m.mkt_cap_price),
            })
        }
        id::ERROR => {
            let m: pb::ErrorMessage = parse(body, "ErrorMessage")?;
            Incoming::Error(TwsError {
                req_id: int(m.id),
                code: int(m.error_code),
                message: text(&m.error_msg),
                advanced_order_reject_json: text(&m.advanced_order_reject_json),
                error_time: m.error_time,
            })
        }
        id::OPEN_ORDER => {
            let m: pb::OpenOrder = parse(body, "OpenOrder")?;
            let order = order_from(m.order_id, &m.contract, &m.order);
            Incoming::OpenOrder(Box::new((order, state_from(&m.order_state))))
        }
        id::OPEN_ORDER_END => {
            let _: pb::OpenOrdersEnd = parse(body, "OpenOrdersEnd")?;
            Incoming::OpenOrderEnd
        }
        id::COMPLETED_ORDER => {
            let m: pb::CompletedOrder = parse(body, "CompletedOrder")?;
            let order = order_from(None, &m.contract, &m.order);
            Incoming::CompletedOrder(Box::new((order, state_from(&m.order_state))))
        }
        id::COMPLETED_ORDERS_END => {
            let _: pb::CompletedOrdersEnd = parse(body, "CompletedOrdersEnd")?;
            Incoming::CompletedOrdersEnd
        }
        id::EXECUTION_DATA => {
            let m: pb::ExecutionDetails = parse(body, "ExecutionDetails")?;
            let e = m.execution.unwrap_or_default();
            Incoming::ExecDetails(Box::new(Execution {
                req_id: int(m.req_id),
                order_id: int(e.order_id),
                contract: contract_from(&m.contract),
                exec_id: text(&e.exec_id),
                time: text(&e.time),
                account: text(&e.acct_number),
                exchange: text(&e.exchange),
                side: text(&e.side),
                shares: qty(&e.shares),
                price: num(e.price),
                perm_id: e.perm_id.unwrap_or(0),
                client_id: int(e.client_id),
                liquidation: i64::from(flag(e.is_liquidation)),
                cum_qty: qty(&e.cum_qty),
                avg_price: num(e.avg_price),
                order_ref: text(&e.order_ref),
                ev_rule: text(&e.ev_rule),
                ev_multiplier: opt_num(e.ev_multiplier),
                model_code: text(&e.model_code),
                last_liquidity: int(e.last_liquidity),
                pending_price_revision: flag(e.is_price_revision_pending),
                submitter: text(&e.submitter),
            }))
        }
        id::EXECUTION_DATA_END => {
            let m: pb::RequestEnd = parse(body, "ExecutionDetailsEnd")?;
            Incoming::ExecDetailsEnd { req_id: int(m.req_id) }
        }
        id::COMMISSION_REPORT => {
            let m: pb::CommissionAndFeesReport = parse(body, "CommissionAndFeesReport")?;
            Incoming::CommissionReport(CommissionReport {
                exec_id: text(&m.exec_id),
                commission: num(m.commission_and_fees),
                currency: text(&m.currency),
                realized_pnl: opt_num(m.realized_pnl),
                yield_: opt_num(m.bond_yield),
                yield_redemption_date: m
                    .yield_redemption_date
                    .as_deref()
                    .and_then(|d| d.trim().parse().ok())
                    .unwrap_or(0),
            })
        }
        id::MANAGED_ACCTS => {
            let m: pb::ManagedAccounts = parse(body, "ManagedAccounts")?;
            let list = text(&m.accounts_list);
            Incoming::ManagedAccounts(list.split(',').filter(|a| !a.is_empty()).map(str::to_owned).collect())
        }
        id::NEXT_VALID_ID => {
            let m: pb::NextValidId = parse(body, "NextValidId")?;
            Incoming::NextValidId(int(m.order_id))
        }
        id::CURRENT_TIME => {
            let m: pb::CurrentTime = parse(body, "CurrentTime")?;
            Incoming::CurrentTime(m.current_time.unwrap_or(0))
        }
        id::ACCOUNT_VALUE => {
            let m: pb::AccountValue = parse(body, "AccountValue")?;
            Incoming::AccountValue {
                key: text(&m.key),
                value: text(&m.value),
                currency: text(&m.currency),
                account: text(&m.account_name),
            }
        }
        id::PORTFOLIO_VALUE => {
            let m: pb::PortfolioValue = parse(body, "PortfolioValue")?;
            Incoming::Portfolio(Box::new(PortfolioItem {
                contract: contract_from(&m.contract),
                position: qty(&m.position),
                market_price: num(m.market_price),
                market_value: num(m.market_value),
                average_cost: num(m.average_cost),
                unrealized_pnl: num(m.unrealized_pnl),
                realized_pnl: num(m.realized_pnl),
                account: text(&m.account_name),
            }))
        }
        id::ACCOUNT_UPDATE_TIME => {
            let m: pb::AccountUpdateTime = parse(body, "AccountUpdateTime")?;
            Incoming::AccountTime(text(&m.time_stamp))
        }
        id::ACCT_DOWNLOAD_END => {
            let m: pb::AccountDataEnd = parse(body, "AccountDataEnd")?;
            Incoming::AccountDownloadEnd(text(&m.account_name))
        }
        id::POSITION_DATA => {
            let m: pb::Position = parse(body, "Position")?;
            Incoming::Position(Box::new(PositionItem {
                account: text(&m.account),
                contract: contract_from(&m.contract),
                position: qty(&m.position),
                avg_cost: num(m.avg_cost),
            }))
        }
        id::POSITION_END => {
            let _: pb::PositionEnd = parse(body, "PositionEnd")?;
            Incoming::PositionEnd
        }
        id::POSITION_MULTI => {
            let m: pb::PositionMulti = parse(body, "PositionMulti")?;
            Incoming::PositionMulti {
                req_id: int(m.req_id),
                item: Box::new(PositionItem {
                    account: text(&m.account),
                    contract: contract_from(&m.contract),
                    position: qty(&m.position),
                    avg_cost: num(m.avg_cost),
                }),
                model_code: text(&m.model_code),
            }
        }
        id::POSITION_MULTI_END => {
            let m: pb::RequestEnd = parse(body, "PositionMultiEnd")?;
            Incoming::PositionMultiEnd { req_id: int(m.req_id) }
        }
        id::ACCOUNT_UPDATE_MULTI => {
            let m: pb::AccountUpdateMulti = parse(body, "AccountUpdateMulti")?;
            Incoming::AccountValueMulti {
                req_id: int(m.req_id),
                account: text(&m.account),
                model_code: text(&m.model_code),
                key: text(&m.key),
                value: text(&m.value),
                currency: text(&m.currency),
            }
        }
        id::ACCOUNT_UPDATE_MULTI_END => {
            let m: pb::RequestEnd = parse(body, "AccountUpdateMultiEnd")?;
            Incoming::AccountUpdateMultiEnd { req_id: int(m.req_id) }
        }
        id::TICK_PRICE => {
            let m: pb::TickPrice = parse(body, "TickPrice")?;
            Incoming::TickPrice {
                req_id: int(m.req_id),
                tick_type: int(m.tick_type),
                price: num(m.price),
                size: opt_qty(&m.size),
                attr_mask: int(m.attr_mask),
            }
        }
        id::TICK_SIZE => {
            let m: pb::TickSize = parse(body, "TickSize")?;
            Incoming::TickSize { req_id: int(m.req_id), tick_type: int(m.tick_type), size: qty(&m.size) }
        }
        id::TICK_STRING => {
            let m: pb::TickString = parse(body, "TickString")?;
            Incoming::TickString { req_id: int(m.req_id), tick_type: int(m.tick_type), value: text(&m.value) }
        }
        id::TICK_GENERIC => {
            let m: pb::TickGeneric = parse(body, "TickGeneric")?;
            Incoming::TickGeneric { req_id: int(m.req_id), tick_type: int(m.tick_type), value: num(m.value) }
        }
        id::MARKET_DATA_TYPE => {
            let m: pb::MarketDataType = parse(body, "MarketDataType")?;
            Incoming::MarketDataType { req_id: int(m.req_id), data_type: int(m.market_data_type) }
        }
        id::CONTRACT_DATA => {
            let m: pb::ContractData = parse(body, "ContractData")?;
            let d = m.contract_details.unwrap_or_default();
            Incoming::ContractDetails {
                req_id: int(m.req_id),
                details: Box::new(ContractDetails {
                    contract: contract_from(&m.contract),
                    market_name: text(&d.market_name),
                    min_tick: qty(&d.min_tick),
                    order_types: text(&d.order_types),
                    valid_exchanges: text(&d.valid_exchanges),
                    long_name: text(&d.long_name),
                    industry: text(&d.industry),
                    category: text(&d.category),
                    subcategory: text(&d.subcategory),
                    time_zone_id: text(&d.time_zone_id),
                    trading_hours: text(&d.trading_hours),
                    liquid_hours: text(&d.liquid_hours),
                    market_rule_ids: text(&d.market_rule_ids),
                    stock_type: text(&d.stock_type),
                    min_size: qty(&d.min_size),
                    size_increment: qty(&d.size_increment),
                    suggested_size_increment: qty(&d.suggested_size_increment),
                }),
            }
        }
        id::CONTRACT_DATA_END => {
            let m: pb::RequestEnd = parse(body, "ContractDataEnd")?;
            Incoming::ContractDetailsEnd { req_id: int(m.req_id) }
        }
        id::MARKET_RULE => {
            let m: pb::MarketRule = parse(body, "MarketRule")?;
            Incoming::MarketRule {
                market_rule_id: int(m.market_rule_id),
                increments: m.price_increments.iter().map(|p| (num(p.low_edge), num(p.increment))).collect(),
            }
        }
        other => Incoming::Other(other),
    })
}

/// Encodes a message as TWS does in protobuf: its message id and body. `None` for a
/// message without a protobuf form here ([`Incoming::Other`]).
pub fn encode(m: &Incoming) -> Option<(i64, Vec<u8>)> {
    let (msg_id, body) = match m {
        Incoming::OrderStatus(s) => (
            id::ORDER_STATUS,
            pb::OrderStatus {
                order_id: put_i32(s.order_id),
                status: put_text(&s.status),
                filled: put_qty(s.filled),
                remaining: put_qty(s.remaining),
                avg_fill_price: Some(s.avg_fill_price),
                perm_id: put_i64(s.perm_id),
                parent_id: put_i32(s.parent_id),
                last_fill_price: Some(s.last_fill_price),
                client_id: put_i32(s.client_id),
                why_held: put_text(&s.why_held),
                mkt_cap_price: Some(s.mkt_cap_price),
            }
            .encode_to_vec(),
        ),
        Incoming::Error(e) => (
            id::ERROR,
            pb::ErrorMessage {
                id: i32::try_from(e.req_id).ok(),
                error_time: e.error_time,
                error_code: put_i32(e.code),
                error_msg: put_text(&e.message),
                advanced_order_reject_json: put_text(&e.advanced_order_reject_json),
            }
            .encode_to_vec(),
        ),
        Incoming::OpenOrder(b) => {
            let (contract, order) = order_to(&b.0);
            let m = pb::OpenOrder {
                order_id: put_i32(b.0.order_id),
                contract: Some(contract),
                order: Some(order),
                order_state: Some(state_to(&b.1)),
            };
            (id::OPEN_ORDER, m.encode_to_vec())
        }
        Incoming::OpenOrderEnd => (id::OPEN_ORDER_END, Vec::new()),
        Incoming::CompletedOrder(b) => {
            let (contract, order) = order_to(&b.0);
            let m =
                pb::CompletedOrder { contract: Some(contract), order: Some(order), order_state: Some(state_to(&b.1)) };
            (id::COMPLETED_ORDER, m.encode_to_vec())
        }
        Incoming::CompletedOrdersEnd => (id::COMPLETED_ORDERS_END, Vec::new()),
        Incoming::ExecDetails(e) => {
            let execution = pb::Execution {
                order_id: put_i32(e.order_id),
                exec_id: put_text(&e.exec_id),
                time: put_text(&e.time),
                acct_number: put_text(&e.account),
                exchange: put_text(&e.exchange),
                side: put_text(&e.side),
                shares: put_qty(e.shares),
                price: Some(e.price),
                perm_id: put_i64(e.perm_id),
                client_id: put_i32(e.client_id),
                is_liquidation: put_flag(e.liquidation != 0),
                cum_qty: put_qty(e.cum_qty),
                avg_price: Some(e.avg_price),
                order_ref: put_text(&e.order_ref),
                ev_rule: put_text(&e.ev_rule),
                ev_multiplier: e.ev_multiplier,
                model_code: put_text(&e.model_code),
                last_liquidity: put_i32(e.last_liquidity),
                is_price_revision_pending: put_flag(e.pending_price_revision),
                submitter: put_text(&e.submitter),
            };
            let m = pb::ExecutionDetails {
                req_id: i32::try_from(e.req_id).ok(),
                contract: Some(contract_to(&e.contract)),
                execution: Some(execution),
            };
            (id::EXECUTION_DATA, m.encode_to_vec())
        }
        Incoming::ExecDetailsEnd { req_id } => (id::EXECUTION_DATA_END, end(*req_id)),
        Incoming::CommissionReport(c) => (
            id::COMMISSION_REPORT,
            pb::CommissionAndFeesReport {
                exec_id: put_text(&c.exec_id),
                commission_and_fees: Some(c.commission),
                currency: put_text(&c.currency),
                realized_pnl: c.realized_pnl,
                bond_yield: c.yield_,
                yield_redemption_date: (c.yield_redemption_date != 0).then(|| c.yield_redemption_date.to_string()),
            }
            .encode_to_vec(),
        ),
        Incoming::ManagedAccounts(a) => {
            (id::MANAGED_ACCTS, pb::ManagedAccounts { accounts_list: put_text(&a.join(",")) }.encode_to_vec())
        }
        Incoming::NextValidId(n) => (id::NEXT_VALID_ID, pb::NextValidId { order_id: put_i32(*n) }.encode_to_vec()),
        Incoming::CurrentTime(t) => (id::CURRENT_TIME, pb::CurrentTime { current_time: put_i64(*t) }.encode_to_vec()),
        Incoming::AccountValue { key, value, currency, account } => (
            id::ACCOUNT_VALUE,
            pb::AccountValue {
                key: put_text(key),
                value: put_text(value),
                currency: put_text(currency),
                account_name: put_text(account),
            }
            .encode_to_vec(),
        ),
        Incoming::Portfolio(p) => (
            id::PORTFOLIO_VALUE,
            pb::PortfolioValue {
                contract: Some(contract_to(&p.contract)),
                position: put_qty(p.position),
                market_price: Some(p.market_price),
                market_value: Some(p.market_value),
                average_cost: Some(p.average_cost),
                unrealized_pnl: Some(p.unrealized_pnl),
                realized_pnl: Some(p.realized_pnl),
                account_name: put_text(&p.account),
            }
            .encode_to_vec(),
        ),
        Incoming::AccountTime(t) => {
            (id::ACCOUNT_UPDATE_TIME, pb::AccountUpdateTime { time_stamp: put_text(t) }.encode_to_vec())
        }
        Incoming::AccountDownloadEnd(a) => {
            (id::ACCT_DOWNLOAD_END, pb::AccountDataEnd { account_name: put_text(a) }.encode_to_vec())
        }
        Incoming::Position(p) => (
            id::POSITION_DATA,
            pb::Position {
                account: put_text(&p.account),
                contract: Some(contract_to(&p.contract)),
                position: put_qty(p.position),
                avg_cost: Some(p.avg_cost),
            }
            .encode_to_vec(),
        ),
        Incoming::PositionEnd => (id::POSITION_END, Vec::new()),
        Incoming::PositionMulti { req_id, item, model_code } => (
            id::POSITION_MULTI,
            pb::PositionMulti {
                req_id: i32::try_from(*req_id).ok(),
                account: put_text(&item.account),
                contract: Some(contract_to(&item.contract)),
                position: put_qty(item.position),
                avg_cost: Some(item.avg_cost),
                model_code: put_text(model_code),
            }
            .encode_to_vec(),
        ),
        Incoming::PositionMultiEnd { req_id } => (id::POSITION_MULTI_END, end(*req_id)),
        Incoming::AccountValueMulti { req_id, account, model_code, key, value, currency } => (
            id::ACCOUNT_UPDATE_MULTI,
            pb::AccountUpdateMulti {
                req_id: i32::try_from(*req_id).ok(),
                account: put_text(account),
                model_code: put_text(model_code),
                key: put_text(key),
                value: put_text(value),
                currency: put_text(currency),
            }
            .encode_to_vec(),
        ),
        Incoming::AccountUpdateMultiEnd { req_id } => (id::ACCOUNT_UPDATE_MULTI_END, end(*req_id)),
        Incoming::TickPrice { req_id, tick_type, price, size, attr_mask } => (
            id::TICK_PRICE,
            pb::TickPrice {
                req_id: i32::try_from(*req_id).ok(),
                tick_type: put_i32(*tick_type),
                price: Some(*price),
                size: put_opt_qty(*size),
                attr_mask: put_i32(*attr_mask),
            }
            .encode_to_vec(),
        ),
        Incoming::TickSize { req_id, tick_type, size } => (
            id::TICK_SIZE,
            pb::TickSize { req_id: i32::try_from(*req_id).ok(), tick_type: put_i32(*tick_type), size: put_qty(*size) }
                .encode_to_vec(),
        ),
        Incoming::TickString { req_id, tick_type, value } => (
            id::TICK_STRING,
            pb::TickString {
                req_id: i32::try_from(*req_id).ok(),
                tick_type: put_i32(*tick_type),
                value: put_text(value),
            }
            .encode_to_vec(),
        ),
        Incoming::TickGeneric { req_id, tick_type, value } => (
            id::TICK_GENERIC,
            pb::TickGeneric {
                req_id: i32::try_from(*req_id).ok(),
                tick_type: put_i32(*tick_type),
                value: Some(*value),
            }
            .encode_to_vec(),
        ),
        Incoming::MarketDataType { req_id, data_type } => (
            id::MARKET_DATA_TYPE,
            pb::MarketDataType { req_id: i32::try_from(*req_id).ok(), market_data_type: put_i32(*data_type) }
                .encode_to_vec(),
        ),
        Incoming::ContractDetails { req_id, details: d } => {
            let details = pb::ContractDetails {
                market_name: put_text(&d.market_name),
                min_tick: put_qty(d.min_tick),
                order_types: put_text(&d.order_types),
                valid_exchanges: put_text(&d.valid_exchanges),
                long_name: put_text(&d.long_name),
                industry: put_text(&d.industry),
                category: put_text(&d.category),
                subcategory: put_text(&d.subcategory),
                time_zone_id: put_text(&d.time_zone_id),
                trading_hours: put_text(&d.trading_hours),
                liquid_hours: put_text(&d.liquid_hours),
                market_rule_ids: put_text(&d.market_rule_ids),
                stock_type: put_text(&d.stock_type),
                min_size: put_qty(d.min_size),
                size_increment: put_qty(d.size_increment),
                suggested_size_increment: put_qty(d.suggested_size_increment),
            };
            let m = pb::ContractData {
                req_id: i32::try_from(*req_id).ok(),
                contract: Some(contract_to(&d.contract)),
                contract_details: Some(details),
            };
            (id::CONTRACT_DATA, m.encode_to_vec())
        }
        Incoming::ContractDetailsEnd { req_id } => (id::CONTRACT_DATA_END, end(*req_id)),
        Incoming::MarketRule { market_rule_id, increments } => (
            id::MARKET_RULE,
            pb::MarketRule {
                market_rule_id: put_i32(*market_rule_id),
                price_increments: increments
                    .iter()
                    .map(|(low_edge, increment)| pb::PriceIncrement {
                        low_edge: Some(*low_edge),
                        increment: Some(*increment),
                    })
                    .collect(),
            }
            .encode_to_vec(),
        ),
        Incoming::Other(_) => return None,
    };
    Some((msg_id, body))
}

fn end(req_id: i64) -> Vec<u8> {
    pb::RequestEnd { req_id: i32::try_from(req_id).ok() }.encode_to_vec()
}

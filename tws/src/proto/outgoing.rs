//! Requests in protobuf: encoded by the link, decoded by the simulator. Message ids
//! are the text ones; the envelope (the id plus 200) is [`crate::message`]'s.

use prost::Message;

use super::convert::*;
use super::schema as pb;
use crate::fields::{DResult, DecodeError};
use crate::text::outgoing::{id, ExecutionFilter, OrderTicket, Request};

fn parse<M: Message + Default>(body: &[u8], message: &'static str) -> DResult<M> {
    M::decode(body).map_err(|_| DecodeError::Protobuf { message })
}

fn req(v: i64) -> Option<i32> {
    i32::try_from(v).ok()
}

/// The message id and protobuf body of a request; `None` for [`Request::Other`].
pub fn encode(r: &Request) -> Option<(i64, Vec<u8>)> {
    let empty = Vec::new;
    Some(match r {
        Request::StartApi { client_id, optional_capabilities } => (
            id::START_API,
            pb::StartApiRequest { client_id: req(*client_id), optional_capabilities: put_text(optional_capabilities) }
                .encode_to_vec(),
        ),
        Request::ReqIds { num_ids } => (id::REQ_IDS, pb::IdsRequest { num_ids: req(*num_ids) }.encode_to_vec()),
        Request::ReqCurrentTime => (id::REQ_CURRENT_TIME, empty()),
        Request::ReqAutoOpenOrders { auto_bind } => {
            (id::REQ_AUTO_OPEN_ORDERS, pb::AutoOpenOrdersRequest { auto_bind: Some(*auto_bind) }.encode_to_vec())
        }
        Request::ReqAllOpenOrders => (id::REQ_ALL_OPEN_ORDERS, empty()),
        Request::ReqOpenOrders => (id::REQ_OPEN_ORDERS, empty()),
        Request::ReqCompletedOrders { api_only } => {
            (id::REQ_COMPLETED_ORDERS, pb::CompletedOrdersRequest { api_only: Some(*api_only) }.encode_to_vec())
        }
        Request::ReqExecutions { req_id, filter: f } => {
            let filter = pb::ExecutionFilter {
                client_id: put_i32(f.client_id),
                acct_code: put_text(&f.account),
                time: put_text(&f.time),
                symbol: put_text(&f.symbol),
                sec_type: put_text(&f.sec_type),
                exchange: put_text(&f.exchange),
                side: put_text(&f.side),
                last_n_days: f.last_n_days.and_then(req),
                specific_dates: f.specific_dates.iter().filter_map(|d| req(*d)).collect(),
            };
            let m = pb::ExecutionRequest { req_id: req(*req_id), execution_filter: Some(filter) };
            (id::REQ_EXECUTIONS, m.encode_to_vec())
        }
        Request::ReqAccountUpdates { subscribe, account } => (
            id::REQ_ACCOUNT_UPDATES,
            pb::AccountDataRequest { subscribe: Some(*subscribe), acct_code: put_text(account) }.encode_to_vec(),
        ),
        Request::ReqPositions => (id::REQ_POSITIONS, empty()),
        Request::ReqPositionsMulti { req_id, account, model_code } => (
            id::REQ_POSITIONS_MULTI,
            pb::MultiRequest {
                req_id: req(*req_id),
                account: put_text(account),
                model_code: put_text(model_code),
                ledger_and_nlv: None,
            }
            .encode_to_vec(),
        ),
        Request::CancelPositionsMulti { req_id } => (id::CANCEL_POSITIONS_MULTI, id_only(*req_id)),
        Request::ReqAccountUpdatesMulti { req_id, account, model_code, ledger_and_nlv } => (
            id::REQ_ACCOUNT_UPDATES_MULTI,
            pb::MultiRequest {
                req_id: req(*req_id),
                account: put_text(account),
                model_code: put_text(model_code),
                ledger_and_nlv: Some(*ledger_and_nlv),
            }
            .encode_to_vec(),
        ),
        Request::CancelAccountUpdatesMulti { req_id } => (id::CANCEL_ACCOUNT_UPDATES_MULTI, id_only(*req_id)),
        Request::ReqMktData { req_id, contract, generic_ticks, snapshot } => (
            id::REQ_MKT_DATA,
            pb::MarketDataRequest {
                req_id: req(*req_id),
                contract: Some(contract_to(contract)),
                generic_tick_list: put_text(generic_ticks),
                snapshot: Some(*snapshot),
                regulatory_snapshot: Some(false),
            }
            .encode_to_vec(),
        ),
        Request::CancelMktData { req_id } => (id::CANCEL_MKT_DATA, id_only(*req_id)),
        Request::PlaceOrder { order_id, contract, ticket: t } => {
            let order = pb::Order {
                order_id: req(*order_id),
                action: put_text(&t.action),
                total_quantity: put_qty(t.total_quantity),
                order_type: put_text(&t.order_type),
                lmt_price: t.lmt_price,
                aux_price: t.aux_price,
                tif: put_text(&t.tif),
                account: put_text(&t.account),
                order_ref: put_text(&t.order_ref),
                transmit: Some(t.transmit),
                what_if: Some(t.what_if),
                ..pb::Order::default()
            };
            let m = pb::PlaceOrderRequest {
                order_id: req(*order_id),
                contract: Some(contract_to(contract)),
                order: Some(order),
            };
            (id::PLACE_ORDER, m.encode_to_vec())
        }
        Request::CancelOrder { order_id } => (
            id::CANCEL_ORDER,
            pb::CancelOrderRequest { order_id: req(*order_id), order_cancel: Some(pb::OrderCancel::default()) }
                .encode_to_vec(),
        ),
        Request::ReqGlobalCancel => (
            id::REQ_GLOBAL_CANCEL,
            pb::GlobalCancelRequest { order_cancel: Some(pb::OrderCancel::default()) }.encode_to_vec(),
        ),
        Request::ReqContractDetails { req_id, contract } => (
            id::REQ_CONTRACT_DATA,
            pb::ContractDataRequest { req_id: req(*req_id), contract: Some(contract_to(contract)) }.encode_to_vec(),
        ),
        Request::ReqMarketRule { market_rule_id } => {
            (id::REQ_MARKET_RULE, pb::MarketRuleRequest { market_rule_id: req(*market_rule_id) }.encode_to_vec())
        }
        Request::Other(_) => return None,
    })
}

/// cancelMktData, cancelPositionsMulti, cancelAccountUpdatesMulti: the request id alone.
fn id_only(req_id: i64) -> Vec<u8> {
    pb::RequestEnd { req_id: req(req_id) }.encode_to_vec()
}

/// Decodes a request's protobuf body (the simulator's side).
pub fn decode(msg_id: i64, body: &[u8]) -> DResult<Request> {
    Ok(match msg_id {
        id::START_API => {
            let m: pb::StartApiRequest = parse(body, "StartApiRequest")?;
            Request::StartApi { client_id: int(m.client_id), optional_capabilities: text(&m.optional_capabilities) }
        }
        id::REQ_IDS => Request::ReqIds { num_ids: int(parse::<pb::IdsRequest>(body, "IdsRequest")?.num_ids) },
        id::REQ_CURRENT_TIME => {
            parse::<pb::Empty>(body, "CurrentTimeRequest")?;
            Request::ReqCurrentTime
        }
        id::REQ_AUTO_OPEN_ORDERS => Request::ReqAutoOpenOrders {
            auto_bind: flag(parse::<pb::AutoOpenOrdersRequest>(body, "AutoOpenOrdersRequest")?.auto_bind),
        },
        id::REQ_ALL_OPEN_ORDERS => {
            parse::<pb::Empty>(body, "AllOpenOrdersRequest")?;
            Request::ReqAllOpenOrders
        }
        id::REQ_OPEN_ORDERS => {
            parse::<pb::Empty>(body, "OpenOrdersRequest")?;
            Request::ReqOpenOrders
        }
        id::REQ_COMPLETED_ORDERS => Request::ReqCompletedOrders {
            api_only: flag(parse::<pb::CompletedOrdersRequest>(body, "CompletedOrdersRequest")?.api_only),
        },
        id::REQ_EXECUTIONS => {
            let m: pb::ExecutionRequest = parse(body, "ExecutionRequest")?;
            let f = m.execution_filter.unwrap_or_default();
            Request::ReqExecutions {
                req_id: int(m.req_id),
                filter: ExecutionFilter {
                    client_id: int(f.client_id),
                    account: text(&f.acct_code),
                    time: text(&f.time),
                    symbol: text(&f.symbol),
                    sec_type: text(&f.sec_type),
                    exchange: text(&f.exchange),
                    side: text(&f.side),
                    last_n_days: f.last_n_days.map(i64::from),
                    specific_dates: f.specific_dates.iter().map(|d| i64::from(*d)).collect(),
                },
            }
        }
        id::REQ_ACCOUNT_UPDATES => {
            let m: pb::AccountDataRequest = parse(body, "AccountDataRequest")?;
            Request::ReqAccountUpdates { subscribe: flag(m.subscribe), account: text(&m.acct_code) }
        }
        id::REQ_POSITIONS => {
            parse::<pb::Empty>(body, "PositionsRequest")?;
            Request::ReqPositions
        }
        id::REQ_POSITIONS_MULTI => {
            let m: pb::MultiRequest = parse(body, "PositionsMultiRequest")?;
            Request::ReqPositionsMulti {
                req_id: int(m.req_id),
                account: text(&m.account),
                model_code: text(&m.model_code),
            }
        }
        id::CANCEL_POSITIONS_MULTI => {
            Request::CancelPositionsMulti { req_id: int(parse::<pb::RequestEnd>(body, "CancelPositionsMulti")?.req_id) }
        }
        id::REQ_ACCOUNT_UPDATES_MULTI => {
            let m: pb::MultiRequest = parse(body, "AccountUpdatesMultiRequest")?;
            Request::ReqAccountUpdatesMulti {
                req_id: int(m.req_id),
                account: text(&m.account),
                model_code: text(&m.model_code),
                ledger_and_nlv: flag(m.ledger_and_nlv),
            }
        }
        id::CANCEL_ACCOUNT_UPDATES_MULTI => Request::CancelAccountUpdatesMulti {
            req_id: int(parse::<pb::RequestEnd>(body, "CancelAccountUpdatesMulti")?.req_id),
        },
        id::REQ_MKT_DATA => {
            let m: pb::MarketDataRequest = parse(body, "MarketDataRequest")?;
            Request::ReqMktData {
                req_id: int(m.req_id),
                contract: contract_from(&m.contract),
                generic_ticks: text(&m.generic_tick_list),
                snapshot: flag(m.snapshot),
            }
        }
        id::CANCEL_MKT_DATA => {
            Request::CancelMktData { req_id: int(parse::<pb::RequestEnd>(body, "CancelMarketData")?.req_id) }
        }
        id::PLACE_ORDER => {
            let m: pb::PlaceOrderRequest = parse(body, "PlaceOrderRequest")?;
            let o = m.order.unwrap_or_default();
            Request::PlaceOrder {
                order_id: int(m.order_id.or(o.order_id)),
                contract: contract_from(&m.contract),
                ticket: OrderTicket {
                    action: text(&o.action),
                    total_quantity: qty(&o.total_quantity),
                    order_type: text(&o.order_type),
                    lmt_price: opt_num(o.lmt_price),
                    aux_price: opt_num(o.aux_price),
                    tif: text(&o.tif),
                    account: text(&o.account),
                    order_ref: text(&o.order_ref),
                    // protobuf's default for an absent bool is false; TWS's for transmit is true
                    transmit: o.transmit.unwrap_or(true),
                    what_if: flag(o.what_if),
                },
            }
        }
        id::CANCEL_ORDER => Request::CancelOrder {
            order_id: int(parse::<pb::CancelOrderRequest>(body, "CancelOrderRequest")?.order_id),
        },
        id::REQ_GLOBAL_CANCEL => {
            parse::<pb::GlobalCancelRequest>(body, "GlobalCancelRequest")?;
            Request::ReqGlobalCancel
        }
        id::REQ_CONTRACT_DATA => {
            let m: pb::ContractDataRequest = parse(body, "ContractDataRequest")?;
            Request::ReqContractDetails { req_id: int(m.req_id), contract: contract_from(&m.contract) }
        }
        id::REQ_MARKET_RULE => Request::ReqMarketRule {
            market_rule_id: int(parse::<pb::MarketRuleRequest>(body, "MarketRuleRequest")?.market_rule_id),
        },
        other => Request::Other(other),
    })
}

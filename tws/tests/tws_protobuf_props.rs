//! The protobuf codec, by property: every message ibws decodes from protobuf comes
//! back as it was sent (through the real envelope: 4-byte id plus 200, then the body),
//! every request ibws sends in protobuf is read back by the simulator's side as sent,
//! and no body, however malformed, panics the decoder or gets past the envelope's
//! check unnoticed.

use ibws_tws::encoding::Encoding;
use ibws_tws::incoming::id;
use ibws_tws::message::{decode_message, decode_request, encode_incoming_as, encode_request, MessageError};
use ibws_tws::outgoing::{ExecutionFilter, OrderTicket};
use ibws_tws::types::*;
use ibws_tws::versions::{MAX_CLIENT_VERSION, PROTOBUF};
use ibws_tws::{Incoming, Request};
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[A-Za-z0-9 .:-]{1,16}", ".{1,12}"]
}

/// A double TWS sends as a value (not its "unset" marker).
fn num() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), -1e9f64..1e9, any::<f64>().prop_filter("a value", |v| v.is_finite() && *v != f64::MAX)]
}

fn opt_num() -> impl Strategy<Value = Option<f64>> {
    prop::option::of(num())
}

fn i32v() -> impl Strategy<Value = i64> {
    any::<i32>().prop_map(i64::from)
}

fn contract() -> impl Strategy<Value = Contract> {
    (i32v(), text(), text(), text(), opt_num(), text(), opt_num(), text(), text(), text(), text(), text()).prop_map(
        |(
            con_id,
            symbol,
            sec_type,
            last_trade_date,
            strike,
            right,
            mult,
            exchange,
            primary,
            currency,
            local,
            class,
        )| {
            Contract {
                con_id,
                symbol,
                sec_type,
                last_trade_date,
                strike,
                right,
                multiplier: mult.map(ibws_tws::fields::fmt_f64).unwrap_or_default(),
                exchange,
                primary_exchange: primary,
                currency,
                local_symbol: local,
                trading_class: class,
            }
        },
    )
}

fn order() -> impl Strategy<Value = Order> {
    let ids = (i32v(), i32v(), any::<i64>(), i32v(), i32v(), prop::option::of(any::<i64>()));
    let ticket = (text(), num(), text(), opt_num(), opt_num(), text(), text(), text(), text(), text());
    let rest = (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        text(),
        opt_num(),
        text(),
        text(),
        prop::collection::btree_map("[a-z]{1,8}", text(), 0..4),
        opt_num(),
        opt_num(),
        prop::option::of(any::<i32>()),
        (text(), text()),
    );
    (contract(), ids, ticket, rest).prop_map(|(contract, ids, t, r)| {
        let (order_id, client_id, perm_id, parent_id, origin, parent_perm_id) = ids;
        let (action, total_quantity, order_type, lmt_price, aux_price, tif, account, oca_group, order_ref, open_close) =
            t;
        let (
            outside_rth,
            hidden,
            what_if,
            dn_type,
            scale,
            hedge,
            algo,
            params,
            cash,
            filled,
            manual,
            (submitter, descr),
        ) = r;
        Order {
            order_id,
            contract,
            action,
            total_quantity,
            order_type,
            lmt_price,
            aux_price,
            tif,
            oca_group,
            account,
            open_close,
            origin,
            order_ref,
            client_id,
            perm_id,
            outside_rth,
            hidden,
            parent_id,
            delta_neutral_order_type: dn_type,
            combo_legs_descrip: descr,
            scale_price_increment: scale,
            hedge_type: hedge,
            algo_strategy: algo,
            algo_params: params.into_iter().collect(),
            what_if,
            cash_qty: cash,
            filled_quantity: filled,
            parent_perm_id,
            manual_order_indicator: manual.map(i64::from),
            submitter,
            ..Order::default()
        }
    })
}

fn state() -> impl Strategy<Value = OrderState> {
    (text(), prop::array::uniform9(opt_num()), opt_num(), text(), text(), text(), text()).prop_map(
        |(status, margin, commission, commission_currency, warning_text, completed_time, completed_status)| {
            OrderState {
                status,
                margin: margin.map(|m| m.map(ibws_tws::fields::fmt_f64).unwrap_or_default()),
                commission,
                commission_currency,
                warning_text,
                completed_time,
                completed_status,
            }
        },
    )
}

fn execution() -> impl Strategy<Value = Execution> {
    let a = (i32v(), i32v(), contract(), text(), text(), text(), text(), text());
    let b = (num(), num(), any::<i64>(), i32v(), any::<bool>(), num(), num(), text());
    let c = (text(), opt_num(), text(), i32v(), any::<bool>(), text());
    (a, b, c).prop_map(|(a, b, c)| Execution {
        req_id: a.0,
        order_id: a.1,
        contract: a.2,
        exec_id: a.3,
        time: a.4,
        account: a.5,
        exchange: a.6,
        side: a.7,
        shares: b.0,
        price: b.1,
        perm_id: b.2,
        client_id: b.3,
        liquidation: i64::from(b.4),
        cum_qty: b.5,
        avg_price: b.6,
        order_ref: b.7,
        ev_rule: c.0,
        ev_multiplier: c.1,
        model_code: c.2,
        last_liquidity: c.3,
        pending_price_revision: c.4,
        submitter: c.5,
    })
}

fn position() -> impl Strategy<Value = PositionItem> {
    (text(), contract(), num(), num()).prop_map(|(account, contract, position, avg_cost)| PositionItem {
        account,
        contract,
        position,
        avg_cost,
    })
}

/// Every reply ibws decodes from protobuf, with arbitrary contents.
fn reply() -> impl Strategy<Value = Incoming> {
    prop_oneof![
        (i32v(), text(), num(), num(), num(), any::<i64>(), i32v(), num(), i32v(), text(), num()).prop_map(|s| {
            Incoming::OrderStatus(OrderStatus {
                order_id: s.0,
                status: s.1,
                filled: s.2,
                remaining: s.3,
                avg_fill_price: s.4,
                perm_id: s.5,
                parent_id: s.6,
                last_fill_price: s.7,
                client_id: s.8,
                why_held: s.9,
                mkt_cap_price: s.10,
            })
        }),
        (i32v(), i32v(), text(), text(), prop::option::of(any::<i64>())).prop_map(|e| Incoming::Error(TwsError {
            req_id: e.0,
            code: e.1,
            message: e.2,
            advanced_order_reject_json: e.3,
            error_time: e.4,
        })),
        (order(), state()).prop_map(|b| Incoming::OpenOrder(Box::new(b))),
        Just(Incoming::OpenOrderEnd),
        (order(), state()).prop_map(|(o, s)| Incoming::CompletedOrder(Box::new((Order { order_id: 0, ..o }, s)))),
        Just(Incoming::CompletedOrdersEnd),
        execution().prop_map(|e| Incoming::ExecDetails(Box::new(e))),
        i32v().prop_map(|req_id| Incoming::ExecDetailsEnd { req_id }),
        (text(), num(), text(), opt_num(), opt_num(), 0i64..100_000_000).prop_map(|c| {
            Incoming::CommissionReport(CommissionReport {
                exec_id: c.0,
                commission: c.1,
                currency: c.2,
                realized_pnl: c.3,
                yield_: c.4,
                yield_redemption_date: c.5,
            })
        }),
        prop::collection::vec("[A-Z0-9]{1,8}", 0..4).prop_map(Incoming::ManagedAccounts),
        i32v().prop_map(Incoming::NextValidId),
        any::<i64>().prop_map(Incoming::CurrentTime),
        (text(), text(), text(), text()).prop_map(|(key, value, currency, account)| Incoming::AccountValue {
            key,
            value,
            currency,
            account
        }),
        (contract(), num(), num(), num(), num(), num(), num(), text()).prop_map(|p| {
            Incoming::Portfolio(Box::new(PortfolioItem {
                contract: p.0,
                position: p.1,
                market_price: p.2,
                market_value: p.3,
                average_cost: p.4,
                unrealized_pnl: p.5,
                realized_pnl: p.6,
                account: p.7,
            }))
        }),
        text().prop_map(Incoming::AccountTime),
        text().prop_map(Incoming::AccountDownloadEnd),
        position().prop_map(|p| Incoming::Position(Box::new(p))),
        Just(Incoming::PositionEnd),
        (i32v(), position(), text()).prop_map(|(req_id, item, model_code)| Incoming::PositionMulti {
            req_id,
            item: Box::new(item),
            model_code
        }),
        i32v().prop_map(|req_id| Incoming::PositionMultiEnd { req_id }),
        (i32v(), text(), text(), text(), text(), text()).prop_map(|a| Incoming::AccountValueMulti {
            req_id: a.0,
            account: a.1,
            model_code: a.2,
            key: a.3,
            value: a.4,
            currency: a.5,
        }),
        i32v().prop_map(|req_id| Incoming::AccountUpdateMultiEnd { req_id }),
        (i32v(), i32v(), num(), opt_num(), i32v()).prop_map(|t| Incoming::TickPrice {
            req_id: t.0,
            tick_type: t.1,
            price: t.2,
            size: t.3,
            attr_mask: t.4,
        }),
        (i32v(), i32v(), num()).prop_map(|(req_id, tick_type, size)| Incoming::TickSize { req_id, tick_type, size }),
        (i32v(), i32v(), text()).prop_map(|(req_id, tick_type, value)| Incoming::TickString {
            req_id,
            tick_type,
            value
        }),
        (i32v(), i32v(), num()).prop_map(|(req_id, tick_type, value)| Incoming::TickGeneric {
            req_id,
            tick_type,
            value
        }),
        (i32v(), i32v()).prop_map(|(req_id, data_type)| Incoming::MarketDataType { req_id, data_type }),
        (
            i32v(),
            contract(),
            (text(), num(), text(), text(), text(), text()),
            (text(), text(), text(), text()),
            (text(), text(), num(), num(), num())
        )
            .prop_map(|(req_id, contract, a, b, c)| Incoming::ContractDetails {
                req_id,
                details: Box::new(ContractDetails {
                    contract,
                    market_name: a.0,
                    min_tick: a.1,
                    order_types: a.2,
                    valid_exchanges: a.3,
                    long_name: a.4,
                    industry: a.5,
                    category: b.0,
                    subcategory: b.1,
                    time_zone_id: b.2,
                    trading_hours: b.3,
                    liquid_hours: c.0,
                    market_rule_ids: c.1,
                    stock_type: String::new(),
                    min_size: c.2,
                    size_increment: c.3,
                    suggested_size_increment: c.4,
                }),
            }),
        i32v().prop_map(|req_id| Incoming::ContractDetailsEnd { req_id }),
        (i32v(), prop::collection::vec((num(), num()), 0..6))
            .prop_map(|(market_rule_id, increments)| Incoming::MarketRule { market_rule_id, increments }),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    let filter = (
        i32v(),
        text(),
        text(),
        text(),
        text(),
        text(),
        text(),
        prop::option::of(i32v()),
        prop::collection::vec(i32v(), 0..4),
    )
        .prop_map(|f| ExecutionFilter {
            client_id: f.0,
            account: f.1,
            time: f.2,
            symbol: f.3,
            sec_type: f.4,
            exchange: f.5,
            side: f.6,
            last_n_days: f.7,
            specific_dates: f.8,
        });
    let ticket = (text(), num(), text(), opt_num(), opt_num(), text(), text(), text(), any::<bool>(), any::<bool>())
        .prop_map(|t| OrderTicket {
            action: t.0,
            total_quantity: t.1,
            order_type: t.2,
            lmt_price: t.3,
            aux_price: t.4,
            tif: t.5,
            account: t.6,
            order_ref: t.7,
            transmit: t.8,
            what_if: t.9,
        });
    prop_oneof![
        (i32v(), text())
            .prop_map(|(client_id, optional_capabilities)| Request::StartApi { client_id, optional_capabilities }),
        i32v().prop_map(|num_ids| Request::ReqIds { num_ids }),
        Just(Request::ReqCurrentTime),
        any::<bool>().prop_map(|auto_bind| Request::ReqAutoOpenOrders { auto_bind }),
        Just(Request::ReqAllOpenOrders),
        Just(Request::ReqOpenOrders),
        any::<bool>().prop_map(|api_only| Request::ReqCompletedOrders { api_only }),
        (i32v(), filter).prop_map(|(req_id, filter)| Request::ReqExecutions { req_id, filter }),
        (any::<bool>(), text()).prop_map(|(subscribe, account)| Request::ReqAccountUpdates { subscribe, account }),
        Just(Request::ReqPositions),
        (i32v(), text(), text()).prop_map(|(req_id, account, model_code)| Request::ReqPositionsMulti {
            req_id,
            account,
            model_code
        }),
        i32v().prop_map(|req_id| Request::CancelPositionsMulti { req_id }),
        (i32v(), text(), text(), any::<bool>()).prop_map(|(req_id, account, model_code, ledger_and_nlv)| {
            Request::ReqAccountUpdatesMulti { req_id, account, model_code, ledger_and_nlv }
        }),
        i32v().prop_map(|req_id| Request::CancelAccountUpdatesMulti { req_id }),
        (i32v(), contract(), text(), any::<bool>()).prop_map(|(req_id, contract, generic_ticks, snapshot)| {
            Request::ReqMktData { req_id, contract, generic_ticks, snapshot }
        }),
        i32v().prop_map(|req_id| Request::CancelMktData { req_id }),
        (i32v(), contract(), ticket).prop_map(|(order_id, contract, ticket)| Request::PlaceOrder {
            order_id,
            contract,
            ticket
        }),
        i32v().prop_map(|order_id| Request::CancelOrder { order_id }),
        Just(Request::ReqGlobalCancel),
        (i32v(), contract()).prop_map(|(req_id, contract)| Request::ReqContractDetails { req_id, contract }),
        i32v().prop_map(|market_rule_id| Request::ReqMarketRule { market_rule_id }),
    ]
}

/// Reply ids ibws decodes from protobuf, and one it does not.
const PROTOBUF_IDS: [i64; 31] = [
    id::TICK_PRICE,
    id::TICK_SIZE,
    id::ORDER_STATUS,
    id::ERROR,
    id::OPEN_ORDER,
    id::ACCOUNT_VALUE,
    id::PORTFOLIO_VALUE,
    id::ACCOUNT_UPDATE_TIME,
    id::NEXT_VALID_ID,
    id::CONTRACT_DATA,
    id::EXECUTION_DATA,
    id::MANAGED_ACCTS,
    id::TICK_GENERIC,
    id::CONTRACT_DATA_END,
    id::TICK_STRING,
    id::CURRENT_TIME,
    id::OPEN_ORDER_END,
    id::ACCT_DOWNLOAD_END,
    id::EXECUTION_DATA_END,
    id::MARKET_DATA_TYPE,
    id::COMMISSION_REPORT,
    id::POSITION_DATA,
    id::POSITION_END,
    id::POSITION_MULTI,
    id::POSITION_MULTI_END,
    id::ACCOUNT_UPDATE_MULTI,
    id::ACCOUNT_UPDATE_MULTI_END,
    id::MARKET_RULE,
    id::COMPLETED_ORDER,
    id::COMPLETED_ORDERS_END,
    100, // an id ibws has no decoder for: skipped whole
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_000, ..ProptestConfig::default() })]

    #[test]
    fn every_protobuf_reply_round_trips(m in reply(), version in PROTOBUF..=MAX_CLIENT_VERSION) {
        let frame = encode_incoming_as(version, &m, Encoding::Protobuf);
        let id = u32::from_be_bytes(frame[4..8].try_into().unwrap());
        prop_assert!(id > 200, "sent as protobuf: id {}", id);
        prop_assert_eq!(decode_message(version, &frame[4..]).unwrap(), m);
    }

    #[test]
    fn every_request_round_trips_at_the_highest_version(r in request()) {
        let frame = encode_request(MAX_CLIENT_VERSION, &r);
        let id = u32::from_be_bytes(frame[4..8].try_into().unwrap());
        prop_assert!(id > 200, "sent as protobuf: id {}", id);
        prop_assert_eq!(decode_request(MAX_CLIENT_VERSION, &frame[4..]).unwrap(), r);
    }

    #[test]
    fn arbitrary_protobuf_bodies_never_panic(
        msg_id in prop::sample::select(PROTOBUF_IDS.to_vec()),
        body in prop::collection::vec(any::<u8>(), 0..400),
        version in PROTOBUF..=MAX_CLIENT_VERSION,
    ) {
        let mut payload = ((msg_id + 200) as u32).to_be_bytes().to_vec();
        payload.extend_from_slice(&body);
        match decode_message(version, &payload) {
            Ok(_) | Err(MessageError::Decode { .. }) | Err(MessageError::Frame(_)) => {}
        }
        let _ = decode_request(version, &payload);
    }

    #[test]
    fn a_protobuf_reply_cut_short_is_a_desync(m in reply(), cut in any::<prop::sample::Index>()) {
        let frame = encode_incoming_as(MAX_CLIENT_VERSION, &m, Encoding::Protobuf);
        let body = &frame[8..];
        if body.is_empty() {
            return Ok(()); // the end markers: nothing to cut
        }
        let cut = 1 + cut.index(body.len());
        // a cut that ends between two top-level fields is a shorter, whole message;
        // every other cut must be caught by the envelope
        let whole = ibws_tws::frame::check_protobuf_frame(&body[..body.len() - cut]).is_ok();
        let mut payload = frame[4..8].to_vec();
        payload.extend_from_slice(&body[..body.len() - cut]);
        let r = decode_message(MAX_CLIENT_VERSION, &payload);
        prop_assert_eq!(matches!(r, Err(MessageError::Frame(_))), !whole);
    }
}

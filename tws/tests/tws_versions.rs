//! Every message ibws decodes or sends, at every server version it offers (157..=213,
//! text up to 200, then text and protobuf as [`ibws_tws::encoding`] says): what the
//! simulator writes decodes to the same message, less the fields that version does not
//! carry; from 201 each reply decodes the same in either encoding (TWS may pick either);
//! and the requests the bridge sends are read back by the simulator's side as sent. The
//! layouts themselves follow the official client's decoder and encoder (see
//! `order_walk`, `incoming`, `outgoing`, `proto`).

use ibws_tws::encoding::{reply_encoding, Encoding};
use ibws_tws::frame::split_fields;
use ibws_tws::incoming::{decode, id};
use ibws_tws::message::{decode_message, decode_request, encode_incoming, encode_incoming_as, encode_request};
use ibws_tws::outgoing::{ExecutionFilter, OrderTicket};
use ibws_tws::types::*;
use ibws_tws::versions::{self as v, MAX_CLIENT_VERSION, MIN_CLIENT_VERSION};
use ibws_tws::{Incoming, Request};

fn stock(symbol: &str) -> Contract {
    Contract {
        con_id: 265598,
        symbol: symbol.into(),
        sec_type: "STK".into(),
        exchange: "SMART".into(),
        currency: "USD".into(),
        local_symbol: symbol.into(),
        trading_class: "NMS".into(),
        ..Contract::default()
    }
}

fn order() -> (Order, OrderState) {
    let o = Order {
        order_id: 12,
        contract: stock("AAPL"),
        action: "BUY".into(),
        total_quantity: 100.0,
        order_type: "LMT".into(),
        lmt_price: Some(150.5),
        tif: "DAY".into(),
        account: "DU111".into(),
        order_ref: "mcp:desk".into(),
        client_id: 7,
        perm_id: 5_000_000_123, // above 2^32: a permId as a long (191)
        manual_order_indicator: Some(0),
        submitter: "trader1".into(),
        ..Order::default()
    };
    let st = OrderState { status: "Submitted".into(), commission_currency: "USD".into(), ..OrderState::default() };
    (o, st)
}

/// The message as a version carries it (in the encoding the simulator picks there):
/// fields added later are absent.
fn at_version(m: &Incoming, version: i32) -> Incoming {
    let encoding = match m {
        Incoming::CompletedOrder(_) => reply_encoding(version, id::COMPLETED_ORDER),
        _ => Encoding::Text,
    };
    in_encoding(m, version, encoding)
}

fn in_encoding(m: &Incoming, version: i32, encoding: Encoding) -> Incoming {
    if encoding == Encoding::Protobuf {
        return m.clone(); // every field, at every protobuf version
    }
    let mut m = m.clone();
    match &mut m {
        Incoming::OpenOrder(b) => {
            if version < v::CME_TAGGING_FIELDS_IN_OPEN_ORDER {
                b.0.manual_order_indicator = None;
            }
            if version < v::SUBMITTER {
                b.0.submitter.clear();
            }
        }
        Incoming::CompletedOrder(b) => {
            b.0.manual_order_indicator = None; // never in completedOrder
            if version < v::SUBMITTER {
                b.0.submitter.clear();
            }
        }
        Incoming::ExecDetails(e) if version < v::SUBMITTER => e.submitter.clear(),
        Incoming::Error(e) if version < v::ERROR_TIME => e.error_time = None,
        _ => {}
    }
    m
}

fn messages() -> Vec<Incoming> {
    let (o, st) = order();
    let mut completed = (Order { order_id: 0, client_id: 0, filled_quantity: Some(100.0), ..o.clone() }, st.clone());
    completed.1.status = "Filled".into();
    completed.1.commission_currency.clear(); // not in completedOrder
    completed.1.completed_time = "20261204 15:59:58 America/New_York".into();
    completed.1.completed_status = "Filled Size: 100".into();
    vec![
        Incoming::OpenOrder(Box::new((o.clone(), st.clone()))),
        Incoming::CompletedOrder(Box::new(completed)),
        Incoming::ExecDetails(Box::new(Execution {
            req_id: -1,
            order_id: 12,
            contract: stock("AAPL"),
            exec_id: "0000e0d5.6745a1b2.01.01".into(),
            time: "20261204 10:00:01 US/Eastern".into(),
            account: "DU111".into(),
            exchange: "ISLAND".into(),
            side: "BOT".into(),
            shares: 40.0,
            price: 150.25,
            perm_id: 5_000_000_123,
            client_id: 7,
            cum_qty: 40.0,
            avg_price: 150.25,
            order_ref: "mcp:desk".into(),
            last_liquidity: 2,
            submitter: "trader1".into(),
            ..Execution::default()
        })),
        Incoming::Error(TwsError {
            req_id: 12,
            code: 201,
            message: "Order rejected - reason:Not enough margin".into(),
            error_time: Some(1_796_117_400_123),
            ..TwsError::default()
        }),
        Incoming::OrderStatus(OrderStatus {
            order_id: 12,
            status: "Submitted".into(),
            filled: 40.0,
            remaining: 60.0,
            avg_fill_price: 150.25,
            perm_id: 5_000_000_123,
            client_id: 7,
            ..OrderStatus::default()
        }),
        Incoming::ContractDetails {
            req_id: 3,
            details: Box::new(ContractDetails {
                contract: Contract { primary_exchange: "NASDAQ".into(), multiplier: String::new(), ..stock("AAPL") },
                market_name: "NMS".into(),
                min_tick: 0.01,
                order_types: "LMT,MKT".into(),
                valid_exchanges: "SMART,NASDAQ".into(),
                long_name: "APPLE INC".into(),
                market_rule_ids: "26,26".into(),
                stock_type: "COMMON".into(),
                min_size: 0.0001,
                size_increment: 0.0001,
                suggested_size_increment: 100.0,
                ..ContractDetails::default()
            }),
        },
    ]
}

#[test]
fn every_incoming_message_round_trips_at_every_version() {
    for version in MIN_CLIENT_VERSION..=MAX_CLIENT_VERSION {
        for m in messages() {
            let frame = encode_incoming(version, &m);
            let decoded =
                decode_message(version, &frame[4..]).unwrap_or_else(|e| panic!("at {version}: {e:?} decoding {m:?}"));
            let expected = at_version(&m, version);
            if let Incoming::ContractDetails { details, .. } = &decoded {
                // below 164 TWS sends a single size increment
                if version < v::SIZE_RULES {
                    continue;
                }
                assert_eq!(details.contract.symbol, "AAPL", "at {version}");
            }
            assert_eq!(decoded, expected, "at {version}");
        }
    }
}

#[test]
fn from_201_every_reply_decodes_the_same_in_either_encoding() {
    for version in v::PROTOBUF..=MAX_CLIENT_VERSION {
        for m in messages() {
            for encoding in [Encoding::Text, Encoding::Protobuf] {
                let frame = encode_incoming_as(version, &m, encoding);
                let decoded = decode_message(version, &frame[4..])
                    .unwrap_or_else(|e| panic!("at {version} in {encoding:?}: {e:?} decoding {m:?}"));
                if matches!(decoded, Incoming::ContractDetails { .. }) && encoding == Encoding::Text {
                    continue; // the text contractData fills fields the test message leaves out
                }
                assert_eq!(decoded, in_encoding(&m, version, encoding), "at {version} in {encoding:?}");
            }
        }
    }
}

#[test]
fn the_what_if_section_from_195_is_walked_with_its_allocations() {
    // an openOrder as TWS writes it at 195+: the preview fields with two allocations
    let (mut o, mut st) = order();
    let mut fields: Vec<String> =
        split_fields(&Incoming::OpenOrder(Box::new((o.clone(), st.clone()))).encode(200)[4..])
            .iter()
            .map(|f| f.to_string())
            .collect();
    // the preview section starts after the status, nine margins, the commission, its
    // minimum and maximum, and its currency
    let at = fields.iter().position(|f| f == "Submitted").expect("the status") + 1 + 9 + 3 + 1;
    assert_eq!(fields[at - 1], "USD");
    let mut preview: Vec<String> = vec!["USD".into()];
    preview.extend(["1", "2", "3", "4", "5", "6", "7", "8", "9"].map(String::from));
    preview.extend(["100".into(), "".into(), "2".into()]);
    for acct in ["DU111", "DU222"] {
        preview.extend([acct, "0", "100", "100", "50", "50", "0"].map(String::from));
    }
    fields.splice(at..at + 13, preview);
    let decoded = decode(200, &fields.iter().map(|s| s.as_str().into()).collect::<Vec<_>>()).unwrap();
    o.manual_order_indicator = Some(0);
    st.commission_currency = "USD".into();
    assert_eq!(decoded, Incoming::OpenOrder(Box::new((o, st))));
}

#[test]
fn every_request_the_bridge_sends_is_read_back_at_every_version() {
    let filter = ExecutionFilter { last_n_days: Some(3), specific_dates: vec![20261204], ..ExecutionFilter::default() };
    let ticket = OrderTicket { what_if: true, ..OrderTicket::limit("BUY", 10.0, 150.0).with_ref("mcp:desk") };
    for version in MIN_CLIENT_VERSION..=MAX_CLIENT_VERSION {
        let requests = [
            Request::ReqExecutions { req_id: 9, filter: filter.clone() },
            Request::CancelOrder { order_id: 12 },
            Request::ReqGlobalCancel,
            Request::PlaceOrder { order_id: 12, contract: stock("AAPL"), ticket: ticket.clone() },
        ];
        for r in requests {
            let frame = encode_request(version, &r);
            let back = decode_request(version, &frame[4..]).unwrap();
            let expected = match (&r, version < v::PARAMETRIZED_DAYS_OF_EXECUTIONS) {
                (Request::ReqExecutions { req_id, .. }, true) => {
                    Request::ReqExecutions { req_id: *req_id, filter: ExecutionFilter::default() }
                }
                _ => r.clone(),
            };
            match (&back, &expected) {
                (
                    Request::PlaceOrder { order_id: a, ticket: t, .. },
                    Request::PlaceOrder { order_id: b, ticket: u, .. },
                ) => {
                    assert_eq!((a, t), (b, u), "at {version}");
                }
                _ => assert_eq!(back, expected, "at {version}"),
            }
        }
    }
}

#[test]
fn cancel_and_global_cancel_lose_their_version_field_at_192() {
    let fields = |r: &Request, version: i32| -> Vec<String> {
        split_fields(&r.encode(version)[4..]).iter().map(|f| f.to_string()).collect()
    };
    // id, version, orderId, manualOrderCancelTime
    assert_eq!(fields(&Request::CancelOrder { order_id: 12 }, 178), ["4", "1", "12", ""]);
    // plus the RFQ fields of 187..190
    assert_eq!(fields(&Request::CancelOrder { order_id: 12 }, 188), ["4", "1", "12", "", "", "", ""]);
    // id, orderId, manualOrderCancelTime, extOperator, manualOrderIndicator
    assert_eq!(fields(&Request::CancelOrder { order_id: 12 }, 200), ["4", "12", "", "", ""]);
    assert_eq!(fields(&Request::ReqGlobalCancel, 178), ["58", "1", ""]);
    assert_eq!(fields(&Request::ReqGlobalCancel, 200), ["58", "", ""]);
    // reqExecutions at 200: lastNDays, then the count of specific dates and each
    let f = fields(
        &Request::ReqExecutions {
            req_id: 9,
            filter: ExecutionFilter { last_n_days: Some(3), ..ExecutionFilter::default() },
        },
        200,
    );
    assert_eq!(&f[f.len() - 2..], ["3", "0"]);
}

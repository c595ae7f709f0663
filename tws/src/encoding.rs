//! Which encoding a message travels in, by server version: text up to 200; from 201
//! (see [`crate::versions`]) one group of message families after another moves to
//! protobuf, until at 213 every request ibws sends is protobuf.
//!
//! Requests follow the official clients' table (a request is protobuf from the
//! version its group moved). Replies are TWS's choice: a client must accept either
//! encoding for any reply from 201 on, and ibws's decoder does ([`crate::message`]
//! reads the encoding from each frame's id). [`reply_encoding`] is what the simulator
//! sends, modelled on the same groups, so that between 201 and 210 a session mixes
//! encodings as TWS's does: an execution in protobuf, its commission report in text.

use crate::text::incoming::id as inc;
use crate::text::outgoing::id as out;
use crate::versions as v;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Text,
    Protobuf,
}

fn from(version: i32, since: Option<i32>) -> Encoding {
    match since {
        Some(s) if version >= s => Encoding::Protobuf,
        _ => Encoding::Text,
    }
}

/// The first version at which request `msg_id` is sent in protobuf.
pub fn request_protobuf_since(msg_id: i64) -> Option<i32> {
    Some(match msg_id {
        out::REQ_EXECUTIONS => v::PROTOBUF,
        out::PLACE_ORDER | out::CANCEL_ORDER | out::REQ_GLOBAL_CANCEL => v::PROTOBUF_PLACE_ORDER,
        out::REQ_ALL_OPEN_ORDERS | out::REQ_AUTO_OPEN_ORDERS | out::REQ_OPEN_ORDERS | out::REQ_COMPLETED_ORDERS => {
            v::PROTOBUF_COMPLETED_ORDER
        }
        out::REQ_CONTRACT_DATA => v::PROTOBUF_CONTRACT_DATA,
        out::REQ_MKT_DATA | out::CANCEL_MKT_DATA => v::PROTOBUF_MARKET_DATA,
        out::REQ_ACCOUNT_UPDATES
        | out::REQ_POSITIONS
        | out::REQ_POSITIONS_MULTI
        | out::CANCEL_POSITIONS_MULTI
        | out::REQ_ACCOUNT_UPDATES_MULTI
        | out::CANCEL_ACCOUNT_UPDATES_MULTI => v::PROTOBUF_ACCOUNTS_POSITIONS,
        out::REQ_MARKET_RULE => v::PROTOBUF_REST_MESSAGES_2,
        out::REQ_IDS | out::REQ_CURRENT_TIME | out::START_API => v::PROTOBUF_REST_MESSAGES_3,
        _ => return None,
    })
}

/// How request `msg_id` is encoded for a server at `version`.
pub fn request_encoding(version: i32, msg_id: i64) -> Encoding {
    from(version, request_protobuf_since(msg_id))
}

/// The first version at which the simulator sends reply `msg_id` in protobuf:
/// orders, order status, executions and errors with the first protobuf version;
/// completed orders, contract data, market data, then accounts and positions with
/// their requests' groups; commission reports, market rules, then the session's
/// messages (next id, current time) last.
pub fn reply_protobuf_since(msg_id: i64) -> Option<i32> {
    Some(match msg_id {
        inc::ORDER_STATUS
        | inc::ERROR
        | inc::OPEN_ORDER
        | inc::OPEN_ORDER_END
        | inc::EXECUTION_DATA
        | inc::EXECUTION_DATA_END => v::PROTOBUF,
        inc::COMPLETED_ORDER | inc::COMPLETED_ORDERS_END => v::PROTOBUF_COMPLETED_ORDER,
        inc::CONTRACT_DATA | inc::CONTRACT_DATA_END => v::PROTOBUF_CONTRACT_DATA,
        inc::TICK_PRICE | inc::TICK_SIZE | inc::TICK_STRING | inc::TICK_GENERIC | inc::MARKET_DATA_TYPE => {
            v::PROTOBUF_MARKET_DATA
        }
        inc::ACCOUNT_VALUE
        | inc::PORTFOLIO_VALUE
        | inc::ACCOUNT_UPDATE_TIME
        | inc::ACCT_DOWNLOAD_END
        | inc::POSITION_DATA
        | inc::POSITION_END
        | inc::POSITION_MULTI
        | inc::POSITION_MULTI_END
        | inc::ACCOUNT_UPDATE_MULTI
        | inc::ACCOUNT_UPDATE_MULTI_END
        | inc::MANAGED_ACCTS => v::PROTOBUF_ACCOUNTS_POSITIONS,
        inc::COMMISSION_REPORT => v::PROTOBUF_REST_MESSAGES_1,
        inc::MARKET_RULE => v::PROTOBUF_REST_MESSAGES_2,
        inc::NEXT_VALID_ID | inc::CURRENT_TIME => v::PROTOBUF_REST_MESSAGES_3,
        _ => return None,
    })
}

/// How the simulator encodes reply `msg_id` at `version`.
pub fn reply_encoding(version: i32, msg_id: i64) -> Encoding {
    from(version, reply_protobuf_since(msg_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_is_text_up_to_200_and_every_request_is_protobuf_at_213() {
        let requests = [
            out::REQ_MKT_DATA,
            out::CANCEL_MKT_DATA,
            out::PLACE_ORDER,
            out::CANCEL_ORDER,
            out::REQ_OPEN_ORDERS,
            out::REQ_ACCOUNT_UPDATES,
            out::REQ_EXECUTIONS,
            out::REQ_IDS,
            out::REQ_CONTRACT_DATA,
            out::REQ_AUTO_OPEN_ORDERS,
            out::REQ_ALL_OPEN_ORDERS,
            out::REQ_CURRENT_TIME,
            out::REQ_GLOBAL_CANCEL,
            out::REQ_POSITIONS,
            out::START_API,
            out::REQ_POSITIONS_MULTI,
            out::CANCEL_POSITIONS_MULTI,
            out::REQ_ACCOUNT_UPDATES_MULTI,
            out::CANCEL_ACCOUNT_UPDATES_MULTI,
            out::REQ_MARKET_RULE,
            out::REQ_COMPLETED_ORDERS,
        ];
        for r in requests {
            assert_eq!(request_encoding(v::TEXT_ONLY_MAX, r), Encoding::Text, "request {r}");
            assert_eq!(request_encoding(v::PROTOBUF_REST_MESSAGES_3, r), Encoding::Protobuf, "request {r}");
        }
        assert_eq!(request_encoding(v::PROTOBUF, out::REQ_EXECUTIONS), Encoding::Protobuf);
        assert_eq!(request_encoding(202, out::PLACE_ORDER), Encoding::Text);
        assert_eq!(request_encoding(203, out::PLACE_ORDER), Encoding::Protobuf);
        assert_eq!(request_encoding(212, out::START_API), Encoding::Text);
        // mixed between 201 and 210: the execution in protobuf, its commission in text
        assert_eq!(reply_encoding(205, inc::EXECUTION_DATA), Encoding::Protobuf);
        assert_eq!(reply_encoding(205, inc::COMMISSION_REPORT), Encoding::Text);
        assert_eq!(reply_encoding(v::TEXT_ONLY_MAX, inc::ERROR), Encoding::Text);
    }
}

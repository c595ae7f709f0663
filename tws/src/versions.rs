//! Server versions that change message layouts, and the range we negotiate.
//!
//! We offer `v157..213`: every TWS and IB Gateway build of the last several years
//! answers inside it. Up to 200 every message is NUL-delimited text; from 201 each
//! frame starts with a binary message id and message families move to protobuf one
//! group at a time until 213, where every request ibws sends is protobuf (the table
//! is [`crate::encoding`]). The codec walks every layout change of the range in both
//! directions, and the simulator answers at any version of it. A user whose TWS
//! misbehaves at the top of the range pins a lower one (`--tws-max-version`, down to
//! [`MIN_CLIENT_VERSION`]).

pub const MIN_CLIENT_VERSION: i32 = 157;
pub const MAX_CLIENT_VERSION: i32 = PROTOBUF_REST_MESSAGES_3;
/// The last version of the text encoding alone.
pub const TEXT_ONLY_MAX: i32 = 200;
/// The highest version before this codec walked the 179..200 layouts (ib_async 2's).
pub const TEXT_V178: i32 = 178;

pub const DURATION: i32 = 158;
pub const POST_TO_ATS: i32 = 160;
pub const AUTO_CANCEL_PARENT: i32 = 162;
pub const ADVANCED_ORDER_REJECT: i32 = 166;
pub const MANUAL_ORDER_TIME: i32 = 169;
pub const PEGBEST_PEGMID_OFFSETS: i32 = 170;
/// contractData loses its version field and carries minSize and sizeIncrement.
pub const SIZE_RULES: i32 = 164;
/// Text beyond ASCII is sent as `\uXXXX` escapes (error text, reject JSON, account
/// values, contract names).
pub const ENCODE_MSG_ASCII7: i32 = 175;
pub const BOND_ISSUERID: i32 = 176;
pub const FA_PROFILE_DESUPPORT: i32 = 177;
pub const PENDING_PRICE_REVISION: i32 = 178;
/// contractData: fund fields for secType FUND.
pub const FUND_DATA_FIELDS: i32 = 179;
/// contractData: `lastTradeDate` after the contract month.
pub const LAST_TRADE_DATE: i32 = 182;
/// placeOrder, openOrder, completedOrder: `customerAccount`.
pub const CUSTOMER_ACCOUNT: i32 = 183;
/// placeOrder, openOrder, completedOrder: `professionalCustomer`.
pub const PROFESSIONAL_CUSTOMER: i32 = 184;
/// openOrder: `bondAccruedInterest`.
pub const BOND_ACCRUED_INTEREST: i32 = 185;
/// contractData: the list of ineligibility reasons.
pub const INELIGIBILITY_REASONS: i32 = 186;
/// placeOrder and cancelOrder carried RFQ fields from 187 until 190 took them out.
pub const RFQ_FIELDS: i32 = 187;
/// placeOrder, openOrder: `includeOvernight`.
pub const INCLUDE_OVERNIGHT: i32 = 189;
pub const UNDO_RFQ_FIELDS: i32 = 190;
/// permIds may exceed 32 bits (ibws keeps them as i64 at every version).
pub const PERM_ID_AS_LONG: i32 = 191;
/// placeOrder: `manualOrderIndicator`; cancelOrder and reqGlobalCancel lose their
/// version field and carry `extOperator` and `manualOrderIndicator`.
pub const CME_TAGGING_FIELDS: i32 = 192;
/// openOrder: `extOperator`, `manualOrderIndicator`.
pub const CME_TAGGING_FIELDS_IN_OPEN_ORDER: i32 = 193;
/// error: no version field; `errorTime` (when TWS raised it, ms since the epoch).
pub const ERROR_TIME: i32 = 194;
/// openOrder's what-if section: margins outside regular hours, suggested size,
/// reject reason, allocations.
pub const FULL_ORDER_PREVIEW_FIELDS: i32 = 195;
/// reqCurrentTimeInMillis exists.
pub const CURRENT_TIME_IN_MILLIS: i32 = 197;
/// openOrder, completedOrder, execDetails: `submitter` (who submitted the order).
pub const SUBMITTER: i32 = 198;
/// placeOrder, openOrder: `imbalanceOnly`.
pub const IMBALANCE_ONLY: i32 = 199;
/// reqExecutions: `lastNDays` and `specificDates` (executions of up to 7 days back).
pub const PARAMETRIZED_DAYS_OF_EXECUTIONS: i32 = 200;
/// Frames carry a 4-byte binary message id; an id above 200 marks a protobuf body.
/// reqExecutions is protobuf from here (and TWS may send any reply in protobuf).
pub const PROTOBUF: i32 = 201;
/// placeOrder, cancelOrder, reqGlobalCancel in protobuf.
pub const PROTOBUF_PLACE_ORDER: i32 = 203;
/// reqOpenOrders, reqAllOpenOrders, reqAutoOpenOrders, reqCompletedOrders.
pub const PROTOBUF_COMPLETED_ORDER: i32 = 204;
/// reqContractData.
pub const PROTOBUF_CONTRACT_DATA: i32 = 205;
/// reqMktData, cancelMktData (and market depth, market data type).
pub const PROTOBUF_MARKET_DATA: i32 = 206;
/// reqAccountUpdates, reqPositions, the *Multi requests, managed accounts.
pub const PROTOBUF_ACCOUNTS_POSITIONS: i32 = 207;
/// Historical data (208), news (209), scanner, PnL (210), FA and option
/// calculations (211): no request ibws sends.
pub const PROTOBUF_REST_MESSAGES_1: i32 = 211;
/// reqMarketRule (with sec-def parameters, family codes, matching symbols...).
pub const PROTOBUF_REST_MESSAGES_2: i32 = 212;
/// startApi, reqIds, reqCurrentTime: from here every request is protobuf.
pub const PROTOBUF_REST_MESSAGES_3: i32 = 213;

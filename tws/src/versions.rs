//! Server versions that change message layouts, and the range we negotiate.
//!
//! We offer `v157..178`, the same range as ib_async, a widely used client: every TWS
//! and IB Gateway build of the last several years answers inside it, all of it is
//! plain NUL-delimited text (protobuf starts at 201), and our decoder walks every
//! layout change inside it. Layout changes above 178 (e.g. the error time at 194)
//! are decoded too where noted, so a later widening of the range is a small step.

pub const MIN_CLIENT_VERSION: i32 = 157;
pub const MAX_CLIENT_VERSION: i32 = 178;

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
pub const ERROR_TIME: i32 = 194;

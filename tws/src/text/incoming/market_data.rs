//! Market data: price, size, string and generic ticks, and the data type (live or
//! delayed) a subscription gets.

use super::{id, Incoming};
use crate::fields::{DResult, FieldReader};

/// The message ids of this family.
const FAMILY: [i64; 5] = [id::TICK_PRICE, id::TICK_SIZE, id::TICK_STRING, id::TICK_GENERIC, id::MARKET_DATA_TYPE];

/// Decodes a message of this family (its id already read); `None` for another
/// family's id.
pub(super) fn decode(msg_id: i64, version: i32, r: &mut FieldReader<'_>) -> Option<DResult<Incoming>> {
    FAMILY.contains(&msg_id).then(|| read(msg_id, version, r))
}

fn read(msg_id: i64, _version: i32, r: &mut FieldReader<'_>) -> DResult<Incoming> {
    Ok(match msg_id {
        id::TICK_PRICE => {
            r.skip(1)?;
            Incoming::TickPrice {
                req_id: r.int()?,
                tick_type: r.int()?,
                price: r.f64()?,
                size: r.opt_f64()?,
                attr_mask: r.int()?,
            }
        }
        id::TICK_SIZE => {
            r.skip(1)?;
            Incoming::TickSize { req_id: r.int()?, tick_type: r.int()?, size: r.f64()? }
        }
        id::TICK_STRING => {
            r.skip(1)?;
            Incoming::TickString { req_id: r.int()?, tick_type: r.int()?, value: r.string()? }
        }
        id::TICK_GENERIC => {
            r.skip(1)?;
            Incoming::TickGeneric { req_id: r.int()?, tick_type: r.int()?, value: r.f64()? }
        }
        id::MARKET_DATA_TYPE => {
            r.skip(1)?;
            Incoming::MarketDataType { req_id: r.int()?, data_type: r.int()? }
        }
        other => Incoming::Other(other),
    })
}

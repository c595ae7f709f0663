//! Reference data: contract details and market rules (price increments). Agents' order
//! tools ask for both before they place an order, so the simulator answers them and
//! the decoder reads them.

use super::{id, Incoming};
use crate::fields::{decode_unicode_escapes, encode_unicode_escapes, DResult, FieldReader, FieldWriter};
use crate::types::*;
use crate::versions as v;

/// A fund's fields in contractData from 179 (name, family, type, loads, fees, closed
/// flags, purchase minimums, blue-sky states and territories, distribution policy,
/// asset type).
const FUND_FIELDS: usize = 17;

/// The message ids of this family.
const FAMILY: [i64; 3] = [id::CONTRACT_DATA, id::CONTRACT_DATA_END, id::MARKET_RULE];

/// Decodes a message of this family (its id already read); `None` for another
/// family's id.
pub(super) fn decode(msg_id: i64, version: i32, r: &mut FieldReader<'_>) -> Option<DResult<Incoming>> {
    FAMILY.contains(&msg_id).then(|| read(msg_id, version, r))
}

fn read(msg_id: i64, version: i32, r: &mut FieldReader<'_>) -> DResult<Incoming> {
    Ok(match msg_id {
        id::CONTRACT_DATA => {
            if version < v::SIZE_RULES {
                r.skip(1)?; // message version
            }
            let req_id = r.int()?;
            let mut d = ContractDetails::default();
            let c = &mut d.contract;
            c.symbol = r.string()?;
            c.sec_type = r.string()?;
            c.last_trade_date = r.string()?;
            if version >= v::LAST_TRADE_DATE {
                r.skip(1)?; // lastTradeDate
            }
            c.strike = r.opt_f64()?;
            c.right = r.string()?;
            c.exchange = r.string()?;
            c.currency = r.string()?;
            c.local_symbol = r.string()?;
            d.market_name = r.string()?;
            d.contract.trading_class = r.string()?;
            d.contract.con_id = r.int()?;
            d.min_tick = r.f64()?;
            if version < v::SIZE_RULES {
                r.skip(1)?; // mdSizeMultiplier
            }
            d.contract.multiplier = r.string()?;
            d.order_types = r.string()?;
            d.valid_exchanges = r.string()?;
            r.skip(2)?; // priceMagnifier, underConId
            d.long_name = r.string()?;
            if version >= v::ENCODE_MSG_ASCII7 {
                d.long_name = decode_unicode_escapes(&d.long_name).into_owned();
            }
            d.contract.primary_exchange = r.string()?;
            r.skip(1)?; // contractMonth
            d.industry = r.string()?;
            d.category = r.string()?;
            d.subcategory = r.string()?;
            d.time_zone_id = r.string()?;
            d.trading_hours = r.string()?;
            d.liquid_hours = r.string()?;
            r.skip(2)?; // evRule, evMultiplier
            let sec_ids = r.count()?;
            r.skip(sec_ids.saturating_mul(2))?;
            r.skip(3)?; // aggGroup, underSymbol, underSecType
            d.market_rule_ids = r.string()?;
            r.skip(1)?; // realExpirationDate
            d.stock_type = r.string()?;
            if version == v::SIZE_RULES - 1 {
                d.suggested_size_increment = r.f64()?;
            }
            if version >= v::SIZE_RULES {
                d.min_size = r.f64()?;
                d.size_increment = r.f64()?;
                d.suggested_size_increment = r.f64()?;
            }
            if version >= v::FUND_DATA_FIELDS && d.contract.sec_type == "FUND" {
                r.skip(FUND_FIELDS)?;
            }
            if version >= v::INELIGIBILITY_REASONS {
                let reasons = r.count()?;
                r.skip(reasons.saturating_mul(2))?; // id, description
            }
            Incoming::ContractDetails { req_id, details: Box::new(d) }
        }
        id::CONTRACT_DATA_END => {
            r.skip(1)?;
            Incoming::ContractDetailsEnd { req_id: r.int()? }
        }
        id::MARKET_RULE => {
            let market_rule_id = r.int()?;
            let n = r.count()?;
            let mut increments = Vec::with_capacity(n.min(r.remaining() / 2));
            for _ in 0..n {
                increments.push((r.f64()?, r.f64()?));
            }
            Incoming::MarketRule { market_rule_id, increments }
        }
        other => Incoming::Other(other),
    })
}

/// Writes a message of this family as TWS would at `version`; `false` for another's.
pub(super) fn encode(m: &Incoming, version: i32, w: &mut FieldWriter) -> bool {
    match m {
        Incoming::ContractDetails { req_id, details: d } => {
            let c = &d.contract;
            w.int(id::CONTRACT_DATA);
            if version < v::SIZE_RULES {
                w.int(8);
            }
            w.int(*req_id).str(&c.symbol).str(&c.sec_type).str(&c.last_trade_date);
            if version >= v::LAST_TRADE_DATE {
                w.str(&c.last_trade_date);
            }
            w.opt_f64(c.strike);
            w.str(&c.right).str(&c.exchange).str(&c.currency).str(&c.local_symbol).str(&d.market_name);
            w.str(&c.trading_class).int(c.con_id).f64(d.min_tick);
            if version < v::SIZE_RULES {
                w.int(1);
            }
            w.str(&c.multiplier).str(&d.order_types).str(&d.valid_exchanges).int(1).int(0);
            let long_name = if version >= v::ENCODE_MSG_ASCII7 {
                encode_unicode_escapes(&d.long_name)
            } else {
                d.long_name.as_str().into()
            };
            w.str(&long_name).str(&c.primary_exchange).str("").str(&d.industry).str(&d.category);
            w.str(&d.subcategory).str(&d.time_zone_id).str(&d.trading_hours).str(&d.liquid_hours);
            w.str("").str("").int(0); // evRule, evMultiplier, no secIds
            w.int(1).str("").str("").str(&d.market_rule_ids).str("").str(&d.stock_type);
            if version == v::SIZE_RULES - 1 {
                w.f64(d.suggested_size_increment);
            }
            if version >= v::SIZE_RULES {
                w.f64(d.min_size).f64(d.size_increment).f64(d.suggested_size_increment);
            }
            if version >= v::FUND_DATA_FIELDS && c.sec_type == "FUND" {
                w.empty(FUND_FIELDS);
            }
            if version >= v::INELIGIBILITY_REASONS {
                w.int(0);
            }
        }
        Incoming::ContractDetailsEnd { req_id } => {
            w.int(id::CONTRACT_DATA_END).int(1).int(*req_id);
        }
        Incoming::MarketRule { market_rule_id, increments } => {
            w.int(id::MARKET_RULE).int(*market_rule_id).int(increments.len() as i64);
            for (low_edge, increment) in increments {
                w.f64(*low_edge).f64(*increment);
            }
        }
        _ => return false,
    }
    true
}

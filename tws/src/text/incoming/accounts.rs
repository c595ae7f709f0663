//! Accounts: account values and portfolio (reqAccountUpdates), positions, and their
//! per-account ("multi") forms.

use super::{id, Incoming};
use crate::fields::{decode_unicode_escapes, DResult, FieldReader};
use crate::order_walk::{contract_11, Io};
use crate::types::*;
use crate::versions as v;

/// The message ids of this family.
const FAMILY: [i64; 10] = [
    id::ACCOUNT_VALUE,
    id::PORTFOLIO_VALUE,
    id::ACCOUNT_UPDATE_TIME,
    id::ACCT_DOWNLOAD_END,
    id::POSITION_DATA,
    id::POSITION_END,
    id::POSITION_MULTI,
    id::POSITION_MULTI_END,
    id::ACCOUNT_UPDATE_MULTI,
    id::ACCOUNT_UPDATE_MULTI_END,
];

/// Decodes a message of this family (its id already read); `None` for another
/// family's id.
pub(super) fn decode(msg_id: i64, version: i32, r: &mut FieldReader<'_>) -> Option<DResult<Incoming>> {
    FAMILY.contains(&msg_id).then(|| read(msg_id, version, r))
}

fn read(msg_id: i64, version: i32, r: &mut FieldReader<'_>) -> DResult<Incoming> {
    Ok(match msg_id {
        id::ACCOUNT_VALUE => {
            r.skip(1)?;
            let key = r.string()?;
            let value = r.str()?;
            let value = if version >= v::ENCODE_MSG_ASCII7 {
                decode_unicode_escapes(value).into_owned()
            } else {
                value.to_owned()
            };
            Incoming::AccountValue { key, value, currency: r.string()?, account: r.string()? }
        }
        id::PORTFOLIO_VALUE => {
            r.skip(1)?;
            let mut c =
                Contract { con_id: r.int()?, symbol: r.string()?, sec_type: r.string()?, ..Contract::default() };
            c.last_trade_date = r.string()?;
            c.strike = r.opt_f64()?;
            c.right = r.string()?;
            c.multiplier = r.string()?;
            c.primary_exchange = r.string()?;
            c.currency = r.string()?;
            c.local_symbol = r.string()?;
            c.trading_class = r.string()?;
            Incoming::Portfolio(Box::new(PortfolioItem {
                contract: c,
                position: r.f64()?,
                market_price: r.f64()?,
                market_value: r.f64()?,
                average_cost: r.f64()?,
                unrealized_pnl: r.f64()?,
                realized_pnl: r.f64()?,
                account: r.string()?,
            }))
        }
        id::ACCOUNT_UPDATE_TIME => {
            r.skip(1)?;
            Incoming::AccountTime(r.string()?)
        }
        id::ACCT_DOWNLOAD_END => {
            r.skip(1)?;
            Incoming::AccountDownloadEnd(r.string()?)
        }
        id::POSITION_DATA => {
            r.skip(1)?;
            let account = r.string()?;
            let mut c = Contract::default();
            contract_11(&mut Io::Read(r), &mut c)?;
            Incoming::Position(Box::new(PositionItem { account, contract: c, position: r.f64()?, avg_cost: r.f64()? }))
        }
        id::POSITION_END => Incoming::PositionEnd,
        id::POSITION_MULTI => {
            r.skip(1)?;
            let req_id = r.int()?;
            let account = r.string()?;
            let mut c = Contract::default();
            contract_11(&mut Io::Read(r), &mut c)?;
            let item = Box::new(PositionItem { account, contract: c, position: r.f64()?, avg_cost: r.f64()? });
            Incoming::PositionMulti { req_id, item, model_code: r.string()? }
        }
        id::POSITION_MULTI_END => {
            r.skip(1)?;
            Incoming::PositionMultiEnd { req_id: r.int()? }
        }
        id::ACCOUNT_UPDATE_MULTI => {
            r.skip(1)?;
            Incoming::AccountValueMulti {
                req_id: r.int()?,
                account: r.string()?,
                model_code: r.string()?,
                key: r.string()?,
                value: {
                    let value = r.str()?;
                    if version >= v::ENCODE_MSG_ASCII7 {
                        decode_unicode_escapes(value).into_owned()
                    } else {
                        value.to_owned()
                    }
                },
                currency: r.string()?,
            }
        }
        id::ACCOUNT_UPDATE_MULTI_END => {
            r.skip(1)?;
            Incoming::AccountUpdateMultiEnd { req_id: r.int()? }
        }
        other => Incoming::Other(other),
    })
}

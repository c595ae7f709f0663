//! Session-level messages: the accounts this login manages, the next order id, errors
//! and notices (codes with their request id), and TWS's clock.

use super::{id, Incoming};
use crate::fields::{decode_unicode_escapes, DResult, FieldReader};
use crate::types::*;
use crate::versions as v;

/// The message ids of this family.
const FAMILY: [i64; 4] = [id::MANAGED_ACCTS, id::NEXT_VALID_ID, id::ERROR, id::CURRENT_TIME];

/// Decodes a message of this family (its id already read); `None` for another
/// family's id.
pub(super) fn decode(msg_id: i64, version: i32, r: &mut FieldReader<'_>) -> Option<DResult<Incoming>> {
    FAMILY.contains(&msg_id).then(|| read(msg_id, version, r))
}

fn read(msg_id: i64, version: i32, r: &mut FieldReader<'_>) -> DResult<Incoming> {
    Ok(match msg_id {
        id::MANAGED_ACCTS => {
            r.skip(1)?;
            Incoming::ManagedAccounts(r.str()?.split(',').filter(|a| !a.is_empty()).map(str::to_owned).collect())
        }
        id::NEXT_VALID_ID => {
            r.skip(1)?;
            Incoming::NextValidId(r.int()?)
        }
        id::ERROR => {
            if version < v::ERROR_TIME {
                r.skip(1)?;
            }
            let req_id = r.int()?;
            let code = r.int()?;
            let text = |r: &mut FieldReader<'_>| -> DResult<String> {
                let s = r.str()?;
                Ok(if version >= v::ENCODE_MSG_ASCII7 { decode_unicode_escapes(s).into_owned() } else { s.to_owned() })
            };
            let message = text(r)?;
            let advanced_order_reject_json = if version >= v::ADVANCED_ORDER_REJECT { text(r)? } else { String::new() };
            let error_time = if version >= v::ERROR_TIME { r.opt_int()? } else { None };
            Incoming::Error(TwsError { req_id, code, message, advanced_order_reject_json, error_time })
        }
        id::CURRENT_TIME => {
            r.skip(1)?;
            Incoming::CurrentTime(r.int()?)
        }
        other => Incoming::Other(other),
    })
}

//! Orders and fills: order status, open and completed orders (their long layouts are
//! `order_walk`'s), executions and their commission reports.

use super::{id, Incoming};
use crate::fields::{DResult, FieldReader};
use crate::order_walk::{self, contract_11, Io};
use crate::types::*;
use crate::versions as v;

/// The message ids of this family.
const FAMILY: [i64; 8] = [
    id::ORDER_STATUS,
    id::OPEN_ORDER,
    id::OPEN_ORDER_END,
    id::COMPLETED_ORDER,
    id::COMPLETED_ORDERS_END,
    id::EXECUTION_DATA,
    id::EXECUTION_DATA_END,
    id::COMMISSION_REPORT,
];

/// Decodes a message of this family (its id already read); `None` for another
/// family's id.
pub(super) fn decode(msg_id: i64, version: i32, r: &mut FieldReader<'_>) -> Option<DResult<Incoming>> {
    FAMILY.contains(&msg_id).then(|| read(msg_id, version, r))
}

fn read(msg_id: i64, version: i32, r: &mut FieldReader<'_>) -> DResult<Incoming> {
    Ok(match msg_id {
        id::ORDER_STATUS => Incoming::OrderStatus(OrderStatus {
            order_id: r.int()?,
            status: r.string()?,
            filled: r.f64()?,
            remaining: r.f64()?,
            avg_fill_price: r.f64()?,
            perm_id: r.int()?,
            parent_id: r.int()?,
            last_fill_price: r.f64()?,
            client_id: r.int()?,
            why_held: r.string()?,
            mkt_cap_price: r.f64()?,
        }),
        id::OPEN_ORDER => {
            let (mut o, mut st) = (Order::default(), OrderState::default());
            order_walk::open_order(&mut Io::Read(r), version, &mut o, &mut st)?;
            Incoming::OpenOrder(Box::new((o, st)))
        }
        id::OPEN_ORDER_END => Incoming::OpenOrderEnd,
        id::COMPLETED_ORDER => {
            let (mut o, mut st) = (Order::default(), OrderState::default());
            order_walk::completed_order(&mut Io::Read(r), version, &mut o, &mut st)?;
            Incoming::CompletedOrder(Box::new((o, st)))
        }
        id::COMPLETED_ORDERS_END => Incoming::CompletedOrdersEnd,
        id::EXECUTION_DATA => {
            let mut e = Execution { req_id: r.int()?, order_id: r.int()?, ..Execution::default() };
            contract_11(&mut Io::Read(r), &mut e.contract)?;
            e.exec_id = r.string()?;
            e.time = r.string()?;
            e.account = r.string()?;
            e.exchange = r.string()?;
            e.side = r.string()?;
            e.shares = r.f64()?;
            e.price = r.f64()?;
            e.perm_id = r.int()?;
            e.client_id = r.int()?;
            e.liquidation = r.int()?;
            e.cum_qty = r.f64()?;
            e.avg_price = r.f64()?;
            e.order_ref = r.string()?;
            e.ev_rule = r.string()?;
            e.ev_multiplier = r.opt_f64()?;
            e.model_code = r.string()?;
            e.last_liquidity = r.int()?;
            if version >= v::PENDING_PRICE_REVISION {
                e.pending_price_revision = r.bool()?;
            }
            if version >= v::SUBMITTER {
                e.submitter = r.string()?;
            }
            Incoming::ExecDetails(Box::new(e))
        }
        id::EXECUTION_DATA_END => {
            r.skip(1)?;
            Incoming::ExecDetailsEnd { req_id: r.int()? }
        }
        id::COMMISSION_REPORT => {
            r.skip(1)?;
            Incoming::CommissionReport(CommissionReport {
                exec_id: r.string()?,
                commission: r.f64()?,
                currency: r.string()?,
                realized_pnl: r.opt_f64()?,
                yield_: r.opt_f64()?,
                yield_redemption_date: r.int()?,
            })
        }
        other => Incoming::Other(other),
    })
}

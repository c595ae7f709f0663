//! One walk over the openOrder and completedOrder layouts, used in both directions.
//!
//! openOrder is the longest TWS message (136 fields at server version 176) and has
//! variable-length sections whose presence depends on earlier values. Writing the walk
//! twice, once to decode and once to encode (for the simulator), would let the two
//! drift apart; instead [`Io`] is either a reader or a writer, and each layout is
//! written once. Fields ibws does not use are read and dropped, or written empty.
//!
//! Layouts follow the official client's decoder for server versions 157..=200; the
//! version gates inside that range are [`v::DURATION`], [`v::POST_TO_ATS`],
//! [`v::AUTO_CANCEL_PARENT`], [`v::PEGBEST_PEGMID_OFFSETS`],
//! [`v::FA_PROFILE_DESUPPORT`], then [`v::CUSTOMER_ACCOUNT`],
//! [`v::PROFESSIONAL_CUSTOMER`], [`v::BOND_ACCRUED_INTEREST`], [`v::INCLUDE_OVERNIGHT`],
//! [`v::CME_TAGGING_FIELDS_IN_OPEN_ORDER`], [`v::FULL_ORDER_PREVIEW_FIELDS`],
//! [`v::SUBMITTER`] and [`v::IMBALANCE_ONLY`].

use crate::fields::{DResult, DecodeError, FieldReader, FieldWriter};
use crate::types::{Contract, Order, OrderState};
use crate::versions as v;

/// Either side of a walk.
pub enum Io<'r, 'a> {
    Read(&'r mut FieldReader<'a>),
    Write(&'r mut FieldWriter),
}

impl Io<'_, '_> {
    fn reading(&self) -> bool {
        matches!(self, Io::Read(_))
    }

    fn s(&mut self, x: &mut String) -> DResult<()> {
        match self {
            Io::Read(r) => *x = r.string()?,
            Io::Write(w) => {
                w.str(x);
            }
        }
        Ok(())
    }

    fn i(&mut self, x: &mut i64) -> DResult<()> {
        match self {
            Io::Read(r) => *x = r.int()?,
            Io::Write(w) => {
                w.int(*x);
            }
        }
        Ok(())
    }

    fn oi(&mut self, x: &mut Option<i64>) -> DResult<()> {
        match self {
            Io::Read(r) => *x = r.opt_int()?,
            Io::Write(w) => {
                w.opt_int(*x);
            }
        }
        Ok(())
    }

    fn f(&mut self, x: &mut f64) -> DResult<()> {
        match self {
            Io::Read(r) => *x = r.f64()?,
            Io::Write(w) => {
                w.f64(*x);
            }
        }
        Ok(())
    }

    fn of(&mut self, x: &mut Option<f64>) -> DResult<()> {
        match self {
            Io::Read(r) => *x = r.opt_f64()?,
            Io::Write(w) => {
                w.opt_f64(*x);
            }
        }
        Ok(())
    }

    fn b(&mut self, x: &mut bool) -> DResult<()> {
        match self {
            Io::Read(r) => *x = r.bool()?,
            Io::Write(w) => {
                w.bool(*x);
            }
        }
        Ok(())
    }

    /// Fields ibws does not keep: read and dropped, or written empty.
    fn skip(&mut self, n: usize) -> DResult<()> {
        match self {
            Io::Read(r) => r.skip(n),
            Io::Write(w) => {
                w.empty(n);
                Ok(())
            }
        }
    }

    /// Flag fields ibws does not keep: read and dropped, or written `0`.
    fn skip_flags(&mut self, n: usize) -> DResult<()> {
        match self {
            Io::Read(r) => r.skip(n),
            Io::Write(w) => {
                for _ in 0..n {
                    w.bool(false);
                }
                Ok(())
            }
        }
    }

    /// A list length: read (and bounded), or written from `len`.
    fn count(&mut self, len: usize) -> DResult<usize> {
        match self {
            Io::Read(r) => r.count(),
            Io::Write(w) => {
                w.int(len as i64);
                Ok(len)
            }
        }
    }

    /// `n` raw fields into (or out of) `v`.
    fn raw(&mut self, v: &mut Vec<String>, n: usize) -> DResult<()> {
        match self {
            Io::Read(r) => {
                v.clear();
                for _ in 0..n {
                    v.push(r.string()?);
                }
            }
            Io::Write(w) => {
                for i in 0..n {
                    w.str(v.get(i).map(String::as_str).unwrap_or(""));
                }
            }
        }
        Ok(())
    }

    fn position(&self) -> usize {
        match self {
            Io::Read(r) => r.position(),
            Io::Write(w) => w.fields.len(),
        }
    }
}

/// Fields of each order-condition type after the type field.
fn condition_len(kind: &str) -> Option<usize> {
    Some(match kind.trim() {
        "1" => 6, // price: conjunction, isMore, price, conId, exchange, triggerMethod
        "3" => 3, // time: conjunction, isMore, time
        "4" => 3, // margin: conjunction, isMore, percent
        "5" => 4, // execution: conjunction, secType, exchange, symbol
        "6" => 5, // volume: conjunction, isMore, volume, conId, exchange
        "7" => 5, // percent change: conjunction, isMore, changePercent, conId, exchange
        _ => return None,
    })
}

/// The eleven contract fields of openOrder / completedOrder / execDetails / position.
pub fn contract_11(io: &mut Io, c: &mut Contract) -> DResult<()> {
    io.i(&mut c.con_id)?;
    io.s(&mut c.symbol)?;
    io.s(&mut c.sec_type)?;
    io.s(&mut c.last_trade_date)?;
    io.of(&mut c.strike)?;
    io.s(&mut c.right)?;
    io.s(&mut c.multiplier)?;
    io.s(&mut c.exchange)?;
    io.s(&mut c.currency)?;
    io.s(&mut c.local_symbol)?;
    io.s(&mut c.trading_class)
}

fn tag_values(io: &mut Io, list: &mut Vec<(String, String)>) -> DResult<()> {
    let n = io.count(list.len())?;
    if io.reading() {
        list.clear();
        list.resize(n, Default::default());
    }
    for (t, v) in list.iter_mut() {
        io.s(t)?;
        io.s(v)?;
    }
    Ok(())
}

fn combo_legs(io: &mut Io, o: &mut Order) -> DResult<()> {
    let n = io.count(o.combo_legs.len())?;
    if io.reading() {
        o.combo_legs = vec![Vec::new(); n];
    }
    for leg in o.combo_legs.iter_mut() {
        io.raw(leg, 8)?;
    }
    let n = io.count(o.order_combo_leg_prices.len())?;
    if io.reading() {
        o.order_combo_leg_prices = vec![String::new(); n];
    }
    for p in o.order_combo_leg_prices.iter_mut() {
        io.s(p)?;
    }
    tag_values(io, &mut o.smart_combo_routing_params)
}

fn scale_and_hedge(io: &mut Io, o: &mut Order) -> DResult<()> {
    io.skip(2)?; // scaleInitLevelSize, scaleSubsLevelSize
    io.of(&mut o.scale_price_increment)?;
    if o.scale_price_increment.is_some_and(|x| x > 0.0) {
        // adjust value / interval, profit offset, auto reset, init position,
        // init fill qty, random percent
        io.skip(7)?;
    }
    io.s(&mut o.hedge_type)?;
    if !o.hedge_type.is_empty() {
        io.skip(1)?; // hedgeParam
    }
    Ok(())
}

fn delta_neutral_contract_and_algo(io: &mut Io, o: &mut Order) -> DResult<()> {
    let mut present = o.delta_neutral_contract.is_some();
    io.b(&mut present)?;
    if present {
        let mut raw: Vec<String> = o.delta_neutral_contract.clone().map(Vec::from).unwrap_or_default();
        io.raw(&mut raw, 3)?;
        if io.reading() {
            let [a, b, c]: [String; 3] = raw.try_into().unwrap_or_default();
            o.delta_neutral_contract = Some([a, b, c]);
        }
    } else if io.reading() {
        o.delta_neutral_contract = None;
    }
    io.s(&mut o.algo_strategy)?;
    if !o.algo_strategy.is_empty() {
        tag_values(io, &mut o.algo_params)?;
    }
    Ok(())
}

fn peg_bench_and_conditions(io: &mut Io, o: &mut Order) -> DResult<()> {
    if matches!(o.order_type.as_str(), "PEG BENCH" | "PEGBENCH") {
        // referenceContractId, isPeggedChangeAmountDecrease, peggedChangeAmount,
        // referenceChangeAmount, referenceExchangeId
        io.skip(5)?;
    }
    let n = io.count(o.conditions.len())?;
    if io.reading() {
        o.conditions = vec![Vec::new(); n];
    }
    for cond in o.conditions.iter_mut() {
        let at = io.position();
        let mut kind = cond.first().cloned().unwrap_or_default();
        io.s(&mut kind)?;
        let len = condition_len(&kind).ok_or(DecodeError::Unknown { at, what: "order condition type" })?;
        let mut rest: Vec<String> = cond.iter().skip(1).cloned().collect();
        io.raw(&mut rest, len)?;
        if io.reading() {
            *cond = std::iter::once(kind).chain(rest).collect();
        }
    }
    if n > 0 {
        io.skip(2)?; // conditionsIgnoreRth, conditionsCancelOrder
    }
    Ok(())
}

fn peg_offsets(io: &mut Io, version: i32) -> DResult<()> {
    if version >= v::PEGBEST_PEGMID_OFFSETS {
        // minTradeQty, minCompeteSize, competeAgainstBestOffset, midOffsetAtWhole,
        // midOffsetAtHalf
        io.skip(5)?;
    }
    Ok(())
}

/// The openOrder body after the message id (server versions >= 145 send no version).
pub fn open_order(io: &mut Io, version: i32, o: &mut Order, st: &mut OrderState) -> DResult<()> {
    io.i(&mut o.order_id)?;
    contract_11(io, &mut o.contract)?;
    io.s(&mut o.action)?;
    io.f(&mut o.total_quantity)?;
    io.s(&mut o.order_type)?;
    io.of(&mut o.lmt_price)?;
    io.of(&mut o.aux_price)?;
    io.s(&mut o.tif)?;
    io.s(&mut o.oca_group)?;
    io.s(&mut o.account)?;
    io.s(&mut o.open_close)?;
    io.i(&mut o.origin)?;
    io.s(&mut o.order_ref)?;
    io.i(&mut o.client_id)?;
    io.i(&mut o.perm_id)?;
    io.b(&mut o.outside_rth)?;
    io.b(&mut o.hidden)?;
    // discretionaryAmt, goodAfterTime, (deprecated sharesAllocation), faGroup,
    // faMethod, faPercentage
    io.skip(6)?;
    if version < v::FA_PROFILE_DESUPPORT {
        io.skip(1)?; // faProfile
    }
    // modelCode, goodTillDate, rule80A, percentOffset, settlingFirm, shortSaleSlot,
    // designatedLocation, exemptCode, auctionStrategy, startingPrice, stockRefPrice,
    // delta, stockRangeLower, stockRangeUpper, displaySize
    io.skip(15)?;
    // blockOrder, sweepToFill, allOrNone
    io.skip_flags(3)?;
    // minQty, ocaType
    io.skip(2)?;
    // eTradeOnly, firmQuoteOnly
    io.skip_flags(2)?;
    io.skip(1)?; // nbboPriceCap
    io.i(&mut o.parent_id)?;
    io.skip(3)?; // triggerMethod, volatility, volatilityType
    io.s(&mut o.delta_neutral_order_type)?;
    io.skip(1)?; // deltaNeutralAuxPrice
    if !o.delta_neutral_order_type.is_empty() {
        // conId, settlingFirm, clearingAccount, clearingIntent, openClose, shortSale,
        // shortSaleSlot, designatedLocation
        io.skip(8)?;
    }
    io.skip_flags(1)?; // continuousUpdate
                       // referencePriceType, trailStopPrice, trailingPercent, basisPoints, basisPointsType
    io.skip(5)?;
    io.s(&mut o.combo_legs_descrip)?;
    combo_legs(io, o)?;
    scale_and_hedge(io, o)?;
    io.skip_flags(1)?; // optOutSmartRouting
    io.skip(2)?; // clearingAccount, clearingIntent
    io.skip_flags(1)?; // notHeld
    delta_neutral_contract_and_algo(io, o)?;
    io.skip_flags(1)?; // solicited
    io.b(&mut o.what_if)?;
    io.s(&mut st.status)?;
    // init/maint margin and equity with loan: before, change, after
    for m in st.margin.iter_mut() {
        io.s(m)?;
    }
    io.of(&mut st.commission)?;
    io.skip(2)?; // minCommission, maxCommission
    io.s(&mut st.commission_currency)?;
    if version >= v::FULL_ORDER_PREVIEW_FIELDS {
        full_preview(io)?;
    }
    io.s(&mut st.warning_text)?;
    io.skip_flags(2)?; // randomizeSize, randomizePrice
    peg_bench_and_conditions(io, o)?;
    // adjustedOrderType, triggerPrice, trailStopPrice, lmtPriceOffset, adjustedStopPrice,
    // adjustedStopLimitPrice, adjustedTrailingAmount, adjustableTrailingUnit,
    // softDollarTier name, value, display name
    io.skip(11)?;
    io.of(&mut o.cash_qty)?;
    io.skip_flags(2)?; // dontUseAutoPriceForHedge, isOmsContainer
    io.skip_flags(2)?; // discretionaryUpToLimitPrice, usePriceMgmtAlgo
    if version >= v::DURATION {
        io.skip(1)?;
    }
    if version >= v::POST_TO_ATS {
        io.skip(1)?;
    }
    if version >= v::AUTO_CANCEL_PARENT {
        io.skip_flags(1)?;
    }
    peg_offsets(io, version)?;
    customer(io, version)?;
    if version >= v::BOND_ACCRUED_INTEREST {
        io.skip(1)?;
    }
    if version >= v::INCLUDE_OVERNIGHT {
        io.skip_flags(1)?;
    }
    if version >= v::CME_TAGGING_FIELDS_IN_OPEN_ORDER {
        io.skip(1)?; // extOperator
        io.oi(&mut o.manual_order_indicator)?;
    }
    if version >= v::SUBMITTER {
        io.s(&mut o.submitter)?;
    }
    if version >= v::IMBALANCE_ONLY {
        io.skip_flags(1)?;
    }
    Ok(())
}

/// customerAccount (183) and professionalCustomer (184), in openOrder and completedOrder.
fn customer(io: &mut Io, version: i32) -> DResult<()> {
    if version >= v::CUSTOMER_ACCOUNT {
        io.skip(1)?;
    }
    if version >= v::PROFESSIONAL_CUSTOMER {
        io.skip_flags(1)?;
    }
    Ok(())
}

/// The what-if answer's fields from 195: the margin currency, the nine margin figures
/// outside regular trading hours, the suggested size, the reject reason, and the
/// allocations (account, position, desired position, position after, desired and
/// allowed allocation, isMonetary: seven fields each).
fn full_preview(io: &mut Io) -> DResult<()> {
    io.skip(12)?;
    let n = io.count(0)?;
    io.skip(n.saturating_mul(7))
}

/// The completedOrder body after the message id.
pub fn completed_order(io: &mut Io, version: i32, o: &mut Order, st: &mut OrderState) -> DResult<()> {
    contract_11(io, &mut o.contract)?;
    io.s(&mut o.action)?;
    io.f(&mut o.total_quantity)?;
    io.s(&mut o.order_type)?;
    io.of(&mut o.lmt_price)?;
    io.of(&mut o.aux_price)?;
    io.s(&mut o.tif)?;
    io.s(&mut o.oca_group)?;
    io.s(&mut o.account)?;
    io.s(&mut o.open_close)?;
    io.i(&mut o.origin)?;
    io.s(&mut o.order_ref)?;
    io.i(&mut o.perm_id)?;
    io.b(&mut o.outside_rth)?;
    io.b(&mut o.hidden)?;
    // discretionaryAmt, goodAfterTime, faGroup, faMethod, faPercentage
    io.skip(5)?;
    if version < v::FA_PROFILE_DESUPPORT {
        io.skip(1)?;
    }
    // modelCode, goodTillDate, rule80A, percentOffset, settlingFirm, shortSaleSlot,
    // designatedLocation, exemptCode, startingPrice, stockRefPrice, delta,
    // stockRangeLower, stockRangeUpper, displaySize
    io.skip(14)?;
    io.skip_flags(2)?; // sweepToFill, allOrNone
    io.skip(5)?; // minQty, ocaType, triggerMethod, volatility, volatilityType
    io.s(&mut o.delta_neutral_order_type)?;
    io.skip(1)?; // deltaNeutralAuxPrice
    if !o.delta_neutral_order_type.is_empty() {
        // conId, shortSale, shortSaleSlot, designatedLocation
        io.skip(4)?;
    }
    io.skip_flags(1)?; // continuousUpdate
    io.skip(3)?; // referencePriceType, trailStopPrice, trailingPercent
    io.s(&mut o.combo_legs_descrip)?;
    combo_legs(io, o)?;
    scale_and_hedge(io, o)?;
    io.skip(2)?; // clearingAccount, clearingIntent
    io.skip_flags(1)?; // notHeld
    delta_neutral_contract_and_algo(io, o)?;
    io.skip_flags(1)?; // solicited
    io.s(&mut st.status)?;
    io.skip_flags(2)?; // randomizeSize, randomizePrice
    peg_bench_and_conditions(io, o)?;
    io.skip(3)?; // trailStopPrice, lmtPriceOffset, cashQty
    io.skip_flags(2)?; // dontUseAutoPriceForHedge, isOmsContainer
    io.skip(1)?; // autoCancelDate
    io.of(&mut o.filled_quantity)?;
    io.skip(1)?; // refFuturesConId
    io.skip_flags(1)?; // autoCancelParent
    io.skip(1)?; // shareholder
    io.skip_flags(2)?; // imbalanceOnly, routeMarketableToBbo
    io.oi(&mut o.parent_perm_id)?;
    io.s(&mut st.completed_time)?;
    io.s(&mut st.completed_status)?;
    peg_offsets(io, version)?;
    customer(io, version)?;
    if version >= v::SUBMITTER {
        io.s(&mut o.submitter)?;
    }
    Ok(())
}

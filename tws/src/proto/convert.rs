//! Between the protobuf messages ([`super::schema`]) and ibws's domain types
//! ([`crate::types`]), both ways: the parts several messages share (contracts, orders,
//! order states) and the scalar rules.
//!
//! The rules mirror the text codec's, so a message means the same whichever encoding
//! carried it: an absent field is the text encoding's empty field (0, "", `None`);
//! quantities travel as decimal strings and become `f64`; TWS's "unset" double is
//! `None`; free text is cut at [`MAX_FIELD_BYTES`] with a visible marker, as the
//! text splitter cuts a field.

use super::schema as pb;
use crate::fields::{fmt_f64, UNSET_DOUBLE};
use crate::frame::{truncate_text, MAX_FIELD_BYTES};
use crate::types::*;

/// A string field: absent is empty; longer than [`MAX_FIELD_BYTES`] is cut.
pub fn text(v: &Option<String>) -> String {
    match v {
        Some(s) if s.len() > MAX_FIELD_BYTES => truncate_text(s, MAX_FIELD_BYTES),
        Some(s) => s.clone(),
        None => String::new(),
    }
}

/// A string to send: empty is absent.
pub fn put_text(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// A decimal quantity (`"100"`, `"0.5"`); absent, empty or not a number is `None`.
pub fn opt_qty(v: &Option<String>) -> Option<f64> {
    let s = v.as_deref()?.trim();
    let q: f64 = s.parse().ok()?;
    (q.is_finite() && q != UNSET_DOUBLE).then_some(q)
}

pub fn qty(v: &Option<String>) -> f64 {
    opt_qty(v).unwrap_or(0.0)
}

pub fn put_qty(q: f64) -> Option<String> {
    Some(fmt_f64(q))
}

pub fn put_opt_qty(q: Option<f64>) -> Option<String> {
    q.map(fmt_f64)
}

/// A double; TWS's unset value and NaN are `None`.
pub fn opt_num(v: Option<f64>) -> Option<f64> {
    v.filter(|x| *x != UNSET_DOUBLE && !x.is_nan())
}

pub fn num(v: Option<f64>) -> f64 {
    opt_num(v).unwrap_or(0.0)
}

/// An integer to send in an `int32` field: 0 is absent (the text encoding's "0" and
/// protobuf's default agree), as is a value beyond 32 bits, which no int32 field of
/// TWS's carries.
pub fn put_i32(v: i64) -> Option<i32> {
    if v == 0 {
        None
    } else {
        i32::try_from(v).ok()
    }
}

pub fn int(v: Option<i32>) -> i64 {
    v.map(i64::from).unwrap_or(0)
}

pub fn put_i64(v: i64) -> Option<i64> {
    (v != 0).then_some(v)
}

pub fn flag(v: Option<bool>) -> bool {
    v.unwrap_or(false)
}

pub fn put_flag(v: bool) -> Option<bool> {
    v.then_some(true)
}

pub fn contract_from(c: &Option<pb::Contract>) -> Contract {
    let Some(c) = c else { return Contract::default() };
    Contract {
        con_id: int(c.con_id),
        symbol: text(&c.symbol),
        sec_type: text(&c.sec_type),
        last_trade_date: text(&c.last_trade_date_or_contract_month),
        strike: opt_num(c.strike),
        right: text(&c.right),
        multiplier: opt_num(c.multiplier).map(fmt_f64).unwrap_or_default(),
        exchange: text(&c.exchange),
        primary_exchange: text(&c.primary_exch),
        currency: text(&c.currency),
        local_symbol: text(&c.local_symbol),
        trading_class: text(&c.trading_class),
    }
}

pub fn contract_to(c: &Contract) -> pb::Contract {
    pb::Contract {
        con_id: put_i32(c.con_id),
        symbol: put_text(&c.symbol),
        sec_type: put_text(&c.sec_type),
        last_trade_date_or_contract_month: put_text(&c.last_trade_date),
        strike: c.strike,
        right: put_text(&c.right),
        multiplier: c.multiplier.trim().parse().ok(),
        exchange: put_text(&c.exchange),
        primary_exch: put_text(&c.primary_exchange),
        currency: put_text(&c.currency),
        local_symbol: put_text(&c.local_symbol),
        trading_class: put_text(&c.trading_class),
        combo_legs_descrip: None,
        last_trade_date: None,
    }
}

/// An order from its three parts. The sections ibws keeps only to re-walk a text
/// frame (combo legs, conditions, the delta-neutral contract) stay empty.
pub fn order_from(order_id: Option<i32>, c: &Option<pb::Contract>, o: &Option<pb::Order>) -> Order {
    let d = pb::Order::default();
    let o = o.as_ref().unwrap_or(&d);
    Order {
        order_id: int(order_id.or(o.order_id)),
        contract: contract_from(c),
        action: text(&o.action),
        total_quantity: qty(&o.total_quantity),
        order_type: text(&o.order_type),
        lmt_price: opt_num(o.lmt_price),
        aux_price: opt_num(o.aux_price),
        tif: text(&o.tif),
        oca_group: text(&o.oca_group),
        account: text(&o.account),
        open_close: text(&o.open_close),
        origin: int(o.origin),
        order_ref: text(&o.order_ref),
        client_id: int(o.client_id),
        perm_id: o.perm_id.unwrap_or(0),
        outside_rth: flag(o.outside_rth),
        hidden: flag(o.hidden),
        parent_id: int(o.parent_id),
        delta_neutral_order_type: text(&o.delta_neutral_order_type),
        combo_legs_descrip: c.as_ref().map(|c| text(&c.combo_legs_descrip)).unwrap_or_default(),
        scale_price_increment: opt_num(o.scale_price_increment),
        hedge_type: text(&o.hedge_type),
        algo_strategy: text(&o.algo_strategy),
        algo_params: o.algo_params.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        what_if: flag(o.what_if),
        cash_qty: opt_num(o.cash_qty),
        filled_quantity: opt_qty(&o.filled_quantity),
        parent_perm_id: o.parent_perm_id,
        manual_order_indicator: o.manual_order_indicator.map(i64::from),
        submitter: text(&o.submitter),
        ..Order::default()
    }
}

/// The contract and the order of an openOrder or completedOrder.
pub fn order_to(o: &Order) -> (pb::Contract, pb::Order) {
    let mut c = contract_to(&o.contract);
    c.combo_legs_descrip = put_text(&o.combo_legs_descrip);
    let order = pb::Order {
        client_id: put_i32(o.client_id),
        order_id: put_i32(o.order_id),
        perm_id: put_i64(o.perm_id),
        parent_id: put_i32(o.parent_id),
        action: put_text(&o.action),
        total_quantity: put_qty(o.total_quantity),
        order_type: put_text(&o.order_type),
        lmt_price: o.lmt_price,
        aux_price: o.aux_price,
        tif: put_text(&o.tif),
        account: put_text(&o.account),
        hidden: put_flag(o.hidden),
        outside_rth: put_flag(o.outside_rth),
        oca_group: put_text(&o.oca_group),
        order_ref: put_text(&o.order_ref),
        delta_neutral_order_type: put_text(&o.delta_neutral_order_type),
        scale_price_increment: o.scale_price_increment,
        hedge_type: put_text(&o.hedge_type),
        algo_strategy: put_text(&o.algo_strategy),
        algo_params: o.algo_params.iter().cloned().collect(),
        what_if: put_flag(o.what_if),
        transmit: None,
        open_close: put_text(&o.open_close),
        origin: put_i32(o.origin),
        ext_operator: None,
        cash_qty: o.cash_qty,
        filled_quantity: put_opt_qty(o.filled_quantity),
        parent_perm_id: o.parent_perm_id,
        manual_order_indicator: o.manual_order_indicator.and_then(|m| i32::try_from(m).ok()),
        submitter: put_text(&o.submitter),
    };
    (c, order)
}

pub fn state_from(s: &Option<pb::OrderState>) -> OrderState {
    let Some(s) = s else { return OrderState::default() };
    let margin = [
        s.init_margin_before,
        s.maint_margin_before,
        s.equity_with_loan_before,
        s.init_margin_change,
        s.maint_margin_change,
        s.equity_with_loan_change,
        s.init_margin_after,
        s.maint_margin_after,
        s.equity_with_loan_after,
    ]
    .map(|m| opt_num(m).map(fmt_f64).unwrap_or_default());
    OrderState {
        status: text(&s.status),
        margin,
        commission: opt_num(s.commission_and_fees),
        commission_currency: text(&s.commission_and_fees_currency),
        warning_text: text(&s.warning_text),
        completed_time: text(&s.completed_time),
        completed_status: text(&s.completed_status),
    }
}

pub fn state_to(s: &OrderState) -> pb::OrderState {
    let m = |i: usize| s.margin[i].trim().parse::<f64>().ok();
    pb::OrderState {
        status: put_text(&s.status),
        init_margin_before: m(0),
        maint_margin_before: m(1),
        equity_with_loan_before: m(2),
        init_margin_change: m(3),
        maint_margin_change: m(4),
        equity_with_loan_change: m(5),
        init_margin_after: m(6),
        maint_margin_after: m(7),
        equity_with_loan_after: m(8),
        commission_and_fees: s.commission,
        commission_and_fees_currency: put_text(&s.commission_currency),
        warning_text: put_text(&s.warning_text),
        completed_time: put_text(&s.completed_time),
        completed_status: put_text(&s.completed_status),
    }
}

//! Order state by permId, merged from openOrder, orderStatus, completedOrder,
//! execDetails and commissionReport, reporting only real changes.
//!
//! TWS repeats itself: every reconnect replays open orders, completed orders and the
//! day's executions. The book compares each message with what it already knows, so a
//! replayed order is "no change" and only what actually happened (including while the
//! link was down) comes out as an [`OrderChange`].

use std::collections::HashMap;

use ibws_shared::protocol::{Execution as ExecData, Num, OrderData};

use crate::tws::types::{CommissionReport, Execution, Order, OrderState, OrderStatus};

/// A change worth telling clients about.
#[derive(Clone, Debug, PartialEq)]
pub enum OrderChange {
    /// First sighting of an order.
    Created(OrderData),
    /// Price, quantity or type changed.
    Modified(OrderData),
    /// The order became cancelled.
    Cancelled(OrderData),
    /// Status, filled, remaining or average price changed (or a fill's commission
    /// arrived); `execution` is set when a fill caused it.
    Updated(OrderData),
}

#[derive(Clone, Debug)]
struct Tracked {
    data: OrderData,
    /// An execution seen but not yet reported with an update.
    pending_exec: Option<ExecData>,
    cancel_announced: bool,
}

/// Every order the bridge knows.
#[derive(Debug, Default)]
pub struct OrderBook {
    orders: HashMap<i64, Tracked>,
    by_id: HashMap<(i64, i64), i64>,
    /// Executions already seen, and the order each belongs to.
    execs: HashMap<String, i64>,
    /// Executions reported with an update but still missing their commission.
    awaiting_commission: HashMap<String, ExecData>,
    /// orderStatus that arrived before its openOrder.
    early_status: HashMap<i64, OrderStatus>,
}

fn is_cancelled(status: &str) -> bool {
    matches!(status, "Cancelled" | "ApiCancelled")
}

fn price_of(o: &Order) -> Option<f64> {
    match o.order_type.as_str() {
        "STP" | "TRAIL" => o.aux_price.or(o.lmt_price),
        _ => o.lmt_price,
    }
}

impl OrderBook {
    pub fn new() -> Self {
        Self::default()
    }

    /// The current state of every order.
    pub fn orders(&self) -> impl Iterator<Item = &OrderData> {
        self.orders.values().map(|t| &t.data)
    }

    pub fn len(&self) -> usize {
        self.orders.len()
    }

    pub fn is_empty(&self) -> bool {
        self.orders.is_empty()
    }

    fn perm_for(&self, perm_id: i64, client_id: i64, order_id: i64) -> Option<i64> {
        if perm_id != 0 && self.orders.contains_key(&perm_id) {
            return Some(perm_id);
        }
        self.by_id.get(&(client_id, order_id)).copied()
    }

    /// openOrder (live, or replayed by reqAllOpenOrders).
    pub fn on_open_order(&mut self, o: &Order, st: &OrderState) -> Vec<OrderChange> {
        if o.what_if || o.perm_id == 0 {
            return vec![]; // a margin preview, or not yet accepted by TWS
        }
        self.upsert(o, &st.status, None)
    }

    /// completedOrder (replayed by reqCompletedOrders).
    pub fn on_completed_order(&mut self, o: &Order, st: &OrderState) -> Vec<OrderChange> {
        if o.perm_id == 0 {
            return vec![];
        }
        self.upsert(o, &st.status, o.filled_quantity)
    }

    fn upsert(&mut self, o: &Order, status: &str, filled: Option<f64>) -> Vec<OrderChange> {
        let mut out = Vec::new();
        let perm = o.perm_id;
        let price = price_of(o).map(Num);
        match self.orders.get_mut(&perm) {
            None => {
                let mut data = OrderData {
                    order_id: o.order_id,
                    symbol: o.contract.symbol.clone(),
                    action: o.action.clone(),
                    quantity: Num(o.total_quantity),
                    order_type: o.order_type.clone(),
                    status: status.to_owned(),
                    filled: Some(Num(filled.unwrap_or(0.0))),
                    remaining: Some(Num(o.total_quantity - filled.unwrap_or(0.0))),
                    avg_fill_price: Some(Num(0.0)),
                    price,
                    perm_id: Some(perm),
                    account: Some(o.account.clone()),
                    client_id: Some(o.client_id),
                    order_ref: (!o.order_ref.is_empty()).then(|| o.order_ref.clone()),
                    aux_price: o.aux_price.map(Num),
                    ..OrderData::default()
                };
                if let Some(s) = self.early_status.remove(&perm) {
                    apply_status(&mut data, &s);
                }
                self.by_id.insert((o.client_id, o.order_id), perm);
                let cancelled = is_cancelled(&data.status);
                out.push(OrderChange::Created(data.clone()));
                out.push(OrderChange::Updated(data.clone()));
                if cancelled {
                    out.push(OrderChange::Cancelled(data.clone()));
                }
                self.orders.insert(perm, Tracked { data, pending_exec: None, cancel_announced: cancelled });
            }
            Some(t) => {
                let d = &mut t.data;
                if d.quantity != Num(o.total_quantity) || d.price != price || d.order_type != o.order_type {
                    d.quantity = Num(o.total_quantity);
                    d.price = price;
                    d.aux_price = o.aux_price.map(Num);
                    d.order_type = o.order_type.clone();
                    let f = d.filled.unwrap_or_default().0;
                    d.remaining = Some(Num((o.total_quantity - f).max(0.0)));
                    out.push(OrderChange::Modified(d.clone()));
                }
                let mut changed = false;
                if !status.is_empty() && d.status != status {
                    d.status = status.to_owned();
                    changed = true;
                }
                if let Some(f) = filled {
                    if d.filled != Some(Num(f)) {
                        d.filled = Some(Num(f));
                        d.remaining = Some(Num((d.quantity.0 - f).max(0.0)));
                        changed = true;
                    }
                }
                if changed {
                    let mut data = d.clone();
                    data.execution = t.pending_exec.take();
                    out.push(OrderChange::Updated(data));
                }
                if is_cancelled(&t.data.status) && !t.cancel_announced {
                    t.cancel_announced = true;
                    out.push(OrderChange::Cancelled(t.data.clone()));
                }
            }
        }
        out
    }

    /// orderStatus.
    pub fn on_order_status(&mut self, s: &OrderStatus) -> Vec<OrderChange> {
        let Some(perm) = self.perm_for(s.perm_id, s.client_id, s.order_id) else {
            if s.perm_id != 0 {
                self.early_status.insert(s.perm_id, s.clone());
            }
            return vec![];
        };
        let t = self.orders.get_mut(&perm).expect("perm_for returns known orders");
        let before = t.data.clone();
        apply_status(&mut t.data, s);
        let mut out = Vec::new();
        let d = &t.data;
        if d.status != before.status
            || d.filled != before.filled
            || d.remaining != before.remaining
            || d.avg_fill_price != before.avg_fill_price
        {
            let mut data = d.clone();
            data.execution = t.pending_exec.take();
            if let Some(e) = &data.execution {
                if e.commission.is_none() {
                    self.awaiting_commission.insert(e.exec_id.clone(), e.clone());
                }
            }
            out.push(OrderChange::Updated(data));
        }
        if is_cancelled(&t.data.status) && !t.cancel_announced {
            t.cancel_announced = true;
            out.push(OrderChange::Cancelled(t.data.clone()));
        }
        out
    }

    /// execDetails: remembered, and reported with the order's next update.
    pub fn on_execution(&mut self, e: &Execution) -> Vec<OrderChange> {
        if self.execs.contains_key(&e.exec_id) {
            return vec![]; // replayed by reqExecutions
        }
        let perm = self.perm_for(e.perm_id, e.client_id, e.order_id).unwrap_or(e.perm_id);
        self.execs.insert(e.exec_id.clone(), perm);
        if let Some(t) = self.orders.get_mut(&perm) {
            t.pending_exec = Some(ExecData {
                exec_id: e.exec_id.clone(),
                shares: Num(e.shares),
                price: Num(e.price),
                commission: None,
                time: Some(e.time.clone()),
            });
            t.data.last_fill_price = Some(Num(e.price));
        }
        vec![]
    }

    /// commissionReport: completes a fill. If its update already went out, one more
    /// update carries the execution with its commission.
    pub fn on_commission(&mut self, c: &CommissionReport) -> Vec<OrderChange> {
        let Some(perm) = self.execs.get(&c.exec_id).copied() else {
            return vec![];
        };
        let Some(t) = self.orders.get_mut(&perm) else {
            return vec![];
        };
        if let Some(e) = t.pending_exec.as_mut().filter(|e| e.exec_id == c.exec_id) {
            e.commission = Some(Num(c.commission));
            return vec![];
        }
        if let Some(mut e) = self.awaiting_commission.remove(&c.exec_id) {
            e.commission = Some(Num(c.commission));
            let mut data = t.data.clone();
            data.execution = Some(e);
            return vec![OrderChange::Updated(data)];
        }
        vec![]
    }
}

fn apply_status(d: &mut OrderData, s: &OrderStatus) {
    d.status = s.status.clone();
    d.filled = Some(Num(s.filled));
    d.remaining = Some(Num(s.remaining));
    d.avg_fill_price = Some(Num(s.avg_fill_price));
    if s.last_fill_price != 0.0 {
        d.last_fill_price = Some(Num(s.last_fill_price));
    }
    d.why_held = (!s.why_held.is_empty()).then(|| s.why_held.clone());
}

//! Order state by permId, merged from openOrder, orderStatus, completedOrder,
//! execDetails and commissionReport, reporting only real changes.
//!
//! TWS repeats itself: every reconnect replays open orders, completed orders and the
//! day's executions. The book compares each message with what it already knows, so a
//! replayed order is "no change" and only what actually happened (including while the
//! link was down) comes out as an [`OrderChange`].
//!
//! Fills. TWS reports one fill with two messages, orderStatus (the order's new filled
//! quantity) and execDetails (the execution: id, shares, price), in either order, and the
//! execution's commissionReport later, often with other frames in between. The book
//! pairs them by cumulative quantity: the update a fill causes carries that fill's
//! execution, whichever of the two arrives first; the first one is held until its
//! partner arrives (TWS sends them back to back) or [`HOLD_MS`] passes. Every
//! execution is reported exactly once with an update; its commission comes with it
//! if it is known by then, otherwise in one follow-up update carrying the execution
//! again, now with the commission. Executions the bridge learns of only from
//! reqExecutions after (re)connecting, fills made while it was away, are reported the
//! same way and marked `reconciled: true`.

use std::collections::{BTreeSet, HashMap, VecDeque};

use ibws_shared::hub::EvictionIndex;
use ibws_shared::protocol::{Execution as ExecData, Num, OrderData};

use ibws_tws::types::{CommissionReport, Execution, Order, OrderState, OrderStatus};

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

/// How long the first half of a fill (status or execution) waits for the other.
pub const HOLD_MS: u64 = 500;
/// Execution ids remembered (a day of a busy account is a few thousand).
const MAX_EXECS: usize = 200_000;
/// Executions reported without their commission, waiting for it.
const MAX_AWAITING: usize = 20_000;
/// Orders the book follows, at most (finished ones touched longest ago go first; an
/// order holding half a fill is never given up). TWS replays a trading session's
/// orders after every reconnect; a bridge left running for weeks would otherwise keep
/// every order it ever saw.
pub const MAX_ORDERS: usize = 50_000;
/// orderStatus messages kept for orders whose openOrder has not come yet.
const MAX_EARLY_STATUS: usize = 10_000;

#[derive(Clone, Debug)]
struct HeldExec {
    exec: ExecData,
    cum_qty: f64,
    avg_price: f64,
    until_ms: u64,
}

#[derive(Clone, Debug)]
struct Tracked {
    data: OrderData,
    cancel_announced: bool,
    /// A status update that raised `filled`, waiting for its execution.
    held_status: Option<(OrderData, u64)>,
    /// Executions waiting for the status update they caused (or, when reconciled,
    /// for their commission).
    held_execs: Vec<HeldExec>,
    /// Its place in [`OrderBook::ages`].
    stamp: u64,
}

/// Every order the bridge knows (at most [`MAX_ORDERS`]).
#[derive(Debug)]
pub struct OrderBook {
    orders: HashMap<i64, Tracked>,
    by_id: HashMap<(i64, i64), i64>,
    /// Executions already seen, and the order each belongs to.
    execs: HashMap<String, i64>,
    exec_order: VecDeque<String>,
    /// Executions reported with an update but still missing their commission.
    awaiting_commission: HashMap<String, ExecData>,
    awaiting_order: VecDeque<String>,
    /// Commission reports that came before their execution (TWS sends them in that
    /// order at times), by exec id, until the execution comes; the oldest go first.
    early_commissions: HashMap<String, f64>,
    early_order: VecDeque<String>,
    /// orderStatus that arrived before its openOrder.
    early_status: HashMap<i64, OrderStatus>,
    /// The orders holding half a fill: deadlines and releases look only at these, so an
    /// event costs the same with ten orders in the book as with ten thousand.
    holding: BTreeSet<i64>,
    /// Orders by last change, for giving one up when the book is full.
    ages: EvictionIndex<i64>,
    cap: usize,
}

impl Default for OrderBook {
    fn default() -> Self {
        Self::new()
    }
}

fn is_cancelled(status: &str) -> bool {
    matches!(status, "Cancelled" | "ApiCancelled")
}

/// The price a client shows for an order: the limit, the stop for stop orders, and
/// none for market orders (TWS reports their limit price as 0).
fn price_of(o: &Order) -> Option<f64> {
    match o.order_type.as_str() {
        "MKT" | "MOC" | "MOO" => None,
        "STP" | "TRAIL" | "MIT" => o.aux_price.or(o.lmt_price),
        _ => o.lmt_price,
    }
}

fn filled_of(d: &OrderData) -> f64 {
    d.filled.unwrap_or_default().0
}

impl OrderBook {
    pub fn new() -> Self {
        Self::with_capacity(MAX_ORDERS)
    }

    /// A book that follows at most `cap` orders.
    pub fn with_capacity(cap: usize) -> Self {
        OrderBook {
            orders: HashMap::new(),
            by_id: HashMap::new(),
            execs: HashMap::new(),
            exec_order: VecDeque::new(),
            awaiting_commission: HashMap::new(),
            awaiting_order: VecDeque::new(),
            early_commissions: HashMap::new(),
            early_order: VecDeque::new(),
            early_status: HashMap::new(),
            holding: BTreeSet::new(),
            ages: EvictionIndex::default(),
            cap: cap.max(1),
        }
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
    pub fn on_open_order(&mut self, o: &Order, st: &OrderState, now_ms: u64) -> Vec<OrderChange> {
        if o.what_if || o.perm_id == 0 {
            return vec![]; // a margin preview, or not yet accepted by TWS
        }
        self.upsert(o, &st.status, None, now_ms)
    }

    /// completedOrder (replayed by reqCompletedOrders).
    pub fn on_completed_order(&mut self, o: &Order, st: &OrderState, now_ms: u64) -> Vec<OrderChange> {
        if o.perm_id == 0 {
            return vec![];
        }
        self.upsert(o, &st.status, o.filled_quantity, now_ms)
    }

    fn upsert(&mut self, o: &Order, status: &str, filled: Option<f64>, now_ms: u64) -> Vec<OrderChange> {
        let mut out = Vec::new();
        let perm = o.perm_id;
        let price = price_of(o).map(Num);
        let Some(t) = self.orders.get_mut(&perm) else {
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
                submitter: (!o.submitter.is_empty()).then(|| o.submitter.clone()),
                manual_order_indicator: o.manual_order_indicator,
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
            let t = Tracked { data, cancel_announced: cancelled, held_status: None, held_execs: vec![], stamp: 0 };
            self.orders.insert(perm, t);
            self.reindex(perm);
            self.give_up_over_cap(perm);
            return out;
        };
        // who submitted it does not change; a first sight after a (re)connect at a newer
        // server version may tell it, and the row keeps it from then on
        if t.data.submitter.is_none() && !o.submitter.is_empty() {
            t.data.submitter = Some(o.submitter.clone());
        }
        if t.data.manual_order_indicator.is_none() {
            t.data.manual_order_indicator = o.manual_order_indicator;
        }
        // the row as clients last saw it: a modify below is a change like any other
        let before = t.data.clone();
        let d = &mut t.data;
        if d.quantity != Num(o.total_quantity)
            || d.price != price
            || d.aux_price != o.aux_price.map(Num)
            || d.order_type != o.order_type
        {
            d.quantity = Num(o.total_quantity);
            d.price = price;
            d.aux_price = o.aux_price.map(Num);
            d.order_type = o.order_type.clone();
            let f = filled_of(d);
            d.remaining = Some(Num((o.total_quantity - f).max(0.0)));
            out.push(OrderChange::Modified(d.clone()));
        }
        if !status.is_empty() {
            d.status = status.to_owned();
        }
        if let Some(f) = filled {
            if d.filled != Some(Num(f)) {
                d.filled = Some(Num(f));
                d.remaining = Some(Num((d.quantity.0 - f).max(0.0)));
            }
        }
        self.after_change(perm, before, now_ms, &mut out);
        out
    }

    /// orderStatus.
    pub fn on_order_status(&mut self, s: &OrderStatus, now_ms: u64) -> Vec<OrderChange> {
        let Some(perm) = self.perm_for(s.perm_id, s.client_id, s.order_id) else {
            if s.perm_id != 0
                && (self.early_status.len() < MAX_EARLY_STATUS || self.early_status.contains_key(&s.perm_id))
            {
                self.early_status.insert(s.perm_id, s.clone());
            }
            return vec![];
        };
        let t = self.orders.get_mut(&perm).expect("perm_for returns known orders");
        let before = t.data.clone();
        apply_status(&mut t.data, s);
        let mut out = Vec::new();
        self.after_change(perm, before, now_ms, &mut out);
        out
    }

    /// Reports what changed between `before` and the order's data now: a fill is paired
    /// with its execution (or held for it), anything else goes out at once.
    fn after_change(&mut self, perm: i64, before: OrderData, now_ms: u64, out: &mut Vec<OrderChange>) {
        let mut reported = Vec::new();
        let t = self.orders.get_mut(&perm).expect("known order");
        let d = &t.data;
        let changed = d.status != before.status
            || d.filled != before.filled
            || d.remaining != before.remaining
            || d.avg_fill_price != before.avg_fill_price
            || d.quantity != before.quantity
            || d.price != before.price
            || d.aux_price != before.aux_price
            || d.order_type != before.order_type;
        if changed {
            if let Some((held, _)) = t.held_status.take() {
                out.push(OrderChange::Updated(held));
            }
            let filled = filled_of(&t.data);
            if filled > filled_of(&before) {
                // caused by a fill: its executions, if they came first, ride along
                let (mut ready, keep): (Vec<HeldExec>, Vec<HeldExec>) =
                    t.held_execs.drain(..).partition(|h| h.cum_qty <= filled + 1e-9);
                t.held_execs = keep;
                ready.sort_by(|a, b| a.cum_qty.total_cmp(&b.cum_qty));
                if ready.is_empty() {
                    t.held_status = Some((t.data.clone(), now_ms + HOLD_MS));
                }
                for h in ready {
                    out.push(OrderChange::Updated(OrderData { execution: Some(h.exec.clone()), ..t.data.clone() }));
                    reported.push(h.exec);
                }
            } else {
                out.push(OrderChange::Updated(t.data.clone()));
            }
        }
        if is_cancelled(&t.data.status) && !t.cancel_announced {
            t.cancel_announced = true;
            out.push(OrderChange::Cancelled(t.data.clone()));
        }
        for e in reported {
            self.await_commission(e);
        }
        self.reindex(perm);
    }

    /// Keeps the indexes in step with a change to `perm`: [`OrderBook::holding`] with
    /// its holds, [`OrderBook::ages`] with when it changed and whether it is finished.
    fn reindex(&mut self, perm: i64) {
        let Some(t) = self.orders.get_mut(&perm) else {
            self.holding.remove(&perm);
            return;
        };
        if t.held_status.is_some() || !t.held_execs.is_empty() {
            self.holding.insert(perm);
        } else {
            self.holding.remove(&perm);
        }
        let previous = (t.stamp != 0).then_some(t.stamp);
        t.stamp = self.ages.touch(previous, perm, t.data.is_terminal());
    }

    /// Past the cap, gives up the orders [`EvictionIndex`] names first, except `keep`
    /// (just added) and any order holding half a fill.
    fn give_up_over_cap(&mut self, keep: i64) {
        while self.orders.len() > self.cap {
            let victim = self.ages.candidates().find(|p| *p != keep && !self.holding.contains(p));
            let Some(perm) = victim else { return };
            if let Some(t) = self.orders.remove(&perm) {
                self.ages.forget(t.stamp);
                self.by_id.remove(&(t.data.client_id.unwrap_or_default(), t.data.order_id));
            }
        }
    }

    fn await_commission(&mut self, e: ExecData) {
        if e.commission.is_some() {
            return;
        }
        if self.awaiting_order.len() >= MAX_AWAITING {
            if let Some(old) = self.awaiting_order.pop_front() {
                self.awaiting_commission.remove(&old);
            }
        }
        self.awaiting_order.push_back(e.exec_id.clone());
        self.awaiting_commission.insert(e.exec_id.clone(), e);
    }

    fn remember_exec(&mut self, exec_id: &str, perm: i64) {
        if self.exec_order.len() >= MAX_EXECS {
            if let Some(old) = self.exec_order.pop_front() {
                self.execs.remove(&old);
            }
        }
        self.exec_order.push_back(exec_id.to_owned());
        self.execs.insert(exec_id.to_owned(), perm);
    }

    /// execDetails: live (request id -1) or an answer to reqExecutions, which replays
    /// the day's executions; only one not seen before is news, and when it comes from
    /// the replay it is a fill made while the bridge was away.
    pub fn on_execution(&mut self, e: &Execution, now_ms: u64) -> Vec<OrderChange> {
        let out = self.pair_execution(e, now_ms);
        if let Some(perm) = self.execs.get(&e.exec_id).copied() {
            self.reindex(perm);
        }
        out
    }

    fn pair_execution(&mut self, e: &Execution, now_ms: u64) -> Vec<OrderChange> {
        if self.execs.contains_key(&e.exec_id) {
            return vec![];
        }
        let Some(perm) = self.perm_for(e.perm_id, e.client_id, e.order_id) else {
            return vec![]; // an order the bridge does not follow
        };
        self.remember_exec(&e.exec_id, perm);
        let reconciled = e.req_id != -1;
        let exec = ExecData {
            exec_id: e.exec_id.clone(),
            shares: Num(e.shares),
            price: Num(e.price),
            // its commission report may have come first
            commission: self.early_commissions.remove(&e.exec_id).map(Num),
            time: Some(e.time.clone()),
            reconciled: reconciled.then_some(true),
        };
        let t = self.orders.get_mut(&perm).expect("perm_for returns known orders");
        t.data.last_fill_price = Some(Num(e.price));
        let held = HeldExec { exec, cum_qty: e.cum_qty, avg_price: e.avg_price, until_ms: now_ms + HOLD_MS };
        // the status update this fill caused is waiting for it
        if let Some((status, until)) = t.held_status.take() {
            if filled_of(&status) + 1e-9 >= e.cum_qty {
                if reconciled {
                    // the order's numbers are known; wait for the commission, which
                    // follows in the replay, and report both at once
                    t.held_execs.push(held);
                    return vec![];
                }
                let data = OrderData { execution: Some(held.exec.clone()), ..status };
                self.await_commission(held.exec);
                return vec![OrderChange::Updated(data)];
            }
            t.held_status = Some((status, until));
        }
        // wait for the status update (live), or for the commission (reconciled)
        t.held_execs.push(held);
        vec![]
    }

    /// commissionReport: completes a fill. If its update already went out, one more
    /// update carries the execution with its commission.
    pub fn on_commission(&mut self, c: &CommissionReport) -> Vec<OrderChange> {
        let out = self.complete_fill(c);
        if let Some(perm) = self.execs.get(&c.exec_id).copied() {
            self.reindex(perm);
        }
        out
    }

    fn complete_fill(&mut self, c: &CommissionReport) -> Vec<OrderChange> {
        let Some(perm) = self.execs.get(&c.exec_id).copied() else {
            // before its execution: kept for it
            if self.early_order.len() >= MAX_AWAITING {
                if let Some(old) = self.early_order.pop_front() {
                    self.early_commissions.remove(&old);
                }
            }
            if self.early_commissions.insert(c.exec_id.clone(), c.commission).is_none() {
                self.early_order.push_back(c.exec_id.clone());
            }
            return vec![];
        };
        let Some(t) = self.orders.get_mut(&perm) else {
            return vec![];
        };
        if let Some(i) = t.held_execs.iter().position(|h| h.exec.exec_id == c.exec_id) {
            t.held_execs[i].exec.commission = Some(Num(c.commission));
            // a fill whose status is already known has nothing left to wait for
            if filled_of(&t.data) + 1e-9 >= t.held_execs[i].cum_qty {
                let h = t.held_execs.remove(i);
                return vec![OrderChange::Updated(OrderData { execution: Some(h.exec), ..t.data.clone() })];
            }
            return vec![];
        }
        if let Some(mut e) = self.awaiting_commission.remove(&c.exec_id) {
            e.commission = Some(Num(c.commission));
            return vec![OrderChange::Updated(OrderData { execution: Some(e), ..t.data.clone() })];
        }
        vec![]
    }

    /// execDetailsEnd: the replay is complete; reconciled fills go out now.
    pub fn on_executions_end(&mut self) -> Vec<OrderChange> {
        self.release(|_| true)
    }

    /// Holds whose time is up: each half of a fill goes out on its own.
    pub fn poll(&mut self, now_ms: u64) -> Vec<OrderChange> {
        let mut out = Vec::new();
        for perm in &self.holding {
            let Some(t) = self.orders.get_mut(perm) else { continue };
            if t.held_status.as_ref().is_some_and(|(_, until)| now_ms >= *until) {
                let (held, _) = t.held_status.take().expect("checked");
                out.push(OrderChange::Updated(held));
            }
        }
        out.extend(self.release(|h| now_ms >= h.until_ms));
        out
    }

    /// Reports held executions matching `due`, each with the order's fill numbers
    /// brought up to the execution when its status update never came.
    fn release(&mut self, due: impl Fn(&HeldExec) -> bool) -> Vec<OrderChange> {
        let mut out = Vec::new();
        let mut awaiting = Vec::new();
        let perms: Vec<i64> = self.holding.iter().copied().collect();
        for &perm in &perms {
            let t = self.orders.get_mut(&perm).expect("listed");
            let (mut go, keep): (Vec<HeldExec>, Vec<HeldExec>) = t.held_execs.drain(..).partition(|h| due(h));
            t.held_execs = keep;
            go.sort_by(|a, b| a.cum_qty.total_cmp(&b.cum_qty));
            for h in go {
                let d = &mut t.data;
                if filled_of(d) + 1e-9 < h.cum_qty {
                    d.filled = Some(Num(h.cum_qty));
                    d.remaining = Some(Num((d.quantity.0 - h.cum_qty).max(0.0)));
                    d.avg_fill_price = Some(Num(h.avg_price));
                }
                out.push(OrderChange::Updated(OrderData { execution: Some(h.exec.clone()), ..d.clone() }));
                awaiting.push(h.exec);
            }
        }
        for e in awaiting {
            self.await_commission(e);
        }
        for perm in perms {
            self.reindex(perm);
        }
        out
    }

    /// When [`OrderBook::poll`] next has something to release (monotonic ms).
    pub fn next_deadline(&self) -> Option<u64> {
        self.holding
            .iter()
            .filter_map(|p| self.orders.get(p))
            .flat_map(|t| t.held_status.iter().map(|(_, u)| *u).chain(t.held_execs.iter().map(|h| h.until_ms)))
            .min()
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the book would say if it scanned every order.
    fn scanned(b: &OrderBook) -> (BTreeSet<i64>, Option<u64>) {
        let holding = b
            .orders
            .iter()
            .filter(|(_, t)| t.held_status.is_some() || !t.held_execs.is_empty())
            .map(|(p, _)| *p)
            .collect();
        let deadline = b
            .orders
            .values()
            .flat_map(|t| t.held_status.iter().map(|(_, u)| *u).chain(t.held_execs.iter().map(|h| h.until_ms)))
            .min();
        (holding, deadline)
    }

    fn open(b: &mut OrderBook, perm: i64, status: &str) -> Vec<OrderChange> {
        let o = Order {
            perm_id: perm,
            order_id: perm,
            total_quantity: 100.0,
            order_type: "LMT".into(),
            lmt_price: Some(10.0),
            ..Order::default()
        };
        b.on_open_order(&o, &OrderState { status: status.into(), ..OrderState::default() }, 0)
    }

    #[test]
    fn a_full_book_gives_up_the_oldest_finished_order_and_never_one_holding_a_fill() {
        let mut b = OrderBook::with_capacity(3);
        open(&mut b, 1, "Submitted");
        open(&mut b, 2, "Filled");
        open(&mut b, 3, "Submitted");
        open(&mut b, 4, "Submitted");
        let mut perms: Vec<i64> = b.orders.keys().copied().collect();
        perms.sort();
        assert_eq!(perms, vec![1, 3, 4], "the finished order goes first");
        // order 1 is half way through a fill (its status came, its execution not yet)
        let st = OrderStatus {
            order_id: 1,
            perm_id: 1,
            status: "Submitted".into(),
            filled: 10.0,
            remaining: 90.0,
            ..OrderStatus::default()
        };
        b.on_order_status(&st, 0);
        assert!(b.holding.contains(&1));
        // orders 3 and 4 change after it: order 1 is now the one changed longest ago
        for perm in [3, 4] {
            let st = OrderStatus {
                order_id: perm,
                perm_id: perm,
                status: "PreSubmitted".into(),
                remaining: 100.0,
                ..OrderStatus::default()
            };
            b.on_order_status(&st, 0);
        }
        assert_eq!(b.ages.victim(), Some(1));
        open(&mut b, 5, "Submitted");
        let mut perms: Vec<i64> = b.orders.keys().copied().collect();
        perms.sort();
        assert_eq!(perms, vec![1, 4, 5], "the oldest order not holding a fill goes");
        // a replayed order the book gave up comes back as new
        assert!(matches!(open(&mut b, 2, "Filled").first(), Some(OrderChange::Created(_))));
    }

    fn updates(changes: &[OrderChange]) -> Vec<&OrderData> {
        changes.iter().filter_map(|c| if let OrderChange::Updated(d) = c { Some(d) } else { None }).collect()
    }

    #[test]
    fn a_commission_report_before_its_execution_is_attached_to_the_fill() {
        let mut b = OrderBook::with_capacity(8);
        open(&mut b, 7, "Submitted");
        let c =
            CommissionReport { exec_id: "e1".into(), commission: 1.25, currency: "USD".into(), ..Default::default() };
        assert!(b.on_commission(&c).is_empty());
        let e = Execution {
            req_id: -1,
            order_id: 7,
            perm_id: 7,
            exec_id: "e1".into(),
            shares: 100.0,
            price: 10.0,
            cum_qty: 100.0,
            avg_price: 10.0,
            ..Execution::default()
        };
        let mut changes = b.on_execution(&e, 1);
        let st = OrderStatus {
            order_id: 7,
            perm_id: 7,
            status: "Filled".into(),
            filled: 100.0,
            avg_fill_price: 10.0,
            ..OrderStatus::default()
        };
        changes.extend(b.on_order_status(&st, 2));
        let fills: Vec<_> = updates(&changes).into_iter().filter_map(|d| d.execution.clone()).collect();
        assert_eq!(fills.len(), 1, "{changes:?}");
        assert_eq!(fills[0].commission, Some(Num(1.25)), "{changes:?}");
        // nothing is held any more: no second update for the same fill later
        assert!(updates(&b.poll(10_000)).iter().all(|d| d.execution.is_none()));
    }

    #[test]
    fn a_modify_is_an_order_update_with_the_new_values() {
        let mut b = OrderBook::with_capacity(8);
        open(&mut b, 5, "Submitted");
        // 100 @ 10 -> 120 @ 11, the status unchanged
        let o = Order {
            perm_id: 5,
            order_id: 5,
            total_quantity: 120.0,
            order_type: "LMT".into(),
            lmt_price: Some(11.0),
            ..Order::default()
        };
        let changes = b.on_open_order(&o, &OrderState { status: "Submitted".into(), ..OrderState::default() }, 1);
        assert!(matches!(changes.first(), Some(OrderChange::Modified(d)) if d.quantity == Num(120.0)));
        let u = updates(&changes);
        assert_eq!(u.len(), 1, "one order_update for the modify: {changes:?}");
        assert_eq!((u[0].quantity, u[0].price, u[0].remaining), (Num(120.0), Some(Num(11.0)), Some(Num(120.0))));
        // the same openOrder again (TWS repeats it with the status) changes nothing
        let again = b.on_open_order(&o, &OrderState { status: "Submitted".into(), ..OrderState::default() }, 2);
        assert!(again.is_empty(), "{again:?}");
        // a price-only modify
        let o = Order { lmt_price: Some(11.5), ..o };
        let changes = b.on_open_order(&o, &OrderState { status: "Submitted".into(), ..OrderState::default() }, 3);
        let u = updates(&changes);
        assert_eq!(u.len(), 1, "{changes:?}");
        assert_eq!(u[0].price, Some(Num(11.5)));
        // the orderStatus that follows, with the new remaining, is silent: nothing new
        let st = OrderStatus {
            order_id: 5,
            perm_id: 5,
            status: "Submitted".into(),
            remaining: 120.0,
            ..OrderStatus::default()
        };
        assert!(updates(&b.on_order_status(&st, 4)).is_empty());
    }

    #[derive(Clone, Debug)]
    enum Step {
        Open(i64),
        Fill { perm: i64, qty: u8, exec_first: bool, live: bool },
        Commission(usize),
        ExecutionsEnd,
        Wait(u16),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (1..9i64).prop_map(Step::Open),
            (1..9i64, 1..40u8, any::<bool>(), any::<bool>()).prop_map(|(perm, qty, exec_first, live)| Step::Fill {
                perm,
                qty,
                exec_first,
                live
            }),
            (0..20usize).prop_map(Step::Commission),
            Just(Step::ExecutionsEnd),
            (0..800u16).prop_map(Step::Wait),
        ]
    }

    proptest! {
        /// The index of orders holding half a fill is exactly the orders that do, and the
        /// deadline read from it is the one a scan of every order gives; every hold is
        /// released within HOLD_MS of its deadline.
        #[test]
        fn the_holding_index_matches_a_scan_of_every_order(steps in prop::collection::vec(step(), 1..80)) {
            // a small book, so that orders are given up along the way
            let mut b = OrderBook::with_capacity(4);
            let mut now = 1_000u64;
            let mut filled: HashMap<i64, f64> = HashMap::new();
            let mut execs: Vec<String> = Vec::new();
            for s in steps {
                match s {
                    Step::Open(perm) => {
                        let o = Order { perm_id: perm, order_id: perm, total_quantity: 1_000.0, order_type: "LMT".into(), lmt_price: Some(10.0), ..Order::default() };
                        b.on_open_order(&o, &OrderState { status: "Submitted".into(), ..OrderState::default() }, now);
                    }
                    Step::Fill { perm, qty, exec_first, live } => {
                        if !b.orders.contains_key(&perm) {
                            continue;
                        }
                        let cum = filled.get(&perm).copied().unwrap_or(0.0) + f64::from(qty);
                        filled.insert(perm, cum);
                        let id = format!("e{}", execs.len());
                        execs.push(id.clone());
                        let e = Execution { req_id: if live { -1 } else { 7 }, order_id: perm, perm_id: perm, exec_id: id, shares: f64::from(qty), price: 10.0, cum_qty: cum, avg_price: 10.0, ..Execution::default() };
                        let st = OrderStatus { order_id: perm, perm_id: perm, status: "Submitted".into(), filled: cum, remaining: 1_000.0 - cum, avg_fill_price: 10.0, ..OrderStatus::default() };
                        if exec_first {
                            b.on_execution(&e, now);
                            b.on_order_status(&st, now);
                        } else {
                            b.on_order_status(&st, now);
                            b.on_execution(&e, now);
                        }
                    }
                    Step::Commission(i) => {
                        if let Some(id) = execs.get(i) {
                            b.on_commission(&CommissionReport { exec_id: id.clone(), commission: 1.0, ..CommissionReport::default() });
                        }
                    }
                    Step::ExecutionsEnd => {
                        b.on_executions_end();
                    }
                    Step::Wait(ms) => {
                        now += u64::from(ms);
                        if b.next_deadline().is_some_and(|d| d <= now) {
                            b.poll(now);
                        }
                    }
                }
                let (holding, deadline) = scanned(&b);
                prop_assert_eq!(&b.holding, &holding);
                prop_assert_eq!(b.next_deadline(), deadline);
                prop_assert_eq!(b.ages.len(), b.orders.len());
                prop_assert!(b.orders.len() <= 4 + b.holding.len(), "{} orders", b.orders.len());
                prop_assert_eq!(b.by_id.len(), b.orders.len());
            }
            // nothing is held forever
            now += HOLD_MS;
            b.poll(now);
            prop_assert!(b.holding.is_empty(), "still holding {:?}", b.holding);
            prop_assert_eq!(b.next_deadline(), scanned(&b).1);
        }
    }
}

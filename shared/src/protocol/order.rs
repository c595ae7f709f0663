//! Order and account payloads carried inside events, snapshots and `orders_response`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Num;

/// One order as clients see it. The first block is the seed's field set; the optional
/// block after it is ours (old clients ignore it). Fields the seed shows only in some
/// frames (`filled`, `remaining`, `avg_fill_price`, `why_held`) are optional so that
/// each frame carries exactly the seed's shape.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct OrderData {
    pub order_id: i64,
    pub symbol: String,
    /// TWS's order actions (a closed set; `SSHORT` for some institutional accounts).
    #[cfg_attr(feature = "typescript", ts(type = "\"BUY\" | \"SELL\" | \"SSHORT\""))]
    pub action: String,
    pub quantity: Num,
    pub order_type: String,
    /// TWS's order statuses.
    #[cfg_attr(
        feature = "typescript",
        ts(
            type = "\"ApiPending\" | \"PendingSubmit\" | \"PendingCancel\" | \"PreSubmitted\" | \"Submitted\" | \"ApiCancelled\" | \"Cancelled\" | \"Filled\" | \"Inactive\""
        )
    )]
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filled: Option<Num>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining: Option<Num>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avg_fill_price: Option<Num>,
    /// Limit price (or stop price for stop orders); `null` for market orders.
    #[serde(default)]
    pub price: Option<Num>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why_held: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perm_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aux_price: Option<Num>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fill_price: Option<Num>,
    /// The fill that caused this update, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<Execution>,
    /// `true` when an AI agent placed the order, as the bridge recognises agents
    /// (`--mcp-order-ref-prefix`, `--mcp-client-ids`); absent otherwise. Clients take
    /// it from here rather than guessing from the orderRef.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<bool>,
    /// Where the order came from: `"TWS"` (typed in TWS's own window), `"API"` (a
    /// program on API client `client_id`), `"MCP"` (an AI agent, as the bridge
    /// recognises agents). Absent on rows from relays and bridges older than this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(type = "\"TWS\" | \"API\" | \"MCP\""))]
    pub source: Option<String>,
    /// Who submitted the order, as TWS says from server version 198 (the TWS user's
    /// name); absent before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitter: Option<String>,
    /// CME's manual order indicator as TWS says from server version 193: `1` when a
    /// person entered the order, `0` when a program did; absent when TWS did not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual_order_indicator: Option<i64>,
}

impl OrderData {
    /// About what one row costs in memory: the struct and the text it owns.
    pub fn held_bytes(&self) -> usize {
        let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        std::mem::size_of::<OrderData>()
            + self.symbol.len()
            + self.action.len()
            + self.order_type.len()
            + self.status.len()
            + opt(&self.why_held)
            + opt(&self.account)
            + opt(&self.order_ref)
            + opt(&self.source)
            + opt(&self.submitter)
            + self.execution.as_ref().map_or(0, |e| std::mem::size_of::<Execution>() + e.exec_id.len() + opt(&e.time))
    }

    /// The key the order tables use: permId when TWS assigned one, else the
    /// (clientId, orderId) pair packed into one negative number space.
    pub fn key(&self) -> i64 {
        match self.perm_id {
            Some(p) if p != 0 => p,
            _ => -((self.client_id.unwrap_or(0) << 32) | (self.order_id & 0xffff_ffff)) - 1,
        }
    }

    /// The order as a row of `orders_response`: execution detail belongs to the event,
    /// not to the table.
    pub fn as_row(&self) -> OrderData {
        OrderData {
            execution: None,
            why_held: None,
            filled: Some(self.filled.unwrap_or_default()),
            remaining: Some(self.remaining.unwrap_or(self.quantity)),
            avg_fill_price: Some(self.avg_fill_price.unwrap_or_default()),
            ..self.clone()
        }
    }

    /// True once TWS will send nothing more for this order.
    pub fn is_terminal(&self) -> bool {
        matches!(self.status.as_str(), "Filled" | "Cancelled" | "ApiCancelled" | "Inactive")
    }
}

/// A fill, as execDetails plus commissionReport describe it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct Execution {
    pub exec_id: String,
    pub shares: Num,
    pub price: Num,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commission: Option<Num>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// Set on a fill the bridge learned of only when it reconciled after (re)connecting
    /// to TWS (made while it was away), not as it happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciled: Option<bool>,
}

/// A position line of an account.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct Position {
    pub symbol: String,
    #[serde(default)]
    pub con_id: i64,
    pub position: Num,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market_price: Option<Num>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market_value: Option<Num>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_cost: Option<Num>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unrealized_pnl: Option<Num>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realized_pnl: Option<Num>,
}

/// The `data` object of `account_update`, and one account of a snapshot: values keyed
/// by TWS's name and currency, `Key:CUR` (`CashBalance:BASE` is the total in the base
/// currency, `CashBalance:EUR` the euro line, `NetLiquidation:EUR` a total TWS only
/// sends in the base currency), or `Key` for values without one (`AccountType`); and
/// positions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct AccountState {
    pub account: String,
    /// The account's base currency, once TWS has told (it does with NetLiquidation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_currency: Option<String>,
    #[serde(default)]
    pub values: BTreeMap<String, String>,
    #[serde(default)]
    pub positions: Vec<Position>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

impl AccountState {
    /// A value in the account's base currency: `Key:BASE`, else `Key:<base>`, else
    /// `Key` (TWS sends some totals under BASE, others under the base currency's code).
    pub fn value_in_base(&self, key: &str) -> Option<&str> {
        let by = |cur: &str| self.values.get(&format!("{key}:{cur}")).map(String::as_str);
        by("BASE")
            .or_else(|| self.base_currency.as_deref().and_then(by))
            .or_else(|| self.values.get(key).map(String::as_str))
    }

    /// Folds a change set (as carried by `account_update`) into this state.
    pub fn merge(&mut self, change: &AccountState) {
        if change.base_currency.is_some() {
            self.base_currency = change.base_currency.clone();
        }
        for (k, v) in &change.values {
            self.values.insert(k.clone(), v.clone());
        }
        for p in &change.positions {
            match self.positions.iter_mut().find(|q| q.con_id == p.con_id && q.symbol == p.symbol) {
                Some(q) => *q = p.clone(),
                None => self.positions.push(p.clone()),
            }
        }
        self.positions.retain(|p| p.position.0 != 0.0);
        if change.updated_at.is_some() {
            self.updated_at = change.updated_at.clone();
        }
    }
}

//! Account values and positions, batched per TWS update cycle.
//!
//! TWS sends account values one per frame (150+ at a time) and closes each cycle with
//! updateAccountTime (or accountDownloadEnd, or positionEnd for reqPositions). The
//! book collects what changed and hands out one change set per cycle, so clients get
//! one `account_update` frame instead of a storm.

use std::collections::BTreeMap;

use ibws_shared::protocol::{AccountState, Num, Position};

use crate::tws::types::{PortfolioItem, PositionItem};

#[derive(Debug, Default)]
pub struct AccountBook {
    accounts: BTreeMap<String, AccountState>,
    pending: BTreeMap<String, AccountState>,
    base_currency: BTreeMap<String, String>,
}

impl AccountBook {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn accounts(&self) -> impl Iterator<Item = &AccountState> {
        self.accounts.values()
    }

    fn pending(&mut self, account: &str) -> &mut AccountState {
        self.pending
            .entry(account.to_owned())
            .or_insert_with(|| AccountState { account: account.to_owned(), ..Default::default() })
    }

    /// updateAccountValue. Values in the base currency keep TWS's key; others get
    /// `:CUR` appended (TWS repeats keys per currency).
    pub fn on_value(&mut self, key: &str, value: &str, currency: &str, account: &str) {
        if key == "NetLiquidation" && !currency.is_empty() {
            self.base_currency.entry(account.to_owned()).or_insert_with(|| currency.to_owned());
        }
        let base = self.base_currency.get(account).map(String::as_str).unwrap_or("USD");
        let name = if currency.is_empty() || currency == "BASE" || currency == base {
            key.to_owned()
        } else {
            format!("{key}:{currency}")
        };
        if self.accounts.get(account).and_then(|a| a.values.get(&name)).is_some_and(|v| v == value) {
            return;
        }
        self.pending(account).values.insert(name, value.to_owned());
    }

    /// updatePortfolio.
    pub fn on_portfolio(&mut self, p: &PortfolioItem) {
        let pos = Position {
            symbol: p.contract.symbol.clone(),
            con_id: p.contract.con_id,
            position: Num(p.position),
            market_price: Some(Num(p.market_price)),
            market_value: Some(Num(p.market_value)),
            average_cost: Some(Num(p.average_cost)),
            unrealized_pnl: Some(Num(p.unrealized_pnl)),
            realized_pnl: Some(Num(p.realized_pnl)),
        };
        self.stage_position(&p.account, pos);
    }

    /// position (from reqPositions): quantity and cost only.
    pub fn on_position(&mut self, p: &PositionItem) {
        let known =
            self.accounts.get(&p.account).and_then(|a| a.positions.iter().find(|q| q.con_id == p.contract.con_id));
        let mut pos = known.cloned().unwrap_or_else(|| Position {
            symbol: p.contract.symbol.clone(),
            con_id: p.contract.con_id,
            ..Default::default()
        });
        pos.position = Num(p.position);
        pos.average_cost = Some(Num(p.avg_cost));
        self.stage_position(&p.account, pos);
    }

    fn stage_position(&mut self, account: &str, pos: Position) {
        let same = self
            .accounts
            .get(account)
            .and_then(|a| a.positions.iter().find(|q| q.con_id == pos.con_id && q.symbol == pos.symbol))
            .is_some_and(|q| *q == pos);
        if same {
            return;
        }
        let pending = self.pending(account);
        pending.positions.retain(|q| !(q.con_id == pos.con_id && q.symbol == pos.symbol));
        pending.positions.push(pos);
    }

    /// Ends an update cycle: the change sets of every account with changes.
    pub fn flush(&mut self, updated_at: Option<&str>) -> Vec<AccountState> {
        let pending = std::mem::take(&mut self.pending);
        let mut out = Vec::new();
        for (name, mut change) in pending {
            if change.values.is_empty() && change.positions.is_empty() {
                continue;
            }
            change.updated_at = updated_at.map(str::to_owned);
            let state = self
                .accounts
                .entry(name.clone())
                .or_insert_with(|| AccountState { account: name.clone(), ..Default::default() });
            state.merge(&change);
            out.push(change);
        }
        out
    }
}

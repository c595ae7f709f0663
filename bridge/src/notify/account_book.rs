//! Account values and positions, batched per TWS update cycle.
//!
//! TWS sends account values one per frame (150+ at a time) and closes each cycle with
//! updateAccountTime (or accountDownloadEnd, accountUpdateMultiEnd, positionEnd). The
//! book collects what changed and hands out one change set per cycle, so clients get
//! one `account_update` frame instead of a storm; values streamed by
//! reqAccountUpdatesMulti after its first download have no end marker and are flushed
//! [`FLUSH_MS`] after the first of them.
//!
//! A value is identified by (key, currency): TWS sends many keys once for `BASE` (the
//! account's total in its base currency) and once per currency, and the base currency
//! itself is only known when NetLiquidation arrives. Keys are therefore `Key:CUR`
//! (`CashBalance:BASE`, `CashBalance:EUR`, `CashBalance:USD`, `NetLiquidation:EUR`),
//! or plain `Key` for values without a currency (`AccountType`): the same value always
//! has the same name, from the first frame on, whatever the base currency.

use std::collections::BTreeMap;

use ibws_shared::protocol::{AccountState, Num, Position};

use ibws_tws::types::{PortfolioItem, PositionItem};

/// Values streamed without an end marker are flushed this long after the first.
pub const FLUSH_MS: u64 = 100;

#[derive(Debug, Default)]
pub struct AccountBook {
    accounts: BTreeMap<String, AccountState>,
    pending: BTreeMap<String, AccountState>,
    /// When the oldest pending change must go out.
    flush_at: Option<u64>,
}

impl AccountBook {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn accounts(&self) -> impl Iterator<Item = &AccountState> {
        self.accounts.values()
    }

    fn pending(&mut self, account: &str, now_ms: u64) -> &mut AccountState {
        self.flush_at.get_or_insert(now_ms + FLUSH_MS);
        self.pending
            .entry(account.to_owned())
            .or_insert_with(|| AccountState { account: account.to_owned(), ..Default::default() })
    }

    /// updateAccountValue / accountUpdateMulti.
    pub fn on_value(&mut self, key: &str, value: &str, currency: &str, account: &str, now_ms: u64) {
        let name = if currency.is_empty() { key.to_owned() } else { format!("{key}:{currency}") };
        let known = self.accounts.get(account);
        let base = (key == "NetLiquidation" && !currency.is_empty() && currency != "BASE").then_some(currency);
        let base_known = known.and_then(|a| a.base_currency.as_deref()) == base || base.is_none();
        if known.and_then(|a| a.values.get(&name)).is_some_and(|v| v == value) && base_known {
            return;
        }
        let p = self.pending(account, now_ms);
        p.values.insert(name, value.to_owned());
        if let Some(b) = base {
            p.base_currency = Some(b.to_owned());
        }
    }

    /// updatePortfolio.
    pub fn on_portfolio(&mut self, p: &PortfolioItem, now_ms: u64) {
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
        self.stage_position(&p.account, pos, now_ms);
    }

    /// position (reqPositions, reqPositionsMulti): quantity and cost only.
    pub fn on_position(&mut self, p: &PositionItem, now_ms: u64) {
        let known =
            self.accounts.get(&p.account).and_then(|a| a.positions.iter().find(|q| q.con_id == p.contract.con_id));
        let mut pos = known.cloned().unwrap_or_else(|| Position {
            symbol: p.contract.symbol.clone(),
            con_id: p.contract.con_id,
            ..Default::default()
        });
        pos.position = Num(p.position);
        pos.average_cost = Some(Num(p.avg_cost));
        self.stage_position(&p.account, pos, now_ms);
    }

    fn stage_position(&mut self, account: &str, pos: Position, now_ms: u64) {
        let same = self
            .accounts
            .get(account)
            .and_then(|a| a.positions.iter().find(|q| q.con_id == pos.con_id && q.symbol == pos.symbol))
            .is_some_and(|q| *q == pos);
        if same {
            return;
        }
        let pending = self.pending(account, now_ms);
        pending.positions.retain(|q| !(q.con_id == pos.con_id && q.symbol == pos.symbol));
        pending.positions.push(pos);
    }

    /// Ends an update cycle: the change sets of every account with changes.
    pub fn flush(&mut self, updated_at: Option<&str>) -> Vec<AccountState> {
        self.flush_at = None;
        let pending = std::mem::take(&mut self.pending);
        let mut out = Vec::new();
        for (name, mut change) in pending {
            if change.values.is_empty() && change.positions.is_empty() && change.base_currency.is_none() {
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

    /// Whether streamed changes have waited [`FLUSH_MS`] for an end marker.
    pub fn flush_due(&self, now_ms: u64) -> bool {
        self.flush_at.is_some_and(|t| now_ms >= t)
    }

    /// When [`AccountBook::flush_due`] turns true (monotonic ms).
    pub fn next_deadline(&self) -> Option<u64> {
        self.flush_at
    }
}

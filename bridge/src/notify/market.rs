//! Market-data conflation: the latest quote per symbol, at most `max_per_sec` frames
//! per symbol, so a fast ticker cannot flood clients. Ticks between frames are merged
//! (latest value wins) and flushed when the symbol's interval has passed.

use std::collections::HashMap;

use ibws_shared::protocol::{Num, Quote};

/// Conflation state for every watched symbol.
#[derive(Debug)]
pub struct MarketConflator {
    interval_ms: u64,
    symbols: HashMap<String, SymbolState>,
}

#[derive(Debug, Default)]
struct SymbolState {
    quote: Quote,
    dirty: bool,
    last_emit_ms: Option<u64>,
}

/// Which quote field a tick sets, by TWS tick type; `None` clears it (no quote).
fn apply(q: &mut Quote, tick_type: i64, value: Option<f64>) -> bool {
    let slot = match tick_type {
        1 | 66 => &mut q.bid,
        2 | 67 => &mut q.ask,
        4 | 68 => &mut q.last,
        0 | 69 => &mut q.bid_size,
        3 | 70 => &mut q.ask_size,
        5 | 71 => &mut q.last_size,
        8 | 74 => &mut q.volume,
        9 | 75 => &mut q.close,
        _ => return false,
    };
    let value = value.map(Num);
    if *slot == value {
        return false;
    }
    *slot = value;
    true
}

impl MarketConflator {
    /// `max_per_sec` frames per symbol at most (0 means unlimited).
    pub fn new(max_per_sec: u32) -> Self {
        MarketConflator {
            interval_ms: if max_per_sec == 0 { 0 } else { 1000 / u64::from(max_per_sec) },
            symbols: HashMap::new(),
        }
    }

    /// Records a tick; returns the quote to send now, if the symbol may send now.
    pub fn on_tick(&mut self, symbol: &str, tick_type: i64, value: f64, now_ms: u64) -> Option<Quote> {
        self.on_ticks(symbol, &[(tick_type, Some(value))], now_ms)
    }

    /// Records ticks that arrived together (a price and its size); `None` clears a
    /// field. Returns the quote to send now, if the symbol may send now.
    pub fn on_ticks(&mut self, symbol: &str, ticks: &[(i64, Option<f64>)], now_ms: u64) -> Option<Quote> {
        let s = self.symbols.entry(symbol.to_owned()).or_default();
        let mut changed = false;
        for (t, v) in ticks {
            changed |= apply(&mut s.quote, *t, *v);
        }
        if !changed {
            return None;
        }
        s.dirty = true;
        let due = s.last_emit_ms.is_none_or(|t| now_ms >= t + self.interval_ms);
        due.then(|| {
            s.dirty = false;
            s.last_emit_ms = Some(now_ms);
            s.quote.clone()
        })
    }

    /// Quotes whose interval has passed with ticks pending.
    pub fn poll(&mut self, now_ms: u64) -> Vec<(String, Quote)> {
        let mut out = Vec::new();
        for (sym, s) in self.symbols.iter_mut() {
            if s.dirty && s.last_emit_ms.is_none_or(|t| now_ms >= t + self.interval_ms) {
                s.dirty = false;
                s.last_emit_ms = Some(now_ms);
                out.push((sym.clone(), s.quote.clone()));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// When [`MarketConflator::poll`] next has something to flush.
    pub fn next_deadline(&self) -> Option<u64> {
        self.symbols.values().filter(|s| s.dirty).filter_map(|s| s.last_emit_ms.map(|t| t + self.interval_ms)).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflates_to_the_latest_value() {
        let mut m = MarketConflator::new(4); // 250 ms
        assert!(m.on_tick("AAPL", 1, 10.0, 0).is_some());
        assert!(m.on_tick("AAPL", 1, 10.1, 10).is_none());
        assert!(m.on_tick("AAPL", 1, 10.2, 20).is_none());
        assert_eq!(m.next_deadline(), Some(250));
        assert!(m.poll(100).is_empty());
        let out = m.poll(250);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].1.bid, Some(Num(10.2)));
        assert!(m.on_tick("AAPL", 1, 10.2, 600).is_none(), "unchanged value sends nothing");
    }
}

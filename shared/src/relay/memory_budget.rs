//! One memory budget for every tenant a relay process serves.
//!
//! Each tenant's replay ring is bounded (`--replay-mb`), but a relay with many tenants
//! would multiply that bound. The budget covers what all tenants hold together (their
//! rings and order tables, as [`crate::hub::Hub::held_bytes`] counts them): when the
//! total passes it, the largest holders give up their oldest replay events first
//! (their clients that were owed those resynchronise with `recovered: false`, as any
//! client that falls off a ring does), until the total is back under a low-water mark
//! (nine tenths of the budget), so a relay at its limit does not evict on every event.
//! Order tables are never evicted here: they are what `get_orders` answers, and each
//! is bounded by its own order cap.
//!
//! The budget only plans; the driver applies each eviction to that tenant's hub and
//! reports the tenant's new size back.

use std::collections::HashMap;

/// What every tenant holds, and the plan that brings the total under the budget.
#[derive(Debug)]
pub struct MemoryBudget {
    budget: usize,
    held: HashMap<String, usize>,
    total: usize,
}

/// Free at least `bytes` of replay events from `tenant`'s ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Eviction {
    pub tenant: String,
    pub bytes: usize,
}

impl MemoryBudget {
    /// A budget of `budget` bytes for all tenants together.
    pub fn new(budget: usize) -> MemoryBudget {
        MemoryBudget { budget: budget.max(1), held: HashMap::new(), total: 0 }
    }

    pub fn budget(&self) -> usize {
        self.budget
    }

    /// Bytes held by every tenant together.
    pub fn total(&self) -> usize {
        self.total
    }

    /// `tenant` now holds `bytes`.
    pub fn set(&mut self, tenant: &str, bytes: usize) {
        let old = match self.held.get_mut(tenant) {
            Some(v) => std::mem::replace(v, bytes),
            None => {
                self.held.insert(tenant.to_owned(), bytes);
                0
            }
        };
        self.total = self.total - old + bytes;
    }

    /// The tenants counted.
    pub fn tenants(&self) -> impl Iterator<Item = &str> {
        self.held.keys().map(String::as_str)
    }

    /// `tenant` is gone.
    pub fn remove(&mut self, tenant: &str) {
        if let Some(old) = self.held.remove(tenant) {
            self.total -= old;
        }
    }

    /// The evictions that bring the total down to the low-water mark, largest holder
    /// first; empty while the total is within the budget. The driver applies them and
    /// reports the new sizes with [`MemoryBudget::set`]. Costs one pass over the tenants,
    /// and only when the budget is exceeded.
    pub fn plan(&self) -> Vec<Eviction> {
        if self.total <= self.budget {
            return Vec::new();
        }
        let low_water = self.budget / 10 * 9;
        let mut excess = self.total - low_water;
        let mut by_size: Vec<(&String, usize)> = self.held.iter().map(|(t, b)| (t, *b)).collect();
        by_size.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let mut out = Vec::new();
        for (i, (tenant, bytes)) in by_size.iter().enumerate() {
            if excess == 0 {
                break;
            }
            // bring this tenant down to the next one's size (or take the rest)
            let next = by_size.get(i + 1).map_or(0, |n| n.1);
            let take = (bytes - next).max(1).min(excess).min(*bytes);
            if take > 0 {
                out.push(Eviction { tenant: (*tenant).clone(), bytes: take });
                excess -= take;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_tenant_gives_up_first_and_only_past_the_budget() {
        let mut b = MemoryBudget::new(1000);
        b.set("a", 300);
        b.set("b", 600);
        assert!(b.plan().is_empty(), "within the budget");
        b.set("c", 200);
        assert_eq!(b.total(), 1100);
        // down to 900: 200 from the largest, b
        assert_eq!(b.plan(), vec![Eviction { tenant: "b".into(), bytes: 200 }]);
        b.set("b", 400);
        assert!(b.plan().is_empty());
        b.remove("a");
        assert_eq!(b.total(), 600);
    }

    #[test]
    fn an_excess_larger_than_the_gap_spreads_down_the_list() {
        let mut b = MemoryBudget::new(100);
        b.set("a", 100);
        b.set("b", 90);
        // total 190, low water 90: 100 to free; a down to b's size (10), then b 90
        let plan = b.plan();
        assert_eq!(plan[0], Eviction { tenant: "a".into(), bytes: 10 });
        assert_eq!(plan.iter().map(|e| e.bytes).sum::<usize>(), 100);
    }
}

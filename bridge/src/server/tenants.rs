//! Hubs by tenant, for the relay: each bridge publishes into its tenant's hub, and each
//! client token names the tenant it reads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ibws_shared::auth::TokenVerifier;
use ibws_shared::hub::{Hub, HubConfig};
use ibws_shared::relay::MemoryBudget;
use tracing::debug;

use super::SharedHub;

/// Where a client connection goes.
#[derive(Clone)]
pub enum Hubs {
    /// One stream (the bridge's own endpoints).
    Single(SharedHub),
    /// One stream per tenant (the relay).
    Tenants(TenantMap),
}

impl Hubs {
    /// The hub for a client with these claims (`None` claims: the single hub).
    pub fn for_client(&self, tenant: Option<&str>) -> Option<SharedHub> {
        match (self, tenant) {
            (Hubs::Single(h), _) => Some(h.clone()),
            (Hubs::Tenants(m), Some(t)) => Some(m.get_or_create(t)),
            (Hubs::Tenants(_), None) => None,
        }
    }

    /// Whether the bridge's link to TWS is up, as its hub holds it (the one place that
    /// knows); a relay has no TWS link of its own.
    pub fn tws_connected(&self) -> bool {
        match self {
            Hubs::Single(h) => h.with(|h| h.source_connected()),
            Hubs::Tenants(_) => false,
        }
    }

    pub fn all(&self) -> Vec<(String, SharedHub)> {
        match self {
            Hubs::Single(h) => vec![(String::new(), h.clone())],
            Hubs::Tenants(m) => m.all(),
        }
    }
}

/// Tenant hubs, created on first use.
#[derive(Clone)]
pub struct TenantMap {
    hubs: Arc<Mutex<HashMap<String, SharedHub>>>,
    cfg: HubConfig,
    verifier: Option<Arc<dyn TokenVerifier>>,
    max_tenants: usize,
    /// What all tenants hold together, when the process has a budget for it.
    budget: Option<Arc<Mutex<MemoryBudget>>>,
}

impl TenantMap {
    pub fn new(cfg: HubConfig, verifier: Option<Arc<dyn TokenVerifier>>) -> Self {
        TenantMap { hubs: Arc::new(Mutex::new(HashMap::new())), cfg, verifier, max_tenants: 10_000, budget: None }
    }

    /// Keeps every tenant's stream together within `budget`.
    pub fn with_memory_budget(mut self, budget: MemoryBudget) -> Self {
        self.budget = Some(Arc::new(Mutex::new(budget)));
        self
    }

    /// `tenant`'s stream now holds `held` bytes (after its bridge's frame): when all
    /// tenants together pass the budget, the evictions [`MemoryBudget::plan`] chose
    /// are applied, largest tenant first. The budget's lock is never held while a
    /// hub's is.
    pub fn note_held(&self, tenant: &str, held: usize) {
        let Some(budget) = &self.budget else { return };
        let plan = {
            let mut b = budget.lock().unwrap_or_else(|p| p.into_inner());
            b.set(tenant, held);
            b.plan()
        };
        for e in plan {
            let hub = self.hubs.lock().unwrap_or_else(|p| p.into_inner()).get(&e.tenant).cloned();
            let Some(hub) = hub else {
                budget.lock().unwrap_or_else(|p| p.into_inner()).remove(&e.tenant);
                continue;
            };
            let (events, held) = hub.with(|h| (h.evict_for_memory(e.bytes), h.held_bytes()));
            budget.lock().unwrap_or_else(|p| p.into_inner()).set(&e.tenant, held);
            debug!(tenant = %e.tenant, events, "memory budget: dropped the oldest replay events");
        }
    }

    /// What all tenants hold together, by the budget's count (0 without a budget).
    pub fn held_bytes(&self) -> usize {
        self.budget.as_ref().map_or(0, |b| b.lock().unwrap_or_else(|p| p.into_inner()).total())
    }

    pub fn get_or_create(&self, tenant: &str) -> SharedHub {
        let mut m = self.hubs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = m.get(tenant) {
            return h.clone();
        }
        if m.len() >= self.max_tenants {
            // Tokens are minted by the operator, so this is a misconfiguration, not an
            // attack surface; still, never grow without bound.
            m.retain(|_, h| {
                let keep = h.with(|h| h.client_count() > 0 || h.source_connected());
                if !keep {
                    h.stop_timer();
                }
                keep
            });
            if let Some(b) = &self.budget {
                let mut b = b.lock().unwrap_or_else(|p| p.into_inner());
                let gone: Vec<String> = b.tenants().filter(|t| !m.contains_key(*t)).map(str::to_owned).collect();
                for t in gone {
                    b.remove(&t);
                }
            }
        }
        let cfg = HubConfig { tenant: Some(tenant.to_owned()), ..self.cfg.clone() };
        // Until a bridge connects, the stream is empty and has no epoch of its own.
        let epoch = format!("relay-{:016x}", rand::random::<u64>());
        let h = SharedHub::new(Hub::new(cfg, self.verifier.clone(), epoch));
        // each tenant's hub has its own timer, which sleeps until the hub's next deadline
        if tokio::runtime::Handle::try_current().is_ok() {
            h.spawn_timer();
        }
        m.insert(tenant.to_owned(), h.clone());
        h
    }

    pub fn all(&self) -> Vec<(String, SharedHub)> {
        let m = self.hubs.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<_> = m.iter().map(|(k, h)| (k.clone(), h.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

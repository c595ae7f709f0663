//! Hubs by tenant, for the relay: each bridge publishes into its tenant's hub, and each
//! client token names the tenant it reads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ibws_shared::auth::TokenVerifier;
use ibws_shared::hub::{Hub, HubConfig};

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
}

impl TenantMap {
    pub fn new(cfg: HubConfig, verifier: Option<Arc<dyn TokenVerifier>>) -> Self {
        TenantMap { hubs: Arc::new(Mutex::new(HashMap::new())), cfg, verifier, max_tenants: 10_000 }
    }

    pub fn get_or_create(&self, tenant: &str) -> SharedHub {
        let mut m = self.hubs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = m.get(tenant) {
            return h.clone();
        }
        if m.len() >= self.max_tenants {
            // Tokens are minted by the operator, so this is a misconfiguration, not an
            // attack surface; still, never grow without bound.
            m.retain(|_, h| h.with(|h| h.client_count() > 0 || h.source_connected()));
        }
        let cfg = HubConfig { tenant: Some(tenant.to_owned()), ..self.cfg.clone() };
        // Until a bridge connects, the stream is empty and has no epoch of its own.
        let epoch = format!("relay-{:016x}", rand::random::<u64>());
        let h = SharedHub::new(Hub::new(cfg, self.verifier.clone(), epoch));
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

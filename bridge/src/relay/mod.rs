//! The native relay (`ibws relay`): hosts one hub per tenant for bridges that dial in
//! (`/bridge/ws`) and serves their streams to authenticated clients anywhere
//! (`/websocket/ws`), over TLS.

mod ingest;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ibws_shared::auth::TokenVerifier;
use ibws_shared::hub::HubConfig;
use ibws_shared::protocol::CloseCode;
use ibws_shared::relay::MemoryBudget;
use tokio::net::TcpListener;
use tracing::info;

use crate::server::{
    stop_signal, ConnLimiter, Endpoint, Hubs, LimitConfig, OriginPolicy, Policy, Routes, Status, TenantMap,
};
use crate::start_error::StartError;

/// `--max-memory-mb`'s default: 1 GiB for every tenant's stream together.
pub const DEFAULT_MAX_MEMORY_BYTES: usize = 1024 << 20;

pub struct RelayConfig {
    pub listen: SocketAddr,
    /// `None` only with `insecure`; any non-loopback address requires TLS.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub verifier: Arc<dyn TokenVerifier>,
    pub allowed_origins: Vec<String>,
    pub limits: LimitConfig,
    pub hub: HubConfig,
    /// Allow plain `ws://` on a non-loopback address (for a TLS-terminating proxy).
    pub insecure: bool,
    /// Where `/metrics` and `/status` (tenant names, client counts, positions) are
    /// served; `None` serves them nowhere. The main listener never serves them.
    pub metrics_listen: Option<SocketAddr>,
    /// A client that has not taken a write for this long is dropped (its slot freed).
    pub send_timeout: Duration,
    /// What every tenant's replay ring and order table may hold together; past it the
    /// largest tenants' oldest replay events go first (`relay::MemoryBudget`).
    pub max_memory_bytes: usize,
}

/// A running relay.
pub struct Relay {
    pub addr: SocketAddr,
    /// The metrics listener's address, when it has one.
    pub metrics_addr: Option<SocketAddr>,
    pub tenants: TenantMap,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Drop for Relay {
    /// Stopping the relay drops every connection at once, as a crash would.
    fn drop(&mut self) {
        self.stop.send_replace(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Relay {
    pub async fn start(cfg: RelayConfig) -> Result<Relay, StartError> {
        if cfg.tls.is_none() && !cfg.listen.ip().is_loopback() && !cfg.insecure {
            return Err(StartError::Unsafe {
                addr: cfg.listen,
                problem: "without TLS: pass --tls-cert and --tls-key (or --insecure behind a TLS-terminating proxy)",
            });
        }
        let listener =
            TcpListener::bind(cfg.listen).await.map_err(|e| StartError::bind(cfg.listen, "relay", "--listen", e))?;
        let addr = listener.local_addr().map_err(|e| StartError::Other(e.to_string()))?;
        let hub_cfg = HubConfig { utc_offset_secs: crate::clock::utc_offset_secs(), ..cfg.hub.clone() };
        let tenants = TenantMap::new(hub_cfg.clone(), Some(cfg.verifier.clone()))
            .with_memory_budget(MemoryBudget::new(cfg.max_memory_bytes));
        let owners = Arc::new(ingest::Owners::default());
        let auth_deadline = Duration::from_millis(hub_cfg.auth_deadline_ms);
        let max_orders = hub_cfg.max_orders;
        let (t2, v2) = (tenants.clone(), cfg.verifier.clone());
        let status = Arc::new(Status::default());
        let s2 = status.clone();
        let (stop, stop_rx) = stop_signal();
        let endpoint = Endpoint {
            hubs: Hubs::Tenants(tenants.clone()),
            policy: Arc::new(Policy {
                routes: Routes::Public,
                hosts: None,
                auth: Some(cfg.verifier.clone()),
                origins: OriginPolicy::remote(cfg.allowed_origins.clone()),
                limits: ConnLimiter::new(cfg.limits.clone()),
                max_frame: hub_cfg.max_frame_bytes,
                auth_deadline,
                send_timeout: cfg.send_timeout,
            }),
            status,
            tls: cfg.tls.clone(),
            mcp: None,
            bridges: Some(Arc::new(move |ws, ip| {
                Box::pin(ingest::run(
                    ws,
                    ip,
                    t2.clone(),
                    v2.clone(),
                    owners.clone(),
                    s2.clone(),
                    auth_deadline,
                    max_orders,
                ))
            })),
            stop: stop_rx,
        };
        let endpoint_ops = endpoint.clone();
        let mut tasks = vec![tokio::spawn(endpoint.serve(listener))];
        let mut metrics_addr = None;
        if let Some(m) = cfg.metrics_listen {
            let l = TcpListener::bind(m).await.map_err(|e| StartError::bind(m, "metrics", "--metrics-listen", e))?;
            let a = l.local_addr().map_err(|e| StartError::Other(e.to_string()))?;
            let ops = Endpoint {
                policy: Arc::new(Policy {
                    routes: Routes::Metrics,
                    hosts: None,
                    auth: None,
                    origins: OriginPolicy::remote(vec![]),
                    limits: ConnLimiter::new(LimitConfig::default()),
                    max_frame: 1024,
                    auth_deadline,
                    send_timeout: crate::server::SEND_TIMEOUT,
                }),
                mcp: None,
                bridges: None,
                tls: None,
                ..endpoint_ops
            };
            tasks.push(tokio::spawn(ops.serve(l)));
            info!(addr = %a, "relay metrics: http://{a}/metrics and /status");
            metrics_addr = Some(a);
        }
        let scheme = if cfg.tls.is_some() { "wss" } else { "ws" };
        info!(%addr, "relay listening: clients {scheme}://{addr}/websocket/ws, bridges {scheme}://{addr}/bridge/ws");
        Ok(Relay { addr, metrics_addr, tenants, tasks, stop })
    }

    /// Closes every client with "server restarting".
    pub async fn shutdown(&self) {
        let now = crate::clock::now();
        let hubs = self.tenants.all();
        for (_, h) in &hubs {
            h.with(|h| h.close_all(CloseCode::ServerRestarting, now));
        }
        // every tenant's clients finish their closing handshakes together
        let deadline = tokio::time::Instant::now() + crate::app::SHUTDOWN_GRACE;
        for (_, h) in &hubs {
            h.drained(deadline.saturating_duration_since(tokio::time::Instant::now())).await;
        }
    }
}

//! Wiring: TWS driver -> notifier -> sequencer -> hub -> local endpoint.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ibws_shared::hub::{Hub, HubConfig};
use ibws_shared::protocol::CloseCode;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::info;

use crate::agent::{AuditLog, Desk, DeskCall, DeskHandle, DeskStation, IbwsMcp, McpHttp, TradingPolicy};
use crate::clock;
use crate::notify::{AgentRules, Notifier, NotifierConfig};
use crate::server::{
    stop_signal, ConnLimiter, Endpoint, Hubs, LimitConfig, OriginPolicy, Policy, Routes, SharedHub, Status,
};
use crate::start_error::StartError;
use crate::uplink::{Uplink, UplinkConfig};
use ibws_shared::auth::TokenVerifier;
use ibws_shared::hub::Now;
use ibws_shared::protocol::ServerFrame;
use ibws_tws::{LinkConfig, LinkEvent};
use ibws_tws_io::driver::{self, DriverConfig};

/// The bridge's optional remote endpoint: TLS, JWT, exact origins, limits.
#[derive(Clone)]
pub struct RemoteConfig {
    pub listen: SocketAddr,
    /// Only tokens for this tenant may read the bridge remotely.
    pub tenant: String,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub verifier: Arc<dyn TokenVerifier>,
    pub allowed_origins: Vec<String>,
    pub limits: LimitConfig,
}

/// Everything `ibws bridge` (and the demo) runs with.
#[derive(Clone)]
pub struct BridgeConfig {
    pub tws: String,
    pub client_id: i64,
    /// The highest TWS server version to offer (`--tws-max-version`).
    pub tws_max_version: i32,
    /// Days of executions to reconcile after connecting (server version 200 on).
    pub reconcile_days: i64,
    pub accounts: Vec<String>,
    pub watch: Vec<String>,
    pub listen: SocketAddr,
    pub agents: AgentRules,
    pub market_max_per_sec: u32,
    pub allowed_origins: Vec<String>,
    /// Host names the local endpoint answers besides loopback ones.
    pub allowed_hosts: Vec<String>,
    pub insecure_bind: bool,
    pub hub: HubConfig,
    pub remote: Option<RemoteConfig>,
    pub uplink: Option<UplinkConfig>,
    /// A client that has not taken a write for this long is dropped, its slot freed.
    pub send_timeout: Duration,
    /// What an agent on `ibws mcp` may do (`None`: no agent desk, as `ibws bridge`).
    pub agent: Option<TradingPolicy>,
    /// Serve the agent's MCP over streamable HTTP at `/mcp` on the local endpoint.
    pub mcp_http: Option<McpHttpConfig>,
}

/// MCP over HTTP on the local endpoint: the bearer token every request must carry, and
/// the audit log its tool calls go to.
#[derive(Clone)]
pub struct McpHttpConfig {
    pub token: String,
    pub audit: Arc<AuditLog>,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig {
            tws: "127.0.0.1:7497".into(),
            client_id: 0,
            tws_max_version: ibws_tws::versions::MAX_CLIENT_VERSION,
            reconcile_days: LinkConfig::default().reconcile_days,
            accounts: vec![],
            watch: vec![],
            listen: "127.0.0.1:8000".parse().expect("valid address"),
            agents: AgentRules::default(),
            market_max_per_sec: 4,
            allowed_origins: vec![],
            allowed_hosts: vec![],
            insecure_bind: false,
            hub: HubConfig::default(),
            remote: None,
            uplink: None,
            send_timeout: crate::server::SEND_TIMEOUT,
            agent: None,
            mcp_http: None,
        }
    }
}

/// A running bridge.
pub struct Bridge {
    pub addr: SocketAddr,
    /// The remote endpoint's address, when one is configured.
    pub remote_addr: Option<SocketAddr>,
    pub hub: SharedHub,
    pub status: Arc<Status>,
    pub uplink: Option<Uplink>,
    /// The agent desk's handle, for `ibws mcp`'s tools.
    pub desk: Option<DeskHandle>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Bridge {
    /// Binds the endpoints and starts the pipeline. Refuses a non-loopback local
    /// address unless `insecure_bind` is set (without TLS and auth, anyone who can reach
    /// the port could read the account), and a non-loopback remote endpoint without TLS.
    pub async fn start(cfg: BridgeConfig) -> Result<Bridge, StartError> {
        if !cfg.listen.ip().is_loopback() && !cfg.insecure_bind {
            return Err(StartError::Unsafe {
                addr: cfg.listen,
                problem: "without TLS and authentication: anyone who can reach it could read your orders. \
                          Bind a loopback address and use --remote-listen with TLS and JWT for remote access, \
                          or pass --insecure-bind if you really mean it",
            });
        }
        if let Some(r) = &cfg.remote {
            if r.tls.is_none() && !r.listen.ip().is_loopback() && !cfg.insecure_bind {
                return Err(StartError::Unsafe {
                    addr: r.listen,
                    problem: "(--remote-listen) without TLS: pass --tls-cert and --tls-key",
                });
            }
        }
        let listener = TcpListener::bind(cfg.listen)
            .await
            .map_err(|e| StartError::bind(cfg.listen, "local endpoint", "--listen", e))?;
        let addr = listener.local_addr().map_err(|e| StartError::Other(e.to_string()))?;
        let epoch = new_epoch();
        let mut hub_cfg = cfg.hub.clone();
        hub_cfg.utc_offset_secs = clock::utc_offset_secs();
        if let Some(r) = &cfg.remote {
            // tokens for another bridge's stream never read this one
            hub_cfg.tenant = Some(r.tenant.clone());
        }
        let verifier = cfg.remote.as_ref().map(|r| r.verifier.clone());
        let hub = SharedHub::new(Hub::new(hub_cfg.clone(), verifier, epoch.clone()));
        let status = Arc::new(Status {
            tws_addr: cfg.tws.clone(),
            uplink: cfg.uplink.as_ref().map(|_| Arc::default()),
            ..Status::default()
        });
        let (desk, agent) = match cfg.agent.clone() {
            Some(policy) => {
                let (handle, calls) = DeskHandle::new();
                let station =
                    DeskStation::new(Desk::new(policy, rand::random()), &handle, cfg.client_id, cfg.watch.clone());
                (Some(handle), Some((station, calls)))
            }
            None => (None, None),
        };
        let mcp = match (&cfg.mcp_http, &desk, &cfg.agent) {
            (Some(m), Some(handle), Some(policy)) => {
                let server = IbwsMcp::new(handle.clone(), m.audit.clone(), policy.agent.clone());
                let origins = OriginPolicy::local(cfg.allowed_origins.clone());
                Some(Arc::new(McpHttp::new(server, m.token.clone(), origins, &cfg.allowed_hosts)))
            }
            _ => None,
        };
        let (stop, stop_rx) = stop_signal();
        let endpoint = Endpoint {
            hubs: Hubs::Single(hub.clone()),
            policy: Arc::new(Policy {
                send_timeout: cfg.send_timeout,
                ..Policy::local(cfg.allowed_origins.clone(), cfg.allowed_hosts.clone(), hub_cfg.max_frame_bytes)
            }),
            status: status.clone(),
            tls: None,
            bridges: None,
            mcp,
            stop: stop_rx.clone(),
        };
        let mut tasks = vec![tokio::spawn(endpoint.serve(listener)), hub.spawn_timer()];
        info!(%addr, "local endpoint listening: ws://{addr}/websocket/ws");

        let mut remote_addr = None;
        if let Some(r) = &cfg.remote {
            let l = TcpListener::bind(r.listen)
                .await
                .map_err(|e| StartError::bind(r.listen, "remote endpoint", "--remote-listen", e))?;
            let a = l.local_addr().map_err(|e| StartError::Other(e.to_string()))?;
            let ep = Endpoint {
                hubs: Hubs::Single(hub.clone()),
                policy: Arc::new(Policy {
                    routes: Routes::Public,
                    hosts: None,
                    auth: Some(r.verifier.clone()),
                    origins: OriginPolicy::remote(r.allowed_origins.clone()),
                    limits: ConnLimiter::new(r.limits.clone()),
                    max_frame: hub_cfg.max_frame_bytes,
                    auth_deadline: Duration::from_millis(hub_cfg.auth_deadline_ms),
                    send_timeout: cfg.send_timeout,
                }),
                status: status.clone(),
                tls: r.tls.clone(),
                bridges: None,
                mcp: None,
                stop: stop_rx.clone(),
            };
            tasks.push(tokio::spawn(ep.serve(l)));
            let scheme = if r.tls.is_some() { "wss" } else { "ws" };
            info!(addr = %a, "remote endpoint listening: {scheme}://{a}/websocket/ws (JWT required)");
            remote_addr = Some(a);
        }

        let uplink = cfg.uplink.clone().zip(status.uplink.clone()).map(|(u, stats)| {
            let (up, task) = Uplink::spawn(u, hub.clone(), stats);
            tasks.push(task);
            up
        });

        let (tx, rx) = mpsc::channel(65_536);
        let dcfg = DriverConfig {
            addr: cfg.tws.clone(),
            link: LinkConfig {
                client_id: cfg.client_id,
                accounts: cfg.accounts.clone(),
                watch: cfg.watch.clone(),
                max_version: cfg.tws_max_version,
                reconcile_days: cfg.reconcile_days,
                ..LinkConfig::default()
            },
        };
        let driver = driver::spawn(dcfg, tx);
        let notifier = Notifier::new(NotifierConfig {
            agents: cfg.agents.clone(),
            market_max_per_sec: cfg.market_max_per_sec,
            watch: cfg.watch.clone(),
            accounts: cfg.accounts.clone(),
            utc_offset_secs: hub_cfg.utc_offset_secs,
            client_id: cfg.client_id,
        });
        let out = Outputs { hub: hub.clone(), uplink: uplink.clone(), status: status.clone() };
        tasks.push(tokio::spawn(pipeline(rx, driver, notifier, out, agent)));
        Ok(Bridge { addr, remote_addr, hub, status, uplink, desk, tasks, stop })
    }

    /// Closes every client with "server restarting" (they reconnect and resume), and
    /// returns once each has received its close frame and answered it (at most
    /// [`SHUTDOWN_GRACE`]).
    pub async fn shutdown(&self) {
        self.hub.with(|h| h.close_all(CloseCode::ServerRestarting, clock::now()));
        self.hub.drained(SHUTDOWN_GRACE).await;
    }
}

/// A fresh epoch for this run's stream: it only has to differ between runs (and not
/// be guessable enough to collide with another bridge's).
fn new_epoch() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// How long a shutdown waits for clients to finish their closing handshake.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Where the pipeline's events go.
struct Outputs {
    hub: SharedHub,
    uplink: Option<Uplink>,
    status: Arc<Status>,
}

impl Outputs {
    fn source(&self, up: bool, reason: Option<&str>) {
        self.hub.with(|h| h.set_source_connected(up));
        *self.status.tws_down_reason.lock().unwrap_or_else(|e| e.into_inner()) = reason.map(str::to_owned);
        if let Some(u) = &self.uplink {
            u.set_source(up);
        }
    }

    /// Publishes frames into the local hub, which stamps each with the stream's next
    /// position (it alone owns it), and queues the stamped events for the relay.
    fn publish(&self, frames: Vec<ServerFrame>, now: Now, agent: Option<&mut DeskStation>) {
        if frames.is_empty() {
            return;
        }
        if let Some(station) = agent {
            station.on_published(&frames);
        }
        let events: Vec<_> = self.hub.with(|h| {
            frames
                .into_iter()
                .filter_map(|f| match h.originate(f, now) {
                    Ok(ev) => ev,
                    Err(v) => {
                        // only at the largest safe position, after 2^53 - 1 events
                        tracing::error!("the local stream cannot take another event: {}", v.reason());
                        None
                    }
                })
                .collect()
        });
        if let Some(u) = &self.uplink {
            u.push(&events);
        }
    }
}

async fn pipeline(
    mut rx: mpsc::Receiver<LinkEvent>,
    driver: driver::DriverHandle,
    mut notifier: Notifier,
    out: Outputs,
    agent: Option<(DeskStation, mpsc::Receiver<DeskCall>)>,
) {
    let (mut station, mut calls) = match agent {
        Some((s, c)) => (Some(s), Some(c)),
        None => (None, None),
    };
    loop {
        let deadline = notifier.next_deadline();
        tokio::select! {
            ev = rx.recv() => {
                let Some(ev) = ev else { return };
                let now = clock::now();
                match &ev {
                    LinkEvent::Connected { .. } => out.source(true, None),
                    LinkEvent::Disconnected { reason } => out.source(false, Some(reason)),
                    _ => {}
                }
                if let Some(st) = station.as_mut() {
                    st.on_link(&ev, now.mono_ms);
                }
                let frames = notifier.on_link(&ev, now);
                out.publish(frames, now, station.as_mut());
            }
            call = async { calls.as_mut().expect("guarded").recv().await }, if calls.is_some() => {
                let (Some(call), Some(st)) = (call, station.as_mut()) else {
                    calls = None;
                    continue;
                };
                if let Some(request) = st.handle(call, &mut notifier, clock::now().mono_ms) {
                    // the agent's order goes out on the bridge's own TWS connection
                    if !driver.send(request).await {
                        return;
                    }
                }
            }
            _ = clock::sleep_until(deadline) => {
                let now = clock::now();
                let frames = notifier.poll(now);
                out.publish(frames, now, station.as_mut());
            }
        }
    }
}

/// What `ibws demo` runs with.
#[derive(Clone, Debug, Default)]
pub struct DemoOptions {
    pub seed: u64,
    /// Interval of the simulated order flow.
    pub flow: Option<Duration>,
    /// Browser origins allowed besides loopback pages.
    pub allowed_origins: Vec<String>,
    /// Working orders to start the day with.
    pub orders: usize,
}

/// `ibws demo`: a simulator with a random order flow and a bridge on top of it.
pub struct Demo {
    pub sim: ibws_tws_io::sim::Simulator,
    pub bridge: Bridge,
}

impl Demo {
    /// Starts the simulator (on a free loopback port) and the bridge on `listen`.
    pub async fn start(listen: SocketAddr, o: DemoOptions) -> Result<Demo, StartError> {
        use ibws_tws_io::sim::{SimConfig, Simulator, AGENT_CLIENT_ID};
        let sim = Simulator::start(SimConfig {
            listen: "127.0.0.1:0".parse().expect("valid address"),
            seed: o.seed,
            flow_interval: o.flow,
            orders: o.orders,
            ..SimConfig::default()
        })
        .await
        .map_err(|e| StartError::Other(format!("cannot start the simulator: {e}")))?;
        let cfg = BridgeConfig {
            tws: sim.addr().to_string(),
            watch: ["AAPL", "MSFT", "NVDA", "TSLA"].map(String::from).to_vec(),
            listen,
            agents: AgentRules { client_ids: vec![AGENT_CLIENT_ID], ..AgentRules::default() },
            allowed_origins: o.allowed_origins,
            ..BridgeConfig::default()
        };
        let bridge = Bridge::start(cfg).await?;
        Ok(Demo { sim, bridge })
    }
}

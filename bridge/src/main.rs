//! `ibws`: the command line. See `ibws --help`.
//!
//! Every bridge option can also come from an environment variable (shown in `--help`)
//! or from a TOML file given with `--config` (keys are the long option names with `_`
//! for `-`, e.g. `client_id = 0`, `watch = ["AAPL", "MSFT"]`). Command-line values win
//! over the environment, which wins over the file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ibws_bridge::app::{Bridge, BridgeConfig, Demo, RemoteConfig};
use ibws_bridge::notify::AgentRules;
use ibws_bridge::sim::{SimConfig, Simulator, AGENT_CLIENT_ID};
use ibws_bridge::uplink::UplinkConfig;
use serde::Deserialize;
use tracing::{error, info};

#[derive(Parser)]
#[command(name = "ibws", version, about = "Interactive Brokers events to web apps, in real time.", long_about = None)]
struct Cli {
    /// Log format
    #[arg(long, global = true, env = "IBWS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run everything on a simulated TWS: the simulator, the bridge and the local
    /// endpoint. Open the printed URL; no IB account needed.
    Demo(DemoArgs),
    /// Bridge a real TWS or IB Gateway to the local WebSocket endpoint.
    Bridge(Box<BridgeArgs>),
    /// Run a simulated TWS, for trying any TWS client without an IB account.
    Sim(SimArgs),
    /// Host streams for bridges that dial in, and serve them to authenticated clients
    /// anywhere over TLS.
    Relay(RelayArgs),
    /// Make JWT keys and tokens, for users without their own token service.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Make a private CA and a server certificate for a self-hosted relay (writes
    /// PREFIX-ca.pem, PREFIX-cert.pem, PREFIX-key.pem); bridges trust it with --ca.
    Cert {
        /// DNS names (or IP addresses) the certificate is for, comma-separated
        #[arg(long, value_delimiter = ',', required = true)]
        names: Vec<String>,
        #[arg(long, default_value = "relay")]
        out: String,
    },
}

#[derive(Args, Default, Clone)]
struct JwtArgs {
    /// File with the HS256 secret (at least 32 bytes)
    #[arg(long, env = "IBWS_JWT_SECRET_FILE")]
    jwt_secret_file: Option<PathBuf>,
    /// PEM public key (Ed25519, P-256 or RSA: the algorithm follows the key)
    #[arg(long, env = "IBWS_JWT_PUBLIC_KEY")]
    jwt_public_key: Option<PathBuf>,
    /// Required `iss` claim [default: ibws]
    #[arg(long, env = "IBWS_JWT_ISSUER")]
    issuer: Option<String>,
    /// Required `aud` claim [default: ibws]
    #[arg(long, env = "IBWS_JWT_AUDIENCE")]
    audience: Option<String>,
}

impl JwtArgs {
    fn configured(&self) -> bool {
        self.jwt_secret_file.is_some() || self.jwt_public_key.is_some()
    }

    fn verifier(&self) -> Result<std::sync::Arc<dyn ibws_shared::auth::TokenVerifier>, String> {
        ibws_bridge::keys::verifier(
            self.jwt_secret_file.as_deref(),
            self.jwt_public_key.as_deref(),
            self.issuer.as_deref().unwrap_or("ibws"),
            self.audience.as_deref().unwrap_or("ibws"),
        )
    }
}

/// An address to listen on, or `off`.
fn listen_or_off(s: &str) -> Result<Option<SocketAddr>, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    s.parse().map(Some).map_err(|e| format!("{s:?}: {e} (an address like 127.0.0.1:9100, or off)"))
}

#[derive(Args)]
struct RelayArgs {
    /// Address to listen on
    #[arg(long, env = "IBWS_RELAY_LISTEN", default_value = "0.0.0.0:8443")]
    listen: SocketAddr,
    #[command(flatten)]
    tls: TlsArgs,
    #[command(flatten)]
    jwt: JwtArgs,
    /// Browser origins allowed (exact, comma-separated); other browser pages are refused
    #[arg(long, env = "IBWS_ALLOWED_ORIGINS", value_delimiter = ',')]
    allowed_origins: Vec<String>,
    /// Connections in total
    #[arg(long, env = "IBWS_MAX_CONNECTIONS", default_value_t = 10_000)]
    max_connections: usize,
    /// Connections per client IP
    #[arg(long, env = "IBWS_MAX_PER_IP", default_value_t = 64)]
    max_per_ip: usize,
    /// Connections per token subject
    #[arg(long, env = "IBWS_MAX_PER_SUBJECT", default_value_t = 100)]
    max_per_subject: usize,
    /// Clients one tenant's stream may serve at once
    #[arg(long, env = "IBWS_MAX_CLIENTS_PER_TENANT", default_value_t = 10_000)]
    max_clients_per_tenant: usize,
    /// WebSocket handshakes one IP may make at once (burst), before the rate applies
    #[arg(long, env = "IBWS_HANDSHAKE_BURST", default_value_t = 32)]
    handshake_burst: u32,
    /// WebSocket handshakes per IP per second, after the burst
    #[arg(long, env = "IBWS_HANDSHAKES_PER_SEC", default_value_t = 16)]
    handshakes_per_sec: u32,
    /// Connections per IP still in TLS or before their request head (more are closed)
    #[arg(long, env = "IBWS_MAX_PENDING_PER_IP", default_value_t = 16)]
    max_pending_per_ip: usize,
    /// Seconds a write to a client may take; a client that stops reading is dropped
    /// after this and its slot freed
    #[arg(long, env = "IBWS_SEND_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    send_timeout_secs: u64,
    /// Events each tenant keeps for resume, and how far a client may fall behind
    /// before it is told `recovered: false`
    #[arg(long, env = "IBWS_REPLAY_EVENTS", default_value_t = 50_000)]
    replay_events: usize,
    /// Megabytes of event text each tenant's replay ring keeps at most
    #[arg(long, env = "IBWS_REPLAY_MB", default_value_t = 64)]
    replay_mb: usize,
    /// Serve plain ws:// on a non-loopback address (behind a TLS-terminating proxy)
    #[arg(long)]
    insecure: bool,
    /// Where /metrics and /status (tenant names, client counts) are served, or `off`.
    /// Keep it on loopback: the client port serves only the upgrade and /healthz
    #[arg(long, env = "IBWS_METRICS_LISTEN", default_value = "127.0.0.1:9100")]
    metrics_listen: String,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Generate a signing key: an Ed25519 or ES256 key pair (PREFIX.key, PREFIX.pub) or
    /// a random HS256 secret (PREFIX.secret). Private files are created 0600.
    Keygen {
        #[arg(long, value_enum, default_value_t = ibws_bridge::keys::KeyKind::Ed25519)]
        kind: ibws_bridge::keys::KeyKind,
        /// Path prefix of the files to write
        #[arg(long, default_value = "ibws-jwt")]
        out: PathBuf,
    },
    /// Issue a token (printed to stdout).
    Issue {
        /// Private key or secret file from `keygen`
        #[arg(long)]
        key: PathBuf,
        /// Subject: who the token is for
        #[arg(long)]
        sub: String,
        /// The bridge stream the token reads (client) or publishes (bridge); required:
        /// every relay and remote endpoint refuses a token without one
        #[arg(long)]
        tenant: String,
        /// `client` or `bridge`
        #[arg(long, default_value = "client")]
        role: String,
        /// Message types allowed, comma-separated [default: all]
        #[arg(long, value_delimiter = ',')]
        scope: Vec<String>,
        /// IB accounts visible, comma-separated [default: all]
        #[arg(long, value_delimiter = ',')]
        accounts: Vec<String>,
        /// Lifetime (30m, 1h, 7d)
        #[arg(long, default_value = "1h")]
        ttl: String,
        #[arg(long, default_value = "ibws")]
        issuer: String,
        #[arg(long, default_value = "ibws")]
        audience: String,
    },
}

#[derive(Args)]
struct DemoArgs {
    /// Address of the local endpoint [default: 127.0.0.1:8000]
    #[arg(long, env = "IBWS_LISTEN")]
    listen: Option<SocketAddr>,
    /// Seed of the simulated order flow
    #[arg(long, env = "IBWS_SIM_SEED", default_value_t = 1)]
    seed: u64,
    /// Milliseconds between simulated order-flow steps
    #[arg(long, env = "IBWS_SIM_FLOW_MS", default_value_t = 600)]
    flow_ms: u64,
    /// Stop after this many seconds (default: run until Ctrl-C)
    #[arg(long)]
    duration_secs: Option<u64>,
}

#[derive(Args, Default)]
struct BridgeArgs {
    /// TOML config file with any of the options below
    #[arg(long, env = "IBWS_CONFIG")]
    config: Option<PathBuf>,
    /// TWS / IB Gateway API address (TWS: 7497 paper, 7496 live; Gateway: 4002 / 4001) [default: 127.0.0.1:7497]
    #[arg(long, env = "IBWS_TWS")]
    tws: Option<String>,
    /// API client id. 0 also receives orders typed into TWS (reqAutoOpenOrders); set TWS's
    /// "Master API client ID" to this value to see other API clients' orders live [default: 0]
    #[arg(long, env = "IBWS_CLIENT_ID")]
    client_id: Option<i64>,
    /// Accounts to follow, comma-separated [default: all managed accounts]
    #[arg(long, env = "IBWS_ACCOUNTS", value_delimiter = ',')]
    accounts: Option<Vec<String>>,
    /// Symbols (US stocks, SMART) to stream market data for, comma-separated
    #[arg(long, env = "IBWS_WATCH", value_delimiter = ',')]
    watch: Option<Vec<String>>,
    /// Local endpoint address [default: 127.0.0.1:8000]
    #[arg(long, env = "IBWS_LISTEN")]
    listen: Option<SocketAddr>,
    /// orderRef prefix that marks an AI agent's (MCP) order; "" disables [default: mcp]
    #[arg(long, env = "IBWS_MCP_ORDER_REF_PREFIX")]
    mcp_order_ref_prefix: Option<String>,
    /// API client ids whose orders are agent (MCP) orders, comma-separated
    #[arg(long, env = "IBWS_MCP_CLIENT_IDS", value_delimiter = ',')]
    mcp_client_ids: Option<Vec<i64>>,
    /// Market-data frames per symbol per second, at most (latest value wins) [default: 4]
    #[arg(long, env = "IBWS_MARKET_MAX_PER_SEC")]
    market_max_per_sec: Option<u32>,
    /// Browser origins allowed besides loopback pages, comma-separated
    #[arg(long, env = "IBWS_ALLOWED_ORIGINS", value_delimiter = ',')]
    allowed_origins: Option<Vec<String>>,
    /// Host names the local endpoint answers besides loopback ones, comma-separated
    /// (any other Host is refused: a defence against DNS rebinding)
    #[arg(long, env = "IBWS_ALLOWED_HOSTS", value_delimiter = ',')]
    allowed_hosts: Option<Vec<String>>,
    /// Serve a non-loopback address without TLS and auth (dangerous)
    #[arg(long, env = "IBWS_INSECURE_BIND")]
    insecure_bind: bool,
    /// Seconds a write to a client may take; a client that stops reading is dropped
    /// after this and its slot freed [default: 10]
    #[arg(long, env = "IBWS_SEND_TIMEOUT_SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    send_timeout_secs: Option<u64>,
    /// Events kept for resume, and how far a client may fall behind before it is told
    /// `recovered: false` [default: 50000]
    #[arg(long, env = "IBWS_REPLAY_EVENTS")]
    replay_events: Option<usize>,
    /// Megabytes of event text the replay ring keeps at most [default: 64]
    #[arg(long, env = "IBWS_REPLAY_MB")]
    replay_mb: Option<usize>,
    /// Also serve remote clients here (JWT required; TLS required unless loopback)
    #[arg(long, env = "IBWS_REMOTE_LISTEN")]
    remote_listen: Option<SocketAddr>,
    #[command(flatten)]
    tls: TlsArgs,
    #[command(flatten)]
    jwt: JwtArgs,
    /// The tenant the remote endpoint serves: tokens for any other tenant are refused
    /// (required with --remote-listen)
    #[arg(long, env = "IBWS_TENANT")]
    tenant: Option<String>,
    /// Browser origins allowed on the remote endpoint (exact, comma-separated)
    #[arg(long, env = "IBWS_REMOTE_ALLOWED_ORIGINS", value_delimiter = ',')]
    remote_allowed_origins: Vec<String>,
    /// Forward events to a relay: wss://host:8443/bridge/ws
    #[arg(long, env = "IBWS_RELAY")]
    relay: Option<String>,
    /// File holding the bridge's token for the relay (role bridge)
    #[arg(long, env = "IBWS_RELAY_TOKEN_FILE")]
    relay_token_file: Option<PathBuf>,
    /// PEM CA certificate for a relay with its own CA [default: public roots]
    #[arg(long, env = "IBWS_CA")]
    ca: Option<PathBuf>,
}

/// The same options, from a TOML file.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    tws: Option<String>,
    client_id: Option<i64>,
    accounts: Option<Vec<String>>,
    watch: Option<Vec<String>>,
    listen: Option<SocketAddr>,
    mcp_order_ref_prefix: Option<String>,
    mcp_client_ids: Option<Vec<i64>>,
    market_max_per_sec: Option<u32>,
    allowed_origins: Option<Vec<String>>,
    allowed_hosts: Option<Vec<String>>,
    insecure_bind: Option<bool>,
    send_timeout_secs: Option<u64>,
    replay_events: Option<usize>,
    replay_mb: Option<usize>,
}

/// The TLS options of every listener that serves remote clients.
#[derive(Args, Default, Clone)]
struct TlsArgs {
    /// PEM certificate chain (remote listeners)
    #[arg(long, env = "IBWS_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// PEM private key (remote listeners)
    #[arg(long, env = "IBWS_TLS_KEY")]
    tls_key: Option<PathBuf>,
}

impl TlsArgs {
    fn server_config(&self) -> Result<Option<std::sync::Arc<rustls::ServerConfig>>, String> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => ibws_bridge::tls::server_config_from_files(c, k).map(Some),
            (None, None) => Ok(None),
            _ => Err("--tls-cert and --tls-key go together".into()),
        }
    }
}

impl BridgeArgs {
    fn resolve(self) -> Result<BridgeConfig, String> {
        let file: FileConfig = match &self.config {
            Some(p) => {
                let text =
                    std::fs::read_to_string(p).map_err(|e| format!("cannot read config {}: {e}", p.display()))?;
                toml::from_str(&text).map_err(|e| format!("config {}: {e}", p.display()))?
            }
            None => FileConfig::default(),
        };
        let d = BridgeConfig::default();
        let upper =
            |v: Vec<String>| v.into_iter().map(|s| s.trim().to_ascii_uppercase()).filter(|s| !s.is_empty()).collect();
        Ok(BridgeConfig {
            tws: self.tws.or(file.tws).unwrap_or(d.tws),
            client_id: self.client_id.or(file.client_id).unwrap_or(d.client_id),
            accounts: self.accounts.or(file.accounts).unwrap_or_default(),
            watch: upper(self.watch.or(file.watch).unwrap_or_default()),
            listen: self.listen.or(file.listen).unwrap_or(d.listen),
            agents: AgentRules {
                order_ref_prefix: self
                    .mcp_order_ref_prefix
                    .or(file.mcp_order_ref_prefix)
                    .unwrap_or(d.agents.order_ref_prefix),
                client_ids: self.mcp_client_ids.or(file.mcp_client_ids).unwrap_or_default(),
            },
            market_max_per_sec: self.market_max_per_sec.or(file.market_max_per_sec).unwrap_or(d.market_max_per_sec),
            allowed_origins: self.allowed_origins.or(file.allowed_origins).unwrap_or_default(),
            allowed_hosts: self.allowed_hosts.or(file.allowed_hosts).unwrap_or_default(),
            insecure_bind: self.insecure_bind || file.insecure_bind.unwrap_or(false),
            send_timeout: self
                .send_timeout_secs
                .or(file.send_timeout_secs)
                .map_or(d.send_timeout, |s| Duration::from_secs(s.clamp(1, 3600))),
            hub: ibws_shared::hub::HubConfig {
                replay_capacity: self.replay_events.or(file.replay_events).unwrap_or(d.hub.replay_capacity).max(1),
                replay_max_bytes: self.replay_mb.or(file.replay_mb).map_or(d.hub.replay_max_bytes, |m| m.max(1) << 20),
                ..d.hub
            },
            remote: match self.remote_listen {
                None => None,
                Some(listen) => Some(RemoteConfig {
                    listen,
                    tenant: match self.tenant.as_deref().map(str::trim) {
                        Some(t) if !t.is_empty() => t.to_owned(),
                        _ => {
                            return Err(
                                "--remote-listen needs --tenant: the tenant whose tokens may read this bridge".into()
                            )
                        }
                    },
                    tls: self.tls.server_config()?,
                    verifier: self.jwt.verifier()?,
                    allowed_origins: self.remote_allowed_origins.clone(),
                    limits: Default::default(),
                }),
            },
            uplink: match (&self.relay, &self.relay_token_file) {
                (None, _) => None,
                (Some(_), None) => return Err("--relay needs --relay-token-file".into()),
                (Some(url), Some(tf)) => {
                    let token =
                        std::fs::read_to_string(tf).map_err(|e| format!("cannot read {}: {e}", tf.display()))?;
                    let ca = match &self.ca {
                        Some(p) => Some(std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?),
                        None => None,
                    };
                    let url = ibws_bridge::uplink::check_relay_url(url)?;
                    Some(UplinkConfig {
                        url,
                        token: token.trim().to_owned(),
                        tls: ibws_bridge::tls::client_config(ca.as_deref())?,
                        buffer_cap: 100_000,
                        backoff: Default::default(),
                    })
                }
            },
        })
    }
}

#[derive(Args)]
struct SimArgs {
    /// Address to listen on (TWS paper trading uses 7497)
    #[arg(long, env = "IBWS_SIM_LISTEN", default_value = "127.0.0.1:7497")]
    listen: SocketAddr,
    /// Seed of the random order flow and market data
    #[arg(long, env = "IBWS_SIM_SEED", default_value_t = 1)]
    seed: u64,
    /// Milliseconds between random order-flow steps; 0 turns the flow off
    #[arg(long, env = "IBWS_SIM_FLOW_MS", default_value_t = 700)]
    flow_ms: u64,
    /// The simulated account id (when --accounts is not given)
    #[arg(long, env = "IBWS_SIM_ACCOUNT", default_value = "DU1234567")]
    account: String,
    /// Several accounts, comma-separated, each ACCOUNT or ACCOUNT:BASE_CURRENCY
    /// (e.g. DU111,DU222:EUR: a non-USD base account holds cash in its base currency
    /// and in USD)
    #[arg(long, env = "IBWS_SIM_ACCOUNTS", value_delimiter = ',')]
    accounts: Vec<ibws_bridge::sim::AccountSpec>,
    /// Start the day with this many working orders (volume tests)
    #[arg(long, env = "IBWS_SIM_ORDERS", default_value_t = 0)]
    orders: usize,
    /// Hold each fill's commissionReport back until after the next operation's frames,
    /// as real TWS does
    #[arg(long)]
    late_commissions: bool,
    /// Send a fill's orderStatus before its execDetails
    #[arg(long)]
    status_before_exec: bool,
    /// Highest TWS server version to answer with (157..178)
    #[arg(long, default_value_t = 176, value_parser = clap::value_parser!(i32).range(157..=178))]
    server_version: i32,
}

fn init_logs(format: LogFormat) {
    // RUST_LOG decides, but the crates that see raw frames never log below info (they
    // would print tokens and message bodies at trace)
    let spec = ibws_bridge::logs::filter_spec(std::env::var("RUST_LOG").ok().as_deref());
    let filter = tracing_subscriber::EnvFilter::try_new(&spec).unwrap_or_else(|e| {
        eprintln!("warning: RUST_LOG: {e}; logging at info");
        ibws_bridge::logs::filter_spec(None).into()
    });
    let b = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => b.init(),
        LogFormat::Json => b.json().init(),
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

async fn run_relay(a: RelayArgs) -> ExitCode {
    let result = async {
        if !a.jwt.configured() {
            return Err("the relay needs a JWT key: --jwt-secret-file or --jwt-public-key".to_owned());
        }
        let cfg = ibws_bridge::relay::RelayConfig {
            listen: a.listen,
            tls: a.tls.server_config()?,
            verifier: a.jwt.verifier()?,
            allowed_origins: a.allowed_origins.clone(),
            limits: ibws_bridge::server::LimitConfig {
                max_connections: a.max_connections,
                max_per_ip: a.max_per_ip,
                handshake_burst: a.handshake_burst,
                handshakes_per_sec: a.handshakes_per_sec,
                max_pending_per_ip: a.max_pending_per_ip,
            },
            hub: ibws_shared::hub::HubConfig {
                require_auth: true,
                max_clients_per_subject: a.max_per_subject,
                max_clients: a.max_clients_per_tenant,
                replay_capacity: a.replay_events.max(1),
                replay_max_bytes: a.replay_mb.max(1) << 20,
                ..Default::default()
            },
            insecure: a.insecure,
            metrics_listen: listen_or_off(&a.metrics_listen).map_err(|e| format!("--metrics-listen {e}"))?,
            send_timeout: Duration::from_secs(a.send_timeout_secs),
        };
        ibws_bridge::relay::Relay::start(cfg).await
    }
    .await;
    match result {
        Ok(relay) => {
            println!("ibws relay on {}: clients at /websocket/ws, bridges at /bridge/ws", relay.addr);
            shutdown_signal().await;
            relay.shutdown().await;
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn token(t: TokenCommand) -> ExitCode {
    let r = match t {
        TokenCommand::Keygen { kind, out } => ibws_bridge::keys::keygen(kind, &out).map(|paths| {
            for p in paths {
                println!("wrote {}", p.display());
            }
        }),
        TokenCommand::Issue { key, sub, tenant, role, scope, accounts, ttl, issuer, audience } => (|| {
            let role = match role.as_str() {
                "client" => ibws_shared::auth::Role::Client,
                "bridge" => ibws_shared::auth::Role::Bridge,
                other => return Err(format!("unknown role {other:?} (client or bridge)")),
            };
            for t in &scope {
                if t != "*" && ibws_shared::protocol::MessageType::parse(t).is_none() {
                    return Err(format!("unknown message type {t:?} in --scope"));
                }
            }
            if tenant.trim().is_empty() {
                return Err("--tenant must name the bridge stream the token is for".into());
            }
            let ttl = ibws_bridge::keys::parse_ttl(&ttl)?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_err(|e| e.to_string())?
                .as_secs();
            let claims = ibws_shared::auth::Claims {
                sub,
                role,
                tenant,
                scope,
                accounts,
                exp: now + ttl,
                nbf: None,
                iat: Some(now),
                iss: issuer,
                aud: audience,
            };
            let token = ibws_shared::auth::mint(&claims, &ibws_bridge::keys::signer(&key)?)?;
            println!("{token}");
            Ok(())
        })(),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run_bridge(cfg: BridgeConfig, until: Option<Duration>) -> ExitCode {
    let bridge = match Bridge::start(cfg).await {
        Ok(b) => b,
        Err(e) => {
            error!("{e}");
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    serve_until_stopped(&bridge, until).await;
    ExitCode::SUCCESS
}

async fn serve_until_stopped(bridge: &Bridge, until: Option<Duration>) {
    println!("ibws is serving:");
    println!("  dashboard   http://{}/", bridge.addr);
    println!("  websocket   ws://{}/websocket/ws", bridge.addr);
    println!("  health      http://{}/healthz   metrics http://{}/metrics", bridge.addr, bridge.addr);
    match until {
        Some(d) => {
            tokio::select! {
                _ = tokio::time::sleep(d) => {}
                _ = shutdown_signal() => {}
            }
        }
        None => shutdown_signal().await,
    }
    info!("shutting down: closing clients with 4000 (server restarting)");
    bridge.shutdown().await;
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.log_format);
    match cli.command {
        Command::Sim(a) => {
            let cfg = SimConfig {
                listen: a.listen,
                seed: a.seed,
                account: a.account,
                accounts: a.accounts,
                orders: a.orders,
                quirks: ibws_bridge::sim::Quirks {
                    late_commissions: a.late_commissions,
                    status_before_exec: a.status_before_exec,
                },
                server_version: a.server_version,
                flow_interval: (a.flow_ms > 0).then(|| Duration::from_millis(a.flow_ms)),
                ..SimConfig::default()
            };
            match Simulator::start(cfg).await {
                Ok(sim) => {
                    println!("TWS simulator listening on {} (accounts {})", sim.addr(), sim.accounts().join(", "));
                    shutdown_signal().await;
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: cannot listen on {}: {e}", a.listen);
                    ExitCode::FAILURE
                }
            }
        }
        Command::Bridge(a) => match (*a).resolve() {
            Ok(cfg) => run_bridge(cfg, None).await,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Relay(a) => run_relay(a).await,
        Command::Token(t) => token(t),
        Command::Cert { names, out } => {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let r = ibws_bridge::tls::self_signed(&names).and_then(|(ca, cert, key)| {
                std::fs::write(format!("{out}-ca.pem"), ca).map_err(|e| e.to_string())?;
                std::fs::write(format!("{out}-cert.pem"), cert).map_err(|e| e.to_string())?;
                ibws_bridge::keys::write_private(std::path::Path::new(&format!("{out}-key.pem")), key.as_bytes())
            });
            match r {
                Ok(()) => {
                    println!("wrote {out}-ca.pem {out}-cert.pem {out}-key.pem");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Demo(a) => {
            let listen = a.listen.unwrap_or_else(|| BridgeConfig::default().listen);
            let demo = match Demo::start(listen, a.seed, Some(Duration::from_millis(a.flow_ms.max(10)))).await {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            println!(
                "simulated TWS on {} (account {}; agent orders use client id {AGENT_CLIENT_ID} and orderRef mcp-...)",
                demo.sim.addr(),
                demo.sim.account()
            );
            serve_until_stopped(&demo.bridge, a.duration_secs.map(Duration::from_secs)).await;
            ExitCode::SUCCESS
        }
    }
}

//! `ibws`: the command line. See `ibws --help`.
//!
//! Every option of `bridge` and `relay` can also come from an environment variable
//! (shown in `--help`) or from a TOML file given with `--config` (keys are the long
//! option names with `_` for `-`, e.g. `client_id = 0`, `watch = ["AAPL", "MSFT"]`).
//! Command-line values win over the environment, which wins over the file; see
//! `ibws_bridge::config`. `--print-config` shows the result.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use ibws_bridge::app::{Bridge, BridgeConfig, Demo};
use ibws_bridge::config::{self, BridgeOptions, Layered, RelayOptions};
use ibws_bridge::start_error::StartError;
use ibws_tws_io::sim::{SimConfig, Simulator, AGENT_CLIENT_ID};
use tracing::info;

#[derive(Parser)]
#[command(name = "ibws", version, about = "Interactive Brokers events to web apps, in real time.", long_about = None)]
struct Cli {
    /// Log format
    #[arg(long, global = true, env = "IBWS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Threads that run connections and the TWS link. One (the default) delivers over
    /// a million events a second with two thirds of a core; a second thread on a
    /// 2-core host shared with TWS or with clients costs a fifth more CPU per delivery
    /// and lengthens the tail (docs/benchmarks.md, "The tail and TLS"). Raise it for a
    /// relay whose fan-out needs more than one core
    #[arg(long, global = true, env = "IBWS_WORKER_THREADS", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    worker_threads: u16,
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
    Bridge(Box<BridgeOptions>),
    /// Serve an AI agent over MCP (stdio), as a bridge that also takes the agent's
    /// orders within the limits set here. Agent hosts start it as a command; the
    /// dashboard and WebSocket endpoint run as with `bridge`. Trading is off unless
    /// --agent-trading.
    Mcp(Box<ibws_bridge::config::McpOptions>),
    /// Run a simulated TWS, for trying any TWS client without an IB account.
    Sim(SimArgs),
    /// Host streams for bridges that dial in, and serve them to authenticated clients
    /// anywhere over TLS.
    Relay(Box<RelayOptions>),
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
    /// Browser origins allowed besides loopback pages, comma-separated (a web app
    /// served from another host name, e.g. http://devbox.local:5173)
    #[arg(long, env = "IBWS_ALLOWED_ORIGINS", value_delimiter = ',')]
    allowed_origins: Vec<String>,
    /// Start the simulated day with this many working orders (a busy account)
    #[arg(long, env = "IBWS_SIM_ORDERS", default_value_t = 0)]
    orders: usize,
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
    accounts: Vec<ibws_tws_io::sim::AccountSpec>,
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
    /// The client id that also receives every other client's orders (TWS's "Master
    /// API client ID" setting)
    #[arg(long, env = "IBWS_SIM_MASTER_CLIENT_ID", default_value_t = 0)]
    master_client_id: i64,
    /// Highest TWS server version to answer with (157..213; each message is encoded as
    /// TWS encodes it at the version the client and the simulator agree on: text up to
    /// 200, then more families in protobuf with each version)
    #[arg(long, default_value_t = ibws_tws::versions::MAX_CLIENT_VERSION,
          value_parser = clap::value_parser!(i32).range(157..=i64::from(ibws_tws::versions::MAX_CLIENT_VERSION)))]
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

async fn run_relay(options: &RelayOptions) -> ExitCode {
    let relay = match options.resolve() {
        Ok(cfg) => ibws_bridge::relay::Relay::start(cfg).await,
        Err(e) => Err(e),
    };
    match relay {
        Ok(relay) => {
            println!("ibws relay on {}: clients at /websocket/ws, bridges at /bridge/ws", relay.addr);
            shutdown_signal().await;
            relay.shutdown().await;
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

/// Reports a start-up error (what to change is in its text) and the exit code.
fn fail(e: &StartError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::FAILURE
}

/// Loads a command's options (flags over environment over file) and either prints
/// them (`--print-config`) or hands them on.
fn options<T>(matches: &clap::ArgMatches, print: bool) -> Result<Option<Layered<T>>, ExitCode>
where
    T: Args + FromArgMatches + serde::Serialize + serde::de::DeserializeOwned,
{
    let layered = config::load::<T>(matches).map_err(|e| fail(&e))?;
    if print {
        match layered.to_toml() {
            Ok(text) => print!("{text}"),
            Err(e) => return Err(fail(&e)),
        }
        return Ok(None);
    }
    Ok(Some(layered))
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

async fn run_bridge(options: &BridgeOptions, until: Option<Duration>) -> ExitCode {
    let started = match options.resolve() {
        Ok(cfg) => Bridge::start(cfg).await,
        Err(e) => Err(e),
    };
    let bridge = match started {
        Ok(b) => b,
        Err(e) => return fail(&e),
    };
    serve_until_stopped(&bridge, until).await;
    ExitCode::SUCCESS
}

/// `ibws mcp`: a bridge, and the MCP server on stdin/stdout until the agent host
/// closes it (or a signal). stdout belongs to MCP: everything else goes to stderr.
async fn run_mcp(options: &ibws_bridge::config::McpOptions) -> ExitCode {
    use ibws_bridge::agent::{AuditLog, IbwsMcp};
    use rmcp::ServiceExt;
    let mut cfg = match options.resolve() {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let _sim = if options.agent.demo {
        let sim = match Simulator::start(SimConfig {
            listen: "127.0.0.1:0".parse().expect("valid address"),
            flow_interval: Some(Duration::from_millis(600)),
            ..SimConfig::default()
        })
        .await
        {
            Ok(s) => s,
            Err(e) => return fail(&StartError::Other(format!("cannot start the simulator: {e}"))),
        };
        cfg.tws = sim.addr().to_string();
        if cfg.watch.is_empty() {
            cfg.watch = ["AAPL", "MSFT", "NVDA", "TSLA"].map(String::from).to_vec();
        }
        cfg.agents.client_ids.push(AGENT_CLIENT_ID);
        Some(sim)
    } else {
        None
    };
    let path = options.audit_log();
    let audit = match &path {
        None => AuditLog::off(),
        Some(path) => match AuditLog::open(path) {
            Ok(a) => a,
            Err(e) => {
                return fail(&StartError::Options {
                    option: "--agent-audit-log",
                    problem: format!("cannot append to {}: {e}", path.display()),
                })
            }
        },
    };
    let agent = cfg.agent.as_ref().map(|p| p.agent.clone()).unwrap_or_default();
    let trading = cfg.agent.as_ref().is_some_and(|p| p.trading);
    let audit = std::sync::Arc::new(audit);
    let http = options.agent.transport == ibws_bridge::config::McpTransport::Http;
    if http {
        let token = match options.http_token() {
            Ok(t) => t,
            Err(e) => return fail(&e),
        };
        cfg.mcp_http = Some(ibws_bridge::app::McpHttpConfig { token, audit: audit.clone() });
    }
    let bridge = match Bridge::start(cfg).await {
        Ok(b) => b,
        Err(e) => return fail(&e),
    };
    let desk = bridge.desk.clone().expect("ibws mcp configures an agent desk");
    eprintln!(
        "ibws mcp: agent {agent:?}, trading {}; dashboard http://{}/ ; audit log {}",
        if trading { "on" } else { "off (read and preview only; --agent-trading turns it on)" },
        bridge.addr,
        path.as_ref().map_or("off".into(), |p| p.display().to_string())
    );
    if http {
        eprintln!(
            "MCP (streamable HTTP) at http://{}/mcp ; send Authorization: Bearer <the token in {}>",
            bridge.addr,
            options.agent.mcp_token_file.display()
        );
        shutdown_signal().await;
    } else {
        let server = IbwsMcp::new(desk, audit, agent);
        match server.serve(rmcp::transport::stdio()).await {
            Ok(running) => {
                tokio::select! {
                    r = running.waiting() => {
                        if let Err(e) = r {
                            tracing::warn!(error = %e, "MCP session ended with an error");
                        }
                    }
                    _ = shutdown_signal() => {}
                }
            }
            Err(e) => tracing::error!(error = %e, "the MCP session did not start"),
        }
    }
    info!("shutting down: closing clients with 4000 (server restarting)");
    bridge.shutdown().await;
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

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    runtime.worker_threads(usize::from(cli.worker_threads));
    match runtime.build() {
        Ok(rt) => rt.block_on(run(cli, matches)),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, matches: clap::ArgMatches) -> ExitCode {
    init_logs(cli.log_format);
    let sub = |name: &str| matches.subcommand_matches(name).expect("the parsed subcommand");
    match cli.command {
        Command::Sim(a) => {
            let cfg = SimConfig {
                listen: a.listen,
                seed: a.seed,
                account: a.account,
                accounts: a.accounts,
                orders: a.orders,
                quirks: ibws_tws_io::sim::Quirks {
                    late_commissions: a.late_commissions,
                    status_before_exec: a.status_before_exec,
                },
                server_version: a.server_version,
                master_client_id: a.master_client_id,
                flow_interval: (a.flow_ms > 0).then(|| Duration::from_millis(a.flow_ms)),
            };
            match Simulator::start(cfg).await {
                Ok(sim) => {
                    println!("TWS simulator listening on {} (accounts {})", sim.addr(), sim.accounts().join(", "));
                    shutdown_signal().await;
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&StartError::bind(a.listen, "simulated TWS", "--listen", e)),
            }
        }
        Command::Bridge(a) => match options::<BridgeOptions>(sub("bridge"), a.file.print_config) {
            Ok(Some(layered)) => run_bridge(&layered.options, None).await,
            Ok(None) => ExitCode::SUCCESS,
            Err(code) => code,
        },
        Command::Mcp(a) => match options::<ibws_bridge::config::McpOptions>(sub("mcp"), a.bridge.file.print_config) {
            Ok(Some(layered)) => run_mcp(&layered.options).await,
            Ok(None) => ExitCode::SUCCESS,
            Err(code) => code,
        },
        Command::Relay(a) => match options::<RelayOptions>(sub("relay"), a.file.print_config) {
            Ok(Some(layered)) => run_relay(&layered.options).await,
            Ok(None) => ExitCode::SUCCESS,
            Err(code) => code,
        },
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
            let options = ibws_bridge::app::DemoOptions {
                seed: a.seed,
                flow: Some(Duration::from_millis(a.flow_ms.max(10))),
                allowed_origins: a
                    .allowed_origins
                    .iter()
                    .map(|o| o.trim().to_owned())
                    .filter(|o| !o.is_empty())
                    .collect(),
                orders: a.orders,
            };
            let demo = match Demo::start(listen, options).await {
                Ok(d) => d,
                Err(e) => return fail(&e),
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

//! `ibws bridge`'s options: every one a flag, an environment variable and a file key.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use serde::{Deserialize, Serialize};

use super::delivery::DeliveryOptions;
use super::layers::FileOption;
use super::remote_access::{JwtOptions, TlsOptions};
use crate::app::{BridgeConfig, RemoteConfig};
use crate::notify::AgentRules;
use crate::start_error::StartError;
use crate::uplink::UplinkConfig;

#[derive(Args, Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct BridgeOptions {
    #[command(flatten)]
    #[serde(skip)]
    pub file: FileOption,
    /// TWS / IB Gateway API address (TWS: 7497 paper, 7496 live; Gateway: 4002 / 4001)
    #[arg(long, env = "IBWS_TWS", default_value = "127.0.0.1:7497")]
    pub tws: String,
    /// API client id. 0 also receives orders typed into TWS (reqAutoOpenOrders); set TWS's
    /// "Master API client ID" to this value to see other API clients' orders live
    #[arg(long, env = "IBWS_CLIENT_ID", default_value_t = 0)]
    pub client_id: i64,
    /// Highest TWS server version to offer (157..213; from 201 TWS speaks protobuf):
    /// pin a lower one if a TWS or IB Gateway build misbehaves at the top of the range
    /// (200 is the last text-only version, 178 what ib_async 2 offers)
    #[arg(long, env = "IBWS_TWS_MAX_VERSION", default_value_t = ibws_tws::versions::MAX_CLIENT_VERSION,
          value_parser = clap::value_parser!(i32).range(i64::from(ibws_tws::versions::MIN_CLIENT_VERSION)..=i64::from(ibws_tws::versions::MAX_CLIENT_VERSION)))]
    pub tws_max_version: i32,
    /// Days of executions to reconcile after connecting to TWS (1..7; TWS server
    /// version 200 on, older ones send today's only): 3 covers a weekend
    #[arg(long, env = "IBWS_RECONCILE_DAYS", default_value_t = 3, value_parser = clap::value_parser!(i64).range(1..=7))]
    pub reconcile_days: i64,
    /// Accounts to follow, comma-separated [default: all managed accounts]
    #[arg(long, env = "IBWS_ACCOUNTS", value_delimiter = ',')]
    pub accounts: Vec<String>,
    /// Symbols (US stocks, SMART) to stream market data for, comma-separated
    #[arg(long, env = "IBWS_WATCH", value_delimiter = ',')]
    pub watch: Vec<String>,
    /// Local endpoint address
    #[arg(long, env = "IBWS_LISTEN", default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,
    /// orderRef prefix that marks an AI agent's (MCP) order; "" disables
    #[arg(long, env = "IBWS_MCP_ORDER_REF_PREFIX", default_value = "mcp")]
    pub mcp_order_ref_prefix: String,
    /// API client ids whose orders are agent (MCP) orders, comma-separated
    #[arg(long, env = "IBWS_MCP_CLIENT_IDS", value_delimiter = ',')]
    pub mcp_client_ids: Vec<i64>,
    /// Market-data frames per symbol per second, at most (latest value wins)
    #[arg(long, env = "IBWS_MARKET_MAX_PER_SEC", default_value_t = 4)]
    pub market_max_per_sec: u32,
    /// Browser origins allowed besides loopback pages, comma-separated
    #[arg(long, env = "IBWS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// Host names the local endpoint answers besides loopback ones, comma-separated
    /// (any other Host is refused: a defence against DNS rebinding)
    #[arg(long, env = "IBWS_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,
    /// Serve a non-loopback address without TLS and auth (dangerous)
    #[arg(long, env = "IBWS_INSECURE_BIND")]
    pub insecure_bind: bool,
    #[command(flatten)]
    #[serde(flatten)]
    pub delivery: DeliveryOptions,
    /// Also serve remote clients here (JWT required; TLS required unless loopback)
    #[arg(long, env = "IBWS_REMOTE_LISTEN")]
    pub remote_listen: Option<SocketAddr>,
    #[command(flatten)]
    #[serde(flatten)]
    pub tls: TlsOptions,
    #[command(flatten)]
    #[serde(flatten)]
    pub jwt: JwtOptions,
    /// The tenant the remote endpoint serves: tokens for any other tenant are refused
    /// (required with --remote-listen)
    #[arg(long, env = "IBWS_TENANT")]
    pub tenant: Option<String>,
    /// Browser origins allowed on the remote endpoint (exact, comma-separated)
    #[arg(long, env = "IBWS_REMOTE_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub remote_allowed_origins: Vec<String>,
    /// Forward events to a relay: wss://host:8443/bridge/ws
    #[arg(long, env = "IBWS_RELAY")]
    pub relay: Option<String>,
    /// File holding the bridge's token for the relay (role bridge)
    #[arg(long, env = "IBWS_RELAY_TOKEN_FILE")]
    pub relay_token_file: Option<PathBuf>,
    /// PEM CA certificate for a relay with its own CA [default: public roots]
    #[arg(long, env = "IBWS_CA")]
    pub ca: Option<PathBuf>,
}

impl BridgeOptions {
    /// The runtime config, with the files the options name read and checked.
    pub fn resolve(&self) -> Result<BridgeConfig, StartError> {
        let d = BridgeConfig::default();
        let upper = |v: &[String]| {
            v.iter().map(|s| s.trim().to_ascii_uppercase()).filter(|s| !s.is_empty()).collect::<Vec<_>>()
        };
        let trimmed = |v: &[String]| v.iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
        Ok(BridgeConfig {
            tws: self.tws.trim().to_owned(),
            client_id: self.client_id,
            tws_max_version: self.tws_max_version,
            reconcile_days: self.reconcile_days,
            accounts: trimmed(&self.accounts),
            watch: upper(&self.watch),
            listen: self.listen,
            agents: AgentRules {
                order_ref_prefix: self.mcp_order_ref_prefix.clone(),
                client_ids: self.mcp_client_ids.clone(),
            },
            market_max_per_sec: self.market_max_per_sec,
            allowed_origins: trimmed(&self.allowed_origins),
            allowed_hosts: trimmed(&self.allowed_hosts),
            insecure_bind: self.insecure_bind,
            send_timeout: self.delivery.send_timeout(),
            hub: self.delivery.replay(d.hub),
            remote: self.remote()?,
            uplink: self.uplink()?,
            agent: None,
            mcp_http: None,
        })
    }

    fn remote(&self) -> Result<Option<RemoteConfig>, StartError> {
        let Some(listen) = self.remote_listen else { return Ok(None) };
        let tenant = match self.tenant.as_deref().map(str::trim) {
            Some(t) if !t.is_empty() => t.to_owned(),
            _ => {
                return Err(StartError::Options {
                    option: "--remote-listen",
                    problem: "needs --tenant: the tenant whose tokens may read this bridge".into(),
                })
            }
        };
        Ok(Some(RemoteConfig {
            listen,
            tenant,
            tls: self.tls.server_config()?,
            verifier: self.jwt.verifier()?,
            allowed_origins: self.remote_allowed_origins.clone(),
            limits: Default::default(),
        }))
    }

    fn uplink(&self) -> Result<Option<UplinkConfig>, StartError> {
        let (url, token_file) = match (&self.relay, &self.relay_token_file) {
            (None, _) => return Ok(None),
            (Some(_), None) => {
                return Err(StartError::Options {
                    option: "--relay",
                    problem: "needs --relay-token-file: a file holding the bridge's token (role bridge)".into(),
                })
            }
            (Some(url), Some(tf)) => (url, tf),
        };
        let url = crate::uplink::check_relay_url(url)?;
        let token = StartError::read(token_file, "the relay token", "--relay-token-file")?;
        let token = String::from_utf8_lossy(&token).trim().to_owned();
        if token.is_empty() {
            return Err(StartError::Options {
                option: "--relay-token-file",
                problem: format!(
                    "{} is empty: put the bridge's token in it (ibws token issue --role bridge)",
                    token_file.display()
                ),
            });
        }
        let ca = match &self.ca {
            Some(p) => Some((p, StartError::read(p, "the relay's CA certificate", "--ca")?)),
            None => None,
        };
        let tls =
            crate::tls::client_config(ca.as_ref().map(|(_, pem)| pem.as_slice())).map_err(|e| StartError::Pem {
                path: ca.as_ref().map(|(p, _)| p.to_path_buf()).unwrap_or_default(),
                option: "--ca",
                problem: e.to_string(),
            })?;
        Ok(Some(UplinkConfig { url, token, tls, buffer_cap: 100_000, backoff: Default::default() }))
    }
}

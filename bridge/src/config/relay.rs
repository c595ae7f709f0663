//! `ibws relay`'s options: every one a flag, an environment variable and a file key.

use std::net::SocketAddr;

use clap::Args;
use serde::{Deserialize, Serialize};

use super::delivery::DeliveryOptions;
use super::layers::FileOption;
use super::remote_access::{JwtOptions, TlsOptions};
use crate::relay::RelayConfig;
use crate::server::LimitConfig;
use crate::start_error::StartError;

#[derive(Args, Clone, Debug, Serialize, Deserialize)]
pub struct RelayOptions {
    #[command(flatten)]
    #[serde(skip)]
    pub file: FileOption,
    /// Address to listen on
    #[arg(long, env = "IBWS_RELAY_LISTEN", default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,
    #[command(flatten)]
    #[serde(flatten)]
    pub tls: TlsOptions,
    #[command(flatten)]
    #[serde(flatten)]
    pub jwt: JwtOptions,
    /// Browser origins allowed (exact, comma-separated); other browser pages are refused
    #[arg(long, env = "IBWS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// Connections in total
    #[arg(long, env = "IBWS_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
    /// Connections per client IP
    #[arg(long, env = "IBWS_MAX_PER_IP", default_value_t = 64)]
    pub max_per_ip: usize,
    /// Connections per token subject
    #[arg(long, env = "IBWS_MAX_PER_SUBJECT", default_value_t = 100)]
    pub max_per_subject: usize,
    /// Clients one tenant's stream may serve at once
    #[arg(long, env = "IBWS_MAX_CLIENTS_PER_TENANT", default_value_t = 10_000)]
    pub max_clients_per_tenant: usize,
    /// WebSocket handshakes one IP may make at once (burst), before the rate applies
    #[arg(long, env = "IBWS_HANDSHAKE_BURST", default_value_t = 32)]
    pub handshake_burst: u32,
    /// WebSocket handshakes per IP per second, after the burst
    #[arg(long, env = "IBWS_HANDSHAKES_PER_SEC", default_value_t = 16)]
    pub handshakes_per_sec: u32,
    /// Connections per IP still in TLS or before their request head (more are closed)
    #[arg(long, env = "IBWS_MAX_PENDING_PER_IP", default_value_t = 16)]
    pub max_pending_per_ip: usize,
    #[command(flatten)]
    #[serde(flatten)]
    pub delivery: DeliveryOptions,
    /// Megabytes every tenant's replay ring and order table may hold together; past
    /// it, the largest tenants' oldest replay events are dropped first (their clients
    /// that were owed them resync with recovered:false; see /metrics)
    #[arg(long, env = "IBWS_MAX_MEMORY_MB", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(16..=1_048_576))]
    pub max_memory_mb: u64,
    /// Serve plain ws:// on a non-loopback address (behind a TLS-terminating proxy)
    #[arg(long, env = "IBWS_RELAY_INSECURE")]
    pub insecure: bool,
    /// Where /metrics and /status (tenant names, client counts) are served, or `off`.
    /// Keep it on loopback: the client port serves only the upgrade and /healthz
    #[arg(long, env = "IBWS_METRICS_LISTEN", default_value = "127.0.0.1:9100")]
    pub metrics_listen: String,
}

impl RelayOptions {
    /// The runtime config, with the key and certificate files read and checked.
    pub fn resolve(&self) -> Result<RelayConfig, StartError> {
        Ok(RelayConfig {
            listen: self.listen,
            tls: self.tls.server_config()?,
            verifier: self.jwt.verifier()?,
            allowed_origins: self
                .allowed_origins
                .iter()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            limits: LimitConfig {
                max_connections: self.max_connections,
                max_per_ip: self.max_per_ip,
                handshake_burst: self.handshake_burst,
                handshakes_per_sec: self.handshakes_per_sec,
                max_pending_per_ip: self.max_pending_per_ip,
            },
            hub: self.delivery.replay(ibws_shared::hub::HubConfig {
                require_auth: true,
                max_clients_per_subject: self.max_per_subject,
                max_clients: self.max_clients_per_tenant,
                ..Default::default()
            }),
            insecure: self.insecure,
            metrics_listen: metrics_listen(&self.metrics_listen)?,
            send_timeout: self.delivery.send_timeout(),
            max_memory_bytes: (self.max_memory_mb as usize) << 20,
        })
    }
}

/// An address to listen on, or `off`.
fn metrics_listen(s: &str) -> Result<Option<SocketAddr>, StartError> {
    if s.trim().eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    s.trim().parse().map(Some).map_err(|e| StartError::Options {
        option: "--metrics-listen",
        problem: format!("{s:?}: {e} (an address like 127.0.0.1:9100, or off)"),
    })
}

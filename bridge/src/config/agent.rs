//! `ibws mcp`'s options: a bridge's, plus what the agent may do. Every limit has a
//! cautious default, and trading itself is off until `--agent-trading`.

use std::path::PathBuf;

use clap::Args;
use serde::{Deserialize, Serialize};

use super::bridge::BridgeOptions;
use crate::agent::TradingPolicy;
use crate::app::BridgeConfig;
use crate::start_error::StartError;

#[derive(Args, Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct AgentOptions {
    /// Let the agent place, modify and cancel orders (off: it can only read and preview)
    #[arg(long, env = "IBWS_AGENT_TRADING")]
    pub agent_trading: bool,
    /// The agent's name: its orders carry orderRef <mcp-order-ref-prefix>:<name>, and web
    /// clients see it in mcp_order's agent field
    #[arg(long, env = "IBWS_AGENT_NAME", default_value = "agent")]
    pub agent_name: String,
    /// Symbols the agent may trade, comma-separated; "*" for any [default: the --watch list]
    #[arg(long, env = "IBWS_AGENT_SYMBOLS", value_delimiter = ',')]
    pub agent_symbols: Vec<String>,
    /// Order types the agent may use, comma-separated (LMT, MKT, STP, STP LMT)
    #[arg(long, env = "IBWS_AGENT_ORDER_TYPES", value_delimiter = ',', default_value = "LMT")]
    pub agent_order_types: Vec<String>,
    /// Largest quantity of one order
    #[arg(long, env = "IBWS_AGENT_MAX_QUANTITY", default_value_t = 100.0)]
    pub agent_max_quantity: f64,
    /// Largest price x quantity of one order (market orders: at the last price seen)
    #[arg(long, env = "IBWS_AGENT_MAX_NOTIONAL", default_value_t = 10_000.0)]
    pub agent_max_notional: f64,
    /// Most orders (placements and modifies) in any minute
    #[arg(long, env = "IBWS_AGENT_MAX_ORDERS_PER_MINUTE", default_value_t = 10)]
    pub agent_max_orders_per_minute: usize,
    /// Allow accounts other than paper ones (paper account ids start with D)
    #[arg(long, env = "IBWS_AGENT_LIVE_ACCOUNTS")]
    pub agent_live_accounts: bool,
    /// Every order needs a preview_order first and the confirmation_id it returned
    #[arg(long, env = "IBWS_AGENT_CONFIRM")]
    pub agent_confirm: bool,
    /// Append-only log of every tool call and its outcome (JSON lines); "off" turns it off
    #[arg(long, env = "IBWS_AGENT_AUDIT_LOG", default_value = "ibws-agent-audit.jsonl")]
    pub agent_audit_log: String,
    /// How the agent host reaches this server: stdio (it starts `ibws mcp` as a command)
    /// or http (streamable HTTP at http://<listen>/mcp, with the token from --mcp-token-file)
    #[arg(long, env = "IBWS_MCP_TRANSPORT", value_enum, default_value_t = McpTransport::Stdio)]
    pub transport: McpTransport,
    /// With --transport http: the file holding the bearer token every MCP request must
    /// carry (created with a random token, readable by you only, if it does not exist)
    #[arg(long, env = "IBWS_MCP_TOKEN_FILE", default_value = "ibws-mcp-token")]
    pub mcp_token_file: PathBuf,
    /// Trade on a simulated TWS with its random order flow, as `ibws demo` does (for
    /// trying an agent without an IB account)
    #[arg(long, env = "IBWS_MCP_DEMO")]
    pub demo: bool,
}

/// How `ibws mcp` talks to its agent host.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum McpTransport {
    Stdio,
    Http,
}

/// `ibws mcp`: a bridge and an MCP server for one agent.
#[derive(Args, Clone, Debug, Serialize, Deserialize)]
pub struct McpOptions {
    #[command(flatten)]
    #[serde(flatten)]
    pub bridge: BridgeOptions,
    #[command(flatten)]
    #[serde(flatten)]
    pub agent: AgentOptions,
}

impl McpOptions {
    /// The bridge's runtime config with the agent's policy.
    pub fn resolve(&self) -> Result<BridgeConfig, StartError> {
        let mut cfg = self.bridge.resolve()?;
        let a = &self.agent;
        let name = a.agent_name.trim();
        if name.is_empty() || name.len() > 32 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Err(StartError::Options {
                option: "--agent-name",
                problem: format!(
                    "{name:?}: use 1 to 32 letters, digits, '-', '_' or '.' (it goes into TWS's orderRef)"
                ),
            });
        }
        let prefix = self.bridge.mcp_order_ref_prefix.trim();
        if prefix.is_empty() {
            return Err(StartError::Options {
                option: "--mcp-order-ref-prefix",
                problem: "must not be empty with ibws mcp: web clients tell the agent's orders by it".into(),
            });
        }
        for (option, v) in
            [("--agent-max-quantity", a.agent_max_quantity), ("--agent-max-notional", a.agent_max_notional)]
        {
            if !(v.is_finite() && v > 0.0) {
                return Err(StartError::Options { option, problem: format!("{v} is not a positive number") });
            }
        }
        let upper = |v: &[String]| {
            v.iter().map(|s| s.trim().to_ascii_uppercase()).filter(|s| !s.is_empty()).collect::<Vec<_>>()
        };
        cfg.agent = Some(TradingPolicy {
            agent: name.to_owned(),
            order_ref_prefix: prefix.to_owned(),
            trading: a.agent_trading,
            symbols: upper(&a.agent_symbols),
            order_types: upper(&a.agent_order_types),
            max_quantity: a.agent_max_quantity,
            max_notional: a.agent_max_notional,
            max_orders_per_minute: a.agent_max_orders_per_minute,
            live_accounts: a.agent_live_accounts,
            require_confirmation: a.agent_confirm,
        });
        Ok(cfg)
    }

    /// The MCP token for `--transport http`: read from `--mcp-token-file`, or made
    /// (32 random bytes, hex) and written there, readable by the owner only.
    pub fn http_token(&self) -> Result<String, StartError> {
        let path = &self.agent.mcp_token_file;
        if path.exists() {
            let t = StartError::read(path, "the MCP token", "--mcp-token-file")?;
            let t = String::from_utf8_lossy(&t).trim().to_owned();
            if t.len() < 16 {
                return Err(StartError::Options {
                    option: "--mcp-token-file",
                    problem: format!("{} holds fewer than 16 characters: use a long random token", path.display()),
                });
            }
            return Ok(t);
        }
        let token: String = (0..32).map(|_| format!("{:02x}", rand::random::<u8>())).collect();
        crate::keys::write_private(path, token.as_bytes())
            .map_err(|e| StartError::Options { option: "--mcp-token-file", problem: e })?;
        Ok(token)
    }

    /// Where the audit log goes; `None` when the user turned it off.
    pub fn audit_log(&self) -> Option<PathBuf> {
        match self.agent.agent_audit_log.trim() {
            "" | "off" => None,
            p => Some(PathBuf::from(p)),
        }
    }
}

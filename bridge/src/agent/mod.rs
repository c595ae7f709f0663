//! `ibws mcp`: AI agents trade through ibws, with guard rails.
//!
//! An agent host (a desktop app, an agent framework) starts `ibws mcp` and talks MCP
//! to it over stdio. The process is a whole bridge (TWS link, local endpoint,
//! dashboard, optional uplink) plus the MCP server, so an agent's orders travel on
//! **the bridge's own TWS connection**: the order ids are the bridge's, TWS answers
//! what-if previews and rejections on that connection (another client never sees
//! them), the agent's orders are in the same order truth web clients read from the
//! moment TWS acknowledges them, and no TWS "Master API client ID" setting is needed.
//! A second connection (its own client id) would need that setting to be seen live
//! and would report rejections only to itself.
//!
//! - [`desk`]: the decisions, free of I/O (trading on/off, limits, idempotency,
//!   preview-then-confirm, order ids, the orderRef naming the agent);
//! - [`calls`]: how the tools reach the pipeline that owns the state and the link;
//! - [`tools`]: the MCP tools (`rmcp`), served on stdio or, with [`http`], as
//!   streamable HTTP at `/mcp` on the bridge's loopback listener (token required);
//! - [`audit`]: the append-only log of every call.

pub mod audit;
pub mod calls;
pub mod desk;
pub mod http;
pub mod tools;

pub use audit::AuditLog;
pub use calls::{DeskCall, DeskHandle, DeskStation, View};
pub use desk::{Desk, TradingPolicy};
pub use http::McpHttp;
pub use tools::IbwsMcp;

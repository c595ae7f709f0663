//! The `ibws` binary's library: the bridge beside TWS, and the native relay.
//!
//! Data flows one way: TWS bytes -> `ibws_tws` (codec and the sans-IO link) ->
//! [`notify`] (order, account and market state -> notifications) -> the bridge's hub
//! (`ibws_shared::hub`, which stamps each event with the stream position once) -> the
//! local endpoint's clients and the [`uplink`] to a relay -> the relay's hub -> remote
//! clients.
//!
//! Where each decision lives (everything here except [`notify`] is a driver: it moves
//! bytes, rows and time and decides nothing):
//! - TWS: `ibws_tws::link::TwsLink` (handshake, startup, reconciliation, heartbeat,
//!   throttle, backoff); its tokio driver is `ibws_tws_io::driver`;
//! - order and account truth, and what becomes a notification: [`notify`] (sans-IO,
//!   with its own deadlines: fills held for their execution, market-data pacing);
//! - fan-out, subscriptions, scopes, replay, heartbeats, limits, first-message auth:
//!   `ibws_shared::hub` (and `ibws_shared::relay::first_auth`);
//! - which requests get a socket: `ibws_shared::relay::admission`, and per-address
//!   connection limits: `ibws_shared::relay::limits`;
//! - the uplink's buffer, resends, snapshots, gaps, acks, backoff:
//!   `ibws_shared::relay::UplinkSession`, driven by [`uplink`];
//! - a bridge's session on the relay (hello, stream rules, when to ack), which bridge
//!   publishes a tenant, the memory budget across tenants: `ibws_shared::relay`
//!   (`BridgeSession`, `Publisher`, `MemoryBudget`), driven by [`relay`];
//!
//! Modules: [`app`] wires a bridge (and `ibws demo`) together; [`server`] is the HTTP
//! and WebSocket endpoint (local, remote, relay), its TLS and metrics; [`relay`] is the
//! native relay; [`config`] is every option as flag, environment and file; [`clock`]
//! is the one source of the current time for every driver; [`keys`], [`tls`] and
//! [`logs`] are what their names say; [`tls_stream`] is the server side of TLS on a
//! socket, holding no buffer while idle.

pub mod agent;
pub mod app;
pub mod clock;
pub mod config;
pub mod keys;
pub mod logs;
pub mod notify;
pub mod relay;
pub mod scratch;
pub mod server;
pub mod start_error;
pub mod tls;
pub mod tls_stream;
pub mod uplink;

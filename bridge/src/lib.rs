//! ibws bridge: speaks the TWS socket API, turns TWS events into ibws notifications,
//! serves them locally, and (later) forwards them to relays.

pub mod app;
pub mod clock;
pub mod config;
pub mod keys;
pub mod logs;
pub mod notify;
pub mod relay;
pub mod server;
pub mod start_error;
pub mod tls;
pub mod uplink;

/// The TWS socket API lives in its own crate; re-exported under its old paths.
pub use ibws_tws as tws;
pub use ibws_tws::sim;

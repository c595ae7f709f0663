//! ibws bridge: speaks the TWS socket API, turns TWS events into ibws notifications,
//! serves them locally, and (later) forwards them to relays.

pub mod app;
pub mod clock;
pub mod keys;
pub mod logs;
pub mod notify;
pub mod relay;
pub mod sequencer;
pub mod server;
pub mod sim;
pub mod tls;
pub mod tws;
pub mod uplink;

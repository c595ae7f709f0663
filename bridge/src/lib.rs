//! ibws bridge: speaks the TWS socket API, turns TWS events into ibws notifications,
//! serves them locally, and (later) forwards them to relays.

pub mod app;
pub mod clock;
pub mod notify;
pub mod sequencer;
pub mod server;
pub mod sim;
pub mod tls;
pub mod tws;

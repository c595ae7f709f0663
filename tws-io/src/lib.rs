//! The TWS socket API on tokio, and a TWS to test against.
//!
//! `ibws_tws` is the protocol, free of I/O: framing, fields, per-message codecs, and
//! the connection as a sans-IO state machine (`ibws_tws::link::TwsLink`). This crate is
//! what runs it:
//! - [`clock`]: the one place drivers read the time;
//! - [`driver`]: the link on a tokio TCP socket (dials, moves bytes, sleeps until the
//!   link's next deadline, hands its events to the bridge), nothing more;
//! - [`sim`]: a simulated brokerage (`sim::engine`, sans-IO), one simulated API session
//!   (`sim::session`, sans-IO), a TWS-compatible socket server on tokio
//!   (`sim::server`, behind `ibws sim` and `ibws demo`), and an in-memory TWS on a
//!   simulated clock for the link's tests (`sim::memory`).

pub mod clock;
pub mod driver;
pub mod sim;

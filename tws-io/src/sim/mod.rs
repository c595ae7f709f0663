//! A TWS you can run anywhere: `ibws sim`, the demo's data source, and the tests'.
//!
//! [`engine`] is the simulated brokerage and [`session`] one API connection to it,
//! both sans-IO; [`server`] serves them over the real TWS socket protocol, so any TWS
//! client (ib_async, the official API, ibws itself) can connect to it; [`memory`] runs
//! them in memory on a simulated clock for the link's tests.

pub mod engine;
pub mod memory;
pub mod server;
pub mod session;

pub use engine::{AccountSpec, Engine, Quirks, AGENT_CLIENT_ID};
pub use server::{SimConfig, Simulator};

//! A TWS you can run anywhere: `ibws sim`, the demo's data source, and the tests'.
//!
//! [`engine`] is the simulated brokerage (sans-IO); [`server`] serves it over the real
//! TWS socket protocol, so any TWS client (ib_async, the official API, ibws itself)
//! can connect to it.

pub mod engine;
pub mod server;

pub use engine::{Engine, AGENT_CLIENT_ID};
pub use server::{SimConfig, Simulator};

//! The core every ibws runtime shares.
//!
//! ibws runs in three places: a native bridge beside TWS, a native relay, and an edge
//! relay compiled to WebAssembly. They all speak one protocol and run one hub, so both
//! live here, free of I/O: nothing in this crate opens a socket, reads a clock or spawns
//! a task. Drivers feed bytes, events and the current time in, and carry the frames and
//! close instructions that come out to wherever they belong.
//!
//! - [`protocol`]: the typed wire format (the seed system's frames plus our additions),
//!   the bridge <-> relay uplink frames and the close-code table.
//! - [`hub`]: the sans-IO fan-out state machine (subscriptions, order table, replay,
//!   heartbeats, limits, slow consumers).
//! - [`auth`]: JWT verification and minting with a fixed algorithm allowlist.

pub mod auth;
pub mod backoff;
pub mod hub;
pub mod protocol;

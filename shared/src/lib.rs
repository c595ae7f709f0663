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
//! - [`relay`]: every decision about a connection to a relay, made once for the native
//!   relay and the edge relay alike: which requests get a socket (`admission`), a
//!   client's first-message token (`first_auth`, which the hub asks too), a bridge's
//!   session (`bridge_session`: hello, stream rules, when to ack), which bridge
//!   publishes a tenant (`publisher`), memory across tenants (`memory_budget`), and the
//!   bridge's own end of the uplink (`uplink_session`).
//! - [`auth`]: JWT verification and minting with a fixed algorithm allowlist.
//! - [`close_code`] and [`backoff`]: what a client does when a connection ends; these
//!   two have no dependencies, so the browser client uses them without pulling in
//!   serde (features `protocol`, `hub`, `auth` are on by default).
//!
//! Every state machine here takes the time as an input ([`time::Now`]) and says when it
//! next needs to be called (`poll_timeout`, then `handle_timeout`); drivers sleep until
//! then.

#[cfg(feature = "auth")]
pub mod auth;
pub mod backoff;
pub mod close_code;
#[cfg(feature = "hub")]
pub mod hub;
#[cfg(feature = "protocol")]
pub mod protocol;
#[cfg(feature = "hub")]
pub mod relay;
pub mod time;

//! The browser client for ibws.
//!
//! [`core`] holds all of the client's behaviour without I/O; the wasm driver (built for
//! `wasm32-unknown-unknown`) puts it on the browser's WebSocket and timers.

pub mod core;

//! The browser client for ibws.
//!
//! [`core`] holds all of the client's behaviour without I/O (tested natively); on
//! `wasm32-unknown-unknown`, [`client::IbwsClient`] puts it on the browser's WebSocket
//! and timers and exports it to JavaScript with typed TypeScript declarations.

pub mod core;

#[cfg(target_arch = "wasm32")]
pub mod client;

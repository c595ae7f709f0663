//! The edge relay: the ibws hub compiled to WebAssembly for Cloudflare Workers.
//!
//! Not built yet (issue 6). Today this crate only proves that the shared hub builds for
//! `wasm32-unknown-unknown`; the Worker / Durable Object host does not exist, and no
//! documentation claims otherwise.

pub use ibws_shared::hub::Hub;

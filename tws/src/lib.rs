//! The TWS socket API, spoken natively, as a protocol free of I/O (no tokio, no
//! sockets, no clocks: the time is an input). The tokio driver and the simulated TWS
//! are in `ibws-tws-io`.
//!
//! Layers, bottom up, each its own module:
//! - [`frame`] and [`fields`]: length-prefixed frames of NUL-terminated text fields;
//! - [`handshake`] and [`versions`]: the `API\0` greeting and what each server version
//!   adds;
//! - [`text`] and [`proto`]: the two encodings of messages, text (every version) and
//!   protobuf (from server version 201), both to and from the same domain types
//!   ([`Incoming`] from TWS, decoded per message family: session, orders, accounts,
//!   market data; [`Request`] to it); [`encoding`] says which a message travels in at
//!   a version, and [`message`] is the envelope that carries either (see
//!   `docs/tws-protocol.md`);
//! - [`link`]: the connection as a sans-IO state machine (handshake, nextValidId,
//!   startup requests, resubscription after 1101, reconciliation after a reconnect,
//!   desync detection, heartbeat, throttle, reconnect backoff): bytes and the time in,
//!   bytes to send, events and the next deadline out.

pub mod encoding;
pub mod fields;
pub mod frame;
pub mod handshake;
pub mod link;
pub mod message;
pub mod proto;
pub mod text;
pub mod throttle;
pub mod types;
pub mod versions;

pub use fields::DecodeError;
pub use frame::{FrameDecoder, FrameError};
pub use link::{LinkConfig, LinkEvent, TwsLink};
pub use text::incoming::{self, Incoming};
pub use text::order_walk;
pub use text::outgoing::{self, Request};

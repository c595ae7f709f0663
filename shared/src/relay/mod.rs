//! A relay's decisions, free of I/O, in one place for every relay runtime.
//!
//! ibws has two relays: the native `ibws relay` on tokio, and the edge relay, a
//! Durable Object running this crate compiled to WebAssembly. They must agree on every
//! answer a bridge or a client can get, so neither decides anything itself: both feed
//! what happened into the types here and carry out what comes back.
//!
//! - [`admission`]: a connection request's facts (path, query, origin, offered
//!   subprotocols) in, accept (with its role) or refuse (with a status or close code)
//!   out;
//! - [`first_auth`]: a client's first message where a token is required and none came
//!   with the upgrade (the native relay's driver and the hub both ask it);
//! - [`bridge_session`]: one bridge's session on `/bridge/ws` (hello and its token,
//!   snapshots in parts, publishing into the hub, acks of what is stored, token
//!   expiry);
//! - [`limits`]: per-address connection and handshake limits, for hosts that see
//!   addresses;
//! - [`publisher`]: which bridge connection publishes a tenant's stream (one at a
//!   time; a newcomer takes over only from an owner that fails a liveness check);
//! - [`uplink_session`]: the other end of that protocol, the bridge's (the buffer of
//!   unacknowledged events, resends, snapshot then events, gaps, ack regressions,
//!   dial and welcome deadlines, backoff).

pub mod admission;
pub mod bridge_session;
pub mod first_auth;
pub mod limits;
pub mod memory_budget;
mod origin;
pub mod publisher;
pub mod uplink_session;

pub use admission::{admit, Admission, Refused, Request, Role as ConnRole};
pub use bridge_session::{BridgeSession, Hello, Refusal};
pub use memory_budget::{Eviction, MemoryBudget};
pub use origin::{HostPolicy, OriginPolicy};
pub use uplink_session::{UplinkCounters, UplinkEvent, UplinkSession, UplinkSettings};

use crate::protocol::{format_timestamp, CloseCode, ErrorFrame, ServerFrame};

/// The `error` frame sent just before a refusal's close frame, saying why (browsers
/// see only the close code otherwise). The same on every relay.
pub fn refusal_frame(code: CloseCode, message: &str, unix_us: i64, utc_offset_secs: i32) -> String {
    ServerFrame::Error(ErrorFrame {
        message: message.to_owned(),
        error_code: Some(code.reason().to_ascii_uppercase().replace(' ', "_")),
        timestamp: format_timestamp(unix_us, utc_offset_secs),
        tws_code: None,
        req_id: None,
        account: None,
        agent: None,
        error_time: None,
        seq: None,
        epoch: None,
    })
    .to_json()
}

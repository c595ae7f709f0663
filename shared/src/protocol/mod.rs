//! The ibws wire protocol.
//!
//! The seed system (FastAPI + ib_async) defined a JSON-over-WebSocket protocol that
//! existing clients depend on; every frame it sends is modelled here with its exact field
//! names. Our additions (`seq`, `epoch`, `auth`, `resume`, heartbeat interval, ...) are
//! optional fields or new message types, so old clients that ignore unknown fields keep
//! working unchanged.

mod client;
mod message_type;
mod num;
mod order;
mod server;
mod snapshot_parts;
mod timestamp;
#[cfg(feature = "typescript")]
pub mod typescript;
mod uplink;

pub use crate::close_code::CloseCode;
pub use client::{ClientMessage, ParseError};
pub use message_type::MessageType;
pub use num::Num;
pub use order::{AccountState, Execution, OrderData, Position};
pub use server::{
    AccountUpdate, Connection, ErrorFrame, MarketData, McpOrder, OrderNotification, OrderUpdate, OrdersResponse, Pong,
    Quote, ResumeResult, ServerFrame, Subscription, Unsubscription,
};
pub use snapshot_parts::{split as split_snapshot, AssemblyError, SnapshotAssembler, SnapshotPart};
pub use timestamp::format_timestamp;
pub use uplink::{BridgeFrame, RelayFrame, Snapshot};

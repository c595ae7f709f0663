//! Frames between a bridge and a relay on `/bridge/ws`.
//!
//! The bridge dials out (so it works behind NAT), authenticates with a `bridge`-role
//! token in `hello`, sends a `snapshot` of its order and account state on every
//! (re)connect (in `snapshot_part`s when it is larger than a frame), then streams
//! `publish` frames. The relay answers `welcome` with the
//! highest seq it already holds for that epoch, and `ack`s as it stores events; the
//! bridge resends everything above the last ack after a reconnect (at-least-once), and
//! the relay's hub drops duplicates by seq.

use serde::{Deserialize, Serialize};

use super::{AccountState, OrderData, ServerFrame, SnapshotPart};

/// Bridge -> relay.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BridgeFrame {
    /// First frame: who we are and where our stream stands.
    Hello { token: String, epoch: String, seq: u64, version: String },
    /// The full order and account state, consistent with `seq` of `epoch`.
    Snapshot(Snapshot),
    /// A piece of a snapshot too large for one frame (see `snapshot_parts`).
    SnapshotPart(SnapshotPart),
    /// One event, already stamped with `seq` and `epoch`.
    Publish { event: Box<ServerFrame> },
    /// The bridge's link to TWS went up or down.
    Source { connected: bool },
    /// The answer to the relay's `ping`: this bridge is alive.
    Pong {},
}

/// Relay -> bridge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RelayFrame {
    /// Accepted; `seq` is the highest seq the relay holds for `epoch` (0 if none).
    Welcome { tenant: String, epoch: String, seq: u64 },
    /// Everything up to `seq` of `epoch` is stored.
    Ack { epoch: String, seq: u64 },
    /// Is this bridge alive? (another bridge asks for its tenant: `relay::publisher`)
    Ping {},
}

/// A consistent picture of the source's state at a stream position.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub epoch: String,
    pub seq: u64,
    pub orders: Vec<OrderData>,
    #[serde(default)]
    pub accounts: Vec<AccountState>,
    #[serde(default = "yes")]
    pub source_connected: bool,
}

fn yes() -> bool {
    true
}

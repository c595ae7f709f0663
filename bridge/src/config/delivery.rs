//! The delivery options every serving command shares (the bridge's endpoints and the
//! relay): how long a write to a client may take, and how much of the stream is kept
//! for clients that resume.

use std::time::Duration;

use clap::Args;
use ibws_shared::hub::HubConfig;
use serde::{Deserialize, Serialize};

#[derive(Args, Clone, Debug, Serialize, Deserialize)]
pub struct DeliveryOptions {
    /// Seconds a write to a client may take; a client that stops reading is dropped
    /// after this and its slot freed
    #[arg(long, env = "IBWS_SEND_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub send_timeout_secs: u64,
    /// Events kept for resume (per tenant on a relay), and how far a client may fall
    /// behind before it is told `recovered: false`
    #[arg(long, env = "IBWS_REPLAY_EVENTS", default_value_t = 50_000)]
    pub replay_events: usize,
    /// Megabytes of event text the replay ring keeps at most (per tenant on a relay)
    #[arg(long, env = "IBWS_REPLAY_MB", default_value_t = 64)]
    pub replay_mb: usize,
}

impl DeliveryOptions {
    pub fn send_timeout(&self) -> Duration {
        Duration::from_secs(self.send_timeout_secs.clamp(1, 3600))
    }

    /// `hub` with this replay ring's bounds.
    pub fn replay(&self, hub: HubConfig) -> HubConfig {
        HubConfig { replay_capacity: self.replay_events.max(1), replay_max_bytes: self.replay_mb.max(1) << 20, ..hub }
    }
}

//! The one place ibws's drivers read clocks, turning them into the cores' [`Now`].
//!
//! Every state machine takes [`Now`] as an input and returns its next deadline in the
//! same monotonic milliseconds; the drivers (the TWS driver here, the bridge's and the
//! relay's endpoints) read the time only through [`now`] and sleep with [`instant_at`],
//! so all of them count from one start.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub use ibws_shared::time::Now;

static START: OnceLock<Instant> = OnceLock::new();

/// The current time: monotonic milliseconds since process start (plus one, so zero
/// never means "now"), and wall-clock microseconds.
pub fn now() -> Now {
    let start = *START.get_or_init(Instant::now);
    let unix_us = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0);
    Now { mono_ms: start.elapsed().as_millis() as u64 + 1, unix_us }
}

/// The tokio instant of monotonic millisecond `mono_ms` (as [`now`] counts them).
pub fn instant_at(mono_ms: u64) -> tokio::time::Instant {
    let start = *START.get_or_init(Instant::now);
    tokio::time::Instant::from_std(start + std::time::Duration::from_millis(mono_ms.saturating_sub(1).min(1 << 40)))
}

/// An instant no deadline reaches (a year from now).
pub fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + std::time::Duration::from_secs(365 * 86_400)
}

/// Sleeps until monotonic millisecond `deadline`, or forever without one.
pub async fn sleep_until(deadline: Option<u64>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(instant_at(d)).await,
        None => std::future::pending().await,
    }
}

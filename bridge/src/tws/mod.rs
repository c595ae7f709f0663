//! The TWS socket API, spoken natively.
//!
//! Everything here except [`driver`] is sans-IO: bytes and fields in, typed messages
//! out, and the reverse for the simulator. The driver puts the codec on a tokio socket.

pub mod driver;
pub mod fields;
pub mod frame;
pub mod handshake;
pub mod incoming;
pub mod order_walk;
pub mod outgoing;
pub mod throttle;
pub mod types;
pub mod versions;

pub use fields::DecodeError;
pub use frame::{FrameDecoder, FrameError};
pub use incoming::Incoming;
pub use outgoing::Request;

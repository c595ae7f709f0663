//! The text encoding of TWS messages: every field a NUL-terminated string, the
//! message id first. Spoken by every server version ibws offers (157..178).

pub mod incoming;
pub mod order_walk;
pub mod outgoing;

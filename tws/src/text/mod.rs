//! The text encoding of TWS messages: every field a NUL-terminated string, the
//! message id first. Spoken by every server version ibws offers (157..213; from 201 beside protobuf,
//! after a binary message id: see [`crate::message`]).

pub mod incoming;
pub mod order_walk;
pub mod outgoing;

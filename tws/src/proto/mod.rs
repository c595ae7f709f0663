//! The protobuf encoding of TWS messages (server versions 201 and up), beside
//! [`crate::text`] and sharing its domain types: [`schema`] has the messages,
//! [`convert`] maps them to and from [`crate::types`], [`incoming`] and [`outgoing`]
//! decode and encode per message id. Which encoding a message travels in at a given
//! version is [`crate::encoding`]'s decision; the envelope is [`crate::message`]'s.

pub mod convert;
pub mod incoming;
pub mod outgoing;
pub mod schema;

//! One frame to one message, whichever encoding the message family uses.
//!
//! Up to server version 200 every message is text ([`crate::text`]). From 201 on, TWS
//! moves message families to protobuf one at a time (executions 201, orders 203-204,
//! market data 206, accounts and positions 207), each frame then starting with a
//! 4-byte binary message id instead of a text one. ibws offers at most
//! [`crate::versions::MAX_CLIENT_VERSION`], so TWS speaks text to it; the decision and
//! what would change it are in `docs/tws-protocol.md`. A protobuf decoder for a family
//! goes in a sibling module of `text` and is chosen here, by version and message id,
//! so the link, the order state and everything above stay as they are.

use crate::fields::DecodeError;
use crate::frame::{check_text_frame, split_fields, FrameError};
use crate::text::incoming::{decode, Incoming};
use crate::versions::MAX_CLIENT_VERSION;

/// Why a frame did not become a message.
#[derive(Debug, PartialEq)]
pub enum MessageError {
    /// The stream lost sync; the connection must be dropped.
    Frame(FrameError),
    /// A well-framed message that did not decode; the connection goes on.
    Decode { msg_id: String, error: DecodeError },
}

/// Decodes one frame payload received at server `version`.
pub fn decode_message(version: i32, payload: &[u8]) -> Result<Incoming, MessageError> {
    debug_assert!(version <= MAX_CLIENT_VERSION, "protobuf families are not negotiated");
    check_text_frame(payload).map_err(MessageError::Frame)?;
    let fields = split_fields(payload);
    decode(version, &fields).map_err(|error| MessageError::Decode {
        msg_id: fields.first().map(|m| m.to_string()).unwrap_or_default(),
        error,
    })
}

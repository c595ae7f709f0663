//! The envelope of a frame, whichever encoding its message travels in.
//!
//! Up to server version 200 a frame is text fields, the message id first. From 201
//! ([`crate::versions::PROTOBUF`]) a frame starts with the message id as a 4-byte
//! big-endian number: above 200 it is the id of a protobuf message plus 200, its body
//! protobuf ([`crate::proto`]); otherwise the text fields follow. Which encoding the
//! sender picks is [`crate::encoding`]'s table; the reader takes whatever each frame
//! says, so mixed sessions decode as they come. The handshake answer (version and
//! connection time) is text at every version.

use crate::encoding::{reply_encoding, request_encoding, Encoding};
use crate::fields::{DResult, DecodeError};
use crate::frame::{check_protobuf_frame, check_text_frame, split_fields, Field, FrameError};
use crate::proto;
use crate::text::incoming::{decode as decode_text, decode_body, Incoming};
use crate::text::outgoing::Request;
use crate::versions::PROTOBUF;

/// Added to a message id to mark a protobuf body.
pub const PROTOBUF_ID_OFFSET: i64 = 200;
/// The highest binary message id taken as real: TWS's ids stay below 200 in either
/// encoding; a larger one means the stream lost sync (a length read from the middle
/// of a message).
const MAX_BINARY_ID: u32 = (PROTOBUF_ID_OFFSET as u32) * 2;

/// Why a frame did not become a message.
#[derive(Debug, PartialEq)]
pub enum MessageError {
    /// The stream lost sync; the connection must be dropped.
    Frame(FrameError),
    /// A well-framed message that did not decode; the connection goes on.
    Decode { msg_id: String, error: DecodeError },
}

/// A frame's message: its id, and its body in one encoding or the other.
enum Body<'a> {
    /// Up to 200: every field, the id first.
    Text(Vec<Field<'a>>),
    /// From 201: the binary id, then the other fields.
    IdText(i64, Vec<Field<'a>>),
    Protobuf(i64, &'a [u8]),
}

/// Splits a payload into message id and body, checking the envelope.
fn open(version: i32, payload: &[u8]) -> Result<Body<'_>, FrameError> {
    if version < PROTOBUF {
        check_text_frame(payload)?;
        return Ok(Body::Text(split_fields(payload)));
    }
    let Some((id, rest)) = payload.split_first_chunk::<4>() else {
        return Err(FrameError::Desync("frame shorter than its message id"));
    };
    let id = u32::from_be_bytes(*id);
    if id == 0 || id > MAX_BINARY_ID {
        return Err(FrameError::Desync("frame does not start with a message id"));
    }
    if i64::from(id) > PROTOBUF_ID_OFFSET {
        check_protobuf_frame(rest)?;
        return Ok(Body::Protobuf(i64::from(id) - PROTOBUF_ID_OFFSET, rest));
    }
    if !rest.is_empty() && rest.last() != Some(&0) {
        return Err(FrameError::Desync("frame does not end with a field terminator"));
    }
    Ok(Body::IdText(i64::from(id), split_fields(rest)))
}

/// Decodes one frame payload received at server `version`.
pub fn decode_message(version: i32, payload: &[u8]) -> Result<Incoming, MessageError> {
    match open(version, payload).map_err(MessageError::Frame)? {
        Body::Text(fields) => decode_text(version, &fields).map_err(|error| MessageError::Decode {
            msg_id: fields.first().map(|m| m.to_string()).unwrap_or_default(),
            error,
        }),
        Body::IdText(msg_id, fields) => decode_body(msg_id, version, &fields)
            .map_err(|error| MessageError::Decode { msg_id: msg_id.to_string(), error }),
        Body::Protobuf(msg_id, body) => proto::incoming::decode(msg_id, body)
            .map_err(|error| MessageError::Decode { msg_id: format!("{msg_id} (protobuf)"), error }),
    }
}

/// Decodes a request frame payload (the simulator's side). A frame that cannot be a
/// message at all is an error like any other here: the simulator skips it.
pub fn decode_request(version: i32, payload: &[u8]) -> DResult<Request> {
    match open(version, payload) {
        Ok(Body::Text(fields)) => Request::decode(&fields, version),
        Ok(Body::IdText(msg_id, fields)) => {
            let mut all = vec![Field::Owned(msg_id.to_string())];
            all.extend(fields);
            Request::decode(&all, version)
        }
        Ok(Body::Protobuf(msg_id, body)) => proto::outgoing::decode(msg_id, body),
        Err(_) => Err(DecodeError::Truncated { at: 0 }),
    }
}

/// Frames a protobuf body: length, id plus 200, body.
fn protobuf_frame(msg_id: i64, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + body.len());
    out.extend_from_slice(&(4 + body.len() as u32).to_be_bytes());
    out.extend_from_slice(&((msg_id + PROTOBUF_ID_OFFSET) as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// A text frame (as the text codec makes it, id first) re-framed for a version from
/// 201: the id as 4 binary bytes, then the other fields.
fn binary_id_frame(text_frame: Vec<u8>) -> Vec<u8> {
    let payload = &text_frame[4..];
    let end = payload.iter().position(|b| *b == 0).unwrap_or(payload.len());
    let id: u32 = std::str::from_utf8(&payload[..end]).ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    let rest = payload.get(end + 1..).unwrap_or_default();
    let mut out = Vec::with_capacity(8 + rest.len());
    out.extend_from_slice(&(4 + rest.len() as u32).to_be_bytes());
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(rest);
    out
}

fn text_at(version: i32, frame: Vec<u8>) -> Vec<u8> {
    if version < PROTOBUF {
        frame
    } else {
        binary_id_frame(frame)
    }
}

/// Encodes a request for a server at `version`: text, or protobuf where the table
/// says so.
pub fn encode_request(version: i32, r: &Request) -> Vec<u8> {
    if version >= PROTOBUF {
        if let Some((msg_id, body)) = proto::outgoing::encode(r) {
            if request_encoding(version, msg_id) == Encoding::Protobuf {
                return protobuf_frame(msg_id, &body);
            }
        }
    }
    text_at(version, r.encode(version))
}

/// Encodes a reply as TWS would at `version` (the simulator's side).
pub fn encode_incoming(version: i32, m: &Incoming) -> Vec<u8> {
    if version >= PROTOBUF {
        if let Some((msg_id, body)) = proto::incoming::encode(m) {
            if reply_encoding(version, msg_id) == Encoding::Protobuf {
                return protobuf_frame(msg_id, &body);
            }
        }
    }
    text_at(version, m.encode(version))
}

/// Encodes a reply in the encoding named, whatever the table says (tests of mixed
/// sessions: TWS may send any reply in protobuf from 201).
pub fn encode_incoming_as(version: i32, m: &Incoming, encoding: Encoding) -> Vec<u8> {
    match (encoding, proto::incoming::encode(m)) {
        (Encoding::Protobuf, Some((msg_id, body))) if version >= PROTOBUF => protobuf_frame(msg_id, &body),
        _ => text_at(version, m.encode(version)),
    }
}

//! TWS framing: a 4-byte big-endian length, then NUL-terminated text fields.
//!
//! [`FrameDecoder`] turns a byte stream into frames without trusting the length prefix:
//! a length above [`MAX_FRAME_LEN`] is reported as an error instead of becoming an
//! allocation, and bytes arrive in whatever pieces the socket delivers them.

use bytes::{Buf, BytesMut};

/// The largest frame we accept. Real frames are a few KiB (openOrder is ~1 KiB);
/// contract-detail bursts stay far below this.
pub const MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// Why the byte stream cannot be framed. After this the connection must be dropped:
/// the stream has lost sync.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    TooLong(usize),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::TooLong(n) => {
                write!(f, "frame length {n} exceeds the {MAX_FRAME_LEN}-byte cap")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// Accumulates bytes and yields complete frame payloads.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: BytesMut,
}

impl FrameDecoder {
    pub fn new() -> Self {
        FrameDecoder { buf: BytesMut::with_capacity(64 * 1024) }
    }

    /// Appends bytes read from the socket.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame payload (without the length prefix), if one is buffered.
    pub fn next_frame(&mut self) -> Result<Option<BytesMut>, FrameError> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
        if len > MAX_FRAME_LEN {
            return Err(FrameError::TooLong(len));
        }
        if self.buf.len() < 4 + len {
            self.buf.reserve(4 + len - self.buf.len());
            return Ok(None);
        }
        self.buf.advance(4);
        Ok(Some(self.buf.split_to(len)))
    }
}

/// Encodes fields as one frame: length prefix plus each field and its NUL.
pub fn encode_frame<S: AsRef<str>>(fields: &[S]) -> Vec<u8> {
    let len: usize = fields.iter().map(|f| f.as_ref().len() + 1).sum();
    let mut out = Vec::with_capacity(4 + len);
    out.extend_from_slice(&(len as u32).to_be_bytes());
    for f in fields {
        out.extend_from_slice(f.as_ref().as_bytes());
        out.push(0);
    }
    out
}

/// Splits a payload into its fields. A payload must end with NUL; text is decoded
/// lossily (TWS sends UTF-8, but a bad byte must not kill the connection).
pub fn split_fields(payload: &[u8]) -> Vec<String> {
    let body = payload.strip_suffix(&[0]).unwrap_or(payload);
    if body.is_empty() && payload.is_empty() {
        return Vec::new();
    }
    body.split(|b| *b == 0).map(|f| String::from_utf8_lossy(f).into_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_survive_any_split() {
        let a = encode_frame(&["9", "1", "217"]);
        let b = encode_frame(&["53", "1"]);
        let all = [a.clone(), b.clone()].concat();
        for cut in 0..all.len() {
            let mut d = FrameDecoder::new();
            d.extend(&all[..cut]);
            let mut got = Vec::new();
            while let Some(f) = d.next_frame().unwrap() {
                got.push(split_fields(&f));
            }
            d.extend(&all[cut..]);
            while let Some(f) = d.next_frame().unwrap() {
                got.push(split_fields(&f));
            }
            assert_eq!(got, vec![vec!["9", "1", "217"], vec!["53", "1"]]);
        }
    }

    #[test]
    fn oversized_length_is_an_error_not_an_allocation() {
        let mut d = FrameDecoder::new();
        d.extend(&[0xff, 0xff, 0xff, 0xff, 1]);
        assert_eq!(d.next_frame(), Err(FrameError::TooLong(0xffff_ffff)));
    }
}

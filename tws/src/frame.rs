//! TWS framing: a 4-byte big-endian length, then NUL-terminated text fields.
//!
//! [`FrameDecoder`] turns a byte stream into frames without trusting the length prefix:
//! a length above [`MAX_FRAME_LEN`] is reported as an error instead of becoming an
//! allocation, and bytes arrive in whatever pieces the socket delivers them.
//!
//! A stream can also lose sync quietly: one wrong length prefix and every later "length"
//! is read out of the middle of text. [`check_text_frame`] catches that on the first bad
//! frame (a text message starts with its numeric id and ends with a NUL), and the link
//! puts a deadline on a partly received frame for the case where the bogus length is
//! merely large.
//!
//! Free text in a field (an error message, whyHeld) is bounded here, at the source:
//! [`split_fields`] keeps at most [`MAX_FIELD_BYTES`] of a field and marks the cut.

use bytes::{Buf, BytesMut};

/// The largest frame we accept. Real frames are a few KiB (openOrder is ~1 KiB);
/// contract-detail bursts stay far below this.
pub const MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// Why the byte stream cannot be framed. After this the connection must be dropped:
/// the stream has lost sync.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    TooLong(usize),
    /// A frame that cannot be a text message: the stream has lost sync.
    Desync(&'static str),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::TooLong(n) => {
                write!(f, "frame length {n} exceeds the {MAX_FRAME_LEN}-byte cap")
            }
            FrameError::Desync(why) => write!(f, "TWS stream out of sync: {why}"),
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

    /// Bytes buffered that do not yet make a complete frame (0 between frames).
    pub fn partial_len(&self) -> usize {
        self.buf.len()
    }
}

/// Checks that a payload can be a text-protocol message: its first field is a number
/// (the message id, or the server version in the handshake answer) and it ends with
/// the NUL of its last field.
pub fn check_text_frame(payload: &[u8]) -> Result<(), FrameError> {
    if payload.last() != Some(&0) {
        return Err(FrameError::Desync("frame does not end with a field terminator"));
    }
    let first = payload.split(|b| *b == 0).next().unwrap_or_default();
    if first.is_empty() || first.len() > 12 || !first.iter().all(u8::is_ascii_digit) {
        return Err(FrameError::Desync("frame does not start with a message id"));
    }
    Ok(())
}

/// Checks that a protobuf body is whole: its top-level fields, walked by their wire
/// types, end exactly where the frame does. TWS never sends a cut message, so one
/// that ends inside a field means the length prefix was wrong and the stream has
/// lost sync (the protobuf counterpart of [`check_text_frame`]'s closing NUL). The
/// walk reads each key and skips each value: its cost is bounded by the body's length.
pub fn check_protobuf_frame(body: &[u8]) -> Result<(), FrameError> {
    const CUT: FrameError = FrameError::Desync("protobuf message cut short");
    fn varint(b: &[u8], at: &mut usize) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *b.get(*at)?;
            *at += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    let mut at = 0;
    while at < body.len() {
        let key = varint(body, &mut at).ok_or(CUT)?;
        if key >> 3 == 0 {
            return Err(FrameError::Desync("protobuf field number 0"));
        }
        let skip = match key & 7 {
            0 => {
                varint(body, &mut at).ok_or(CUT)?;
                0
            }
            1 => 8,
            2 => usize::try_from(varint(body, &mut at).ok_or(CUT)?).map_err(|_| CUT)?,
            5 => 4,
            _ => return Err(FrameError::Desync("protobuf wire type not used by TWS")),
        };
        if skip > body.len() - at {
            return Err(CUT);
        }
        at += skip;
    }
    Ok(())
}

/// The most of one field's text kept; TWS's own messages are far shorter, and an
/// error text of megabytes must not become an event of megabytes.
pub const MAX_FIELD_BYTES: usize = 4096;

/// Keeps at most `max` bytes of `s` (on a character boundary) and says how much was cut.
pub fn truncate_text(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}… [truncated {} bytes]", &s[..cut], s.len() - cut)
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

/// One field of a payload: borrowed from the payload unless it had to be repaired
/// (bytes that are not UTF-8) or cut (longer than [`MAX_FIELD_BYTES`]).
pub type Field<'a> = std::borrow::Cow<'a, str>;

/// Splits a payload into its fields. A payload must end with NUL; text is decoded
/// lossily (TWS sends UTF-8, but a bad byte must not kill the connection), and a field
/// longer than [`MAX_FIELD_BYTES`] is cut with a visible marker. Fields borrow from the
/// payload: an openOrder has over a hundred of them, and a copy of each was most of
/// the cost of decoding one.
pub fn split_fields(payload: &[u8]) -> Vec<Field<'_>> {
    let body = payload.strip_suffix(&[0]).unwrap_or(payload);
    if body.is_empty() && payload.is_empty() {
        return Vec::new();
    }
    body.split(|b| *b == 0)
        .map(|f| {
            let text = String::from_utf8_lossy(f);
            if text.len() > MAX_FIELD_BYTES {
                Field::Owned(truncate_text(&text, MAX_FIELD_BYTES))
            } else {
                text
            }
        })
        .collect()
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
                got.push(split_fields(&f).into_iter().map(|x| x.into_owned()).collect::<Vec<_>>());
            }
            d.extend(&all[cut..]);
            while let Some(f) = d.next_frame().unwrap() {
                got.push(split_fields(&f).into_iter().map(|x| x.into_owned()).collect::<Vec<_>>());
            }
            assert_eq!(got, vec![vec!["9", "1", "217"], vec!["53", "1"]]);
        }
    }

    #[test]
    fn a_short_length_prefix_is_caught_on_the_frame_it_cuts() {
        // "4\02\0-1\0" announced as 5 bytes: the frame stops mid-field
        let mut bytes = 5u32.to_be_bytes().to_vec();
        bytes.extend_from_slice(b"4\x002\x00-1\x00");
        let mut d = FrameDecoder::new();
        d.extend(&bytes);
        let f = d.next_frame().unwrap().unwrap();
        assert!(matches!(check_text_frame(&f), Err(FrameError::Desync(_))));
        assert_eq!(check_text_frame(b"4\x002\x00-1\x00"), Ok(()));
        assert!(check_text_frame(b"abc\x00").is_err());
    }

    #[test]
    fn a_protobuf_body_cut_inside_a_field_is_a_desync() {
        // field 1 varint 12, field 2 string "Filled", field 5 double
        let mut body = vec![0x08, 12, 0x12, 6];
        body.extend_from_slice(b"Filled");
        body.push(0x29);
        body.extend_from_slice(&150.25f64.to_le_bytes());
        assert_eq!(check_protobuf_frame(&body), Ok(()));
        assert_eq!(check_protobuf_frame(&[]), Ok(()));
        for cut in 1..body.len() {
            if [2, 10].contains(&cut) {
                continue; // ends between two fields: whole as far as the wire can tell
            }
            assert!(matches!(check_protobuf_frame(&body[..cut]), Err(FrameError::Desync(_))), "cut at {cut}");
        }
        assert!(check_protobuf_frame(&[0x0b, 0]).is_err(), "group wire types are not TWS's");
    }

    #[test]
    fn huge_fields_are_cut_with_a_marker() {
        let big = "x".repeat(10_000_000);
        let payload = [b"4\x00".as_slice(), big.as_bytes(), b"\x00"].concat();
        let f = split_fields(&payload);
        assert!(f[1].len() < MAX_FIELD_BYTES + 100);
        assert!(f[1].ends_with("… [truncated 9995904 bytes]"), "{}", &f[1][4000..]);
    }

    #[test]
    fn long_text_is_cut_at_a_char_boundary_with_a_marker() {
        assert_eq!(truncate_text("short", 10), "short");
        let t = "é".repeat(3000); // 6000 bytes
        let b = truncate_text(&t, 4095);
        assert!(b.starts_with(&"é".repeat(2047)));
        assert!(b.ends_with("… [truncated 1906 bytes]"), "{}", &b[b.len() - 40..]);
        assert!(b.len() < 4096 + 40);
    }

    #[test]
    fn oversized_length_is_an_error_not_an_allocation() {
        let mut d = FrameDecoder::new();
        d.extend(&[0xff, 0xff, 0xff, 0xff, 1]);
        assert_eq!(d.next_frame(), Err(FrameError::TooLong(0xffff_ffff)));
    }
}

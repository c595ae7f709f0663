//! The server side of WebSocket framing (RFC 6455 section 5), sans-IO: bytes a client
//! sent go in, the messages they complete come out; frames for the client are
//! formatted into a caller's buffer.
//!
//! Why not tungstenite's `WebSocket` for clients: it keeps a read buffer and a write
//! buffer per connection at the largest size they ever reached, plus two waker proxies,
//! for the connection's whole life, and most connections are idle (about 1 KB of every
//! idle client's 3 KB). Here an idle connection holds nothing: the driver reads into a
//! buffer on its stack, messages are handed out from it in place, and only the bytes of
//! a frame that has not fully arrived are kept, until it has. Writes are formatted into
//! a buffer that lives for one batch. The wire format itself (header parsing and
//! formatting, opcodes, close codes) is tungstenite's.
//!
//! What a client may send is bounded: a data message (all its fragments) at most
//! `max_message` bytes, refused from its header before any of it is buffered; control
//! frames at most 125 bytes.

use std::io::Cursor;

use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;

/// A message the client completed, borrowed from the decoder's input.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    Text(&'a str),
    /// A binary message (not part of the protocol); only its length is kept.
    Binary(usize),
    /// A ping: the pong owed carries this payload.
    Ping(&'a [u8]),
    Pong,
    /// The client's close frame and its code, if it gave one. Nothing after it is read.
    Close(Option<u16>),
}

/// Why the client's bytes were refused. The connection ends with the close code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// Not a valid client frame (unmasked, reserved bits or opcodes, a fragmented or
    /// over-long control frame, a continuation out of place, a bad close payload).
    Protocol,
    /// A text message that is not UTF-8.
    InvalidUtf8,
    /// A message longer than the limit.
    TooBig,
}

impl Violation {
    /// The RFC 6455 close code and reason for a transport violation. (The server
    /// answers `TooBig` with the hub's own code for it, 4507.)
    pub fn close(self) -> (u16, &'static str) {
        match self {
            Violation::Protocol => (1002, "protocol error"),
            Violation::InvalidUtf8 => (1007, "invalid payload"),
            Violation::TooBig => (1009, "message too big"),
        }
    }
}

/// Largest control frame payload (RFC 6455 5.5).
const MAX_CONTROL: usize = 125;

/// Decodes what one client sends. Holds memory only while a frame or a fragmented
/// message is incomplete.
#[derive(Debug)]
pub struct Decoder {
    max_message: usize,
    /// Bytes of a frame that has not fully arrived (empty, without capacity, otherwise).
    partial: Vec<u8>,
    /// A fragmented message in progress: its payload so far.
    message: Vec<u8>,
    /// Whether a fragmented message is in progress, and whether it is text.
    fragmented: Option<bool>,
    /// A close frame or a violation was seen: nothing more is decoded.
    done: bool,
}

impl Decoder {
    pub fn new(max_message: usize) -> Decoder {
        Decoder { max_message, partial: Vec::new(), message: Vec::new(), fragmented: None, done: false }
    }

    /// Bytes held for incomplete frames and messages (zero when the client is idle).
    pub fn buffered(&self) -> usize {
        self.partial.capacity() + self.message.capacity()
    }

    /// Decodes `input` (bytes just read, unmasked in place), handing each completed
    /// message to `on`. After `Close` or an error nothing more is decoded.
    pub fn decode(&mut self, input: &mut [u8], on: &mut dyn FnMut(Incoming<'_>)) -> Result<(), Violation> {
        if self.done {
            return Ok(());
        }
        let result = if self.partial.is_empty() {
            let used = self.frames(input, on);
            if let Ok(n) = used {
                self.partial.extend_from_slice(&input[n..]);
            }
            used.map(|_| ())
        } else {
            let mut buf = std::mem::take(&mut self.partial);
            buf.extend_from_slice(input);
            let used = self.frames(&mut buf, on);
            if let Ok(n) = used {
                buf.drain(..n);
                if !buf.is_empty() {
                    self.partial = buf;
                }
            }
            used.map(|_| ())
        };
        if result.is_err() {
            self.done = true;
            self.partial = Vec::new();
            self.message = Vec::new();
        }
        if self.done {
            self.partial = Vec::new();
        }
        result
    }

    /// Decodes every complete frame at the start of `buf`; returns the bytes used.
    fn frames(&mut self, buf: &mut [u8], on: &mut dyn FnMut(Incoming<'_>)) -> Result<usize, Violation> {
        let mut pos = 0;
        while !self.done {
            let mut cursor = Cursor::new(&buf[pos..]);
            let (header, len) = match FrameHeader::parse(&mut cursor) {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(_) => return Err(Violation::Protocol),
            };
            let head_len = cursor.position() as usize;
            let Some(mask) = header.mask else { return Err(Violation::Protocol) };
            if header.rsv1 || header.rsv2 || header.rsv3 {
                return Err(Violation::Protocol);
            }
            let control = matches!(header.opcode, OpCode::Control(_));
            if control && (!header.is_final || len > MAX_CONTROL as u64) {
                return Err(Violation::Protocol);
            }
            if !control && len > (self.max_message - self.message.len()) as u64 {
                return Err(Violation::TooBig);
            }
            let len = len as usize;
            if buf.len() - pos - head_len < len {
                break;
            }
            let start = pos + head_len;
            let payload = &mut buf[start..start + len];
            unmask(payload, mask);
            pos = start + len;
            self.frame(header.opcode, header.is_final, payload, on)?;
        }
        Ok(pos)
    }

    fn frame(
        &mut self,
        opcode: OpCode,
        fin: bool,
        payload: &[u8],
        on: &mut dyn FnMut(Incoming<'_>),
    ) -> Result<(), Violation> {
        match opcode {
            OpCode::Data(Data::Text | Data::Binary) if self.fragmented.is_some() => Err(Violation::Protocol),
            OpCode::Data(Data::Text) if fin => {
                on(Incoming::Text(std::str::from_utf8(payload).map_err(|_| Violation::InvalidUtf8)?));
                Ok(())
            }
            OpCode::Data(Data::Binary) if fin => {
                on(Incoming::Binary(payload.len()));
                Ok(())
            }
            OpCode::Data(d @ (Data::Text | Data::Binary)) => {
                self.fragmented = Some(d == Data::Text);
                self.message.extend_from_slice(payload);
                Ok(())
            }
            OpCode::Data(Data::Continue) => {
                let Some(text) = self.fragmented else { return Err(Violation::Protocol) };
                self.message.extend_from_slice(payload);
                if fin {
                    let message = std::mem::take(&mut self.message);
                    self.fragmented = None;
                    if text {
                        on(Incoming::Text(std::str::from_utf8(&message).map_err(|_| Violation::InvalidUtf8)?));
                    } else {
                        on(Incoming::Binary(message.len()));
                    }
                }
                Ok(())
            }
            OpCode::Control(Control::Ping) => {
                on(Incoming::Ping(payload));
                Ok(())
            }
            OpCode::Control(Control::Pong) => {
                on(Incoming::Pong);
                Ok(())
            }
            OpCode::Control(Control::Close) => {
                let code = close_payload(payload)?;
                self.done = true;
                on(Incoming::Close(code));
                Ok(())
            }
            OpCode::Data(Data::Reserved(_)) | OpCode::Control(Control::Reserved(_)) => Err(Violation::Protocol),
        }
    }
}

/// A close frame's payload: empty, or a code allowed on the wire and a UTF-8 reason.
fn close_payload(payload: &[u8]) -> Result<Option<u16>, Violation> {
    match payload {
        [] => Ok(None),
        [_] => Err(Violation::Protocol),
        [a, b, reason @ ..] => {
            let code = u16::from_be_bytes([*a, *b]);
            let allowed = CloseCode::from(code).is_allowed() && (1000..5000).contains(&code);
            if !allowed {
                return Err(Violation::Protocol);
            }
            std::str::from_utf8(reason).map_err(|_| Violation::InvalidUtf8)?;
            Ok(Some(code))
        }
    }
}

/// Removes a client's mask (XOR with the 4-byte key, repeating), a word at a time.
pub fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    let word = u64::from_ne_bytes([mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3]]);
    let mut chunks = payload.chunks_exact_mut(8);
    for c in &mut chunks {
        let v = u64::from_ne_bytes(c.try_into().expect("chunk of 8")) ^ word;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
}

/// Appends one unmasked, unfragmented server frame.
fn frame(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) {
    let header = FrameHeader { is_final: true, rsv1: false, rsv2: false, rsv3: false, opcode, mask: None };
    header.format(payload.len() as u64, out).expect("formatting into a Vec cannot fail");
    out.extend_from_slice(payload);
}

/// Appends a text frame.
pub fn text(out: &mut Vec<u8>, payload: &str) {
    frame(out, OpCode::Data(Data::Text), payload.as_bytes());
}

/// Appends a ping (empty payload).
pub fn ping(out: &mut Vec<u8>) {
    frame(out, OpCode::Control(Control::Ping), &[]);
}

/// Appends the pong answering a ping with `payload`.
pub fn pong(out: &mut Vec<u8>, payload: &[u8]) {
    frame(out, OpCode::Control(Control::Pong), &payload[..payload.len().min(MAX_CONTROL)]);
}

/// Appends a close frame with `code` and `reason` (cut to fit a control frame).
pub fn close(out: &mut Vec<u8>, code: u16, reason: &str) {
    let mut cut = reason.len().min(MAX_CONTROL - 2);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut payload = [0u8; MAX_CONTROL];
    payload[..2].copy_from_slice(&code.to_be_bytes());
    payload[2..2 + cut].copy_from_slice(&reason.as_bytes()[..cut]);
    frame(out, OpCode::Control(Control::Close), &payload[..2 + cut]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A client frame as a browser sends it: masked.
    fn client_frame(fin: bool, opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut out = vec![(if fin { 0x80 } else { 0 }) | opcode];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n < 65536 => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        let mut body = payload.to_vec();
        unmask(&mut body, mask);
        out.extend_from_slice(&body);
        out
    }

    #[derive(Debug, PartialEq, Eq, Clone)]
    enum Got {
        Text(String),
        Binary(usize),
        Ping(Vec<u8>),
        Pong,
        Close(Option<u16>),
    }

    fn collect(d: &mut Decoder, input: &[u8]) -> (Vec<Got>, Result<(), Violation>) {
        let mut got = Vec::new();
        let mut buf = input.to_vec();
        let r = d.decode(&mut buf, &mut |m| {
            got.push(match m {
                Incoming::Text(t) => Got::Text(t.to_owned()),
                Incoming::Binary(n) => Got::Binary(n),
                Incoming::Ping(p) => Got::Ping(p.to_vec()),
                Incoming::Pong => Got::Pong,
                Incoming::Close(c) => Got::Close(c),
            })
        });
        (got, r)
    }

    const M: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    #[test]
    fn whole_messages_come_out_and_nothing_is_kept() {
        let mut d = Decoder::new(1024);
        let mut input = client_frame(true, 1, br#"{"type":"subscribe"}"#, M);
        input.extend(client_frame(true, 9, b"hi", M));
        input.extend(client_frame(true, 10, b"", M));
        input.extend(client_frame(true, 2, &[1, 2, 3], M));
        let (got, r) = collect(&mut d, &input);
        assert_eq!(r, Ok(()));
        assert_eq!(
            got,
            vec![Got::Text(r#"{"type":"subscribe"}"#.into()), Got::Ping(b"hi".to_vec()), Got::Pong, Got::Binary(3)]
        );
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn fragments_with_a_ping_between_make_one_message() {
        let mut d = Decoder::new(1024);
        let mut input = client_frame(false, 1, "héllo ".as_bytes(), M);
        input.extend(client_frame(true, 9, b"", M));
        input.extend(client_frame(false, 0, "wör".as_bytes(), M));
        input.extend(client_frame(true, 0, "ld".as_bytes(), M));
        let (got, r) = collect(&mut d, &input);
        assert_eq!(r, Ok(()));
        assert_eq!(got, vec![Got::Ping(vec![]), Got::Text("héllo wörld".into())]);
        assert_eq!(d.buffered(), 0, "the message buffer is released once the message is out");
    }

    #[test]
    fn a_close_ends_decoding() {
        let mut d = Decoder::new(1024);
        let mut close = vec![0x03, 0xe8];
        close.extend_from_slice(b"bye");
        let mut input = client_frame(true, 8, &close, M);
        input.extend(client_frame(true, 1, b"after", M));
        let (got, r) = collect(&mut d, &input);
        assert_eq!((got, r), (vec![Got::Close(Some(1000))], Ok(())));
        assert_eq!(collect(&mut d, &client_frame(true, 1, b"more", M)).0, vec![]);
        assert_eq!(collect(&mut Decoder::new(10), &client_frame(true, 8, &[], M)).0, vec![Got::Close(None)]);
    }

    #[test]
    fn violations() {
        let cases: Vec<(Vec<u8>, Violation)> = vec![
            (vec![0x81, 0x02, b'h', b'i'], Violation::Protocol), // unmasked
            (
                {
                    let mut f = client_frame(true, 1, b"x", M);
                    f[0] |= 0x40; // rsv1 without an extension
                    f
                },
                Violation::Protocol,
            ),
            (client_frame(true, 3, b"x", M), Violation::Protocol), // reserved opcode
            (client_frame(true, 0, b"x", M), Violation::Protocol), // continuation of nothing
            (client_frame(false, 9, b"x", M), Violation::Protocol), // fragmented ping
            (client_frame(true, 9, &[0; 126], M), Violation::Protocol), // long ping
            (client_frame(true, 8, &[3], M), Violation::Protocol), // one-byte close
            (client_frame(true, 8, &[0x03, 0xed], M), Violation::Protocol), // 1005 on the wire
            (client_frame(true, 8, &[0x03, 0xe8, 0xff], M), Violation::InvalidUtf8),
            (client_frame(true, 1, &[0xc3, 0x28], M), Violation::InvalidUtf8),
            (client_frame(true, 1, &[b'a'; 101], M), Violation::TooBig),
            (
                {
                    let mut f = client_frame(false, 1, b"x", M);
                    f.extend(client_frame(true, 1, b"y", M)); // new message inside a fragmented one
                    f
                },
                Violation::Protocol,
            ),
            (
                {
                    let mut f = client_frame(false, 1, &[b'a'; 60], M);
                    f.extend(client_frame(true, 0, &[b'a'; 60], M)); // fragments past the limit
                    f
                },
                Violation::TooBig,
            ),
        ];
        for (input, want) in cases {
            let mut d = Decoder::new(100);
            let (_, r) = collect(&mut d, &input);
            assert_eq!(r, Err(want), "input {input:02x?}");
            assert_eq!(d.buffered(), 0);
            assert_eq!(collect(&mut d, &client_frame(true, 1, b"x", M)), (vec![], Ok(())), "nothing after a violation");
        }
    }

    #[test]
    fn an_oversized_frame_is_refused_from_its_header_alone() {
        let mut d = Decoder::new(64 * 1024);
        let header = &client_frame(true, 1, &vec![b'a'; 10 << 20], M)[..14];
        assert_eq!(collect(&mut d, header).1, Err(Violation::TooBig));
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn server_frames_have_the_wire_format() {
        let mut out = Vec::new();
        text(&mut out, "hi");
        ping(&mut out);
        pong(&mut out, b"p");
        close(&mut out, 4001, "slow consumer");
        let mut want = vec![0x81, 2, b'h', b'i', 0x89, 0, 0x8a, 1, b'p', 0x88, 15, 0x0f, 0xa1];
        want.extend_from_slice(b"slow consumer");
        assert_eq!(out, want);
        let mut long = Vec::new();
        text(&mut long, &"a".repeat(70_000));
        assert_eq!(&long[..10], &[0x81, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
        let mut cut = Vec::new();
        close(&mut cut, 1000, &"é".repeat(100));
        assert_eq!(cut[1] as usize, cut.len() - 2);
        assert!(cut.len() - 2 <= MAX_CONTROL && std::str::from_utf8(&cut[4..]).is_ok());
    }

    proptest! {
        /// However the bytes are split into reads, the same messages come out, and
        /// nothing is held once the last read ends on a frame boundary.
        #[test]
        fn any_split_gives_the_same_messages(
            msgs in proptest::collection::vec(("[a-zé]{0,300}", any::<bool>(), any::<[u8; 4]>()), 1..8),
            cuts in proptest::collection::vec(0usize..4000, 0..12),
        ) {
            let mut input = Vec::new();
            let mut want = Vec::new();
            for (text, fragmented, mask) in &msgs {
                if *fragmented && text.len() > 1 {
                    let mut mid = text.len() / 2;
                    while !text.is_char_boundary(mid) { mid -= 1; }
                    input.extend(client_frame(false, 1, &text.as_bytes()[..mid], *mask));
                    input.extend(client_frame(true, 9, b"", *mask));
                    want.push(Got::Ping(vec![]));
                    input.extend(client_frame(true, 0, &text.as_bytes()[mid..], *mask));
                } else {
                    input.extend(client_frame(true, 1, text.as_bytes(), *mask));
                }
                want.push(Got::Text(text.clone()));
            }
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (input.len() + 1)).collect();
            cuts.push(0);
            cuts.push(input.len());
            cuts.sort_unstable();
            let mut d = Decoder::new(1 << 20);
            let mut got = Vec::new();
            for w in cuts.windows(2) {
                let (g, r) = collect(&mut d, &input[w[0]..w[1]]);
                prop_assert_eq!(r, Ok(()));
                got.extend(g);
            }
            prop_assert_eq!(got, want);
            prop_assert_eq!(d.buffered(), 0);
        }
    }
}

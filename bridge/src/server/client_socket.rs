//! A client's WebSocket on tokio: [`ws_frames`](super::ws_frames) over the connection's
//! byte stream (TCP or TLS).
//!
//! Reads go into a buffer on the stack of the poll that reads them; what the client
//! sent is handed out in place and only an incomplete frame is kept. Writes are
//! formatted into a buffer that lives for one batch and are written whole, each step
//! within the send deadline. This is the only writer of the socket, so control frames
//! owed to the client (a pong, our close) never interleave with data frames. An idle
//! client's socket is its stream and a few words.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use ibws_shared::hub::Frame;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::ws_frames::{self, Decoder, Incoming, Violation};
use super::BoxedIo;

/// Bytes read per poll, on the stack: a client's requests are small, a token is under
/// 2 KiB, and a longer message arrives over several reads.
const READ_CHUNK: usize = 4096;

/// Bytes gathered before a write: a burst goes out in few syscalls. The buffer is the
/// thread's [`scratch`](crate::scratch) one, lent for the batch; a write that waits for
/// its client keeps the one it took, so in a burst where every client waits this times
/// the number of clients is the burst's transient memory (16 MiB for 1,000 clients).
const WRITE_CHUNK: usize = 16 * 1024;

/// How a read ended.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadEnd {
    /// Bytes were read and every message they completed was handed out.
    Progress,
    /// The client's close frame arrived (with its code): nothing more is read.
    Closed(Option<u16>),
    /// The stream ended or failed without a close frame.
    Eof,
    /// The client broke the protocol or a limit.
    Violation(Violation),
}

pub struct ClientSocket {
    io: BoxedIo,
    decoder: Decoder,
    /// Pongs owed for the client's pings, formatted, written before anything else.
    /// Bounded by construction: they come from one read (a pong is no longer than the
    /// ping it answers) and are written before the next read.
    owed: Vec<u8>,
    /// Our close frame is out: nothing else may follow it, pings go unanswered.
    close_sent: bool,
}

impl ClientSocket {
    /// Wraps a stream whose upgrade was answered; messages are at most `max_message`.
    pub fn new(io: BoxedIo, max_message: usize) -> ClientSocket {
        ClientSocket { io, decoder: Decoder::new(max_message), owed: Vec::new(), close_sent: false }
    }

    /// Reads once and hands each message completed to `on` (a ping too, as a sign of
    /// life; every ping is answered by the next write, or by
    /// [`ClientSocket::flush_owed`]). The close frame is not handed out: it ends the
    /// read with [`ReadEnd::Closed`].
    pub fn poll_read(&mut self, cx: &mut Context<'_>, on: &mut dyn FnMut(Incoming<'_>)) -> Poll<ReadEnd> {
        // not zeroed: polled on every wake of the connection, and the reader writes
        // before anything is read back
        let mut chunk = [std::mem::MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let mut buf = ReadBuf::uninit(&mut chunk);
        match Pin::new(&mut self.io).poll_read(cx, &mut buf) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(_)) => Poll::Ready(ReadEnd::Eof),
            Poll::Ready(Ok(())) if buf.filled().is_empty() => Poll::Ready(ReadEnd::Eof),
            Poll::Ready(Ok(())) => {
                let mut closed = None;
                let owed = &mut self.owed;
                let answer = !self.close_sent;
                let result = self.decoder.decode(buf.filled_mut(), &mut |m| match m {
                    Incoming::Ping(p) => {
                        if answer {
                            ws_frames::pong(owed, p);
                        }
                        on(Incoming::Ping(p));
                    }
                    Incoming::Close(code) => closed = Some(code),
                    other => on(other),
                });
                Poll::Ready(match (result, closed) {
                    (Err(v), _) => ReadEnd::Violation(v),
                    (Ok(()), Some(code)) => ReadEnd::Closed(code),
                    (Ok(()), None) => ReadEnd::Progress,
                })
            }
        }
    }

    /// Reads until something happens (see [`ClientSocket::poll_read`]).
    pub async fn read(&mut self, mut on: impl FnMut(Incoming<'_>)) -> ReadEnd {
        poll_fn(|cx| self.poll_read(cx, &mut on)).await
    }

    /// Whether pongs are owed.
    pub fn owes(&self) -> bool {
        !self.owed.is_empty()
    }

    /// Writes the pongs owed, if any.
    pub async fn flush_owed(&mut self, deadline: Duration) -> bool {
        self.send(&mut Vec::new(), None, deadline).await
    }

    /// Writes a ping.
    pub async fn ping(&mut self, deadline: Duration) -> bool {
        let mut out = Vec::new();
        ws_frames::ping(&mut out);
        self.write(&out, deadline).await
    }

    /// Writes `frames` (drained) and, when `close` is given, a close frame after them,
    /// then flushes. The deadline is on progress, not on the whole batch: every write
    /// of up to [`WRITE_CHUNK`] bytes, and the flush, must finish within it. A client
    /// that stops reading is caught within that time; one that reads slowly, or a
    /// machine briefly starved of CPU, is not mistaken for it. False when the client is
    /// to be dropped.
    pub async fn send(&mut self, frames: &mut Vec<Frame>, close: Option<(u16, &str)>, deadline: Duration) -> bool {
        if self.close_sent {
            frames.clear();
            return true;
        }
        let mut out = crate::scratch::ws_bytes();
        let sent = self.send_in(&mut out, frames, close, deadline).await;
        crate::scratch::give_ws_bytes(out);
        sent
    }

    /// [`ClientSocket::send`], formatting into `out` (empty).
    async fn send_in(
        &mut self,
        out: &mut Vec<u8>,
        frames: &mut Vec<Frame>,
        close: Option<(u16, &str)>,
        deadline: Duration,
    ) -> bool {
        // the pongs owed go first; their buffer is not kept
        out.extend_from_slice(&std::mem::take(&mut self.owed));
        // what the batch still needs (a frame header is at most 10 bytes)
        let mut left: usize = frames.iter().map(|f| f.len() + 10).sum();
        for f in frames.drain(..) {
            if out.is_empty() {
                out.reserve(WRITE_CHUNK.min(left).max(f.len() + 10));
            }
            left -= f.len() + 10;
            ws_frames::text(out, &f);
            if out.len() >= WRITE_CHUNK {
                if !self.write(out, deadline).await {
                    return false;
                }
                out.clear();
            }
        }
        if let Some((code, reason)) = close {
            ws_frames::close(out, code, reason);
            self.close_sent = true;
        }
        self.write(out, deadline).await
    }

    /// Writes `bytes` and flushes, within `deadline` each.
    async fn write(&mut self, bytes: &[u8], deadline: Duration) -> bool {
        if !bytes.is_empty() && !matches!(tokio::time::timeout(deadline, self.io.write_all(bytes)).await, Ok(Ok(()))) {
            return false;
        }
        matches!(tokio::time::timeout(deadline, self.io.flush()).await, Ok(Ok(())))
    }

    /// Bytes held for the client's incomplete frames (zero when it is idle).
    #[cfg(test)]
    pub fn buffered(&self) -> usize {
        self.decoder.buffered()
    }

    /// After our close frame: see [`drain`].
    pub async fn drain(&mut self) {
        drain(&mut self.io).await;
    }

    /// Sends an optional `error` frame and a close frame with `code`, then drains.
    pub async fn close_with(&mut self, code: u16, reason: &str, error: Option<Frame>, deadline: Duration) {
        let mut frames: Vec<Frame> = error.into_iter().collect();
        if self.send(&mut frames, Some((code, reason)), deadline).await {
            self.drain().await;
        }
    }
}

/// After our close frame: ends our side of the TCP connection (the server closes
/// first, RFC 6455 7.1.1; the client sees the close frame, then the end of the stream,
/// and closes its side at once), then reads and discards what the client still sends
/// (the rest of a frame we refused, its close frame) until it closes, for at most 2 s
/// and 1 MiB. Closing a socket with unread bytes makes the kernel answer with a reset,
/// and the client would never see its close code.
pub async fn drain<S: AsyncRead + AsyncWrite + Unpin>(io: &mut S) {
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = io.shutdown().await;
        let mut buf = vec![0u8; 4096];
        let mut left = 1usize << 20;
        while left > 0 {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked_text(payload: &[u8]) -> Vec<u8> {
        let mask = [1, 2, 3, 4];
        let mut out = vec![0x81, 0x80 | payload.len() as u8];
        out.extend_from_slice(&mask);
        let mut body = payload.to_vec();
        ws_frames::unmask(&mut body, mask);
        out.extend_from_slice(&body);
        out
    }

    /// A message split across reads is kept only until it is whole; pings are answered
    /// ahead of the next frames; the close frame goes last.
    #[tokio::test]
    async fn reads_in_place_answers_pings_first_and_closes_last() {
        let (io, mut peer) = tokio::io::duplex(1 << 16);
        let mut s = ClientSocket::new(Box::new(io), 1024);
        let frame = masked_text(br#"{"type":"subscribe"}"#);
        peer.write_all(&frame[..7]).await.unwrap();
        let mut got = Vec::new();
        assert_eq!(s.read(|m| got.push(format!("{m:?}"))).await, ReadEnd::Progress);
        assert!(got.is_empty() && s.buffered() > 0);
        let mut rest = frame[7..].to_vec();
        rest.extend_from_slice(&[0x89, 0x81, 0, 0, 0, 0, b'p']); // ping "p"
        peer.write_all(&rest).await.unwrap();
        assert_eq!(s.read(|m| got.push(format!("{m:?}"))).await, ReadEnd::Progress);
        assert_eq!(got, vec![r#"Text("{\"type\":\"subscribe\"}")"#, "Ping([112])"]);
        assert_eq!(s.buffered(), 0);
        assert!(s.owes());
        let mut frames = vec![Frame::from("a".to_owned())];
        assert!(s.send(&mut frames, Some((4001, "slow consumer")), Duration::from_secs(1)).await);
        let mut out = vec![0u8; 64];
        let n = peer.read(&mut out).await.unwrap();
        let mut want = vec![0x8a, 1, b'p', 0x81, 1, b'a', 0x88, 15, 0x0f, 0xa1];
        want.extend_from_slice(b"slow consumer");
        assert_eq!(&out[..n], &want[..]);
        peer.write_all(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]).await.unwrap();
        assert_eq!(s.read(|_| {}).await, ReadEnd::Closed(Some(1000)));
        drop(peer);
        assert_eq!(s.read(|_| {}).await, ReadEnd::Eof);
    }

    /// A client that reads nothing: the write gives up at the deadline.
    #[tokio::test]
    async fn a_write_to_a_client_that_reads_nothing_gives_up_at_the_deadline() {
        let (io, _peer) = tokio::io::duplex(1024);
        let mut s = ClientSocket::new(Box::new(io), 1024);
        let mut frames: Vec<Frame> = (0..100).map(|_| Frame::from("x".repeat(100))).collect();
        let t = std::time::Instant::now();
        assert!(!s.send(&mut frames, None, Duration::from_millis(200)).await);
        assert!(t.elapsed() >= Duration::from_millis(200));
    }
}

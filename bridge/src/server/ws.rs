//! One WebSocket connection: one task that feeds the client's frames to the hub and
//! writes what the hub owes the client.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use ibws_shared::hub::{ConnId, ConnectInfo, Frame};
use ibws_shared::protocol::CloseCode;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;
use tracing::debug;

use super::limits::ConnGuard;
use super::shared_hub::{SharedHub, Signal};
use crate::clock;

/// A hub frame as bytes, sharing its allocation.
struct Shared(Frame);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// A frame's text as a message payload, sharing the hub's allocation.
pub fn text(frame: Frame) -> Message {
    // Safety: the bytes come from a `str`, so they are valid UTF-8.
    let payload = unsafe { Utf8Bytes::from_bytes_unchecked(Bytes::from_owner(Shared(frame))) };
    Message::Text(payload)
}

/// Sends an optional `error` frame, then closes with `code`.
pub async fn close_with<S>(ws: &mut WebSocketStream<S>, code: CloseCode, message: Option<&str>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if let Some(m) = message {
        let f = ibws_shared::relay::refusal_frame(code, m, clock::now().unix_us, clock::utc_offset_secs());
        let _ = ws.send(Message::Text(f.into())).await;
    }
    let frame = CloseFrame { code: WsCloseCode::from(code.code()), reason: code.reason().into() };
    let _ = ws.send(Message::Close(Some(frame))).await;
    drain(ws).await;
}

/// After our close frame: ends our side of the TCP connection (the server closes
/// first, RFC 6455 7.1.1; the client sees the close frame, then the end of the stream,
/// and closes its side at once), then reads and discards what the client still sends
/// (the rest of a frame we refused, its close frame) until it closes, for at most 2 s
/// and 1 MiB. Closing a socket with unread bytes makes the kernel answer with a reset,
/// and the client would never see its close code. The bytes are read below the
/// WebSocket layer, which may be in an error state after refusing a frame.
async fn drain<S>(ws: &mut WebSocketStream<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let raw = ws.get_mut();
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = tokio::io::AsyncWriteExt::shutdown(raw).await;
        let mut buf = vec![0u8; 4096];
        let mut left = 1usize << 20;
        while left > 0 {
            match raw.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

/// What a connection holds for its whole life, in one heap allocation beside its task:
/// a task is as large as its future, its future as large as everything it keeps across
/// an await (an `async fn`'s arguments are kept twice, as arguments and as locals), and
/// tokio aligns tasks to 128 bytes. Keeping this out of the future keeps an idle
/// connection's task small.
pub struct Conn<S> {
    pub ws: WebSocketStream<S>,
    pub hub: SharedHub,
    pub id: ConnId,
    pub signal: Arc<Signal>,
    pub guard: Option<ConnGuard>,
    pub send_timeout: Duration,
    /// Still known to the hub: dropping the connection (the server stopping, a task
    /// aborted) makes the hub forget it.
    registered: bool,
}

impl<S> Drop for Conn<S> {
    fn drop(&mut self) {
        if self.registered {
            self.hub.unregister(self.id);
        }
    }
}

impl<S> Conn<S> {
    /// Registers a new client with `hub` (the hub greets it) and gives its connection.
    pub fn open(
        ws: WebSocketStream<S>,
        hub: SharedHub,
        info: ConnectInfo,
        guard: Option<ConnGuard>,
        send_timeout: Duration,
    ) -> Box<Conn<S>> {
        let (id, signal) = hub.register();
        hub.with(|h| h.connect(id, info, clock::now()));
        Box::new(Conn { ws, hub, id, signal, guard, send_timeout, registered: true })
    }
}

/// Serves one client until it leaves, the hub closes it, the server stops (`stop`
/// turns true: dropped at once, as in a crash), or a write has waited `send_timeout`
/// for a client that stopped reading.
///
/// One task per connection: it reads the client's frames into the hub, and when the
/// hub signals (frames owed, a ping, a close) it writes. While it writes it does not
/// read, which is fine: a write either completes within `send_timeout` or the client
/// is dropped. No second task, no channel, no lock around the socket: an idle
/// connection costs its socket, its [`Conn`] and this future.
pub async fn run<S>(mut c: Box<Conn<S>>, mut stop: tokio::sync::watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Set once our close frame is out: how long we wait for the client's. Boxed, like
    // every write below, so an idle connection's future has no room for them.
    let mut closing: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
    let mut closed_by_us = false;
    let mut drain_after = false;
    loop {
        if *stop.borrow_and_update() {
            break;
        }
        let c = &mut *c;
        let id = c.id;
        let until_close = async {
            match closing.as_mut() {
                Some(t) => t.await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            msg = c.ws.next() => {
                let now = clock::now();
                match msg {
                    None | Some(Ok(Message::Close(_))) => break,
                    _ if closed_by_us => {} // closed by us: wait for the client's close
                    Some(Ok(Message::Text(t))) => c.hub.with(|h| h.on_text(id, t.as_str(), now)),
                    Some(Ok(Message::Binary(b))) => c.hub.with(|h| h.on_binary(id, b.len(), now)),
                    Some(Ok(Message::Pong(_) | Message::Ping(_))) => c.hub.with(|h| h.on_pong(id, now)),
                    Some(Ok(Message::Frame(_))) => {}
                    Some(Err(e)) => {
                        // Over-size frames end here: tungstenite refuses them before we
                        // allocate. Tell the client why, then discard what it still sends.
                        debug!(conn = id, error = %e, "websocket read ended");
                        if matches!(e, tokio_tungstenite::tungstenite::Error::Capacity(_)) {
                            c.hub.with(|h| h.on_oversized(id, now));
                            drain_after = true;
                            if let Some((code, last)) = c.signal.take_close() {
                                let _ = Box::pin(tokio::time::timeout(c.send_timeout, send_close(&mut c.ws, code, last))).await;
                            }
                        }
                        break;
                    }
                }
            }
            _ = c.signal.notify.notified(), if !closed_by_us => {
                if let Some((code, last)) = c.signal.take_close() {
                    match Box::pin(tokio::time::timeout(c.send_timeout, send_close(&mut c.ws, code, last))).await {
                        Ok(Ok(())) => {
                            closed_by_us = true;
                            closing = Some(Box::pin(tokio::time::sleep(Duration::from_secs(2))));
                        }
                        _ => break,
                    }
                    continue;
                }
                if c.signal.ping.swap(false, std::sync::atomic::Ordering::Relaxed)
                    && !matches!(Box::pin(tokio::time::timeout(c.send_timeout, c.ws.send(Message::Ping(Bytes::new())))).await, Ok(Ok(())))
                {
                    debug!(conn = id, "ping not sent within the send deadline: dropped");
                    if let Some(g) = &c.guard {
                        g.note_send_timeout();
                    }
                    break;
                }
                // take until nothing is left: the hub hands out a bounded batch at a
                // time, so a long replay streams instead of sitting in memory
                let mut failed = false;
                let mut frames: Vec<Frame> = Vec::new();
                loop {
                    c.hub.take_frames(id, &mut frames);
                    if frames.is_empty() {
                        break;
                    }
                    if !Box::pin(send_batch(&mut c.ws, &mut frames, c.send_timeout)).await {
                        debug!(conn = id, "client stopped reading: dropped after the send deadline");
                        if let Some(g) = &c.guard {
                            g.note_send_timeout();
                        }
                        failed = true;
                        break;
                    }
                }
                if failed {
                    break;
                }
            }
            _ = until_close => break,
            r = stop.changed() => {
                if r.is_err() {
                    break;
                }
            }
        }
    }
    c.registered = false;
    c.hub.unregister(c.id);
    if drain_after && !*stop.borrow() {
        Box::pin(drain(&mut c.ws)).await;
    }
}

/// Writes `frames` and flushes. The deadline is on progress, not on the whole batch:
/// every step (one frame into the 16 KiB write buffer, which writes it out when full,
/// or the final flush) must finish within `send_timeout`. A client that stops reading
/// is caught within that time; one that reads slowly, or a machine that is briefly
/// starved of CPU, is not mistaken for it. False when the client is to be dropped.
async fn send_batch<S>(ws: &mut WebSocketStream<S>, frames: &mut Vec<Frame>, send_timeout: Duration) -> bool
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    for f in frames.drain(..) {
        if !matches!(tokio::time::timeout(send_timeout, ws.feed(text(f))).await, Ok(Ok(()))) {
            return false;
        }
    }
    matches!(tokio::time::timeout(send_timeout, ws.flush()).await, Ok(Ok(())))
}

/// The frames still owed, then the close frame.
async fn send_close<S>(
    ws: &mut WebSocketStream<S>,
    code: CloseCode,
    last: Vec<Frame>,
) -> Result<(), tokio_tungstenite::tungstenite::Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    for f in last {
        ws.feed(text(f)).await?;
    }
    let frame = CloseFrame { code: WsCloseCode::from(code.code()), reason: code.reason().into() };
    ws.send(Message::Close(Some(frame))).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use ibws_shared::hub::{Hub, HubConfig};
    use tokio_tungstenite::tungstenite::protocol::Role;

    /// An idle connection is its task: this future, plus a few small heap objects. Its
    /// size is fixed at compile time, so a change that makes every connection larger
    /// shows here (the idle-memory benchmark measures the whole).
    #[tokio::test]
    async fn a_connection_future_is_small() {
        let (io, _peer) = tokio::io::duplex(64);
        let io: crate::server::BoxedIo = Box::new(io);
        let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
        let hub = SharedHub::new(Hub::new(HubConfig::default(), None, "e".into()));
        let conn = Conn::open(ws, hub, ConnectInfo { client_id: None, claims: None }, None, Duration::from_secs(1));
        let (_stop_tx, stop) = tokio::sync::watch::channel(false);
        let fut = run(conn, stop);
        let size = std::mem::size_of_val(&fut);
        println!("connection future: {size} bytes");
        assert!(size <= 512, "connection future grew to {size} bytes");
    }
}

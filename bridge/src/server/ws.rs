//! One WebSocket connection: a reader feeding the hub and a writer draining it.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use ibws_shared::hub::{ConnectInfo, Frame};
use ibws_shared::protocol::{format_timestamp, CloseCode, ErrorFrame, ServerFrame};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;
use tracing::debug;

use super::limits::ConnGuard;
use super::shared_hub::{Control, SharedHub};
use crate::clock;

/// A frame's text as a message payload, sharing the hub's allocation.
pub fn text(frame: Frame) -> Message {
    struct Shared(Frame);
    impl AsRef<[u8]> for Shared {
        fn as_ref(&self) -> &[u8] {
            self.0.as_bytes()
        }
    }
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
        let f = ServerFrame::Error(ErrorFrame {
            message: m.to_owned(),
            error_code: Some(code.reason().to_ascii_uppercase().replace(' ', "_")),
            timestamp: format_timestamp(clock::now().unix_us, clock::utc_offset_secs()),
            tws_code: None,
            req_id: None,
            account: None,
            seq: None,
            epoch: None,
        });
        let _ = ws.send(Message::Text(f.to_json().into())).await;
    }
    let frame = CloseFrame { code: WsCloseCode::from(code.code()), reason: code.reason().into() };
    let _ = ws.send(Message::Close(Some(frame))).await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async { while ws.next().await.is_some() {} }).await;
}

/// Runs an upgraded connection against `hub` until either side closes, or until a
/// write has waited `send_timeout` for a client that stopped reading.
pub async fn run<S>(
    ws: WebSocketStream<S>,
    hub: SharedHub,
    info: ConnectInfo,
    guard: Option<ConnGuard>,
    send_timeout: std::time::Duration,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sink, mut source) = ws.split();
    let (id, notify, control) = hub.register();
    hub.with(|h| h.connect(id, info, clock::now()));
    let stuck = Arc::new(Notify::new());
    let mut writer = tokio::spawn(write_loop(sink, hub.clone(), id, notify, control, send_timeout, stuck.clone()));
    // If this future is dropped (the server is stopping), the guard still forgets the
    // connection and stops its writer, so the socket closes.
    let mut cleanup = Cleanup { hub: hub.clone(), id, writer: Some(writer.abort_handle()), done: false };
    let mut drain = false;

    loop {
        let msg = tokio::select! {
            m = source.next() => match m {
                Some(m) => m,
                None => break,
            },
            _ = stuck.notified() => {
                debug!(conn = id, "client stopped reading: dropped after the send deadline");
                break;
            }
        };
        let now = clock::now();
        match msg {
            Ok(Message::Text(t)) => hub.with(|h| h.on_text(id, t.as_str(), now)),
            Ok(Message::Binary(b)) => hub.with(|h| h.on_binary(id, b.len(), now)),
            Ok(Message::Pong(_)) | Ok(Message::Ping(_)) => hub.with(|h| h.on_pong(id, now)),
            Ok(Message::Close(_)) => break,
            Ok(Message::Frame(_)) => {}
            Err(e) => {
                // Over-size frames end here: tungstenite refuses them before we
                // allocate. Tell the client why.
                if matches!(e, tokio_tungstenite::tungstenite::Error::Capacity(_)) {
                    hub.with(|h| h.on_oversized(id, now));
                    drain = true;
                }
                debug!(conn = id, error = %e, "websocket read ended");
                break;
            }
        }
    }
    hub.unregister(id);
    cleanup.done = true;
    // Let the writer send a pending close frame, then stop it.
    let sink = match tokio::time::timeout(std::time::Duration::from_secs(2), &mut writer).await {
        Ok(Ok(sink)) => sink,
        _ => None,
    };
    // The client is still sending the frame we refused: read and discard it before the
    // socket closes, or the kernel answers the unread bytes with a reset and the
    // client never sees its close code.
    if let (true, Some(sink)) = (drain, sink) {
        if let Ok(mut ws) = source.reunite(sink) {
            let raw = ws.get_mut();
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
                let _ = raw.shutdown().await;
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
    }
    drop(guard);
}

struct Cleanup {
    hub: SharedHub,
    id: u64,
    writer: Option<tokio::task::AbortHandle>,
    done: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.done {
            self.hub.unregister(self.id);
        }
        if let Some(w) = self.writer.take() {
            w.abort();
        }
    }
}

async fn write_loop<K>(
    mut sink: K,
    hub: SharedHub,
    id: u64,
    notify: Arc<Notify>,
    mut control: mpsc::UnboundedReceiver<Control>,
    send_timeout: std::time::Duration,
    stuck: Arc<Notify>,
) -> Option<K>
where
    K: futures_util::Sink<Message> + Unpin,
{
    let mut frames: Vec<Frame> = Vec::new();
    loop {
        tokio::select! {
            biased;
            c = control.recv() => match c {
                Some(Control::Ping) => {
                    match tokio::time::timeout(send_timeout, sink.send(Message::Ping(Bytes::new()))).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => return None,
                        Err(_) => {
                            stuck.notify_one();
                            return None;
                        }
                    }
                }
                Some(Control::Close { code, frames: last }) => {
                    let close = async {
                        for f in last {
                            sink.feed(text(f)).await?;
                        }
                        let frame = CloseFrame { code: WsCloseCode::from(code.code()), reason: code.reason().into() };
                        sink.send(Message::Close(Some(frame))).await?;
                        sink.close().await
                    };
                    if tokio::time::timeout(send_timeout, close).await.is_err() {
                        stuck.notify_one();
                        return None;
                    }
                    return Some(sink);
                }
                None => return Some(sink),
            },
            _ = notify.notified() => {
                // take until nothing is left: the hub hands out a bounded batch at a
                // time, so a long replay streams instead of sitting in memory
                loop {
                    hub.take_frames(id, &mut frames);
                    if frames.is_empty() {
                        break;
                    }
                    let batch = async {
                        for f in frames.drain(..) {
                            sink.feed(text(f)).await?;
                        }
                        sink.flush().await
                    };
                    match tokio::time::timeout(send_timeout, batch).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => return None,
                        Err(_) => {
                            stuck.notify_one();
                            return None;
                        }
                    }
                }
            }
        }
    }
}

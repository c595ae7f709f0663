//! One WebSocket connection: a reader feeding the hub and a writer draining it.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use ibws_shared::hub::{ConnectInfo, Frame};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;
use tracing::debug;

use super::shared_hub::{Control, SharedHub};
use crate::clock;

/// A frame's text as a message payload, sharing the hub's allocation.
fn text(frame: Frame) -> Message {
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

/// Runs a connection whose HTTP upgrade has already been answered.
pub async fn run<S>(stream: S, hub: SharedHub, info: ConnectInfo, max_frame: usize)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let cfg = WebSocketConfig::default()
        .max_message_size(Some(max_frame))
        .max_frame_size(Some(max_frame));
    let ws = WebSocketStream::from_raw_socket(stream, Role::Server, Some(cfg)).await;
    let (sink, mut source) = ws.split();
    let (id, notify, control) = hub.register();
    hub.with(|h| h.connect(id, info, clock::now()));
    let writer = tokio::spawn(write_loop(sink, hub.clone(), id, notify, control));

    while let Some(msg) = source.next().await {
        let now = clock::now();
        match msg {
            Ok(Message::Text(t)) => hub.with(|h| h.on_text(id, t.as_str(), now)),
            Ok(Message::Binary(b)) => hub.with(|h| h.on_binary(id, b.len(), now)),
            Ok(Message::Pong(_)) | Ok(Message::Ping(_)) => hub.with(|h| h.on_pong(id, now)),
            Ok(Message::Close(_)) => break,
            Ok(Message::Frame(_)) => {}
            Err(e) => {
                // Over-size frames end here too: tungstenite refuses them before we
                // allocate. Tell the client why.
                let too_big = matches!(e, tokio_tungstenite::tungstenite::Error::Capacity(_));
                debug!(conn = id, error = %e, "websocket read ended");
                if too_big {
                    hub.with(|h| h.on_oversized(id, now));
                }
                break;
            }
        }
    }
    hub.unregister(id);
    // Let the writer send a pending close frame, then stop it.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), writer).await;
}

async fn write_loop<K>(
    mut sink: K,
    hub: SharedHub,
    id: u64,
    notify: Arc<Notify>,
    mut control: mpsc::UnboundedReceiver<Control>,
) where
    K: futures_util::Sink<Message> + Unpin,
{
    let mut frames: Vec<Frame> = Vec::new();
    loop {
        tokio::select! {
            biased;
            c = control.recv() => match c {
                Some(Control::Ping) => {
                    if sink.send(Message::Ping(Bytes::new())).await.is_err() {
                        return;
                    }
                }
                Some(Control::Close { code, frames: last }) => {
                    for f in last {
                        if sink.feed(text(f)).await.is_err() {
                            return;
                        }
                    }
                    let frame = CloseFrame { code: WsCloseCode::from(code.code()), reason: code.reason().into() };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    let _ = sink.close().await;
                    return;
                }
                None => return,
            },
            _ = notify.notified() => {
                hub.take_frames(id, &mut frames);
                for f in frames.drain(..) {
                    if sink.feed(text(f)).await.is_err() {
                        return;
                    }
                }
                if sink.flush().await.is_err() {
                    return;
                }
            }
        }
    }
}

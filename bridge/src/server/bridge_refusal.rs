//! Refusing a bridge link: bridges connect on `/bridge/ws` over tungstenite's WebSocket
//! (a few long-lived links with large frames), and a refused one learns why from an
//! `error` frame and a close code, like a refused client.

use std::time::Duration;

use futures_util::SinkExt;
use ibws_shared::protocol::CloseCode;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::clock;

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

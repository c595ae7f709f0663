//! Refusing a bridge link: bridges connect on `/bridge/ws` over tungstenite's WebSocket
//! (a few long-lived links with large frames), and a refused one learns why from an
//! `error` frame and a close code, like a refused client.

use futures_util::SinkExt;
use ibws_shared::protocol::CloseCode;
use tokio::io::{AsyncRead, AsyncWrite};
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
    // below the WebSocket layer, which may be in an error state after refusing a frame
    super::client_socket::drain(ws.get_mut()).await;
}

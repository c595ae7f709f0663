//! One client's WebSocket connection: one task that feeds the client's messages to the
//! hub and writes what the hub owes the client.

use std::sync::Arc;
use std::time::Duration;

use ibws_shared::hub::{ConnId, ConnectInfo, Frame};
use ibws_shared::protocol::CloseCode;
use tracing::debug;

use super::client_socket::{ClientSocket, ReadEnd};
use super::shared_hub::{SharedHub, Signal};
use super::ws_frames::{Incoming, Violation};
use crate::clock;
use ibws_shared::relay::limits::ConnGuard;

/// What a connection holds for its whole life, in one heap allocation beside its task:
/// a task is as large as its future, its future as large as everything it keeps across
/// an await (an `async fn`'s arguments are kept twice, as arguments and as locals), and
/// tokio aligns tasks to 128 bytes. Keeping this out of the future keeps an idle
/// connection's task small.
pub struct Conn {
    pub socket: ClientSocket,
    pub hub: SharedHub,
    pub id: ConnId,
    pub signal: Arc<Signal>,
    pub guard: Option<ConnGuard>,
    pub send_timeout: Duration,
    /// Still known to the hub: dropping the connection (the server stopping, a task
    /// aborted) makes the hub forget it.
    registered: bool,
}

impl Drop for Conn {
    fn drop(&mut self) {
        if self.registered {
            self.hub.unregister(self.id);
        }
    }
}

/// A message the client sent right behind its `auth`, read with it before the
/// connection existed: handed to the hub, in order, once it does.
pub enum EarlyMessage {
    Text(String),
    /// A binary message (its length): the hub refuses those (4506).
    Binary(usize),
}

impl Conn {
    /// Registers a new client with `hub` (the hub greets it), hands the hub the
    /// messages the client sent right behind its `auth` (`early`), and gives its
    /// connection.
    pub fn open(
        socket: ClientSocket,
        hub: SharedHub,
        info: ConnectInfo,
        early: Vec<EarlyMessage>,
        guard: Option<ConnGuard>,
        send_timeout: Duration,
    ) -> Box<Conn> {
        let (id, signal) = hub.register();
        hub.with(|h| {
            let now = clock::now();
            h.connect(id, info, now);
            for m in &early {
                match m {
                    EarlyMessage::Text(t) => h.on_text(id, t, now),
                    EarlyMessage::Binary(n) => h.on_binary(id, *n, now),
                }
            }
        });
        Box::new(Conn { socket, hub, id, signal, guard, send_timeout, registered: true })
    }

    /// Notes a client dropped for not reading within the send deadline.
    fn send_timed_out(&self, what: &str) {
        debug!(conn = self.id, what, "client stopped reading: dropped after the send deadline");
        if let Some(g) = &self.guard {
            g.note_send_timeout();
        }
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
pub async fn run(mut c: Box<Conn>, mut stop: tokio::sync::watch::Receiver<bool>) {
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
        let hub = &c.hub;
        let ignore = closed_by_us; // closed by us: wait for the client's close only
        tokio::select! {
            end = c.socket.read(|m| {
                if ignore {
                    return;
                }
                let now = clock::now();
                match m {
                    Incoming::Text(t) => hub.with(|h| h.on_text(id, t, now)),
                    Incoming::Binary(n) => hub.with(|h| h.on_binary(id, n, now)),
                    // a sign of life (a close ends the read instead)
                    Incoming::Pong | Incoming::Ping(_) | Incoming::Close(_) => hub.with(|h| h.on_pong(id, now)),
                }
            }) => {
                match end {
                    ReadEnd::Progress => {
                        if c.socket.owes() && !Box::pin(c.socket.flush_owed(c.send_timeout)).await {
                            c.send_timed_out("pong");
                            break;
                        }
                    }
                    ReadEnd::Closed(code) => {
                        if !closed_by_us {
                            // the client closes first: answer with its code (RFC 6455 5.5.1)
                            let code = code.unwrap_or(1000);
                            let _ = Box::pin(c.socket.send(&mut Vec::new(), Some((code, "")), c.send_timeout)).await;
                        }
                        break;
                    }
                    ReadEnd::Eof => break,
                    ReadEnd::Violation(v) => {
                        debug!(conn = id, ?v, "client broke the WebSocket protocol or a limit");
                        drain_after = true;
                        if v == Violation::TooBig {
                            // the hub answers an over-size message (its close code)
                            c.hub.with(|h| h.on_oversized(id, clock::now()));
                            if let Some((code, last)) = c.signal.take_close() {
                                let _ = Box::pin(send_close(&mut c.socket, code, last, c.send_timeout)).await;
                            }
                        } else {
                            let _ = Box::pin(c.socket.send(&mut Vec::new(), Some(v.close()), c.send_timeout)).await;
                        }
                        break;
                    }
                }
            }
            _ = c.signal.woken(), if !closed_by_us => {
                if let Some((code, last)) = c.signal.take_close() {
                    if Box::pin(send_close(&mut c.socket, code, last, c.send_timeout)).await {
                        closed_by_us = true;
                        closing = Some(Box::pin(tokio::time::sleep(Duration::from_secs(2))));
                        continue;
                    }
                    break;
                }
                if c.signal.ping.swap(false, std::sync::atomic::Ordering::Relaxed)
                    && !Box::pin(c.socket.ping(c.send_timeout)).await
                {
                    c.send_timed_out("ping");
                    break;
                }
                // one bounded batch per wake: when more is owed the hub has already
                // signalled again, so a long replay streams batch by batch, and the
                // usual wake (one new event) takes the hub's lock once
                let mut frames = crate::scratch::frames();
                c.hub.take_frames(id, &mut frames);
                let sent = frames.is_empty() || Box::pin(c.socket.send(&mut frames, None, c.send_timeout)).await;
                crate::scratch::give_frames(frames);
                if !sent {
                    c.send_timed_out("frames");
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
        Box::pin(c.socket.drain()).await;
    }
}

/// The frames still owed, then the close frame. False when the client is to be
/// dropped.
async fn send_close(socket: &mut ClientSocket, code: CloseCode, mut last: Vec<Frame>, deadline: Duration) -> bool {
    socket.send(&mut last, Some((code.code(), code.reason())), deadline).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use ibws_shared::hub::{Hub, HubConfig};

    /// An idle connection is its task: this future, plus a few small heap objects. Its
    /// size is fixed at compile time, so a change that makes every connection larger
    /// shows here (the idle-memory benchmark measures the whole).
    #[tokio::test]
    async fn a_connection_future_is_small() {
        let (io, _peer) = tokio::io::duplex(64);
        let socket = ClientSocket::new(Box::new(io), 1024);
        let hub = SharedHub::new(Hub::new(HubConfig::default(), None, "e".into()));
        let info = ConnectInfo { client_id: None, claims: None };
        let conn = Conn::open(socket, hub, info, Vec::new(), None, Duration::from_secs(1));
        let (_stop_tx, stop) = tokio::sync::watch::channel(false);
        let fut = run(conn, stop);
        let size = std::mem::size_of_val(&fut);
        println!("connection future: {size} bytes");
        assert!(size <= 384, "connection future grew to {size} bytes");
        println!("connection box: {} bytes", std::mem::size_of::<Conn>());
    }
}

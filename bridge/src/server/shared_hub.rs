//! The hub on tokio: one [`Hub`] behind a mutex, plus the per-connection handles its
//! outputs are routed to.
//!
//! Every call into the hub is followed by [`HubInner::dispatch`] under the same lock:
//! `Wake` notifies the connection's writer (which then takes its frames), `Ping` and
//! `Close` go down the connection's control channel. The lock is never held across an
//! await; writers take their frames and release it before touching the socket.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use ibws_shared::hub::{ConnId, Frame, Hub, Output};
use ibws_shared::protocol::CloseCode;
use tokio::sync::{mpsc, Notify};

/// Instructions for a connection's writer besides "frames are waiting".
#[derive(Debug)]
pub enum Control {
    Ping,
    Close { code: CloseCode, frames: Vec<Frame> },
}

struct ConnHandle {
    notify: Arc<Notify>,
    control: mpsc::UnboundedSender<Control>,
}

pub struct HubInner {
    pub hub: Hub,
    conns: HashMap<ConnId, ConnHandle>,
}

impl HubInner {
    /// Routes everything the hub asked for.
    pub fn dispatch(&mut self) {
        while let Some(o) = self.hub.poll_output() {
            match o {
                Output::Wake(id) => {
                    if let Some(c) = self.conns.get(&id) {
                        c.notify.notify_one();
                    }
                }
                Output::Ping(id) => {
                    if let Some(c) = self.conns.get(&id) {
                        let _ = c.control.send(Control::Ping);
                    }
                }
                Output::Close { id, code, frames } => {
                    if let Some(c) = self.conns.remove(&id) {
                        let _ = c.control.send(Control::Close { code, frames });
                    }
                }
            }
        }
    }
}

/// A cloneable handle to the shared hub.
#[derive(Clone)]
pub struct SharedHub {
    inner: Arc<Mutex<HubInner>>,
    next_id: Arc<std::sync::atomic::AtomicU64>,
}

impl SharedHub {
    pub fn new(hub: Hub) -> Self {
        SharedHub {
            inner: Arc::new(Mutex::new(HubInner { hub, conns: HashMap::new() })),
            next_id: Arc::new(std::sync::atomic::AtomicU64::new(1)),
        }
    }

    /// Runs `f` on the hub, then dispatches its outputs.
    pub fn with<T>(&self, f: impl FnOnce(&mut Hub) -> T) -> T {
        let mut g = self.lock();
        let r = f(&mut g.hub);
        g.dispatch();
        r
    }

    fn lock(&self) -> MutexGuard<'_, HubInner> {
        // A panic while holding the lock would be a bug; keep serving regardless.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a connection's writer; returns its id, wake-up and control channel.
    pub fn register(&self) -> (ConnId, Arc<Notify>, mpsc::UnboundedReceiver<Control>) {
        let id = self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let notify = Arc::new(Notify::new());
        let (tx, rx) = mpsc::unbounded_channel();
        self.lock().conns.insert(id, ConnHandle { notify: notify.clone(), control: tx });
        (id, notify, rx)
    }

    /// Forgets a connection whose socket is gone.
    pub fn unregister(&self, id: ConnId) {
        let mut g = self.lock();
        g.conns.remove(&id);
        g.hub.disconnect(id);
        g.dispatch();
    }

    /// Moves a batch of what a connection is owed into `into` (a take can also close
    /// it, if it fell off the replay ring and cannot resync).
    pub fn take_frames(&self, id: ConnId, into: &mut Vec<Frame>) {
        let mut g = self.lock();
        g.hub.take_frames(id, into);
        g.dispatch();
    }
}

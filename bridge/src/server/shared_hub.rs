//! The hub on tokio: one [`Hub`] behind a mutex, plus the per-connection handles its
//! outputs are routed to.
//!
//! Every call into the hub is followed by [`HubInner::dispatch`] under the same lock:
//! `Wake`, `Ping` and `Close` are left in the connection's [`Signal`] and its task is
//! notified (one small allocation per connection: no channel, no second task). The
//! lock is never held across an await; a connection takes its frames and releases it
//! before touching the socket.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::task::AtomicWaker;
use ibws_shared::hub::{ConnId, Frame, Hub, Output};
use ibws_shared::protocol::CloseCode;
use tokio::sync::Notify;

/// What the hub asked of one connection since its task last looked.
///
/// The wake is a flag and the task's waker, both lock-free: every event wakes every
/// subscribed connection, so at 1,000 connections x 1,000 events/s this is a million
/// wakes a second. (A `tokio::sync::Notify` here took its mutex to add the waiting task
/// to its list on every poll, again to take it out when the poll ended, and once more
/// to notify: about 6% of the server's CPU at that load.) Like a `Notify` permit, a
/// wake that comes while the task is busy is kept, once, for its next poll.
#[derive(Default)]
pub struct Signal {
    woken: AtomicBool,
    waker: AtomicWaker,
    /// Send a transport ping.
    pub ping: AtomicBool,
    /// Send these frames, then close with this code.
    pub close: Mutex<Option<(CloseCode, Vec<Frame>)>>,
}

impl Signal {
    /// Wakes the connection's task (or, if it is busy, makes its next wait return).
    pub fn wake(&self) {
        self.woken.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Ready once after each [`Signal::wake`] (wakes before the poll count once).
    pub fn poll_woken(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.woken.swap(false, Ordering::Acquire) {
            return std::task::Poll::Ready(());
        }
        self.waker.register(cx.waker());
        // a wake between the check and the registration found no waker: look again
        if self.woken.swap(false, Ordering::Acquire) {
            return std::task::Poll::Ready(());
        }
        std::task::Poll::Pending
    }

    /// Waits for the next [`Signal::wake`].
    pub fn woken(&self) -> impl std::future::Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| self.poll_woken(cx))
    }

    /// The close the hub asked for, if any.
    pub fn take_close(&self) -> Option<(CloseCode, Vec<Frame>)> {
        self.close.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

pub struct HubInner {
    pub hub: Hub,
    conns: HashMap<ConnId, Arc<Signal>>,
}

impl HubInner {
    /// Routes everything the hub asked for.
    pub fn dispatch(&mut self) {
        while let Some(o) = self.hub.poll_output() {
            match o {
                Output::Wake(id) => {
                    if let Some(c) = self.conns.get(&id) {
                        c.wake();
                    }
                }
                Output::Ping(id) => {
                    if let Some(c) = self.conns.get(&id) {
                        c.ping.store(true, Ordering::Relaxed);
                        c.wake();
                    }
                }
                Output::Close { id, code, frames } => {
                    if let Some(c) = self.conns.remove(&id) {
                        *c.close.lock().unwrap_or_else(|p| p.into_inner()) = Some((code, frames));
                        c.wake();
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
    /// Wakes the hub's timer task: an input moved a deadline earlier, or the hub is
    /// being dropped.
    timer: Arc<Notify>,
    /// Told each time a connection's task ends (for [`SharedHub::drained`]).
    drained: Arc<Notify>,
    next_id: Arc<std::sync::atomic::AtomicU64>,
    /// Connections registered and not yet unregistered: a closed client counts until
    /// its task has finished its closing handshake.
    live: Arc<std::sync::atomic::AtomicUsize>,
}

impl SharedHub {
    pub fn new(hub: Hub) -> Self {
        SharedHub {
            inner: Arc::new(Mutex::new(HubInner { hub, conns: HashMap::new() })),
            timer: Arc::new(Notify::new()),
            drained: Arc::new(Notify::new()),
            next_id: Arc::new(std::sync::atomic::AtomicU64::new(1)),
            live: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        }
    }

    /// Runs `f` on the hub, then dispatches its outputs.
    pub fn with<T>(&self, f: impl FnOnce(&mut Hub) -> T) -> T {
        let mut g = self.lock();
        let r = f(&mut g.hub);
        g.dispatch();
        if g.hub.take_deadline_moved() {
            self.timer.notify_one();
        }
        r
    }

    /// Starts the hub's timer: a task that sleeps until [`Hub::poll_timeout`] and runs
    /// [`Hub::handle_timeout`] then (asking again when an input moved a deadline). It
    /// ends when the hub is gone (after [`SharedHub::stop_timer`]).
    pub fn spawn_timer(&self) -> tokio::task::JoinHandle<()> {
        let inner = Arc::downgrade(&self.inner);
        let wake = self.timer.clone();
        tokio::spawn(async move {
            loop {
                let deadline = {
                    let Some(inner) = inner.upgrade() else { return };
                    let mut g = inner.lock().unwrap_or_else(|p| p.into_inner());
                    g.hub.take_deadline_moved();
                    g.hub.poll_timeout(crate::clock::now())
                };
                let sleep = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(crate::clock::instant_at(d)).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = sleep => {
                        let Some(inner) = inner.upgrade() else { return };
                        let mut g = inner.lock().unwrap_or_else(|p| p.into_inner());
                        g.hub.handle_timeout(crate::clock::now());
                        g.dispatch();
                    }
                    _ = wake.notified() => {}
                }
            }
        })
    }

    /// Wakes the timer task so it can see that the hub is gone (call when dropping the
    /// hub for good).
    pub fn stop_timer(&self) {
        self.timer.notify_one();
    }

    fn lock(&self) -> MutexGuard<'_, HubInner> {
        // A panic while holding the lock would be a bug; keep serving regardless.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a connection; returns its id and the signal the hub leaves for it.
    pub fn register(&self) -> (ConnId, Arc<Signal>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let signal = Arc::new(Signal::default());
        self.lock().conns.insert(id, signal.clone());
        self.live.fetch_add(1, Ordering::Relaxed);
        (id, signal)
    }

    /// Connections whose tasks are still running (see [`SharedHub::unregister`]).
    pub fn live_connections(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// After [`Hub::close_all`]: waits until every connection's task has sent its
    /// close frame and finished its closing handshake (each waits at most 2 s for the
    /// client's answer), or until `grace` has passed.
    pub async fn drained(&self, grace: std::time::Duration) {
        let _ = tokio::time::timeout(grace, async {
            loop {
                // registered before the check, so an unregister in between still wakes it
                let gone = self.drained.notified();
                tokio::pin!(gone);
                gone.as_mut().enable();
                if self.live_connections() == 0 {
                    return;
                }
                gone.await;
            }
        })
        .await;
    }

    /// Forgets a connection whose socket is gone. Called exactly once per
    /// [`SharedHub::register`].
    pub fn unregister(&self, id: ConnId) {
        self.live.fetch_sub(1, Ordering::Relaxed);
        let mut g = self.lock();
        g.conns.remove(&id);
        g.hub.disconnect(id);
        g.dispatch();
        drop(g);
        self.drained.notify_waiters();
    }

    /// Moves a batch of what a connection is owed into `into` (a take can also close
    /// it, if it fell off the replay ring and cannot resync).
    pub fn take_frames(&self, id: ConnId, into: &mut Vec<Frame>) {
        let mut g = self.lock();
        g.hub.take_frames(id, into);
        g.dispatch();
    }
}

#[cfg(test)]
mod signal_tests {
    use super::Signal;
    use std::sync::Arc;
    use std::task::Poll;
    use std::time::Duration;

    #[test]
    fn a_wake_before_the_wait_is_kept_once() {
        let s = Signal::default();
        let waker = futures_util::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        assert_eq!(s.poll_woken(&mut cx), Poll::Pending);
        s.wake();
        s.wake();
        assert_eq!(s.poll_woken(&mut cx), Poll::Ready(()));
        assert_eq!(s.poll_woken(&mut cx), Poll::Pending, "two wakes before a poll are one");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiting_task_is_woken_every_time() {
        let s = Arc::new(Signal::default());
        let waiter = {
            let s = s.clone();
            tokio::spawn(async move {
                for _ in 0..1000 {
                    s.woken().await;
                }
            })
        };
        // each wake consumed before the next, so a lost one would stall the waiter
        let waker = {
            let s = s.clone();
            async move {
                for _ in 0..1000 {
                    s.wake();
                    while s.woken.load(std::sync::atomic::Ordering::Acquire) {
                        tokio::task::yield_now().await;
                    }
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), waker).await.expect("every wake was taken");
        tokio::time::timeout(Duration::from_secs(10), waiter).await.expect("every wake arrived").unwrap();
    }
}

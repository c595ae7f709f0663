//! The [`TwsLink`] on a tokio socket: dial, write, read, sleep until the link's next
//! deadline. Every decision (what to send, when to give a socket up, how long to back
//! off) is the link's; this loop only carries it out.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::clock;
use ibws_tws::link::{Action, LinkConfig, TwsLink};
use ibws_tws::Request;

pub use ibws_tws::link::{watch_symbol, LinkEvent, EXECUTIONS_REQ_ID, MARKET_DATA_REQ_ID};

/// What the driver needs to know: where TWS is, and the link's settings.
#[derive(Clone, Debug)]
pub struct DriverConfig {
    /// `host:port` of TWS or IB Gateway.
    pub addr: String,
    pub link: LinkConfig,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig { addr: "127.0.0.1:7497".into(), link: LinkConfig::default() }
    }
}

/// A running driver.
pub struct DriverHandle {
    requests: mpsc::Sender<Request>,
    task: tokio::task::JoinHandle<()>,
}

impl DriverHandle {
    /// Queues a request (placeOrder, cancelOrder, ...) for the current connection.
    pub async fn send(&self, r: Request) -> bool {
        self.requests.send(r).await.is_ok()
    }

    pub fn abort(&self) {
        self.task.abort();
    }
}

impl Drop for DriverHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the driver; events go to `events` until the handle is dropped.
pub fn spawn(mut cfg: DriverConfig, events: mpsc::Sender<LinkEvent>) -> DriverHandle {
    let (tx, rx) = mpsc::channel(1024);
    cfg.link.jitter_seed = rand::random();
    let task = tokio::spawn(run(cfg, events, rx));
    DriverHandle { requests: tx, task }
}

/// Read buffer per connection: TWS frames are small; bursts come as many reads.
const READ_BUF: usize = 64 * 1024;

async fn run(cfg: DriverConfig, events: mpsc::Sender<LinkEvent>, mut requests: mpsc::Receiver<Request>) {
    let mut link = TwsLink::new(cfg.link.clone(), clock::now());
    let mut sock: Option<TcpStream> = None;
    let mut buf = vec![0u8; READ_BUF];
    loop {
        while let Some(action) = link.poll_action(clock::now()) {
            match action {
                Action::Connect => {
                    // the dial's deadline is the link's (it gives the attempt up then)
                    let deadline = link.poll_timeout();
                    tokio::select! {
                        dial = TcpStream::connect(&cfg.addr) => match dial {
                            Ok(s) => {
                                let _ = s.set_nodelay(true);
                                sock = Some(s);
                                link.on_connected(clock::now());
                            }
                            Err(e) => link.on_connect_failed(format!("cannot connect to {}: {e}", cfg.addr), clock::now()),
                        },
                        _ = clock::sleep_until(deadline) => link.handle_timeout(clock::now()),
                    }
                }
                Action::Send(bytes) => {
                    if let Some(s) = sock.as_mut() {
                        if let Err(e) = s.write_all(&bytes).await {
                            sock = None;
                            link.on_closed(format!("write: {e}"), clock::now());
                        }
                    }
                }
                Action::Close => sock = None,
            }
        }
        while let Some(ev) = link.poll_event() {
            match &ev {
                LinkEvent::Connected { server_version, accounts, .. } => {
                    info!(server_version, ?accounts, "connected to TWS")
                }
                LinkEvent::Disconnected { reason } => info!(%reason, "TWS link down; reconnecting"),
                LinkEvent::Malformed { msg_id, error } => warn!(%msg_id, %error, "malformed TWS frame skipped"),
                _ => {}
            }
            if events.send(ev).await.is_err() {
                return; // consumer gone
            }
        }
        let deadline = link.poll_timeout();
        // Requests (orders) first, then TWS's bytes, then deadlines: after a pause (a
        // slow consumer of events, a starved machine) the link's deadlines may have
        // passed while TWS's bytes sat unread in the socket; reading them before looking
        // at the clock keeps a busy link from being taken for a stalled one.
        tokio::select! {
            biased;
            r = requests.recv() => match r {
                Some(r) => {
                    if !link.request(r) {
                        debug!("request refused: TWS link not ready");
                    }
                }
                None => return,
            },
            n = async { sock.as_mut().expect("guarded").read(&mut buf).await }, if sock.is_some() => match n {
                Ok(0) => {
                    sock = None;
                    link.on_closed("TWS closed the connection".into(), clock::now());
                }
                Ok(n) => link.on_bytes(&buf[..n], clock::now()),
                Err(e) => {
                    sock = None;
                    link.on_closed(format!("read: {e}"), clock::now());
                }
            },
            _ = clock::sleep_until(deadline) => link.handle_timeout(clock::now()),
        }
    }
}

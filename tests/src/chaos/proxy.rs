//! A TCP proxy between the bridge and the relay that the harness can cut: every
//! connection through it is torn down at once (a reset, no close frame, no TLS
//! close_notify), as a network failure would. New connections pass again at once.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct CutProxy {
    pub addr: SocketAddr,
    generation: Arc<watch::Sender<u64>>,
    cuts: AtomicU64,
}

impl CutProxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<CutProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let generation = Arc::new(watch::channel(0u64).0);
        let g = generation.clone();
        tokio::spawn(async move {
            while let Ok((down, _)) = listener.accept().await {
                let mut cut = g.subscribe();
                cut.borrow_and_update();
                tokio::spawn(async move {
                    let Ok(up) = TcpStream::connect(upstream).await else { return };
                    let _ = down.set_nodelay(true);
                    let _ = up.set_nodelay(true);
                    let (mut down, mut up) = (down, up);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut down, &mut up) => {}
                        _ = cut.changed() => {
                            // A reset rather than an orderly close: linger 0.
                            let _ = down.set_zero_linger();
                            let _ = up.set_zero_linger();
                        }
                    }
                });
            }
        });
        Ok(CutProxy { addr, generation, cuts: AtomicU64::new(0) })
    }

    /// Tears down every connection currently through the proxy.
    pub fn cut(&self) {
        self.cuts.fetch_add(1, Ordering::Relaxed);
        self.generation.send_modify(|g| *g += 1);
    }
}

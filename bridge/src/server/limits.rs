//! Connection limits the hub cannot see: connections in total and per IP, and
//! handshakes per IP per second. (Per-subject limits live in the hub, which knows the
//! token's subject.)

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ibws_shared::hub::TokenBucket;
use ibws_shared::protocol::CloseCode;

#[derive(Clone, Debug)]
pub struct LimitConfig {
    pub max_connections: usize,
    pub max_per_ip: usize,
    pub handshake_burst: u32,
    pub handshakes_per_sec: u32,
}

impl Default for LimitConfig {
    fn default() -> Self {
        LimitConfig { max_connections: 10_000, max_per_ip: 64, handshake_burst: 32, handshakes_per_sec: 16 }
    }
}

struct IpState {
    conns: usize,
    bucket: TokenBucket,
    last_ms: u64,
}

/// Shared by every connection of one listener.
pub struct ConnLimiter {
    cfg: LimitConfig,
    ips: Mutex<HashMap<IpAddr, IpState>>,
    total: AtomicUsize,
}

/// Holds one connection slot; released on drop.
pub struct ConnGuard {
    limiter: Arc<ConnLimiter>,
    ip: IpAddr,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.limiter.total.fetch_sub(1, Ordering::Relaxed);
        if let Some(s) = self.limiter.ips.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&self.ip) {
            s.conns = s.conns.saturating_sub(1);
        }
    }
}

impl ConnLimiter {
    pub fn new(cfg: LimitConfig) -> Arc<Self> {
        Arc::new(ConnLimiter { cfg, ips: Mutex::new(HashMap::new()), total: AtomicUsize::new(0) })
    }

    pub fn connections(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// Counts a handshake from `ip`; false when it exceeds the per-IP rate.
    pub fn admit_handshake(&self, ip: IpAddr, now_ms: u64) -> bool {
        let mut ips = self.ips.lock().unwrap_or_else(|p| p.into_inner());
        if ips.len() > 50_000 {
            // forget quiet addresses so the table cannot grow without bound
            ips.retain(|_, s| s.conns > 0 || now_ms.saturating_sub(s.last_ms) < 60_000);
        }
        let s = ips.entry(ip).or_insert_with(|| IpState {
            conns: 0,
            bucket: TokenBucket::new(self.cfg.handshake_burst, self.cfg.handshakes_per_sec, now_ms),
            last_ms: now_ms,
        });
        s.last_ms = now_ms;
        s.bucket.take(now_ms)
    }

    /// Takes a connection slot for `ip`.
    pub fn acquire(self: &Arc<Self>, ip: IpAddr) -> Result<ConnGuard, CloseCode> {
        let mut ips = self.ips.lock().unwrap_or_else(|p| p.into_inner());
        if self.total.load(Ordering::Relaxed) >= self.cfg.max_connections {
            return Err(CloseCode::ConnectionLimit);
        }
        let s = ips.entry(ip).or_insert_with(|| IpState {
            conns: 0,
            bucket: TokenBucket::new(self.cfg.handshake_burst, self.cfg.handshakes_per_sec, 0),
            last_ms: 0,
        });
        if s.conns >= self.cfg.max_per_ip {
            return Err(CloseCode::ConnectionLimit);
        }
        s.conns += 1;
        self.total.fetch_add(1, Ordering::Relaxed);
        Ok(ConnGuard { limiter: self.clone(), ip })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_and_total() {
        let l = ConnLimiter::new(LimitConfig {
            max_connections: 3,
            max_per_ip: 2,
            handshake_burst: 2,
            handshakes_per_sec: 1,
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let g1 = l.acquire(a).unwrap();
        let _g2 = l.acquire(a).unwrap();
        assert!(l.acquire(a).is_err());
        let _g3 = l.acquire(b).unwrap();
        assert!(l.acquire(b).is_err(), "total reached");
        drop(g1);
        assert!(l.acquire(b).is_ok());
        assert!(l.admit_handshake(a, 0) && l.admit_handshake(a, 0));
        assert!(!l.admit_handshake(a, 0));
        assert!(l.admit_handshake(a, 1000));
    }
}

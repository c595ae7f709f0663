//! Connection limits the hub cannot see: connections in total and per IP, handshakes
//! per IP per second, and connections per IP that have not yet sent their request head
//! (so idle sockets cannot pin descriptors until the head deadline). Per-subject limits
//! live in the hub, which knows the token's subject.
//!
//! These are the verdicts of a host that sees client addresses (the native relay and
//! the bridge's endpoints); the edge relay's platform meters addresses before a request
//! reaches it. The driver asks before each step and holds the guards it is given; the
//! limiter is shared by every connection task of a listener, so its tables are behind
//! locks, and every table is bounded.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::hub::TokenBucket;
use crate::protocol::CloseCode;

#[derive(Clone, Debug)]
pub struct LimitConfig {
    pub max_connections: usize,
    pub max_per_ip: usize,
    pub handshake_burst: u32,
    pub handshakes_per_sec: u32,
    /// Connections per IP still in TLS or before their HTTP request head.
    pub max_pending_per_ip: usize,
}

impl Default for LimitConfig {
    fn default() -> Self {
        LimitConfig {
            max_connections: 10_000,
            max_per_ip: 64,
            handshake_burst: 32,
            handshakes_per_sec: 16,
            max_pending_per_ip: 16,
        }
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
    pending: Mutex<HashMap<IpAddr, usize>>,
    pending_refused: AtomicUsize,
    hits: LimitHits,
}

/// How often each limit of a listener was hit, for `/metrics`.
#[derive(Default)]
pub struct LimitHits {
    /// Connections refused: the listener held `max_connections`.
    pub max_connections: AtomicU64,
    /// Connections refused: the address held `max_per_ip`.
    pub max_per_ip: AtomicU64,
    /// Handshakes refused: the address exceeded its handshake rate.
    pub handshake_rate: AtomicU64,
    /// Clients dropped because a write did not progress within the send deadline.
    pub send_timeout: AtomicU64,
}

/// Holds one pre-handshake slot (accepted, request head not read yet); released on drop.
pub struct PendingGuard {
    limiter: Arc<ConnLimiter>,
    ip: IpAddr,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        let mut p = self.limiter.pending.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = p.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                p.remove(&self.ip);
            }
        }
    }
}

/// Holds one connection slot; released on drop.
pub struct ConnGuard {
    limiter: Arc<ConnLimiter>,
    ip: IpAddr,
}

impl ConnGuard {
    /// The connection is being dropped because a write missed the send deadline.
    pub fn note_send_timeout(&self) {
        self.limiter.hits.send_timeout.fetch_add(1, Ordering::Relaxed);
    }
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
        Arc::new(ConnLimiter {
            cfg,
            ips: Mutex::new(HashMap::new()),
            total: AtomicUsize::new(0),
            pending: Mutex::new(HashMap::new()),
            pending_refused: AtomicUsize::new(0),
            hits: LimitHits::default(),
        })
    }

    /// A slot for a just-accepted socket until its request head is read; `None` when
    /// `ip` already holds its share (the socket is then closed at once).
    pub fn pending(self: &Arc<Self>, ip: IpAddr) -> Option<PendingGuard> {
        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let n = p.entry(ip).or_insert(0);
        if *n >= self.cfg.max_pending_per_ip {
            self.pending_refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        *n += 1;
        Some(PendingGuard { limiter: self.clone(), ip })
    }

    /// Sockets closed because their IP held too many pre-handshake connections.
    pub fn pending_refused(&self) -> usize {
        self.pending_refused.load(Ordering::Relaxed)
    }

    pub fn hits(&self) -> &LimitHits {
        &self.hits
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
        let ok = s.bucket.take(now_ms);
        if !ok {
            self.hits.handshake_rate.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    /// Takes a connection slot for `ip`.
    pub fn acquire(self: &Arc<Self>, ip: IpAddr) -> Result<ConnGuard, CloseCode> {
        let mut ips = self.ips.lock().unwrap_or_else(|p| p.into_inner());
        if self.total.load(Ordering::Relaxed) >= self.cfg.max_connections {
            self.hits.max_connections.fetch_add(1, Ordering::Relaxed);
            return Err(CloseCode::ConnectionLimit);
        }
        let s = ips.entry(ip).or_insert_with(|| IpState {
            conns: 0,
            bucket: TokenBucket::new(self.cfg.handshake_burst, self.cfg.handshakes_per_sec, 0),
            last_ms: 0,
        });
        if s.conns >= self.cfg.max_per_ip {
            self.hits.max_per_ip.fetch_add(1, Ordering::Relaxed);
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
            max_pending_per_ip: 2,
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let (p1, _p2) = (l.pending(a).unwrap(), l.pending(a).unwrap());
        assert!(l.pending(a).is_none(), "a third idle socket from one address");
        assert!(l.pending(b).is_some(), "other addresses unaffected");
        drop(p1);
        assert!(l.pending(a).is_some(), "released once a head was read");
        assert_eq!(l.pending_refused(), 1);
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

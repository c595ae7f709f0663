//! Deadlines: when the hub next needs the time, and what runs then (auth deadlines,
//! idle clients, token expiry, transport pings).

use super::*;

impl Hub {
    /// When [`Hub::handle_timeout`] must next run (monotonic ms): the earliest deadline
    /// of any client (its auth deadline, idle timeout, token expiry, next transport
    /// ping), but not before 500 ms (`SWEEP_MS`) after the last run, so deadlines close
    /// together are handled in one pass; `None` when no client has one (a host may
    /// sleep). It scans every client, so a host asks again after a run, and after
    /// [`Hub::take_deadline_moved`] says an input made a deadline earlier, not after
    /// every event.
    pub fn poll_timeout(&self, now: Now) -> Option<u64> {
        let now_unix_ms = now.unix_us.div_euclid(1000);
        self.clients
            .values()
            .filter_map(|s| {
                let auth = (!s.ready && self.cfg.require_auth).then_some(s.auth_deadline_ms);
                let idle = (self.cfg.idle_timeout_ms != u64::MAX).then(|| s.last_seen_ms + self.cfg.idle_timeout_ms);
                let ping = self.cfg.transport_pings.then_some(s.next_ping_ms);
                let expiry = s.claims.as_ref().map(|c| {
                    let in_ms = (c.exp as i64).saturating_mul(1000).saturating_sub(now_unix_ms).max(0);
                    now.mono_ms.saturating_add(in_ms as u64)
                });
                [auth, idle, ping, expiry].into_iter().flatten().min()
            })
            .min()
            .map(|d| d.max(self.next_sweep_ms))
    }

    /// True (once) when an input since the last call may have made a deadline earlier
    /// than the last [`Hub::poll_timeout`] said (a client connected or was given a
    /// token): a host sleeping until that answer asks again.
    pub fn take_deadline_moved(&mut self) -> bool {
        std::mem::take(&mut self.deadline_moved)
    }

    /// Runs the deadlines that are due: auth deadlines, idle clients, token expiry,
    /// transport pings (a call before [`Hub::poll_timeout`]'s moment does nothing).
    pub fn handle_timeout(&mut self, now: Now) {
        self.see(now);
        if now.mono_ms < self.next_sweep_ms {
            return;
        }
        self.sweep(now);
    }

    pub(in crate::hub) fn sweep(&mut self, now: Now) {
        self.see(now);
        self.next_sweep_ms = now.mono_ms + SWEEP_MS;
        let unix = now.unix_secs();
        let mut closes = Vec::new();
        for (id, s) in self.clients.iter_mut() {
            if !s.ready && self.cfg.require_auth && now.mono_ms >= s.auth_deadline_ms {
                closes.push((*id, CloseCode::AuthRequired));
            } else if now.mono_ms.saturating_sub(s.last_seen_ms) >= self.cfg.idle_timeout_ms {
                closes.push((*id, CloseCode::HeartbeatTimeout));
            } else if s.claims.as_ref().is_some_and(|c| c.exp <= unix) {
                closes.push((*id, CloseCode::TokenExpired));
            } else if self.cfg.transport_pings && now.mono_ms >= s.next_ping_ms {
                s.next_ping_ms = now.mono_ms.saturating_add(self.cfg.heartbeat_interval_ms);
                self.out.push_back(Output::Ping(*id));
            }
        }
        for (id, code) in closes {
            self.close(id, code, now);
        }
    }
}

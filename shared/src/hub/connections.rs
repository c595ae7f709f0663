//! Clients arriving and leaving: admission of verified claims, the greeting,
//! per-subject limits, and every close (with the frames a client is still owed).

use super::*;

impl Hub {
    /// A client connected. With auth required and no pre-verified claims, it must send
    /// `auth` within the deadline; otherwise it is greeted at once.
    pub fn connect(&mut self, id: ConnId, info: ConnectInfo, now: Now) {
        let client_id = info.client_id.filter(|c| !c.is_empty() && c.len() <= 128).unwrap_or_else(|| {
            self.generated_ids += 1;
            format!("client_{}_{}", now.unix_us / 1000, self.generated_ids)
        });
        if self.clients.len() >= self.cfg.max_clients {
            self.stats.refused_max_clients += 1;
            let frames = vec![self.refusal(CloseCode::ConnectionLimit, now)];
            self.out.push_back(Output::Close { id, code: CloseCode::ConnectionLimit, frames });
            return;
        }
        let session = self.fresh_session(client_id, now);
        self.clients.insert(id, Box::new(session));
        self.deadline_moved = true;
        match info.claims {
            Some(c) => self.admit(id, c, now),
            None if !self.cfg.require_auth => self.greet(id, now),
            None => {}
        }
    }

    /// Checks role, tenant and per-subject limits for freshly verified claims.
    pub(in crate::hub) fn admit(&mut self, id: ConnId, claims: Claims, now: Now) {
        if claims.role != Role::Client || self.cfg.tenant.as_ref().is_some_and(|t| *t != claims.tenant) {
            self.close(id, CloseCode::Forbidden, now);
            return;
        }
        let n = self.per_subject.get(&claims.sub).copied().unwrap_or(0);
        if n >= self.cfg.max_clients_per_subject {
            self.stats.refused_per_subject += 1;
            self.close(id, CloseCode::ConnectionLimit, now);
            return;
        }
        self.per_subject.insert(claims.sub.clone(), n + 1);
        if let Some(s) = self.clients.get_mut(&id) {
            s.claims = Some(claims);
            self.deadline_moved = true;
            // A client that authenticates speaks ibws's protocol.
            s.aware = true;
        }
        self.greet(id, now);
    }

    pub(in crate::hub) fn greet(&mut self, id: ConnId, now: Now) {
        let Some(s) = self.clients.get_mut(&id) else {
            return;
        };
        s.ready = true;
        let frame = ServerFrame::Connection(Connection {
            status: "connected".into(),
            message: "WebSocket连接成功".into(),
            timestamp: format_timestamp(now.unix_us, self.cfg.utc_offset_secs),
            client_id: s.client_id.clone(),
            epoch: Some(self.epoch.clone()),
            seq: Some(self.seq),
            heartbeat_interval_ms: Some(self.cfg.heartbeat_interval_ms),
        });
        self.reply(id, &frame, now);
    }

    /// The client's socket closed.
    pub fn disconnect(&mut self, id: ConnId) {
        if let Some(s) = self.clients.remove(&id) {
            self.release_subject(&s);
        }
    }

    pub(in crate::hub) fn release_subject(&mut self, s: &Session) {
        if let Some(c) = &s.claims {
            if let Some(n) = self.per_subject.get_mut(&c.sub) {
                *n -= 1;
                if *n == 0 {
                    self.per_subject.remove(&c.sub);
                }
            }
        }
    }

    /// Closes a client: queued frames still go out, then the close frame.
    pub(in crate::hub) fn close(&mut self, id: ConnId, code: CloseCode, now: Now) {
        let Some(mut s) = self.clients.remove(&id) else {
            return;
        };
        self.release_subject(&s);
        self.stats.clients_closed += 1;
        if !s.ready {
            // refused before it was admitted: told why, as every relay tells it
            let frames = vec![self.refusal(code, now)];
            self.out.push_back(Output::Close { id, code, frames });
            return;
        }
        // what it is owed still goes out before the close frame (within one budget)
        let mut frames = Vec::new();
        if code != CloseCode::SlowConsumer && !self.fell_off(&s) {
            let mut examined = 0;
            self.collect(&mut s, &mut frames, TAKE_BUDGET_BYTES, &mut examined);
            self.stats.events_examined += examined;
        }
        self.out.push_back(Output::Close { id, code, frames });
    }

    /// The `error` frame that goes before the close of a client refused before it was
    /// admitted ([`crate::relay::first_auth`]).
    pub(in crate::hub) fn refusal(&self, code: CloseCode, now: Now) -> Frame {
        crate::relay::first_auth::refusal(code, now.unix_us, self.cfg.utc_offset_secs).into()
    }

    /// Closes one client with `code` (a host refusing it, e.g. a bad token).
    pub fn close_client(&mut self, id: ConnId, code: CloseCode, now: Now) {
        self.close(id, code, now);
    }

    /// Closes every client with `code` (shutdown).
    pub fn close_all(&mut self, code: CloseCode, now: Now) {
        let ids: Vec<ConnId> = self.clients.keys().copied().collect();
        for id in ids {
            self.close(id, code, now);
        }
    }
}

//! Hibernation, for hosts that sleep (Durable Objects): what each client and the
//! stream must keep across a sleep, and how the hub is rebuilt from it.

use super::*;

impl Hub {
    /// What must survive for one client while its host sleeps.
    pub fn session_state(&self, id: ConnId) -> Option<SessionState> {
        self.clients.get(&id).map(|s| SessionState {
            client_id: s.client_id.clone(),
            claims: s.claims.clone(),
            ready: s.ready,
            aware: s.aware,
            subs: s.subs,
        })
    }

    /// Re-creates a client after the host woke up (no greeting: it already had one).
    pub fn restore_session(&mut self, id: ConnId, st: SessionState, now: Now) {
        self.deadline_moved = true;
        if let Some(c) = &st.claims {
            *self.per_subject.entry(c.sub.clone()).or_default() += 1;
        }
        self.clients.insert(
            id,
            Box::new(Session {
                claims: st.claims,
                ready: st.ready,
                aware: st.aware,
                subs: st.subs,
                ..self.fresh_session(st.client_id, now)
            }),
        );
    }

    /// The stream (position, replay ring, tables) in a form a host can store.
    pub fn stream_state(&self) -> StreamState {
        StreamState {
            epoch: self.epoch.clone(),
            seq: self.seq,
            events: self.ring.iter().map(|e| e.json.to_string()).collect(),
            orders: self.orders(),
            accounts: self.accounts(),
            source_connected: self.source_connected,
        }
    }

    /// Restores a stored stream; events that do not parse are dropped, and the ring
    /// keeps only a contiguous run ending at `seq`.
    pub fn restore_stream(&mut self, st: StreamState) {
        self.orders_cache = None;
        self.epoch = st.epoch;
        // stored by this hub, so within bounds; clamped all the same
        self.seq = st.seq.min(MAX_SAFE_SEQ);
        self.orders.replace(&st.orders);
        self.accounts = st.accounts.into_iter().map(|a| (a.account.clone(), a)).collect();
        self.source_connected = st.source_connected;
        self.ring.clear();
        let events: Vec<Arc<StampedEvent>> = st
            .events
            .iter()
            .filter_map(|j| serde_json::from_str::<ServerFrame>(j).ok())
            .filter_map(StampedEvent::new)
            .filter(|e| e.epoch == self.epoch && e.seq <= self.seq)
            .collect();
        let mut expect = self.seq + 1;
        let mut keep = Vec::new();
        for e in events.into_iter().rev() {
            if e.seq + 1 != expect {
                break;
            }
            expect = e.seq;
            keep.push(e);
        }
        for e in keep.into_iter().rev() {
            let r = self.ring_event(&e);
            self.ring.push(r);
        }
    }
}

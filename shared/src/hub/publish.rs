//! The stream's source: events published (or originated, on the bridge) into the
//! ring and the tables under the stream rules, snapshots, and new epochs.

use super::*;

impl Hub {
    /// Where the stream begins (the bridge's own hub): stamps `frame` as the stream's
    /// next event (this hub's epoch, head + 1), serialises it once and publishes it.
    /// The hub is the one owner of the position; the stamped event is returned for the
    /// other places it goes (the uplink). `Ok(None)` for a frame that is not an event.
    pub fn originate(
        &mut self,
        mut frame: ServerFrame,
        now: Now,
    ) -> Result<Option<Arc<StampedEvent>>, StreamViolation> {
        frame.set_position(&self.epoch, self.seq.saturating_add(1));
        let Some(ev) = StampedEvent::new(frame) else {
            return Ok(None);
        };
        self.publish(ev.clone(), now)?;
        Ok(Some(ev))
    }

    /// Publishes a stamped event, if it is the stream's next ([`stream_rules`]):
    /// `Ok(true)` when applied, `Ok(false)` for a resend of an event the stream already
    /// has (dropped), and an error, with nothing applied, for anything else: a gap, a
    /// seq behind the replay window or beyond [`MAX_SAFE_SEQ`], another epoch (a new
    /// epoch begins only with [`Hub::apply_snapshot`]).
    pub fn publish(&mut self, ev: Arc<StampedEvent>, now: Now) -> Result<bool, StreamViolation> {
        self.see(now);
        let window = self.cfg.replay_capacity as u64;
        match stream_rules::check_event(&self.epoch, self.seq, window, &ev.epoch, ev.seq) {
            stream_rules::Verdict::Next => {}
            stream_rules::Verdict::Duplicate => {
                self.stats.duplicates_dropped += 1;
                return Ok(false);
            }
            stream_rules::Verdict::Refuse(v) => {
                self.stats.stream_violations += 1;
                return Err(v);
            }
        }
        self.seq = ev.seq;
        self.stats.events_published += 1;
        self.stats.events_by_type[ev.kind as usize] += 1;
        // the account an error is about is looked up before the order table moves on
        let ring_event = self.ring_event(&ev);
        // the order table takes each order's row from its `order_update` (the whole row);
        // notifications about an order (created, modified, cancelled, an agent's) come
        // beside one and change no row themselves
        if let ServerFrame::OrderUpdate(u) = &ev.frame {
            let touched = self.orders.put(&u.data);
            if let Some(j) = &mut self.journal {
                j.orders.extend(touched.into_iter().flatten());
            }
        }
        if let ServerFrame::AccountUpdate(a) = &ev.frame {
            self.accounts.entry(a.data.account.clone()).or_default().merge(&a.data);
            if let Some(acc) = self.accounts.get_mut(&a.data.account) {
                acc.account = a.data.account.clone();
            }
            if let Some(j) = &mut self.journal {
                j.accounts.insert(a.data.account.clone());
            }
        }
        if let Some(j) = &mut self.journal {
            j.events.push((ev.seq, ev.json.clone()));
            j.dirty = true;
        }
        // wake the idle clients that want it; idle ones that do not move past it
        for (id, s) in self.clients.iter_mut() {
            if !s.armed {
                continue; // its driver is taking already, and will come back for this
            }
            if s.ready && s.subscribed(ring_event.kind) && s.may_see_event(&ring_event) {
                s.armed = false;
                self.out.push_back(Output::Wake(*id));
            } else if s.cursor == ev.seq && s.replies.is_empty() {
                s.cursor = ev.seq + 1;
            }
        }
        self.ring.push(ring_event);
        Ok(true)
    }

    /// What the ring keeps of `ev`. An `error` that names no account but refers to a
    /// request (TWS's `req_id` is the order id for an order's errors) is about the
    /// account of the order with that id, as this hub's order table knows it; when the
    /// table does not know it (or the id is ambiguous), only clients allowed every
    /// account may see it.
    pub(in crate::hub) fn ring_event(&self, ev: &StampedEvent) -> RingEvent {
        let mut r = RingEvent::from(ev);
        if let ServerFrame::Error(e) = &ev.frame {
            if let (None, Some(req)) = (&e.account, e.req_id.filter(|id| *id > 0)) {
                match self.orders.account_of_order_id(req) {
                    Some(a) => r.account = Some(a.into()),
                    None => r.all_accounts_only = true,
                }
            }
        }
        r
    }

    /// Replaces the order and account tables with a snapshot. A snapshot of another
    /// epoch, or one ahead of the stream, resets the replay ring. Clients that speak
    /// our protocol (they sent `auth` or `resume`) are told of a new epoch at once with
    /// an unsolicited `resume` frame saying `recovered: false`, so they resnapshot now
    /// rather than at the next event.
    ///
    /// A snapshot whose seq is beyond [`MAX_SAFE_SEQ`] is refused, with nothing applied.
    pub fn apply_snapshot(&mut self, snap: &Snapshot, now: Now) -> Result<(), StreamViolation> {
        self.see(now);
        if let Err(v) = stream_rules::check_snapshot(snap.seq) {
            self.stats.stream_violations += 1;
            return Err(v);
        }
        let new_epoch = snap.epoch != self.epoch;
        self.epoch = snap.epoch.clone();
        if new_epoch || snap.seq != self.seq {
            self.restart_stream(snap.seq);
        }
        self.orders_cache = None;
        self.orders.replace(&snap.orders);
        self.accounts = snap.accounts.iter().map(|a| (a.account.clone(), a.clone())).collect();
        self.source_connected = snap.source_connected;
        if let Some(j) = &mut self.journal {
            j.clear_tables = true;
            j.orders = self.orders.keys().collect();
            j.accounts = self.accounts.keys().cloned().collect();
            j.dirty = true;
        }
        if new_epoch {
            self.announce_epoch(now);
        }
        Ok(())
    }

    /// The ring is emptied and the stream goes on after `seq`. Clients that were idle
    /// simply continue from there; a client with a backlog has lost it, and is resynced
    /// or closed at its next take. Queued replies keep their place before new events.
    pub(in crate::hub) fn restart_stream(&mut self, seq: u64) {
        let old_head = self.seq;
        self.ring.clear();
        if let Some(j) = &mut self.journal {
            j.restart();
        }
        self.orders_cache = None;
        self.seq = seq;
        for s in self.clients.values_mut() {
            if s.cursor <= old_head && !s.armed {
                s.lost = true;
            }
            s.cursor = seq + 1;
            for r in s.replies.iter_mut() {
                r.0 = r.0.min(seq);
            }
        }
    }

    pub(in crate::hub) fn see(&mut self, now: Now) {
        if now.mono_ms >= self.last_now.mono_ms {
            self.last_now = now;
        }
    }

    /// Tells clients that speak our protocol that the stream restarted: an unsolicited
    /// `resume` with `recovered: false`, so they take a fresh snapshot now.
    pub(in crate::hub) fn announce_epoch(&mut self, now: Now) {
        let frame = self.resume_frame(false, 0, now);
        let aware: Vec<ConnId> = self.clients.iter().filter(|(_, s)| s.ready && s.aware).map(|(id, _)| *id).collect();
        for id in aware {
            self.enqueue(id, frame.clone(), now);
        }
    }
}

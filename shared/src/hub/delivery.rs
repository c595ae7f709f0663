//! What goes out to clients: replies queued per client, and each client's cursor
//! walked along the replay ring, within a budget of bytes and of ring entries.

use super::*;

impl Hub {
    /// Wakes a client's driver if it is waiting.
    pub(in crate::hub) fn wake(out: &mut VecDeque<Output>, id: ConnId, s: &mut Session) {
        if s.armed {
            s.armed = false;
            out.push_back(Output::Wake(id));
        }
    }

    /// Queues a reply for one client, after the events up to the current seq; closes
    /// it as a slow consumer when its replies overflow (it asks and never reads).
    pub(in crate::hub) fn enqueue(&mut self, id: ConnId, frame: Frame, now: Now) -> bool {
        let Some(s) = self.clients.get_mut(&id) else {
            return false;
        };
        if s.replies.len() >= self.cfg.max_queue_frames || s.reply_bytes + frame.len() > self.cfg.max_queue_bytes {
            self.stats.slow_consumers_closed += 1;
            self.close(id, CloseCode::SlowConsumer, now);
            return false;
        }
        s.reply_bytes += frame.len();
        s.replies.push_back((self.seq, frame));
        Self::wake(&mut self.out, id, s);
        true
    }

    pub(in crate::hub) fn reply(&mut self, id: ConnId, frame: &ServerFrame, now: Now) {
        self.enqueue(id, frame.to_json().into(), now);
    }

    pub(in crate::hub) fn reply_error(&mut self, id: ConnId, message: String, code: Option<&str>, now: Now) {
        let frame = ServerFrame::Error(ErrorFrame {
            message,
            error_code: code.map(str::to_owned),
            timestamp: self.stamp(now),
            tws_code: None,
            req_id: None,
            account: None,
            agent: None,
            error_time: None,
            seq: None,
            epoch: None,
        });
        self.reply(id, &frame, now);
    }

    /// Moves up to [`TAKE_BUDGET_BYTES`] of what a client is owed into `into`: events
    /// from its cursor that it may see, interleaved with its replies in stream order.
    /// When something is left, another [`Output::Wake`] follows, so a driver may take
    /// once per wake (or until a take comes back empty). A client whose cursor fell off
    /// the ring is resynced (`resume`, `recovered: false`) or, if it cannot resync,
    /// closed.
    pub fn take_frames(&mut self, id: ConnId, into: &mut Vec<Frame>) {
        let Some(mut s) = self.clients.remove(&id) else {
            return;
        };
        let before = into.len();
        if self.fell_off(&s) {
            if !s.aware {
                self.clients.insert(id, s);
                self.stats.slow_consumers_closed += 1;
                self.close(id, CloseCode::SlowConsumer, Now::default());
                return;
            }
            self.stats.slow_consumers_resynced += 1;
            s.lost = false;
            s.cursor = self.seq + 1;
            for r in s.replies.iter_mut() {
                r.0 = r.0.min(self.seq);
            }
            // after the replies it already had (they are older), before any new event
            let f = self.resume_frame(false, 0, self.last_now);
            s.reply_bytes += f.len();
            s.replies.push_back((self.seq, f));
        }
        let mut examined = 0;
        let more = self.collect(&mut s, into, TAKE_BUDGET_BYTES, &mut examined);
        self.stats.events_examined += examined;
        self.stats.frames_delivered += (into.len() - before) as u64;
        if more {
            self.out.push_back(Output::Wake(id));
        } else {
            s.armed = true;
        }
        self.clients.insert(id, s);
    }

    /// Whether events `s` is owed are gone (evicted from the ring, or dropped with it).
    pub(in crate::hub) fn fell_off(&self, s: &Session) -> bool {
        s.lost || (s.cursor <= self.seq && self.ring.first_seq().is_none_or(|f| s.cursor < f))
    }

    /// Moves what `s` is owed into `into`, up to `budget` bytes (at least one frame)
    /// and [`TAKE_BUDGET_EVENTS`] ring entries looked at; true when something is left.
    /// The work is bounded by what the ring holds, never by seq values: a cursor
    /// behind the ring's first event jumps to it (the caller has already resynced or
    /// closed a client that was owed what lies before), and one over an empty ring
    /// jumps to the head.
    pub(in crate::hub) fn collect(
        &self,
        s: &mut Session,
        into: &mut Vec<Frame>,
        budget: usize,
        examined: &mut u64,
    ) -> bool {
        let mut bytes = 0usize;
        let mut steps = 0usize;
        let more = loop {
            let boundary = s.replies.front().map_or(self.seq, |r| r.0);
            if s.cursor <= boundary {
                let first = self.ring.first_seq().unwrap_or(boundary + 1);
                if s.cursor < first {
                    s.cursor = first.min(boundary + 1);
                }
            }
            while s.cursor <= boundary {
                if (bytes >= budget && bytes > 0) || steps >= TAKE_BUDGET_EVENTS {
                    break;
                }
                let seq = s.cursor;
                s.cursor += 1;
                steps += 1;
                if let Some(e) = self.ring.get(seq) {
                    if s.ready && s.subscribed(e.kind) && s.may_see_event(e) {
                        bytes += e.json.len();
                        into.push(e.json.clone());
                    }
                }
            }
            if s.cursor <= boundary {
                break true;
            }
            if bytes >= budget && bytes > 0 && !s.replies.is_empty() {
                break true;
            }
            match s.replies.pop_front() {
                Some((_, f)) => {
                    s.reply_bytes -= f.len();
                    bytes += f.len();
                    into.push(f);
                }
                None => {
                    // an idle client keeps no reply queue (most clients are idle)
                    s.replies = VecDeque::new();
                    break false;
                }
            }
        };
        *examined += steps as u64;
        more
    }

    pub(in crate::hub) fn resume_frame(&self, recovered: bool, replayed: u64, now: Now) -> Frame {
        ServerFrame::Resume(ResumeResult {
            recovered,
            epoch: self.epoch.clone(),
            seq: self.seq,
            replayed,
            timestamp: self.stamp(now),
        })
        .to_json()
        .into()
    }

    /// The next thing the driver must do, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }
}

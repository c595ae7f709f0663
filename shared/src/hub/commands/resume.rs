//! `resume` (or `subscribe` with `epoch` and `since`): the replay from a stream
//! position, or `recovered: false` when the ring no longer reaches back to it.

use crate::hub::*;

impl Hub {
    /// Resumes a client after `since` of `epoch`: its cursor goes back to `since + 1`
    /// when the ring reaches that far (the replay is then simply what it is owed, taken
    /// like live events), and `resume` follows the replayed events.
    pub(in crate::hub) fn handle_resume(&mut self, id: ConnId, epoch: &str, since: u64, now: Now) {
        let Some(s) = self.clients.get(&id) else {
            return;
        };
        let replayed = if epoch == self.epoch {
            self.ring
                .since(since, self.seq)
                .map(|events| events.filter(|e| s.subscribed(e.kind) && s.may_see_event(e)).count() as u64)
        } else {
            None
        };
        let s = self.clients.get_mut(&id).expect("checked");
        if replayed.is_some() {
            s.cursor = since + 1;
            s.lost = false;
            // replies already queued (the `subscription` answer) stay before the replay
            for r in s.replies.iter_mut() {
                r.0 = r.0.min(since);
            }
        }
        let f = self.resume_frame(replayed.is_some(), replayed.unwrap_or(0), now);
        self.enqueue(id, f, now);
    }
}

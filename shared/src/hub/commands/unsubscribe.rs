//! `unsubscribe`: message types removed from a client's set.

use crate::hub::*;

impl Hub {
    pub(in crate::hub) fn handle_unsubscribe(&mut self, id: ConnId, names: &[String], now: Now) {
        let Some(s) = self.clients.get_mut(&id) else {
            return;
        };
        for t in names.iter().filter_map(|n| MessageType::parse(n)) {
            s.subs &= !t.bit();
        }
        let f = ServerFrame::Unsubscription(Unsubscription {
            status: "success".into(),
            remaining_types: s.subscribed_names(),
            timestamp: self.stamp(now),
        });
        self.reply(id, &f, now);
    }
}

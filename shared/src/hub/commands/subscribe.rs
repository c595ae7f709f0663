//! `subscribe`: message types added to a client's set, each checked against the
//! token's scope.

use crate::hub::*;

impl Hub {
    pub(in crate::hub) fn handle_subscribe(&mut self, id: ConnId, names: &[String], now: Now) {
        let Some(s) = self.clients.get_mut(&id) else {
            return;
        };
        let mut unknown = Vec::new();
        let mut forbidden = Vec::new();
        let mut over_limit = false;
        for n in names.iter().take(32) {
            match MessageType::parse(n) {
                None => unknown.push(n.chars().take(64).collect::<String>()),
                Some(t) if !s.may_subscribe(t) => forbidden.push(t.as_str()),
                Some(t) => {
                    if !s.subscribed(t) && (s.subs.count_ones() as usize) >= self.cfg.max_subscriptions {
                        over_limit = true;
                    } else {
                        s.subs |= t.bit();
                    }
                }
            }
        }
        let subscribed = s.subscribed_names();
        if !unknown.is_empty() {
            self.reply_error(
                id,
                format!("unknown message types: {}", unknown.join(", ")),
                Some("UNKNOWN_MESSAGE_TYPE"),
                now,
            );
        }
        if !forbidden.is_empty() {
            self.reply_error(
                id,
                format!("not allowed by token scope: {}", forbidden.join(", ")),
                Some("FORBIDDEN_SCOPE"),
                now,
            );
        }
        if over_limit {
            self.reply_error(id, "subscription limit reached".into(), Some("SUBSCRIPTION_LIMIT"), now);
        }
        let f = ServerFrame::Subscription(Subscription {
            status: "success".into(),
            subscribed_types: subscribed,
            timestamp: self.stamp(now),
        });
        self.reply(id, &f, now);
    }
}

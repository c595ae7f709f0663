//! `get_orders`: the order table and account values as the client's token may see
//! them, consistent with a stream position (serialised once per position for
//! unrestricted tokens).

use crate::hub::*;

impl Hub {
    pub(in crate::hub) fn handle_get_orders(&mut self, id: ConnId, now: Now) {
        let Some(s) = self.clients.get(&id) else {
            return;
        };
        // Order rows only for a scope with an order type in it, and only the rows of
        // accounts the token allows (rows without an account: unrestricted tokens only).
        let unrestricted = s.claims.as_ref().is_none_or(|c| c.allows_all_accounts())
            && s.may_see_orders()
            && s.may_subscribe(MessageType::AccountUpdate);
        if unrestricted {
            // serialized once per stream position, shared by every client asking there
            if let Some((seq, f)) = &self.orders_cache {
                if *seq == self.seq {
                    let f = f.clone();
                    self.enqueue(id, f, now);
                    return;
                }
            }
        }
        let data = if s.may_see_orders() {
            self.orders.rows().into_iter().filter(|o| s.may_see_order_row(o.account.as_deref())).cloned().collect()
        } else {
            Vec::new()
        };
        let accounts = self
            .accounts
            .values()
            .filter(|a| s.may_see(MessageType::AccountUpdate, Some(&a.account)))
            .cloned()
            .collect();
        let f: Frame = ServerFrame::OrdersResponse(OrdersResponse {
            data,
            timestamp: self.stamp(now),
            seq: Some(self.seq),
            epoch: Some(self.epoch.clone()),
            source_connected: Some(self.source_connected),
            accounts: Some(accounts),
        })
        .to_json()
        .into();
        if unrestricted {
            self.orders_cache = Some((self.seq, f.clone()));
        }
        self.enqueue(id, f, now);
    }
}

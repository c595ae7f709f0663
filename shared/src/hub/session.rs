//! One connected client as the hub sees it.

use std::collections::VecDeque;

use super::{Frame, TokenBucket};
use crate::auth::Claims;
use crate::protocol::MessageType;

/// Per-client state: identity, subscriptions, limits, its cursor into the stream and
/// its bounded queue of replies.
#[derive(Debug)]
pub struct Session {
    /// The seed's `client_id` (from the query string, or generated).
    pub client_id: String,
    /// Verified claims; `None` on endpoints without auth.
    pub claims: Option<Claims>,
    /// True once the client may receive events (auth passed or not required).
    pub ready: bool,
    /// The client speaks ibws's additions (it sent `auth` or `resume`), so it may be
    /// sent frames the seed system never sent unasked.
    pub aware: bool,
    /// Subscribed message types, one bit per [`MessageType`].
    pub subs: u8,
    pub last_seen_ms: u64,
    pub next_ping_ms: u64,
    pub auth_deadline_ms: u64,
    pub bucket: TokenBucket,
    /// The next stream seq this client is owed; everything before it was taken (or
    /// was of no interest). A client's event backlog is the ring from here: nothing is
    /// copied per client.
    pub cursor: u64,
    /// Replies (answers, notices), each with the stream seq it must follow: it goes out
    /// once the cursor has passed that seq, so an `orders_response` at seq S is
    /// followed by exactly the events after S.
    pub replies: VecDeque<(u64, Frame)>,
    pub reply_bytes: usize,
    /// The driver is waiting for a Wake (nothing was left at its last take).
    pub armed: bool,
    /// Events this client was owed were dropped before it took them.
    pub lost: bool,
}

impl Session {
    pub fn subscribed(&self, t: MessageType) -> bool {
        self.subs & t.bit() != 0
    }

    /// Subscribed types, in the seed's order, as wire names.
    pub fn subscribed_names(&self) -> Vec<String> {
        MessageType::ALL.into_iter().filter(|t| self.subscribed(*t)).map(|t| t.as_str().to_owned()).collect()
    }

    /// May this client subscribe to type `t`?
    pub fn may_subscribe(&self, t: MessageType) -> bool {
        self.claims.as_ref().is_none_or(|c| c.allows_type(t))
    }

    /// May this client see an event of type `t` about `account`? Order data that names
    /// no account goes only to clients that may see every account; events that are not
    /// about an account (market data, connectivity) go to everyone allowed the type.
    pub fn may_see(&self, t: MessageType, account: Option<&str>) -> bool {
        match &self.claims {
            None => true,
            Some(c) => {
                c.allows_type(t)
                    && match account {
                        Some(a) => c.allows_account(a),
                        None => !t.is_order() || c.allows_all_accounts(),
                    }
            }
        }
    }

    /// May this client see this event from the ring (its type's scope, its account,
    /// and an event about an unknown account only with every account allowed)?
    pub fn may_see_event(&self, e: &super::RingEvent) -> bool {
        self.may_see(e.kind, e.account.as_deref())
            && (!e.all_accounts_only || self.claims.as_ref().is_none_or(|c| c.allows_all_accounts()))
    }

    /// May this client see order rows (`get_orders`)? Only with an order type in its
    /// scope.
    pub fn may_see_orders(&self) -> bool {
        MessageType::ALL.into_iter().any(|t| t.is_order() && self.may_subscribe(t))
    }

    /// May this client see this order row?
    pub fn may_see_order_row(&self, account: Option<&str>) -> bool {
        match &self.claims {
            None => true,
            Some(c) => account.map_or_else(|| c.allows_all_accounts(), |a| c.allows_account(a)),
        }
    }
}

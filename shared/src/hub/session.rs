//! One connected client as the hub sees it.

use std::collections::VecDeque;

use super::{Frame, TokenBucket};
use crate::auth::Claims;
use crate::protocol::MessageType;

/// Per-client state: identity, subscriptions, limits and the bounded outbound queue.
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
    pub queue: VecDeque<Frame>,
    pub queue_bytes: usize,
}

impl Session {
    pub fn subscribed(&self, t: MessageType) -> bool {
        self.subs & t.bit() != 0
    }

    /// Subscribed types, in the seed's order, as wire names.
    pub fn subscribed_names(&self) -> Vec<String> {
        MessageType::ALL.into_iter().filter(|t| self.subscribed(*t)).map(|t| t.as_str().to_owned()).collect()
    }

    /// May this client see an event of type `t` about `account`?
    pub fn may_see(&self, t: MessageType, account: Option<&str>) -> bool {
        match &self.claims {
            None => true,
            Some(c) => c.allows_type(t) && account.is_none_or(|a| c.allows_account(a)),
        }
    }

    pub fn may_see_account(&self, account: Option<&str>) -> bool {
        match (&self.claims, account) {
            (Some(c), Some(a)) => c.allows_account(a),
            _ => true,
        }
    }
}

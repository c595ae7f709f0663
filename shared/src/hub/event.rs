//! An event serialized once and shared by every recipient.

use std::sync::Arc;

use crate::protocol::{MessageType, ServerFrame};

/// A frame as the transports carry it: shared text, cloned by reference count.
pub type Frame = Arc<str>;

/// A stamped event, with its wire text computed once.
#[derive(Debug)]
pub struct StampedEvent {
    pub frame: ServerFrame,
    pub kind: MessageType,
    pub epoch: String,
    pub seq: u64,
    pub account: Option<String>,
    pub json: Frame,
}

impl StampedEvent {
    /// Wraps a stamped event frame; `None` if `frame` is not an event or has no position.
    pub fn new(frame: ServerFrame) -> Option<Arc<StampedEvent>> {
        let kind = frame.event_type()?;
        let (epoch, seq) = frame.position()?;
        let (epoch, seq) = (epoch.to_owned(), seq);
        let account = frame.account().map(str::to_owned);
        let json: Frame = frame.to_json().into();
        Some(Arc::new(StampedEvent { frame, kind, epoch, seq, account, json }))
    }
}

/// What the replay ring keeps of an event: its wire text and what a client's filters
/// look at. The parsed frame is needed once, when the event is published (the order
/// and account tables take their copy then); keeping it for every event in the ring
/// would hold each event about twice over.
#[derive(Clone, Debug)]
pub struct RingEvent {
    pub seq: u64,
    pub kind: MessageType,
    pub account: Option<Box<str>>,
    /// About an account the hub could not name (an order's error, for an order it
    /// does not know): only clients allowed every account may see it.
    pub all_accounts_only: bool,
    pub json: Frame,
}

impl From<&StampedEvent> for RingEvent {
    fn from(e: &StampedEvent) -> Self {
        RingEvent {
            seq: e.seq,
            kind: e.kind,
            account: e.account.as_deref().map(Into::into),
            all_accounts_only: false,
            json: e.json.clone(),
        }
    }
}

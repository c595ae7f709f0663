//! What a stream of published events may look like, checked before anything is applied.
//!
//! A hub's stream comes from one source (on the bridge, its own hub stamps each event
//! in `Hub::originate`; on a relay, a bridge it does not trust). Every hub operation
//! walks only what the hub holds, but a position a peer chose still ends up in cursors,
//! `welcome` frames and every client's `seq`; so the position itself must be one the
//! protocol defines:
//!
//! - within an epoch, each event is exactly the head + 1;
//! - an event at or below the head, no further back than the replay window, is a
//!   resend (a bridge replaying what it had in flight after a reconnect): dropped;
//! - anything else is refused and never applied: a gap, a seq further back than the
//!   window, an epoch other than the stream's (a new epoch starts only with a
//!   snapshot), or a seq beyond 2^53 - 1, the largest integer a JavaScript client
//!   reads exactly (a snapshot's seq has the same bound).

/// The largest seq a stream may reach: `Number.MAX_SAFE_INTEGER`, so every client
/// (JavaScript ones included) reads positions exactly, and `seq + 1` never overflows.
pub const MAX_SAFE_SEQ: u64 = (1 << 53) - 1;

/// Why a published event (or a snapshot) was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamViolation {
    /// The seq skips ahead of head + 1.
    Gap { head: u64, seq: u64 },
    /// The seq is further behind the head than the replay window.
    TooFarBehind { head: u64, seq: u64 },
    /// The event names another epoch; a new epoch begins only with a snapshot.
    EpochWithoutSnapshot,
    /// The seq is above [`MAX_SAFE_SEQ`].
    UnsafeSeq { seq: u64 },
}

impl StreamViolation {
    /// A short description for logs and close frames (no bodies, no epochs).
    pub fn reason(self) -> &'static str {
        match self {
            StreamViolation::Gap { .. } => "event seq skips ahead of the stream head",
            StreamViolation::TooFarBehind { .. } => "event seq is behind the replay window",
            StreamViolation::EpochWithoutSnapshot => "a new epoch must begin with a snapshot",
            StreamViolation::UnsafeSeq { .. } => "seq above 2^53-1",
        }
    }
}

/// What to do with a published event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The next event: apply it.
    Next,
    /// A resend of an event the stream already has: drop it.
    Duplicate,
    /// Refuse it (and, on a relay, the bridge that sent it).
    Refuse(StreamViolation),
}

/// Checks an event at `(epoch, seq)` against a stream at `(head_epoch, head)` that
/// keeps a replay window of `window` events.
pub fn check_event(head_epoch: &str, head: u64, window: u64, epoch: &str, seq: u64) -> Verdict {
    if seq > MAX_SAFE_SEQ {
        return Verdict::Refuse(StreamViolation::UnsafeSeq { seq });
    }
    if epoch != head_epoch {
        return Verdict::Refuse(StreamViolation::EpochWithoutSnapshot);
    }
    if seq == head + 1 {
        Verdict::Next
    } else if seq > head {
        Verdict::Refuse(StreamViolation::Gap { head, seq })
    } else if head - seq < window.max(1) {
        Verdict::Duplicate
    } else {
        Verdict::Refuse(StreamViolation::TooFarBehind { head, seq })
    }
}

/// Checks a snapshot's position: any epoch, any seq up to [`MAX_SAFE_SEQ`].
pub fn check_snapshot(seq: u64) -> Result<(), StreamViolation> {
    if seq > MAX_SAFE_SEQ {
        return Err(StreamViolation::UnsafeSeq { seq });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_next_seq_of_the_same_epoch_applies() {
        assert_eq!(check_event("e", 5, 10, "e", 6), Verdict::Next);
        assert_eq!(check_event("e", 0, 10, "e", 1), Verdict::Next);
        assert_eq!(check_event("e", 5, 10, "e", 5), Verdict::Duplicate);
        assert_eq!(check_event("e", 15, 10, "e", 6), Verdict::Duplicate);
        assert_eq!(
            check_event("e", 15, 10, "e", 5),
            Verdict::Refuse(StreamViolation::TooFarBehind { head: 15, seq: 5 })
        );
        assert_eq!(check_event("e", 5, 10, "e", 7), Verdict::Refuse(StreamViolation::Gap { head: 5, seq: 7 }));
        assert_eq!(check_event("e", 5, 10, "f", 6), Verdict::Refuse(StreamViolation::EpochWithoutSnapshot));
        assert_eq!(
            check_event("e", MAX_SAFE_SEQ, 10, "e", u64::MAX),
            Verdict::Refuse(StreamViolation::UnsafeSeq { seq: u64::MAX })
        );
        assert_eq!(check_event("e", MAX_SAFE_SEQ - 1, 10, "e", MAX_SAFE_SEQ), Verdict::Next);
        assert!(check_snapshot(MAX_SAFE_SEQ).is_ok());
        assert!(check_snapshot(MAX_SAFE_SEQ + 1).is_err());
    }
}

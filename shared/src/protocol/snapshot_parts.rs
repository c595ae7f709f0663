//! Snapshots too large for one uplink frame travel in parts.
//!
//! A bridge's snapshot grows with the account: 10,000 orders are about 3 MB of JSON,
//! while a relay caps every inbound frame (64 KiB by default, the same cap clients
//! get, so an unauthenticated peer can never make it buffer more). The bridge
//! therefore splits a large snapshot into `snapshot_part` frames that each fit
//! ([`split`]), and the relay reassembles them ([`SnapshotAssembler`]) and applies the
//! whole snapshot only when the last part arrives, so no client ever sees half of one.
//! A snapshot that fits is sent as one `snapshot` frame, as before.

use serde::{Deserialize, Serialize};

use super::{AccountState, BridgeFrame, OrderData, Snapshot};

/// One part of a snapshot; every part of one snapshot names the same position.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SnapshotPart {
    pub epoch: String,
    pub seq: u64,
    pub orders: Vec<OrderData>,
    #[serde(default)]
    pub accounts: Vec<AccountState>,
    #[serde(default)]
    pub source_connected: bool,
    /// The snapshot is complete with this part.
    pub last: bool,
}

/// The frames that carry `snap`, each at most about `max_bytes` of JSON (a single
/// order larger than that still goes, alone in its part).
pub fn split(snap: Snapshot, max_bytes: usize) -> Vec<BridgeFrame> {
    let whole = serde_json::to_string(&snap).map_or(usize::MAX, |s| s.len());
    if whole <= max_bytes {
        return vec![BridgeFrame::Snapshot(snap)];
    }
    let part = |orders: Vec<OrderData>, accounts: Vec<AccountState>| SnapshotPart {
        epoch: snap.epoch.clone(),
        seq: snap.seq,
        orders,
        accounts,
        source_connected: snap.source_connected,
        last: false,
    };
    // room for the envelope: type, epoch, seq, flags
    let budget = max_bytes.saturating_sub(200 + snap.epoch.len()).max(1);
    let mut parts = Vec::new();
    let mut accounts = snap.accounts.clone();
    // accounts first, in parts of their own if they are large
    let mut acc_part = Vec::new();
    let mut acc_size = 0;
    for a in accounts.drain(..) {
        let n = serde_json::to_string(&a).map_or(0, |s| s.len()) + 1;
        if acc_size + n > budget && !acc_part.is_empty() {
            parts.push(part(vec![], std::mem::take(&mut acc_part)));
            acc_size = 0;
        }
        acc_size += n;
        acc_part.push(a);
    }
    let mut orders = Vec::new();
    let mut size = acc_size;
    for o in &snap.orders {
        let n = serde_json::to_string(o).map_or(0, |s| s.len()) + 1;
        if size + n > budget && !(orders.is_empty() && acc_part.is_empty()) {
            parts.push(part(std::mem::take(&mut orders), std::mem::take(&mut acc_part)));
            size = 0;
        }
        size += n;
        orders.push(o.clone());
    }
    parts.push(part(orders, acc_part));
    if let Some(p) = parts.last_mut() {
        p.last = true;
    }
    parts.into_iter().map(BridgeFrame::SnapshotPart).collect()
}

/// Why a part was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum AssemblyError {
    /// The parts hold more orders (or accounts) than the relay keeps.
    TooLarge,
}

/// Reassembles snapshot parts on the relay, within a bound.
#[derive(Debug)]
pub struct SnapshotAssembler {
    pending: Option<Snapshot>,
    max_rows: usize,
}

impl SnapshotAssembler {
    /// Refuses a snapshot with more than `max_rows` orders plus accounts.
    pub fn new(max_rows: usize) -> Self {
        SnapshotAssembler { pending: None, max_rows }
    }

    /// Adds a part; the whole snapshot once its last part arrived. A part of another
    /// position than the pending one starts over (the bridge reconnected and began a
    /// new snapshot).
    pub fn push(&mut self, part: SnapshotPart) -> Result<Option<Snapshot>, AssemblyError> {
        let fresh = || Snapshot {
            epoch: part.epoch.clone(),
            seq: part.seq,
            orders: Vec::new(),
            accounts: Vec::new(),
            source_connected: part.source_connected,
        };
        let p = match &mut self.pending {
            Some(p) if p.epoch == part.epoch && p.seq == part.seq => p,
            slot => slot.insert(fresh()),
        };
        if p.orders.len() + p.accounts.len() + part.orders.len() + part.accounts.len() > self.max_rows {
            self.pending = None;
            return Err(AssemblyError::TooLarge);
        }
        p.orders.extend(part.orders);
        p.accounts.extend(part.accounts);
        p.source_connected = part.source_connected;
        if part.last {
            return Ok(self.pending.take());
        }
        Ok(None)
    }

    /// Forgets a half-received snapshot (the bridge went away).
    pub fn reset(&mut self) {
        self.pending = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Num;

    fn order(i: i64) -> OrderData {
        OrderData {
            order_id: i,
            symbol: "AAPL".into(),
            action: "BUY".into(),
            quantity: Num(100.0),
            order_type: "LMT".into(),
            status: "Submitted".into(),
            perm_id: Some(1_000_000 + i),
            account: Some("DU1".into()),
            order_ref: Some(format!("ref-{i}")),
            ..Default::default()
        }
    }

    fn snapshot(n: i64) -> Snapshot {
        Snapshot {
            epoch: "e".into(),
            seq: 42,
            orders: (0..n).map(order).collect(),
            accounts: vec![AccountState { account: "DU1".into(), ..Default::default() }],
            source_connected: true,
        }
    }

    #[test]
    fn small_snapshots_stay_one_frame() {
        assert!(matches!(split(snapshot(3), 64 * 1024).as_slice(), [BridgeFrame::Snapshot(_)]));
    }

    #[test]
    fn large_snapshots_split_under_the_cap_and_reassemble_whole() {
        let snap = snapshot(10_000);
        let frames = split(snap.clone(), 64 * 1024);
        assert!(frames.len() > 20, "{} parts", frames.len());
        let mut asm = SnapshotAssembler::new(20_000);
        let mut done = None;
        for (i, f) in frames.iter().enumerate() {
            let text = serde_json::to_string(f).unwrap();
            assert!(text.len() <= 64 * 1024, "part {i} is {} bytes", text.len());
            let BridgeFrame::SnapshotPart(p) = serde_json::from_str(&text).unwrap() else { panic!("a part") };
            let r = asm.push(p).unwrap();
            assert_eq!(r.is_some(), i == frames.len() - 1, "complete only at the last part");
            done = r.or(done);
        }
        assert_eq!(done.unwrap(), snap);
    }

    #[test]
    fn assembly_is_bounded_and_restarts_on_a_new_position() {
        let frames = split(snapshot(2_000), 16 * 1024);
        let mut asm = SnapshotAssembler::new(1_000);
        let mut refused = false;
        for f in frames {
            let BridgeFrame::SnapshotPart(p) = f else { panic!() };
            if asm.push(p) == Err(AssemblyError::TooLarge) {
                refused = true;
                break;
            }
        }
        assert!(refused);
        // a part of another position discards what was pending
        let mut asm = SnapshotAssembler::new(10_000);
        let first = SnapshotPart { epoch: "e".into(), seq: 1, orders: vec![order(1)], ..Default::default() };
        assert_eq!(asm.push(first), Ok(None));
        let other =
            SnapshotPart { epoch: "e".into(), seq: 2, orders: vec![order(2)], last: true, ..Default::default() };
        let s = asm.push(other).unwrap().unwrap();
        assert_eq!((s.seq, s.orders.len()), (2, 1));
    }
}

//! Buffers the write path reuses, one set per thread.
//!
//! Every delivery formats a WebSocket frame (and, over TLS, seals a record) into a
//! buffer that lives only until the socket has taken it. Allocating and freeing one per
//! delivery per connection is a malloc and a free a million times a second at full
//! fan-out; keeping one per connection would cost every idle connection its size. A
//! thread's buffer is taken for one write and given back after it, so it serves every
//! connection the thread runs. A write that waits for its socket keeps the buffer it
//! took; the next write on that thread starts a new one, and the larger of the two
//! that come back is kept (never more than [`MAX_KEPT`] bytes).
//! The buffers of different kinds are separate: a TLS write runs inside a WebSocket
//! write.

use std::cell::Cell;
use std::thread::LocalKey;

use ibws_shared::hub::Frame;

/// The most a thread keeps per kind of buffer: a write chunk and its framing.
pub const MAX_KEPT: usize = 64 * 1024 + 1024;

thread_local! {
    static FRAMES: Cell<Vec<Frame>> = const { Cell::new(Vec::new()) };
    static WS_BYTES: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    static TLS_BYTES: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// The hub's frames taken for one write.
pub fn frames() -> Vec<Frame> {
    take(&FRAMES)
}

/// Gives back what [`frames`] handed out (the frames still in it are dropped).
pub fn give_frames(v: Vec<Frame>) {
    give(&FRAMES, v)
}

/// WebSocket frames being formatted for one write.
pub fn ws_bytes() -> Vec<u8> {
    take(&WS_BYTES)
}

/// Gives back what [`ws_bytes`] handed out.
pub fn give_ws_bytes(v: Vec<u8>) {
    give(&WS_BYTES, v)
}

/// A TLS record being sealed for one write.
pub fn tls_bytes() -> Vec<u8> {
    take(&TLS_BYTES)
}

/// Gives back what [`tls_bytes`] handed out.
pub fn give_tls_bytes(v: Vec<u8>) {
    give(&TLS_BYTES, v)
}

fn take<T>(key: &'static LocalKey<Cell<Vec<T>>>) -> Vec<T> {
    // a thread being torn down has no buffer to lend
    key.try_with(Cell::take).unwrap_or_default()
}

fn give<T>(key: &'static LocalKey<Cell<Vec<T>>>, mut v: Vec<T>) {
    if v.capacity() * std::mem::size_of::<T>() > MAX_KEPT {
        return;
    }
    v.clear();
    let _ = key.try_with(|c| {
        let held = c.take();
        c.set(if held.capacity() > v.capacity() { held } else { v });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_given_back_is_lent_again_empty_and_a_huge_one_is_not_kept() {
        let mut v = ws_bytes();
        v.extend_from_slice(&[1; 1000]);
        let cap = v.capacity();
        give_ws_bytes(v);
        let v = ws_bytes();
        assert!(v.is_empty());
        assert_eq!(v.capacity(), cap);
        // two lent at once (a write waiting on its socket): the larger comes back
        let w = ws_bytes();
        assert_eq!(w.capacity(), 0);
        give_ws_bytes(w);
        give_ws_bytes(v);
        assert_eq!(ws_bytes().capacity(), cap);
        // the kinds do not share
        assert_eq!(tls_bytes().capacity(), 0);
        give_tls_bytes(vec![0; MAX_KEPT + 1]);
        assert_eq!(tls_bytes().capacity(), 0);
    }
}

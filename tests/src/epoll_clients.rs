//! Many plain WebSocket clients read by one OS thread with epoll, for latency
//! measurement.
//!
//! A latency sample is meant to time the server, not the client. With one tokio task
//! per client, the moment a client "has" a message also includes the load generator's
//! own work: waking a worker, scheduling 100 tasks, tungstenite's per-message buffers.
//! On a 2-core machine that runs the server too, that work competes with the server's
//! fan-out and lands in the samples. Here one thread waits on every socket at once,
//! stamps each read as it returns, and finds frames in place: the stamp is when the
//! bytes reached this process.
//!
//! Blocking std sockets for the handshake, non-blocking ones under epoll afterwards.
//! Text frames are handed out; pings are answered; a close frame or the end of the
//! stream ends that client. Continuation frames are not joined (the bridge sends every
//! message as one frame): a message that came fragmented would count as not delivered.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use ibws_bridge::server::ws_frames::unmask;

/// One client's connection and what it has read but not yet handed out.
pub struct EpollClient {
    sock: TcpStream,
    buf: Vec<u8>,
    ended: bool,
}

/// A frame found in a client's buffer: its opcode and where its payload is.
struct Found {
    opcode: u8,
    payload: std::ops::Range<usize>,
    end: usize,
}

/// The first whole frame in `buf` (a server's frames are unmasked).
fn find_frame(buf: &[u8]) -> Option<Found> {
    if buf.len() < 2 {
        return None;
    }
    let opcode = buf[0] & 0x0f;
    let (len, head) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
        127 if buf.len() >= 10 => (u64::from_be_bytes(buf[2..10].try_into().ok()?) as usize, 10),
        126 | 127 => return None,
        n => (n as usize, 2),
    };
    let end = head + len;
    (buf.len() >= end).then_some(Found { opcode, payload: head..end, end })
}

/// A client frame: masked, as RFC 6455 requires of clients, with `fin` and `opcode` as
/// given (the frame tests send broken and fragmented ones with it too).
pub fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x5a, 0xc3, 0x3c, 0xa5];
    let mut out = vec![(if fin { 0x80 } else { 0 }) | opcode];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= u16::MAX as usize => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    let body = out.len();
    out.extend_from_slice(payload);
    // masking is the same XOR as the server's unmasking
    unmask(&mut out[body..], mask);
    out
}

impl EpollClient {
    /// Opens `ws://addr{path}` (blocking, within `timeout`).
    pub fn connect(addr: SocketAddr, path: &str, timeout: Duration) -> io::Result<EpollClient> {
        let mut sock = TcpStream::connect_timeout(&addr, timeout)?;
        sock.set_nodelay(true)?;
        sock.set_read_timeout(Some(timeout))?;
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        sock.write_all(req.as_bytes())?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            let n = sock.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed during the upgrade"));
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        if !buf.starts_with(b"HTTP/1.1 101") {
            let status = String::from_utf8_lossy(&buf[..head_end.min(40)]).into_owned();
            return Err(io::Error::other(format!("upgrade refused: {status}")));
        }
        buf.drain(..head_end);
        Ok(EpollClient { sock, buf, ended: false })
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: &str) -> io::Result<()> {
        self.sock.write_all(&client_frame(true, 0x1, text.as_bytes()))
    }

    /// Reads (blocking) until a text message for which `want` is true; the messages
    /// before it are dropped.
    pub fn read_until(&mut self, mut want: impl FnMut(&str) -> bool) -> io::Result<()> {
        let mut found = false;
        let mut chunk = [0u8; 4096];
        loop {
            self.take_frames(&mut |t| {
                found = found || want(t);
                found
            })?;
            if found {
                return Ok(());
            }
            if self.ended {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed before the awaited message"));
            }
            let n = self.sock.read(&mut chunk)?;
            if n == 0 {
                self.ended = true;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Hands out the whole text frames in the buffer until `on` says stop; answers
    /// pings; a close frame ends the client.
    fn take_frames(&mut self, on: &mut dyn FnMut(&str) -> bool) -> io::Result<()> {
        let mut at = 0;
        while let Some(f) = find_frame(&self.buf[at..]) {
            let payload = &self.buf[at + f.payload.start..at + f.payload.end];
            at += f.end;
            match f.opcode {
                0x1 if on(std::str::from_utf8(payload).unwrap_or("")) => break,
                0x8 => {
                    self.ended = true;
                    break;
                }
                0x9 => {
                    let pong = client_frame(true, 0xa, payload);
                    self.sock.write_all(&pong)?;
                }
                _ => {}
            }
        }
        self.buf.drain(..at);
        Ok(())
    }
}

/// Reads every client on this thread until each is done (`on` returned true for it,
/// with the client's index, the text and when its read returned), has ended, or
/// `deadline` passes.
pub fn read_all(
    clients: &mut [EpollClient],
    deadline: Instant,
    mut on: impl FnMut(usize, &str, Instant) -> bool,
) -> io::Result<()> {
    // SAFETY: plain epoll calls on descriptors these clients own for the whole call;
    // the epoll descriptor is closed before returning.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(io::Error::last_os_error());
    }
    struct Epoll(i32);
    impl Drop for Epoll {
        fn drop(&mut self) {
            unsafe { libc::close(self.0) };
        }
    }
    let ep = Epoll(ep);
    let mut done = vec![false; clients.len()];
    let mut left = clients.len();
    for (i, c) in clients.iter_mut().enumerate() {
        c.sock.set_nonblocking(true)?;
        let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: i as u64 };
        if unsafe { libc::epoll_ctl(ep.0, libc::EPOLL_CTL_ADD, c.sock.as_raw_fd(), &mut ev) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; clients.len().max(1)];
    let mut chunk = vec![0u8; 64 * 1024];
    while left > 0 {
        let wait = deadline.saturating_duration_since(Instant::now());
        if wait.is_zero() {
            break;
        }
        let ms = wait.as_millis().clamp(1, 1000) as i32;
        let n = unsafe { libc::epoll_wait(ep.0, events.as_mut_ptr(), events.len() as i32, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for ev in &events[..n as usize] {
            let i = ev.u64 as usize;
            let c = &mut clients[i];
            if done[i] {
                continue;
            }
            let got = match c.sock.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(_) => 0,
            };
            let at = Instant::now();
            if got == 0 {
                c.ended = true;
            }
            c.buf.extend_from_slice(&chunk[..got]);
            let mut finished = false;
            c.take_frames(&mut |t| {
                finished = on(i, t, at);
                finished
            })?;
            if finished || c.ended {
                done[i] = true;
                left -= 1;
                let fd = c.sock.as_raw_fd();
                unsafe { libc::epoll_ctl(ep.0, libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut()) };
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_found_whole_at_every_length_form() {
        for len in [0usize, 5, 125, 126, 300, 65_535, 65_536] {
            let mut f = vec![0x81];
            match len {
                n if n < 126 => f.push(n as u8),
                n if n <= 65_535 => {
                    f.push(126);
                    f.extend_from_slice(&(n as u16).to_be_bytes());
                }
                n => {
                    f.push(127);
                    f.extend_from_slice(&(n as u64).to_be_bytes());
                }
            }
            f.extend(std::iter::repeat_n(b'x', len));
            let found = find_frame(&f).expect("whole frame");
            assert_eq!((found.opcode, found.payload.len(), found.end), (1, len, f.len()));
            assert!(find_frame(&f[..f.len() - 1]).is_none(), "a frame one byte short is not whole");
        }
    }
}

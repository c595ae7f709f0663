//! The connection handshake, both sides.
//!
//! Client: `API\0`, then one length-prefixed string `v<min>..<max>`. Server: one frame
//! with its version and connection time. Nothing is usable until the client then
//! sends startApi and receives nextValidId.

use super::frame::encode_frame;
use super::versions::{MAX_CLIENT_VERSION, MIN_CLIENT_VERSION};

/// The bytes a client sends first: the range `v157..max` (`max` at most
/// [`MAX_CLIENT_VERSION`], at least [`MIN_CLIENT_VERSION`]).
pub fn client_hello(max: i32) -> Vec<u8> {
    let max = max.clamp(MIN_CLIENT_VERSION, MAX_CLIENT_VERSION);
    let mut out = b"API\0".to_vec();
    let range = format!("v{MIN_CLIENT_VERSION}..{max}");
    out.extend_from_slice(&(range.len() as u32).to_be_bytes());
    out.extend_from_slice(range.as_bytes());
    out
}

/// Parses the server's answer frame: (server version, connection time).
pub fn parse_server_hello(fields: &[crate::frame::Field<'_>]) -> Option<(i32, String)> {
    match fields {
        [v, t, ..] => {
            let v: i32 = v.parse().ok()?;
            (MIN_CLIENT_VERSION..=MAX_CLIENT_VERSION).contains(&v).then(|| (v, t.to_string()))
        }
        _ => None,
    }
}

/// The server side: parses `v<min>..<max>[ options]` from the client's first frame.
pub fn parse_client_range(payload: &[u8]) -> Option<(i32, i32)> {
    let s = std::str::from_utf8(payload).ok()?;
    let s = s.strip_prefix('v')?;
    let range = s.split(' ').next()?;
    let (a, b) = range.split_once("..")?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// The server's answer frame.
pub fn server_hello(version: i32, connection_time: &str) -> Vec<u8> {
    encode_frame(&[version.to_string(), connection_time.to_owned()])
}

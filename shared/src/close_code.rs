//! WebSocket close codes and what a client should do about each (also re-exported as
//! `protocol::CloseCode`).
//!
//! | code | name | client action |
//! |------|------|---------------|
//! | 1000 | normal | none: the client asked for it |
//! | 1001 | going away | reconnect with backoff |
//! | 4000 | server restarting | reconnect with backoff |
//! | 4001 | slow consumer | reconnect with backoff, then `resume` |
//! | 4002 | heartbeat timeout | reconnect with backoff, then `resume` |
//! | 4003 | rate limited | reconnect with backoff (longer) |
//! | 4004 | source reset | reconnect with backoff, take a fresh snapshot |
//! | 4005 | stream refused | (bridges) reconnect with backoff and begin with a snapshot: an event broke the stream's rules (a gap, a seq out of range, an epoch without a snapshot) |
//! | 4500 | invalid token | stop until the token changes |
//! | 4501 | token expired | get a new token, then reconnect |
//! | 4502 | forbidden | stop: the token's scope does not allow this |
//! | 4503 | connection limit | stop until connections are released |
//! | 4504 | origin not allowed | stop: the page's origin is not on the allowlist |
//! | 4505 | auth required | stop: the endpoint needs `auth` first, within the deadline |
//! | 4506 | unsupported data | stop: binary frames are not part of the protocol |
//! | 4507 | message too big | stop: a frame exceeded the size limit |
//!
//! The rule a client needs: 4000-4499 reconnect with backoff; 4500-4999 do not
//! reconnect until something changes (4501 is the one to recover from automatically,
//! by fetching a fresh token).

/// A close code from the table above.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum CloseCode {
    Normal = 1000,
    GoingAway = 1001,
    ServerRestarting = 4000,
    SlowConsumer = 4001,
    HeartbeatTimeout = 4002,
    RateLimited = 4003,
    SourceReset = 4004,
    StreamRefused = 4005,
    InvalidToken = 4500,
    TokenExpired = 4501,
    Forbidden = 4502,
    ConnectionLimit = 4503,
    OriginNotAllowed = 4504,
    AuthRequired = 4505,
    UnsupportedData = 4506,
    MessageTooBig = 4507,
}

impl CloseCode {
    pub const ALL: [CloseCode; 16] = [
        CloseCode::Normal,
        CloseCode::GoingAway,
        CloseCode::ServerRestarting,
        CloseCode::SlowConsumer,
        CloseCode::HeartbeatTimeout,
        CloseCode::RateLimited,
        CloseCode::SourceReset,
        CloseCode::StreamRefused,
        CloseCode::InvalidToken,
        CloseCode::TokenExpired,
        CloseCode::Forbidden,
        CloseCode::ConnectionLimit,
        CloseCode::OriginNotAllowed,
        CloseCode::AuthRequired,
        CloseCode::UnsupportedData,
        CloseCode::MessageTooBig,
    ];

    pub fn code(self) -> u16 {
        self as u16
    }

    pub fn from_code(code: u16) -> Option<CloseCode> {
        CloseCode::ALL.into_iter().find(|c| c.code() == code)
    }

    /// Whether a client should reconnect (with backoff) after this code. Works on raw
    /// codes too, so unknown codes in the ranges follow the range rule.
    pub fn should_reconnect(code: u16) -> bool {
        match code {
            1000 => false,
            4000..=4499 => true,
            4500..=4999 => false,
            // 1001 going away, 1006 abnormal, 1011 server error, 1012 restart, ...
            _ => true,
        }
    }

    /// A short reason string for the close frame (no secrets, no bodies).
    pub fn reason(self) -> &'static str {
        match self {
            CloseCode::Normal => "normal closure",
            CloseCode::GoingAway => "going away",
            CloseCode::ServerRestarting => "server restarting",
            CloseCode::SlowConsumer => "slow consumer",
            CloseCode::HeartbeatTimeout => "heartbeat timeout",
            CloseCode::RateLimited => "rate limited",
            CloseCode::SourceReset => "source reset",
            CloseCode::StreamRefused => "stream refused",
            CloseCode::InvalidToken => "invalid token",
            CloseCode::TokenExpired => "token expired",
            CloseCode::Forbidden => "forbidden",
            CloseCode::ConnectionLimit => "connection limit",
            CloseCode::OriginNotAllowed => "origin not allowed",
            CloseCode::AuthRequired => "auth required",
            CloseCode::UnsupportedData => "unsupported data",
            CloseCode::MessageTooBig => "message too big",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_the_table() {
        for c in CloseCode::ALL {
            let n = c.code();
            assert_eq!(CloseCode::from_code(n), Some(c));
            if (4000..4500).contains(&n) {
                assert!(CloseCode::should_reconnect(n));
            }
            if n >= 4500 {
                assert!(!CloseCode::should_reconnect(n));
            }
        }
    }
}

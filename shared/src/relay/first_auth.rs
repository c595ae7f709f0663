//! A client's first message where a token is required and none came with the upgrade.
//!
//! A client that cannot put its token in a `bearer.` subprotocol sends
//! `{"type":"auth","token":...}` as its first frame. Two places meet such a client: the
//! native relay, which must read the token before it knows which tenant's hub the
//! client belongs to, and the [`Hub`](crate::hub::Hub) itself, which keeps an
//! unauthenticated session until the token comes (the edge relay, whose tenant is in
//! the URL, and the bridge's remote endpoint). Both ask [`verdict`] and refuse with
//! [`refusal`], so a client hears the same answer, in the same words, from every relay:
//!
//! - the first frame must be text and parse as `auth`; anything else (another command,
//!   JSON that is not a message, a binary frame, a frame over the size limit) is
//!   refused, and nothing else the client sent is looked at;
//! - the token is verified once; a refusal carries the token's close code (4500
//!   invalid, 4501 expired) and an `error` frame saying why, sent before the close
//!   frame because a browser sees nothing else;
//! - no first frame by the configured deadline ([`crate::hub::HubConfig::auth_deadline_ms`]):
//!   4503, with the same error frame.

use crate::auth::{Claims, TokenVerifier};
use crate::protocol::{ClientMessage, CloseCode};

/// What came first on the socket.
#[derive(Clone, Copy, Debug)]
pub enum First<'a> {
    Text(&'a str),
    Binary,
    /// A frame over the endpoint's size limit (its content never read).
    TooBig,
}

/// Whether `first` lets the client in: its verified claims, or the close code.
pub fn verdict(first: First, verifier: &dyn TokenVerifier, unix_secs: u64) -> Result<Claims, CloseCode> {
    match first {
        First::Binary => Err(CloseCode::UnsupportedData),
        First::TooBig => Err(CloseCode::MessageTooBig),
        First::Text(text) => match ClientMessage::parse(text) {
            Ok(ClientMessage::Auth { token }) => verifier.verify(&token, unix_secs).map_err(|e| e.close_code()),
            _ => Err(CloseCode::AuthRequired),
        },
    }
}

/// The sentence of the `error` frame that goes before a refusal's close frame.
pub fn why(code: CloseCode) -> &'static str {
    match code {
        CloseCode::AuthRequired => "send {\"type\":\"auth\",\"token\":\"<JWT>\"} as the first message",
        CloseCode::InvalidToken => "the token was not accepted",
        CloseCode::TokenExpired => "the token has expired",
        CloseCode::UnsupportedData => "binary frames are not part of the protocol",
        CloseCode::MessageTooBig => "the message is over the size limit",
        CloseCode::Forbidden => "this token does not allow this stream",
        CloseCode::ConnectionLimit => "connection limit reached",
        CloseCode::RateLimited => "too many messages; retry later",
        other => other.reason(),
    }
}

/// The `error` frame a client refused before it was admitted gets before the close.
pub fn refusal(code: CloseCode, unix_us: i64, utc_offset_secs: i32) -> String {
    super::refusal_frame(code, why(code), unix_us, utc_offset_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::test_support::OneToken;

    #[test]
    fn only_an_auth_with_a_good_token_gets_in() {
        let v = OneToken { exp: 100 };
        assert!(verdict(First::Text(r#"{"type":"auth","token":"good"}"#), &v, 1).is_ok());
        let refused = |f| verdict(f, &v, 1).unwrap_err();
        assert_eq!(refused(First::Text(r#"{"type":"auth","token":"bad"}"#)), CloseCode::InvalidToken);
        assert_eq!(refused(First::Text(r#"{"type":"auth","token":"old"}"#)), CloseCode::TokenExpired);
        assert_eq!(refused(First::Text(r#"{"type":"ping"}"#)), CloseCode::AuthRequired);
        assert_eq!(refused(First::Text("not json")), CloseCode::AuthRequired);
        assert_eq!(refused(First::Binary), CloseCode::UnsupportedData);
        assert_eq!(refused(First::TooBig), CloseCode::MessageTooBig);
    }

    #[test]
    fn a_refusal_says_why_without_the_token() {
        let f = refusal(CloseCode::InvalidToken, 0, 0);
        let v: serde_json::Value = serde_json::from_str(&f).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error_code"], "INVALID_TOKEN");
        assert_eq!(v["message"], why(CloseCode::InvalidToken));
    }
}

//! Frames a client sends to a server.

use serde::{Deserialize, Serialize};

/// A client -> server message. `subscribe`, `unsubscribe`, `ping` and `get_orders` are
/// the seed's; `auth` and `resume` are ours.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Adds message types to the client's subscriptions. With `epoch` and `since`, it
    /// also resumes, atomically: the missed events of the new subscriptions are replayed
    /// before any live one, so nothing arrives twice or out of order.
    Subscribe {
        message_types: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        epoch: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<u64>,
    },
    /// Removes message types from the client's subscriptions.
    Unsubscribe { message_types: Vec<String> },
    /// Application-level heartbeat; answered with `pong`.
    Ping {},
    /// Asks for the current order table; answered with `orders_response`.
    GetOrders {},
    /// Presents (or refreshes) a JWT. First message on endpoints that require auth.
    Auth { token: String },
    /// Asks for every event after `since` in stream `epoch`; answered with `resume`.
    Resume { epoch: String, since: u64 },
}

/// Why a client frame was not understood. The `Display` text goes back to the client in
/// an `error` frame, so it never echoes the frame's body.
#[derive(Clone, Debug, PartialEq)]
pub enum ParseError {
    InvalidJson,
    NotAnObject,
    MissingType,
    UnknownType(String),
    InvalidFields(&'static str),
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::InvalidJson => f.write_str("invalid JSON"),
            ParseError::NotAnObject => f.write_str("message must be a JSON object"),
            ParseError::MissingType => f.write_str("message has no \"type\" field"),
            // The seed system's exact wording; the type is cut short so a hostile
            // client cannot make us echo a large payload.
            ParseError::UnknownType(t) => {
                let t: String = t.chars().take(64).collect();
                write!(f, "unknown message type: {t}")
            }
            ParseError::InvalidFields(t) => write!(f, "invalid fields for message type {t}"),
        }
    }
}

const KNOWN: [&str; 6] = ["subscribe", "unsubscribe", "ping", "get_orders", "auth", "resume"];

impl ClientMessage {
    /// Parses one text frame. serde_json's recursion limit bounds nesting, and callers
    /// bound the frame size before calling this.
    pub fn parse(text: &str) -> Result<ClientMessage, ParseError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|_| ParseError::InvalidJson)?;
        let obj = value.as_object().ok_or(ParseError::NotAnObject)?;
        let ty = obj.get("type").and_then(|t| t.as_str()).ok_or(ParseError::MissingType)?;
        let Some(known) = KNOWN.iter().find(|k| **k == ty) else {
            return Err(ParseError::UnknownType(ty.to_owned()));
        };
        serde_json::from_value(value).map_err(|_| ParseError::InvalidFields(known))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!(ClientMessage::parse(r#"{"type":"ping","x":1}"#), Ok(ClientMessage::Ping {}));
        assert_eq!(
            ClientMessage::parse(r#"{"type":"resume","epoch":"e1","since":7}"#),
            Ok(ClientMessage::Resume { epoch: "e1".into(), since: 7 })
        );
        assert_eq!(ClientMessage::parse("{"), Err(ParseError::InvalidJson));
        assert_eq!(ClientMessage::parse("[1]"), Err(ParseError::NotAnObject));
        assert_eq!(ClientMessage::parse(r#"{"a":1}"#), Err(ParseError::MissingType));
        assert_eq!(ClientMessage::parse(r#"{"type":"nope"}"#), Err(ParseError::UnknownType("nope".into())));
        assert_eq!(ClientMessage::parse(r#"{"type":"subscribe"}"#), Err(ParseError::InvalidFields("subscribe")));
        let deep = "[".repeat(10_000);
        assert_eq!(ClientMessage::parse(&deep), Err(ParseError::InvalidJson));
    }
}

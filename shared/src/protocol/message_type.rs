//! The six event types a client can subscribe to.

use serde::{Deserialize, Serialize};

/// An event stream a client may subscribe to, named as in the seed document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum MessageType {
    OrderUpdate,
    OrderNotification,
    McpOrder,
    AccountUpdate,
    MarketData,
    Error,
}

impl MessageType {
    /// Every type, in the seed document's order.
    pub const ALL: [MessageType; 6] = [
        MessageType::OrderUpdate,
        MessageType::OrderNotification,
        MessageType::McpOrder,
        MessageType::AccountUpdate,
        MessageType::MarketData,
        MessageType::Error,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::OrderUpdate => "order_update",
            MessageType::OrderNotification => "order_notification",
            MessageType::McpOrder => "mcp_order",
            MessageType::AccountUpdate => "account_update",
            MessageType::MarketData => "market_data",
            MessageType::Error => "error",
        }
    }

    /// Parses a wire name; `None` for anything else.
    pub fn parse(s: &str) -> Option<MessageType> {
        MessageType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Does this type carry order rows?
    pub fn is_order(self) -> bool {
        matches!(self, MessageType::OrderUpdate | MessageType::OrderNotification | MessageType::McpOrder)
    }

    /// A one-bit mask, for compact subscription sets.
    pub fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

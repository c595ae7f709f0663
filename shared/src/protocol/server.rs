//! Frames a server sends to a client: the seed system's replies, its six event types,
//! and our `resume` answer.
//!
//! Events carry `seq` and `epoch` (ours; absent in the seed). `seq` grows by one per
//! event of a stream; `epoch` names the stream, and changes when seqs restart.

use serde::{Deserialize, Serialize};

use super::{AccountState, MessageType, Num, OrderData};

/// Any server -> client frame, tagged by `type` as on the wire.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    Connection(Connection),
    Subscription(Subscription),
    Unsubscription(Unsubscription),
    Pong(Pong),
    OrdersResponse(OrdersResponse),
    /// Both the reply to a bad request and the `error` event type.
    Error(ErrorFrame),
    Resume(ResumeResult),
    OrderUpdate(OrderUpdate),
    OrderNotification(OrderNotification),
    McpOrder(McpOrder),
    AccountUpdate(AccountUpdate),
    MarketData(MarketData),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct Connection {
    pub status: String,
    pub message: String,
    pub timestamp: String,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// How often the server pings, and so how often a client may expect traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_interval_ms: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct Subscription {
    pub status: String,
    pub subscribed_types: Vec<String>,
    pub timestamp: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct Unsubscription {
    pub status: String,
    pub remaining_types: Vec<String>,
    pub timestamp: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct Pong {
    pub timestamp: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct OrdersResponse {
    pub data: Vec<OrderData>,
    pub timestamp: String,
    /// The stream position this table is consistent with: apply events with a higher
    /// seq on top of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
    /// False when the source (TWS, or the bridge for a relay) is not connected; the data
    /// is then the last known state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_connected: Option<bool>,
    /// Account summaries the client may see.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounts: Option<Vec<AccountState>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct ErrorFrame {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    pub timestamp: String,
    /// The numeric TWS error code, when TWS raised it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tws_code: Option<i64>,
    /// The TWS request or order id the error refers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub req_id: Option<i64>,
    /// The IB account of the order the error refers to, when the bridge knows it
    /// (account-scoped tokens see only their accounts' errors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The AI agent whose order the error refers to (an agent's rejected order, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// When TWS raised the error (server version 194 on; the format of `timestamp`).
    /// `timestamp` is when the bridge passed it on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
}

/// Answer to `resume`: either every missed event was replayed just before this frame
/// (`recovered: true`), or nothing was and the client must take a `get_orders` snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct ResumeResult {
    pub recovered: bool,
    pub epoch: String,
    pub seq: u64,
    pub replayed: u64,
    pub timestamp: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct OrderUpdate {
    pub data: OrderData,
    pub timestamp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct OrderNotification {
    /// `创建` / `修改` / `取消`, as in the seed document.
    pub action: String,
    pub data: OrderData,
    pub message: String,
    pub timestamp: String,
    /// `created` / `modified` / `cancelled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct McpOrder {
    /// `MCP创建限价单`, `MCP创建市价单`, `MCP修改订单`, `MCP取消订单`.
    pub action: String,
    pub data: OrderData,
    pub source: String,
    /// Which agent: the name it gave in the orderRef after the agent prefix (`ibws mcp`
    /// sends `mcp:<agent>`), else `client <id>` for an agent recognised by API client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    pub message: String,
    pub timestamp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct AccountUpdate {
    /// The values and positions that changed in one TWS update cycle.
    pub data: AccountState,
    pub timestamp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
}

/// Top-of-book for one watched symbol. The six book fields are always present and
/// `null` when there is no quote (TWS's -1 "no bid"); volume and close are absent until
/// TWS sent them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct Quote {
    #[serde(default)]
    pub bid: Option<Num>,
    #[serde(default)]
    pub ask: Option<Num>,
    #[serde(default)]
    pub last: Option<Num>,
    #[serde(default)]
    pub bid_size: Option<Num>,
    #[serde(default)]
    pub ask_size: Option<Num>,
    #[serde(default)]
    pub last_size: Option<Num>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<Num>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close: Option<Num>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct MarketData {
    pub symbol: String,
    pub data: Quote,
    pub timestamp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
}

impl ServerFrame {
    /// The subscribable stream this frame belongs to, if it is an event.
    /// An `error` frame is an event only when it carries a stream position.
    pub fn event_type(&self) -> Option<MessageType> {
        Some(match self {
            ServerFrame::OrderUpdate(_) => MessageType::OrderUpdate,
            ServerFrame::OrderNotification(_) => MessageType::OrderNotification,
            ServerFrame::McpOrder(_) => MessageType::McpOrder,
            ServerFrame::AccountUpdate(_) => MessageType::AccountUpdate,
            ServerFrame::MarketData(_) => MessageType::MarketData,
            ServerFrame::Error(e) if e.seq.is_some() => MessageType::Error,
            _ => return None,
        })
    }

    /// Stamps an event with its stream position.
    pub fn set_position(&mut self, epoch: &str, seq: u64) {
        let (e, s) = match self {
            ServerFrame::OrderUpdate(f) => (&mut f.epoch, &mut f.seq),
            ServerFrame::OrderNotification(f) => (&mut f.epoch, &mut f.seq),
            ServerFrame::McpOrder(f) => (&mut f.epoch, &mut f.seq),
            ServerFrame::AccountUpdate(f) => (&mut f.epoch, &mut f.seq),
            ServerFrame::MarketData(f) => (&mut f.epoch, &mut f.seq),
            ServerFrame::Error(f) => (&mut f.epoch, &mut f.seq),
            _ => return,
        };
        *e = Some(epoch.to_owned());
        *s = Some(seq);
    }

    /// The event's stream position, if stamped.
    pub fn position(&self) -> Option<(&str, u64)> {
        let (e, s) = match self {
            ServerFrame::OrderUpdate(f) => (&f.epoch, f.seq),
            ServerFrame::OrderNotification(f) => (&f.epoch, f.seq),
            ServerFrame::McpOrder(f) => (&f.epoch, f.seq),
            ServerFrame::AccountUpdate(f) => (&f.epoch, f.seq),
            ServerFrame::MarketData(f) => (&f.epoch, f.seq),
            ServerFrame::Error(f) => (&f.epoch, f.seq),
            _ => return None,
        };
        Some((e.as_deref()?, s?))
    }

    /// The order an event describes, for the hub's order table.
    pub fn order(&self) -> Option<&OrderData> {
        match self {
            ServerFrame::OrderUpdate(f) => Some(&f.data),
            ServerFrame::OrderNotification(f) => Some(&f.data),
            ServerFrame::McpOrder(f) => Some(&f.data),
            _ => None,
        }
    }

    /// The IB account an event concerns, for account scopes. `None` means the event is
    /// not account-specific (market data, connectivity errors).
    pub fn account(&self) -> Option<&str> {
        match self {
            ServerFrame::AccountUpdate(f) => Some(&f.data.account),
            ServerFrame::Error(f) => f.account.as_deref(),
            _ => self.order().and_then(|o| o.account.as_deref()),
        }
    }

    /// Serializes to the wire text. Serializing these types cannot fail.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server frames always serialize")
    }
}

//! The MCP server an agent host talks to (the official Rust SDK, `rmcp`): the tools
//! an agent expects of a broker, each a call to the bridge's pipeline ([`DeskHandle`]),
//! each recorded in the audit log. A refusal is a tool error saying why and what the
//! user can change; nothing reaches TWS.

use std::sync::Arc;
use std::time::Duration;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ContentBlock, Implementation, ListResourcesResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource, ResourceContents,
    ResourceUpdatedNotificationParam, ServerCapabilities, ServerConfig, SubscribeRequestParams, SubscriptionFilter,
};
use rmcp::service::{RequestContext, RoleServer, SubscriptionContext};
use rmcp::{tool, tool_handler, tool_router, ErrorData, ServerHandler};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::audit::AuditLog;
use super::calls::{DeskCall, DeskHandle, Ticket, View};
use super::desk::{OrderRequest, Preview, Refusal};
use crate::clock;

/// How long a preview waits for TWS's answer.
pub const PREVIEW_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
pub struct OrderArgs {
    /// Ticker of a US stock, e.g. AAPL
    pub symbol: String,
    /// BUY or SELL
    pub action: String,
    /// Number of shares
    pub quantity: f64,
    /// LMT, MKT, STP or STP LMT (the user decides which ones agents may use)
    pub order_type: String,
    /// Limit price (LMT, STP LMT)
    #[serde(default)]
    pub limit_price: Option<f64>,
    /// Stop trigger price (STP, STP LMT)
    #[serde(default)]
    pub stop_price: Option<f64>,
    /// DAY (default) or GTC
    #[serde(default)]
    pub tif: Option<String>,
    /// IB account id; needed when the login manages several
    #[serde(default)]
    pub account: Option<String>,
}

impl OrderArgs {
    fn request(&self) -> OrderRequest {
        OrderRequest {
            symbol: self.symbol.clone(),
            action: self.action.clone(),
            quantity: self.quantity,
            order_type: self.order_type.clone(),
            limit_price: self.limit_price,
            stop_price: self.stop_price,
            tif: self.tif.clone(),
            account: self.account.clone(),
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
pub struct PlaceArgs {
    #[serde(flatten)]
    pub order: OrderArgs,
    /// Any unique string for this order: a retried call with the same key places
    /// nothing new and returns the first call's order id
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// The confirmation_id a preview_order of this same order returned (required when
    /// the user asked for preview-then-confirm; valid once, for two minutes)
    #[serde(default)]
    pub confirmation_id: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
pub struct ModifyArgs {
    /// The order id place_order returned
    pub order_id: i64,
    /// New total quantity
    #[serde(default)]
    pub quantity: Option<f64>,
    /// New limit price
    #[serde(default)]
    pub limit_price: Option<f64>,
    /// New stop price
    #[serde(default)]
    pub stop_price: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
pub struct CancelArgs {
    /// The order id place_order returned
    pub order_id: i64,
}

/// The MCP server of one agent.
#[derive(Clone)]
pub struct IbwsMcp {
    desk: DeskHandle,
    /// Whether this session subscribed to its orders already (one forwarder each).
    subscribed: Arc<std::sync::atomic::AtomicBool>,
    audit: Arc<AuditLog>,
    agent: String,
    tool_router: ToolRouter<IbwsMcp>,
}

fn ok(v: &Value) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(serde_json::to_string_pretty(v).unwrap_or_default())])
}

fn refused(why: &str) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(why.to_owned())])
}

const BUSY: &str = "the bridge is busy or shutting down: nothing was placed; try again";

#[tool_router]
impl IbwsMcp {
    pub fn new(desk: DeskHandle, audit: Arc<AuditLog>, agent: String) -> IbwsMcp {
        IbwsMcp { desk, audit, agent, subscribed: Arc::default(), tool_router: Self::tool_router() }
    }

    fn record(&self, tool: &str, args: &Value, r: &Result<Value, String>) {
        let (outcome, detail) = match r {
            Ok(v) => ("ok", v.clone()),
            Err(why) => ("refused", json!(why)),
        };
        self.audit.record(clock::now().unix_us / 1000, &self.agent, tool, args, outcome, &detail);
    }

    fn answer(&self, tool: &str, args: &Value, r: Result<Value, String>) -> CallToolResult {
        self.record(tool, args, &r);
        match r {
            Ok(v) => ok(&v),
            Err(why) => refused(&why),
        }
    }

    async fn view(&self, tool: &str, v: View) -> CallToolResult {
        let r = self.desk.call(|tx| DeskCall::View(v, tx)).await.ok_or_else(|| BUSY.to_owned());
        // reads are audited without their (possibly large) results
        self.record(tool, &json!({}), &r.as_ref().map(|_| json!("read")).map_err(Clone::clone));
        match r {
            Ok(v) => ok(&v),
            Err(why) => refused(&why),
        }
    }

    #[tool(
        description = "The IB accounts this TWS login manages, with their values (net liquidation, cash, buying power, ...)."
    )]
    async fn get_accounts(&self) -> CallToolResult {
        self.view("get_accounts", View::Accounts).await
    }

    #[tool(description = "Positions of every followed account: symbol, quantity, average cost, market value, P&L.")]
    async fn get_positions(&self) -> CallToolResult {
        self.view("get_positions", View::Positions).await
    }

    #[tool(
        description = "Working orders of every source (TWS, API programs, agents) with status, filled and remaining quantity."
    )]
    async fn get_open_orders(&self) -> CallToolResult {
        self.view("get_open_orders", View::OpenOrders).await
    }

    #[tool(
        description = "This agent's own orders (placed through this server), working or done, with their latest state."
    )]
    async fn get_my_orders(&self) -> CallToolResult {
        self.view("get_my_orders", View::OwnOrders).await
    }

    #[tool(description = "Today's executions (fills) with price, quantity and commission.")]
    async fn get_executions(&self) -> CallToolResult {
        self.view("get_executions", View::Executions).await
    }

    #[tool(description = "Latest quotes (bid, ask, last, sizes) of the watched symbols.")]
    async fn get_quotes(&self) -> CallToolResult {
        self.view("get_quotes", View::Quotes).await
    }

    #[tool(
        description = "What-if preview of an order: commission and margin impact, checked against the user's limits. TWS books nothing. Returns a confirmation_id for place_order."
    )]
    async fn preview_order(&self, Parameters(a): Parameters<OrderArgs>) -> CallToolResult {
        let args = serde_json::to_value(&a).unwrap_or_default();
        let request = a.request();
        let call = self.desk.call(|tx| DeskCall::Preview { request, reply: tx });
        let r: Result<Value, String> = match tokio::time::timeout(PREVIEW_TIMEOUT, call).await {
            Err(_) => Err("TWS did not answer the preview in time: nothing was placed".into()),
            Ok(None) => Err(BUSY.into()),
            Ok(Some(Err(Refusal(why)))) => Err(why),
            Ok(Some(Ok(p))) => Ok(preview_json(&p)),
        };
        self.answer("preview_order", &args, r)
    }

    #[tool(
        description = "Place an order (only if the user turned agent trading on, within the user's limits). Pass an idempotency_key so that a retry places one order. Returns the order id; progress and fills arrive as notifications and in get_my_orders."
    )]
    async fn place_order(&self, Parameters(a): Parameters<PlaceArgs>) -> CallToolResult {
        let args = serde_json::to_value(&a).unwrap_or_default();
        let request = a.order.request();
        let (key, confirm) = (a.idempotency_key.clone(), a.confirmation_id.clone());
        let r = self
            .desk
            .call(|tx| DeskCall::Place { request, idempotency_key: key, confirmation_id: confirm, reply: tx })
            .await;
        self.answer("place_order", &args, ticket(r, "placed"))
    }

    #[tool(
        description = "Change the quantity or prices of one of this agent's working orders (checked against the limits again)."
    )]
    async fn modify_order(&self, Parameters(a): Parameters<ModifyArgs>) -> CallToolResult {
        let args = serde_json::to_value(&a).unwrap_or_default();
        let r = self
            .desk
            .call(|tx| DeskCall::Modify {
                order_id: a.order_id,
                quantity: a.quantity,
                limit_price: a.limit_price,
                stop_price: a.stop_price,
                reply: tx,
            })
            .await;
        self.answer("modify_order", &args, ticket(r, "modify sent"))
    }

    #[tool(description = "Cancel one of this agent's working orders.")]
    async fn cancel_order(&self, Parameters(a): Parameters<CancelArgs>) -> CallToolResult {
        let args = serde_json::to_value(&a).unwrap_or_default();
        let r = self.desk.call(|tx| DeskCall::Cancel { order_id: a.order_id, reply: tx }).await;
        self.answer("cancel_order", &args, ticket(r, "cancel sent"))
    }
}

fn ticket(r: Option<Result<Ticket, Refusal>>, what: &str) -> Result<Value, String> {
    match r {
        None => Err(BUSY.into()),
        Some(Err(Refusal(why))) => Err(why),
        Some(Ok(t)) if t.duplicate => Ok(json!({
            "order_id": t.order_id,
            "status": "already placed under this idempotency_key: nothing new was sent",
        })),
        Some(Ok(t)) => Ok(json!({"order_id": t.order_id, "status": what, "account": t.account})),
    }
}

fn preview_json(p: &Preview) -> Value {
    serde_json::to_value(p).unwrap_or_default()
}

/// The resource listing this agent's own orders; subscribers are told of every change.
pub const ORDERS_URI: &str = "ibws://orders";

impl IbwsMcp {
    /// Tells `notify` of every event about this agent's orders until it fails (the
    /// session is gone) or the bridge stops. A lagging session skips to the newest
    /// event: the notification only says "read the resource again".
    async fn forward_updates<F, Fut>(&self, mut notify: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let mut events = self.desk.subscribe();
        loop {
            match events.recv().await {
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    if !notify().await {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for IbwsMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder().enable_tools().enable_resources().enable_resources_subscribe().build(),
        )
        .with_server_info(Implementation::new("ibws", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "Interactive Brokers through ibws: read accounts, positions, orders, fills and quotes; \
                 preview, place, modify and cancel orders within the limits the user set. \
                 Every order you place is shown to the user's web clients as yours. \
                 Subscribe to ibws://orders to be told when any of your orders changes or fills.",
        )
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(vec![Resource::new(ORDERS_URI, "my-orders")
            .with_description("This agent's orders with their latest state; updated on every change and fill")
            .with_mime_type("application/json")]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        if request.uri != ORDERS_URI {
            return Err(ErrorData::resource_not_found(format!("no resource {}", request.uri), None));
        }
        let orders = self.desk.call(|tx| DeskCall::View(View::OwnOrders, tx)).await.unwrap_or_default();
        let text = serde_json::to_string_pretty(&orders).unwrap_or_default();
        Ok(ReadResourceResult::new(vec![ResourceContents::text(text, ORDERS_URI).with_mime_type("application/json")])
            .into())
    }

    // the subscription of protocol versions before 2026-07-28
    #[allow(deprecated)]
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if request.uri != ORDERS_URI {
            return Err(ErrorData::resource_not_found(format!("no resource {}", request.uri), None));
        }
        if self.subscribed.swap(true, std::sync::atomic::Ordering::Relaxed) {
            return Ok(());
        }
        let me = self.clone();
        let peer = context.peer.clone();
        tokio::spawn(async move {
            me.forward_updates(|| {
                let peer = peer.clone();
                async move {
                    peer.notify_resource_updated(ResourceUpdatedNotificationParam::new(ORDERS_URI)).await.is_ok()
                }
            })
            .await
        });
        Ok(())
    }

    fn accepted_subscription_filter(&self, requested: &SubscriptionFilter) -> Option<SubscriptionFilter> {
        Some(requested.supported_by(&self.get_info().capabilities))
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let sink = context.sink();
        tokio::select! {
            _ = self.forward_updates(|| async { sink.notify_resource_updated(ORDERS_URI).await.is_ok() }) => {}
            _ = context.cancelled() => {}
        }
        Ok(())
    }
}

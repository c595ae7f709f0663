//! TypeScript declarations of the wire protocol, generated from the Rust types.
//!
//! The browser package (`web/npm`) ships these as `protocol.d.ts`, so a web app's
//! types are the server's types: a field renamed or added here changes the package's
//! declarations with no hand-kept copy to drift. Integers are `number` (seqs, order
//! and perm ids stay far below 2^53).

use ts_rs::{Config, TS};

use super::*;

/// Every protocol type as `export type ...;`, in an order that reads top-down.
pub fn declarations() -> String {
    let cfg = Config::new().with_large_int("number");
    let decls = [
        MessageType::decl(&cfg),
        ServerFrame::decl(&cfg),
        OrderUpdate::decl(&cfg),
        OrderNotification::decl(&cfg),
        McpOrder::decl(&cfg),
        AccountUpdate::decl(&cfg),
        MarketData::decl(&cfg),
        ErrorFrame::decl(&cfg),
        OrdersResponse::decl(&cfg),
        Connection::decl(&cfg),
        Subscription::decl(&cfg),
        Unsubscription::decl(&cfg),
        Pong::decl(&cfg),
        ResumeResult::decl(&cfg),
        OrderData::decl(&cfg),
        Execution::decl(&cfg),
        Position::decl(&cfg),
        AccountState::decl(&cfg),
        Quote::decl(&cfg),
        ClientMessage::decl(&cfg),
    ];
    let mut out = String::from("// Generated from ibws-shared's protocol types (ts-rs). Do not edit.\n\n");
    for d in decls {
        out.push_str("export ");
        out.push_str(d.trim_end());
        out.push_str("\n\n");
    }
    out.push_str("/** The six event types a subscription delivers. */\n");
    out.push_str("export type ServerEvent = Extract<ServerFrame, { type: MessageType }>;\n");
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn declarations_follow_the_serde_shapes() {
        let ts = super::declarations();
        for needle in [
            "export type ServerFrame =",
            "\"type\": \"order_update\"",
            "export type OrderData =",
            "price: number | null",
            "order_id: number",
            "filled?: number",
            "export type MessageType = \"order_update\"",
        ] {
            assert!(ts.contains(needle), "missing {needle:?} in\n{ts}");
        }
        assert!(!ts.contains("bigint"), "integers are numbers");
    }
}

//! `/`: a plain, server-rendered status page (link state, orders, accounts). It
//! refreshes itself every two seconds; the live dashboard is the web client's job.

use std::fmt::Write;

use super::{Hubs, SharedHub, Status};

fn esc(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '&' => "&amp;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

fn num(v: Option<ibws_shared::protocol::Num>) -> String {
    v.map(|n| if n.0.fract() == 0.0 { format!("{}", n.0 as i64) } else { format!("{:.2}", n.0) })
        .unwrap_or_else(|| "-".into())
}

pub fn render(hubs: &Hubs, status: &Status) -> String {
    match hubs {
        Hubs::Single(h) => render_one(h, status),
        Hubs::Tenants(_) => {
            let mut s = String::from("<!doctype html><html><head><meta charset=utf-8><title>ibws relay</title></head><body><h1>ibws relay</h1><table><tr><th>tenant</th><th>bridge</th><th>clients</th><th>seq</th></tr>");
            for (t, h) in hubs.all() {
                let (up, clients, seq) = h.with(|h| (h.source_connected(), h.client_count(), h.position().1));
                let _ = write!(
                    s,
                    "<tr><td>{}</td><td>{}</td><td>{clients}</td><td>{seq}</td></tr>",
                    esc(&t),
                    if up { "connected" } else { "disconnected" }
                );
            }
            s.push_str("</table></body></html>");
            s
        }
    }
}

fn render_one(hub: &SharedHub, status: &Status) -> String {
    let (orders, accounts, clients, epoch, seq) = hub.with(|h| {
        let (e, s) = h.position();
        (h.orders(), h.accounts(), h.client_count(), e.to_owned(), s)
    });
    let up = hub.with(|h| h.source_connected());
    let mut s = String::new();
    let _ = write!(
        s,
        "<!doctype html><html><head><meta charset=utf-8><meta http-equiv=refresh content=2><title>ibws</title>\
         <style>body{{font:14px system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{padding:3px 8px;border-bottom:1px solid #ddd;text-align:left}}\
         .up{{color:#080}}.down{{color:#b00}}.agent{{background:#eef}}</style></head><body>\
         <h1>ibws bridge</h1><p>TWS {} <b class={}>{}</b> &middot; {} client(s) &middot; stream {} seq {}</p>\
         <p><a href=/>dashboard</a> &middot; WebSocket: <code>ws://&lt;this host&gt;/websocket/ws?client_id=...</code> &middot; <a href=/metrics>metrics</a> &middot; <a href=/healthz>health</a></p>",
        esc(&status.tws_addr),
        if up { "up" } else { "down" },
        if up { "connected" } else { "disconnected" },
        clients,
        esc(&epoch),
        seq
    );
    let _ = write!(s, "<h2>Orders ({})</h2><table id=orders><tr><th>order</th><th>perm</th><th>symbol</th><th>side</th><th>qty</th><th>type</th><th>price</th><th>status</th><th>filled</th><th>remaining</th><th>avg price</th><th>ref</th></tr>", orders.len());
    for o in orders.iter().rev() {
        let agent = o.order_ref.as_deref().is_some_and(|r| r.to_ascii_lowercase().starts_with("mcp"));
        let _ = write!(
            s,
            "<tr class='{}'><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if agent { "agent" } else { "" },
            o.order_id,
            o.perm_id.unwrap_or_default(),
            esc(&o.symbol),
            esc(&o.action),
            num(Some(o.quantity)),
            esc(&o.order_type),
            num(o.price),
            esc(&o.status),
            num(o.filled),
            num(o.remaining),
            num(o.avg_fill_price),
            esc(o.order_ref.as_deref().unwrap_or(""))
        );
    }
    s.push_str("</table>");
    for a in &accounts {
        let _ = write!(s, "<h2>Account {}</h2><table>", esc(&a.account));
        let base = esc(a.base_currency.as_deref().unwrap_or("BASE"));
        for k in ["NetLiquidation", "TotalCashValue", "BuyingPower", "UnrealizedPnL", "RealizedPnL"] {
            if let Some(v) = a.value_in_base(k) {
                let _ = write!(s, "<tr><th>{k} ({base})</th><td>{}</td></tr>", esc(v));
            }
        }
        s.push_str("</table>");
    }
    s.push_str("</body></html>");
    s
}

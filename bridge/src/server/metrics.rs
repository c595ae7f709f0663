//! `/metrics` in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use ibws_shared::protocol::MessageType;

use super::{ConnLimiter, Hubs, Status};

pub fn render(hubs: &Hubs, status: &Status, limits: &ConnLimiter) -> String {
    let all = hubs.all();
    let mut stats = ibws_shared::hub::HubStats::default();
    let (mut clients, mut seq, mut orders) = (0, 0, 0);
    // per tenant, only those with something to report: (tenant, refused, evicted)
    let mut per_tenant: Vec<(&str, u64, u64)> = Vec::new();
    for (tenant, hub) in &all {
        hub.with(|h| {
            let st = h.stats();
            if st.stream_violations > 0 || st.events_evicted_for_memory > 0 {
                per_tenant.push((tenant, st.stream_violations, st.events_evicted_for_memory));
            }
            clients += h.client_count();
            seq = seq.max(h.position().1);
            orders += h.order_count();
            let st = h.stats();
            for (a, b) in stats.events_by_type.iter_mut().zip(st.events_by_type) {
                *a += b;
            }
            stats.frames_delivered += st.frames_delivered;
            stats.slow_consumers_closed += st.slow_consumers_closed;
            stats.slow_consumers_resynced += st.slow_consumers_resynced;
            stats.duplicates_dropped += st.duplicates_dropped;
            stats.clients_closed += st.clients_closed;
            stats.refused_max_clients += st.refused_max_clients;
            stats.refused_per_subject += st.refused_per_subject;
        });
    }
    let mut s = String::new();
    let _ = writeln!(s, "# HELP ibws_connections Open connections, including those not yet authenticated.\n# TYPE ibws_connections gauge\nibws_connections {}", limits.connections());
    let _ = writeln!(s, "# HELP ibws_pending_refused_total Sockets closed because their address held too many connections before a request head.\n# TYPE ibws_pending_refused_total counter\nibws_pending_refused_total {}", limits.pending_refused());
    {
        let h = limits.hits();
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(s, "# HELP ibws_limit_hits_total Times a limit refused a connection or dropped a client, by limit (each has a flag).\n# TYPE ibws_limit_hits_total counter");
        for (limit, n) in [
            ("max_connections", get(&h.max_connections)),
            ("max_per_ip", get(&h.max_per_ip)),
            ("handshake_rate", get(&h.handshake_rate)),
            ("max_pending_per_ip", limits.pending_refused() as u64),
            ("max_clients_per_tenant", stats.refused_max_clients),
            ("max_per_subject", stats.refused_per_subject),
            ("send_timeout", get(&h.send_timeout)),
        ] {
            let _ = writeln!(s, "ibws_limit_hits_total{{limit=\"{limit}\"}} {n}");
        }
    }
    let _ = writeln!(s, "# HELP ibws_tenants Streams served.\n# TYPE ibws_tenants gauge\nibws_tenants {}", all.len());
    let _ = writeln!(
        s,
        "# HELP ibws_clients Connected WebSocket clients.\n# TYPE ibws_clients gauge\nibws_clients {clients}"
    );
    let _ = writeln!(s, "# HELP ibws_tws_connected 1 when the link to TWS is up.\n# TYPE ibws_tws_connected gauge");
    let _ = writeln!(s, "ibws_tws_connected {}", u8::from(hubs.tws_connected()));
    let _ = writeln!(s, "# HELP ibws_events_total Events published, by type.\n# TYPE ibws_events_total counter");
    for t in MessageType::ALL {
        let _ = writeln!(s, "ibws_events_total{{type=\"{}\"}} {}", t.as_str(), stats.events_by_type[t as usize]);
    }
    let _ = writeln!(s, "# HELP ibws_frames_delivered_total Frames handed to client sockets.\n# TYPE ibws_frames_delivered_total counter\nibws_frames_delivered_total {}", stats.frames_delivered);
    let _ = writeln!(s, "# HELP ibws_slow_consumers_closed_total Clients closed because they fell off the replay ring without a way to resync (seed clients), or left their replies unread.\n# TYPE ibws_slow_consumers_closed_total counter\nibws_slow_consumers_closed_total {}", stats.slow_consumers_closed);
    let _ = writeln!(s, "# HELP ibws_slow_consumers_resynced_total Clients that fell off the replay ring and were told recovered:false instead of being closed.\n# TYPE ibws_slow_consumers_resynced_total counter\nibws_slow_consumers_resynced_total {}", stats.slow_consumers_resynced);
    let _ = writeln!(s, "# HELP ibws_duplicates_dropped_total Events dropped as already seen.\n# TYPE ibws_duplicates_dropped_total counter\nibws_duplicates_dropped_total {}", stats.duplicates_dropped);
    let _ = writeln!(s, "# HELP ibws_clients_closed_total Clients closed by the server.\n# TYPE ibws_clients_closed_total counter\nibws_clients_closed_total {}", stats.clients_closed);
    let _ = writeln!(
        s,
        "# HELP ibws_stream_seq Current stream sequence number.\n# TYPE ibws_stream_seq gauge\nibws_stream_seq {seq}"
    );
    let _ =
        writeln!(s, "# HELP ibws_orders Orders in the order table.\n# TYPE ibws_orders gauge\nibws_orders {orders}");
    if let Hubs::Tenants(m) = hubs {
        let _ = writeln!(s, "# HELP ibws_memory_held_bytes What every tenant's replay ring and order table hold together (kept within --max-memory-mb).\n# TYPE ibws_memory_held_bytes gauge\nibws_memory_held_bytes {}", m.held_bytes());
    }
    if matches!(hubs, Hubs::Tenants(_)) {
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(s, "# HELP ibws_bridge_takeovers_total Bridges that took a tenant over from one that failed its liveness check.\n# TYPE ibws_bridge_takeovers_total counter\nibws_bridge_takeovers_total {}", get(&status.bridge_takeovers));
        let _ = writeln!(s, "# HELP ibws_bridges_refused_total Second bridges refused because the tenant's bridge was alive.\n# TYPE ibws_bridges_refused_total counter\nibws_bridges_refused_total {}", get(&status.bridges_refused));
        let _ = writeln!(s, "# HELP ibws_stream_violations_total Events and snapshots a tenant's bridge sent that broke the stream's rules (a gap, a seq out of range, an epoch without a snapshot): refused with 4005, never applied.\n# TYPE ibws_stream_violations_total counter");
        for (tenant, n, _) in &per_tenant {
            let _ = writeln!(s, "ibws_stream_violations_total{{tenant=\"{}\"}} {n}", label(tenant));
        }
        let _ = writeln!(s, "# HELP ibws_memory_evicted_events_total Events dropped from a tenant's replay ring to keep the relay's memory budget (--max-memory-mb); its clients that were owed them resync with recovered:false.\n# TYPE ibws_memory_evicted_events_total counter");
        for (tenant, _, n) in &per_tenant {
            let _ = writeln!(s, "ibws_memory_evicted_events_total{{tenant=\"{}\"}} {n}", label(tenant));
        }
    }
    if let Some(u) = &status.uplink {
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(s, "# HELP ibws_uplink_connected 1 when the uplink to the relay is up.\n# TYPE ibws_uplink_connected gauge\nibws_uplink_connected {}", u8::from(u.connected.load(Ordering::Relaxed)));
        let _ = writeln!(s, "# HELP ibws_uplink_acked_seq Highest seq the relay acknowledged as stored.\n# TYPE ibws_uplink_acked_seq gauge\nibws_uplink_acked_seq {}", get(&u.acked_seq));
        let _ = writeln!(s, "# HELP ibws_uplink_connects_total Uplink connections the relay welcomed.\n# TYPE ibws_uplink_connects_total counter\nibws_uplink_connects_total {}", get(&u.connects));
        let _ = writeln!(s, "# HELP ibws_uplink_resent_total Events resent to fill a relay's gap after a reconnect.\n# TYPE ibws_uplink_resent_total counter\nibws_uplink_resent_total {}", get(&u.resent));
        let _ = writeln!(s, "# HELP ibws_uplink_ack_regressions_total Times a relay held less than it had acknowledged.\n# TYPE ibws_uplink_ack_regressions_total counter\nibws_uplink_ack_regressions_total {}", get(&u.ack_regressions));
    }
    s
}

/// A Prometheus label value: backslash, quote and newline escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

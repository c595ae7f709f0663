//! Log filtering for `ibws`: `RUST_LOG` decides, except that the crates which see raw
//! WebSocket frames and TLS records never log below `info`.
//!
//! At `trace`, tungstenite prints every frame it reads or writes, and so every token
//! in an `auth` or `hello` and every message body. ibws logs no token, key or body at
//! any level, so those crates are capped whatever `RUST_LOG` says (a directive naming
//! them is dropped). Our own targets still log at every level.

/// Crates capped at `info`.
pub const CAPPED: [&str; 4] = ["tungstenite", "tokio_tungstenite", "rustls", "tokio_rustls"];

/// The filter directives for `RUST_LOG` (default `info`), with [`CAPPED`] applied.
pub fn filter_spec(rust_log: Option<&str>) -> String {
    let user = rust_log.map(str::trim).filter(|s| !s.is_empty()).unwrap_or("info");
    let names_capped = |d: &str| {
        let target = d.split(['=', '[']).next().unwrap_or("").trim();
        CAPPED.iter().any(|c| target == *c || target.starts_with(&format!("{c}::")))
    };
    let mut parts: Vec<String> =
        user.split(',').map(str::trim).filter(|d| !d.is_empty() && !names_capped(d)).map(str::to_owned).collect();
    parts.extend(CAPPED.iter().map(|c| format!("{c}=info")));
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::filter_spec;

    #[test]
    fn frame_crates_are_capped_whatever_rust_log_says() {
        let caps = "tungstenite=info,tokio_tungstenite=info,rustls=info,tokio_rustls=info";
        assert_eq!(filter_spec(None), format!("info,{caps}"));
        assert_eq!(filter_spec(Some("trace")), format!("trace,{caps}"));
        assert_eq!(
            filter_spec(Some("debug,tungstenite=trace,tungstenite::protocol=trace,ibws_bridge=trace")),
            format!("debug,ibws_bridge=trace,{caps}")
        );
    }
}

//! The dashboard's files, embedded at build time (see `bridge/build.rs`): the page,
//! its script, and the wasm client with its JavaScript glue and TypeScript types.

const INDEX: &str = include_str!("dashboard/index.html");
const APP: &str = include_str!("dashboard/app.js");
const CLIENT_JS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/web/ibws_web.js"));
const CLIENT_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/web/ibws_web_bg.wasm"));
const CLIENT_DTS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/web/ibws_web.d.ts"));

fn protocol_dts() -> &'static [u8] {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(ibws_shared::protocol::typescript::declarations).as_bytes()
}

/// Whether the wasm client was built into this binary.
pub fn dashboard_built() -> bool {
    !CLIENT_WASM.is_empty()
}

/// (content type, body) of an embedded file.
pub fn get(path: &str) -> Option<(&'static str, &'static [u8])> {
    if !dashboard_built() {
        return None;
    }
    Some(match path {
        "/" | "/index.html" => ("text/html; charset=utf-8", INDEX.as_bytes()),
        "/app.js" => ("text/javascript; charset=utf-8", APP.as_bytes()),
        "/ibws_web.js" => ("text/javascript; charset=utf-8", CLIENT_JS),
        "/ibws_web_bg.wasm" => ("application/wasm", CLIENT_WASM),
        "/ibws_web.d.ts" => ("text/plain; charset=utf-8", CLIENT_DTS),
        // the protocol types ibws_web.d.ts imports, generated from the Rust types
        "/protocol.d.ts" => ("text/plain; charset=utf-8", protocol_dts()),
        _ => return None,
    })
}

//! The edge relay: the ibws hub compiled to WebAssembly for Cloudflare Workers.
//!
//! [`edge::EdgeRelay`] is one tenant's relay (the hub, the bridge protocol, token
//! checks, hibernation state), free of I/O and tested natively. On wasm32,
//! [`WasmRelay`] exports it to the Durable Object in `worker/worker.js`, which only
//! moves bytes: it accepts sockets with the hibernation API, keeps each socket's
//! session in its attachment, stores the stream in Durable Object storage, and
//! carries out what the relay returns.

pub mod edge;

#[cfg(target_arch = "wasm32")]
mod wasm {
    use ibws_shared::hub::Now;
    use wasm_bindgen::prelude::*;

    use crate::edge::{EdgeConfig, EdgeRelay};

    fn now(ms: f64) -> Now {
        Now { mono_ms: ms as u64, unix_us: (ms * 1000.0) as i64 }
    }

    fn err(e: impl std::fmt::Display) -> JsValue {
        JsValue::from_str(&e.to_string())
    }

    /// One tenant's relay, driven by a Durable Object. Times are `Date.now()` ms;
    /// outputs are JSON text.
    #[wasm_bindgen]
    pub struct WasmRelay(EdgeRelay);

    #[wasm_bindgen]
    impl WasmRelay {
        /// `config`: `{"tenant", "jwt_secret" | "jwt_public_key", "issuer"?, "audience"?}`.
        #[wasm_bindgen(constructor)]
        pub fn new(config: &str) -> Result<WasmRelay, JsValue> {
            let cfg: EdgeConfig = serde_json::from_str(config).map_err(err)?;
            EdgeRelay::new(cfg).map(WasmRelay).map_err(err)
        }

        /// The tenant of a valid token, for routing; undefined when invalid.
        #[wasm_bindgen(js_name = tokenTenant)]
        pub fn token_tenant(&self, token: &str, now_ms: f64) -> Option<String> {
            self.0.token_tenant(token, now(now_ms))
        }

        #[wasm_bindgen(js_name = clientOpen)]
        pub fn client_open(&mut self, id: f64, client_id: Option<String>, bearer: Option<String>, now_ms: f64) {
            self.0.client_open(id as u64, client_id, bearer.as_deref(), now(now_ms));
        }

        #[wasm_bindgen(js_name = clientText)]
        pub fn client_text(&mut self, id: f64, text: &str, now_ms: f64) {
            self.0.client_text(id as u64, text, now(now_ms));
        }

        #[wasm_bindgen(js_name = clientBinary)]
        pub fn client_binary(&mut self, id: f64, len: f64, now_ms: f64) {
            self.0.client_binary(id as u64, len as usize, now(now_ms));
        }

        #[wasm_bindgen(js_name = clientClosed)]
        pub fn client_closed(&mut self, id: f64) {
            self.0.client_closed(id as u64);
        }

        /// Returns `{"reply": text|null, "close": code|null}` as JSON.
        #[wasm_bindgen(js_name = bridgeText)]
        pub fn bridge_text(&mut self, text: &str, now_ms: f64) -> String {
            serde_json::to_string(&self.0.bridge_text(text, now(now_ms))).unwrap_or_default()
        }

        #[wasm_bindgen(js_name = bridgeClosed)]
        pub fn bridge_closed(&mut self) {
            self.0.bridge_closed();
        }

        #[wasm_bindgen(js_name = setBridgeAuthed)]
        pub fn set_bridge_authed(&mut self, yes: bool) {
            self.0.set_bridge_authed(yes);
        }

        pub fn tick(&mut self, now_ms: f64) {
            self.0.tick(now(now_ms));
        }

        #[wasm_bindgen(js_name = clientCount)]
        pub fn client_count(&self) -> f64 {
            self.0.client_count() as f64
        }

        /// `[{"kind":"send","id","frames"}, {"kind":"close","id","code","reason","frames"}]`.
        pub fn drain(&mut self) -> String {
            serde_json::to_string(&self.0.drain()).unwrap_or_else(|_| "[]".into())
        }

        #[wasm_bindgen(js_name = streamState)]
        pub fn stream_state(&self) -> String {
            serde_json::to_string(&self.0.stream_state()).unwrap_or_default()
        }

        #[wasm_bindgen(js_name = restoreStream)]
        pub fn restore_stream(&mut self, json: &str) -> Result<(), JsValue> {
            self.0.restore_stream(serde_json::from_str(json).map_err(err)?);
            Ok(())
        }

        #[wasm_bindgen(js_name = sessionState)]
        pub fn session_state(&self, id: f64) -> Option<String> {
            self.0.session_state(id as u64).and_then(|s| serde_json::to_string(&s).ok())
        }

        #[wasm_bindgen(js_name = restoreSession)]
        pub fn restore_session(&mut self, id: f64, json: &str, now_ms: f64) -> Result<(), JsValue> {
            self.0.restore_session(id as u64, serde_json::from_str(json).map_err(err)?, now(now_ms));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;

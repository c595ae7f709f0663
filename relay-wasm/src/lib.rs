//! The edge relay: the ibws relay core compiled to WebAssembly for Cloudflare Workers.
//!
//! [`edge::EdgeRelay`] is one tenant's relay (the shared hub, bridge session and
//! admission of `ibws_shared::relay`, plus what a Durable Object needs: storage by
//! rows, one alarm, frames serialised once), free of I/O and tested natively. On
//! wasm32, `route` and `WasmRelay` export it to `worker/worker.js`, which only moves
//! bytes and rows: it accepts sockets with the hibernation API, keeps each socket's
//! session in its attachment, writes the rows the relay hands it to the object's
//! SQLite storage, and carries out what the relay returns.

mod crypto;
pub mod edge;

#[cfg(target_arch = "wasm32")]
mod wasm {
    use ibws_shared::hub::Now;
    use wasm_bindgen::prelude::*;

    use crate::edge::{verifier, EdgeConfig, EdgeRelay, Facts};

    fn now(ms: f64) -> Now {
        Now { mono_ms: ms as u64, unix_us: (ms * 1000.0) as i64 }
    }

    fn err(e: impl std::fmt::Display) -> JsValue {
        JsValue::from_str(&e.to_string())
    }

    fn json<T: serde::Serialize>(v: &T) -> String {
        serde_json::to_string(v).unwrap_or_default()
    }

    /// The Worker's decision for one request (see [`crate::edge::route`]): `config` as
    /// for [`WasmRelay::new`] (any tenant), `facts` `{"path","query","upgrade",
    /// "origin","protocols"}`; returns a [`crate::edge::Route`] as JSON.
    #[wasm_bindgen]
    pub fn route(config: &str, facts: &str, now_ms: f64) -> Result<String, JsValue> {
        let cfg: EdgeConfig = serde_json::from_str(config).map_err(err)?;
        let facts: Facts = serde_json::from_str(facts).map_err(err)?;
        let v = verifier(&cfg).map_err(err)?;
        Ok(json(&crate::edge::route(&cfg, v.as_ref(), &facts, now(now_ms))))
    }

    /// How long the host gathers publishes before it stores their rows (ms).
    #[wasm_bindgen(js_name = storeBatchMs)]
    pub fn store_batch_ms() -> f64 {
        crate::edge::STORE_BATCH_MS as f64
    }

    /// `[code, reason]` for every socket when the object's storage fails.
    #[wasm_bindgen(js_name = storageFailedClose)]
    pub fn storage_failed_close() -> String {
        let (code, reason) = crate::edge::STORAGE_FAILED;
        json(&(code.code(), reason))
    }

    /// One tenant's relay, driven by a Durable Object. Times are `Date.now()` ms;
    /// structured outputs are JSON text.
    #[wasm_bindgen]
    pub struct WasmRelay(EdgeRelay);

    #[wasm_bindgen]
    impl WasmRelay {
        /// `config`: `{"tenant", "jwt_secret" | "jwt_public_key", "issuer"?, "audience"?, "allowed_origins"?}`.
        #[wasm_bindgen(constructor)]
        pub fn new(config: &str) -> Result<WasmRelay, JsValue> {
            let cfg: EdgeConfig = serde_json::from_str(config).map_err(err)?;
            EdgeRelay::new(cfg).map(WasmRelay).map_err(err)
        }

        /// A client socket, with the grant `route` gave its request (`x-ibws-grant`).
        #[wasm_bindgen(js_name = clientOpen)]
        pub fn client_open(&mut self, id: f64, grant: &str, now_ms: f64) {
            self.0.client_open_granted(id as u64, grant, now(now_ms));
        }

        /// Whether a client's input made a deadline earlier (ask `deadline` again).
        #[wasm_bindgen(js_name = deadlineMoved)]
        pub fn deadline_moved(&mut self) -> bool {
            self.0.take_deadline_moved()
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

        #[wasm_bindgen(js_name = clientCount)]
        pub fn client_count(&self) -> f64 {
            self.0.client_count() as f64
        }

        #[wasm_bindgen(js_name = bridgeOpen)]
        pub fn bridge_open(&mut self, id: f64, now_ms: f64) {
            self.0.bridge_open(id as u64, now(now_ms));
        }

        /// Returns `{"send": [text], "close": [code, reason] | null}` as JSON.
        #[wasm_bindgen(js_name = bridgeText)]
        pub fn bridge_text(&mut self, id: f64, text: &str, now_ms: f64) -> String {
            json(&self.0.bridge_text(id as u64, text, now(now_ms)))
        }

        #[wasm_bindgen(js_name = bridgeBinary)]
        pub fn bridge_binary(&mut self, id: f64) -> String {
            json(&self.0.bridge_binary(id as u64))
        }

        #[wasm_bindgen(js_name = bridgeClosed)]
        pub fn bridge_closed(&mut self, id: f64) {
            self.0.bridge_closed(id as u64);
        }

        #[wasm_bindgen(js_name = bridgeState)]
        pub fn bridge_state(&self, id: f64) -> Option<String> {
            self.0.bridge_state(id as u64).map(|s| json(&s))
        }

        #[wasm_bindgen(js_name = restoreBridge)]
        pub fn restore_bridge(&mut self, id: f64, state: Option<String>, now_ms: f64) {
            let st = state.and_then(|s| serde_json::from_str(&s).ok());
            self.0.restore_bridge(id as u64, st, now(now_ms));
        }

        /// The rows to store (a [`crate::edge::Rows`] as JSON), or undefined.
        #[wasm_bindgen(js_name = takeChanges)]
        pub fn take_changes(&mut self) -> Option<String> {
            self.0.take_rows().map(|r| json(&r))
        }

        /// Storage is durable up to `(epoch, seq)`: `[[socket, ack frame], ...]` as JSON.
        pub fn stored(&mut self, epoch: &str, seq: f64) -> String {
            json(&self.0.stored(epoch, seq as u64))
        }

        #[wasm_bindgen(js_name = restoreBegin)]
        pub fn restore_begin(&mut self, epoch: String, seq: f64, source_connected: bool) {
            self.0.restore_begin(epoch, seq as u64, source_connected);
        }

        #[wasm_bindgen(js_name = restoreEvent)]
        pub fn restore_event(&mut self, json: String) {
            self.0.restore_event(json);
        }

        #[wasm_bindgen(js_name = restoreOrder)]
        pub fn restore_order(&mut self, json: &str) {
            self.0.restore_order(json);
        }

        #[wasm_bindgen(js_name = restoreAccount)]
        pub fn restore_account(&mut self, json: &str) {
            self.0.restore_account(json);
        }

        #[wasm_bindgen(js_name = restoreEnd)]
        pub fn restore_end(&mut self) {
            self.0.restore_end();
        }

        #[wasm_bindgen(js_name = sessionState)]
        pub fn session_state(&self, id: f64) -> Option<String> {
            self.0.session_state(id as u64).map(|s| json(&s))
        }

        #[wasm_bindgen(js_name = restoreSession)]
        pub fn restore_session(&mut self, id: f64, state: &str, now_ms: f64) -> Result<(), JsValue> {
            self.0.restore_session(id as u64, serde_json::from_str(state).map_err(err)?, now(now_ms));
            Ok(())
        }

        /// When `sweep` must run (ms since the epoch), or undefined: no alarm needed.
        pub fn deadline(&self, now_ms: f64) -> Option<f64> {
            self.0.deadline(now(now_ms)).map(|d| d as f64)
        }

        pub fn sweep(&mut self, now_ms: f64) {
            self.0.sweep(now(now_ms));
        }

        /// `{"frames": [text], "sends": [[socket, frame index...]], "closes": [[socket, code, reason]]}`
        /// as JSON, or undefined when there is nothing to do.
        pub fn drain(&mut self) -> Option<String> {
            let b = self.0.drain();
            (!b.is_empty()).then(|| json(&b))
        }
    }
}

#[cfg(test)]
mod tests;

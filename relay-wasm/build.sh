#!/usr/bin/env bash
# Builds the edge relay's wasm package into relay-wasm/worker/pkg with the wasm-bindgen
# CLI pinned to Cargo.lock, and prints its size (raw and gzipped).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -p ibws-relay-wasm --target wasm32-unknown-unknown --profile edge --locked >&2
wasm-bindgen --target web --remove-name-section --remove-producers-section --out-dir relay-wasm/worker/pkg "${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/edge/ibws_relay_wasm.wasm"
w=relay-wasm/worker/pkg/ibws_relay_wasm_bg.wasm
echo "edge_relay_wasm: raw=$(wc -c <"$w") gz=$(gzip -9 -c "$w" | wc -c) (target gz <= 307200)" >&2

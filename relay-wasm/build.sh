#!/usr/bin/env bash
# Builds the edge relay's wasm package into relay-wasm/worker/pkg with the wasm-bindgen
# CLI pinned to Cargo.lock, and prints its size (raw and gzipped).
#
# Token signature families: HS256, EdDSA and ES256 by default. For RS256 keys:
#   IBWS_EDGE_FEATURES=rs256 bash relay-wasm/build.sh
# (IBWS_EDGE_FEATURES is a comma list of cargo features of ibws-relay-wasm added to the
# defaults; the relay refuses at start a key whose family this build leaves out.)
set -euo pipefail
cd "$(dirname "$0")/.."
features=()
if [ -n "${IBWS_EDGE_FEATURES:-}" ]; then features=(--features "$IBWS_EDGE_FEATURES"); fi
cargo build -p ibws-relay-wasm --target wasm32-unknown-unknown --profile edge --locked "${features[@]}" >&2
wasm-bindgen --target web --remove-name-section --remove-producers-section --out-dir relay-wasm/worker/pkg "${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/edge/ibws_relay_wasm.wasm"
w=relay-wasm/worker/pkg/ibws_relay_wasm_bg.wasm
echo "edge_relay_wasm: raw=$(wc -c <"$w") gz=$(gzip -9 -c "$w" | wc -c) (target gz <= 307200)" >&2

#!/usr/bin/env bash
# Builds the edge relay's wasm package into relay-wasm/worker/pkg and prints its size
# (raw and gzipped). Needs only Rust: the wasm32 target is added with rustup if it is
# missing, and the wasm-bindgen step runs as a library pinned in this workspace
# (relay-wasm/pack), so no wasm-bindgen command has to be installed.
#
# Token signature families: HS256, EdDSA and ES256 by default. For RS256 keys:
#   IBWS_EDGE_FEATURES=rs256 bash relay-wasm/build.sh
# (IBWS_EDGE_FEATURES is a comma list of cargo features of ibws-relay-wasm added to the
# defaults; the relay refuses at start a key whose family this build leaves out.)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  echo "adding the wasm32-unknown-unknown target (rustup target add)" >&2
  rustup target add wasm32-unknown-unknown >&2
fi
features=()
if [ -n "${IBWS_EDGE_FEATURES:-}" ]; then features=(--features "$IBWS_EDGE_FEATURES"); fi
cargo build -p ibws-relay-wasm --target wasm32-unknown-unknown --profile edge --locked "${features[@]}" >&2
cargo run -q -p ibws-edge-pack --locked -- \
  "${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/edge/ibws_relay_wasm.wasm" relay-wasm/worker/pkg >&2
w=relay-wasm/worker/pkg/ibws_relay_wasm_bg.wasm
echo "edge_relay_wasm: raw=$(wc -c <"$w") gz=$(gzip -9 -c "$w" | wc -c) (target gz <= 307200)" >&2

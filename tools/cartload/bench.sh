#!/usr/bin/env bash
# Add-to-cart from a separate load-generator process (vegeta) against one
# node with the embedded stores, as docs/benchmarks.md reports it:
#   open loop:   a fixed 1,500 adds/s for 30 s
#   closed loop: 64 connections as fast as they go for 30 s
# Usage: tools/cartload/bench.sh [RATE] [DURATION]; needs vegeta on PATH
# (go install github.com/tsenart/vegeta/v12@v12.13.0). Settings: SHOPPERS
# (64), LINES per cart (10), SEED products (2000), EMPORIUM_BIN (a binary
# to measure instead of this tree's, e.g. an older release).
set -euo pipefail
cd "$(dirname "$0")/../.."
RATE=${1:-1500}
DURATION=${2:-30s}
SHOPPERS=${SHOPPERS:-64}
PORT=${PORT:-8090}
PW="cart load password"
WORK=$(mktemp -d)
trap 'kill $NODE 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
if [ -n "${EMPORIUM_BIN:-}" ]; then cp "$EMPORIUM_BIN" "$WORK/emporium"; else go build -o "$WORK/emporium" ./cmd/emporium; fi
go build -o "$WORK/cartload" ./tools/cartload
export DATA_DIR="$WORK/data" REDIS_URL= MONGODB_URI= METRICS_ADDR=127.0.0.1:0 LOG_LEVEL=warn
echo "creating $SHOPPERS shoppers..."
echo "$PW" | "$WORK/emporium" admin create-user --username shop --email shop@example.com --role admin --role vendor >/dev/null
for i in $(seq 0 $((SHOPPERS - 1))); do
  echo "$PW" | "$WORK/emporium" admin create-user --username "shopper$i" --email "shopper$i@example.com" >/dev/null
done
HTTP_ADDR=127.0.0.1:$PORT "$WORK/emporium" serve --seed "${SEED:-2000}" >"$WORK/node.log" 2>&1 &
NODE=$!
# Let the node finish seeding and the search index settle before measuring.
until curl -fs "127.0.0.1:$PORT/readyz" >/dev/null 2>&1; do sleep 1; done
sleep "${SETTLE:-20}"
"$WORK/cartload" -base "http://127.0.0.1:$PORT" -shoppers "$SHOPPERS" -lines "${LINES:-10}" -password "$PW" >"$WORK/targets.json"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB"
echo "== open loop: $RATE adds/s for $DURATION"
vegeta attack -format=json -targets="$WORK/targets.json" -rate="$RATE" -duration="$DURATION" | vegeta report
"$WORK/cartload" -base "http://127.0.0.1:$PORT" -shoppers "$SHOPPERS" -password "$PW" -clear
echo "== closed loop: 64 connections for $DURATION"
vegeta attack -format=json -targets="$WORK/targets.json" -rate=0 -max-workers=64 -workers=64 -duration="$DURATION" | vegeta report
echo "== node log (warnings and errors)"
grep -E "level=(WARN|ERROR)|panic" "$WORK/node.log" | head -20 || true

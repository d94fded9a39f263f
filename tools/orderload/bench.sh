#!/usr/bin/env bash
# Checkout from a separate load-generator process (tools/orderload) against
# one node with the embedded stores, as docs/benchmarks.md ("Checkout")
# reports it:
#   1. the durable writes of one order: ORDERS (200) orders one after
#      another, the store copied (emporium backup) before and after
#   2. closed loop: 32 buyers, each filling 1-3 cart lines then ordering,
#      for 30 s
#   3. open loop: 150 orders/s offered for 30 s, every cart filled before
#   4. rush: 10,000 buyers for 100 units of one SKU, 256 orders in flight
# Usage: tools/orderload/bench.sh (or make bench-orders). Settings: BUYERS
# (10000; the rush uses them all, the open loop needs RATE x 33 after the
# first 32), RATE (150; several, e.g. "150 100", run one after another),
# DURATION (30s, in seconds), CLOSED_BUYERS (32), RUSH_STOCK
# (100), RUSH_CONNS (256), ORDERS (200), SEED products (2000), EMPORIUM_BIN
# (a binary to measure instead of this tree's), PROFILE=1 (perf CPU
# profiles of the node during the closed loop and the rush, into
# $PROFILE_OUT and $PROFILE_OUT.rush; needs perf). Creating and signing
# in 10,000 buyers costs two argon2id password hashes each: about 5 and 5
# to 9 minutes on 2 cores, before any clock starts; the whole run takes
# 15-20 minutes. Runs of a phase renew access tokens (15-minute lifetime)
# older than 8 minutes with the refresh tokens.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUYERS=${BUYERS:-10000}
RATE=${RATE:-150}
DURATION=${DURATION:-30s}
PORT=${PORT:-8091}
PW="order load password"
WORK=$(mktemp -d)
NODE= PERF=
trap 'kill $NODE $PERF 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
if [ -n "${EMPORIUM_BIN:-}" ]; then cp "$EMPORIUM_BIN" "$WORK/emporium"; else go build -o "$WORK/emporium" ./cmd/emporium; fi
go build -o "$WORK/orderload" ./tools/orderload
go build -o "$WORK/mkbuyers" ./tools/orderload/mkbuyers
export DATA_DIR="$WORK/data" REDIS_URL= MONGODB_URI= METRICS_ADDR=127.0.0.1:0 LOG_LEVEL=warn
echo "node: ${EMPORIUM_BIN:-built from this tree at HEAD $(git rev-parse --short HEAD 2>/dev/null || echo ?)}; machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
echo "$PW" | "$WORK/emporium" admin create-user --username shop --email shop@example.com --role admin --role vendor >/dev/null
echo "creating $BUYERS buyers..."
echo "$PW" | "$WORK/mkbuyers" -n "$BUYERS"
HTTP_ADDR=127.0.0.1:$PORT "$WORK/emporium" serve --seed "${SEED:-2000}" >"$WORK/node.log" 2>&1 &
NODE=$!
until curl -fs "127.0.0.1:$PORT/readyz" >/dev/null 2>&1; do sleep 1; done
sleep "${SETTLE:-20}"
"$WORK/orderload" setup -base "http://127.0.0.1:$PORT" -password "$PW" -buyers "$BUYERS" -state "$WORK/state.json"
L="$WORK/orderload"
S=(-state "$WORK/state.json")
# phase NAME: the machine's load before it and, after it, the node's CPU
# time over its wall time (other work on the machine shows in the load).
TICK=$(getconf CLK_TCK)
phase() { echo "== $1 (load average: $(cut -d' ' -f1-3 /proc/loadavg))"; T0=$(awk '{print $14+$15}' /proc/$NODE/stat); W0=$(date +%s.%N); }
node_cpu() { awk -v t0="$T0" -v w0="$W0" -v w1="$(date +%s.%N)" -v hz="$TICK" '{printf "   node CPU: %.1f s in %.1f s (%.2f cores)\n", ($14+$15-t0)/hz, w1-w0, ($14+$15-t0)/hz/(w1-w0)}' /proc/$NODE/stat; }

"$WORK/emporium" backup "$WORK/before" >/dev/null
phase "1. the durable writes of one order: ${ORDERS:-200} orders one after another"
"$L" seq "${S[@]}" -orders "${ORDERS:-200}" -lines 2
node_cpu
sleep 3 # the last mail and read models
"$WORK/emporium" backup "$WORK/after" >/dev/null
"$L" count -before "$WORK/before/store/emporium.db" -after "$WORK/after/store/emporium.db" -orders "${ORDERS:-200}"

phase "2. closed loop: ${CLOSED_BUYERS:-32} buyers for $DURATION"
PERF=
if [ "${PROFILE:-0}" = 1 ]; then
  (sleep 5; exec perf record -F 499 -g -p "$NODE" -o "${PROFILE_OUT:-$PWD/orderload-closed.perf}" -- sleep 25) >/dev/null 2>&1 &
  PERF=$!
fi
"$L" closed "${S[@]}" -buyers "${CLOSED_BUYERS:-32}" -duration "$DURATION"
node_cpu
if [ -n "$PERF" ]; then wait "$PERF" || true; echo "profile: perf report -i ${PROFILE_OUT:-$PWD/orderload-closed.perf} --no-children"; fi
PERF=

FROM=${CLOSED_BUYERS:-32}
for R in $RATE; do
  phase "3. open loop: $R orders/s for $DURATION"
  "$L" open "${S[@]}" -rate "$R" -duration "$DURATION" -from "$FROM"
  node_cpu
  FROM=$((FROM + R * ${DURATION%s} * 11 / 10)) # the next rate takes fresh buyers while there are enough
  if [ "$FROM" -ge "$BUYERS" ]; then FROM=${CLOSED_BUYERS:-32}; fi
done

phase "4. rush: $BUYERS buyers for ${RUSH_STOCK:-100} units"
PERF=
if [ "${PROFILE:-0}" = 1 ]; then
  (for _ in $(seq 3000); do [ -e "$WORK/rush.started" ] && break; sleep 0.1; done
   exec perf record -F 499 -g -p "$NODE" -o "${PROFILE_OUT:-$PWD/orderload-closed.perf}.rush" -- sleep 12) >/dev/null 2>&1 &
  PERF=$!
fi
"$L" rush "${S[@]}" -stock "${RUSH_STOCK:-100}" -conns "${RUSH_CONNS:-256}" -started "$WORK/rush.started"
node_cpu
if [ -n "$PERF" ]; then wait "$PERF" || true; echo "profile: perf report -i ${PROFILE_OUT:-$PWD/orderload-closed.perf}.rush --no-children"; fi
PERF=

echo "== node log (warnings and errors)"
grep -E "level=(WARN|ERROR)|panic" "$WORK/node.log" | head -20 || true

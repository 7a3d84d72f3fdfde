#!/usr/bin/env bash
# Side-by-side comparison: roomcast, its peers (socket.io 4.8, Sails 1.5,
# socketioxide 0.18) and the floor (rawfanout), driven by benches' `loadgen`.
#
#   benches/compare.sh                       # build everything, full matrix
#   benches/compare.sh --quick               # scenario a at 1k, 3 s, all servers
#   benches/compare.sh --scenarios a1k,b --servers roomcast,raw --duration 5
#   benches/compare.sh --no-build ...        # reuse the last build
#   benches/compare.sh --check ...           # exit 1 on loss, duplicates or a failed run (CI)
#
# Scenarios: a1k a5k a15k (one room x N clients, 100 B, saturating), b (1k clients
# paced at 200k deliveries/s: latency), b20k (the same at 20k deliveries/s: the
# unloaded latency of a 1k fanout), c (10k clients in rooms of 10, random rooms,
# saturating), d (15k idle connections: RSS per connection), e (connection storm:
# 5k clients, 2k handshakes in flight: connections per second).
# Servers: roomcast socketioxide socketio sails raw rawbatch. raw and rawbatch are
# the floor (benches' rawfanout): one write per delivery, or every socket's frames
# of one event-loop iteration in one write (`--coalesce`, roomcast's palette).
# roomcast and the floors report frames per write (loadgen --metrics-url).
#
# The server runs on core 0 and loadgen on core 1 (taskset), every server gets
# one thread/process. Raw JSON goes to benches/results/<stamp>/, the table (benches'
# `report` bin) to stdout and to benches/results/<stamp>/table.md, a plotters SVG
# chart to benches/results/<stamp>/chart.svg.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

SCENARIOS="a1k,a5k,a15k,b,b20k,c,d,e"
SERVERS="roomcast,socketioxide,socketio,sails,raw,rawbatch"
DURATION=10
WARMUP=2
BUILD=1
CHECK=""
FAILED=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) SCENARIOS="a1k"; DURATION=3; WARMUP=1 ;;
    --scenarios) SCENARIOS="$2"; shift ;;
    --servers) SERVERS="$2"; shift ;;
    --duration) DURATION="$2"; shift ;;
    --warmup) WARMUP="$2"; shift ;;
    --no-build) BUILD=0 ;;
    --check) CHECK="--check" ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
SX_TARGET="$TARGET/peer-socketioxide"
BIN="$TARGET/release"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
OUT="$ROOT/benches/results/$STAMP"
mkdir -p "$OUT"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
CORE_SERVER=0
CORE_LOAD=1
[ "$(nproc)" -ge 2 ] || { CORE_LOAD=0; echo "compare.sh: one core only: server and loadgen share it" >&2; }

has() { case ",$SERVERS," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
have_node() { command -v node >/dev/null && command -v npm >/dev/null; }

if [ "$BUILD" = 1 ]; then
  echo "==> cargo build --release (roomcast, loadgen, rawfanout)"
  cargo build --release -p roomcast-server -p roomcast-benches --bins
  if has socketioxide; then
    echo "==> socketioxide peer (cargo build --release, own lockfile)"
    (cd benches/peers/socketioxide && CARGO_TARGET_DIR="$SX_TARGET" cargo build --release --locked)
  fi
  for peer in socketio sails; do
    if has "$peer"; then
      if have_node; then
        echo "==> npm ci in benches/peers/$peer"
        (cd "benches/peers/$peer" && npm ci --no-audit --no-fund --loglevel=error)
      else
        echo "==> node/npm missing: skipping $peer" >&2
      fi
    fi
  done
fi

PORT=14100
SPID=""
# start_server NAME: starts it on $PORT pinned to $CORE_SERVER, sets SPID and EXTRA.
start_server() {
  PORT=$((PORT + 1))
  EXTRA=""
  METRICS="--metrics-url http://127.0.0.1:$PORT/metrics"
  case "$1" in
    roomcast) taskset -c $CORE_SERVER "$BIN/roomcast" --port $PORT --workers 1 >"$OUT/server-$1.log" 2>&1 & ;;
    raw) taskset -c $CORE_SERVER "$BIN/rawfanout" --port $PORT >"$OUT/server-$1.log" 2>&1 & ;;
    rawbatch) taskset -c $CORE_SERVER "$BIN/rawfanout" --port $PORT --coalesce >"$OUT/server-$1.log" 2>&1 & ;;
    socketio) METRICS=""; taskset -c $CORE_SERVER node benches/peers/socketio/peer.js $PORT >"$OUT/server-$1.log" 2>&1 & ;;
    sails)
      EXTRA="--eio3"; METRICS=""
      (cd benches/peers/sails && exec taskset -c $CORE_SERVER node peer.js $PORT) >"$OUT/server-$1.log" 2>&1 & ;;
    socketioxide) METRICS=""; taskset -c $CORE_SERVER "$SX_TARGET/release/roomcast-peer-socketioxide" $PORT >"$OUT/server-$1.log" 2>&1 & ;;
    *) echo "unknown server $1" >&2; return 1 ;;
  esac
  SPID=$!
  for _ in $(seq 150); do
    if (echo >/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; then sleep 0.2; return 0; fi
    kill -0 "$SPID" 2>/dev/null || break
    sleep 0.2
  done
  echo "compare.sh: $1 did not start (see $OUT/server-$1.log)" >&2
  stop_server
  return 1
}
stop_server() {
  if [ -n "$SPID" ]; then
    kill "$SPID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SPID" 2>/dev/null || true
    wait "$SPID" 2>/dev/null || true
    SPID=""
  fi
}
trap stop_server EXIT

scenario_args() {
  case "$1" in
    a1k) echo "--clients 1000 --saturate --window 16 --payload 100" ;;
    a5k) echo "--clients 5000 --saturate --window 16 --payload 100" ;;
    a15k) echo "--clients 15000 --saturate --window 8 --payload 100" ;;
    b) echo "--clients 1000 --delivery-rate 200000 --payload 100" ;;
    b20k) echo "--clients 1000 --delivery-rate 20000 --payload 100" ;;
    c) echo "--clients 10000 --room-size 10 --random-rooms --publishers 2 --saturate --window 64 --payload 100" ;;
    d) echo "--mode idle --clients 15000" ;;
    e) echo "--mode idle --clients 5000 --connect-concurrency 2000" ;;
    *) echo "unknown scenario $1" >&2; return 1 ;;
  esac
}

IFS=, read -r -a SCEN_LIST <<<"$SCENARIOS"
IFS=, read -r -a SERV_LIST <<<"$SERVERS"
for sc in "${SCEN_LIST[@]}"; do
  args="$(scenario_args "$sc")"
  dur=$DURATION; warm=$WARMUP
  [ "$sc" = e ] && { dur=0; warm=0; }
  [ "$sc" = d ] && { dur=2; warm=0; }
  for srv in "${SERV_LIST[@]}"; do
    if { [ "$srv" = socketio ] || [ "$srv" = sails ]; } && [ ! -d "benches/peers/$srv/node_modules" ]; then
      echo "--- $sc / $srv: skipped (dependencies not installed)"
      continue
    fi
    echo "--- $sc / $srv"
    start_server "$srv" || { FAILED=1; continue; }
    # shellcheck disable=SC2086
    timeout $((dur + warm + 200)) taskset -c $CORE_LOAD "$BIN/loadgen" \
      --url "ws://127.0.0.1:$PORT/socket.io/" $EXTRA $METRICS $args \
      --duration "$dur" --warmup "$warm" --connect-timeout 120 \
      --server-pid "$SPID" --label "$sc/$srv" --json "$OUT/$sc-$srv.json" --quiet $CHECK \
      || { echo "    (loadgen failed: exit $?)"; FAILED=1; }
    stop_server
  done
done

"$BIN/report" "$OUT" || FAILED=1
echo "raw results: $OUT"
if [ -n "$CHECK" ] && [ "$FAILED" != 0 ]; then
  echo "compare.sh: a run failed or lost/duplicated messages" >&2
  exit 1
fi

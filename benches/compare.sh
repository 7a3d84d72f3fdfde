#!/usr/bin/env bash
# Side-by-side comparison: roomcast, its peers (socket.io 4.8, Sails 1.5,
# socketioxide 0.18) and the floor (rawfanout), driven by benches' `loadgen`.
#
#   benches/compare.sh                       # build everything, full matrix
#   benches/compare.sh --quick               # scenario a at 1k, 3 s, all servers
#   benches/compare.sh --scenarios a1k,b --servers roomcast,raw --duration 5
#   benches/compare.sh --no-build ...        # reuse the last build
#   benches/compare.sh --check ...           # exit 1 on loss, duplicates or a failed run (CI)
#   benches/compare.sh --window 32 ...       # another window for the saturating scenarios (a*, c, x1k)
#   benches/compare.sh --roomcast-before BIN --servers roomcast-before,roomcast,roomcast-before,roomcast ...
#                                            # another roomcast binary (e.g. an older commit's) side by side
#   benches/compare.sh --cluster             # x1k with roomcast-1node,roomcast,socketio (the cluster scenario)
#   benches/compare.sh --scenarios x1k --servers roomcast-1node,roomcast,socketio-1node,socketio --duration 5
#
# Scenarios: a1k a5k a15k (one room x N clients, 100 B, saturating), b (1k clients
# paced at 200k deliveries/s: latency), b20k (the same at 20k deliveries/s: the
# unloaded latency of a 1k fanout), c (10k clients in rooms of 10, random rooms,
# saturating), d (15k idle connections: RSS per connection), e (connection storm:
# 5k clients, 2k handshakes in flight: connections per second), ej (e with
# `--jwt-secret`, each client presenting its own token: roomcast only, against
# its own e run: the cost of verifying tokens), x1k and xb20k
# (cluster, saturating and paced at 20k deliveries/s: see below; not in the
# default matrix), p1k and pd (long-polling: see below; not in the default matrix).
# Servers: roomcast socketioxide socketio sails raw rawbatch, roomcast-mw (the
# default configuration: a worker per core, not pinned; not in the default
# matrix) (and roomcast-before,
# the binary given with --roomcast-before). A server may be listed several times
# (alternating runs); each run gets its own JSON file. raw and rawbatch are
# the floor (benches' rawfanout): one write per delivery, or every socket's frames
# of one event-loop iteration in one write (`--coalesce`, roomcast's palette).
# roomcast and the floors report frames per write (loadgen --metrics-url).
# A repeated server's runs are labelled `<server> (run N)` from its second run
# on, so the table shows every run (the roomcast advantage column compares with
# roomcast's first run).
#
# The server runs on core 0 and loadgen on core 1 (taskset), every server gets
# one thread/process. Raw JSON goes to benches/results/<stamp>/, the table (benches'
# `report` bin) to stdout and to benches/results/<stamp>/table.md, a plotters SVG
# chart to benches/results/<stamp>/chart.svg.
#
# Cluster scenarios x1k, xb20k: a1k's clients (one room of 1000, 100 B) across
# two nodes over Redis. Per run a fresh redis-server (--save "" --appendonly no)
# and two nodes start; the publisher connects to node 1, all receivers to node 2,
# so every delivery crosses Redis. The window frees a slot only once every
# receiver got the message (loadgen --publisher-url), not on node 1's ack (a node
# acks once the broadcast is queued for Redis); the one-node references use the
# same rule. x1k saturates with a window of 256 (a slot is held until the last of
# the 1000 receivers has the message: with 16 or 64 in flight the pipeline, not a
# server, is the limit, and any added latency shows up as throughput), so its
# figures compare only with the x1k references. xb20k is paced at 20k
# deliveries/s: the latency crossing nodes adds. Servers:
#   roomcast         two `roomcast --workers 1 --redis redis://127.0.0.1:P
#                    --node-id bench-n1|bench-n2` (roomcast-before: the same binary)
#   socketio         two processes of benches/peers/socketio/peer.js with REDIS_URL
#                    (@socket.io/redis-adapter 8.3, redis 4.7, classic pub/sub)
#   roomcast-1node   references: one node, no Redis, the same clients and window
#   socketio-1node   rule (publisher and receivers on that node)
# Others have no cluster variant and are skipped. Pinning: node 2, which fans
# every message out, gets core 0 alone, as a one-node reference does; node 1
# (publishers only) and Redis share core 1 with loadgen. "% of one node" in the
# report is so what crossing Redis costs the node that fans out. Server CPU is summed
# over the nodes and Redis (from /proc/PID/stat: loopback softirq time, 15-30 % of
# core 0 here, is not in it). Per run the JSON ("redis") and the table have Redis
# PUBLISH calls and bytes in (from the nodes) / out (to the subscribers) per
# broadcast: INFO commandstats / INFO stats deltas over the measured window over
# the broadcasts sent in it (the nodes' heartbeats, ~1/s each, are included).
#
# Long-polling scenarios p1k, pd: the receivers are Engine.IO v4 HTTP
# long-polling sessions (loadgen --transport polling: one keep-alive HTTP/1.1
# connection per session, long-poll GETs, the join and pongs POSTed on it
# between polls); the publisher stays on WebSocket. p1k is a1k over polling
# (1000 sessions in one room, 100 B, saturating, window 16), pd is d over
# polling (5000 idle sessions, each with a GET parked: server RSS per session).
# Servers: roomcast (both transports are on by default) and socketio (the peer
# run with TRANSPORTS=polling,websocket, socket.io's default); others are
# skipped (loadgen's polling mode speaks EIO4 only, so no Sails).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

SCENARIOS="a1k,a5k,a15k,b,b20k,c,d,e"
SERVERS="roomcast,socketioxide,socketio,sails,raw,rawbatch"
DURATION=10
WARMUP=2
BUILD=1
CHECK=""
WINDOW=""
BEFORE_BIN=""
FAILED=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) SCENARIOS="a1k"; DURATION=3; WARMUP=1 ;;
    --cluster) SCENARIOS="x1k"; SERVERS="roomcast-1node,roomcast,socketio" ;;
    --scenarios) SCENARIOS="$2"; shift ;;
    --servers) SERVERS="$2"; shift ;;
    --duration) DURATION="$2"; shift ;;
    --warmup) WARMUP="$2"; shift ;;
    --no-build) BUILD=0 ;;
    --check) CHECK="--check" ;;
    --window) WINDOW="$2"; shift ;;
    --roomcast-before) BEFORE_BIN="$2"; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
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
    if has "$peer" || has "$peer-1node"; then
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
SPORT=""       # the server the receivers connect to (node 2 in x1k)
SPID=""        # its pid
PUB_URL=""     # x1k: the publishers' server
RPORT=""       # x1k: the Redis port
PIDS=()        # every process started for the current run, in start order
ADMIN_TOKEN="bench-$$"
SIO_TRANSPORTS=websocket   # the socket.io peer's transports (polling,websocket in p*)
# next_port: moves $PORT to the next port nothing listens on.
next_port() {
  PORT=$((PORT + 1))
  while (echo >/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; do PORT=$((PORT + 1)); done
}
# wait_port WHAT PID PORT LOG: waits until PORT accepts connections (PID alive).
wait_port() {
  for _ in $(seq 150); do
    if (echo >/dev/tcp/127.0.0.1/"$3") 2>/dev/null; then sleep 0.2; return 0; fi
    kill -0 "$2" 2>/dev/null || break
    sleep 0.2
  done
  echo "compare.sh: $1 did not start (see $4)" >&2
  return 1
}
# launch NAME PORT LOG [NODE]: starts server NAME on PORT pinned to $CORE_SERVER,
# as cluster node bench-NODE over the Redis on $RPORT if NODE is given; adds its
# pid to PIDS and sets LPID, EXTRA and METRICS.
launch() {
  local name=$1 port=$2 log=$3 node=${4:-}
  local rc=() env=(TRANSPORTS="$SIO_TRANSPORTS")
  # Cluster runs: node 1 (publishers) shares the load generator's core with
  # Redis; node 2 (every receiver) gets the server core alone, as a one-node
  # reference does. So "% of one node" is what crossing Redis costs the node
  # that fans out, not two processes sharing its core.
  local CORE_SERVER=$CORE_SERVER
  [ "$node" = n1 ] && CORE_SERVER=$CORE_LOAD
  if [ -n "$node" ]; then
    rc=(--redis "redis://127.0.0.1:$RPORT" --node-id "bench-$node" --admin-token "$ADMIN_TOKEN")
    env+=(REDIS_URL="redis://127.0.0.1:$RPORT")
  fi
  EXTRA=""
  METRICS="--metrics-url http://127.0.0.1:$port/metrics"
  case "$name" in
    roomcast) taskset -c $CORE_SERVER "$BIN/roomcast" --port "$port" --workers 1 "${rc[@]}" "${JWT[@]}" >"$log" 2>&1 & ;;
    roomcast-mw)
      # The default configuration: one worker per core, on every core (the
      # load generator still has core 1, so the two share it).
      "$BIN/roomcast" --port "$port" "${rc[@]}" >"$log" 2>&1 & ;;
    roomcast-before)
      [ -x "$BEFORE_BIN" ] || { echo "compare.sh: roomcast-before needs --roomcast-before BIN" >&2; return 1; }
      taskset -c $CORE_SERVER "$BEFORE_BIN" --port "$port" --workers 1 "${rc[@]}" >"$log" 2>&1 & ;;
    raw) taskset -c $CORE_SERVER "$BIN/rawfanout" --port "$port" >"$log" 2>&1 & ;;
    rawbatch) taskset -c $CORE_SERVER "$BIN/rawfanout" --port "$port" --coalesce >"$log" 2>&1 & ;;
    socketio) METRICS=""; env "${env[@]}" taskset -c $CORE_SERVER node benches/peers/socketio/peer.js "$port" >"$log" 2>&1 & ;;
    sails)
      EXTRA="--eio3"; METRICS=""
      (cd benches/peers/sails && exec taskset -c $CORE_SERVER node peer.js "$port") >"$log" 2>&1 & ;;
    socketioxide) METRICS=""; taskset -c $CORE_SERVER "$SX_TARGET/release/roomcast-peer-socketioxide" "$port" >"$log" 2>&1 & ;;
    *) echo "unknown server $name" >&2; return 1 ;;
  esac
  LPID=$!
  PIDS+=("$LPID")
}
# start_server NAME: one server; sets SPORT, SPID, EXTRA and METRICS.
start_server() {
  next_port
  SPORT=$PORT
  launch "$1" "$SPORT" "$OUT/server-$1.log" || return 1
  SPID=$LPID
  wait_port "$1" "$SPID" "$SPORT" "$OUT/server-$1.log"
}
# redis_cli ARGS...: one command to the run's Redis.
redis_cli() { redis-cli -p "$RPORT" --raw "$@" 2>/dev/null; }
# start_cluster NAME TAG: Redis and two nodes of NAME (logs $OUT/*-TAG.log);
# sets PUB_URL to node 1 and SPORT, SPID, EXTRA, METRICS to node 2.
start_cluster() {
  local name=$1 tag=$2
  next_port
  RPORT=$PORT
  taskset -c $CORE_LOAD redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no \
    --daemonize no >"$OUT/redis-$tag.log" 2>&1 &
  PIDS+=("$!")
  wait_port redis-server "$!" "$RPORT" "$OUT/redis-$tag.log" || return 1
  next_port
  local p1=$PORT
  launch "$name" "$p1" "$OUT/server-$tag-n1.log" n1 || return 1
  wait_port "$name node 1" "$LPID" "$p1" "$OUT/server-$tag-n1.log" || return 1
  next_port
  SPORT=$PORT
  launch "$name" "$SPORT" "$OUT/server-$tag-n2.log" n2 || return 1
  SPID=$LPID
  wait_port "$name node 2" "$SPID" "$SPORT" "$OUT/server-$tag-n2.log" || return 1
  PUB_URL="ws://127.0.0.1:$p1/socket.io/"
  # Both nodes subscribed (and, for roomcast, each sees the other) before load.
  local channel="roomcast#all"
  [ "$name" = socketio ] && channel="socket.io-request#/#"
  for _ in $(seq 100); do
    if [ "$(redis_cli PUBSUB NUMSUB "$channel" | sed -n 2p | tr -dc 0-9)" = 2 ]; then
      [ "$name" = socketio ] && return 0
      local seen=0
      for p in "$p1" "$SPORT"; do
        [ "$(curl -sf -H "Authorization: Bearer $ADMIN_TOKEN" "http://127.0.0.1:$p/api/cluster" \
          | grep -o lastSeenMs | wc -l)" -ge 2 ] && seen=$((seen + 1))
      done
      [ "$seen" = 2 ] && return 0
    fi
    sleep 0.1
  done
  echo "compare.sh: the two $name nodes did not see each other within 10 s (see $OUT/*-$tag*.log); running anyway" >&2
}
# stop_all: stops every process of the run by its pid, the last started first.
stop_all() {
  local i pid
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    pid=${PIDS[$i]}
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
  SPID=""
  PUB_URL=""
  RPORT=""
}
trap stop_all EXIT

scenario_args() {
  case "$1" in
    a1k) echo "--clients 1000 --saturate --window 16 --payload 100" ;;
    x1k) echo "--clients 1000 --saturate --window 256 --payload 100" ;;
    xb20k) echo "--clients 1000 --delivery-rate 20000 --payload 100" ;;
    a5k) echo "--clients 5000 --saturate --window 16 --payload 100" ;;
    a15k) echo "--clients 15000 --saturate --window 8 --payload 100" ;;
    b) echo "--clients 1000 --delivery-rate 200000 --payload 100" ;;
    b20k) echo "--clients 1000 --delivery-rate 20000 --payload 100" ;;
    c) echo "--clients 10000 --room-size 10 --random-rooms --publishers 2 --saturate --window 64 --payload 100" ;;
    d) echo "--mode idle --clients 15000" ;;
    e) echo "--mode idle --clients 5000 --connect-concurrency 2000" ;;
    ej) echo "--mode idle --clients 5000 --connect-concurrency 2000 --jwt-secret $JWT_SECRET" ;;
    p1k) echo "--transport polling --clients 1000 --saturate --window 16 --payload 100" ;;
    pd) echo "--transport polling --mode idle --clients 5000" ;;
    *) echo "unknown scenario $1" >&2; return 1 ;;
  esac
}

# Scenario ej: e with tokens required (--jwt-secret) and every client
# presenting its own HS256 token (loadgen mints them before connecting).
JWT_SECRET="compare-sh-jwt-secret"
RUN=0
IFS=, read -r -a SCEN_LIST <<<"$SCENARIOS"
IFS=, read -r -a SERV_LIST <<<"$SERVERS"
for sc in "${SCEN_LIST[@]}"; do
  args="$(scenario_args "$sc")"
  [ -n "$WINDOW" ] && args="$(sed -E "s/--window [0-9]+/--window $WINDOW/" <<<"$args")"
  dur=$DURATION; warm=$WARMUP
  [ "$sc" = e ] && { dur=0; warm=0; }
  [ "$sc" = ej ] && { dur=0; warm=0; }
  [ "$sc" = d ] && { dur=2; warm=0; }
  [ "$sc" = pd ] && { dur=2; warm=0; }
  SIO_TRANSPORTS=websocket
  JWT=()
  [ "$sc" = ej ] && JWT=(--jwt-secret "$JWT_SECRET")
  [ "${sc#p}" != "$sc" ] && SIO_TRANSPORTS=polling,websocket
  for srv in "${SERV_LIST[@]}"; do
    # x1k: base server, cluster (two nodes + Redis) or its one-node reference.
    base=$srv; cluster=0
    if [ "${sc#x}" != "$sc" ]; then
      case "$srv" in
        roomcast|roomcast-before|socketio) cluster=1 ;;
        roomcast-1node|socketio-1node) base=${srv%-1node} ;;
        *) echo "--- $sc / $srv: skipped (no cluster variant)"; continue ;;
      esac
    elif [ "${sc#p}" != "$sc" ]; then
      case "$srv" in
        roomcast|roomcast-before|socketio) ;;
        *) echo "--- $sc / $srv: skipped (no long-polling run for it)"; continue ;;
      esac
    elif [ "$sc" = ej ] && [ "$srv" != roomcast ]; then
      echo "--- $sc / $srv: skipped (the JWT connect scenario compares roomcast with itself: see e)"
      continue
    elif [ "$srv" != "${srv%-1node}" ]; then
      echo "--- $sc / $srv: skipped (one-node references are for the cluster scenarios)"
      continue
    fi
    if { [ "$base" = socketio ] || [ "$base" = sails ]; } && [ ! -d "benches/peers/$base/node_modules" ]; then
      echo "--- $sc / $srv: skipped (dependencies not installed)"
      continue
    fi
    if [ "$cluster" = 1 ] && ! command -v redis-server >/dev/null; then
      echo "--- $sc / $srv: skipped (redis-server not installed)"
      continue
    fi
    RUN=$((RUN + 1))
    name="$sc-$srv"
    label="$sc/$srv"
    if [ -e "$OUT/$name.json" ]; then
      name="$sc-$srv-$RUN"
      label="$sc/$srv (run $RUN)"
    fi
    echo "--- $sc / $srv"
    cl=()
    if [ "$cluster" = 1 ]; then
      start_cluster "$base" "$name" || { FAILED=1; stop_all; continue; }
      cl=(--publisher-url "$PUB_URL" --redis-stats "127.0.0.1:$RPORT" --nodes 2)
    else
      start_server "$base" || { FAILED=1; stop_all; continue; }
      [ "${sc#x}" != "$sc" ] && cl=(--publisher-url "ws://127.0.0.1:$SPORT/socket.io/")
    fi
    pids="$(IFS=,; echo "${PIDS[*]}")"
    # shellcheck disable=SC2086
    timeout $((dur + warm + 200)) taskset -c $CORE_LOAD "$BIN/loadgen" \
      --url "ws://127.0.0.1:$SPORT/socket.io/" "${cl[@]}" $EXTRA $METRICS $args \
      --duration "$dur" --warmup "$warm" --connect-timeout 120 \
      --server-pid "$pids" --label "$label" --json "$OUT/$name.json" --quiet $CHECK \
      || { echo "    (loadgen failed: exit $?)"; FAILED=1; }
    stop_all
  done
done

"$BIN/report" "$OUT" || FAILED=1
echo "raw results: $OUT"
if [ -n "$CHECK" ] && [ "$FAILED" != 0 ]; then
  echo "compare.sh: a run failed or lost/duplicated messages" >&2
  exit 1
fi

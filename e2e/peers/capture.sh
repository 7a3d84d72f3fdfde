#!/usr/bin/env bash
# Redoes the wire captures from scratch: a private redis-server on a free
# loopback port (no persistence), then capture/socketio.js and capture/sails.js
# (each starts its two Node peers, a MONITOR and a PSUBSCRIBE * recorder, and
# stops them by pid). Writes captures/*.md, captures/fixtures/*, captures/raw/*.
# Every wait is bounded; redis-server is stopped by its own pid on exit.
# Needs: redis-server + redis-cli, node 20, `npm ci` done in socketio-cluster/ and sails-cluster/.
set -euo pipefail
cd "$(dirname "$0")"
for d in socketio-cluster sails-cluster; do
  [ -d "$d/node_modules" ] || { echo "run: (cd e2e/peers/$d && npm ci)" >&2; exit 2; }
done
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
TMP=$(mktemp -d)
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >"$TMP/redis.log" 2>&1 &
REDIS_PID=$!
cleanup() { kill "$REDIS_PID" 2>/dev/null || true; wait "$REDIS_PID" 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$PORT" ping >/dev/null || { echo "redis-server did not start" >&2; cat "$TMP/redis.log" >&2; exit 1; }
rm -rf captures/fixtures captures/raw
mkdir -p captures/fixtures captures/raw
timeout 150 node capture/socketio.js "$PORT"
redis-cli -p "$PORT" flushall >/dev/null
timeout 150 node capture/sails.js "$PORT"
node capture/index.js
echo "captures written to $(pwd)/captures (redis-server pid $REDIS_PID on port $PORT, stopping)"

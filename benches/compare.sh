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
# paced at 200k deliveries/s: latency), c (10k clients in rooms of 10, random
# rooms, saturating), d (15k idle connections: RSS per connection), e (connection
# storm: 5k clients, 2k handshakes in flight: connections per second).
# Servers: roomcast raw socketio sails socketioxide.
#
# The server runs on core 0 and loadgen on core 1 (taskset), every server gets
# one thread/process. Raw JSON goes to benches/results/<stamp>/, the table to
# stdout and to benches/results/<stamp>/table.md, an SVG chart to
# benches/results/<stamp>/chart.svg.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

SCENARIOS="a1k,a5k,a15k,b,c,d,e"
SERVERS="roomcast,raw,socketio,sails,socketioxide"
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
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
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
  case "$1" in
    roomcast) taskset -c $CORE_SERVER "$BIN/roomcast" --port $PORT --workers 1 >"$OUT/server-$1.log" 2>&1 & ;;
    raw) taskset -c $CORE_SERVER "$BIN/rawfanout" --port $PORT >"$OUT/server-$1.log" 2>&1 & ;;
    socketio) taskset -c $CORE_SERVER node benches/peers/socketio/peer.js $PORT >"$OUT/server-$1.log" 2>&1 & ;;
    sails)
      EXTRA="--eio3"
      (cd benches/peers/sails && exec taskset -c $CORE_SERVER node peer.js $PORT) >"$OUT/server-$1.log" 2>&1 & ;;
    socketioxide) taskset -c $CORE_SERVER "$SX_TARGET/release/roomcast-peer-socketioxide" $PORT >"$OUT/server-$1.log" 2>&1 & ;;
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
      --url "ws://127.0.0.1:$PORT/socket.io/" $EXTRA $args \
      --duration "$dur" --warmup "$warm" --connect-timeout 120 \
      --server-pid "$SPID" --label "$sc/$srv" --json "$OUT/$sc-$srv.json" --quiet $CHECK \
      || { echo "    (loadgen failed: exit $?)"; FAILED=1; }
    stop_server
  done
done

python3 - "$OUT" <<'PY' | tee "$OUT/table.md"
import json, sys, glob, os
out = sys.argv[1]
rows = {}
for f in sorted(glob.glob(os.path.join(out, "*.json"))):
    r = json.load(open(f))
    sc, srv = r["label"].split("/")
    rows.setdefault(sc, {})[srv] = r
def metric(sc, r):
    if sc == "d":
        v = r.get("server_rss_per_conn_bytes")
        return v, f"{v:,.0f} B/conn" if v is not None else "-"
    if sc == "e":
        v = r["connect_per_s"]
        return v, f"{v:,.0f} conn/s"
    v = r["deliveries_per_s"]
    lat = r["latency_ms"]
    return v, f"{v/1e6:.3f} M/s, p99 {lat['p99']:.1f} ms, lost {r['lost']}, dup {r['duplicated']}"
print("| scenario | server | result | roomcast advantage (x, >1 = roomcast better) |")
print("|---|---|---|---:|")
for sc in sorted(rows):
    base = rows[sc].get("roomcast")
    bv = metric(sc, base)[0] if base else None
    for srv, r in rows[sc].items():
        v, text = metric(sc, r)
        ratio = "-"
        if bv and v:
            ratio = f"{(v / bv if sc == 'd' else bv / v):.2f}x"
        print(f"| {sc} | {srv} | {text} | {ratio} |")
PY
python3 - "$OUT" <<'PY'
import json, sys, glob, os, html
out = sys.argv[1]
svg_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(out, "chart.svg")
rows = {}
for f in sorted(glob.glob(os.path.join(out, "*.json"))):
    r = json.load(open(f))
    sc, srv = r["label"].split("/")
    rows.setdefault(sc, {})[srv] = r
servers = ["roomcast", "socketioxide", "socketio", "sails", "raw"]
names = {"roomcast": "roomcast", "socketioxide": "socketioxide 0.18", "socketio": "socket.io 4.8",
         "sails": "Sails 1.5", "raw": "floor (1 write/delivery)"}
colors = {"roomcast": "#d9480f", "socketioxide": "#1971c2", "socketio": "#2f9e44", "sails": "#7048e8", "raw": "#868e96"}
panels = [
    ("Deliveries/s, one room, 100 B, saturating (higher is better)", [s for s in ["a1k", "a5k", "a15k"] if s in rows],
     lambda r: r["deliveries_per_s"] / 1e6, "M/s", {"a1k": "1 k clients", "a5k": "5 k clients", "a15k": "15 k clients"}),
    ("p99 latency at 200 k deliveries/s, 1 k clients (lower is better, log scale)", [s for s in ["b"] if s in rows],
     lambda r: r["latency_ms"]["p99"], "ms", {"b": "p99"}),
    ("Server RSS per idle connection, 15 k connections (lower is better)", [s for s in ["d"] if s in rows],
     lambda r: (r.get("server_rss_per_conn_bytes") or 0) / 1024, "KB", {"d": "RSS/conn"}),
]
panels = [p for p in panels if p[1]]
W, PH, top = 980, 260, 40
H = top + PH * len(panels) + 40
o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
     f'<rect width="{W}" height="{H}" fill="white"/>']
# legend
x = 60
for s in servers:
    o.append(f'<rect x="{x}" y="12" width="12" height="12" fill="{colors[s]}"/><text x="{x+16}" y="22">{html.escape(names[s])}</text>')
    x += 180
import math
for pi, (title, scs, val, unit, labels) in enumerate(panels):
    y0 = top + pi * PH
    o.append(f'<text x="60" y="{y0+20}" font-weight="bold">{html.escape(title)}</text>')
    ph = PH - 70
    base = y0 + 30 + ph
    vals = [val(rows[sc][s]) for sc in scs for s in servers if s in rows[sc]]
    vmax = max(vals + [1e-9])
    log = "log" in title
    def hgt(v):
        if log:
            lo = math.log10(max(min(vals), 1e-3)) - 0.3
            return ph * (math.log10(max(v, 1e-3)) - lo) / (math.log10(vmax) - lo)
        return ph * v / vmax
    o.append(f'<line x1="60" y1="{base}" x2="{W-20}" y2="{base}" stroke="black"/>')
    gw = (W - 100) / max(len(scs), 1)
    for gi, sc in enumerate(scs):
        present = [s for s in servers if s in rows[sc]]
        bw = min(60, (gw - 30) / max(len(present), 1))
        gx = 70 + gi * gw
        for bi, s in enumerate(present):
            v = val(rows[sc][s])
            h = max(hgt(v), 1)
            bx = gx + bi * bw
            o.append(f'<rect x="{bx:.1f}" y="{base-h:.1f}" width="{bw-4:.1f}" height="{h:.1f}" fill="{colors[s]}"/>')
            txt = f"{v:.2f}" if v < 10 else f"{v:.0f}"
            o.append(f'<text x="{bx+(bw-4)/2:.1f}" y="{base-h-3:.1f}" text-anchor="middle" font-size="10">{txt}</text>')
        o.append(f'<text x="{gx + len(present)*bw/2:.1f}" y="{base+16}" text-anchor="middle">{html.escape(labels.get(sc, sc))} ({unit})</text>')
o.append("</svg>")
open(svg_path, "w").write("\n".join(o) + "\n")
print(f"chart: {svg_path}")
PY
echo "raw results: $OUT"
if [ -n "$CHECK" ] && [ "$FAILED" != 0 ]; then
  echo "compare.sh: a run failed or lost/duplicated messages" >&2
  exit 1
fi

#!/usr/bin/env bash
# Run the Autobahn|Testsuite fuzzingclient against the codec's echo example.
#
# Usage: scripts/autobahn.sh [CASES]
#   CASES  case patterns for run.sh (default "*": cases 1-8 and 10; 9.* needs
#          "9.*" or INCLUDE_PERF=1), e.g. "1.*,2.*" or "6.4.*".
# Builds `server/examples/echo.rs` in release, starts it on a free 127.0.0.1
# port, runs scripts/autobahn/run.sh with STRICT_CLOSE=1 (close-handshake
# failures count as failures), stops the server and exits with run.sh's status.
# Env:
#   AUTOBAHN_DIR   the Autobahn runner (default: scripts/autobahn, the team's
#                  Python 3 port of the testsuite's runner, vendored)
#   AUTOBAHN_VENV  its venv (default /tmp/autobahn-venv; created by setup.sh
#                  when missing)
#   OUTDIR         report directory (default <target dir>/autobahn-report)
set -euo pipefail

ROOT="$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)"
AUTOBAHN_DIR="${AUTOBAHN_DIR:-$ROOT/scripts/autobahn}"
CASES="${1:-*}"
export AUTOBAHN_VENV="${AUTOBAHN_VENV:-/tmp/autobahn-venv}"

if [ ! -f "$AUTOBAHN_DIR/run.sh" ]; then
  echo "autobahn.sh: no runner at $AUTOBAHN_DIR (set AUTOBAHN_DIR)" >&2
  exit 2
fi
if [ ! -x "$AUTOBAHN_VENV/bin/wstest" ]; then
  echo "==> installing the Autobahn testsuite into $AUTOBAHN_VENV"
  bash "$AUTOBAHN_DIR/setup.sh" "$AUTOBAHN_VENV"
fi

cd "$ROOT"
echo "==> building the echo example (release)"
cargo build --release --quiet -p roomcast-server --example echo
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
ECHO="$TARGET_DIR/release/examples/echo"
export OUTDIR="${OUTDIR:-$TARGET_DIR/autobahn-report}"

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$ECHO" --port "$PORT" > "$TARGET_DIR/autobahn-echo.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true' EXIT

# Wait (up to 10 s) until the server accepts connections.
for _ in $(seq 1 100); do
  if ! kill -0 "$SERVER" 2>/dev/null; then
    echo "autobahn.sh: the echo server exited:" >&2
    cat "$TARGET_DIR/autobahn-echo.log" >&2
    exit 1
  fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    break
  fi
  sleep 0.1
done

set +e
STRICT_CLOSE=1 bash "$AUTOBAHN_DIR/run.sh" 127.0.0.1 "$PORT" "$CASES"
status=$?
set -e
if ! kill -0 "$SERVER" 2>/dev/null; then
  echo "autobahn.sh: the echo server died during the run:" >&2
  tail -20 "$TARGET_DIR/autobahn-echo.log" >&2
  [ "$status" -ne 0 ] || status=1
fi
exit "$status"

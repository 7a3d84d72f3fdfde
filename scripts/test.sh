#!/usr/bin/env bash
# The whole test suite: Rust unit, property, integration and doc tests, then the
# end-to-end tests with real Socket.IO and Sails clients from npm (pinned by
# e2e/package-lock.json) and python-socketio from PyPI (pinned by
# e2e/python/requirements.txt) against the roomcast binary that `cargo test` built.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null; then
  echo "test.sh: the cluster tests need redis-server (apt-get install redis-server)" >&2
  exit 1
fi
cargo test --workspace --all-features

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "test.sh: node and npm are needed for the end-to-end tests" >&2
  exit 1
fi
cargo build --quiet -p roomcast-server --bin roomcast
# e2e's clients, and the socket.io and Sails cluster nodes the mixed-cluster tests run
# beside roomcast (each with its own lockfile).
for dir in e2e e2e/peers/socketio-cluster e2e/peers/sails-cluster; do
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done
# The pinned python-socketio client of e2e/python (a git-ignored venv) for the
# polling test; without python3-venv it skips loudly, but fails under CI.
bash e2e/python/setup.sh
# The binary just built, never an older one left in target/.
ROOMCAST_BIN="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/roomcast"
export ROOMCAST_BIN
(cd e2e && npm test)

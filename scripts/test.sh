#!/usr/bin/env bash
# The whole test suite: Rust unit, property, integration and doc tests, then the
# end-to-end tests with real Socket.IO and Sails clients from npm (pinned by
# e2e/package-lock.json) against the roomcast binary that `cargo test` built.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "test.sh: node and npm are needed for the end-to-end tests" >&2
  exit 1
fi
cargo build --quiet -p roomcast-server --bin roomcast
if [ ! -d e2e/node_modules ] || [ e2e/package-lock.json -nt e2e/node_modules/.package-lock.json ]; then
  (cd e2e && npm ci --no-audit --no-fund --loglevel=error)
fi
(cd e2e && npm test)

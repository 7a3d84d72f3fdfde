#!/usr/bin/env bash
# Regenerates docs/configuration.md from `roomcast --help` and
# roomcast.example.toml. The same renderer is the test
# `configuration_doc_is_current` (server/tests/server_binary.rs), which fails in
# `cargo test` when the committed page differs.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOMCAST_UPDATE_DOCS=1 cargo test -q -p roomcast-server --test server_binary configuration_doc_is_current
echo "wrote docs/configuration.md"

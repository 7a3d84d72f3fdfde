#!/usr/bin/env bash
# Creates e2e/python/.venv (git-ignored) with the pinned Python Socket.IO client
# of requirements.txt, for tests/polling.test.js, and PyJWT, for the README's
# mint_token.py (tests/access.test.js). Does nothing when the venv
# already holds exactly these requirements. scripts/test.sh and .ci/run call it.
#
# Without a working `python3 -m venv` (Debian: apt-get install python3-venv) or
# when the install fails, it fails under CI and, elsewhere, says so loudly and
# leaves no venv: the Python test then skips, loudly.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
STAMP=.venv/requirements.installed

if [ -x .venv/bin/python ] && cmp -s requirements.txt "$STAMP"; then
  exit 0
fi

give_up() {
  rm -rf .venv
  if [ -n "${CI:-}" ]; then
    echo "e2e/python/setup.sh: $1" >&2
    exit 1
  fi
  local bar
  bar=$(printf '!%.0s' $(seq 78))
  printf '\n%s\n!! e2e/python/setup.sh: %s\n!! The python-socketio and mint_token.py e2e tests will be SKIPPED.\n%s\n\n' "$bar" "$1" "$bar" >&2
  exit 0
}

command -v "$PYTHON" >/dev/null || give_up "$PYTHON not found (apt-get install -y python3 python3-venv)"
rm -rf .venv
"$PYTHON" -m venv .venv || give_up "'$PYTHON -m venv' failed (on Debian: apt-get install -y python3-venv)"
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-input -r requirements.txt \
  || give_up "pip install -r e2e/python/requirements.txt failed"
cp requirements.txt "$STAMP"
echo "e2e/python/.venv: $(.venv/bin/python -m pip freeze --disable-pip-version-check | grep -i -E "^(python-socketio|python-engineio|pyjwt)==" | tr "\n" " ")"

#!/usr/bin/env bash
# The README's test command: installs what the tests need on a fresh Debian/Ubuntu
# host (idempotent: packages, dockerd with gVisor, sandbox images cached by recipe
# hash), builds (incl. the Go agent), and runs every test against real bubblewrap, Docker, gVisor, SQLite and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/install-docker.sh
bash scripts/install-postgres.sh
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
npm run build --silent
export PADDOCK_IMAGES_DIR="${PADDOCK_IMAGES_DIR:-/var/cache/paddock/images}"
bash scripts/build-images.sh
# The in-sandbox agent's own tests (Go) run with the whole suite, not with a file filter; its exec tests
# once more without the C exec shim, against the Go shim it falls back to.
if [ $# -eq 0 ]; then
  (cd agent && go vet ./... && go vet -tags goshim ./... && test -z "$(gofmt -l .)" && go test -count=1 ./... &&
    go test -count=1 -tags goshim -run 'Exec|Rlimit|Pty' ./...)
  # The bwrap spawner is exercised by test/bwrap-spawner.int.test.ts and every bwrap test.
  (cd spawner && go vet ./... && test -z "$(gofmt -l .)")
fi
exec npx vitest run "$@"

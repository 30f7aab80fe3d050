#!/usr/bin/env bash
# The README's test command: installs what the tests need on a fresh Debian/Ubuntu
# host (idempotent), builds, and runs every test against real bubblewrap and SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run build --silent
exec npx vitest run "$@"

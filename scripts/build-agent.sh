#!/usr/bin/env bash
# Builds the in-sandbox agent (agent/, Go standard library only) into dist/agent/paddock-agent: static
# (CGO_ENABLED=0), stripped. Skipped when the sources and the Go version hash the same as for the last build.
set -euo pipefail
cd "$(dirname "$0")/.."
out=dist/agent/paddock-agent
if ! command -v go >/dev/null; then
  echo "build-agent: the Go toolchain is missing; install it with: apt-get install golang-go (Go >= 1.19)" >&2
  exit 1
fi
# go needs a build cache; without HOME (some CI shells) it has no default.
if [ -z "${GOCACHE:-}" ] && [ -z "${HOME:-}" ] && [ -z "${XDG_CACHE_HOME:-}" ]; then
  export GOCACHE=/tmp/paddock-go-build
fi
hash=$( (go version; find agent -type f \( -name '*.go' ! -name '*_test.go' -o -name go.mod \) | LC_ALL=C sort | xargs sha256sum) | sha256sum | cut -d' ' -f1)
if [ -x "$out" ] && [ "$(cat "$out.sha256" 2>/dev/null)" = "$hash" ]; then
  echo "build-agent: $out is up to date ($(stat -c %s "$out") bytes)"
  exit 0
fi
mkdir -p "$(dirname "$out")"
# -buildvcs=false: no git lookup (and the same sources give the same binary).
(cd agent && CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "-s -w" -o "../$out.tmp" .)
mv "$out.tmp" "$out"
echo "$hash" >"$out.sha256"
echo "build-agent: built $out ($(stat -c %s "$out") bytes)"

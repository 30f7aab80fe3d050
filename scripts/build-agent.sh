#!/usr/bin/env bash
# Builds the in-sandbox agent (agent/, Go standard library only) into dist/agent/paddock-agent: static
# (CGO_ENABLED=0), stripped, with its C exec shim (agent/execshim/shim.c, static with musl) embedded; and
# the runner's bwrap spawner (spawner/) into dist/agent/paddock-spawner.
# Skipped when the sources and the toolchains hash the same as for the last build.
set -euo pipefail
cd "$(dirname "$0")/.."
out=dist/agent/paddock-agent
if ! command -v go >/dev/null; then
  echo "build-agent: the Go toolchain is missing; install it with: apt-get install golang-go (Go >= 1.19)" >&2
  exit 1
fi
if ! command -v musl-gcc >/dev/null; then
  echo "build-agent: musl-gcc is missing (the agent's exec shim is built with it); install it with: apt-get install musl-tools" >&2
  exit 1
fi
# go needs a build cache; without HOME (some CI shells) it has no default.
if [ -z "${GOCACHE:-}" ] && [ -z "${HOME:-}" ] && [ -z "${XDG_CACHE_HOME:-}" ]; then
  export GOCACHE=/tmp/paddock-go-build
fi
hash=$( (go version; musl-gcc --version | head -1; find agent spawner -type f \( -name '*.go' ! -name '*_test.go' -o -name go.mod -o -name '*.c' \) | LC_ALL=C sort | xargs sha256sum) | sha256sum | cut -d' ' -f1)
if [ -x "$out" ] && [ -x dist/agent/paddock-spawner ] && [ "$(cat "$out.sha256" 2>/dev/null)" = "$hash" ]; then
  echo "build-agent: $out (and paddock-spawner) is up to date ($(stat -c %s "$out") bytes)"
  exit 0
fi
mkdir -p "$(dirname "$out")"
# The shim first: the agent embeds it (agent/execshim.go).
musl-gcc -static -Os -s -Wall -Wextra -Werror -o agent/execshim/paddock-exec.tmp agent/execshim/shim.c
mv agent/execshim/paddock-exec.tmp agent/execshim/paddock-exec
# -buildvcs=false: no git lookup (and the same sources give the same binary).
(cd agent && CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "-s -w" -o "../$out.tmp" .)
(cd spawner && CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "-s -w" -o "../dist/agent/paddock-spawner" .)
mv "$out.tmp" "$out"
echo "$hash" >"$out.sha256"
echo "build-agent: built $out ($(stat -c %s "$out") bytes)"

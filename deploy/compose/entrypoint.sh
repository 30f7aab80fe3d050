#!/bin/sh
# The Docker Engine bind-mounts the in-sandbox agent into every sandbox container by its host path,
# so it must sit where the host sees it: a directory mounted at the same path on both sides
# (PADDOCK_DOCKER__AGENT_PATH, see compose.yaml). Copied whole, then renamed: a sandbox never
# sees half a binary.
set -eu
if [ -n "${PADDOCK_DOCKER__AGENT_PATH:-}" ]; then
  mkdir -p "$(dirname "$PADDOCK_DOCKER__AGENT_PATH")"
  cp /opt/paddock/dist/agent/paddock-agent "$PADDOCK_DOCKER__AGENT_PATH.tmp"
  mv "$PADDOCK_DOCKER__AGENT_PATH.tmp" "$PADDOCK_DOCKER__AGENT_PATH"
fi
exec node /opt/paddock/dist/cli/main.js "$@"

#!/usr/bin/env bash
# Builds the images the test suite needs (base, python, agent: node + git + Claude Code, judge: the judge
# languages, and vm-kernel: the qemu driver's guest kernel) into PADDOCK_IMAGES_DIR
# (default /var/cache/paddock/images). CI runs it before the tests, after
# `npm run build`. Images whose recipe is unchanged are kept, so with a warm
# cache this takes about a second; a cold build takes a minute or two (debootstrap).
set -euo pipefail
cd "$(dirname "$0")/.."
export PADDOCK_IMAGES_DIR="${PADDOCK_IMAGES_DIR:-/var/cache/paddock/images}"
if [ ! -f dist/cli/main.js ]; then
  echo "build-images: dist/cli/main.js is missing; run npm run build first" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "build-images: building images needs root (debootstrap, chroot)" >&2
  exit 1
fi
if ! command -v debootstrap >/dev/null; then
  echo "build-images: installing debootstrap" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi
exec node dist/cli/main.js image build --images-dir "$PADDOCK_IMAGES_DIR" base python agent judge vm-kernel "$@"

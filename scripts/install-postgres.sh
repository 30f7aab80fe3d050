#!/usr/bin/env bash
# PostgreSQL's server binaries (Debian's `postgresql`): the tests start private servers from them
# (test/helpers/postgres.ts), one per test file, in temp dirs on their own ports; a fleet points
# every host at one server of its own (README, "A fleet on PostgreSQL"). Installs only when missing.
set -euo pipefail
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && exit 0
echo "installing: postgresql" >&2
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# The package may start its own "main" cluster; the tests do not use it.
$SUDO apt-get install -y -qq postgresql >/dev/null

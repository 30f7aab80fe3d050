#!/usr/bin/env bash
# Host packages Paddock needs: bubblewrap (sandboxes), python3-seccomp (libseccomp, which
# compiles the bwrap sandboxes' seccomp filter; without it bwrap jobs are refused), util-linux (prlimit, setpriv),
# golang-go and musl-tools (build the in-sandbox agent, agent/, and its static C exec shim), qemu-system-x86,
# qemu-utils, e2fsprogs, xz-utils, iproute2 and iptables (the qemu driver), and a C toolchain for better-sqlite3 when no
# prebuilt binary can be downloaded. Installs only what is missing; needs root or sudo.
set -euo pipefail
need=()
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v prlimit >/dev/null || need+=(util-linux)
command -v go >/dev/null || need+=(golang-go)
command -v musl-gcc >/dev/null || need+=(musl-tools)
command -v g++ >/dev/null || need+=(g++)
command -v make >/dev/null || need+=(make)
command -v curl >/dev/null || need+=(curl ca-certificates)
# The qemu driver: QEMU, its disk tool, mkfs.ext4 for the VMs' root disks, xz to unpack the guest kernel.
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v qemu-img >/dev/null || need+=(qemu-utils)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
command -v xz >/dev/null || need+=(xz-utils)
# Its egress: a network namespace, veth and TAP per VM (ip), the firewall (iptables).
command -v ip >/dev/null || need+=(iproute2)
command -v iptables >/dev/null || need+=(iptables)
command -v python3 >/dev/null || need+=(python3)
/usr/bin/python3 -c 'import seccomp' 2>/dev/null || need+=(python3 python3-seccomp)
if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  # Debian 12 and Ubuntu 24.04 ship Node 18; Paddock needs 20 or newer.
  echo "paddock needs Node.js >= 20 (found: $(node --version 2>/dev/null || echo none)); install it from nodejs.org or NodeSource" >&2
  exit 1
fi
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing: ${need[*]}" >&2
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${need[@]}" >/dev/null

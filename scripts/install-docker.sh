#!/usr/bin/env bash
# Container sandboxes: installs Docker Engine, gVisor (runsc) and debootstrap from
# the distribution, registers runsc as a Docker runtime, and starts dockerd if it
# is not running (through systemd when the host has it). Idempotent; needs root.
set -euo pipefail
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v runsc >/dev/null || need+=(runsc)
command -v debootstrap >/dev/null || need+=(debootstrap)
# The egress firewall (docker.io depends on it; named so a Docker from elsewhere gets it too).
command -v iptables >/dev/null || need+=(iptables)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# gVisor cannot join Docker's bridge on every host, so it gets no network; --host-uds=open
# lets it reach a host Unix socket that is bind-mounted in.
want='{"runtimes":{"runsc":{"path":"'"$(command -v runsc)"'","runtimeArgs":["--network=none","--host-uds=open"]}}}'
changed=0
if [ ! -f /etc/docker/daemon.json ] || ! grep -q '"runsc"' /etc/docker/daemon.json; then
  $SUDO mkdir -p /etc/docker
  if [ -s /etc/docker/daemon.json ]; then
    merged=$(node -e 'const a=JSON.parse(require("fs").readFileSync("/etc/docker/daemon.json","utf8"));const b=JSON.parse(process.argv[1]);a.runtimes={...(a.runtimes||{}),...b.runtimes};console.log(JSON.stringify(a,null,2))' "$want")
  else
    merged=$want
  fi
  echo "$merged" | $SUDO tee /etc/docker/daemon.json >/dev/null
  changed=1
fi

ping() { curl -fsS --unix-socket /var/run/docker.sock http://localhost/_ping >/dev/null 2>&1; }
if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
  if [ $changed -eq 1 ] || ! ping; then $SUDO systemctl restart docker; fi
elif [ $changed -eq 1 ] || ! ping; then
  # No systemd (containers, CI): run dockerd in the background.
  $SUDO pkill -x dockerd 2>/dev/null && sleep 1 || true
  $SUDO sh -c 'nohup dockerd >/var/log/dockerd.log 2>&1 </dev/null &'
fi
for _ in $(seq 100); do ping && exit 0; sleep 0.2; done
echo "dockerd did not come up; see /var/log/dockerd.log" >&2
exit 1

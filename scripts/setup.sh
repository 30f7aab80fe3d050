#!/usr/bin/env bash
# Quick start, step 1: install what Paddock needs, build it, and start the runner
# on the embedded default (SQLite + the best sandbox driver this host has).
# Idempotent: re-running rebuilds and restarts. Run from the repository root as root
# (or with sudo) so sandboxes get per-job cgroups and a dedicated unprivileged uid.
#
# No Docker needed: bubblewrap is the default. With --docker it also installs Docker
# Engine + gVisor; whenever dockerd answers, it builds the `base` image so the
# container drivers (gvisor > docker > bwrap) become available to `driver: auto`.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
WITH_DOCKER=0
[ "${1:-}" = "--docker" ] && WITH_DOCKER=1

bash scripts/install-deps.sh
[ $WITH_DOCKER -eq 1 ] && bash scripts/install-docker.sh
npm ci --no-audit --no-fund --loglevel=error
npm run build --silent

DATA_DIR=${PADDOCK_DATA_DIR:-$( [ "$(id -u)" -eq 0 ] && echo /var/lib/paddock || echo "$HOME/.paddock" )}
PORT=${PADDOCK_PORT:-7878}
HOST=${PADDOCK_HOST:-127.0.0.1}
mkdir -p "$DATA_DIR"
if [ "$(id -u)" -eq 0 ] && curl -fsS --unix-socket /var/run/docker.sock http://localhost/_ping >/dev/null 2>&1; then
  node dist/cli/main.js image build base --data-dir "$DATA_DIR"
fi
node dist/cli/main.js doctor --data-dir "$DATA_DIR" || true

if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] && [ "$(id -u)" -eq 0 ]; then
  sed -e "s#@REPO@#$REPO#g" -e "s#@DATA_DIR@#$DATA_DIR#g" -e "s#@PORT@#$PORT#g" -e "s#@HOST@#$HOST#g" \
    deploy/paddock.service > /etc/systemd/system/paddock.service
  systemctl daemon-reload
  systemctl enable --now paddock.service
  systemctl restart paddock.service
else
  # No systemd (containers, CI): run in the background, logging to the data dir.
  if [ -f "$DATA_DIR/paddock.pid" ] && kill -0 "$(cat "$DATA_DIR/paddock.pid")" 2>/dev/null; then
    kill "$(cat "$DATA_DIR/paddock.pid")"
    while kill -0 "$(cat "$DATA_DIR/paddock.pid")" 2>/dev/null; do sleep 0.2; done
  fi
  # Started clean: its own session (setsid: no terminal, no signals from this shell), and
  # no fd of this shell but 0-2 (bwrap would pass any other to sandboxes; serve also
  # closes what it inherits — this is the belt to those braces).
  (
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    # Every connection and event stream is an fd; the runner sizes its caps below this limit.
    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    # setsid forks when it must; the runner writes its own pid, then becomes node.
    export DATA_DIR PORT HOST
    exec setsid sh -c 'echo $$ > "$DATA_DIR/paddock.pid";
      exec node dist/cli/main.js serve --data-dir "$DATA_DIR" --port "$PORT" --host "$HOST"' \
      >>"$DATA_DIR/paddock.log" 2>&1 </dev/null
  ) &
fi

for _ in $(seq 50); do
  if curl -fsS "http://$HOST:$PORT/health" >/dev/null 2>&1; then
    echo "paddock is running on http://$HOST:$PORT (data: $DATA_DIR)"
    echo "admin token: $DATA_DIR/admin.token   logs: ${DATA_DIR}/paddock.log or journalctl -u paddock"
    exit 0
  fi
  sleep 0.2
done
echo "paddock did not answer on http://$HOST:$PORT/health; see $DATA_DIR/paddock.log" >&2
exit 1

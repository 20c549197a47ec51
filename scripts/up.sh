#!/usr/bin/env bash
# The demo, for real: installs and builds what is missing (scripts/setup.sh),
# creates the demo routes repository (.rauta/demo-repo, from examples/repo),
# a load balancer's network (scripts/lb-net.sh): this host is the node, with a
# client namespace and a backend namespace running a real HTTP server on every
# demo backend address, and runs `rauta run` in the foreground with the XDP and
# TC programs on the node's interface. Idempotent: run it again to restart the
# agent on the same repo, pins and network (maps and open connections survive).
#
#   node       rauta0  10.0.0.1/24, 10.9.0.1/24, VIP 10.0.0.10   (XDP + TC attached here)
#   rauta-demo the client 10.0.0.2 (and the bridge that is the segment)
#   rauta-be   the backends: all of 10.1.0.0/16 on ports 8080 and 8443, gateway 10.9.0.1
#
# Then: ip netns exec rauta-demo curl http://10.0.0.10/api/products
#
# Extra arguments go to `rauta run` (e.g. --http 0.0.0.0:9464, --log-level debug).
# `scripts/up.sh --down` stops rauta run and the backends, detaches the programs,
# removes the pins and the namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf 'up: %s\n' "$*" >&2; }

NAME=rauta
HOST_IF=${NAME}0
PIN_DIR=/sys/fs/bpf/rauta
STATE_DIR=.rauta
REPO=.rauta/demo-repo
BACKENDS_PID=$STATE_DIR/demo-backends.pid
BACKEND_PORTS="8080 8443"

stop_backends() {
  if [ -f "$BACKENDS_PID" ] && kill -0 "$(cat "$BACKENDS_PID")" 2>/dev/null; then
    kill "$(cat "$BACKENDS_PID")" && say "stopped the demo backends"
  fi
  rm -f "$BACKENDS_PID"
}

if [ "${1:-}" = "--down" ]; then
  # the demo's rauta run (started by this script, maybe in another terminal or in the background)
  if pkill -f "bin/rauta.js run .*--pin-dir $PIN_DIR" 2>/dev/null; then
    for _ in $(seq 50); do pgrep -f "bin/rauta.js run .*--pin-dir $PIN_DIR" >/dev/null || break; sleep 0.1; done
    say "stopped rauta run"
  fi
  stop_backends
  bash scripts/lb-net.sh down "$NAME"
  say "removed $HOST_IF (and its programs) and the namespaces $NAME-demo, $NAME-be"
  [ -d "$PIN_DIR" ] && rm -f "$PIN_DIR"/*
  rmdir "$PIN_DIR" 2>/dev/null || true
  say "unpinned $PIN_DIR; the event log and demo repo stay in $STATE_DIR (rm -rf $STATE_DIR to start over)"
  exit 0
fi

# RAUTA_SKIP_SETUP=1: the toolchain, node_modules and bpf/*.o are known to be in place.
[ "${RAUTA_SKIP_SETUP:-}" = 1 ] || bash scripts/setup.sh
bash scripts/demo-repo.sh "$REPO"
bash scripts/lb-net.sh up "$NAME"

# The backends: one process in the backend namespace answers on every demo address.
if [ -f "$BACKENDS_PID" ] && kill -0 "$(cat "$BACKENDS_PID")" 2>/dev/null; then
  say "demo backends already running (pid $(cat "$BACKENDS_PID"))"
else
  mkdir -p "$STATE_DIR"
  # shellcheck disable=SC2086
  ip netns exec "$NAME-be" setsid node scripts/demo-backends.mjs $BACKEND_PORTS >"$STATE_DIR/demo-backends.log" 2>&1 </dev/null &
  echo $! >"$BACKENDS_PID"
  for _ in $(seq 100); do
    [ "$(grep -c '^listening' "$STATE_DIR/demo-backends.log" 2>/dev/null || true)" -ge 2 ] && break
    kill -0 "$(cat "$BACKENDS_PID")" 2>/dev/null || { cat "$STATE_DIR/demo-backends.log" >&2; say "the demo backends did not start"; exit 1; }
    sleep 0.1
  done
  say "demo backends listening on 10.1.0.0/16 ports $BACKEND_PORTS (namespace $NAME-be, pid $(cat "$BACKENDS_PID"))"
fi

say "starting rauta run (Ctrl-C stops the agent; the programs stay attached, the maps pinned, connections keep flowing)"
say "try: ip netns exec $NAME-demo curl -s http://10.0.0.10/api/products   |  curl -s 127.0.0.1:9464/healthz"
exec node bin/rauta.js run --repo "$REPO" --iface "$HOST_IF" --pin-dir "$PIN_DIR" --state-dir "$STATE_DIR" --node demo "$@"

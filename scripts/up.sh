#!/usr/bin/env bash
# The demo, for real: installs and builds what is missing (scripts/setup.sh),
# creates the demo routes repository (.rauta/demo-repo, from examples/repo),
# a network namespace with a veth pair, and runs `rauta run` in the foreground
# with the XDP program on the host side. Idempotent: run it again to restart
# the agent on the same repo, pins and network (the maps survive).
#
#   host side  rauta0  10.0.0.1/24 + the VIP 10.0.0.10/32      (XDP program attached here)
#   namespace  rauta-demo: rauta0p 10.0.0.2/24                  (clients and the backends' gateway)
#   backends   10.1.0.0/16 via 10.0.0.2: their MAC is the peer's, from the neighbour table
#
# Extra arguments go to `rauta run` (e.g. --http 0.0.0.0:9464, --log-level debug).
# `scripts/up.sh --down` detaches the program, removes the pins and the namespace.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf 'up: %s\n' "$*" >&2; }

NS=rauta-demo
HOST_IF=rauta0
PEER_IF=rauta0p
PIN_DIR=/sys/fs/bpf/rauta
STATE_DIR=.rauta
REPO=.rauta/demo-repo

if [ "${1:-}" = "--down" ]; then
  ip link del "$HOST_IF" 2>/dev/null && say "removed $HOST_IF (and its XDP program)" || true
  ip netns del "$NS" 2>/dev/null && say "removed namespace $NS" || true
  ip route del 10.1.0.0/16 via 10.0.0.2 2>/dev/null || true
  rm -f "$PIN_DIR"/prog_xdp "$PIN_DIR"/routes "$PIN_DIR"/maglev_tables "$PIN_DIR"/flow_cache "$PIN_DIR"/metrics "$PIN_DIR"/listeners "$PIN_DIR"/nexthops
  rmdir "$PIN_DIR" 2>/dev/null || true
  say "unpinned $PIN_DIR; the event log and demo repo stay in $STATE_DIR (rm -rf $STATE_DIR to start over)"
  exit 0
fi

# RAUTA_SKIP_SETUP=1: the toolchain, node_modules and bpf/*.o are known to be in place.
[ "${RAUTA_SKIP_SETUP:-}" = 1 ] || bash scripts/setup.sh
bash scripts/demo-repo.sh "$REPO"

# The demo network, created once.
ip netns add "$NS" 2>/dev/null || true
if ! ip link show "$HOST_IF" >/dev/null 2>&1; then
  say "creating veth $HOST_IF <-> $NS/$PEER_IF"
  ip link add "$HOST_IF" type veth peer name "$PEER_IF"
  ip link set "$PEER_IF" netns "$NS"
fi
ip -n "$NS" link set lo up
ip -n "$NS" addr replace 10.0.0.2/24 dev "$PEER_IF"
ip -n "$NS" link set "$PEER_IF" up
ip -n "$NS" route replace 10.0.0.10/32 dev "$PEER_IF"
ip addr replace 10.0.0.1/24 dev "$HOST_IF"
ip addr replace 10.0.0.10/32 dev "$HOST_IF"
ip link set "$HOST_IF" up
# The backends sit behind the peer: route them there and pin the peer's MAC in the
# neighbour table, so the agent finds every backend's nexthop without ARP traffic.
peer_mac=$(ip -n "$NS" -o link show "$PEER_IF" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
ip neigh replace 10.0.0.2 lladdr "$peer_mac" dev "$HOST_IF" nud permanent
ip route replace 10.1.0.0/16 via 10.0.0.2 dev "$HOST_IF"
say "network ready: $HOST_IF (XDP) <-> $NS/$PEER_IF ($peer_mac); backends 10.1.0.0/16 via 10.0.0.2"

say "starting rauta run (Ctrl-C stops the agent; the program stays attached and the maps pinned)"
say "try: npx rauta probe GET /api/products    |  curl -s 127.0.0.1:9464/healthz"
exec node bin/rauta.js run --repo "$REPO" --iface "$HOST_IF" --pin-dir "$PIN_DIR" --state-dir "$STATE_DIR" --node demo "$@"

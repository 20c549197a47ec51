#!/usr/bin/env bash
# A load balancer's network on one machine, with network namespaces and veth:
# the node, a client and the backends on one Ethernet segment (one-arm, as a
# load balancer beside a router sits). The backends' gateway is the node, so
# their answers come back through it (LVS-NAT style) and they see the real
# client address.
#
#   lb-net.sh up   [NAME]   create (idempotent)
#   lb-net.sh down [NAME]   remove
#
# NAME (default "rauta", at most 8 characters) prefixes every name:
#
#   node      interface NAME0: 10.0.0.1/24, 10.9.0.1/24 and the VIP 10.0.0.10/32;
#             10.1.0.0/16 via 10.9.0.2. In namespace $RAUTA_NODE_NS if set,
#             else on this host. rauta attaches its XDP and TC programs here.
#   NAME-demo the segment (bridge NAMEbr holding NAME0p and NAMEbk) and a
#             client at 10.0.0.2, gateway 10.0.0.1
#   NAME-be   the backends: every address of 10.1.0.0/16 is local (one server
#             listening on 0.0.0.0 answers for all), link 10.9.0.2, gateway 10.9.0.1
#
# Two settings only veth needs (a NIC does neither): the namespace end of a
# veth pair must run an XDP program (bpf/pass.bpf.o) or frames the node sends
# with XDP_TX are never delivered, and locally generated TCP must carry full
# checksums (TX offload off), because XDP rewrites checksums incrementally.
set -euo pipefail
cd "$(dirname "$0")/.."

cmd=${1:-}
N=${2:-rauta}
[ ${#N} -le 8 ] || { echo "lb-net: NAME must be at most 8 characters" >&2; exit 2; }
NODE_NS=${RAUTA_NODE_NS:-}
CLIENT_NS=$N-demo
BACKEND_NS=$N-be
NODE_IF=${N}0
LAN_IF=${N}0p
BRIDGE=${N}br
BK_IF=${N}bk
BKP_IF=${N}bkp
node() { if [ -n "$NODE_NS" ]; then ip -n "$NODE_NS" "$@"; else ip "$@"; fi; }
node_exec() { if [ -n "$NODE_NS" ]; then ip netns exec "$NODE_NS" "$@"; else "$@"; fi; }
cl() { ip -n "$CLIENT_NS" "$@"; }
be() { ip -n "$BACKEND_NS" "$@"; }

case "$cmd" in
down)
  node link del "$NODE_IF" 2>/dev/null || true
  ip netns del "$CLIENT_NS" 2>/dev/null || true
  ip netns del "$BACKEND_NS" 2>/dev/null || true
  node route del 10.1.0.0/16 via 10.9.0.2 2>/dev/null || true
  exit 0
  ;;
up) ;;
*) echo "usage: lb-net.sh up|down [NAME]" >&2; exit 2 ;;
esac

ip netns add "$CLIENT_NS" 2>/dev/null || true
ip netns add "$BACKEND_NS" 2>/dev/null || true
if ! node link show "$NODE_IF" >/dev/null 2>&1; then
  node link add "$NODE_IF" type veth peer name "$LAN_IF"
  node link set "$LAN_IF" netns "$CLIENT_NS"
fi
if ! cl link show "$BK_IF" >/dev/null 2>&1; then
  cl link add "$BK_IF" type veth peer name "$BKP_IF"
  cl link set "$BKP_IF" netns "$BACKEND_NS"
fi
cl link show "$BRIDGE" >/dev/null 2>&1 || cl link add "$BRIDGE" type bridge
cl addr flush dev "$LAN_IF" # an older demo put the client address here
cl link set "$LAN_IF" master "$BRIDGE"
cl link set "$BK_IF" master "$BRIDGE"
for i in lo "$BRIDGE" "$LAN_IF" "$BK_IF"; do cl link set "$i" up; done
be link set lo up
be link set "$BKP_IF" up
node link set lo up
node link set "$NODE_IF" up

# The client.
cl addr replace 10.0.0.2/24 dev "$BRIDGE"
cl route replace default via 10.0.0.1 dev "$BRIDGE"
# The backends: the whole range is local, the node is the gateway.
be addr replace 10.9.0.2/24 dev "$BKP_IF"
be route replace local 10.1.0.0/16 dev lo
be route replace default via 10.9.0.1 dev "$BKP_IF"
# The node.
node addr replace 10.0.0.1/24 dev "$NODE_IF"
node addr replace 10.9.0.1/24 dev "$NODE_IF"
node addr replace 10.0.0.10/32 dev "$NODE_IF"
node route replace 10.1.0.0/16 via 10.9.0.2 dev "$NODE_IF"
# Pin the backends' link MAC in the node's neighbour table, so the agent finds
# every backend's nexthop without waiting for ARP.
bkp_mac=$(be -o link show "$BKP_IF" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
node neigh replace 10.9.0.2 lladdr "$bkp_mac" dev "$NODE_IF" nud permanent
node neigh del 10.0.0.2 dev "$NODE_IF" 2>/dev/null || true # an older demo pinned the client's MAC

# veth only: deliver XDP_TX frames into the segment, and full checksums everywhere.
ip -n "$CLIENT_NS" link set dev "$LAN_IF" xdpdrv obj bpf/pass.bpf.o sec xdp 2>/dev/null ||
  ip -n "$CLIENT_NS" link show "$LAN_IF" | grep -q 'prog/xdp'
for i in "$BRIDGE" "$LAN_IF" "$BK_IF"; do ip netns exec "$CLIENT_NS" ethtool -K "$i" tx off >/dev/null 2>&1 || true; done
ip netns exec "$BACKEND_NS" ethtool -K "$BKP_IF" tx off >/dev/null 2>&1 || true
node_exec ethtool -K "$NODE_IF" tx off >/dev/null 2>&1 || true
echo "lb-net: $NODE_IF${NODE_NS:+ (namespace $NODE_NS)} <-> $CLIENT_NS (client 10.0.0.2) <-> $BACKEND_NS (backends 10.1.0.0/16)" >&2

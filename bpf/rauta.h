/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rauta.h: the single source of truth for every map layout and every numbered
 * constant shared between the XDP program and the TypeScript control plane.
 * The TS codecs (src/dataplane/codecs.ts) are checked against the BTF of the
 * compiled object, so change a struct here and the layout test tells you which
 * codec to follow.
 *
 * Byte order: IPs and ports are network order; everything else host order
 * (little-endian on x86-64).
 */
#ifndef RAUTA_H
#define RAUTA_H

#include <linux/types.h>

/* ---- tunables (override with -D at build time) ---- */
#ifndef RAUTA_MAX_BACKENDS
#define RAUTA_MAX_BACKENDS 32          /* backends per route; slots are u8 indexes */
#endif
#ifndef RAUTA_MAGLEV_SIZE
#define RAUTA_MAGLEV_SIZE 4099         /* Maglev table size M (prime) */
#endif
#ifndef RAUTA_MAX_PATH
#define RAUTA_MAX_PATH 255             /* longest path the request-line scan accepts */
#endif
#ifndef RAUTA_MAX_ROUTES
#define RAUTA_MAX_ROUTES 4096          /* default; the loader may resize before load */
#endif
#ifndef RAUTA_MAX_TABLES
#define RAUTA_MAX_TABLES (2 * RAUTA_MAX_ROUTES) /* room for new gens before old ones are deleted */
#endif
#ifndef RAUTA_MAX_FLOWS
#define RAUTA_MAX_FLOWS 65536
#endif
#ifndef RAUTA_MAX_LISTENERS
#define RAUTA_MAX_LISTENERS 256
#endif
#ifndef RAUTA_MAX_NEXTHOPS
#define RAUTA_MAX_NEXTHOPS 4096
#endif

/* ---- HTTP methods as stored in route_key.method (0 is invalid) ---- */
enum rauta_method {
	RAUTA_METHOD_INVALID = 0,
	RAUTA_METHOD_GET = 1,
	RAUTA_METHOD_POST = 2,
	RAUTA_METHOD_PUT = 3,
	RAUTA_METHOD_DELETE = 4,
	RAUTA_METHOD_PATCH = 5,
	RAUTA_METHOD_HEAD = 6,
	RAUTA_METHOD_OPTIONS = 7,
};

/* ---- METRICS slots: stable numbers, mirrored by one TS enum (checked by a test) ---- */
enum rauta_metric {
	RAUTA_M_TOTAL = 0,              /* every packet the program saw */
	RAUTA_M_ROUTED = 1,             /* XDP_TX to a backend */
	RAUTA_M_FLOW_HIT = 2,           /* backend taken from FLOW_CACHE */
	RAUTA_M_FLOW_MISS = 3,          /* backend picked from the Maglev table */
	RAUTA_M_PASS_NOT_IPV4 = 4,      /* not IPv4 (incl. short Ethernet, >1 VLAN tag) */
	RAUTA_M_PASS_BAD_IPV4 = 5,      /* IHL out of 5..15 or truncated IPv4 header */
	RAUTA_M_PASS_FRAGMENT = 6,      /* IPv4 fragment */
	RAUTA_M_PASS_NOT_TCP = 7,       /* IPv4 but not TCP */
	RAUTA_M_PASS_BAD_TCP = 8,       /* data offset out of 5..15 or truncated TCP header */
	RAUTA_M_PASS_NOT_LISTENER = 9,  /* dst VIP:port not in LISTENERS */
	RAUTA_M_PASS_NO_PAYLOAD = 10,   /* no TCP payload (SYN, pure ACK, FIN) */
	RAUTA_M_PASS_BAD_REQUEST = 11,  /* payload is not a request line we serve (truncated, malformed, too long) */
	RAUTA_M_PASS_NO_ROUTE = 12,     /* {method, path} not in ROUTES */
	RAUTA_M_PASS_NO_TABLE = 13,     /* route present but its Maglev table (route, gen) missing or empty */
	RAUTA_M_PASS_NO_NEXTHOP = 14,   /* chosen backend has no NEXTHOPS entry */
	RAUTA_M_COUNT = 15,
};

/* ---- map keys and values ---- */

/* ROUTES key. path_hash: FNV-1a 64 over the path bytes, host order. */
struct route_key {
	__u32 method;     /* enum rauta_method */
	__u32 pad;        /* always 0 */
	__u64 path_hash;
};                        /* 16 B */

struct backend {
	__u32 ip;         /* network order */
	__u16 port;       /* network order */
	__u16 weight;     /* host order */
};                        /* 8 B */

/* ROUTES value. gen selects the MAGLEV_TABLES entry {route, gen}. */
struct backend_list {
	struct backend backends[RAUTA_MAX_BACKENDS];
	__u32 count;
	__u32 gen;
};                        /* 264 B */

/* MAGLEV_TABLES key: keyed by route (method + path), not path alone. */
struct maglev_key {
	struct route_key route;
	__u32 gen;
	__u32 pad;        /* always 0 */
};                        /* 24 B */

/* MAGLEV_TABLES value: each slot is an index into backend_list.backends. */
struct maglev_table {
	__u8 slots[RAUTA_MAGLEV_SIZE];
};                        /* 4099 B */

/* FLOW_CACHE key: the connection's 5-tuple as seen on the wire. */
struct flow_key {
	__u32 src_ip;     /* network order */
	__u32 dst_ip;     /* network order */
	__u16 src_port;   /* network order */
	__u16 dst_port;   /* network order */
	__u8 proto;
	__u8 pad[3];      /* always 0 */
};                        /* 16 B */

/* FLOW_CACHE value. Ignored when gen differs from the route's current gen. */
struct flow_value {
	struct route_key route;
	__u32 gen;
	__u32 backend_idx;
};                        /* 24 B */

/* LISTENERS key: a VIP:port the program answers. Value: __u32 flags (0 today). */
struct listener_key {
	__u32 addr;       /* network order */
	__u16 port;       /* network order */
	__u16 pad;        /* always 0 */
};                        /* 8 B */

/* NEXTHOPS: key __u32 backend IPv4 (network order) -> destination MAC. */
struct nexthop {
	__u8 mac[6];
	__u16 pad;        /* always 0 */
};                        /* 8 B */

#endif /* RAUTA_H */

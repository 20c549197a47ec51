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
#ifndef RAUTA_MAX_QUERY
#define RAUTA_MAX_QUERY 64             /* query-string bytes the scan skips after the path */
#endif
#ifndef RAUTA_MAX_PREFIX_DEPTH
#define RAUTA_MAX_PREFIX_DEPTH 8       /* path segments a PathPrefix may have ("/" has 0, "/a/b" 2) */
#endif
#ifndef RAUTA_HEADER_SCAN
#define RAUTA_HEADER_SCAN 512          /* bytes after the request line searched for the Host header */
#endif
#define RAUTA_MAX_HOST 253             /* longest host name a rule may have (DNS); the data path hashes what the request says */
#define RAUTA_PREFIX_SLOTS 16          /* request_info.prefix: a power of two above RAUTA_MAX_PREFIX_DEPTH + 1 */
_Static_assert(RAUTA_MAX_PREFIX_DEPTH + 2 <= RAUTA_PREFIX_SLOTS, "a spare prefix slot for the branch-free store");
#define RAUTA_MIN_REQUEST 13           /* shortest request line served: "GET / HTTP/1." */
#ifndef RAUTA_MAX_ROUTES
#define RAUTA_MAX_ROUTES 4096          /* default; the loader may resize before load */
#endif
#ifndef RAUTA_MAX_TABLES
#define RAUTA_MAX_TABLES (2 * RAUTA_MAX_ROUTES) /* room for new gens before old ones are deleted */
#endif
#ifndef RAUTA_MAX_FLOWS
#define RAUTA_MAX_FLOWS 65536          /* connections; FLOW_CACHE holds two entries each */
#endif
#ifndef RAUTA_MAX_LISTENERS
#define RAUTA_MAX_LISTENERS 256
#endif
#ifndef RAUTA_MAX_NEXTHOPS
#define RAUTA_MAX_NEXTHOPS 4096
#endif
#ifndef RAUTA_MAX_CHECKED
#define RAUTA_MAX_CHECKED 8192         /* health-checked backends: BACKEND_STATS entries */
#endif
#ifndef RAUTA_MSS
#define RAUTA_MSS 1460                 /* MSS advertised to clients and in the SYN to a backend */
#endif
#ifndef RAUTA_MAX_REQUEST
#define RAUTA_MAX_REQUEST RAUTA_MSS    /* longest first segment carried to a backend (saved per flow) */
#endif
#define RAUTA_REQUEST_BUF 1536         /* saved_request.data: RAUTA_MAX_REQUEST rounded up to 3 x 512 (checksum chunks) */
_Static_assert(RAUTA_MAX_REQUEST + 3 <= RAUTA_REQUEST_BUF, "saved_request.data holds the longest request and its zero padding");
#ifndef RAUTA_MAX_HANDSHAKES
#define RAUTA_MAX_HANDSHAKES 8192      /* connections waiting for their backend's SYN-ACK (saved requests) */
#endif
#ifndef RAUTA_HALF_OPEN_S
#define RAUTA_HALF_OPEN_S 10           /* a SYN_SENT or REPLIED flow older than this is gone */
#endif
#define RAUTA_HALF_OPEN_NS ((__u64)RAUTA_HALF_OPEN_S * 1000000000ULL)
#ifndef RAUTA_SYNACK_WINDOW
#define RAUTA_SYNACK_WINDOW (2 * RAUTA_MSS) /* Linux sends at most half the window per segment: 2 x MSS lets one full segment through */
#endif

/* ---- HTTP methods as stored in route_key.method (0: a route for any method; no request has it) ---- */
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

/* ---- METRICS slots: stable numbers, mirrored by one TS enum (checked by a test) ----
 * Every packet the XDP program sees counts TOTAL and exactly one outcome slot
 * (1 .. RAUTA_M_FIRST_EVENT - 1). The event slots after them count what happened to
 * connections (the TC program's step included) on top of a packet's outcome. */
enum rauta_metric {
	RAUTA_M_TOTAL = 0,               /* every packet the XDP program saw */
	/* outcomes: passed to the kernel untouched */
	RAUTA_M_PASS_NOT_IPV4 = 1,       /* not IPv4 (incl. short Ethernet, >1 VLAN tag) */
	RAUTA_M_PASS_BAD_IPV4 = 2,       /* IHL out of 5..15 or truncated IPv4 header */
	RAUTA_M_PASS_FRAGMENT = 3,       /* IPv4 fragment */
	RAUTA_M_PASS_NOT_TCP = 4,        /* IPv4 but not TCP */
	RAUTA_M_PASS_BAD_TCP = 5,        /* data offset out of 5..15 or truncated TCP header */
	RAUTA_M_PASS_NOT_LISTENER = 6,   /* neither part of a flow nor to a listener */
	RAUTA_M_PASS_BACKEND_SYNACK = 7, /* a backend's SYN-ACK: the TC program sends it the saved request */
	/* outcomes: the handshake with the client (no state is kept) */
	RAUTA_M_SYN_COOKIE = 8,          /* SYN answered with a SYN-ACK whose ISN is a SYN cookie */
	RAUTA_M_HANDSHAKE_ACK = 9,       /* the handshake's bare ACK (valid cookie): dropped */
	RAUTA_M_NO_FLOW_RST = 10,        /* client segment with no flow and no valid cookie (an evicted or expired flow, a stray): RST */
	RAUTA_M_DROP_CLIENT_RST = 11,    /* client RST with no flow: nothing to clean, dropped */
	/* outcomes: the first data segment */
	RAUTA_M_ROUTED = 12,             /* connection bound to a backend: request saved, SYN sent to the backend */
	RAUTA_M_FLOW_HIT = 13,           /* first segment retransmitted: the same SYN re-sent to the same backend */
	RAUTA_M_REPLY_BAD_REQUEST = 14,  /* not a request line we serve (non-HTTP, malformed, too long): RST */
	RAUTA_M_REPLY_NO_ROUTE = 15,     /* {method, path} not in ROUTES: 404 built in place */
	RAUTA_M_REPLY_NO_TABLE = 16,     /* route without backends or a Maglev table for its gen: 503 */
	RAUTA_M_REPLY_NO_NEXTHOP = 17,   /* chosen backend has no NEXTHOPS entry: 503 */
	RAUTA_M_REPLY_TOO_LARGE = 18,    /* first segment longer than RAUTA_MAX_REQUEST: RST */
	RAUTA_M_TUPLE_BUSY = 19,         /* the backend side's 4-tuple belongs to another live flow: RST */
	RAUTA_M_HANDSHAKE_WAIT = 20,     /* client segment while the backend handshake is in flight: dropped */
	RAUTA_M_REPLIED_SEGMENT = 21,    /* client segment on a flow answered in place (404/503): handled, no backend */
	/* outcomes: spliced connections */
	RAUTA_M_TO_BACKEND = 22,         /* client -> backend, translated */
	RAUTA_M_TO_CLIENT = 23,          /* backend -> client, translated */
	RAUTA_M_BACKEND_REFUSED = 24,    /* backend RST to our SYN: RST to the client */
	RAUTA_M_NO_FLOW_BACKEND = 25,    /* backend segment whose client side is gone (evicted): dropped */
	RAUTA_M_DROP_BACKEND_SYN = 26,   /* backend SYN for an established flow (a retransmitted SYN-ACK): dropped */
	RAUTA_M_BACKEND_STALE_ACK = 27,  /* backend answered our SYN with an ACK of an older connection on the 4-tuple
	                                  * (its TIME_WAIT): passed to TC, which sends the RST a client's stack would
	                                  * (clearing the TIME_WAIT) and the SYN again right behind it */
	/* events */
	RAUTA_M_BACKEND_ACK = 28,        /* (TC) backend SYN-ACK turned into ACK + the saved request */
	RAUTA_M_CLOSED = 29,             /* flow removed: both FINs acknowledged (or the client's FIN after an answer in place) */
	RAUTA_M_RESET = 30,              /* flow removed on a RST from either side */
	RAUTA_M_KEEPALIVE_OTHER_ROUTE = 31, /* a later request line on a connection matches another route (it stays on its backend) */
	RAUTA_M_COUNT = 32,
};
#define RAUTA_M_FIRST_EVENT RAUTA_M_BACKEND_ACK

/* ---- connection state (FLOW_CACHE values) ---- */
enum rauta_flow_side {
	RAUTA_SIDE_CLIENT = 1,      /* key: client -> VIP:port; holds the connection's state */
	RAUTA_SIDE_BACKEND = 2,     /* key: backend -> client */
};

enum rauta_flow_state {
	RAUTA_FLOW_SYN_SENT = 1,    /* backend SYN sent, request saved: waiting for the backend's SYN-ACK */
	RAUTA_FLOW_ESTABLISHED = 2, /* spliced: segments translated both ways */
	RAUTA_FLOW_REPLIED = 3,     /* answered in place (404/503) with a FIN: waiting for the client's FIN */
};

/* flow_value.flags, set with atomic OR (client and backend segments may run on two
 * CPUs at once). The client side collects every bit; the backend side gets one
 * too, so its segments also leave the fast path once the connection closes. A
 * flow is removed by the segment that acknowledges the second FIN (both
 * *_FIN_ACKED set), so the other side's last ACK, which may be in flight at the
 * same time (a simultaneous close), still finds the flow. */
enum rauta_flow_flag {
	RAUTA_FLOW_F_CLIENT_FIN = 1,        /* client sent FIN: client_fin_end is valid */
	RAUTA_FLOW_F_BACKEND_FIN = 2,       /* backend sent FIN: backend_fin_end is valid */
	RAUTA_FLOW_F_NEW_SYN = 4,           /* a SYN arrived on this 4-tuple: a new connection may replace the flow */
	RAUTA_FLOW_F_CLIENT_FIN_ACKED = 8,  /* the backend acknowledged the client's FIN */
	RAUTA_FLOW_F_BACKEND_FIN_ACKED = 16, /* the client acknowledged the backend's FIN */
};

/* How a route matches: route_key.path_match and route_key.host_match. */
enum rauta_path_match {
	RAUTA_PATH_EXACT = 0,     /* the path byte for byte */
	RAUTA_PATH_PREFIX = 1,    /* the path or anything below it, on "/" boundaries */
};

enum rauta_host_match {
	RAUTA_HOST_ANY = 0,       /* no host in the rule: any Host header, or none */
	RAUTA_HOST_EXACT = 1,     /* the Host header's name, lower case, port stripped */
	RAUTA_HOST_WILDCARD = 2,  /* "*.example.com": any one label before ".example.com" */
	RAUTA_HOST_KINDS = 3,
};

/* BACKEND_STATS counters: what the data path saw of one backend's handshakes,
 * the agent's passive health signal (it reads the deltas). */
enum rauta_backend_stat {
	RAUTA_BS_SYNS = 0,        /* new connections sent to the backend (the SYN after the first segment) */
	RAUTA_BS_STALLED = 1,     /* ...whose first segment came again before the backend answered (once per connection) */
	RAUTA_BS_REFUSED = 2,     /* ...that the backend answered with a RST */
	RAUTA_BS_ESTABLISHED = 3, /* ...that the backend accepted (its SYN-ACK, TC) */
	RAUTA_BS_COUNT = 4,
};

/* Canned answers built in place for a first segment that cannot be routed. */
enum rauta_reply {
	RAUTA_REPLY_NONE = 0,
	RAUTA_REPLY_NOT_FOUND = 1,   /* 404: no route */
	RAUTA_REPLY_UNAVAILABLE = 2, /* 503: no backend available (no table, no nexthop) */
};

/* The sizes and tunables above as enum constants: a #define does not reach the
 * object's BTF, an enum does, and scripts/gen-layout.ts hands them to TypeScript
 * (src/model/layout.generated.ts) from there. */
enum rauta_limits {
	RAUTA_LIMIT_MAX_BACKENDS = RAUTA_MAX_BACKENDS,
	RAUTA_LIMIT_MAGLEV_SIZE = RAUTA_MAGLEV_SIZE,
	RAUTA_LIMIT_MAX_PATH = RAUTA_MAX_PATH,
	RAUTA_LIMIT_MAX_PREFIX_DEPTH = RAUTA_MAX_PREFIX_DEPTH,
	RAUTA_LIMIT_HEADER_SCAN = RAUTA_HEADER_SCAN,
	RAUTA_LIMIT_MAX_HOST = RAUTA_MAX_HOST,
	RAUTA_LIMIT_MAX_QUERY = RAUTA_MAX_QUERY,
	RAUTA_LIMIT_MIN_REQUEST = RAUTA_MIN_REQUEST,
	RAUTA_LIMIT_MAX_ROUTES = RAUTA_MAX_ROUTES,
	RAUTA_LIMIT_MAX_TABLES = RAUTA_MAX_TABLES,
	RAUTA_LIMIT_MAX_FLOWS = RAUTA_MAX_FLOWS,
	RAUTA_LIMIT_MAX_LISTENERS = RAUTA_MAX_LISTENERS,
	RAUTA_LIMIT_MAX_NEXTHOPS = RAUTA_MAX_NEXTHOPS,
	RAUTA_LIMIT_MAX_CHECKED = RAUTA_MAX_CHECKED,
	RAUTA_LIMIT_MSS = RAUTA_MSS,
	RAUTA_LIMIT_MAX_REQUEST = RAUTA_MAX_REQUEST,
	RAUTA_LIMIT_REQUEST_BUF = RAUTA_REQUEST_BUF,
	RAUTA_LIMIT_MAX_HANDSHAKES = RAUTA_MAX_HANDSHAKES,
	RAUTA_LIMIT_HALF_OPEN_S = RAUTA_HALF_OPEN_S,
	RAUTA_LIMIT_SYNACK_WINDOW = RAUTA_SYNACK_WINDOW,
	RAUTA_LIMIT_METRIC_FIRST_EVENT = RAUTA_M_FIRST_EVENT,
};

/* ---- map keys and values ---- */

/* ROUTES key: one rule's match. Hashes are FNV-1a 64, host order. A request
 * is matched by looking keys up in precedence order (rauta_match_route):
 * host exact, wildcard, any; then the exact path, then prefixes longest
 * first; then its method, then any method. */
struct route_key {
	__u32 method;     /* enum rauta_method; 0: any method */
	__u8 path_match;  /* enum rauta_path_match */
	__u8 host_match;  /* enum rauta_host_match */
	__u16 pad;        /* always 0 */
	__u64 path_hash;  /* the path (exact), or the prefix without a trailing "/" ("" for "/") */
	__u64 host_hash;  /* the host (exact), or its wildcard's suffix from the dot (".example.com"); 0 for any host */
};                        /* 24 B */

/* ROUTE_SHAPES value, per enum rauta_host_match: which kinds of key exist, so a
 * request looks up only keys some route could have. A bit too many costs a
 * lookup; a bit missing hides routes: the agent sets bits before routes appear
 * and clears them after they are gone. */
struct route_shape {
	__u32 prefixes;   /* bit d: a PathPrefix route of d segments */
	__u8 exact;       /* 1: an Exact-path route */
	__u8 methods;     /* bit 0: a route for one method; bit 1: a route for any method */
	__u16 pad;        /* always 0 */
};                        /* 8 B */

struct route_shapes {
	struct route_shape host[RAUTA_HOST_KINDS];
};                        /* 24 B */

/* Weight 0 gets no Maglev slot: a hole (0.0.0.0:0) left by a removed backend,
 * or a backend this node's agent drained as unhealthy (ip:port kept). */
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
};                        /* 32 B */

/* MAGLEV_TABLES value: each slot is an index into backend_list.backends. */
struct maglev_table {
	__u8 slots[RAUTA_MAGLEV_SIZE];
};                        /* 4099 B */

/* FLOW_CACHE key: a 4-tuple as one side sends it. Each connection has two
 * entries: its client side (client -> VIP:port) and its backend side
 * (backend -> client). */
struct flow_key {
	__u32 src_ip;     /* network order */
	__u32 dst_ip;     /* network order */
	__u16 src_port;   /* network order */
	__u16 dst_port;   /* network order */
	__u8 proto;
	__u8 pad[3];      /* always 0 */
};                        /* 16 B */

/* FLOW_CACHE value. The first 24 bytes are what either side's fast path needs
 * to translate a segment towards its peer: client side -> the backend (ack +=
 * seq_delta), backend side -> the client (source = VIP:port, seq -= seq_delta).
 * The rest is kept on the client side only (the connection's whole state); the
 * backend side finds it by deriving the client's key (src = its dst, dst =
 * peer_ip, ports alike). Sequence numbers are host order; the client's ISN is
 * also the backend's, so only the other direction's numbers need the delta. */
struct flow_value {
	__u8 side;                /* enum rauta_flow_side */
	__u8 state;               /* enum rauta_flow_state */
	__u8 reply;               /* enum rauta_reply (REPLIED flows) */
	__u8 syn_retries;         /* client side, SYN_SENT: first-segment retransmissions (saturates at 255) */
	__u32 flags;              /* RAUTA_FLOW_F_*; any bit set: every segment takes the full path */
	__u32 seq_delta;          /* backend ISN - cookie; valid once ESTABLISHED */
	__u32 peer_ip;            /* network order: the backend (client side), the VIP (backend side) */
	__u16 peer_port;          /* network order: the backend's port, the VIP's port */
	__u8 peer_mac[6];         /* destination MAC of translated segments: the backend's, the client's */
	/* client side only */
	struct route_key route;   /* the route the first request line matched */
	__u32 gen;                /* that route's gen at the choice */
	__u32 backend_idx;        /* index in the route's backends at the choice */
	__u32 client_isn;         /* seq of the client's SYN */
	__u32 cookie;             /* our ISN towards the client (the SYN cookie) */
	__u32 client_fin_end;     /* seq after the client's FIN (client space) */
	__u32 backend_fin_end;    /* seq after the backend's FIN (client space) */
	__u8 client_mac[6];       /* the client's MAC (answers built in place) */
	__u8 client_wscale;       /* window scale shifts, 0 today: kept for window scaling to follow */
	__u8 backend_wscale;
	__u64 changed_ns;         /* bpf_ktime_get_ns() at the last state change */
};                        /* 88 B */

/* PARSE value (per CPU, the programs' own): what a first segment's request
 * line and Host header say, for rauta_match_route, and the headers searched. */
struct request_info {
	__u32 method;         /* enum rauta_method */
	__u32 segments;       /* "/" in the path: the depth of the path as a prefix */
	__u32 ends_slash;     /* 1: the path ends with "/" (it is no prefix of its own) */
	__u32 host;           /* bit 0: a Host header with a name; bit 1: the name has a dot */
	__u64 path_hash;      /* FNV-1a 64 of the path (the query excluded) */
	__u64 prefix[RAUTA_PREFIX_SLOTS]; /* prefix[d], d <= RAUTA_MAX_PREFIX_DEPTH: the path before its (d+1)-th "/" (the prefix of d segments); the last slot is scratch */
	__u64 host_hash;      /* the host name, lower case, port stripped */
	__u64 wild_hash;      /* the host name from its first dot (".example.com") */
	__u32 target_end;     /* offset of the space after the target, from the target's start */
	__u32 pad;
};

struct parse_scratch {
	struct request_info ri;
	struct flow_value client;  /* a new flow's two sides, built here (the stack is 512 bytes for everything) */
	struct flow_value backend;
	__u8 headers[RAUTA_HEADER_SCAN];
};

/* REQUESTS value: the first segment's payload, sent to the backend after its SYN-ACK. */
struct saved_request {
	__u16 len;                /* payload bytes (1..RAUTA_MAX_REQUEST) */
	__u16 csum;               /* one's complement sum of the payload, folded, not inverted */
	__u16 window;             /* the client's window field (network order) */
	__u16 pad;                /* always 0 */
	__u8 data[RAUTA_REQUEST_BUF]; /* zero after len up to a multiple of 4 */
};                        /* 1544 B */

/* LISTENERS key: a VIP:port the program answers. Value: __u32 flags (0 today). */
struct listener_key {
	__u32 addr;       /* network order */
	__u16 port;       /* network order */
	__u16 pad;        /* always 0 */
};                        /* 8 B */

/* BACKEND_STATS key: a backend's ip:port. */
struct backend_key {
	__u32 ip;         /* network order */
	__u16 port;       /* network order */
	__u16 pad;        /* always 0 */
};                        /* 8 B */

/* BACKEND_STATS value: enum rauta_backend_stat counters, updated atomically. */
struct backend_stats {
	__u64 count[RAUTA_BS_COUNT];
};                        /* 32 B */

/* NEXTHOPS: key __u32 backend IPv4 (network order) -> destination MAC. */
struct nexthop {
	__u8 mac[6];
	__u16 pad;        /* always 0 */
};                        /* 8 B */

#endif /* RAUTA_H */

// Decoded forms of the map keys and values in bpf/rauta.h. codecs.ts turns these
// into bytes and back; plan produces them; nothing above the codecs sees raw bytes.
// (The import below sits after the re-export of the generated enums on purpose:
// the types name them.)

/**
 * route_key: one rule's match. method: enum rauta_method, 0 for any method;
 * pathMatch: PATH_MATCH (exact or prefix); hostMatch: HOST_MATCH (any, exact,
 * wildcard); hashes FNV-1a 64 (see bpf/rauta.h), hostHash 0 for any host.
 */
export interface RouteKey {
  method: number;
  pathMatch: number;
  hostMatch: number;
  pathHash: bigint;
  hostHash: bigint;
}

/** One route_shape per HOST_MATCH: which kinds of ROUTES keys exist (bpf/rauta.h). */
export interface RouteShape {
  /** bit d: a prefix route of d segments */
  prefixes: number;
  /** an exact-path route */
  exact: boolean;
  /** bit 0: a route for one method; bit 1: a route for any method */
  methods: number;
}

/** route_shapes: indexed by HOST_MATCH value. */
export type RouteShapes = [RouteShape, RouteShape, RouteShape];

/** backend: ip as dotted quad, port and weight as numbers. An unused slot is ip 0.0.0.0, port 0, weight 0. */
export interface BackendSlot {
  ip: string;
  port: number;
  weight: number;
}

/** backend_list: `backends.length` is `count` (≤ RAUTA_MAX_BACKENDS); `gen` selects the Maglev table. */
export interface BackendList {
  backends: BackendSlot[];
  gen: number;
}

/** maglev_key */
export interface MaglevKey {
  route: RouteKey;
  gen: number;
}

/** maglev_table: RAUTA_MAGLEV_SIZE slots, each an index into BackendList.backends. */
export type MaglevTable = Uint8Array;

/** flow_key: a 4-tuple (+ proto) as one side of a connection sends it: client -> VIP:port, or backend -> client. */
export interface FlowKey {
  srcIp: string;
  dstIp: string;
  srcPort: number;
  dstPort: number;
  proto: number;
}

// The enums of bpf/rauta.h, generated from the object's BTF.
export { FLOW_FLAGS, FlowReply, FlowSide, FlowState, HOST_MATCH, PATH_MATCH } from './layout.generated.js';
import type { FlowReply, FlowSide, FlowState, METHOD_CODES } from './layout.generated.js';

/** A method the data path knows (enum rauta_method). */
export type MethodName = keyof typeof METHOD_CODES;

/**
 * flow_value: one side of a connection (sequence numbers host order, u32).
 * The peer fields say where translated segments go: the backend (client side)
 * or the client through the VIP (backend side). The rest is the client side's.
 */
export interface FlowValue {
  side: FlowSide;
  state: FlowState;
  reply: FlowReply;
  flags: number;
  seqDelta: number;
  /** client side, SYN_SENT: first-segment retransmissions before the backend answered (saturates at 255) */
  synRetries: number;
  peerIp: string;
  peerPort: number;
  peerMac: string;
  route: RouteKey;
  gen: number;
  backendIdx: number;
  clientIsn: number;
  cookie: number;
  clientFinEnd: number;
  backendFinEnd: number;
  clientMac: string;
  /** window scale shifts per side: 0 (window scaling is off; the fields are kept for it) */
  clientWscale: number;
  backendWscale: number;
  /** bpf_ktime_get_ns() (CLOCK_MONOTONIC) at the last state change */
  changedNs: bigint;
}

/** saved_request: the first segment of a connection waiting for its backend's SYN-ACK. */
export interface SavedRequest {
  /** the payload (its length is saved_request.len) */
  data: Uint8Array;
  /** one's complement sum of the payload, folded, not inverted */
  csum: number;
  /** the client's window field, as a number */
  window: number;
}

/** listener_key (value: u32 flags, 0 today) */
export interface ListenerKey {
  addr: string;
  port: number;
}

/** nexthops: key is the backend IPv4 (dotted quad), value the destination MAC ("aa:bb:cc:dd:ee:ff"). */
export interface Nexthop {
  mac: string;
}

/** backend_key: a health-checked backend (BACKEND_STATS key). */
export interface BackendKey {
  ip: string;
  port: number;
}

/** backend_stats: enum rauta_backend_stat counters (numbers: exact below 2^53). */
export interface BackendStats {
  syns: number;
  stalled: number;
  refused: number;
  established: number;
}

export type MapName =
  | 'routes'
  | 'maglev_tables'
  | 'flow_cache'
  | 'requests'
  | 'scratch'
  | 'metrics'
  | 'listeners'
  | 'nexthops'
  | 'backend_stats'
  | 'route_shapes'
  | 'parse';

/** One write the plan asks for. Apply runs these in order as one transaction. */
export type MapOp =
  | { map: 'listeners'; op: 'set'; key: ListenerKey; value: number }
  | { map: 'listeners'; op: 'delete'; key: ListenerKey }
  | { map: 'nexthops'; op: 'set'; key: string; value: Nexthop }
  | { map: 'nexthops'; op: 'delete'; key: string }
  | { map: 'maglev_tables'; op: 'set'; key: MaglevKey; value: MaglevTable }
  | { map: 'maglev_tables'; op: 'delete'; key: MaglevKey }
  | { map: 'routes'; op: 'set'; key: RouteKey; value: BackendList }
  | { map: 'routes'; op: 'delete'; key: RouteKey }
  | { map: 'route_shapes'; op: 'set'; key: 0; value: RouteShapes };

/** What the maps a plan writes hold, decoded (read back from the kernel). */
export interface MapContents {
  routes: Array<{ key: RouteKey; value: BackendList }>;
  /** table values only when read with them */
  tables: Array<{ key: MaglevKey; value?: MaglevTable }>;
  listeners: ListenerKey[];
  nexthops: Array<[ip: string, nexthop: Nexthop]>;
  /** ROUTE_SHAPES' one entry */
  shapes: RouteShapes;
}

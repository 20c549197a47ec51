// Decoded forms of the map keys and values in bpf/rauta.h. codecs.ts turns these
// into bytes and back; plan produces them; nothing above the codecs sees raw bytes.

/** route_key: method code (enum rauta_method) and FNV-1a 64 of the path. */
export interface RouteKey {
  method: number;
  pathHash: bigint;
}

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

/** flow_key: the connection's 5-tuple. */
export interface FlowKey {
  srcIp: string;
  dstIp: string;
  srcPort: number;
  dstPort: number;
  proto: number;
}

/** flow_value */
export interface FlowValue {
  route: RouteKey;
  gen: number;
  backendIdx: number;
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

export type MapName = 'routes' | 'maglev_tables' | 'flow_cache' | 'metrics' | 'listeners' | 'nexthops';

/** One write the plan asks for. Apply runs these in order as one transaction. */
export type MapOp =
  | { map: 'listeners'; op: 'set'; key: ListenerKey; value: number }
  | { map: 'listeners'; op: 'delete'; key: ListenerKey }
  | { map: 'nexthops'; op: 'set'; key: string; value: Nexthop }
  | { map: 'nexthops'; op: 'delete'; key: string }
  | { map: 'maglev_tables'; op: 'set'; key: MaglevKey; value: MaglevTable }
  | { map: 'maglev_tables'; op: 'delete'; key: MaglevKey }
  | { map: 'routes'; op: 'set'; key: RouteKey; value: BackendList }
  | { map: 'routes'; op: 'delete'; key: RouteKey };

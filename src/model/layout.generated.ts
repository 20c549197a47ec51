// Generated from the BTF of bpf/rauta.bpf.o by scripts/gen-layout.ts (make -C bpf runs it).
// Do not edit: change bpf/rauta.h, rebuild, and commit this file with it
// (test/layout.test.ts fails when it is not what the object says).

/** Struct sizes and member byte offsets. */
export const STRUCTS = {
  route_key: { size: 24, members: { method: 0, path_match: 4, host_match: 5, pad: 6, path_hash: 8, host_hash: 16 } },
  backend: { size: 8, members: { ip: 0, port: 4, weight: 6 } },
  backend_list: { size: 264, members: { backends: 0, count: 256, gen: 260 } },
  maglev_key: { size: 32, members: { route: 0, gen: 24, pad: 28 } },
  maglev_table: { size: 4099, members: { slots: 0 } },
  flow_key: { size: 16, members: { src_ip: 0, dst_ip: 4, src_port: 8, dst_port: 10, proto: 12, pad: 13 } },
  flow_value: { size: 88, members: { side: 0, state: 1, reply: 2, syn_retries: 3, flags: 4, seq_delta: 8, peer_ip: 12, peer_port: 16, peer_mac: 18, route: 24, gen: 48, backend_idx: 52, client_isn: 56, cookie: 60, client_fin_end: 64, backend_fin_end: 68, client_mac: 72, client_wscale: 78, backend_wscale: 79, changed_ns: 80 } },
  saved_request: { size: 1544, members: { len: 0, csum: 2, window: 4, pad: 6, data: 8 } },
  listener_key: { size: 8, members: { addr: 0, port: 4, pad: 6 } },
  nexthop: { size: 8, members: { mac: 0, pad: 6 } },
  backend_key: { size: 8, members: { ip: 0, port: 4, pad: 6 } },
  backend_stats: { size: 32, members: { count: 0 } },
  route_shape: { size: 8, members: { prefixes: 0, exact: 4, methods: 5, pad: 6 } },
  route_shapes: { size: 24, members: { host: 0 } },
  request_info: { size: 176, members: { method: 0, segments: 4, ends_slash: 8, host: 12, path_hash: 16, prefix: 24, host_hash: 152, wild_hash: 160, target_end: 168, pad: 172 } },
  parse_scratch: { size: 864, members: { ri: 0, client: 176, backend: 264, headers: 352 } },
} as const;

/** Element counts of the array members. */
export const ARRAYS = {
  'backend_list.backends': 32,
  'maglev_table.slots': 4099,
  'flow_key.pad': 3,
  'flow_value.peer_mac': 6,
  'flow_value.client_mac': 6,
  'saved_request.data': 1536,
  'nexthop.mac': 6,
  'backend_stats.count': 4,
  'route_shapes.host': 3,
  'request_info.prefix': 16,
  'parse_scratch.headers': 512,
} as const;

/** enum rauta_method */
export const METHOD_CODES = {
  GET: 1,
  POST: 2,
  PUT: 3,
  DELETE: 4,
  PATCH: 5,
  HEAD: 6,
  OPTIONS: 7,
} as const;

/** enum rauta_metric */
export enum Metric {
  TOTAL = 0,
  PASS_NOT_IPV4 = 1,
  PASS_BAD_IPV4 = 2,
  PASS_FRAGMENT = 3,
  PASS_NOT_TCP = 4,
  PASS_BAD_TCP = 5,
  PASS_NOT_LISTENER = 6,
  PASS_BACKEND_SYNACK = 7,
  SYN_COOKIE = 8,
  HANDSHAKE_ACK = 9,
  NO_FLOW_RST = 10,
  DROP_CLIENT_RST = 11,
  ROUTED = 12,
  FLOW_HIT = 13,
  REPLY_BAD_REQUEST = 14,
  REPLY_NO_ROUTE = 15,
  REPLY_NO_TABLE = 16,
  REPLY_NO_NEXTHOP = 17,
  REPLY_TOO_LARGE = 18,
  TUPLE_BUSY = 19,
  HANDSHAKE_WAIT = 20,
  REPLIED_SEGMENT = 21,
  TO_BACKEND = 22,
  TO_CLIENT = 23,
  BACKEND_REFUSED = 24,
  NO_FLOW_BACKEND = 25,
  DROP_BACKEND_SYN = 26,
  BACKEND_STALE_ACK = 27,
  BACKEND_ACK = 28,
  CLOSED = 29,
  RESET = 30,
  KEEPALIVE_OTHER_ROUTE = 31,
}

/** RAUTA_M_COUNT: slots in METRICS. */
export const METRIC_COUNT = 32;

/** enum rauta_flow_side */
export enum FlowSide {
  CLIENT = 1,
  BACKEND = 2,
}

/** enum rauta_flow_state */
export enum FlowState {
  SYN_SENT = 1,
  ESTABLISHED = 2,
  REPLIED = 3,
}

/** enum rauta_reply */
export enum FlowReply {
  NONE = 0,
  NOT_FOUND = 1,
  UNAVAILABLE = 2,
}

/** enum rauta_flow_flag */
export const FLOW_FLAGS = {
  CLIENT_FIN: 1,
  BACKEND_FIN: 2,
  NEW_SYN: 4,
  CLIENT_FIN_ACKED: 8,
  BACKEND_FIN_ACKED: 16,
} as const;

/** enum rauta_limits */
export const LIMITS = {
  MAX_BACKENDS: 32,
  MAGLEV_SIZE: 4099,
  MAX_PATH: 255,
  MAX_PREFIX_DEPTH: 8,
  HEADER_SCAN: 512,
  MAX_HOST: 253,
  MAX_QUERY: 64,
  MIN_REQUEST: 13,
  MAX_ROUTES: 4096,
  MAX_TABLES: 8192,
  MAX_FLOWS: 65536,
  MAX_LISTENERS: 256,
  MAX_NEXTHOPS: 4096,
  MAX_CHECKED: 8192,
  MSS: 1460,
  MAX_REQUEST: 1460,
  REQUEST_BUF: 1536,
  MAX_HANDSHAKES: 8192,
  HALF_OPEN_S: 10,
  SYNACK_WINDOW: 2920,
  METRIC_FIRST_EVENT: 28,
} as const;

/** enum rauta_backend_stat */
export const BACKEND_STAT = {
  SYNS: 0,
  STALLED: 1,
  REFUSED: 2,
  ESTABLISHED: 3,
} as const;

/** enum rauta_path_match */
export const PATH_MATCH = {
  EXACT: 0,
  PREFIX: 1,
} as const;

/** enum rauta_host_match */
export const HOST_MATCH = {
  ANY: 0,
  EXACT: 1,
  WILDCARD: 2,
} as const;

/** Each map as the object declares it (max entries before the loader resizes it). */
export const MAPS = {
  parse: { type: 6, keySize: 4, valueSize: 864, maxEntries: 1 },
  route_shapes: { type: 2, keySize: 4, valueSize: 24, maxEntries: 1 },
  flow_cache: { type: 9, keySize: 16, valueSize: 88, maxEntries: 131072 },
  listeners: { type: 1, keySize: 8, valueSize: 4, maxEntries: 256 },
  requests: { type: 9, keySize: 16, valueSize: 1544, maxEntries: 8192 },
  routes: { type: 1, keySize: 24, valueSize: 264, maxEntries: 4096 },
  maglev_tables: { type: 1, keySize: 32, valueSize: 4099, maxEntries: 8192 },
  scratch: { type: 6, keySize: 4, valueSize: 1544, maxEntries: 1 },
  metrics: { type: 6, keySize: 4, valueSize: 8, maxEntries: 32 },
  nexthops: { type: 1, keySize: 4, valueSize: 8, maxEntries: 4096 },
  backend_stats: { type: 1, keySize: 8, valueSize: 32, maxEntries: 8192 },
} as const;

// METRICS slots of the data path, mirroring enum rauta_metric in bpf/rauta.h
// (test/layout.test.ts checks the numbers against the compiled object's BTF).
// Every packet the XDP program sees counts TOTAL and exactly one outcome slot;
// the event slots (from BACKEND_ACK on) count what happened to connections.

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

/** RAUTA_M_COUNT: number of slots in METRICS. */
export const METRIC_COUNT = 32;

/** RAUTA_M_FIRST_EVENT: slots from here on are events, not packet outcomes. */
export const FIRST_EVENT = Metric.BACKEND_ACK;

export type MetricName = keyof typeof Metric;

/** Slot names in slot order (index = slot number). */
export const METRIC_NAMES: MetricName[] = Object.keys(Metric)
  .filter((k) => Number.isNaN(Number(k)))
  .sort((a, b) => Metric[a as MetricName] - Metric[b as MetricName]) as MetricName[];

/** The PASS reasons: the packet went to the kernel untouched. */
export const PASS_REASONS: MetricName[] = METRIC_NAMES.filter((n) => n.startsWith('PASS_'));

/** Packet outcomes: exactly one counts each packet the XDP program sees. */
export const OUTCOMES: MetricName[] = METRIC_NAMES.filter((n) => Metric[n] > Metric.TOTAL && Metric[n] < FIRST_EVENT);

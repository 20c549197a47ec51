// METRICS slots of the XDP program, mirroring enum rauta_metric in bpf/rauta.h
// (test/layout.test.ts checks the numbers against the compiled object's BTF).

export enum Metric {
  TOTAL = 0,
  ROUTED = 1,
  FLOW_HIT = 2,
  FLOW_MISS = 3,
  PASS_NOT_IPV4 = 4,
  PASS_BAD_IPV4 = 5,
  PASS_FRAGMENT = 6,
  PASS_NOT_TCP = 7,
  PASS_BAD_TCP = 8,
  PASS_NOT_LISTENER = 9,
  PASS_NO_PAYLOAD = 10,
  PASS_BAD_REQUEST = 11,
  PASS_NO_ROUTE = 12,
  PASS_NO_TABLE = 13,
  PASS_NO_NEXTHOP = 14,
}

/** RAUTA_M_COUNT: number of slots in METRICS. */
export const METRIC_COUNT = 15;

export type MetricName = keyof typeof Metric;

/** Slot names in slot order (index = slot number). */
export const METRIC_NAMES: MetricName[] = Object.keys(Metric)
  .filter((k) => Number.isNaN(Number(k)))
  .sort((a, b) => Metric[a as MetricName] - Metric[b as MetricName]) as MetricName[];

/** The PASS reasons: exactly one of these counts each XDP_PASS. */
export const PASS_REASONS: MetricName[] = METRIC_NAMES.filter((n) => n.startsWith('PASS_'));

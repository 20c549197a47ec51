// METRICS slots of the data path: enum rauta_metric of bpf/rauta.h, generated
// from the compiled object's BTF, and the lists derived from it.
// Every packet the XDP program sees counts TOTAL and exactly one outcome slot;
// the event slots (from BACKEND_ACK on) count what happened to connections.

export { Metric, METRIC_COUNT } from './layout.generated.js';
import { LIMITS, Metric } from './layout.generated.js';

/** RAUTA_M_FIRST_EVENT: slots from here on are events, not packet outcomes. */
export const FIRST_EVENT: Metric = LIMITS.METRIC_FIRST_EVENT;

export type MetricName = keyof typeof Metric;

/** Slot names in slot order (index = slot number). */
export const METRIC_NAMES: MetricName[] = Object.keys(Metric)
  .filter((k) => Number.isNaN(Number(k)))
  .sort((a, b) => Metric[a as MetricName] - Metric[b as MetricName]) as MetricName[];

/** The PASS reasons: the packet went to the kernel untouched. */
export const PASS_REASONS: MetricName[] = METRIC_NAMES.filter((n) => n.startsWith('PASS_'));

/** Packet outcomes: exactly one counts each packet the XDP program sees. */
export const OUTCOMES: MetricName[] = METRIC_NAMES.filter((n) => Metric[n] > Metric.TOTAL && Metric[n] < FIRST_EVENT);

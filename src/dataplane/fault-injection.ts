// Fault injection for tests and drills: a wrapper around the REAL map layer
// whose k-th write (update or delete, counted across all maps from 1) fails
// with a kernel-style error instead of reaching the kernel. Every other call
// goes to the real maps, so what the test reads back is what the kernel holds.
import { constants as osConstants } from 'node:os';
import { bpfFail } from './libbpf.js';
import { typedMap, type RautaMaps, type RawMap, type TypedMap } from './maps.js';

export interface FaultPlan {
  /** 1-based write numbers that fail (counted from the last reset) */
  failWrites?: Iterable<number>;
  /** every write fails while true (an outage) */
  failAll?: boolean;
  /** errno the injected failure carries (default ENOMEM, as a full kernel allocator answers) */
  errno?: number;
}

export interface FaultController {
  /** the wrapped maps: hand these to applyPlan / NodeAgent */
  readonly maps: RautaMaps;
  /** writes seen since the last reset (failed ones included) */
  readonly writes: number;
  /** writes that were failed on purpose since the last reset */
  readonly injected: number;
  /** replace the fault plan and restart the write count */
  reset(plan?: FaultPlan): void;
}

export function injectFaults(real: RautaMaps, plan: FaultPlan = {}): FaultController {
  let failAt = new Set(plan.failWrites ?? []);
  let failAll = plan.failAll ?? false;
  let errno = plan.errno ?? osConstants.errno.ENOMEM;
  let writes = 0;
  let injected = 0;

  const gate = (raw: RawMap, what: string): void => {
    writes++;
    if (failAll || failAt.has(writes)) {
      injected++;
      bpfFail(`map ${what} on ${raw.name} (fd ${raw.fd}) [injected fault at write ${writes}]`, -errno);
    }
  };

  const wrap = (raw: RawMap): RawMap => ({
    name: raw.name,
    fd: raw.fd,
    keySize: raw.keySize,
    valueSize: raw.valueSize,
    getRaw: (key) => raw.getRaw(key),
    setRaw: (key, value, flags) => {
      gate(raw, 'update');
      raw.setRaw(key, value, flags);
    },
    deleteRaw: (key) => {
      gate(raw, 'delete');
      return raw.deleteRaw(key);
    },
    // A write is counted (and may fail) only when it would change the map, so
    // the count is the same whichever form of write an op takes.
    insertRaw: (key, value) => {
      if (raw.getRaw(key) !== null) return false;
      gate(raw, 'update');
      return raw.insertRaw(key, value);
    },
    takeRaw: (key) => {
      if (raw.getRaw(key) === null) return null;
      gate(raw, 'delete');
      return raw.takeRaw(key);
    },
    keysRaw: () => raw.keysRaw(),
    setManyRaw: (entries) => {
      for (const [k, v] of entries) {
        gate(raw, 'update');
        raw.setRaw(k, v);
      }
    },
  });

  const rewrap = <K, V>(m: TypedMap<K, V>): TypedMap<K, V> => typedMap(wrap(m.raw), m.keyCodec, m.valueCodec);
  const maps: RautaMaps = {
    routes: rewrap(real.routes),
    maglevTables: rewrap(real.maglevTables),
    flowCache: real.flowCache,
    requests: real.requests,
    backendStats: real.backendStats,
    listeners: rewrap(real.listeners),
    nexthops: rewrap(real.nexthops),
    routeShapes: rewrap(real.routeShapes),
    readMetrics: () => real.readMetrics(),
  };

  return {
    maps,
    get writes() {
      return writes;
    },
    get injected() {
      return injected;
    },
    reset(next: FaultPlan = {}) {
      failAt = new Set(next.failWrites ?? []);
      failAll = next.failAll ?? false;
      errno = next.errno ?? osConstants.errno.ENOMEM;
      writes = 0;
      injected = 0;
    },
  };
}

// One typed wrapper per map of the XDP program, over the raw libbpf ops.
// The raw level (Buffers) lets the apply transaction restore byte-identical values.
import type {
  BackendKey,
  BackendStats,
  BackendList,
  RouteShapes,
  FlowKey,
  FlowValue,
  ListenerKey,
  MaglevKey,
  MaglevTable,
  MapName,
  Nexthop,
  RouteKey,
  SavedRequest,
} from '../model/map-types.js';
import {
  backendListCodec,
  flowKeyCodec,
  flowValueCodec,
  listenerKeyCodec,
  maglevKeyCodec,
  maglevTableCodec,
  nexthopCodec,
  backendKeyCodec,
  backendStatsCodec,
  routeShapesCodec,
  nexthopKeyCodec,
  routeKeyCodec,
  savedRequestCodec,
  u32Codec,
  type Codec,
} from '../model/codecs.js';
import { BPF_ANY, mapDelete, mapInsert, mapKeys, mapLookup, mapLookupPerCpu, mapTake, mapUpdate, mapUpdateBatch } from './libbpf.js';
import { METRIC_NAMES, type MetricName } from '../model/metrics.js';

/** Raw bytes on one map fd. */
export interface RawMap {
  readonly name: string;
  readonly fd: number;
  readonly keySize: number;
  readonly valueSize: number;
  getRaw(key: Buffer): Buffer | null;
  /** flags: BPF_ANY (default), BPF_NOEXIST, BPF_EXIST. */
  setRaw(key: Buffer, value: Buffer, flags?: number): void;
  /** False when the key was absent. */
  deleteRaw(key: Buffer): boolean;
  /**
   * Write only if absent: true when written (the key was absent), false when it
   * exists (nothing written). Apply writes a new key and learns its inverse in one call.
   */
  insertRaw(key: Buffer, value: Buffer): boolean;
  /**
   * Delete, returning the old value; null when absent (nothing deleted). Apply
   * deletes and keeps the value its inverse restores in one call (libbpf.ts falls
   * back to a lookup and a delete where the kernel lacks LOOKUP_AND_DELETE).
   */
  takeRaw(key: Buffer): Buffer | null;
  keysRaw(): Iterable<Buffer>;
  setManyRaw(entries: Array<[Buffer, Buffer]>): void;
}

/** Decoded access to one map. */
export interface TypedMap<K, V> {
  readonly raw: RawMap;
  readonly keyCodec: Codec<K>;
  readonly valueCodec: Codec<V>;
  get(key: K): V | null;
  set(key: K, value: V, flags?: number): void;
  delete(key: K): boolean;
  keys(): Iterable<K>;
  entries(): Iterable<[K, V]>;
}

export function rawMap(name: string, fd: number, keySize: number, valueSize: number): RawMap {
  return {
    name,
    fd,
    keySize,
    valueSize,
    getRaw: (key) => mapLookup(fd, key, valueSize),
    setRaw: (key, value, flags = BPF_ANY) => mapUpdate(fd, key, value, flags),
    deleteRaw: (key) => mapDelete(fd, key),
    insertRaw: (key, value) => mapInsert(fd, key, value),
    takeRaw: (key) => mapTake(fd, key, valueSize),
    keysRaw: () => mapKeys(fd, keySize),
    setManyRaw: (entries) =>
      mapUpdateBatch(
        fd,
        entries.map(([k]) => k),
        entries.map(([, v]) => v),
      ),
  };
}

export function typedMap<K, V>(raw: RawMap, keyCodec: Codec<K>, valueCodec: Codec<V>): TypedMap<K, V> {
  return {
    raw,
    keyCodec,
    valueCodec,
    get(key) {
      const v = raw.getRaw(keyCodec.encode(key));
      return v === null ? null : valueCodec.decode(v);
    },
    set(key, value, flags = BPF_ANY) {
      raw.setRaw(keyCodec.encode(key), valueCodec.encode(value), flags);
    },
    delete(key) {
      return raw.deleteRaw(keyCodec.encode(key));
    },
    *keys() {
      for (const k of raw.keysRaw()) yield keyCodec.decode(k);
    },
    *entries() {
      for (const k of raw.keysRaw()) {
        const v = raw.getRaw(k);
        if (v !== null) yield [keyCodec.decode(k), valueCodec.decode(v)] as [K, V]; // deleted meanwhile: skip
      }
    },
  };
}

export interface RautaMaps {
  routes: TypedMap<RouteKey, BackendList>;
  maglevTables: TypedMap<MaglevKey, MaglevTable>;
  /** 4-tuple -> one side of a spliced connection (two entries per connection) */
  flowCache: TypedMap<FlowKey, FlowValue>;
  /** client 4-tuple -> first segment, until the backend's SYN-ACK */
  requests: TypedMap<FlowKey, SavedRequest>;
  listeners: TypedMap<ListenerKey, number>;
  nexthops: TypedMap<string, Nexthop>;
  /** one entry (key 0): which kinds of ROUTES keys exist */
  routeShapes: TypedMap<number, RouteShapes>;
  /** health-checked backend -> handshake counters (entries made by the agent, counted by the programs) */
  backendStats: TypedMap<BackendKey, BackendStats>;
  /** Per-CPU counters summed over CPUs, by slot name. */
  readMetrics(): Record<MetricName, number>;
}

/** Typed wrappers over the map fds (from loadRauta or openPinned). */
export function rautaMaps(fds: Record<MapName, number>): RautaMaps {
  const make = <K, V>(name: MapName, k: Codec<K>, v: Codec<V>) => typedMap(rawMap(name, fds[name], k.size, v.size), k, v);
  return {
    routes: make('routes', routeKeyCodec, backendListCodec),
    maglevTables: make('maglev_tables', maglevKeyCodec, maglevTableCodec),
    flowCache: make('flow_cache', flowKeyCodec, flowValueCodec),
    requests: make('requests', flowKeyCodec, savedRequestCodec),
    listeners: make('listeners', listenerKeyCodec, u32Codec),
    nexthops: make('nexthops', nexthopKeyCodec, nexthopCodec),
    routeShapes: make('route_shapes', u32Codec, routeShapesCodec),
    backendStats: make('backend_stats', backendKeyCodec, backendStatsCodec),
    readMetrics: () => readMetrics(fds.metrics),
  };
}

/** METRICS summed over all possible CPUs. Numbers (exact below 2^53 packets per counter). */
export function readMetrics(metricsFd: number): Record<MetricName, number> {
  const out = {} as Record<MetricName, number>;
  METRIC_NAMES.forEach((name, slot) => {
    const key = Buffer.alloc(4);
    key.writeUInt32LE(slot, 0);
    const perCpu = mapLookupPerCpu(metricsFd, key, 8) ?? [];
    let sum = 0n;
    for (const v of perCpu) sum += v.readBigUInt64LE(0);
    out[name] = Number(sum);
  });
  return out;
}
